/*
 * hash.c - SHA-256 of a file for the SBOM, through src/crypto.
 *
 * Must not: map or hold the whole file (model weights are many GiB); reads
 * 1 MiB at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "bulwark/sbom.h"
#include "core/alloc.h"
#include "crypto/crypto.h"

#define HASH_CHUNK ((size_t)1 << 20)

enum bw_err bw_sbom_hash_file(const char *path, uint8_t out[32], struct bw_diag *diag)
{
	struct bw_hash_ctx *ctx = NULL;
	uint8_t *buf = NULL;
	enum bw_err e = BW_OK;
	int fd;

	memset(out, 0, 32);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return bw_diag_set(diag, errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO, BW_NO_OFFSET, "%s: %s",
		                   path, strerror(errno));
	buf = bw_malloc(HASH_CHUNK);
	ctx = bw_hash_ctx_new(BW_HASH_SHA256);
	if (buf == NULL || ctx == NULL) {
		e = BW_ERR_NOMEM;
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
		if (bw_hash_ctx_update(ctx, buf, (size_t)got) != BW_OK) {
			e = bw_diag_set(diag, BW_ERR_CRYPTO, BW_NO_OFFSET, "SHA-256 update failed");
			goto out;
		}
	}
	if (bw_hash_ctx_final(ctx, out) != BW_OK)
		e = bw_diag_set(diag, BW_ERR_CRYPTO, BW_NO_OFFSET, "SHA-256 final failed");
out:
	bw_hash_ctx_free(ctx);
	bw_free(buf);
	close(fd);
	return e;
}
