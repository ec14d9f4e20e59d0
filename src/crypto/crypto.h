/*
 * crypto/crypto.h - the cryptographic primitives of libbulwark (internal).
 *
 * This header is the only door to OpenSSL: it exposes opaque handles and plain
 * byte buffers so no other module includes an OpenSSL header. It wraps
 * SHA-256/384/512 (one-shot and streaming), ECDSA sign/verify over NIST
 * P-256/P-384/P-521 (DER ECDSA-Sig-Value, FIPS 186-5), Ed25519 verification,
 * key loading/generation (PEM, DER SubjectPublicKeyInfo), X.509 parsing and
 * chain verification at a chosen time, and strict base64 (RFC 4648 section 4).
 *
 * It must not: print, exit, keep global state, or log key material. Private
 * key bytes read from files are wiped before their buffers are freed; the
 * EVP_PKEY itself is freed by OpenSSL, which clears EC private scalars.
 * Thread safety: every function is safe to call concurrently on distinct
 * objects; a bw_pkey / bw_x509 may be shared read-only between threads.
 */
#ifndef BW_CRYPTO_CRYPTO_H
#define BW_CRYPTO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "bulwark/error.h"

/* ---- hashing ---- */

enum bw_hash_alg { BW_HASH_SHA256 = 0, BW_HASH_SHA384, BW_HASH_SHA512 };

#define BW_SHA256_LEN 32
#define BW_HASH_MAX_LEN 64

/* Digest length in bytes of alg (32, 48 or 64). */
size_t bw_hash_len(enum bw_hash_alg alg);

/* One-shot digest of p[0..n) into out (bw_hash_len(alg) bytes). */
BW_MUST_CHECK enum bw_err bw_hash(enum bw_hash_alg alg, const void *p, size_t n, uint8_t *out);
BW_MUST_CHECK enum bw_err bw_sha256(const void *p, size_t n, uint8_t out[BW_SHA256_LEN]);

/* Streaming digest; one context per thread. NULL from _new on failure. */
struct bw_hash_ctx;
struct bw_hash_ctx *bw_hash_ctx_new(enum bw_hash_alg alg);
BW_MUST_CHECK enum bw_err bw_hash_ctx_update(struct bw_hash_ctx *h, const void *p, size_t n);
/* Writes the digest and resets the context for the next message. */
BW_MUST_CHECK enum bw_err bw_hash_ctx_final(struct bw_hash_ctx *h, uint8_t *out);
void bw_hash_ctx_free(struct bw_hash_ctx *h);

/* ---- keys ---- */

enum bw_curve { BW_CURVE_NONE = 0, BW_CURVE_P256, BW_CURVE_P384, BW_CURVE_P521, BW_CURVE_ED25519,
                BW_CURVE_OTHER };

struct bw_pkey;

/*
 * Load a private key from PEM text (PKCS#8, SEC1 "EC PRIVATE KEY", encrypted
 * PKCS#8). pass may be NULL. Returns BW_ERR_ARG with diag "passphrase needed"
 * when the key is encrypted and pass is NULL, BW_ERR_VERIFY for a wrong
 * passphrase, BW_ERR_MALFORMED when no key is found, BW_ERR_UNSUPPORTED for a
 * key that is not an EC key on P-256/P-384/P-521.
 */
BW_MUST_CHECK enum bw_err bw_pkey_load_private_pem(const uint8_t *pem, size_t len, const char *pass,
                                                   struct bw_pkey **out, struct bw_diag *diag);
/* Public key from PEM text; text before the "-----BEGIN" line is skipped.
 * Also accepts a certificate PEM (the key of the first certificate). */
BW_MUST_CHECK enum bw_err bw_pkey_load_public_pem(const uint8_t *pem, size_t len,
                                                  struct bw_pkey **out, struct bw_diag *diag);
/* Public key from DER SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7). */
BW_MUST_CHECK enum bw_err bw_pkey_from_spki_der(const uint8_t *der, size_t len,
                                                struct bw_pkey **out, struct bw_diag *diag);
/* Generate a fresh key pair on curve (P-256/P-384/P-521). */
BW_MUST_CHECK enum bw_err bw_pkey_generate(enum bw_curve curve, struct bw_pkey **out);
void bw_pkey_free(struct bw_pkey *k);
enum bw_curve bw_pkey_curve(const struct bw_pkey *k);
/* The ECDSA hash OMS uses for this key: SHA-256 (P-256), SHA-384 (P-384), SHA-512 (P-521). */
enum bw_hash_alg bw_pkey_default_hash(const struct bw_pkey *k);
/* 1 when both keys hold the same public key. */
int bw_pkey_equal_public(const struct bw_pkey *a, const struct bw_pkey *b);

/* Canonical public PEM ("-----BEGIN PUBLIC KEY-----\n", 64-column base64, LF).
 * *pem is bw_malloc'd, NUL-terminated; free with bw_free. */
BW_MUST_CHECK enum bw_err bw_pkey_public_pem(const struct bw_pkey *k, char **pem, size_t *len);
/* DER SubjectPublicKeyInfo (bw_malloc'd). */
BW_MUST_CHECK enum bw_err bw_pkey_public_der(const struct bw_pkey *k, uint8_t **der, size_t *len);
/* PKCS#8 PEM of the private key, AES-256-CBC encrypted when pass is non-NULL
 * and non-empty. The returned buffer holds a secret: wipe then bw_free. */
BW_MUST_CHECK enum bw_err bw_pkey_private_pem(const struct bw_pkey *k, const char *pass,
                                              char **pem, size_t *len);

/* ECDSA signature (DER) over msg hashed with alg. *sig bw_malloc'd. */
BW_MUST_CHECK enum bw_err bw_pkey_sign(const struct bw_pkey *k, enum bw_hash_alg alg,
                                       const uint8_t *msg, size_t msg_len,
                                       uint8_t **sig, size_t *sig_len);
/* Verify a DER ECDSA signature (or an Ed25519 signature) over msg.
 * BW_OK when valid, BW_ERR_VERIFY when not, BW_ERR_CRYPTO on library failure. */
BW_MUST_CHECK enum bw_err bw_pkey_verify(const struct bw_pkey *k, enum bw_hash_alg alg,
                                         const uint8_t *msg, size_t msg_len,
                                         const uint8_t *sig, size_t sig_len);
/* Same, over a precomputed digest (ECDSA only). */
BW_MUST_CHECK enum bw_err bw_pkey_verify_digest(const struct bw_pkey *k, const uint8_t *dgst,
                                                size_t dgst_len, const uint8_t *sig, size_t sig_len);

/* ---- X.509 ---- */

struct bw_x509;

BW_MUST_CHECK enum bw_err bw_x509_from_der(const uint8_t *der, size_t len, struct bw_x509 **out,
                                           struct bw_diag *diag);
/* Every certificate of a PEM text, in order. *certs is a bw_malloc'd array. */
BW_MUST_CHECK enum bw_err bw_x509_list_from_pem(const uint8_t *pem, size_t len, struct bw_x509 ***certs,
                                                size_t *n, struct bw_diag *diag);
void bw_x509_list_free(struct bw_x509 **certs, size_t n);
void bw_x509_free(struct bw_x509 *c);
/* DER bytes of a certificate (borrowed copy, bw_malloc'd). */
BW_MUST_CHECK enum bw_err bw_x509_der(const struct bw_x509 *c, uint8_t **der, size_t *len);
BW_MUST_CHECK enum bw_err bw_x509_pubkey(const struct bw_x509 *c, struct bw_pkey **out);
/* notBefore / notAfter as seconds since the epoch. */
BW_MUST_CHECK enum bw_err bw_x509_validity(const struct bw_x509 *c, int64_t *not_before, int64_t *not_after);
/* Subject as a one-line string into buf. */
void bw_x509_subject(const struct bw_x509 *c, char *buf, size_t n);
/* First SAN of type email or URI into buf; BW_ERR_NOTFOUND when none. */
BW_MUST_CHECK enum bw_err bw_x509_san(const struct bw_x509 *c, char *buf, size_t n);
/* Value of the extension with dotted oid: a DER UTF8String is decoded, any
 * other content is returned raw (Fulcio OID 1.3.6.1.4.1.57264.1.1 is a raw
 * string, .1.8 a UTF8String). BW_ERR_NOTFOUND when absent. */
BW_MUST_CHECK enum bw_err bw_x509_ext_string(const struct bw_x509 *c, const char *oid, char *buf, size_t n);

/*
 * Verify that leaf chains to one of roots through intermediates (either may
 * be NULL/0), with every certificate valid at time at (seconds since epoch).
 * code_signing 1: require the leaf to allow digitalSignature and, when an
 * EKU is present, codeSigning. Partial chains are not accepted: a root must be
 * self-signed or explicitly listed in roots (X509_V_FLAG_PARTIAL_CHAIN is set so
 * an intermediate listed in roots is a trust anchor, as Sigstore roots use).
 * BW_OK, or BW_ERR_VERIFY with the OpenSSL reason in diag.
 */
BW_MUST_CHECK enum bw_err bw_x509_verify_chain(struct bw_x509 *leaf, struct bw_x509 *const *inter, size_t n_inter,
                                               struct bw_x509 *const *roots, size_t n_roots, int64_t at,
                                               int code_signing, struct bw_diag *diag);

/* A Certificate Transparency log: id = SHA-256 of its DER public key. */
struct bw_ct_log {
	const uint8_t *id;
	size_t id_len;
	const struct bw_pkey *key;
};

/*
 * Verify the SCTs embedded in leaf (RFC 6962 section 3.2: the precertificate
 * TBS without the SCT-list extension, issuer key hash of issuer) against logs.
 * *n_scts: SCTs present; *n_valid: SCTs from a listed log whose signature
 * verifies; *first_ts: the timestamp (ms) of the first valid SCT.
 * BW_ERR_NOTFOUND when the certificate carries no SCT list.
 */
BW_MUST_CHECK enum bw_err bw_x509_verify_scts(const struct bw_x509 *leaf, const struct bw_x509 *issuer,
                                              const struct bw_ct_log *logs, size_t n_logs, size_t *n_scts,
                                              size_t *n_valid, uint64_t *first_ts);

/*
 * Verify an RFC 3161 TimeStampResp (DER) over data: status granted, the token's
 * signature by a TSA certificate that chains (via chain[0..n-2]) to chain[n-1]
 * at the token's own time with the timeStamping purpose, and the message
 * imprint equal to the hash of data. *gen_time: the token's time (epoch s).
 * BW_ERR_VERIFY with the reason in diag when it does not verify.
 */
BW_MUST_CHECK enum bw_err bw_rfc3161_verify(const uint8_t *resp, size_t resp_len, const uint8_t *data,
                                            size_t data_len, struct bw_x509 *const *chain, size_t n_chain,
                                            int64_t *gen_time, struct bw_diag *diag);

/* ---- base64 (RFC 4648 section 4, with padding) ---- */

/* Encoded length including the NUL terminator. */
size_t bw_b64_enc_len(size_t n);
/* Encode into out (bw_b64_enc_len(n) bytes); returns strlen. */
size_t bw_b64_encode(const uint8_t *p, size_t n, char *out);
/* Strict decode (padding required, no whitespace, canonical trailing bits).
 * *out is bw_malloc'd. BW_ERR_MALFORMED on any deviation. */
BW_MUST_CHECK enum bw_err bw_b64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len);

/* Lowercase hex of p into out (2n+1 bytes). */
void bw_hex_encode(const uint8_t *p, size_t n, char *out);
/* Decode exactly n bytes from 2n hex chars (either case); -1 on error. */
int bw_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n);

#endif
