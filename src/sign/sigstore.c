/*
 * sigstore.c - offline verification of a Sigstore keyless bundle (Fulcio
 * certificate + Rekor transparency-log entry) against a trusted_root.json
 * (sigstore protobuf-specs TrustedRoot), for OMS "sigstore" bundles.
 *
 * Checked: the log entry's signed entry timestamp (SET: ECDSA over the
 * canonical JSON {body, integratedTime, logID, logIndex}), the RFC 6962 Merkle
 * inclusion proof of the entry's body, the signed checkpoint (C2SP signed-note)
 * carrying that root, that the logged dsse body names this envelope's payload
 * hash, signature and certificate, the certificate chain to a Fulcio CA of the
 * trusted root at the integrated time, and the SAN / OIDC issuer.
 * Also: at least one embedded SCT verified with a CT log of the trusted root,
 * and every RFC 3161 timestamp present verified with a trusted TSA.
 * Rekor v2 entries (hashedrekord/dsse 0.0.2: no SET, the time comes from an
 * RFC 3161 timestamp; Ed25519-signed checkpoints) are checked the same way.
 * Not checked (docs/signing.md): anything that needs the network (fresh TUF
 * metadata, online log queries).
 * Must not: accept an entry without a verified inclusion proof and checkpoint,
 * or a signing time not vouched for by a SET or an RFC 3161 timestamp.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "sign/sign_internal.h"
#include "sign/sigstore.h"
#include "crypto/merkle.h"

#define OID_ISSUER_V2 "1.3.6.1.4.1.57264.1.8"
#define OID_ISSUER_V1 "1.3.6.1.4.1.57264.1.1"
#define MAX_PROOF 64

/* RFC 3339 UTC time ("2021-01-12T11:53:27.000Z") to epoch seconds. */
static int parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	int y, mo, d, h, mi, se;

	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6)
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* validFor {start, end?}: 1 when t lies inside. */
static int valid_for(json_t *vf, int64_t t)
{
	int64_t s, e;
	json_t *end;

	if (!json_is_object(vf) || parse_time(json_string_value(json_object_get(vf, "start")), &s) != 0)
		return 0;
	if (t < s)
		return 0;
	end = json_object_get(vf, "end");
	if (end != NULL && (parse_time(json_string_value(end), &e) != 0 || t > e))
		return 0;
	return 1;
}

struct tlog_key {
	struct bw_pkey *key;
	uint8_t id[32];
	size_t id_len;
	json_t *valid;
};

struct trust {
	json_t *root;
	struct tlog_key tlogs[16];
	size_t n_tlogs;
	struct tlog_key ctlogs[16];
	size_t n_ctlogs;
};

static void trust_release(struct trust *t)
{
	size_t i;

	for (i = 0; i < t->n_tlogs; i++)
		bw_pkey_free(t->tlogs[i].key);
	for (i = 0; i < t->n_ctlogs; i++)
		bw_pkey_free(t->ctlogs[i].key);
	json_decref(t->root);
	memset(t, 0, sizeof *t);
}

/* Keys of "tlogs" or "ctlogs" (TransparencyLogInstance list). */
static void load_logs(json_t *tl, struct tlog_key *out, size_t *n_out)
{
	size_t i;

	for (i = 0; json_is_array(tl) && i < json_array_size(tl) && *n_out < 16; i++) {
		json_t *e = json_array_get(tl, i), *pk = json_object_get(e, "publicKey");
		uint8_t *der = NULL, *id = NULL;
		size_t dl = 0, il = 0;
		struct tlog_key *k = &out[*n_out];

		if (bw_json_b64(pk, "rawBytes", &der, &dl, NULL) != BW_OK)
			continue;
		if (bw_json_b64(json_object_get(e, "logId"), "keyId", &id, &il, NULL) != BW_OK || il > 32 ||
		    bw_pkey_from_spki_der(der, dl, &k->key, NULL) != BW_OK) {
			bw_free(der);
			bw_free(id);
			continue;
		}
		memcpy(k->id, id, il);
		k->id_len = il;
		k->valid = json_object_get(pk, "validFor");
		bw_free(der);
		bw_free(id);
		(*n_out)++;
	}
}

static enum bw_err trust_load(const uint8_t *p, size_t n, struct trust *t, struct bw_diag *diag)
{
	json_error_t jerr;
	json_t *mt;

	memset(t, 0, sizeof *t);
	t->root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(t->root))
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "trusted root is not a JSON object: %s",
		                   jerr.text);
	mt = json_object_get(t->root, "mediaType");
	if (!json_is_string(mt) || strncmp(json_string_value(mt), "application/vnd.dev.sigstore.trustedroot", 40) != 0)
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "trusted root has no TrustedRoot mediaType");
	load_logs(json_object_get(t->root, "tlogs"), t->tlogs, &t->n_tlogs);
	load_logs(json_object_get(t->root, "ctlogs"), t->ctlogs, &t->n_ctlogs);
	return BW_OK;
}

/* Verify the leaf against every Fulcio CA valid at time at. */
static enum bw_err check_chain(const struct trust *t, struct bw_x509 *leaf, int64_t at, struct bw_x509 **issuer,
                               char *why, size_t wn)
{
	json_t *cas = json_object_get(t->root, "certificateAuthorities");
	size_t i, j;
	enum bw_err res = BW_ERR_VERIFY;

	snprintf(why, wn, "no certificate authority in the trusted root is valid at the signing time");
	for (i = 0; json_is_array(cas) && i < json_array_size(cas); i++) {
		json_t *ca = json_array_get(cas, i);
		json_t *certs = json_object_get(json_object_get(ca, "certChain"), "certificates");
		struct bw_x509 *chain[8];
		size_t n = 0;
		struct bw_diag d;
		enum bw_err err;

		if (!valid_for(json_object_get(ca, "validFor"), at) || !json_is_array(certs))
			continue;
		for (j = 0; j < json_array_size(certs) && n < 8; j++) {
			uint8_t *der = NULL;
			size_t dl = 0;

			if (bw_json_b64(json_array_get(certs, j), "rawBytes", &der, &dl, NULL) == BW_OK &&
			    bw_x509_from_der(der, dl, &chain[n], NULL) == BW_OK)
				n++;
			bw_free(der);
		}
		if (n == 0)
			continue;
		bw_diag_clear(&d);
		/* chain = [intermediate..., root]: the last one is the anchor. */
		err = bw_x509_verify_chain(leaf, chain, n - 1, chain + n - 1, 1, at, 1, &d);
		for (j = err == BW_OK ? 1 : 0; j < n; j++)
			bw_x509_free(chain[j]);
		if (err == BW_OK) {
			*issuer = chain[0]; /* the CA chain starts with the leaf's issuer */
			return BW_OK;
		}
		snprintf(why, wn, "%s", d.what);
	}
	return res;
}

/* Signed note (C2SP signed-note, used by Rekor checkpoints): text up to the
 * blank line, then "— <name> <base64(keyid[4] || signature)>" lines. */
static enum bw_err check_checkpoint(const char *env, const struct tlog_key *k, uint64_t size,
                                    const uint8_t root[32], char *why, size_t wn)
{
	const char *sep = strstr(env, "\n\n"), *line, *nl;
	size_t text_len;
	char sizebuf[32], *endp;
	uint8_t *rh = NULL;
	size_t rl = 0;
	int ok_sig = 0;
	const char *l1, *l2, *l3;

	if (sep == NULL) {
		snprintf(why, wn, "checkpoint has no signature block");
		return BW_ERR_VERIFY;
	}
	text_len = (size_t)(sep - env) + 1;
	/* line 1 origin, line 2 tree size, line 3 base64 root hash. */
	l1 = env;
	l2 = memchr(l1, '\n', text_len);
	l3 = l2 ? memchr(l2 + 1, '\n', text_len - (size_t)(l2 + 1 - env)) : NULL;
	nl = l3 ? memchr(l3 + 1, '\n', text_len - (size_t)(l3 + 1 - env)) : NULL;
	if (l2 == NULL || l3 == NULL || nl == NULL || (size_t)(l3 - l2 - 1) >= sizeof sizebuf) {
		snprintf(why, wn, "checkpoint text is malformed");
		return BW_ERR_VERIFY;
	}
	memcpy(sizebuf, l2 + 1, (size_t)(l3 - l2 - 1));
	sizebuf[l3 - l2 - 1] = '\0';
	if (strtoull(sizebuf, &endp, 10) != size || *endp != '\0') {
		snprintf(why, wn, "checkpoint tree size %s differs from the proof's %llu", sizebuf,
		         (unsigned long long)size);
		return BW_ERR_VERIFY;
	}
	if (bw_b64_decode(l3 + 1, (size_t)(nl - l3 - 1), &rh, &rl) != BW_OK || rl != 32 || memcmp(rh, root, 32) != 0) {
		bw_free(rh);
		snprintf(why, wn, "checkpoint root hash differs from the proof's root");
		return BW_ERR_VERIFY;
	}
	bw_free(rh);
	for (line = sep + 2; *line != '\0'; line = nl + 1) {
		const char *sp;
		uint8_t *raw = NULL;
		size_t rawl = 0;

		nl = strchr(line, '\n');
		if (nl == NULL)
			break;
		/* "\xe2\x80\x94 " (em dash, space), name, space, base64 */
		if (strncmp(line, "\xe2\x80\x94 ", 4) != 0)
			continue;
		sp = memchr(line + 4, ' ', (size_t)(nl - line - 4));
		if (sp == NULL)
			continue;
		if (bw_b64_decode(sp + 1, (size_t)(nl - sp - 1), &raw, &rawl) != BW_OK || rawl < 5) {
			bw_free(raw);
			continue;
		}
		if (memcmp(raw, k->id, 4) == 0 &&
		    bw_pkey_verify(k->key, BW_HASH_SHA256, (const uint8_t *)env, text_len, raw + 4, rawl - 4) == BW_OK)
			ok_sig = 1;
		bw_free(raw);
		if (ok_sig)
			break;
	}
	if (!ok_sig) {
		snprintf(why, wn, "no checkpoint signature verifies with the log's key");
		return BW_ERR_VERIFY;
	}
	return BW_OK;
}

static int pem_cert_equals(const uint8_t *pem, size_t n, struct bw_x509 *leaf)
{
	struct bw_x509 **certs = NULL;
	size_t nc = 0;
	uint8_t *a = NULL, *b = NULL;
	size_t al = 0, bl = 0;
	int same = 0;

	if (bw_x509_list_from_pem(pem, n, &certs, &nc, NULL) != BW_OK)
		return 0;
	if (bw_x509_der(certs[0], &a, &al) == BW_OK && bw_x509_der(leaf, &b, &bl) == BW_OK)
		same = al == bl && memcmp(a, b, al) == 0;
	bw_free(a);
	bw_free(b);
	bw_x509_list_free(certs, nc);
	return same;
}

/* The logged dsse 0.0.1 body must name this envelope. */
static enum bw_err check_body(const struct bw_bundle *b, const uint8_t *body, size_t bl, char *why, size_t wn)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)body, bl, JSON_REJECT_DUPLICATES, &jerr);
	json_t *spec = json_object_get(j, "spec"), *sigs, *s0;
	const char *ph;
	uint8_t d[32], *sig = NULL, *pem = NULL;
	size_t sl = 0, pl = 0;
	char hex[65];
	enum bw_err err = BW_ERR_VERIFY;

	if (!json_is_object(spec)) {
		snprintf(why, wn, "log entry body is not a dsse entry");
		goto out;
	}
	ph = json_string_value(json_object_get(json_object_get(spec, "payloadHash"), "value"));
	if (bw_sha256(b->payload, b->payload_len, d) != BW_OK)
		goto out;
	bw_hex_encode(d, 32, hex);
	if (ph == NULL || strcmp(ph, hex) != 0) {
		snprintf(why, wn, "log entry's payloadHash is not the hash of this bundle's payload");
		goto out;
	}
	sigs = json_object_get(spec, "signatures");
	s0 = json_array_get(sigs, 0);
	if (json_array_size(sigs) != 1 || bw_json_b64(s0, "signature", &sig, &sl, NULL) != BW_OK ||
	    sl != b->sig_len || memcmp(sig, b->sig, sl) != 0) {
		snprintf(why, wn, "log entry's signature is not this bundle's signature");
		goto out;
	}
	if (bw_json_b64(s0, "verifier", &pem, &pl, NULL) != BW_OK || !pem_cert_equals(pem, pl, b->certs[0])) {
		snprintf(why, wn, "log entry's verifier is not this bundle's certificate");
		goto out;
	}
	err = BW_OK;
out:
	bw_free(sig);
	bw_free(pem);
	json_decref(j);
	return err;
}

static int b64_equals(json_t *obj, const char *key, const uint8_t *want, size_t want_len)
{
	uint8_t *v = NULL;
	size_t vl = 0;
	int same = bw_json_b64(obj, key, &v, &vl, NULL) == BW_OK && vl == want_len && memcmp(v, want, vl) == 0;

	bw_free(v);
	return same;
}

/* Rekor v2 (0.0.2) bodies of a DSSE bundle: "hashedrekord" over the DSSE
 * (data digest = SHA-256(PAE)) or "dsse" (payload hash); both carry the
 * signature and the certificate, which must be this bundle's. */
static enum bw_err check_body_v2(const struct bw_bundle *b, const char *kind, const uint8_t *body, size_t bl,
                                 char *why, size_t wn)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)body, bl, JSON_REJECT_DUPLICATES, &jerr);
	json_t *spec = json_object_get(j, "spec"), *sigobj, *hash, *cert;
	uint8_t d[32], *pae = NULL, *der = NULL;
	size_t pl = 0, dl = 0;
	enum bw_err err = BW_ERR_VERIFY;
	const char *alg;

	if (strcmp(kind, "hashedrekord") == 0) {
		json_t *v = json_object_get(spec, "hashedRekordV002");

		hash = json_object_get(v, "data");
		sigobj = json_object_get(v, "signature");
		if (bw_dsse_pae(b->payload_type, (const uint8_t *)b->payload, b->payload_len, &pae, &pl) != BW_OK ||
		    bw_sha256(pae, pl, d) != BW_OK)
			goto out;
	} else {
		json_t *v = json_object_get(spec, "dsseV002");

		hash = json_object_get(v, "payloadHash");
		sigobj = json_array_size(json_object_get(v, "signatures")) == 1
		       ? json_array_get(json_object_get(v, "signatures"), 0) : NULL;
		if (bw_sha256(b->payload, b->payload_len, d) != BW_OK)
			goto out;
	}
	alg = json_string_value(json_object_get(hash, "algorithm"));
	if (alg == NULL || strcmp(alg, "SHA2_256") != 0 || !b64_equals(hash, "digest", d, 32)) {
		snprintf(why, wn, "log entry's digest is not the hash of this bundle's %s",
		         kind[0] == 'h' ? "DSSE PAE" : "payload");
		goto out;
	}
	if (!b64_equals(sigobj, "content", b->sig, b->sig_len)) {
		snprintf(why, wn, "log entry's signature is not this bundle's signature");
		goto out;
	}
	cert = json_object_get(json_object_get(sigobj, "verifier"), "x509Certificate");
	if (bw_x509_der(b->certs[0], &der, &dl) != BW_OK || !b64_equals(cert, "rawBytes", der, dl)) {
		snprintf(why, wn, "log entry's verifier is not this bundle's certificate");
		goto out;
	}
	err = BW_OK;
out:
	bw_free(pae);
	bw_free(der);
	json_decref(j);
	return err;
}

/* One tlog entry: returns BW_OK and its integrated time, or BW_ERR_VERIFY with
 * the failing check recorded. */
static enum bw_err check_entry(const struct bw_bundle *b, const struct trust *t, json_t *e,
                               struct bw_verify_result *r, int64_t *itime, const struct tlog_key **log)
{
	int v2;
	uint8_t *id = NULL, *body = NULL, *set = NULL, *rootb = NULL;
	size_t il = 0, bl = 0, setl = 0, rootl = 0, i;
	const struct tlog_key *k = NULL;
	int64_t log_index, pidx, psize;
	json_t *kv = json_object_get(e, "kindVersion"), *proof, *hashes, *canon = NULL;
	const char *kind = json_string_value(json_object_get(kv, "kind"));
	const char *ver = json_string_value(json_object_get(kv, "version"));
	char why[200], idhex[65], *settxt = NULL;
	const char *bodyb64;
	enum bw_err err = BW_ERR_VERIFY;
	uint8_t (*path)[32] = NULL, leaf[32], *lbuf = NULL;

	if (bw_json_b64(json_object_get(e, "logId"), "keyId", &id, &il, NULL) != BW_OK || il > 32) {
		bw_verify_check(r, "tlog", 0, "tlog entry has no logId.keyId");
		goto out;
	}
	for (i = 0; i < t->n_tlogs; i++)
		if (t->tlogs[i].id_len == il && memcmp(t->tlogs[i].id, id, il) == 0)
			k = &t->tlogs[i];
	if (k == NULL) {
		bw_verify_check(r, "tlog", 0, "tlog entry is from a log the trusted root does not list");
		goto out;
	}
	*log = k;
	*itime = 0;
	v2 = kind != NULL && ver != NULL && strcmp(ver, "0.0.2") == 0 &&
	     (strcmp(kind, "hashedrekord") == 0 || strcmp(kind, "dsse") == 0);
	if (!v2 && (kind == NULL || ver == NULL || strcmp(kind, "dsse") != 0 || strcmp(ver, "0.0.1") != 0)) {
		bw_verify_check(r, "tlog", 0, "tlog entry kind %.20s %.20s is not supported for a DSSE bundle "
		                "(dsse 0.0.1 on Rekor v1; hashedrekord or dsse 0.0.2 on Rekor v2)",
		                kind ? kind : "?", ver ? ver : "?");
		err = BW_ERR_VERIFY;
		goto out;
	}
	if (bw_json_i64(e, "logIndex", &log_index, NULL) != BW_OK ||
	    bw_json_b64(e, "canonicalizedBody", &body, &bl, NULL) != BW_OK ||
	    (!v2 && bw_json_i64(e, "integratedTime", itime, NULL) != BW_OK)) {
		bw_verify_check(r, "tlog", 0, "tlog entry lacks logIndex, integratedTime or canonicalizedBody");
		goto out;
	}
	if (v2) {
		/* Rekor v2 has no signed entry timestamp: its time comes from an
		 * RFC 3161 timestamp, checked by the caller (with the key's
		 * validity at that time). */
		if (check_body_v2(b, kind, body, bl, why, sizeof why) != BW_OK) {
			bw_verify_check(r, "tlog-body", 0, "%s", why);
			goto out;
		}
		bw_verify_check(r, "tlog-body", 1, "logged %s 0.0.2 entry names this envelope, signature and "
		                "certificate", kind);
	} else {
		if (!valid_for(k->valid, *itime)) {
			bw_verify_check(r, "tlog", 0, "the log key was not valid at the entry's integrated time");
			goto out;
		}
		if (check_body(b, body, bl, why, sizeof why) != BW_OK) {
			bw_verify_check(r, "tlog-body", 0, "%s", why);
			goto out;
		}
		bw_verify_check(r, "tlog-body", 1, "logged dsse entry names this payload, signature and certificate");

		/* SET: signature over the canonical JSON of the entry (keys sorted,
		 * compact), as Rekor v1 signs it. */
		bodyb64 = json_string_value(json_object_get(e, "canonicalizedBody"));
		bw_hex_encode(id, il, idhex);
		canon = json_pack("{s:s, s:I, s:s, s:I}", "body", bodyb64, "integratedTime", (json_int_t)*itime, "logID",
		                  idhex, "logIndex", (json_int_t)log_index);
		settxt = canon ? json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		if (settxt == NULL) {
			err = BW_ERR_NOMEM;
			goto out;
		}
		if (bw_json_b64(json_object_get(e, "inclusionPromise"), "signedEntryTimestamp", &set, &setl, NULL) != BW_OK ||
		    bw_pkey_verify(k->key, BW_HASH_SHA256, (const uint8_t *)settxt, strlen(settxt), set, setl) != BW_OK) {
			bw_verify_check(r, "tlog-set", 0, "signed entry timestamp missing or invalid");
			goto out;
		}
		bw_verify_check(r, "tlog-set", 1, "signed entry timestamp valid (log index %lld, integrated %lld)",
		                (long long)log_index, (long long)*itime);
	}

	proof = json_object_get(e, "inclusionProof");
	hashes = json_object_get(proof, "hashes");
	if (!json_is_object(proof) || !json_is_array(hashes) || json_array_size(hashes) > MAX_PROOF ||
	    bw_json_i64(proof, "logIndex", &pidx, NULL) != BW_OK || bw_json_i64(proof, "treeSize", &psize, NULL) != BW_OK ||
	    bw_json_b64(proof, "rootHash", &rootb, &rootl, NULL) != BW_OK || rootl != 32) {
		bw_verify_check(r, "tlog-inclusion", 0, "inclusion proof missing or malformed");
		goto out;
	}
	path = bw_calloc(json_array_size(hashes) + 1, sizeof *path);
	lbuf = bw_malloc(bl + 1);
	if (path == NULL || lbuf == NULL) {
		err = BW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < json_array_size(hashes); i++) {
		json_t *h = json_array_get(hashes, i);
		json_t *wrap = json_pack("{s:O}", "h", h);
		uint8_t *hb = NULL;
		size_t hl = 0;
		enum bw_err e2 = wrap ? bw_json_b64(wrap, "h", &hb, &hl, NULL) : BW_ERR_NOMEM;

		json_decref(wrap);
		if (e2 != BW_OK || hl != 32) {
			bw_free(hb);
			bw_verify_check(r, "tlog-inclusion", 0, "inclusion proof hash %zu is malformed", i);
			goto out;
		}
		memcpy(path[i], hb, 32);
		bw_free(hb);
	}
	/* Leaf hash = SHA-256(0x00 || body) (RFC 6962 section 2.1). */
	lbuf[0] = 0;
	memcpy(lbuf + 1, body, bl);
	if (bw_sha256(lbuf, bl + 1, leaf) != BW_OK)
		goto out;
	if (pidx < 0 || psize <= 0 ||
	    bw_merkle_verify_inclusion((uint64_t)pidx, (uint64_t)psize, (const struct bw_mhash *)leaf,
	                               (const struct bw_mhash *)path, json_array_size(hashes),
	                               (const struct bw_mhash *)rootb) != BW_OK) {
		bw_verify_check(r, "tlog-inclusion", 0, "the entry is not included in the tree of the proof");
		goto out;
	}
	bw_verify_check(r, "tlog-inclusion", 1, "Merkle inclusion proof valid (index %lld of %lld)", (long long)pidx,
	                (long long)psize);
	{
		const char *cp = json_string_value(json_object_get(json_object_get(proof, "checkpoint"), "envelope"));

		if (cp == NULL || check_checkpoint(cp, k, (uint64_t)psize, rootb, why, sizeof why) != BW_OK) {
			bw_verify_check(r, "tlog-checkpoint", 0, "%s", cp ? why : "inclusion proof has no checkpoint");
			goto out;
		}
	}
	bw_verify_check(r, "tlog-checkpoint", 1, "checkpoint signed by the log commits to the proof's root");
	err = BW_OK;
out:
	free(settxt);
	json_decref(canon);
	bw_free(id);
	bw_free(body);
	bw_free(set);
	bw_free(rootb);
	bw_free(path);
	bw_free(lbuf);
	return err;
}

/* RFC 3161 timestamps of timestampVerificationData, over the signature bytes:
 * each must verify with a TSA of the trusted root valid at its time, and the
 * certificate must have been valid at that time. */
static enum bw_err check_timestamps(const struct bw_bundle *b, const struct trust *t, struct bw_verify_result *r,
                                    int64_t *first)
{
	json_t *ts = json_object_get(b->tsdata, "rfc3161Timestamps");
	json_t *tsas = json_object_get(t->root, "timestampAuthorities");
	size_t i, j, k, n_ok = 0;
	int64_t nb, na;

	*first = 0;
	if (!json_is_array(ts) || json_array_size(ts) == 0)
		return BW_OK;
	if (bw_x509_validity(b->certs[0], &nb, &na) != BW_OK)
		return BW_ERR_VERIFY;
	for (i = 0; i < json_array_size(ts); i++) {
		uint8_t *der = NULL;
		size_t dl = 0;
		int ok = 0;
		char why[160] = "no timestamp authority of the trusted root signed it";

		if (bw_json_b64(json_array_get(ts, i), "signedTimestamp", &der, &dl, NULL) != BW_OK) {
			bw_verify_check(r, "timestamp", 0, "rfc3161Timestamps[%zu] has no signedTimestamp", i);
			return BW_ERR_VERIFY;
		}
		for (j = 0; !ok && json_is_array(tsas) && j < json_array_size(tsas); j++) {
			json_t *ta = json_array_get(tsas, j);
			json_t *certs = json_object_get(json_object_get(ta, "certChain"), "certificates");
			struct bw_x509 *chain[8];
			size_t n = 0;
			int64_t gt = 0;
			struct bw_diag d;

			for (k = 0; json_is_array(certs) && k < json_array_size(certs) && n < 8; k++) {
				uint8_t *c = NULL;
				size_t cl = 0;

				if (bw_json_b64(json_array_get(certs, k), "rawBytes", &c, &cl, NULL) == BW_OK &&
				    bw_x509_from_der(c, cl, &chain[n], NULL) == BW_OK)
					n++;
				bw_free(c);
			}
			bw_diag_clear(&d);
			if (n > 0 && bw_rfc3161_verify(der, dl, b->sig, b->sig_len, chain, n, &gt, &d) == BW_OK) {
				if (!valid_for(json_object_get(ta, "validFor"), gt))
					snprintf(why, sizeof why, "the timestamp authority was not valid at the timestamp");
				else if (gt < nb || gt > na)
					snprintf(why, sizeof why, "the certificate was not valid at the timestamp");
				else
					ok = 1;
				if (ok && (*first == 0 || gt < *first))
					*first = gt;
			} else if (n > 0) {
				snprintf(why, sizeof why, "%s", d.what);
			}
			for (k = 0; k < n; k++)
				bw_x509_free(chain[k]);
		}
		bw_free(der);
		if (!ok) {
			bw_verify_check(r, "timestamp", 0, "RFC 3161 timestamp %zu: %s", i, why);
			return BW_ERR_VERIFY;
		}
		n_ok++;
	}
	bw_verify_check(r, "timestamp", 1, "%zu RFC 3161 timestamp%s verified with a trusted TSA", n_ok,
	                n_ok == 1 ? "" : "s");
	return BW_OK;
}

enum bw_err bw_sigstore_verify(const struct bw_bundle *b, const struct bw_verify_opts *o,
                               struct bw_verify_result *r, struct bw_pkey **leafkey, struct bw_diag *diag)
{
	struct trust t;
	struct bw_x509 *issuer = NULL;
	const struct tlog_key *logs[8];
	enum bw_err err;
	int64_t itime = 0, tsa_time = 0, nb, na;
	size_t i, n_logs = 0;
	char why[200], san[256], iss[256];

	*leafkey = NULL;
	if (o->identity == NULL || o->issuer == NULL) {
		bw_verify_check(r, "identity", 0, "Sigstore verification needs --identity and --issuer");
		return BW_ERR_ARG;
	}
	err = trust_load(o->trust, o->trust_len, &t, diag);
	if (err != BW_OK) {
		bw_verify_check(r, "trusted-root", 0, "%s", diag ? diag->what : "cannot read the trusted root");
		trust_release(&t);
		return err;
	}
	if (b->tlog == NULL || json_array_size(b->tlog) == 0) {
		bw_verify_check(r, "tlog", 0, "a Sigstore bundle must carry a transparency-log entry (OMS spec 4.1)");
		err = BW_ERR_VERIFY;
		goto out;
	}
	if (json_array_size(b->tlog) > 8) {
		bw_verify_check(r, "tlog", 0, "more than 8 transparency-log entries");
		err = BW_ERR_VERIFY;
		goto out;
	}
	for (i = 0; i < json_array_size(b->tlog); i++) {
		int64_t et = 0;

		err = check_entry(b, &t, json_array_get(b->tlog, i), r, &et, &logs[i]);
		if (err != BW_OK)
			goto out;
		if (et != 0 && (itime == 0 || et < itime))
			itime = et;
		n_logs = i + 1;
	}
	/* RFC 3161 timestamps are verified whenever present; for Rekor v2
	 * entries (no signed entry timestamp) they are the only time source. */
	err = check_timestamps(b, &t, r, &tsa_time);
	if (err != BW_OK)
		goto out;
	if (itime == 0)
		itime = tsa_time;
	if (itime == 0) {
		bw_verify_check(r, "timestamp", 0, "no verified signing time: the log entry has no signed entry "
		                "timestamp and the bundle no RFC 3161 timestamp");
		err = BW_ERR_VERIFY;
		goto out;
	}
	for (i = 0; i < n_logs; i++)
		if (!valid_for(logs[i]->valid, itime)) {
			bw_verify_check(r, "tlog", 0, "the log key was not valid at the signing time");
			err = BW_ERR_VERIFY;
			goto out;
		}
	/* The certificate must have been valid at the signing time. */
	if (bw_x509_validity(b->certs[0], &nb, &na) != BW_OK || itime < nb || itime > na) {
		bw_verify_check(r, "certificate-chain", 0, "the certificate was not valid at the signing time");
		err = BW_ERR_VERIFY;
		goto out;
	}
	if (check_chain(&t, b->certs[0], itime, &issuer, why, sizeof why) != BW_OK) {
		bw_verify_check(r, "certificate-chain", 0, "%s", why);
		err = BW_ERR_VERIFY;
		goto out;
	}
	bw_verify_check(r, "certificate-chain", 1, "certificate chains to a Fulcio CA of the trusted root");
	/* Embedded SCTs: at least one from a CT log of the trusted root valid at
	 * the signing time (RFC 6962 section 3.3; Sigstore clients require one). */
	{
		struct bw_ct_log cts[16];
		size_t nl = 0, n_scts = 0, n_valid = 0;
		uint64_t ts = 0;
		enum bw_err e2;

		for (i = 0; i < t.n_ctlogs; i++)
			if (valid_for(t.ctlogs[i].valid, itime)) {
				cts[nl].id = t.ctlogs[i].id;
				cts[nl].id_len = t.ctlogs[i].id_len;
				cts[nl].key = t.ctlogs[i].key;
				nl++;
			}
		e2 = bw_x509_verify_scts(b->certs[0], issuer, cts, nl, &n_scts, &n_valid, &ts);
		if (e2 != BW_OK || n_valid == 0) {
			bw_verify_check(r, "sct", 0, "%s", e2 == BW_ERR_NOTFOUND ? "the certificate carries no SCT"
			                : e2 != BW_OK ? "SCT check failed"
			                : "no embedded SCT verifies with a CT log of the trusted root");
			err = BW_ERR_VERIFY;
			goto out;
		}
		bw_verify_check(r, "sct", 1, "%zu of %zu embedded SCTs verify with a trusted CT log", n_valid, n_scts);
	}
	if (bw_x509_san(b->certs[0], san, sizeof san) != BW_OK)
		san[0] = '\0';
	if (bw_x509_ext_string(b->certs[0], OID_ISSUER_V2, iss, sizeof iss) != BW_OK &&
	    bw_x509_ext_string(b->certs[0], OID_ISSUER_V1, iss, sizeof iss) != BW_OK)
		iss[0] = '\0';
	snprintf(r->signer, sizeof r->signer, "%.120s (issuer %.120s)", san, iss);
	if (strcmp(san, o->identity) != 0) {
		bw_verify_check(r, "identity", 0, "certificate identity is '%.100s', expected '%.100s'", san, o->identity);
		err = BW_ERR_VERIFY;
		goto out;
	}
	if (strcmp(iss, o->issuer) != 0) {
		bw_verify_check(r, "identity", 0, "certificate OIDC issuer is '%.100s', expected '%.100s'", iss, o->issuer);
		err = BW_ERR_VERIFY;
		goto out;
	}
	bw_verify_check(r, "identity", 1, "%s issued by %s", san, iss);
	err = bw_x509_pubkey(b->certs[0], leafkey);
out:
	bw_x509_free(issuer);
	trust_release(&t);
	return err;
}
