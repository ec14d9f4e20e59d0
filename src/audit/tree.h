/*
 * audit/tree.h - one small document tree for the JSON, YAML and TOML inputs of
 * the audit and SBOM modules (internal).
 *
 * OSV advisories arrive as JSON or YAML, lock files as TOML, SBOMs as JSON:
 * each is turned into the same tree of scalars, sequences and mappings so one
 * extractor reads them all. Trees live in the caller's arena. Builders use an
 * explicit stack with a depth cap (BW_TREE_MAX_DEPTH), never recursion, and
 * refuse what they do not model (YAML aliases, TOML dates are kept as strings).
 * Must not: evaluate anything, follow YAML tags, or grow without a cap.
 * Not thread-safe per arena.
 */
#ifndef BW_AUDIT_TREE_H
#define BW_AUDIT_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"
#include "core/arena.h"

#define BW_TREE_MAX_DEPTH 64
#define BW_TREE_MAX_NODES 4000000u

enum bw_tnode_type { BW_T_NULL = 0, BW_T_STR, BW_T_NUM, BW_T_BOOL, BW_T_SEQ, BW_T_MAP };

struct bw_tnode {
	enum bw_tnode_type type;
	const char *str;           /* scalar text (NUL-terminated), "" for containers */
	size_t len;                /* bytes of str */
	size_t n;                  /* children; a map holds n key/value pairs */
	struct bw_tnode **kids;    /* seq: n items; map: 2n (key, value, key, value...) */
	uint32_t line;             /* 1-based source line when known, else 0 */
	size_t cap_;               /* builder use: allocated kid slots */
};

/* Parse bytes into a tree in arena a. diag gets line-based offsets where known. */
BW_MUST_CHECK enum bw_err bw_tree_parse_json(struct bw_arena *a, const uint8_t *p, size_t n,
                                             struct bw_tnode **out, struct bw_diag *diag);
BW_MUST_CHECK enum bw_err bw_tree_parse_yaml(struct bw_arena *a, const uint8_t *p, size_t n,
                                             struct bw_tnode **out, struct bw_diag *diag);
/* The two YAML readers behind bw_tree_parse_yaml (fast subset, then libyaml);
 * exposed for the differential tests. The fast one returns
 * BW_ERR_UNSUPPORTED for anything outside its subset. */
BW_MUST_CHECK enum bw_err bw_tree_parse_yaml_fast(struct bw_arena *a, const uint8_t *p, size_t n,
                                                  struct bw_tnode **out);
BW_MUST_CHECK enum bw_err bw_tree_parse_yaml_libyaml(struct bw_arena *a, const uint8_t *p, size_t n,
                                                     struct bw_tnode **out, struct bw_diag *diag);
/* Same shape, types and texts (lines ignored). */
int bw_tree_equal(const struct bw_tnode *x, const struct bw_tnode *y);
BW_MUST_CHECK enum bw_err bw_tree_parse_toml(struct bw_arena *a, const uint8_t *p, size_t n,
                                             struct bw_tnode **out, struct bw_diag *diag);

/* Map lookup (first key equal to k); NULL when m is not a map or k is absent. */
struct bw_tnode *bw_tree_get(const struct bw_tnode *m, const char *k);
/* Scalar text of a string/number/bool node, else NULL. */
const char *bw_tree_str(const struct bw_tnode *n);
/* Scalar text of m[k] (NULL when absent or not a scalar). */
const char *bw_tree_get_str(const struct bw_tnode *m, const char *k);

#endif
