/*
 * cmd_attest.c - `bulwark attest` (record a training run, signed) and
 * `bulwark lineage` (walk from a model back to its inputs and check them).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bulwark/provenance.h"
#include "bulwark/sign.h"
#include "cli.h"

const char attest_help[] =
	"usage: bulwark attest --key KEY.pem --output-model FILE [--output-model ...]\n"
	"                      [--dataset DIR|SNAPSHOT ...] [--code FILE ...] [--commit SHA [--repo URL]]\n"
	"                      [--param KEY=VALUE ...] [--card CARD.md] -o RUN.intoto.json\n"
	"\n"
	"Record a training run as an in-toto Statement v1 with a SLSA provenance v1 predicate:\n"
	"inputs by digest (each dataset through a snapshot of all its files, saved beside the\n"
	"attestation as RUN.intoto.json.<name>.snapshot.json; code files; the git commit),\n"
	"parameters and environment, and the model files as subjects; signed as a DSSE envelope\n"
	"with a key from `bulwark keygen` (passphrase: $BULWARK_KEY_PASSPHRASE). --card also\n"
	"writes a Markdown model card of the run. Paths are recorded as given.\n"
	"\n"
	"exit codes: 0 written, 2 usage, 3 an input could not be read or the key used.\n";

const char lineage_help[] =
	"usage: bulwark lineage MODEL --attestation RUN.intoto.json [...] --key PUB.pem\n"
	"                       [--format text|json]\n"
	"\n"
	"Walk from a model file to the attestations that name it (their signatures checked with\n"
	"the key), then re-check every input on disk: datasets are snapshotted again and compared\n"
	"(changed, removed, added or renamed files named), code files re-hashed. A missing or\n"
	"changed link is named.\n"
	"\n"
	"exit codes: 0 every link intact, 1 a link missing or changed, 2 usage, 3 unreadable.\n";

#define MAXN 256

static int read_all(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (64L << 20) ||
	    fseek(f, 0, SEEK_SET) != 0) {
		if (f)
			fclose(f);
		return -1;
	}
	*buf = malloc((size_t)n + 1);
	if (*buf == NULL || fread(*buf, 1, (size_t)n, f) != (size_t)n) {
		free(*buf);
		fclose(f);
		return -1;
	}
	(*buf)[n] = '\0';
	*len = (size_t)n;
	fclose(f);
	return 0;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	if (fputs(text, f) == EOF) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

/* Markdown model card from the statement just signed. */
static int write_card(const char *path, const char *statement, const char *att_path)
{
	char *md = NULL;
	struct bw_diag d;
	int rc;

	bw_diag_clear(&d);
	if (bw_modelcard_build(statement, NULL, att_path, 0, &md, &d) != BW_OK)
		return -1;
	rc = write_text(path, md);
	bw_report_free(md);
	return rc;
}

int cmd_attest(int argc, char **argv)
{
	static const struct option opts[] = {
		{"key", required_argument, NULL, 'k'},     {"output-model", required_argument, NULL, 'm'},
		{"dataset", required_argument, NULL, 'd'}, {"code", required_argument, NULL, 'c'},
		{"commit", required_argument, NULL, 'C'},  {"repo", required_argument, NULL, 'R'},
		{"param", required_argument, NULL, 'p'},   {"output", required_argument, NULL, 'o'},
		{"card", required_argument, NULL, 'M'},    {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *outs[MAXN], *data[MAXN], *code[MAXN], *params[MAXN], *snaps[MAXN];
	char *snap_alloc[MAXN];
	struct bw_attest_opts o;
	struct bw_signer *s = NULL;
	struct bw_diag d;
	const char *key = NULL, *out = NULL, *card = NULL;
	char *pem = NULL, *stmt = NULL, *env = NULL;
	size_t pem_len = 0, i;
	int c, rc = BW_EXIT_USAGE;

	memset(&o, 0, sizeof o);
	memset(snap_alloc, 0, sizeof snap_alloc);
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:o:h", opts, NULL)) != -1) {
		if ((c == 'm' && o.n_outputs == MAXN) || (c == 'd' && o.n_datasets == MAXN) ||
		    (c == 'c' && o.n_code == MAXN) || (c == 'p' && o.n_params == MAXN)) {
			cli_err("attest", "at most %d of each option", MAXN);
			return BW_EXIT_USAGE;
		}
		switch (c) {
		case 'k': key = optarg; break;
		case 'm': outs[o.n_outputs++] = optarg; break;
		case 'd': data[o.n_datasets++] = optarg; break;
		case 'c': code[o.n_code++] = optarg; break;
		case 'C': o.git_commit = optarg; break;
		case 'R': o.git_repo = optarg; break;
		case 'p': params[o.n_params++] = optarg; break;
		case 'o': out = optarg; break;
		case 'M': card = optarg; break;
		case 'h': return cli_help("attest");
		default: fprintf(stderr, "see: bulwark help attest\n"); return BW_EXIT_USAGE;
		}
	}
	if (key == NULL || out == NULL || o.n_outputs == 0 || optind != argc) {
		cli_err("attest", "needs --key, at least one --output-model and -o (see: bulwark help attest)");
		return BW_EXIT_USAGE;
	}
	o.outputs = outs;
	o.datasets = data;
	o.code = code;
	o.params = params;
	bw_diag_clear(&d);
	/* snapshot each dataset folder beside the attestation, so lineage can name changed files */
	for (i = 0; i < o.n_datasets; i++) {
		struct bw_snapshot *snap = NULL;
		struct stat st;
		char *json = NULL;
		size_t n;

		snaps[i] = NULL;
		if (stat(data[i], &st) != 0 || !S_ISDIR(st.st_mode))
			continue; /* a snapshot file given as the dataset is its own record */
		if (bw_snapshot_take(data[i], &snap, &d) != BW_OK) {
			cli_err("attest", "dataset %s: %s", data[i], d.what);
			rc = BW_EXIT_INCOMPLETE;
			goto out;
		}
		n = strlen(out) + strlen(snap->name) + 32;
		snap_alloc[i] = malloc(n);
		if (snap_alloc[i] == NULL || bw_snapshot_json(snap, &json) != BW_OK) {
			bw_snapshot_free(snap);
			rc = BW_EXIT_INCOMPLETE;
			goto out;
		}
		snprintf(snap_alloc[i], n, "%s.%s-%zu.snapshot.json", out, snap->name, i);
		if (write_text(snap_alloc[i], json) != 0) {
			cli_err("attest", "%s: cannot write", snap_alloc[i]);
			bw_report_free(json);
			bw_snapshot_free(snap);
			rc = BW_EXIT_INCOMPLETE;
			goto out;
		}
		bw_report_free(json);
		bw_snapshot_free(snap);
		snaps[i] = snap_alloc[i];
	}
	o.snapshot_paths = snaps;
	if (read_all(key, &pem, &pem_len) != 0) {
		cli_err("attest", "%s: cannot read the key", key);
		rc = BW_EXIT_INCOMPLETE;
		goto out;
	}
	if (bw_signer_key_new((const uint8_t *)pem, pem_len, getenv("BULWARK_KEY_PASSPHRASE"), NULL, 0, &s,
	                      &d) != BW_OK) {
		cli_err("attest", "key %s: %s", key, d.what);
		rc = BW_EXIT_INCOMPLETE;
		goto out;
	}
	if (bw_attest_statement(&o, &stmt, &d) != BW_OK || bw_attest_sign(stmt, s, &env, &d) != BW_OK) {
		cli_err("attest", "%s", d.what[0] ? d.what : "cannot build the attestation");
		rc = d.code == BW_ERR_ARG ? BW_EXIT_USAGE : BW_EXIT_INCOMPLETE;
		goto out;
	}
	if (write_text(out, env) != 0 || (card && write_card(card, stmt, out) != 0)) {
		cli_err("attest", "cannot write %s", out);
		rc = BW_EXIT_INCOMPLETE;
		goto out;
	}
	printf("attestation written to %s (%zu output%s, %zu dataset%s, %zu code file%s)\n", out,
	       o.n_outputs, o.n_outputs == 1 ? "" : "s", o.n_datasets, o.n_datasets == 1 ? "" : "s",
	       o.n_code, o.n_code == 1 ? "" : "s");
	rc = BW_EXIT_OK;
out:
	if (pem) {
		bw_sign_wipe(pem, pem_len);
		free(pem);
	}
	for (i = 0; i < o.n_datasets; i++)
		free(snap_alloc[i]);
	bw_signer_free(s);
	bw_report_free(stmt);
	bw_report_free(env);
	return rc;
}

int cmd_lineage(int argc, char **argv)
{
	static const struct option opts[] = {
		{"attestation", required_argument, NULL, 'a'}, {"key", required_argument, NULL, 'k'},
		{"format", required_argument, NULL, 'f'},      {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *att[MAXN], *key = NULL;
	size_t n_att = 0, i;
	struct bw_lineage_report *r = NULL;
	struct bw_diag d;
	char *pem = NULL;
	size_t pem_len = 0;
	int c, fmt = BW_OUT_TEXT, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "a:k:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (n_att == MAXN)
				return BW_EXIT_USAGE;
			att[n_att++] = optarg;
			break;
		case 'k': key = optarg; break;
		case 'f':
			if ((fmt = cli_parse_format(optarg, 0)) < 0) {
				cli_err("lineage", "--format text|json");
				return BW_EXIT_USAGE;
			}
			break;
		case 'h': return cli_help("lineage");
		default: fprintf(stderr, "see: bulwark help lineage\n"); return BW_EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || key == NULL || n_att == 0) {
		cli_err("lineage", "give MODEL, --attestation and --key (see: bulwark help lineage)");
		return BW_EXIT_USAGE;
	}
	if (read_all(key, &pem, &pem_len) != 0) {
		cli_err("lineage", "%s: cannot read the key", key);
		return BW_EXIT_INCOMPLETE;
	}
	bw_diag_clear(&d);
	if (bw_lineage_check(argv[optind], att, n_att, (const uint8_t *)pem, pem_len, &r, &d) != BW_OK) {
		cli_err("lineage", "%s", d.what);
		free(pem);
		return BW_EXIT_INCOMPLETE;
	}
	free(pem);
	if (fmt == BW_OUT_JSON) {
		json_t *links = json_array();
		char *s;
		for (i = 0; i < r->n_links; i++)
			json_array_append_new(links, json_pack("{s:s,s:s,s:s,s:b,s:s}", "attestation",
			                                       r->links[i].attestation, "kind", r->links[i].kind,
			                                       "name", r->links[i].name, "ok", r->links[i].ok,
			                                       "detail", r->links[i].detail));
		json_t *doc = json_pack("{s:s,s:s,s:s,s:I,s:I,s:o}", "schema", "bulwark.lineage/1", "model",
		                         argv[optind], "sha256", r->model_sha256, "attestations",
		                         (json_int_t)r->n_attestations, "broken", (json_int_t)r->broken,
		                         "links", links);
		s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(doc);
		if (s)
			puts(s);
		free(s);
	} else {
		printf("%s  sha256:%s\n", argv[optind], r->model_sha256);
		for (i = 0; i < r->n_links; i++)
			printf("  %-4s %-11s %s: %s\n", r->links[i].ok ? "ok" : "FAIL", r->links[i].kind,
			       r->links[i].name, r->links[i].detail);
		printf("%zu link%s broken\n", r->broken, r->broken == 1 ? "" : "s");
	}
	rc = r->broken ? BW_EXIT_FINDINGS : BW_EXIT_OK;
	bw_lineage_free(r);
	return rc;
}

const char modelcard_help[] =
	"usage: bulwark modelcard --attestation RUN.intoto.json --key PUB.pem [--sbom SBOM.cdx.json]\n"
	"                         [--format markdown|cyclonedx] [-o OUT]\n"
	"\n"
	"A model card from a training attestation (its signature checked with the key first) and,\n"
	"for CycloneDX, the model's SBOM (bulwark sbom): the model component gets a modelCard with\n"
	"the attested datasets (as data components with their snapshot digests), parameters, inputs\n"
	"and builder. Without --sbom a CycloneDX 1.6 document is made from the attestation alone.\n"
	"\n"
	"exit codes: 0 written, 1 the attestation's signature does not verify, 2 usage, 3 unreadable.\n";

int cmd_modelcard(int argc, char **argv)
{
	static const struct option opts[] = {
		{"attestation", required_argument, NULL, 'a'}, {"key", required_argument, NULL, 'k'},
		{"sbom", required_argument, NULL, 's'},        {"format", required_argument, NULL, 'f'},
		{"output", required_argument, NULL, 'o'},      {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *att = NULL, *key = NULL, *sbom = NULL, *out = NULL;
	char *env = NULL, *pem = NULL, *sb = NULL, *stmt = NULL, *card = NULL;
	size_t env_len = 0, pem_len = 0, sb_len = 0;
	struct bw_diag d;
	int c, cdx = 0, rc = BW_EXIT_INCOMPLETE;
	enum bw_err e;

	optind = 1;
	while ((c = getopt_long(argc, argv, "a:k:s:f:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': att = optarg; break;
		case 'k': key = optarg; break;
		case 's': sbom = optarg; break;
		case 'o': out = optarg; break;
		case 'f':
			if (strcmp(optarg, "markdown") == 0)
				cdx = 0;
			else if (strcmp(optarg, "cyclonedx") == 0)
				cdx = 1;
			else {
				cli_err("modelcard", "--format markdown|cyclonedx");
				return BW_EXIT_USAGE;
			}
			break;
		case 'h': return cli_help("modelcard");
		default: fprintf(stderr, "see: bulwark help modelcard\n"); return BW_EXIT_USAGE;
		}
	}
	if (att == NULL || key == NULL || optind != argc) {
		cli_err("modelcard", "needs --attestation and --key (see: bulwark help modelcard)");
		return BW_EXIT_USAGE;
	}
	if (read_all(att, &env, &env_len) != 0 || read_all(key, &pem, &pem_len) != 0 ||
	    (sbom != NULL && read_all(sbom, &sb, &sb_len) != 0)) {
		cli_err("modelcard", "cannot read the attestation, key or SBOM");
		goto out;
	}
	bw_diag_clear(&d);
	e = bw_attest_open((const uint8_t *)env, env_len, (const uint8_t *)pem, pem_len, &stmt, &d);
	if (e != BW_OK) {
		cli_err("modelcard", "%s: %s", att, d.what);
		rc = e == BW_ERR_VERIFY ? BW_EXIT_FINDINGS : BW_EXIT_INCOMPLETE;
		goto out;
	}
	if (bw_modelcard_build(stmt, sb, att, cdx, &card, &d) != BW_OK) {
		cli_err("modelcard", "%s", d.what[0] ? d.what : "cannot build the card");
		goto out;
	}
	if (out != NULL ? write_text(out, card) != 0 : fputs(card, stdout) == EOF) {
		cli_err("modelcard", "cannot write %s", out ? out : "stdout");
		goto out;
	}
	rc = BW_EXIT_OK;
out:
	free(env);
	free(pem);
	free(sb);
	bw_report_free(stmt);
	bw_report_free(card);
	return rc;
}
