/*
 * hash.c - SHA-256 of a file for the SBOM (OpenSSL EVP).
 *
 * The only place the SBOM module touches a digest: when src/crypto lands,
 * bw_sbom_hash_file() becomes a call into it and this file goes away.
 * Must not: map or hold the whole file (model weights are many GiB); reads
 * 1 MiB at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bulwark/sbom.h"
#include "core/alloc.h"

#define HASH_CHUNK ((size_t)1 << 20)

enum bw_err bw_sbom_hash_file(const char *path, uint8_t out[32], struct bw_diag *diag)
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	unsigned int n = 0;
	enum bw_err e = BW_OK;
	int fd;

	memset(out, 0, 32);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return bw_diag_set(diag, errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO, BW_NO_OFFSET, "%s: %s",
		                   path, strerror(errno));
	buf = bw_malloc(HASH_CHUNK);
	ctx = EVP_MD_CTX_new();
	if (buf == NULL || ctx == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		e = bw_diag_set(diag, BW_ERR_CRYPTO, BW_NO_OFFSET, "SHA-256 unavailable");
		goto out;
	}
	for (;;) {
		ssize_t got = read(fd, buf, HASH_CHUNK);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			e = bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)got) != 1) {
			e = bw_diag_set(diag, BW_ERR_CRYPTO, BW_NO_OFFSET, "SHA-256 update failed");
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != 32)
		e = bw_diag_set(diag, BW_ERR_CRYPTO, BW_NO_OFFSET, "SHA-256 final failed");
out:
	EVP_MD_CTX_free(ctx);
	bw_free(buf);
	close(fd);
	return e;
}
