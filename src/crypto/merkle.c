/*
 * merkle.c - RFC 9162 Merkle tree heads and proofs (see crypto/merkle.h).
 *
 * Construction follows the recursive definitions of section 2.1; recursion
 * depth is at most 64 (one level per bit of the tree size), never input
 * controlled beyond that. Verification follows the iterative algorithms of
 * sections 2.1.3.2 and 2.1.4.2 and rejects proofs of the wrong length.
 */
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/merkle.h"

static enum bw_err node_hash(const struct bw_mhash *l, const struct bw_mhash *r, struct bw_mhash *out)
{
	uint8_t buf[1 + 2 * BW_MERKLE_HASH];

	buf[0] = 0x01;
	memcpy(buf + 1, l->b, BW_MERKLE_HASH);
	memcpy(buf + 1 + BW_MERKLE_HASH, r->b, BW_MERKLE_HASH);
	return bw_sha256(buf, sizeof buf, out->b);
}

enum bw_err bw_merkle_leaf_hash(const void *data, size_t len, struct bw_mhash *out)
{
	struct bw_hash_ctx *h = bw_hash_ctx_new(BW_HASH_SHA256);
	static const uint8_t zero = 0x00;
	enum bw_err e;

	if (h == NULL)
		return BW_ERR_NOMEM;
	e = bw_hash_ctx_update(h, &zero, 1);
	if (e == BW_OK)
		e = bw_hash_ctx_update(h, data, len);
	if (e == BW_OK)
		e = bw_hash_ctx_final(h, out->b);
	bw_hash_ctx_free(h);
	return e;
}

/* Largest power of two strictly less than n (n >= 2). */
static uint64_t split(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

static enum bw_err mth(const struct bw_mhash *leaves, uint64_t n, struct bw_mhash *out)
{
	struct bw_mhash l, r;
	uint64_t k;
	enum bw_err e;

	if (n == 0)
		return bw_sha256("", 0, out->b);
	if (n == 1) {
		*out = leaves[0];
		return BW_OK;
	}
	k = split(n);
	e = mth(leaves, k, &l);
	if (e == BW_OK)
		e = mth(leaves + k, n - k, &r);
	if (e == BW_OK)
		e = node_hash(&l, &r, out);
	return e;
}

enum bw_err bw_merkle_root(const struct bw_mhash *leaves, uint64_t n, struct bw_mhash *out)
{
	if (leaves == NULL && n > 0)
		return BW_ERR_ARG;
	return mth(leaves, n, out);
}

/* PATH(m, D[n]) of section 2.1.3.1, appended to proof. */
static enum bw_err path(const struct bw_mhash *d, uint64_t n, uint64_t m, struct bw_mhash *proof,
                        size_t *count)
{
	uint64_t k;
	enum bw_err e;

	if (n <= 1)
		return BW_OK;
	if (*count >= BW_MERKLE_MAX_PROOF)
		return BW_ERR_LIMIT;
	k = split(n);
	if (m < k) {
		e = path(d, k, m, proof, count);
		if (e == BW_OK)
			e = mth(d + k, n - k, &proof[(*count)++]);
	} else {
		e = path(d + k, n - k, m - k, proof, count);
		if (e == BW_OK)
			e = mth(d, k, &proof[(*count)++]);
	}
	return e;
}

enum bw_err bw_merkle_inclusion_proof(const struct bw_mhash *leaves, uint64_t n, uint64_t m,
                                      struct bw_mhash *proof, size_t *count)
{
	*count = 0;
	if (m >= n)
		return BW_ERR_ARG;
	return path(leaves, n, m, proof, count);
}

/* SUBPROOF(m, D[n], b) of section 2.1.4.1. */
static enum bw_err subproof(const struct bw_mhash *d, uint64_t m, uint64_t n, int b,
                            struct bw_mhash *proof, size_t *count)
{
	uint64_t k;
	enum bw_err e;

	if (*count >= BW_MERKLE_MAX_PROOF)
		return BW_ERR_LIMIT;
	if (m == n) {
		if (b)
			return BW_OK;
		return mth(d, n, &proof[(*count)++]);
	}
	k = split(n);
	if (m <= k) {
		e = subproof(d, m, k, b, proof, count);
		if (e == BW_OK && *count >= BW_MERKLE_MAX_PROOF)
			return BW_ERR_LIMIT;
		if (e == BW_OK)
			e = mth(d + k, n - k, &proof[(*count)++]);
	} else {
		e = subproof(d + k, m - k, n - k, 0, proof, count);
		if (e == BW_OK && *count >= BW_MERKLE_MAX_PROOF)
			return BW_ERR_LIMIT;
		if (e == BW_OK)
			e = mth(d, k, &proof[(*count)++]);
	}
	return e;
}

enum bw_err bw_merkle_consistency_proof(const struct bw_mhash *leaves, uint64_t m, uint64_t n,
                                        struct bw_mhash *proof, size_t *count)
{
	*count = 0;
	if (m > n)
		return BW_ERR_ARG;
	if (m == 0 || m == n)
		return BW_OK; /* the empty proof */
	return subproof(leaves, m, n, 1, proof, count);
}

enum bw_err bw_merkle_verify_inclusion(uint64_t index, uint64_t size,
                                       const struct bw_mhash *leaf_hash,
                                       const struct bw_mhash *proof, size_t count,
                                       const struct bw_mhash *root)
{
	uint64_t fn = index, sn = size - 1;
	struct bw_mhash r;
	size_t i;

	if (index >= size)
		return BW_ERR_VERIFY;
	r = *leaf_hash;
	for (i = 0; i < count; i++) {
		if (sn == 0)
			return BW_ERR_VERIFY; /* proof longer than the path */
		if ((fn & 1) || fn == sn) {
			if (node_hash(&proof[i], &r, &r) != BW_OK)
				return BW_ERR_CRYPTO;
			if (!(fn & 1))
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			if (node_hash(&r, &proof[i], &r) != BW_OK)
				return BW_ERR_CRYPTO;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return BW_ERR_VERIFY; /* proof shorter than the path */
	return memcmp(r.b, root->b, BW_MERKLE_HASH) == 0 ? BW_OK : BW_ERR_VERIFY;
}

enum bw_err bw_merkle_verify_consistency(uint64_t size1, uint64_t size2,
                                         const struct bw_mhash *root1,
                                         const struct bw_mhash *root2,
                                         const struct bw_mhash *proof, size_t count)
{
	uint64_t fn, sn;
	struct bw_mhash fr, sr;
	size_t i, start;

	/* A proof from the empty tree proves nothing; like transparency-dev/merkle, refuse it. */
	if (size1 == 0 || size1 > size2)
		return BW_ERR_VERIFY;
	if (size1 == size2)
		return count == 0 && memcmp(root1->b, root2->b, BW_MERKLE_HASH) == 0 ? BW_OK : BW_ERR_VERIFY;
	if (count == 0)
		return BW_ERR_VERIFY;
	fn = size1 - 1;
	sn = size2 - 1;
	/* step 2: if size1 is a power of two, root1 starts the path */
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	if (fn == 0) {
		/* size1 is an exact power of two: prepend root1 */
		fr = *root1;
		sr = *root1;
		start = 0;
	} else {
		fr = proof[0];
		sr = proof[0];
		start = 1;
	}
	for (i = start; i < count; i++) {
		if (sn == 0)
			return BW_ERR_VERIFY;
		if ((fn & 1) || fn == sn) {
			if (node_hash(&proof[i], &fr, &fr) != BW_OK || node_hash(&proof[i], &sr, &sr) != BW_OK)
				return BW_ERR_CRYPTO;
			if (!(fn & 1))
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			if (node_hash(&sr, &proof[i], &sr) != BW_OK)
				return BW_ERR_CRYPTO;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return BW_ERR_VERIFY;
	return memcmp(fr.b, root1->b, BW_MERKLE_HASH) == 0 && memcmp(sr.b, root2->b, BW_MERKLE_HASH) == 0
	               ? BW_OK
	               : BW_ERR_VERIFY;
}

enum bw_err bw_merkle_verify_subtree_inclusion(uint64_t index, uint64_t start, uint64_t end,
                                               const struct bw_mhash *leaf_hash,
                                               const struct bw_mhash *proof, size_t count,
                                               const struct bw_mhash *root)
{
	uint64_t width = 1;

	if (start >= end || index < start || index >= end)
		return BW_ERR_VERIFY;
	while (width < end - start) {
		if (width > UINT64_MAX / 2)
			return BW_ERR_VERIFY;
		width <<= 1;
	}
	if (start % width != 0)
		return BW_ERR_VERIFY; /* not a subtree of any tree */
	return bw_merkle_verify_inclusion(index - start, end - start, leaf_hash, proof, count, root);
}
