/*
 * error.c - names of error codes and the diagnostic helper.
 * Must not allocate or print.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bulwark/error.h"

const char *bw_err_str(enum bw_err err)
{
	static const char *const names[BW_ERR__COUNT] = {
		[BW_OK] = "ok",
		[BW_ERR_NOMEM] = "out of memory",
		[BW_ERR_ARG] = "bad argument",
		[BW_ERR_IO] = "i/o error",
		[BW_ERR_TRUNCATED] = "truncated",
		[BW_ERR_MALFORMED] = "malformed",
		[BW_ERR_LIMIT] = "over a limit",
		[BW_ERR_UNSUPPORTED] = "unsupported",
		[BW_ERR_CRYPTO] = "crypto failure",
		[BW_ERR_VERIFY] = "verification failed",
		[BW_ERR_NOTFOUND] = "not found",
		[BW_ERR_INTERNAL] = "internal error",
	};
	if ((unsigned)err >= BW_ERR__COUNT || names[err] == NULL)
		return "unknown error";
	return names[err];
}

void bw_diag_clear(struct bw_diag *d)
{
	if (d == NULL)
		return;
	d->code = BW_OK;
	d->offset = BW_NO_OFFSET;
	d->what[0] = '\0';
}

enum bw_err bw_diag_set(struct bw_diag *d, enum bw_err code, uint64_t offset,
                        const char *fmt, ...)
{
	va_list ap;

	if (d == NULL || d->code != BW_OK)
		return code;
	d->code = code;
	d->offset = offset;
	va_start(ap, fmt);
	vsnprintf(d->what, sizeof d->what, fmt, ap);
	va_end(ap);
	return code;
}
