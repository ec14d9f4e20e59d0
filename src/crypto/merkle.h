/*
 * crypto/merkle.h - RFC 9162 (Certificate Transparency v2) Merkle trees:
 * tree heads, inclusion proofs and consistency proofs over SHA-256, and their
 * verification.
 *
 * Hashes (RFC 9162 section 2.1.1): leaf = SHA-256(0x00 || data),
 * node = SHA-256(0x01 || left || right), empty tree = SHA-256("").
 * Trees are given as arrays of leaf hashes; nothing here allocates except the
 * proof arrays (bw_malloc, at most 64 hashes). Thread-safe.
 */
#ifndef BW_CRYPTO_MERKLE_H
#define BW_CRYPTO_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"

#define BW_MERKLE_HASH 32
#define BW_MERKLE_MAX_PROOF 64

struct bw_mhash {
	uint8_t b[BW_MERKLE_HASH];
};

BW_MUST_CHECK enum bw_err bw_merkle_leaf_hash(const void *data, size_t len, struct bw_mhash *out);
/* Root of the tree of the first n leaves (n may be 0). */
BW_MUST_CHECK enum bw_err bw_merkle_root(const struct bw_mhash *leaves, uint64_t n, struct bw_mhash *out);
/*
 * Inclusion proof of leaf index m in the tree of size n (section 2.1.3.1):
 * *count hashes written to proof (room for BW_MERKLE_MAX_PROOF).
 */
BW_MUST_CHECK enum bw_err bw_merkle_inclusion_proof(const struct bw_mhash *leaves, uint64_t n, uint64_t m,
                                                    struct bw_mhash *proof, size_t *count);
/* Consistency proof between tree sizes m <= n (section 2.1.4.1). */
BW_MUST_CHECK enum bw_err bw_merkle_consistency_proof(const struct bw_mhash *leaves, uint64_t m, uint64_t n,
                                                      struct bw_mhash *proof, size_t *count);
/*
 * Verify an inclusion proof (section 2.1.3.2). BW_OK when it proves leaf_hash
 * at index in a tree of size with this root; BW_ERR_VERIFY otherwise.
 */
BW_MUST_CHECK enum bw_err bw_merkle_verify_inclusion(uint64_t index, uint64_t size,
                                                     const struct bw_mhash *leaf_hash, const struct bw_mhash *proof,
                                                     size_t count, const struct bw_mhash *root);
/*
 * Verify that leaf `index` is in the subtree [start, end) whose hash is root
 * (subtree proofs of tiled logs / Merkle Tree Certificates). The subtree must
 * be valid: start < end and start a multiple of the smallest power of two
 * >= end - start; its hash is then the MTH of its leaves, so the proof is an
 * ordinary inclusion proof relative to start. BW_OK or BW_ERR_VERIFY.
 */
BW_MUST_CHECK enum bw_err bw_merkle_verify_subtree_inclusion(uint64_t index, uint64_t start,
                                                             uint64_t end,
                                                             const struct bw_mhash *leaf_hash,
                                                             const struct bw_mhash *proof,
                                                             size_t count,
                                                             const struct bw_mhash *root);
/* Verify a consistency proof (section 2.1.4.2). BW_OK or BW_ERR_VERIFY. */
BW_MUST_CHECK enum bw_err bw_merkle_verify_consistency(uint64_t size1, uint64_t size2,
                                                       const struct bw_mhash *root1, const struct bw_mhash *root2,
                                                       const struct bw_mhash *proof, size_t count);

#endif
