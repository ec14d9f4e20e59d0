/*
 * audit/pep440.h - PEP 440 versions and specifiers, PEP 503 names (internal).
 *
 * Parses a version string exactly as PEP 440 (and the `packaging` library that
 * pip uses) accepts it, orders versions by the PEP 440 rules (epoch, release
 * with trailing zeros ignored, dev < pre < final < post, local segments) and
 * evaluates version specifiers (~= == === != <= >= < > with `.*` wildcards,
 * the pre-release exclusion rules and the local-version rules of ==).
 *
 * Must not: allocate, accept anything packaging would reject (a string that
 * PEP 440 cannot parse is BW_ERR_MALFORMED, never coerced), or silently wrap
 * numbers: a component above UINT64_MAX is BW_ERR_LIMIT.
 * Thread-safe (no shared state).
 */
#ifndef BW_AUDIT_PEP440_H
#define BW_AUDIT_PEP440_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"

#define BW_PEP440_MAX_RELEASE 16   /* release components (1.2.3... ) */
#define BW_PEP440_MAX_LOCAL 63     /* bytes of the canonical local label */
#define BW_PEP440_MAX_STR 256      /* longest version text we parse */
#define BW_PEP440_MAX_CANON 400    /* buffer that always holds a canonical form */

enum bw_pep440_pre { BW_PEP440_PRE_NONE = 0, BW_PEP440_PRE_A, BW_PEP440_PRE_B, BW_PEP440_PRE_RC };

struct bw_pep440 {
	uint64_t epoch;
	uint64_t release[BW_PEP440_MAX_RELEASE];
	uint8_t n_release;     /* as written (1.0.0 keeps 3); comparison ignores trailing zeros */
	uint8_t pre_kind;      /* enum bw_pep440_pre */
	uint8_t has_post;
	uint8_t has_dev;
	uint64_t pre, post, dev;
	char local[BW_PEP440_MAX_LOCAL + 1]; /* canonical local label ("ubuntu.1"), "" when none */
};

/*
 * Parse s (NUL-terminated) into *v. Leading/trailing whitespace and a leading
 * v/V are allowed, as in PEP 440 "Preceding v character" and "Leading and
 * trailing whitespace". Returns BW_OK, BW_ERR_MALFORMED (not PEP 440),
 * BW_ERR_LIMIT (too long, too many components, number too large).
 */
BW_MUST_CHECK enum bw_err bw_pep440_parse(const char *s, struct bw_pep440 *v);
/* Same for n bytes (need not be NUL-terminated). */
BW_MUST_CHECK enum bw_err bw_pep440_parse_n(const char *s, size_t n, struct bw_pep440 *v);

/* PEP 440 total order: <0, 0, >0. Local labels take part (1.0 < 1.0+abc). */
int bw_pep440_cmp(const struct bw_pep440 *a, const struct bw_pep440 *b);

/* Canonical (normalized) form, e.g. "1!1.0rc1.post2.dev3+abc.7". out must hold
 * BW_PEP440_MAX_CANON bytes; returns out. */
char *bw_pep440_str(const struct bw_pep440 *v, char *out, size_t out_len);
/* The public part (no local label) and the base version (epoch + release). */
char *bw_pep440_public_str(const struct bw_pep440 *v, char *out, size_t out_len);
char *bw_pep440_base_str(const struct bw_pep440 *v, char *out, size_t out_len);

int bw_pep440_is_prerelease(const struct bw_pep440 *v);  /* pre or dev present */
int bw_pep440_is_postrelease(const struct bw_pep440 *v);
int bw_pep440_is_devrelease(const struct bw_pep440 *v);

/* ---- specifiers (PEP 440 "Version specifiers") ---- */

enum bw_pep440_op {
	BW_OP_COMPATIBLE = 0, /* ~= */
	BW_OP_EQ,             /* == */
	BW_OP_NE,             /* != */
	BW_OP_LE,             /* <= */
	BW_OP_GE,             /* >= */
	BW_OP_LT,             /* <  */
	BW_OP_GT,             /* >  */
	BW_OP_ARBITRARY       /* === */
};

#define BW_PEP440_MAX_CLAUSES 16

struct bw_pep440_clause {
	enum bw_pep440_op op;
	int wildcard;              /* ==V.* or !=V.* */
	struct bw_pep440 v;        /* unused for === */
	char arbitrary[BW_PEP440_MAX_STR]; /* the literal of === */
};

struct bw_pep440_spec {
	size_t n_clauses;          /* 0: the empty specifier (any version) */
	struct bw_pep440_clause c[BW_PEP440_MAX_CLAUSES];
};

/* Parse a comma-separated specifier set (">=1.0, !=1.3.*, <2"). Whitespace
 * around clauses and between operator and version is allowed. Returns BW_OK,
 * BW_ERR_MALFORMED (a clause packaging would reject), BW_ERR_LIMIT. */
BW_MUST_CHECK enum bw_err bw_pep440_spec_parse(const char *s, struct bw_pep440_spec *spec);

/*
 * Is v allowed by spec? prereleases: -1 follows PEP 440 (pre-releases are
 * excluded unless a clause itself names a pre-release with ==, ===, >=, <= or
 * ~=), 0 always excludes them, 1 includes them.
 */
int bw_pep440_spec_contains(const struct bw_pep440_spec *spec, const struct bw_pep440 *v,
                            int prereleases);

/* For === the candidate's text matters: contains with the original text. */
int bw_pep440_spec_contains_str(const struct bw_pep440_spec *spec, const char *text,
                                int prereleases, int *parsed);

/* ---- PEP 503 ---- */

/*
 * Normalize a project name: lower case, runs of "-", "_", "." become one "-"
 * (PEP 503 "Normalized Names"). Writes at most out_len bytes including NUL.
 * Returns BW_OK, BW_ERR_LIMIT (does not fit), BW_ERR_MALFORMED (empty or a
 * character that cannot be in a project name).
 */
BW_MUST_CHECK enum bw_err bw_pep503_normalize(const char *name, size_t name_len,
                                              char *out, size_t out_len);

#endif
