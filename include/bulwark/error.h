/*
 * bulwark/error.h - error codes and parser diagnostics shared by every module.
 *
 * Every library function that can fail returns enum bw_err (BW_OK == 0) and is
 * marked BW_MUST_CHECK. Parsers of untrusted bytes additionally fill an optional
 * struct bw_diag saying which check failed and at which byte offset.
 * Nothing here allocates; thread-safe.
 */
#ifndef BULWARK_ERROR_H
#define BULWARK_ERROR_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define BW_MUST_CHECK __attribute__((warn_unused_result))
#define BW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BW_MUST_CHECK
#define BW_PRINTF(a, b)
#endif

enum bw_err {
	BW_OK = 0,
	BW_ERR_NOMEM,       /* allocation failed or a memory budget was exhausted */
	BW_ERR_ARG,         /* caller error: bad argument (programmer error or usage) */
	BW_ERR_IO,          /* the operating system refused a read/write/open */
	BW_ERR_TRUNCATED,   /* input ended before a structure was complete */
	BW_ERR_MALFORMED,   /* input violates its format */
	BW_ERR_LIMIT,       /* input exceeds a named bound (size, depth, count) */
	BW_ERR_UNSUPPORTED, /* valid input using a feature we do not implement */
	BW_ERR_CRYPTO,      /* a cryptographic primitive failed (not a bad signature) */
	BW_ERR_VERIFY,      /* a signature, digest or proof did not verify */
	BW_ERR_NOTFOUND,    /* a named thing (file, key, entry) does not exist */
	BW_ERR_INTERNAL,    /* a bug: an invariant did not hold */
	BW_ERR__COUNT
};

/* Short stable name of an error ("truncated"); never NULL. */
const char *bw_err_str(enum bw_err err);

#define BW_NO_OFFSET UINT64_MAX

/* Where and why a parser stopped. All fields cleared by bw_diag_clear(). */
struct bw_diag {
	enum bw_err code;
	uint64_t offset;  /* byte offset in the input, or BW_NO_OFFSET */
	char what[160];   /* the check that failed, human readable */
};

/* Clear a diagnostic; NULL is allowed and ignored. */
void bw_diag_clear(struct bw_diag *d);

/*
 * Record a failure in d (NULL allowed) unless d already holds one: the first
 * failure is the interesting one. Returns code so callers can write
 * `return bw_diag_set(d, BW_ERR_TRUNCATED, off, "...")`.
 */
enum bw_err bw_diag_set(struct bw_diag *d, enum bw_err code, uint64_t offset,
                        const char *fmt, ...) BW_PRINTF(4, 5);

#endif
