/*
 * sign/sign_internal.h - shared internals of src/sign/ (not public API).
 *
 * Constants of the formats OMS builds on (in-toto Statement v1, DSSE v1,
 * Sigstore bundle v0.3) and helpers used by the manifest, bundle and verify
 * files. Nothing here includes OpenSSL (that is src/crypto/ only).
 */
#ifndef BW_SIGN_INTERNAL_H
#define BW_SIGN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/sign.h"

#define BW_INTOTO_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define BW_INTOTO_STATEMENT_V1 "https://in-toto.io/Statement/v1"
#define BW_OMS_PREDICATE_V1 "https://model_signing/signature/v1.0"
#define BW_OMS_PREDICATE_COMPAT "https://model_signing/Digests/v0.1"
#define BW_BUNDLE_V03 "application/vnd.dev.sigstore.bundle.v0.3+json"

/* Caps on hostile input (bundles are small; a model may have many files). */
#define BW_BUNDLE_MAX (64u << 20)      /* bundle file size */
#define BW_MANIFEST_MAX_ITEMS 4000000u /* resources in one manifest */
#define BW_NAME_MAX 4096u              /* one resource name */

/* Default exclusions, matched as top-level components (OMS spec 6.2.1):
 * bw_default_ignore(i) for i < BW_N_DEFAULT_IGNORES. A function, not exported
 * data: the release build links PIE objects into the shared library. */
#define BW_N_DEFAULT_IGNORES 4u
const char *bw_default_ignore(size_t i);

/* 1 when rel (a '/'-separated relative path) equals ign or lies under it. */
int bw_path_is_under(const char *rel, const char *ign);

/* Canonicalise a user or bundle path per OMS spec 6.1.2 into out (size n):
 * collapse "./" and "//", drop a trailing "/". Returns -1 for an absolute path,
 * a ".." component, or an empty result. */
int bw_path_canon(const char *in, char *out, size_t n);

/* Compare two resource names in the given order (qsort-style). For shards the
 * name carries ":start:end"; Python order compares the numbers numerically. */
int bw_name_cmp(const char *a, const char *b, enum bw_order order);

/* Split a shard name "<path>:<start>:<end>" at its LAST two colons
 * (OMS spec 6.3.2). Returns 0 and fills path_len/start/end, or -1. */
int bw_shard_split(const char *name, size_t *path_len, uint64_t *start, uint64_t *end);

/* Recompute m->root from the items in their current order. */
BW_MUST_CHECK enum bw_err bw_manifest_root(struct bw_manifest *m);

/* Python repr() of a bytes object (the v0.2 "compat" PAE renders it). */
BW_MUST_CHECK enum bw_err bw_py_bytes_repr(const uint8_t *p, size_t n, char **out, size_t *out_len);

#endif
