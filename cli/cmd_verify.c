/*
 * cmd_verify.c - bulwark verify: check an OMS signature (model.sig) with a
 * public key, a certificate chain's roots, or a Sigstore trusted root
 * (offline), then every file of the model against the signed manifest.
 * Exit 0 verified, 1 verification failed (the reason is printed),
 * 2 usage, 3 unreadable input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "bulwark/sign.h"

const char verify_help[] =
	"usage: bulwark verify MODEL [--signature model.sig] TRUST [options]\n"
	"\n"
	"TRUST is one of:\n"
	"  --key PUB.pem                 bundle signed with a bare key (publicKey)\n"
	"  --certificate-chain ROOTS.pem bundle with an x509CertificateChain; ROOTS are trust anchors\n"
	"  --trusted-root trusted_root.json --identity SAN --issuer URL\n"
	"                                Sigstore keyless bundle, checked offline: log SET, inclusion\n"
	"                                proof, checkpoint, Fulcio chain, identity and issuer\n"
	"options:\n"
	"  --signature PATH         the bundle (default MODEL/model.sig, or model.sig beside a file)\n"
	"  --ignore-paths PATH      also exclude PATH from the comparison; repeatable\n"
	"  --ignore-unsigned-files  files on disk that the signature does not list are allowed\n"
	"  --no-default-ignores     do not exclude .git .gitattributes .github .gitignore\n"
	"  --threads N              hashing threads\n"
	"  --format text|json       report format (default text)\n"
	"  --log DIR --log-key KEY  record the result in this audit log (bulwark help log)\n"
	"exit codes: 0 verified, 1 verification failed, 2 usage, 3 unreadable input\n";

static const char *kind_str(enum bw_diff_kind k)
{
	return k == BW_DIFF_CHANGED ? "changed" : k == BW_DIFF_ADDED ? "added" : k == BW_DIFF_REMOVED ? "removed"
	     : "renamed";
}

static void print_json(const struct bw_verify_result *r, const char *model, const char *sig)
{
	json_t *checks = json_array(), *diffs = json_array(), *doc;
	char *txt;
	size_t i;

	for (i = 0; i < r->n_checks; i++)
		json_array_append_new(checks, json_pack("{s:s, s:b, s:s}", "check", r->checks[i].name, "ok",
		                                        r->checks[i].ok, "detail", r->checks[i].detail));
	for (i = 0; i < r->n_diffs; i++) {
		json_t *d = json_pack("{s:s, s:s}", "kind", kind_str(r->diffs[i].kind), "name", r->diffs[i].name);

		if (d != NULL && r->diffs[i].new_name != NULL)
			json_object_set_new(d, "new_name", json_string(r->diffs[i].new_name));
		json_array_append_new(diffs, d);
	}
	doc = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:o, s:o}", "verified", r->verified,
	                "model", model, "signature", sig, "method", r->method, "signer", r->signer,
	                "predicate_type", r->predicate_type, "subject_name", r->model_name, "serialization",
	                r->ser_method, "resources", (json_int_t)r->n_resources, "reason",
	                r->verified ? "" : r->reason, "checks", checks, "files", diffs);
	if (doc != NULL && r->root_digest[0])
		json_object_set_new(doc, "root_digest", json_pack("{s:s}", "sha256", r->root_digest));
	txt = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	if (txt != NULL) {
		puts(txt);
		free(txt);
	}
	json_decref(doc);
}

static void print_text(const struct bw_verify_result *r, const char *model, const char *sig)
{
	size_t i;

	for (i = 0; i < r->n_checks; i++)
		printf("  [%s] %-17s %s\n", r->checks[i].ok ? " ok " : "FAIL", r->checks[i].name, r->checks[i].detail);
	for (i = 0; i < r->n_diffs; i++) {
		printf("  %s: ", kind_str(r->diffs[i].kind));
		cli_sign_put_name(stdout, r->diffs[i].name);
		if (r->diffs[i].kind == BW_DIFF_RENAMED) {
			fputs(" -> ", stdout);
			cli_sign_put_name(stdout, r->diffs[i].new_name);
		}
		fputc('\n', stdout);
	}
	if (r->verified)
		printf("VERIFIED %s with %s (%s signing, signer %s, %zu resources)\n", model, sig, r->method, r->signer,
		       r->n_resources);
	else
		printf("FAILED %s with %s: %s\n", model, sig, r->reason);
}

#define MAX_IGN 256

int cmd_verify(int argc, char **argv)
{
	struct bw_verify_opts o;
	struct bw_verify_result r;
	const char *ign[MAX_IGN];
	size_t n_ign = 0, bl = 0;
	const char *model = NULL, *sig = NULL, *key = NULL, *chain = NULL, *troot = NULL, *trust_path;
	const char *log_dir = NULL, *log_key = NULL;
	unsigned char *bundle = NULL, *trust = NULL;
	struct bw_diag diag;
	char defsig[4096];
	int fmt = BW_OUT_TEXT, k, rc, n_trust = 0;
	enum bw_err err;
	struct stat st;

	bw_verify_opts_init(&o);
	for (k = 1; k < argc; k++) {
		const char *a = argv[k];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(verify_help, stdout);
			return BW_EXIT_OK;
		}
		if (strcmp(a, "--ignore-unsigned-files") == 0) {
			o.ignore_unsigned = 1;
			continue;
		}
		if (strcmp(a, "--no-default-ignores") == 0) {
			o.no_default_ignores = 1;
			continue;
		}
		if (a[0] != '-') {
			if (model != NULL) {
				cli_err("verify", "only one model path is accepted");
				return BW_EXIT_USAGE;
			}
			model = a;
			continue;
		}
		if (k + 1 >= argc) {
			cli_err("verify", "%s needs a value or is unknown (see bulwark help verify)", a);
			return BW_EXIT_USAGE;
		}
		if (strcmp(a, "--signature") == 0)
			sig = argv[++k];
		else if (strcmp(a, "--key") == 0)
			key = argv[++k];
		else if (strcmp(a, "--certificate-chain") == 0)
			chain = argv[++k];
		else if (strcmp(a, "--trusted-root") == 0)
			troot = argv[++k];
		else if (strcmp(a, "--log") == 0)
			log_dir = argv[++k];
		else if (strcmp(a, "--log-key") == 0)
			log_key = argv[++k];
		else if (strcmp(a, "--identity") == 0)
			o.identity = argv[++k];
		else if (strcmp(a, "--issuer") == 0)
			o.issuer = argv[++k];
		else if (strcmp(a, "--ignore-paths") == 0) {
			if (n_ign == MAX_IGN) {
				cli_err("verify", "too many --ignore-paths");
				return BW_EXIT_USAGE;
			}
			ign[n_ign++] = argv[++k];
		} else if (strcmp(a, "--threads") == 0) {
			int t = atoi(argv[++k]);

			if (t < 1 || t > 64) {
				cli_err("verify", "--threads must be 1..64");
				return BW_EXIT_USAGE;
			}
			o.threads = (unsigned)t;
		} else if (strcmp(a, "--format") == 0) {
			fmt = cli_parse_format(argv[++k], 0);
			if (fmt < 0) {
				cli_err("verify", "--format must be text or json");
				return BW_EXIT_USAGE;
			}
		} else {
			cli_err("verify", "unknown option %s (see bulwark help verify)", a);
			return BW_EXIT_USAGE;
		}
	}
	if ((log_dir == NULL) != (log_key == NULL)) {
		cli_err("verify", "--log and --log-key go together");
		return BW_EXIT_USAGE;
	}
	n_trust = (key != NULL) + (chain != NULL) + (troot != NULL);
	if (model == NULL || n_trust != 1) {
		cli_err("verify", model == NULL ? "no model given"
		        : "give exactly one of --key, --certificate-chain, --trusted-root");
		return BW_EXIT_USAGE;
	}
	if (troot != NULL && (o.identity == NULL || o.issuer == NULL)) {
		cli_err("verify", "--trusted-root needs --identity and --issuer");
		return BW_EXIT_USAGE;
	}
	/* Paths given as MODEL/PATH are made relative to the model. */
	for (k = 0; (size_t)k < n_ign; k++) {
		size_t n = strlen(model);

		while (n > 1 && model[n - 1] == '/')
			n--;
		if (strncmp(ign[k], model, n) == 0 && ign[k][n] == '/')
			ign[k] += n + 1;
	}
	o.mode = key ? BW_VERIFY_KEY : chain ? BW_VERIFY_CHAIN : BW_VERIFY_SIGSTORE;
	trust_path = key ? key : chain ? chain : troot;
	if (sig == NULL) {
		if (stat(model, &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(defsig, sizeof defsig, "%s/model.sig", model);
		} else {
			const char *slash = strrchr(model, '/');

			snprintf(defsig, sizeof defsig, "%.*smodel.sig", slash ? (int)(slash - model + 1) : 0, model);
		}
		sig = defsig;
	}
	rc = cli_sign_read_file("verify", sig, 64u << 20, &bundle, &bl);
	if (rc != BW_EXIT_OK)
		return rc;
	rc = cli_sign_read_file("verify", trust_path, 16u << 20, &trust, &o.trust_len);
	if (rc != BW_EXIT_OK) {
		free(bundle);
		return rc;
	}
	o.trust = trust;
	o.ignore_paths = ign;
	o.n_ignore_paths = n_ign;
	if (isatty(2))
		o.progress = cli_sign_progress;
	bw_verify_result_init(&r);
	bw_diag_clear(&diag);
	err = bw_verify_model(model, sig, bundle, bl, &o, &r, &diag);
	cli_sign_progress_done();
	if (fmt == BW_OUT_JSON)
		print_json(&r, model, sig);
	else
		print_text(&r, model, sig);
	if (err != BW_OK && err != BW_ERR_VERIFY)
		cli_err("verify", "%s", diag.what[0] ? diag.what : r.reason);
	rc = err == BW_OK && r.verified ? BW_EXIT_OK : cli_sign_exit_for(err == BW_OK ? BW_ERR_VERIFY : err);
	if (log_dir != NULL &&
	    cli_audit_append("verify", log_dir, log_key,
	                     json_pack("{s:s,s:s,s:s,s:b,s:s,s:s,s:s}", "kind", "verify", "model", model,
	                               "signature", sig, "verified", r.verified, "root_digest",
	                               r.root_digest, "signer", r.signer, "reason",
	                               r.verified ? "" : r.reason)) != 0 &&
	    rc == BW_EXIT_OK)
		rc = BW_EXIT_INCOMPLETE;
	bw_verify_result_release(&r);
	free(bundle);
	free(trust);
	return rc;
}
