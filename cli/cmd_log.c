/*
 * cmd_log.c - `bulwark log`: the tamper-evident audit log (docs/audit-log.md).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/translog.h"
#include "cli.h"

const char log_help[] =
	"usage: bulwark log init DIR\n"
	"       bulwark log append DIR --key KEY.pem [FILE|-]\n"
	"       bulwark log verify DIR --key PUB.pem [--checkpoint FILE]\n"
	"       bulwark log proof DIR --entry N | --consistency SIZE\n"
	"       bulwark log verify-proof PROOF.json\n"
	"       bulwark log checkpoint DIR\n"
	"       bulwark log show DIR [--entry N]\n"
	"\n"
	"An append-only Merkle tree log (RFC 9162) with a checkpoint signed after every\n"
	"append. `verify` recomputes every root from the entries and checks every signed\n"
	"checkpoint: any edited, removed, reordered or inserted entry is found and the range\n"
	"of entries holding it named. `proof --entry N` proves an entry's presence;\n"
	"`proof --consistency SIZE` proves the log extends its state at SIZE entries;\n"
	"`verify-proof` checks either without the log. `--checkpoint FILE` checks the log\n"
	"against a checkpoint saved elsewhere (a witness copy). Entries are JSON documents;\n"
	"`bulwark gate --log DIR --log-key KEY.pem` appends every decision.\n"
	"\n"
	"options:\n"
	"  -k, --key FILE         log key: private (append) or public (verify)\n"
	"      --passphrase-env V environment variable holding the key's passphrase\n"
	"                         (default BULWARK_KEY_PASSPHRASE)\n"
	"  -f, --format FMT       text (default) or json, for verify\n"
	"\n"
	"exit codes: 0 ok / verified, 1 verification failed, 2 usage, 3 unreadable log or input.\n";

#define MAX_ENTRY (16u << 20)

static int read_input(const char *path, char **buf, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 4096, n = 0, r;
	char *b, *nb;

	if (f == NULL)
		return -1;
	b = malloc(cap);
	while (b != NULL && (r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			if (cap >= MAX_ENTRY) {
				free(b);
				b = NULL;
				break;
			}
			cap *= 2;
			nb = realloc(b, cap);
			if (nb == NULL) {
				free(b);
				b = NULL;
			} else {
				b = nb;
			}
		}
	}
	if (f != stdin)
		fclose(f);
	if (b == NULL)
		return -1;
	*buf = b;
	*len = n;
	return 0;
}

static int load_key(const char *path, int priv, const char *env, struct bw_tlog_key **k)
{
	struct bw_diag d;
	const char *pass = getenv(env ? env : "BULWARK_KEY_PASSPHRASE");

	bw_diag_clear(&d);
	if (bw_tlog_key_load(path, priv, pass, k, &d) != BW_OK) {
		cli_err("log", "key %s: %s", path, d.what);
		return -1;
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return -1;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

int cmd_log(int argc, char **argv)
{
	static const struct option opts[] = {
		{"key", required_argument, NULL, 'k'},        {"checkpoint", required_argument, NULL, 'c'},
		{"entry", required_argument, NULL, 'e'},      {"consistency", required_argument, NULL, 'C'},
		{"format", required_argument, NULL, 'f'},     {"passphrase-env", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
	};
	const char *sub, *key_path = NULL, *cp_path = NULL, *pass_env = NULL, *entry_s = NULL,
	                 *cons_s = NULL;
	struct bw_tlog *log = NULL;
	struct bw_tlog_key *key = NULL;
	struct bw_diag d;
	char *buf = NULL, *out = NULL;
	size_t len = 0;
	uint64_t n = 0, idx, repaired = 0;
	int c, rc = BW_EXIT_USAGE, fmt = BW_OUT_TEXT;
	enum bw_err e;

	if (argc < 2) {
		cli_err("log", "which action? (see: bulwark help log)");
		return BW_EXIT_USAGE;
	}
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)
		return cli_help("log");
	optind = 2;
	while ((c = getopt_long(argc, argv, "k:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': key_path = optarg; break;
		case 'c': cp_path = optarg; break;
		case 'e': entry_s = optarg; break;
		case 'C': cons_s = optarg; break;
		case 'P': pass_env = optarg; break;
		case 'f':
			fmt = cli_parse_format(optarg, 0);
			if (fmt < 0) {
				cli_err("log", "unknown format '%s' (text, json)", optarg);
				return BW_EXIT_USAGE;
			}
			break;
		case 'h': return cli_help("log");
		default: fprintf(stderr, "see: bulwark help log\n"); return BW_EXIT_USAGE;
		}
	}
	bw_diag_clear(&d);
	if (strcmp(sub, "verify-proof") == 0) {
		if (optind != argc - 1) {
			cli_err("log", "verify-proof takes one PROOF.json");
			return BW_EXIT_USAGE;
		}
		if (read_input(argv[optind], &buf, &len) != 0) {
			cli_err("log", "%s: cannot read", argv[optind]);
			return BW_EXIT_INCOMPLETE;
		}
		e = memmem(buf, len, "\"size1\"", 7) ? bw_tlog_verify_consistency_json(buf, len, &d)
		                                      : bw_tlog_verify_inclusion_json(buf, len, &d);
		free(buf);
		if (e == BW_OK) {
			printf("proof verified\n");
			return BW_EXIT_OK;
		}
		cli_err("log", "%s: %s", argv[optind], d.what[0] ? d.what : bw_err_str(e));
		return e == BW_ERR_VERIFY ? BW_EXIT_FINDINGS : BW_EXIT_INCOMPLETE;
	}
	if (optind >= argc) {
		cli_err("log", "%s needs the log DIR", sub);
		return BW_EXIT_USAGE;
	}
	if (strcmp(sub, "init") == 0) {
		if (bw_tlog_open(argv[optind], 1, 1, NULL, &log, &d) != BW_OK) {
			cli_err("log", "%s", d.what);
			return BW_EXIT_INCOMPLETE;
		}
		printf("audit log ready at %s (%llu entries)\n", argv[optind],
		       (unsigned long long)bw_tlog_size(log));
		bw_tlog_close(log);
		return BW_EXIT_OK;
	}
	if (strcmp(sub, "append") == 0) {
		json_error_t jerr;
		json_t *doc;

		if (key_path == NULL || optind + 2 < argc) {
			cli_err("log", "append needs --key KEY.pem and at most one FILE");
			return BW_EXIT_USAGE;
		}
		if (read_input(optind + 1 < argc ? argv[optind + 1] : "-", &buf, &len) != 0) {
			cli_err("log", "cannot read the entry");
			return BW_EXIT_INCOMPLETE;
		}
		doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
		if (doc == NULL) {
			cli_err("log", "the entry is not JSON: %s (byte %d)", jerr.text, jerr.position);
			free(buf);
			return BW_EXIT_INCOMPLETE;
		}
		json_decref(doc);
		if (load_key(key_path, 1, pass_env, &key) != 0) {
			rc = BW_EXIT_USAGE;
			goto out;
		}
		if (bw_tlog_open(argv[optind], 1, 1, &repaired, &log, &d) != BW_OK) {
			cli_err("log", "%s", d.what);
			rc = BW_EXIT_INCOMPLETE;
			goto out;
		}
		if (repaired > 0)
			cli_err("log", "note: cut %llu bytes of an interrupted append", (unsigned long long)repaired);
		if (bw_tlog_append(log, buf, len, key, &idx, &d) != BW_OK) {
			cli_err("log", "%s", d.what);
			rc = BW_EXIT_INCOMPLETE;
			goto out;
		}
		printf("appended entry %llu\n", (unsigned long long)idx);
		rc = BW_EXIT_OK;
		goto out;
	}
	if (bw_tlog_open(argv[optind], 0, 0, &repaired, &log, &d) != BW_OK) {
		cli_err("log", "%s", d.what);
		rc = BW_EXIT_INCOMPLETE;
		goto out;
	}
	if (strcmp(sub, "verify") == 0) {
		struct bw_tlog_report rep;

		if (key_path == NULL) {
			cli_err("log", "verify needs --key PUB.pem");
			goto out;
		}
		if (load_key(key_path, 0, NULL, &key) != 0)
			goto out;
		if (bw_tlog_verify(log, key, &rep, &d) != BW_OK) {
			cli_err("log", "%s", d.what);
			rc = BW_EXIT_INCOMPLETE;
			goto out;
		}
		if (rep.ok && cp_path != NULL) {
			if (read_input(cp_path, &buf, &len) != 0) {
				cli_err("log", "%s: cannot read", cp_path);
				rc = BW_EXIT_INCOMPLETE;
				goto out;
			}
			if (bw_tlog_check_checkpoint(log, key, buf, len, &d) != BW_OK) {
				rep.ok = 0;
				snprintf(rep.problem, sizeof rep.problem, "against %s: %s", cp_path, d.what);
			}
		}
		if (fmt == BW_OUT_JSON) {
			json_t *j = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:s?}", "schema", "bulwark.log-verify/1",
			                      "ok", rep.ok, "entries", (json_int_t)rep.entries, "checkpoints",
			                      (json_int_t)rep.checkpoints, "sealed", (json_int_t)rep.latest_size,
			                      "unsealed", (json_int_t)rep.unsealed, "torn_bytes",
			                      (json_int_t)repaired, "problem", rep.ok ? NULL : rep.problem);
			char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			if (s)
				puts(s);
			free(s);
			json_decref(j);
		} else if (rep.ok) {
			printf("log verified: %llu entries, %llu signed checkpoints", (unsigned long long)rep.entries,
			       (unsigned long long)rep.checkpoints);
			if (rep.unsealed)
				printf("; %llu entries after the latest checkpoint (an interrupted append; sealed "
				       "by the next one)", (unsigned long long)rep.unsealed);
			if (repaired)
				printf("; %llu bytes of a torn record at the end", (unsigned long long)repaired);
			putchar('\n');
		} else {
			printf("LOG VERIFICATION FAILED: %s\n", rep.problem);
			printf("  the change lies in entries %llu..%llu\n", (unsigned long long)rep.bad_from,
			       (unsigned long long)(rep.bad_to ? rep.bad_to - 1 : 0));
		}
		rc = rep.ok ? BW_EXIT_OK : BW_EXIT_FINDINGS;
	} else if (strcmp(sub, "proof") == 0) {
		if ((entry_s == NULL) == (cons_s == NULL)) {
			cli_err("log", "proof takes --entry N or --consistency SIZE");
			goto out;
		}
		if (parse_u64(entry_s ? entry_s : cons_s, &n) != 0) {
			cli_err("log", "not a number: %s", entry_s ? entry_s : cons_s);
			goto out;
		}
		e = entry_s ? bw_tlog_inclusion_json(log, n, &out, &d)
		            : bw_tlog_consistency_json(log, n, &out, &d);
		if (e != BW_OK) {
			cli_err("log", "%s", d.what[0] ? d.what : bw_err_str(e));
			rc = e == BW_ERR_NOTFOUND || e == BW_ERR_ARG ? BW_EXIT_USAGE : BW_EXIT_INCOMPLETE;
			goto out;
		}
		fputs(out, stdout);
		rc = BW_EXIT_OK;
	} else if (strcmp(sub, "checkpoint") == 0) {
		if (bw_tlog_checkpoint_text(log, &out, &d) != BW_OK) {
			cli_err("log", "%s", d.what);
			rc = BW_EXIT_INCOMPLETE;
			goto out;
		}
		fputs(out, stdout);
		rc = BW_EXIT_OK;
	} else if (strcmp(sub, "show") == 0) {
		const uint8_t *p;
		uint64_t i, from = 0, to = bw_tlog_size(log);

		if (entry_s != NULL) {
			if (parse_u64(entry_s, &from) != 0 || from >= to) {
				cli_err("log", "no entry %s", entry_s);
				goto out;
			}
			to = from + 1;
		}
		for (i = from; i < to; i++) {
			if (bw_tlog_entry(log, i, &p, &len) == BW_OK)
				printf("%llu\t%.*s\n", (unsigned long long)i, (int)len, (const char *)p);
		}
		rc = BW_EXIT_OK;
	} else {
		cli_err("log", "unknown action '%s' (init, append, verify, proof, verify-proof, "
		        "checkpoint, show)", sub);
	}
out:
	free(buf);
	bw_report_free(out);
	bw_tlog_key_free(key);
	bw_tlog_close(log);
	return rc;
}
