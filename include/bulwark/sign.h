/*
 * bulwark/sign.h - hash, sign and verify models in the OpenSSF Model Signing
 * (OMS v1.0) format: a Sigstore bundle (v0.3 media type) holding a DSSE
 * envelope over an in-toto Statement v1 whose predicate
 * (https://model_signing/signature/v1.0) lists every file's digest.
 *
 * Three steps, each usable on its own:
 *   bw_manifest_build   walk a model folder (or one file), hash every file or
 *                       shard in parallel, produce the OMS resource list;
 *   bw_sign_model       manifest -> statement -> DSSE -> bundle, through a
 *                       struct bw_signer (a key signer is provided; a keyless
 *                       Sigstore signer plugs into the same interface);
 *   bw_verify_model     bundle -> signature/chain/log checks -> manifest ->
 *                       compare with the files on disk, naming every
 *                       file added, removed, renamed or changed.
 *
 * The library never prints. Errors: BW_OK; BW_ERR_VERIFY when a signature,
 * chain, proof or digest does not verify (struct bw_verify_result says why);
 * BW_ERR_MALFORMED/TRUNCATED/LIMIT/UNSUPPORTED for a bundle we cannot read;
 * BW_ERR_IO/NOTFOUND for files we cannot open; BW_ERR_ARG for caller errors.
 * Thread safety: functions are reentrant; they start worker threads for hashing
 * and join them before returning. Nothing here is safe to share across threads
 * while being mutated.
 */
#ifndef BULWARK_SIGN_H
#define BULWARK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"

/* Serialization method of the OMS predicate (spec section 6.3). */
enum bw_ser_method { BW_SER_FILES = 0, BW_SER_SHARDS = 1 };

/* Resource order: OMS spec / Go (byte-wise sort of the name) or the order the
 * Python model_signing writes (path components compared one by one, shards by
 * numeric start). Verifiers of all three accept either (docs/signing.md). */
enum bw_order { BW_ORDER_SPEC = 0, BW_ORDER_PYTHON = 1 };

#define BW_SHARD_SIZE_DEFAULT 1000000000ULL

struct bw_hash_opts {
	enum bw_ser_method method;
	uint64_t shard_size;          /* shards only; 0 = BW_SHARD_SIZE_DEFAULT */
	int allow_symlinks;           /* 0: a symlink in the model is an error */
	const char *const *ignore_paths; /* relative to the model root, '/'-separated */
	size_t n_ignore_paths;
	int no_default_ignores;       /* 1: do not exclude .git .gitattributes .github .gitignore */
	enum bw_order order;
	unsigned threads;             /* 0 = number of online CPUs */
	const char *model_name;       /* subject name; NULL = basename of the model path */
	int single_file_dot;          /* single-file model: name the resource "." (model_signing)
	                                 instead of its basename (OMS spec 6.1.2 rule 5, Go) */
	/* Progress callback (called from worker threads, serialised by a lock);
	 * NULL for none. done/total in bytes. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
};

/* Options filled with the defaults (files, sha256, no symlinks, spec order). */
void bw_hash_opts_init(struct bw_hash_opts *o);

struct bw_manifest_item {
	char *name;       /* resource name: "a/b.bin", "a/b.bin:0:8"; a single file: its basename or "." */
	char *path;       /* '/'-separated path relative to the model root (a single file: its basename) */
	uint64_t start, end; /* byte range (files mode: 0..size) */
	char algorithm[40];  /* "sha256" or "sha256-sharded-<N>" */
	uint8_t digest[32];
};

struct bw_manifest {
	char *model_name;
	enum bw_ser_method method;
	uint64_t shard_size;
	int allow_symlinks;
	int single_file;
	char **ignore_paths;  /* as recorded in serialization.ignore_paths */
	size_t n_ignore_paths;
	struct bw_manifest_item *items;
	size_t n_items;
	uint8_t root[32];     /* SHA-256 over the raw digests in item order (spec 6.5.1) */
	uint64_t total_bytes;
	size_t n_files;
};

/*
 * Walk model_path (a folder, or one regular file) and hash it. sig_path, when
 * non-NULL and inside the model, is excluded and recorded in ignore_paths.
 * *out is heap-allocated; free with bw_manifest_free. diag names the file on
 * failure. Errors: BW_ERR_NOTFOUND/IO (unreadable), BW_ERR_UNSUPPORTED
 * (symlink with allow_symlinks 0, special file, name not UTF-8),
 * BW_ERR_ARG (bad options), BW_ERR_LIMIT (too many files).
 */
BW_MUST_CHECK enum bw_err bw_manifest_build(const char *model_path, const char *sig_path,
                                            const struct bw_hash_opts *o, struct bw_manifest **out,
                                            struct bw_diag *diag);
void bw_manifest_free(struct bw_manifest *m);

/* Reorder the items (and recompute the root digest). */
BW_MUST_CHECK enum bw_err bw_manifest_sort(struct bw_manifest *m, enum bw_order order);

/*
 * The in-toto Statement v1 JSON for m, formatted as model_signing writes it
 * (2-space indent, ": " separator, no trailing newline). *json is
 * bw_malloc'd and NUL-terminated.
 */
BW_MUST_CHECK enum bw_err bw_manifest_statement(const struct bw_manifest *m, char **json, size_t *len);

/* Free a buffer returned by this API (statement, bundle, PEM). NULL allowed.
 * Buffers holding secrets are wiped by the caller first. */
void bw_sign_free(void *p);
/* Wipe n bytes in a way the compiler cannot elide (keys, passphrases). */
void bw_sign_wipe(void *p, size_t n);

/* ---- signing ---- */

/*
 * A signer: signs the DSSE pre-authentication encoding and describes the
 * bundle's verificationMaterial. A key signer is made by bw_signer_key_new; a
 * keyless (Fulcio/Rekor) signer would implement the same two callbacks and fill
 * certificate + tlogEntries after signing.
 */
struct bw_signer {
	const char *method;  /* "key", "certificate", "sigstore" */
	/* Sign msg; *sig bw_malloc'd (DER ECDSA signature). */
	enum bw_err (*sign)(void *ctx, const uint8_t *msg, size_t msg_len, uint8_t **sig, size_t *sig_len,
	                    struct bw_diag *diag);
	/* verificationMaterial as compact JSON object text (bw_malloc'd), given
	 * the signature and the PAE it covers. */
	enum bw_err (*material)(void *ctx, const uint8_t *sig, size_t sig_len, const uint8_t *pae,
	                        size_t pae_len, char **json, struct bw_diag *diag);
	void (*release)(void *ctx);
	void *ctx;
};

/*
 * Key signer from a PEM private key (P-256, P-384 or P-521; the hash follows
 * the curve). chain_pem (may be NULL): a PEM certificate chain, leaf first,
 * whose leaf must hold the key's public half; the bundle then carries
 * x509CertificateChain, else publicKey{hint}. passphrase may be NULL; when the
 * key is encrypted and passphrase is NULL, BW_ERR_ARG with diag
 * "passphrase needed". The key bytes are wiped by the caller; the signer
 * keeps only the parsed key and frees it in bw_signer_free.
 */
BW_MUST_CHECK enum bw_err bw_signer_key_new(const uint8_t *key_pem, size_t key_len, const char *passphrase,
                                            const uint8_t *chain_pem, size_t chain_len,
                                            struct bw_signer **out, struct bw_diag *diag);
void bw_signer_free(struct bw_signer *s);

/* Sign m with s: *bundle is the compact bundle JSON (bw_malloc'd, NUL-terminated). */
BW_MUST_CHECK enum bw_err bw_sign_manifest(const struct bw_manifest *m, struct bw_signer *s,
                                           char **bundle, size_t *len, struct bw_diag *diag);

/* Key generation: PEM private (PKCS#8, encrypted when passphrase non-empty) and
 * public key. curve_bits 256, 384 or 521. Outputs bw_malloc'd; the private one
 * must be wiped (bw_wipe) before bw_free. */
BW_MUST_CHECK enum bw_err bw_keygen(int curve_bits, const char *passphrase, char **priv_pem, size_t *priv_len,
                                    char **pub_pem, size_t *pub_len);

/* hex(SHA-256(canonical public PEM)) of a PEM public key, the OMS key "hint". */
BW_MUST_CHECK enum bw_err bw_key_hint(const uint8_t *pub_pem, size_t len, char hint[65], struct bw_diag *diag);

/* ---- verification ---- */

enum bw_verify_mode { BW_VERIFY_KEY = 0, BW_VERIFY_CHAIN, BW_VERIFY_SIGSTORE };

struct bw_verify_opts {
	enum bw_verify_mode mode;
	const uint8_t *trust;     /* KEY: PEM public key; CHAIN: PEM roots; SIGSTORE: trusted_root.json */
	size_t trust_len;
	const char *identity;     /* SIGSTORE: expected SAN (email or URI); required */
	const char *issuer;       /* SIGSTORE: expected OIDC issuer; required */
	const char *const *ignore_paths;  /* extra exclusions, relative to the model root */
	size_t n_ignore_paths;
	int ignore_unsigned;      /* 1: files on disk but not in the manifest are allowed */
	int no_default_ignores;
	unsigned threads;
	int64_t now;              /* 0 = time(NULL); used for certificate chains of keyless bundles */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
};

void bw_verify_opts_init(struct bw_verify_opts *o);

enum bw_diff_kind { BW_DIFF_CHANGED = 0, BW_DIFF_ADDED, BW_DIFF_REMOVED, BW_DIFF_RENAMED };

struct bw_file_diff {
	enum bw_diff_kind kind;
	char *name;      /* resource name (CHANGED, REMOVED: signed name; ADDED: local name) */
	char *new_name;  /* RENAMED: local name of the signed content */
};

/* One check performed, in order, for the report. */
struct bw_check {
	char name[40];      /* "bundle", "material", "tlog", "tlog-body", "tlog-set", "tlog-inclusion",
	                       "tlog-checkpoint", "certificate-chain", "sct", "identity", "timestamp",
	                       "signature", "statement", "manifest" */
	int ok;
	char detail[200];
};

#define BW_MAX_CHECKS 32

struct bw_verify_result {
	int verified;            /* 1 only when every check passed */
	char reason[256];        /* first failure, human readable */
	char method[16];         /* "key", "certificate", "sigstore" */
	char predicate_type[64];
	char model_name[256];    /* subject[0].name (informational) */
	char root_digest[65];
	char signer[256];        /* key hint, leaf subject or SAN */
	char ser_method[8];      /* "files" / "shards" */
	size_t n_resources;
	int hint_mismatch;       /* publicKey.hint names a key other than the given one */
	struct bw_check checks[BW_MAX_CHECKS];
	size_t n_checks;
	struct bw_file_diff *diffs;
	size_t n_diffs;
};

/* Clear (no allocation) / free the contents of a result. */
void bw_verify_result_init(struct bw_verify_result *r);
void bw_verify_result_release(struct bw_verify_result *r);

/*
 * Verify the bundle bytes (bundle, bundle_len) against model_path. sig_path,
 * when inside the model, is excluded from the file walk. Returns BW_OK when
 * verified, BW_ERR_VERIFY with r->reason when not, other codes when the
 * inputs could not be read (r->reason is then also set).
 */
BW_MUST_CHECK enum bw_err bw_verify_model(const char *model_path, const char *sig_path,
                                          const uint8_t *bundle, size_t bundle_len,
                                          const struct bw_verify_opts *o, struct bw_verify_result *r,
                                          struct bw_diag *diag);

/*
 * Signature-only verification of a bundle (no file comparison): checks the
 * bundle, the signature/chain/log and the statement, and returns the signed
 * manifest in *out (NULL allowed). Used by bw_verify_model and the fuzz target.
 */
BW_MUST_CHECK enum bw_err bw_verify_bundle(const uint8_t *bundle, size_t bundle_len,
                                           const struct bw_verify_opts *o, struct bw_verify_result *r,
                                           struct bw_manifest **out, struct bw_diag *diag);

/* Parse a DSSE/OMS bundle without checking signatures (fuzzing, inspection). */
BW_MUST_CHECK enum bw_err bw_bundle_inspect(const uint8_t *bundle, size_t bundle_len, struct bw_manifest **out,
                                            struct bw_diag *diag);

/* DSSE v1 pre-authentication encoding (DSSE protocol.md): *out bw_malloc'd. */
BW_MUST_CHECK enum bw_err bw_dsse_pae(const char *type, const uint8_t *payload, size_t len, uint8_t **out,
                                      size_t *out_len);

#endif
