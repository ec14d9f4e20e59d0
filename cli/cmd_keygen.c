/*
 * cmd_keygen.c - bulwark keygen: make an ECDSA key pair for `bulwark sign`.
 * The private key is written 0600 (PKCS#8 PEM, AES-256 encrypted when a
 * passphrase is given) and wiped from memory after writing; never printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "bulwark/sign.h"

const char keygen_help[] =
	"usage: bulwark keygen [--curve p256|p384|p521] [--out PREFIX] [--encrypt] [--passphrase-env VAR]\n"
	"\n"
	"Write PREFIX.priv.pem (mode 0600, PKCS#8) and PREFIX.pub.pem (default PREFIX\n"
	"bulwark-key). P-256 is the default: every OMS verifier accepts it (some hash\n"
	"every curve with SHA-256). --encrypt asks for a passphrase on the terminal, or\n"
	"reads $VAR (default BULWARK_KEY_PASSPHRASE) when set. Existing files are not\n"
	"overwritten.\n"
	"exit codes: 0 written, 2 usage, 3 cannot write\n";

static int write_new(const char *path, const char *p, size_t n, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	size_t off = 0;

	if (fd < 0) {
		cli_err("keygen", "%s: %s", path, strerror(errno));
		return -1;
	}
	while (off < n) {
		ssize_t w = write(fd, p + off, n - off);

		if (w <= 0) {
			cli_err("keygen", "%s: write failed", path);
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	if (close(fd) != 0) {
		cli_err("keygen", "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int cmd_keygen(int argc, char **argv)
{
	const char *prefix = "bulwark-key", *pass_env = NULL;
	int bits = 256, encrypt = 0, k, rc = BW_EXIT_INCOMPLETE;
	char pass[512], privp[4096], pubp[4096];
	char *priv = NULL, *pub = NULL;
	size_t privl = 0, publ = 0;
	enum bw_err err;

	pass[0] = '\0';
	for (k = 1; k < argc; k++) {
		const char *a = argv[k];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(keygen_help, stdout);
			return BW_EXIT_OK;
		} else if (strcmp(a, "--encrypt") == 0) {
			encrypt = 1;
		} else if (strcmp(a, "--curve") == 0 && k + 1 < argc) {
			const char *c = argv[++k];

			bits = strcmp(c, "p256") == 0 || strcmp(c, "P-256") == 0 ? 256
			     : strcmp(c, "p384") == 0 || strcmp(c, "P-384") == 0 ? 384
			     : strcmp(c, "p521") == 0 || strcmp(c, "P-521") == 0 ? 521 : 0;
			if (bits == 0) {
				cli_err("keygen", "--curve must be p256, p384 or p521");
				return BW_EXIT_USAGE;
			}
		} else if (strcmp(a, "--out") == 0 && k + 1 < argc) {
			prefix = argv[++k];
		} else if (strcmp(a, "--passphrase-env") == 0 && k + 1 < argc) {
			pass_env = argv[++k];
			encrypt = 1;
		} else {
			cli_err("keygen", "unknown option or missing value: %s", a);
			return BW_EXIT_USAGE;
		}
	}
	if (encrypt) {
		int pr = cli_sign_passphrase("keygen", pass_env, "passphrase for the new key: ", 1, pass, sizeof pass);

		if (pr != 0 || pass[0] == '\0') {
			if (pr >= 0)
				cli_err("keygen", "no passphrase: set $%s or run on a terminal",
				        pass_env ? pass_env : "BULWARK_KEY_PASSPHRASE");
			bw_sign_wipe(pass, sizeof pass);
			return BW_EXIT_USAGE;
		}
	}
	snprintf(privp, sizeof privp, "%s.priv.pem", prefix);
	snprintf(pubp, sizeof pubp, "%s.pub.pem", prefix);
	err = bw_keygen(bits, encrypt ? pass : NULL, &priv, &privl, &pub, &publ);
	bw_sign_wipe(pass, sizeof pass);
	if (err != BW_OK) {
		cli_err("keygen", "key generation failed: %s", bw_err_str(err));
		return BW_EXIT_INCOMPLETE;
	}
	if (write_new(privp, priv, privl, 0600) != 0)
		goto done;
	if (write_new(pubp, pub, publ, 0644) != 0) {
		unlink(privp);
		goto done;
	}
	{
		char hint[65];

		if (bw_key_hint((const unsigned char *)pub, publ, hint, NULL) != BW_OK)
			snprintf(hint, sizeof hint, "?");
		printf("wrote %s (private, P-%d%s) and %s (key hint %s)\n", privp, bits, encrypt ? ", encrypted" : "",
		       pubp, hint);
	}
	rc = BW_EXIT_OK;
done:
	if (priv != NULL) {
		bw_sign_wipe(priv, privl);
		bw_sign_free(priv);
	}
	bw_sign_free(pub);
	return rc;
}
