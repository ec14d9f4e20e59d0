/*
 * sign.c - produce an OMS bundle: in-toto statement -> DSSE envelope (PAE,
 * signature) -> Sigstore bundle v0.3 (OMS spec sections 6.6-6.8), and the key
 * signer (publicKey hint or x509CertificateChain verification material).
 *
 * The signer interface (struct bw_signer) is what a keyless Sigstore signer
 * would implement: it signs the PAE and then describes the verification
 * material, which for keyless signing needs the Fulcio certificate and the
 * Rekor entry of that very signature. That signer is not part of this file
 * (it needs network services; docs/signing.md says what is missing).
 * Must not: print, or keep key bytes beyond the parsed key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "crypto/crypto.h"
#include "sign/sign_internal.h"

enum bw_err bw_dsse_pae(const char *type, const uint8_t *payload, size_t len, uint8_t **out, size_t *out_len)
{
	size_t tl = strlen(type), cap;
	char head[64];
	int hn;
	uint8_t *buf;

	*out = NULL;
	*out_len = 0;
	/* PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body,
	 * lengths in ASCII decimal (DSSE protocol.md). */
	if (bw_add_ovf(tl, len, &cap) || bw_add_ovf(cap, 64, &cap))
		return BW_ERR_LIMIT;
	buf = bw_malloc(cap);
	if (buf == NULL)
		return BW_ERR_NOMEM;
	hn = snprintf(head, sizeof head, "DSSEv1 %zu ", tl);
	memcpy(buf, head, (size_t)hn);
	*out_len = (size_t)hn;
	memcpy(buf + *out_len, type, tl);
	*out_len += tl;
	hn = snprintf(head, sizeof head, " %zu ", len);
	memcpy(buf + *out_len, head, (size_t)hn);
	*out_len += (size_t)hn;
	if (len > 0)
		memcpy(buf + *out_len, payload, len);
	*out_len += len;
	*out = buf;
	return BW_OK;
}

void bw_sign_free(void *p)
{
	bw_free(p);
}

void bw_sign_wipe(void *p, size_t n)
{
	if (p != NULL)
		bw_wipe(p, n);
}

/* ---- key signer ---- */

struct key_signer {
	struct bw_signer pub;
	struct bw_pkey *key;
	struct bw_x509 **chain;
	size_t n_chain;
	char hint[65];
};

static enum bw_err ks_sign(void *ctx, const uint8_t *msg, size_t msg_len, uint8_t **sig, size_t *sig_len,
                           struct bw_diag *diag)
{
	struct key_signer *ks = ctx;
	enum bw_err err = bw_pkey_sign(ks->key, bw_pkey_default_hash(ks->key), msg, msg_len, sig, sig_len);

	if (err != BW_OK)
		return bw_diag_set(diag, err, BW_NO_OFFSET, "ECDSA signing failed");
	return BW_OK;
}

static enum bw_err ks_material(void *ctx, const uint8_t *sig, size_t sig_len, const uint8_t *pae, size_t pae_len,
                               char **json, struct bw_diag *diag)
{
	struct key_signer *ks = ctx;
	json_t *vm = NULL, *certs = NULL;
	enum bw_err err = BW_ERR_NOMEM;
	char *txt = NULL;
	size_t i;

	(void)sig;
	(void)sig_len;
	(void)pae;
	(void)pae_len;
	(void)diag;
	*json = NULL;
	if (ks->n_chain == 0) {
		/* OMS spec 4.1: producers use publicKey.hint; tlogEntries is
		 * written empty as model_signing does. */
		vm = json_pack("{s:{s:s}, s:[]}", "publicKey", "hint", ks->hint, "tlogEntries");
	} else {
		certs = json_array();
		for (i = 0; certs != NULL && i < ks->n_chain; i++) {
			uint8_t *der = NULL;
			size_t dl = 0;
			char *b64;

			if (bw_x509_der(ks->chain[i], &der, &dl) != BW_OK)
				goto out;
			b64 = bw_malloc(bw_b64_enc_len(dl));
			if (b64 == NULL) {
				bw_free(der);
				goto out;
			}
			(void)bw_b64_encode(der, dl, b64);
			bw_free(der);
			if (json_array_append_new(certs, json_pack("{s:s}", "rawBytes", b64)) != 0) {
				bw_free(b64);
				goto out;
			}
			bw_free(b64);
		}
		if (certs == NULL)
			goto out;
		vm = json_pack("{s:{s:O}, s:[]}", "x509CertificateChain", "certificates", certs, "tlogEntries");
	}
	if (vm == NULL)
		goto out;
	txt = json_dumps(vm, JSON_COMPACT);
	if (txt == NULL)
		goto out;
	*json = bw_strdup(txt);
	err = *json ? BW_OK : BW_ERR_NOMEM;
out:
	free(txt);
	json_decref(vm);
	json_decref(certs);
	return err;
}

static void ks_release(void *ctx)
{
	struct key_signer *ks = ctx;

	bw_pkey_free(ks->key);
	bw_x509_list_free(ks->chain, ks->n_chain);
}

void bw_signer_free(struct bw_signer *s)
{
	if (s == NULL)
		return;
	if (s->release != NULL)
		s->release(s->ctx);
	bw_free(s);
}

enum bw_err bw_key_hint(const uint8_t *pub_pem, size_t len, char hint[65], struct bw_diag *diag)
{
	struct bw_pkey *k = NULL;
	char *pem = NULL;
	size_t pl = 0;
	uint8_t d[32];
	enum bw_err err;

	hint[0] = '\0';
	err = bw_pkey_load_public_pem(pub_pem, len, &k, diag);
	if (err != BW_OK)
		return err;
	err = bw_pkey_public_pem(k, &pem, &pl);
	if (err == BW_OK)
		err = bw_sha256(pem, pl, d);
	if (err == BW_OK)
		bw_hex_encode(d, 32, hint);
	bw_free(pem);
	bw_pkey_free(k);
	return err;
}

enum bw_err bw_signer_key_new(const uint8_t *key_pem, size_t key_len, const char *passphrase,
                              const uint8_t *chain_pem, size_t chain_len, struct bw_signer **out,
                              struct bw_diag *diag)
{
	struct key_signer *ks = bw_calloc(1, sizeof *ks);
	struct bw_pkey *leafkey = NULL;
	char *pem = NULL;
	size_t pl = 0;
	uint8_t d[32];
	enum bw_err err;

	*out = NULL;
	if (ks == NULL)
		return BW_ERR_NOMEM;
	err = bw_pkey_load_private_pem(key_pem, key_len, passphrase, &ks->key, diag);
	if (err != BW_OK)
		goto out;
	err = bw_pkey_public_pem(ks->key, &pem, &pl);
	if (err == BW_OK)
		err = bw_sha256(pem, pl, d);
	if (err != BW_OK)
		goto out;
	bw_hex_encode(d, 32, ks->hint);
	if (chain_pem != NULL) {
		err = bw_x509_list_from_pem(chain_pem, chain_len, &ks->chain, &ks->n_chain, diag);
		if (err != BW_OK)
			goto out;
		err = bw_x509_pubkey(ks->chain[0], &leafkey);
		if (err != BW_OK || !bw_pkey_equal_public(leafkey, ks->key)) {
			err = bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET,
			                  "the first certificate of the chain does not hold the signing key's public key");
			goto out;
		}
	}
	ks->pub.method = ks->n_chain ? "certificate" : "key";
	ks->pub.sign = ks_sign;
	ks->pub.material = ks_material;
	ks->pub.release = ks_release;
	ks->pub.ctx = ks;
	*out = &ks->pub;
out:
	bw_pkey_free(leafkey);
	bw_free(pem);
	if (err != BW_OK) {
		ks_release(ks);
		bw_free(ks);
	}
	return err;
}

enum bw_err bw_sign_manifest(const struct bw_manifest *m, struct bw_signer *s, char **bundle, size_t *len,
                             struct bw_diag *diag)
{
	char *stmt = NULL, *payload64 = NULL, *sig64 = NULL, *vmtxt = NULL, *txt = NULL;
	size_t stmt_len = 0, pae_len = 0, sig_len = 0;
	uint8_t *pae = NULL, *sig = NULL;
	json_t *vm = NULL, *b = NULL;
	json_error_t jerr;
	enum bw_err err;

	*bundle = NULL;
	*len = 0;
	if (m->n_items == 0)
		return bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET,
		                   "the model has no file to sign (an empty model must be rejected, OMS spec 6.1)");
	err = bw_manifest_statement(m, &stmt, &stmt_len);
	if (err != BW_OK)
		goto out;
	err = bw_dsse_pae(BW_INTOTO_PAYLOAD_TYPE, (const uint8_t *)stmt, stmt_len, &pae, &pae_len);
	if (err != BW_OK)
		goto out;
	err = s->sign(s->ctx, pae, pae_len, &sig, &sig_len, diag);
	if (err != BW_OK)
		goto out;
	err = s->material(s->ctx, sig, sig_len, pae, pae_len, &vmtxt, diag);
	if (err != BW_OK)
		goto out;
	err = BW_ERR_NOMEM;
	payload64 = bw_malloc(bw_b64_enc_len(stmt_len));
	sig64 = bw_malloc(bw_b64_enc_len(sig_len));
	if (payload64 == NULL || sig64 == NULL)
		goto out;
	(void)bw_b64_encode((const uint8_t *)stmt, stmt_len, payload64);
	(void)bw_b64_encode(sig, sig_len, sig64);
	vm = json_loads(vmtxt, JSON_REJECT_DUPLICATES, &jerr);
	if (vm == NULL) {
		err = bw_diag_set(diag, BW_ERR_INTERNAL, BW_NO_OFFSET, "signer returned bad verificationMaterial");
		goto out;
	}
	/* Bundle v0.3 (sigstore_bundle.proto), field order as model_signing
	 * writes it; keyid "" as the Python signer writes (OMS spec 4.1 allows
	 * absent, "" or null). */
	b = json_pack("{s:s, s:O, s:{s:s, s:s, s:[{s:s, s:s}]}}", "mediaType", BW_BUNDLE_V03,
	              "verificationMaterial", vm, "dsseEnvelope", "payload", payload64, "payloadType",
	              BW_INTOTO_PAYLOAD_TYPE, "signatures", "sig", sig64, "keyid", "");
	if (b == NULL)
		goto out;
	txt = json_dumps(b, JSON_COMPACT);
	if (txt == NULL)
		goto out;
	*bundle = bw_strdup(txt);
	if (*bundle == NULL)
		goto out;
	*len = strlen(*bundle);
	err = BW_OK;
out:
	free(txt);
	json_decref(b);
	json_decref(vm);
	bw_free(stmt);
	bw_free(pae);
	bw_free(sig);
	bw_free(vmtxt);
	bw_free(payload64);
	bw_free(sig64);
	return err;
}

enum bw_err bw_keygen(int curve_bits, const char *passphrase, char **priv_pem, size_t *priv_len, char **pub_pem,
                      size_t *pub_len)
{
	struct bw_pkey *k = NULL;
	enum bw_curve c = curve_bits == 256 ? BW_CURVE_P256 : curve_bits == 384 ? BW_CURVE_P384
	                : curve_bits == 521 ? BW_CURVE_P521 : BW_CURVE_NONE;
	enum bw_err err;

	*priv_pem = NULL;
	*pub_pem = NULL;
	*priv_len = 0;
	*pub_len = 0;
	if (c == BW_CURVE_NONE)
		return BW_ERR_ARG;
	err = bw_pkey_generate(c, &k);
	if (err != BW_OK)
		return err;
	err = bw_pkey_private_pem(k, passphrase, priv_pem, priv_len);
	if (err == BW_OK)
		err = bw_pkey_public_pem(k, pub_pem, pub_len);
	if (err != BW_OK && *priv_pem != NULL) {
		bw_wipe(*priv_pem, *priv_len);
		bw_free(*priv_pem);
		*priv_pem = NULL;
		*priv_len = 0;
	}
	bw_pkey_free(k);
	return err;
}

enum bw_err bw_py_bytes_repr(const uint8_t *p, size_t n, char **out, size_t *out_len)
{
	size_t i, o = 0, cap;
	char *s;
	int has_sq = 0, has_dq = 0;
	char q;

	*out = NULL;
	*out_len = 0;
	if (n > (SIZE_MAX - 4) / 4)
		return BW_ERR_LIMIT;
	cap = n * 4 + 4;
	s = bw_malloc(cap);
	if (s == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		has_sq |= p[i] == '\'';
		has_dq |= p[i] == '"';
	}
	/* CPython bytes repr: single quotes unless the bytes hold ' and not ". */
	q = has_sq && !has_dq ? '"' : '\'';
	s[o++] = 'b';
	s[o++] = q;
	for (i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (c == (uint8_t)q || c == '\\') {
			s[o++] = '\\';
			s[o++] = (char)c;
		} else if (c == '\t') {
			s[o++] = '\\';
			s[o++] = 't';
		} else if (c == '\n') {
			s[o++] = '\\';
			s[o++] = 'n';
		} else if (c == '\r') {
			s[o++] = '\\';
			s[o++] = 'r';
		} else if (c < 0x20 || c >= 0x7f) {
			static const char hx[] = "0123456789abcdef";

			s[o++] = '\\';
			s[o++] = 'x';
			s[o++] = hx[c >> 4];
			s[o++] = hx[c & 15];
		} else {
			s[o++] = (char)c;
		}
	}
	s[o++] = q;
	*out = s;
	*out_len = o;
	return BW_OK;
}
