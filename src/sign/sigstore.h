/*
 * sign/sigstore.h - offline verification of Sigstore (keyless) bundles against
 * a trusted_root.json, and the shared check recorder (internal).
 */
#ifndef BW_SIGN_SIGSTORE_H
#define BW_SIGN_SIGSTORE_H

#include <stdarg.h>

#include "bulwark/sign.h"
#include "crypto/crypto.h"
#include "sign/bundle.h"

/* Append a check to r; the first failing check becomes r->reason. */
void bw_verify_check(struct bw_verify_result *r, const char *name, int ok, const char *fmt, ...)
	BW_PRINTF(4, 5);

/*
 * Check a bundle whose verificationMaterial is a single certificate:
 * trusted root (o->trust), transparency-log entries (SET, inclusion proof,
 * checkpoint, body bound to this envelope), the certificate chain to a Fulcio
 * CA at the log's integrated time, and the identity/issuer. On BW_OK *leafkey
 * is the key to check the DSSE signature with.
 */
BW_MUST_CHECK enum bw_err bw_sigstore_verify(const struct bw_bundle *b, const struct bw_verify_opts *o,
                                             struct bw_verify_result *r, struct bw_pkey **leafkey,
                                             struct bw_diag *diag);

#endif
