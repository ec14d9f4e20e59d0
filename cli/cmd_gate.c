/*
 * cmd_gate.c - `bulwark gate`: one policy decides allow, review or deny.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bulwark/policy.h"
#include "bulwark/translog.h"
#include "cli.h"

const char gate_help[] =
	"usage: bulwark gate [--policy FILE] [options] PATH...\n"
	"\n"
	"Run what the policy asks for (scan findings, allowed formats, pickle-based formats,\n"
	"and - as those parts land - signatures, licences, dependency audit, provenance) over\n"
	"the given files and folders and return one decision with every reason. Without\n"
	"--policy the built-in default applies: deny findings of high or above and files not\n"
	"fully scanned, review medium findings and pickle-based formats. docs/policy.md\n"
	"describes the policy language.\n"
	"\n"
	"options:\n"
	"  -p, --policy FILE    the policy (YAML)\n"
	"  -f, --format FMT     text (default) or json (schema bulwark.gate/1)\n"
	"      --date DATE      judge exception expiry as of DATE (YYYY-MM-DD; default today)\n"
	"      --log DIR        append the decision to this audit log (bulwark help log)\n"
	"      --log-key FILE   the log's private key (passphrase: $BULWARK_KEY_PASSPHRASE)\n"
	"  -j, --threads N      scanning threads (default: one per core)\n"
	"\n"
	"exit codes: 0 allow, 1 deny, 2 usage or policy error, 3 needs review.\n";

static int parse_day(const char *s, time_t *out)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	tm.tm_hour = 12;
	*out = timegm(&tm);
	return 0;
}

/* The audit-log entry of a decision: which policy, which inputs, the result. */
static int append_decision(const char *dir, const char *key_path, const char *policy_path,
                           const struct bw_gate_inputs *in, const struct bw_gate_result *res)
{
	json_t *entry, *decision;
	json_error_t jerr;
	char *gate_doc = NULL, hex[65];
	struct bw_diag d;

	if (bw_gate_json(res, &gate_doc) != BW_OK)
		return -1;
	decision = json_loads(gate_doc, 0, &jerr);
	bw_report_free(gate_doc);
	if (decision == NULL)
		return -1;
	entry = json_pack("{s:s,s:o,s:o}", "kind", "gate", "inputs",
	                  cli_audit_inputs(in->paths, in->n_paths), "result", decision);
	if (policy_path != NULL) {
		bw_diag_clear(&d);
		json_object_set_new(entry, "policy",
		                    bw_tlog_file_digest(policy_path, hex, &d) == BW_OK
		                            ? json_pack("{s:s,s:s}", "path", policy_path, "sha256", hex)
		                            : json_pack("{s:s}", "path", policy_path));
	} else {
		json_object_set_new(entry, "policy", json_string("built-in default"));
	}
	return cli_audit_append("gate", dir, key_path, entry);
}

int cmd_gate(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'}, {"format", required_argument, NULL, 'f'},
		{"date", required_argument, NULL, 'd'},   {"threads", required_argument, NULL, 'j'},
		{"log", required_argument, NULL, 'L'},    {"log-key", required_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	struct bw_policy *pol = NULL;
	struct bw_gate_result *res = NULL;
	struct bw_gate_inputs in;
	struct bw_diag diag;
	const char *policy_path = NULL, *log_dir = NULL, *log_key_path = NULL;
	int c, fmt = BW_OUT_TEXT, rc = BW_EXIT_USAGE;
	long threads = 0;
	char *doc = NULL, *end;
	size_t i;

	memset(&in, 0, sizeof in);
	in.now = time(NULL);
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:f:j:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy_path = optarg;
			break;
		case 'f':
			fmt = cli_parse_format(optarg, 0);
			if (fmt < 0) {
				cli_err("gate", "unknown format '%s' (text, json)", optarg);
				return BW_EXIT_USAGE;
			}
			break;
		case 'd':
			if (parse_day(optarg, &in.now) != 0) {
				cli_err("gate", "--date takes YYYY-MM-DD, not '%s'", optarg);
				return BW_EXIT_USAGE;
			}
			break;
		case 'j':
			errno = 0;
			threads = strtol(optarg, &end, 10);
			if (errno || *end || threads < 1 || threads > 64) {
				cli_err("gate", "--threads takes a number from 1 to 64");
				return BW_EXIT_USAGE;
			}
			break;
		case 'L':
			log_dir = optarg;
			break;
		case 'K':
			log_key_path = optarg;
			break;
		case 'h':
			return cli_help("gate");
		default:
			fprintf(stderr, "see: bulwark help gate\n");
			return BW_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_err("gate", "no PATH given (see: bulwark help gate)");
		return BW_EXIT_USAGE;
	}
	if ((log_dir == NULL) != (log_key_path == NULL)) {
		cli_err("gate", "--log and --log-key go together");
		return BW_EXIT_USAGE;
	}
	bw_diag_clear(&diag);
	if (policy_path != NULL ? bw_policy_load_file(policy_path, &pol, &diag) != BW_OK
	                        : bw_policy_default(&pol) != BW_OK) {
		cli_err("gate", "policy: %s", diag.what[0] ? diag.what : "out of memory");
		rc = BW_EXIT_USAGE;
		goto out;
	}
	bw_diag_clear(&diag);
	if (bw_scan_service_start(0, &diag) != BW_OK)
		cli_err("gate", "warning: HDF5 and archive files will not be read: %s", diag.what);
	bw_diag_clear(&diag);
	/* with an audit log the process must still write it: confine only without one */
	if (log_dir == NULL && bw_sandbox_enter(&diag) != BW_OK)
		cli_err("gate", "warning: running without the sandbox: %s", diag.what);
	in.paths = (const char *const *)(argv + optind);
	in.n_paths = (size_t)(argc - optind);
	in.threads = (unsigned)threads;
	bw_diag_clear(&diag);
	if (bw_gate_run(pol, &in, &res, &diag) != BW_OK) {
		cli_err("gate", "%s", diag.what[0] ? diag.what : "out of memory");
		rc = BW_EXIT_INCOMPLETE;
		goto out;
	}
	if (fmt == BW_OUT_JSON) {
		if (bw_gate_json(res, &doc) != BW_OK) {
			cli_err("gate", "rendering the report failed");
			rc = BW_EXIT_INCOMPLETE;
			goto out;
		}
		fputs(doc, stdout);
	} else {
		printf("decision: %s (%zu file%s, policy: %s)\n", bw_decision_str(res->decision),
		       res->n_files, res->n_files == 1 ? "" : "s",
		       policy_path ? policy_path : "built-in default");
		for (i = 0; i < res->n_reasons; i++) {
			const struct bw_gate_reason *r = &res->reasons[i];
			printf("  %-7s %-12s %s: %s: %s", r->waived_by ? "waived" : bw_decision_str(r->effect),
			       r->check, r->subject, r->rule, r->message);
			if (r->waived_by)
				printf(" [exception %s, owner %s, until %s]", r->waived_by, r->waiver_owner,
				       r->waiver_expires);
			putchar('\n');
		}
	}
	if (log_dir != NULL && append_decision(log_dir, log_key_path, policy_path, &in, res) != 0) {
		rc = BW_EXIT_INCOMPLETE;
		goto out;
	}
	rc = res->decision == BW_DECISION_ALLOW    ? BW_EXIT_OK
	     : res->decision == BW_DECISION_DENY ? BW_EXIT_FINDINGS
	                                           : BW_EXIT_INCOMPLETE;
out:
	bw_scan_service_stop();
	bw_report_free(doc);
	bw_gate_result_free(res);
	bw_policy_free(pol);
	return rc;
}
