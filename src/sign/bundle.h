/*
 * sign/bundle.h - parse a Sigstore bundle holding an OMS DSSE envelope, and
 * turn its in-toto statement into a manifest (internal).
 *
 * Parsing checks structure only (types, encodings, caps); it never decides
 * trust. Everything parsed lives in struct bw_bundle and dies with
 * bw_bundle_release. Not thread-safe per bundle.
 */
#ifndef BW_SIGN_BUNDLE_H
#define BW_SIGN_BUNDLE_H

#include <jansson.h>

#include "bulwark/sign.h"
#include "crypto/crypto.h"

enum bw_vm_kind { BW_VM_NONE = 0, BW_VM_KEY_HINT, BW_VM_KEY_RAW, BW_VM_CHAIN, BW_VM_CERT };

struct bw_bundle {
	json_t *root;
	const char *media_type;
	char *payload;          /* decoded DSSE payload (NUL-terminated copy) */
	size_t payload_len;
	const char *payload_type;
	uint8_t *sig;
	size_t sig_len;
	enum bw_vm_kind vm;
	char hint[80];
	uint8_t *raw_key;       /* publicKey.rawBytes (DER SPKI) */
	size_t raw_key_len;
	struct bw_x509 **certs; /* chain (leaf first) or the single certificate */
	size_t n_certs;
	json_t *tlog;           /* borrowed: verificationMaterial.tlogEntries (may be NULL) */
	json_t *tsdata;         /* borrowed: timestampVerificationData (may be NULL) */
};

void bw_bundle_release(struct bw_bundle *b);

/* Parse bundle bytes; on failure diag says which field is wrong. */
BW_MUST_CHECK enum bw_err bw_bundle_parse(const uint8_t *p, size_t n, struct bw_bundle *b, struct bw_diag *diag);

/*
 * Turn the DSSE payload (an in-toto Statement) into a manifest: checks _type,
 * predicateType (v1.0, or the v0.2 compat layout when compat is non-NULL, which
 * is then set to 1), one subject, resources, serialization, duplicate names,
 * shard names, and the root digest over the listed order (as model_signing
 * does). *predicate_type receives a pointer into a static string.
 */
BW_MUST_CHECK enum bw_err bw_statement_to_manifest(const char *payload, size_t len, struct bw_manifest **out,
                                                   int *compat, struct bw_diag *diag);

/* Decode a base64 JSON string member; BW_ERR_MALFORMED names key in diag. */
BW_MUST_CHECK enum bw_err bw_json_b64(json_t *obj, const char *key, uint8_t **out, size_t *len,
                                      struct bw_diag *diag);
/* A protobuf-JSON int64 (a JSON string of digits, or a JSON integer). */
BW_MUST_CHECK enum bw_err bw_json_i64(json_t *obj, const char *key, int64_t *out, struct bw_diag *diag);

#endif
