/*
 * cmd_sign.c - bulwark sign: hash a model and write model.sig, an OMS
 * bundle (Sigstore bundle v0.3, DSSE, in-toto statement) signed with an
 * ECDSA key, optionally with its certificate chain.
 * The private key file and the passphrase are wiped as soon as the key is
 * parsed; neither is ever printed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "bulwark/sign.h"

const char sign_help[] =
	"usage: bulwark sign --key KEY.pem [--certificate CHAIN.pem] [options] MODEL\n"
	"\n"
	"Sign a model folder (or one file) in the OpenSSF Model Signing format: writes a\n"
	"Sigstore bundle (v0.3) holding a DSSE envelope over an in-toto statement whose\n"
	"predicate lists every file's SHA-256. Verifiable by model_signing (Python), the\n"
	"Go model-signing and `bulwark verify`.\n"
	"\n"
	"  --key KEY.pem           ECDSA private key (P-256, P-384, P-521; PEM, may be encrypted)\n"
	"  --certificate CHAIN.pem certificate chain, leaf first (writes x509CertificateChain);\n"
	"                          without it the bundle names the key by its hint\n"
	"  --signature OUT         where to write the bundle (default MODEL/model.sig for a\n"
	"                          folder, model.sig beside a single file); it is never signed\n"
	"  --passphrase-env VAR    read the key passphrase from environment variable VAR\n"
	"                          (default BULWARK_KEY_PASSPHRASE; else asked on the terminal)\n"
	"  --format text|json      report format (default text)\n"
	"  --log DIR --log-key KEY record the signing in this audit log (bulwark help log)\n"
	"  hashing options as for `bulwark hash`: --method, --shard-size, --ignore-paths,\n"
	"  --no-default-ignores, --allow-symlinks, --order, --threads, --model-name,\n"
	"  --single-file-name\n"
	"Keyless (Sigstore Fulcio/Rekor) signing needs network services and is not built in.\n"
	"exit codes: 0 signed, 2 usage or bad key/passphrase, 3 unreadable input or write error\n";

/* Passphrase from env (CI) or the terminal with echo off. 0 when obtained,
 * 1 when no source is available, -1 on error. */
int cli_sign_passphrase(const char *cmd, const char *env, const char *prompt, int confirm, char *buf, size_t n)
{
	const char *v = getenv(env ? env : "BULWARK_KEY_PASSPHRASE");
	FILE *tty;
	struct termios old, noecho;
	int k;
	char again[512];

	if (v != NULL) {
		if (strlen(v) >= n) {
			cli_err(cmd, "passphrase in $%s is too long", env ? env : "BULWARK_KEY_PASSPHRASE");
			return -1;
		}
		strcpy(buf, v);
		return 0;
	}
	tty = fopen("/dev/tty", "r+");
	if (tty == NULL)
		return 1;
	for (k = 0; k <= confirm; k++) {
		char *dst = k == 0 ? buf : again;
		size_t cap = k == 0 ? n : sizeof again;
		size_t len;

		fprintf(tty, "%s", k == 0 ? prompt : "repeat passphrase: ");
		fflush(tty);
		if (tcgetattr(fileno(tty), &old) == 0) {
			noecho = old;
			noecho.c_lflag &= ~(tcflag_t)ECHO;
			(void)tcsetattr(fileno(tty), TCSAFLUSH, &noecho);
		}
		if (fgets(dst, (int)cap, tty) == NULL)
			dst[0] = '\0';
		(void)tcsetattr(fileno(tty), TCSAFLUSH, &old);
		fputc('\n', tty);
		len = strlen(dst);
		if (len > 0 && dst[len - 1] == '\n')
			dst[len - 1] = '\0';
	}
	fclose(tty);
	if (confirm && strcmp(buf, again) != 0) {
		bw_sign_wipe(again, sizeof again);
		cli_err(cmd, "passphrases do not match");
		return -1;
	}
	bw_sign_wipe(again, sizeof again);
	return 0;
}

static const char *find_model(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (argv[i][0] != '-')
			return argv[i];
		if (strcmp(argv[i], "--allow-symlinks") != 0 && strcmp(argv[i], "--no-default-ignores") != 0)
			i++;
	}
	return NULL;
}

#define MAX_IGN 256

int cmd_sign(int argc, char **argv)
{
	struct bw_hash_opts o;
	const char *ign[MAX_IGN];
	size_t n_ign = 0;
	const char *model = NULL, *key_path = NULL, *chain_path = NULL, *out = NULL, *pass_env = NULL;
	const char *log_dir = NULL, *log_key = NULL;
	const char *pre = find_model(argc, argv);
	unsigned char *key = NULL, *chain = NULL;
	size_t key_len = 0, chain_len = 0, bl = 0;
	struct bw_signer *signer = NULL;
	struct bw_manifest *m = NULL;
	struct bw_diag diag;
	char *bundle = NULL, defout[4096], pass[512];
	int fmt = BW_OUT_TEXT, k, r, rc = BW_EXIT_INCOMPLETE, have_pass = 0;
	enum bw_err err;
	struct stat st;

	bw_hash_opts_init(&o);
	pass[0] = '\0';
	for (k = 1; k < argc; k++) {
		r = cli_sign_hash_opt("sign", argc, argv, &k, &o, ign, &n_ign, MAX_IGN, pre);
		if (r < 0)
			return BW_EXIT_USAGE;
		if (r > 0)
			continue;
		if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
			fputs(sign_help, stdout);
			return BW_EXIT_OK;
		}
		if (argv[k][0] == '-' && k + 1 >= argc) {
			cli_err("sign", "%s needs a value or is unknown (see bulwark help sign)", argv[k]);
			return BW_EXIT_USAGE;
		}
		if (strcmp(argv[k], "--key") == 0)
			key_path = argv[++k];
		else if (strcmp(argv[k], "--certificate") == 0 || strcmp(argv[k], "--certificate-chain") == 0)
			chain_path = argv[++k];
		else if (strcmp(argv[k], "--signature") == 0)
			out = argv[++k];
		else if (strcmp(argv[k], "--passphrase-env") == 0)
			pass_env = argv[++k];
		else if (strcmp(argv[k], "--log") == 0)
			log_dir = argv[++k];
		else if (strcmp(argv[k], "--log-key") == 0)
			log_key = argv[++k];
		else if (strcmp(argv[k], "--format") == 0) {
			fmt = cli_parse_format(argv[++k], 0);
			if (fmt < 0) {
				cli_err("sign", "--format must be text or json");
				return BW_EXIT_USAGE;
			}
		} else if (argv[k][0] == '-') {
			cli_err("sign", "unknown option %s (see bulwark help sign)", argv[k]);
			return BW_EXIT_USAGE;
		} else if (model == NULL) {
			model = argv[k];
		} else {
			cli_err("sign", "only one model path is accepted");
			return BW_EXIT_USAGE;
		}
	}
	if ((log_dir == NULL) != (log_key == NULL)) {
		cli_err("sign", "--log and --log-key go together");
		return BW_EXIT_USAGE;
	}
	if (o.order == BW_ORDER_PYTHON) {
		cli_err("sign", "--order python is for `bulwark hash` only: the Go verifier rejects resources that "
		        "are not in byte order");
		return BW_EXIT_USAGE;
	}
	if (model == NULL || key_path == NULL) {
		cli_err("sign", model == NULL ? "no model given" : "--key is required (keyless signing needs "
		        "Sigstore network services and is not built in)");
		return BW_EXIT_USAGE;
	}
	if (out == NULL) {
		if (stat(model, &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(defout, sizeof defout, "%s/model.sig", model);
		} else {
			const char *slash = strrchr(model, '/');

			snprintf(defout, sizeof defout, "%.*smodel.sig", slash ? (int)(slash - model + 1) : 0, model);
		}
		out = defout;
	}

	bw_diag_clear(&diag);
	rc = cli_sign_read_file("sign", key_path, 1u << 20, &key, &key_len);
	if (rc != BW_EXIT_OK)
		goto done;
	if (chain_path != NULL) {
		rc = cli_sign_read_file("sign", chain_path, 4u << 20, &chain, &chain_len);
		if (rc != BW_EXIT_OK)
			goto done;
	}
	err = bw_signer_key_new(key, key_len, NULL, chain, chain_len, &signer, &diag);
	if (err == BW_ERR_ARG && strstr(diag.what, "passphrase") != NULL) {
		int pr = cli_sign_passphrase("sign", pass_env, "passphrase for the signing key: ", 0, pass, sizeof pass);

		if (pr != 0) {
			if (pr > 0)
				cli_err("sign", "the key is encrypted: set $%s or run on a terminal",
				        pass_env ? pass_env : "BULWARK_KEY_PASSPHRASE");
			rc = BW_EXIT_USAGE;
			goto done;
		}
		have_pass = 1;
		bw_diag_clear(&diag);
		err = bw_signer_key_new(key, key_len, pass, chain, chain_len, &signer, &diag);
	}
	/* The key text and passphrase are not needed any more. */
	bw_sign_wipe(key, key_len);
	bw_sign_wipe(pass, sizeof pass);
	if (err != BW_OK) {
		cli_err("sign", "%s: %s", key_path, diag.what[0] ? diag.what : bw_err_str(err));
		rc = err == BW_ERR_IO ? BW_EXIT_INCOMPLETE : BW_EXIT_USAGE;
		goto done;
	}
	(void)have_pass;
	o.ignore_paths = ign;
	o.n_ignore_paths = n_ign;
	if (isatty(2))
		o.progress = cli_sign_progress;
	bw_diag_clear(&diag);
	err = bw_manifest_build(model, out, &o, &m, &diag);
	cli_sign_progress_done();
	if (err != BW_OK) {
		cli_err("sign", "%s", diag.what[0] ? diag.what : bw_err_str(err));
		rc = err == BW_ERR_ARG ? BW_EXIT_USAGE : BW_EXIT_INCOMPLETE;
		goto done;
	}
	bw_diag_clear(&diag);
	err = bw_sign_manifest(m, signer, &bundle, &bl, &diag);
	if (err != BW_OK) {
		cli_err("sign", "%s", diag.what[0] ? diag.what : bw_err_str(err));
		rc = cli_sign_exit_for(err);
		goto done;
	}
	{
		FILE *f = fopen(out, "wb");

		if (f == NULL || fwrite(bundle, 1, bl, f) != bl || fclose(f) != 0) {
			cli_err("sign", "%s: cannot write: %s", out, strerror(errno));
			rc = BW_EXIT_INCOMPLETE;
			goto done;
		}
	}
	{
		char hex[65];
		size_t i;

		for (i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", m->root[i]);
		if (fmt == BW_OUT_JSON) {
			json_t *doc = json_pack("{s:s, s:s, s:s, s:I, s:I, s:{s:s}}", "signature", out, "method",
			                        signer->method, "model", m->model_name, "files", (json_int_t)m->n_files,
			                        "resources", (json_int_t)m->n_items, "root_digest", "sha256", hex);
			char *txt = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;

			if (txt != NULL)
				puts(txt);
			free(txt);
			json_decref(doc);
		} else {
			printf("signed %s (%zu files, %zu resources, root sha256:%s) with %s signing -> %s\n", model,
			       m->n_files, m->n_items, hex, signer->method, out);
		}
		if (log_dir != NULL &&
		    cli_audit_append("sign", log_dir, log_key,
		                     json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "kind", "sign", "model", model,
		                               "signature", out, "method", signer->method, "files",
		                               (json_int_t)m->n_files, "root_digest", hex)) != 0) {
			rc = BW_EXIT_INCOMPLETE;
			goto done;
		}
	}
	rc = BW_EXIT_OK;
done:
	if (key != NULL) {
		bw_sign_wipe(key, key_len);
		free(key);
	}
	free(chain);
	bw_sign_free(bundle);
	bw_manifest_free(m);
	bw_signer_free(signer);
	return rc;
}
