/*
 * bundle.c - read a Sigstore bundle (v0.1-v0.3 media types) carrying an OMS
 * DSSE envelope, and the in-toto statement inside it (OMS spec sections 4, 5,
 * 8.1, 8.3, 11).
 *
 * The input is untrusted: JSON is parsed by jansson with duplicate keys
 * rejected (two readers must never see two different bundles) and a size cap;
 * jansson bounds nesting depth itself. Every field is type-checked before use;
 * base64 is decoded as protobuf-JSON readers do (standard or URL-safe
 * alphabet, padding optional). Nothing here decides trust.
 * Must not: print, or accept a structure it has not fully checked.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "sign/bundle.h"
#include "sign/sign_internal.h"

void bw_bundle_release(struct bw_bundle *b)
{
	json_decref(b->root);
	bw_free(b->payload);
	bw_free(b->sig);
	bw_free(b->raw_key);
	bw_x509_list_free(b->certs, b->n_certs);
	memset(b, 0, sizeof *b);
}

enum bw_err bw_json_b64(json_t *obj, const char *key, uint8_t **out, size_t *len, struct bw_diag *diag)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	size_t n, i, m;
	char *tmp;
	enum bw_err err;

	*out = NULL;
	*len = 0;
	if (!json_is_string(v))
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "\"%s\" is missing or not a string", key);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n > BW_BUNDLE_MAX)
		return bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "\"%s\" is too long", key);
	tmp = bw_malloc(n + 4);
	if (tmp == NULL)
		return BW_ERR_NOMEM;
	for (i = 0, m = 0; i < n; i++) {
		char c = s[i];

		/* protobuf JSON accepts the URL-safe alphabet and no padding. */
		tmp[m++] = c == '-' ? '+' : c == '_' ? '/' : c;
	}
	if (m > 0 && tmp[m - 1] != '=')
		while (m % 4 != 0)
			tmp[m++] = '=';
	err = bw_b64_decode(tmp, m, out, len);
	bw_free(tmp);
	if (err != BW_OK)
		return bw_diag_set(diag, err, BW_NO_OFFSET, "\"%s\" is not valid base64", key);
	return BW_OK;
}

enum bw_err bw_json_i64(json_t *obj, const char *key, int64_t *out, struct bw_diag *diag)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	int64_t r = 0;

	*out = 0;
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return BW_OK;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 18)
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "\"%s\" is missing or not an integer", key);
	for (s = json_string_value(v); *s; s++) {
		if (*s < '0' || *s > '9')
			return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "\"%s\" is not a decimal integer", key);
		r = r * 10 + (*s - '0');
	}
	*out = r;
	return BW_OK;
}

static int media_type_ok(const char *mt)
{
	static const char *const ok[] = {
		"application/vnd.dev.sigstore.bundle.v0.3+json",
		"application/vnd.dev.sigstore.bundle+json;version=0.3",
		"application/vnd.dev.sigstore.bundle+json;version=0.2",
		"application/vnd.dev.sigstore.bundle+json;version=0.1",
	};
	size_t i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (strcmp(mt, ok[i]) == 0)
			return 1;
	return 0;
}

static enum bw_err parse_cert(json_t *c, struct bw_bundle *b, struct bw_diag *diag)
{
	uint8_t *der = NULL;
	size_t dl = 0;
	enum bw_err err;
	struct bw_x509 **n;

	if (!json_is_object(c))
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "certificate entry is not an object");
	err = bw_json_b64(c, "rawBytes", &der, &dl, diag);
	if (err != BW_OK)
		return err;
	if (b->n_certs >= 16) {
		bw_free(der);
		return bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "more than 16 certificates in the chain");
	}
	n = bw_reallocarray(b->certs, b->n_certs + 1, sizeof *n);
	if (n == NULL) {
		bw_free(der);
		return BW_ERR_NOMEM;
	}
	b->certs = n;
	err = bw_x509_from_der(der, dl, &b->certs[b->n_certs], diag);
	bw_free(der);
	if (err != BW_OK)
		return err;
	b->n_certs++;
	return BW_OK;
}

enum bw_err bw_bundle_parse(const uint8_t *p, size_t n, struct bw_bundle *b, struct bw_diag *diag)
{
	json_error_t jerr;
	json_t *vm, *env, *sigs, *s0, *mt, *pk, *ch, *cert, *pt;
	uint8_t *payload = NULL;
	enum bw_err err;

	memset(b, 0, sizeof *b);
	if (n > BW_BUNDLE_MAX)
		return bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "bundle larger than %u bytes", BW_BUNDLE_MAX);
	b->root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (b->root == NULL)
		return bw_diag_set(diag, n == 0 || strstr(jerr.text, "end of file") ? BW_ERR_TRUNCATED : BW_ERR_MALFORMED,
		                   (uint64_t)jerr.position, "bundle is not valid JSON: %s", jerr.text);
	if (!json_is_object(b->root)) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "bundle is not a JSON object");
		goto fail;
	}
	mt = json_object_get(b->root, "mediaType");
	if (!json_is_string(mt) || !media_type_ok(json_string_value(mt))) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                  "bundle mediaType is missing or not a Sigstore bundle media type");
		goto fail;
	}
	b->media_type = json_string_value(mt);

	env = json_object_get(b->root, "dsseEnvelope");
	if (!json_is_object(env)) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                  json_object_get(b->root, "messageSignature") ? "bundle holds a messageSignature, "
		                  "not the DSSE envelope OMS requires" : "bundle has no dsseEnvelope");
		goto fail;
	}
	pt = json_object_get(env, "payloadType");
	if (!json_is_string(pt)) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "dsseEnvelope.payloadType missing");
		goto fail;
	}
	b->payload_type = json_string_value(pt);
	err = bw_json_b64(env, "payload", &payload, &b->payload_len, diag);
	if (err != BW_OK)
		goto fail;
	b->payload = bw_malloc(b->payload_len + 1);
	if (b->payload == NULL) {
		bw_free(payload);
		err = BW_ERR_NOMEM;
		goto fail;
	}
	if (b->payload_len)
		memcpy(b->payload, payload, b->payload_len);
	b->payload[b->payload_len] = '\0';
	bw_free(payload);
	sigs = json_object_get(env, "signatures");
	if (!json_is_array(sigs) || json_array_size(sigs) == 0) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "dsseEnvelope has no signature");
		goto fail;
	}
	/* OMS bundles carry one signature; Sigstore bundles require exactly one. */
	if (json_array_size(sigs) != 1) {
		err = bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
		                  "dsseEnvelope has %zu signatures; exactly one is supported", json_array_size(sigs));
		goto fail;
	}
	s0 = json_array_get(sigs, 0);
	if (!json_is_object(s0)) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "dsseEnvelope.signatures[0] is not an object");
		goto fail;
	}
	{
		json_t *kid = json_object_get(s0, "keyid");

		/* keyid: absent, "", null or any string are all accepted (spec 4.1). */
		if (kid != NULL && !json_is_string(kid) && !json_is_null(kid)) {
			err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "signatures[0].keyid is not a string");
			goto fail;
		}
	}
	err = bw_json_b64(s0, "sig", &b->sig, &b->sig_len, diag);
	if (err != BW_OK)
		goto fail;
	if (b->sig_len == 0) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "signatures[0].sig is empty");
		goto fail;
	}

	vm = json_object_get(b->root, "verificationMaterial");
	if (!json_is_object(vm)) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "bundle has no verificationMaterial");
		goto fail;
	}
	pk = json_object_get(vm, "publicKey");
	ch = json_object_get(vm, "x509CertificateChain");
	cert = json_object_get(vm, "certificate");
	if ((pk != NULL) + (ch != NULL) + (cert != NULL) != 1) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                  "verificationMaterial must hold exactly one of publicKey, x509CertificateChain, "
		                  "certificate");
		goto fail;
	}
	if (pk != NULL) {
		json_t *h = json_object_get(pk, "hint");

		if (!json_is_object(pk)) {
			err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "publicKey is not an object");
			goto fail;
		}
		if (json_is_string(h)) {
			if (json_string_length(h) >= sizeof b->hint) {
				err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "publicKey.hint too long");
				goto fail;
			}
			strcpy(b->hint, json_string_value(h));
			b->vm = BW_VM_KEY_HINT;
		} else if (json_object_get(pk, "rawBytes") != NULL) {
			/* Pre-1.1 model_signing wrote the key itself (spec 11.2). */
			err = bw_json_b64(pk, "rawBytes", &b->raw_key, &b->raw_key_len, diag);
			if (err != BW_OK)
				goto fail;
			b->vm = BW_VM_KEY_RAW;
		} else {
			err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "publicKey has neither hint nor rawBytes");
			goto fail;
		}
	} else if (ch != NULL) {
		json_t *arr = json_object_get(ch, "certificates");
		size_t i;

		if (!json_is_array(arr) || json_array_size(arr) == 0) {
			err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "x509CertificateChain has no certificate");
			goto fail;
		}
		for (i = 0; i < json_array_size(arr); i++) {
			err = parse_cert(json_array_get(arr, i), b, diag);
			if (err != BW_OK)
				goto fail;
		}
		b->vm = BW_VM_CHAIN;
	} else {
		err = parse_cert(cert, b, diag);
		if (err != BW_OK)
			goto fail;
		b->vm = BW_VM_CERT;
	}
	b->tlog = json_object_get(vm, "tlogEntries");
	if (b->tlog != NULL && !json_is_array(b->tlog)) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "tlogEntries is not an array");
		goto fail;
	}
	b->tsdata = json_object_get(vm, "timestampVerificationData");
	return BW_OK;
fail:
	bw_bundle_release(b);
	return err;
}

/* ---- statement -> manifest ---- */

static enum bw_err add_item(struct bw_manifest *m, size_t *cap, const char *name, const char *alg,
                            const char *hexd, size_t hexlen, struct bw_diag *diag)
{
	struct bw_manifest_item *it;

	if (m->n_items == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct bw_manifest_item *ni;

		if (nc > BW_MANIFEST_MAX_ITEMS)
			return bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "more than %u resources",
			                   BW_MANIFEST_MAX_ITEMS);
		ni = bw_reallocarray(m->items, nc, sizeof *ni);
		if (ni == NULL)
			return BW_ERR_NOMEM;
		memset(ni + m->n_items, 0, (nc - m->n_items) * sizeof *ni);
		m->items = ni;
		*cap = nc;
	}
	it = &m->items[m->n_items];
	if (strlen(name) == 0 || strlen(name) > BW_NAME_MAX)
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "resource name is empty or too long");
	if (strlen(alg) >= sizeof it->algorithm)
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "resource algorithm too long");
	if (bw_hex_decode(hexd, hexlen, it->digest, 32) != 0)
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                   "resource '%.200s': digest is not 64 hex digits (SHA-256)", name);
	strcpy(it->algorithm, alg);
	it->name = bw_strdup(name);
	if (it->name == NULL)
		return BW_ERR_NOMEM;
	m->n_items++;
	return BW_OK;
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Fill path/start/end of each item and check names (OMS spec 6.1.2, 6.3.2). */
static enum bw_err check_names(struct bw_manifest *m, struct bw_diag *diag)
{
	size_t i;
	char canon[BW_NAME_MAX + 1];

	for (i = 0; i < m->n_items; i++) {
		struct bw_manifest_item *it = &m->items[i];
		size_t pl = strlen(it->name);
		uint64_t s = 0, e = 0;

		if (m->method == BW_SER_SHARDS) {
			if (bw_shard_split(it->name, &pl, &s, &e) != 0 || e <= s || e - s > m->shard_size ||
			    s % m->shard_size != 0)
				return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
				                   "resource '%.200s' is not a valid shard name <path>:<start>:<end>",
				                   it->name);
		}
		it->path = bw_strndup(it->name, pl);
		if (it->path == NULL)
			return BW_ERR_NOMEM;
		it->start = s;
		it->end = e;
		if (strcmp(it->path, ".") == 0)
			continue; /* single-file model as model_signing names it */
		if (bw_path_canon(it->path, canon, sizeof canon) != 0 || strcmp(canon, it->path) != 0)
			return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
			                   "resource name '%.200s' is not a canonical relative path (OMS spec 6.1.2)",
			                   it->name);
	}
	return BW_OK;
}

static int name_cmp_q(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static enum bw_err check_duplicates(const struct bw_manifest *m, struct bw_diag *diag)
{
	const char **names = bw_calloc(m->n_items ? m->n_items : 1, sizeof *names);
	size_t i;
	enum bw_err err = BW_OK;

	if (names == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < m->n_items; i++)
		names[i] = m->items[i].name;
	qsort(names, m->n_items, sizeof *names, name_cmp_q);
	for (i = 1; i < m->n_items; i++)
		if (strcmp(names[i - 1], names[i]) == 0) {
			err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "resource '%.200s' is listed twice",
			                  names[i]);
			break;
		}
	bw_free(names);
	return err;
}

static enum bw_err compat_manifest(json_t *st, struct bw_manifest *m, struct bw_diag *diag)
{
	json_t *subj = json_object_get(st, "subject");
	size_t i, cap = 0;
	enum bw_err err;

	/* v0.2.0: one subject per file, digest.sha256; no serialization. */
	if (!json_is_array(subj) || json_array_size(subj) == 0)
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "statement has no subject");
	m->method = BW_SER_FILES;
	for (i = 0; i < json_array_size(subj); i++) {
		json_t *s = json_array_get(subj, i);
		const char *name = jstr(s, "name");
		json_t *d = json_object_get(json_object_get(s, "digest"), "sha256");

		if (name == NULL || !json_is_string(d))
			return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "subject[%zu] lacks name or sha256", i);
		err = add_item(m, &cap, name, "sha256", json_string_value(d), json_string_length(d), diag);
		if (err != BW_OK)
			return err;
	}
	m->model_name = bw_strdup("(v0.2 compat: no model name)");
	return m->model_name ? BW_OK : BW_ERR_NOMEM;
}

enum bw_err bw_statement_to_manifest(const char *payload, size_t len, struct bw_manifest **out, int *compat,
                                     struct bw_diag *diag)
{
	json_error_t jerr;
	json_t *st = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *subj, *pred, *ser, *res, *v;
	struct bw_manifest *m = NULL;
	const char *t, *pt, *meth, *ht;
	enum bw_err err = BW_OK;
	size_t i, cap = 0;
	uint8_t want[32];

	*out = NULL;
	if (compat != NULL)
		*compat = 0;
	if (!json_is_object(st)) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "DSSE payload is not a JSON object%s%s",
		                  st ? "" : ": ", st ? "" : jerr.text);
		goto out;
	}
	m = bw_calloc(1, sizeof *m);
	if (m == NULL) {
		err = BW_ERR_NOMEM;
		goto out;
	}
	t = jstr(st, "_type");
	if (t == NULL || strcmp(t, BW_INTOTO_STATEMENT_V1) != 0) {
		err = bw_diag_set(diag, BW_ERR_VERIFY, BW_NO_OFFSET, "statement _type is '%.100s', expected %s",
		                  t ? t : "(missing)", BW_INTOTO_STATEMENT_V1);
		goto out;
	}
	pt = jstr(st, "predicateType");
	if (pt != NULL && strcmp(pt, BW_OMS_PREDICATE_COMPAT) == 0 && compat != NULL) {
		*compat = 1;
		err = compat_manifest(st, m, diag);
		if (err == BW_OK)
			err = check_duplicates(m, diag);
		if (err == BW_OK)
			err = check_names(m, diag);
		goto out;
	}
	if (pt == NULL || strcmp(pt, BW_OMS_PREDICATE_V1) != 0) {
		err = bw_diag_set(diag, BW_ERR_VERIFY, BW_NO_OFFSET, "predicateType is '%.100s', expected %s",
		                  pt ? pt : "(missing)", BW_OMS_PREDICATE_V1);
		goto out;
	}
	subj = json_object_get(st, "subject");
	if (!json_is_array(subj) || json_array_size(subj) != 1) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "statement must have exactly one subject");
		goto out;
	}
	v = json_array_get(subj, 0);
	t = jstr(v, "name");
	m->model_name = bw_strdup(t ? t : "");
	v = json_object_get(json_object_get(v, "digest"), "sha256");
	if (m->model_name == NULL || !json_is_string(v) ||
	    bw_hex_decode(json_string_value(v), json_string_length(v), want, 32) != 0) {
		err = m->model_name ? bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                                  "subject[0].digest.sha256 missing or not 64 hex digits") : BW_ERR_NOMEM;
		goto out;
	}
	pred = json_object_get(st, "predicate");
	ser = json_object_get(pred, "serialization");
	res = json_object_get(pred, "resources");
	if (!json_is_object(pred) || !json_is_object(ser) || !json_is_array(res)) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                  "predicate must hold a resources array and a serialization object");
		goto out;
	}
	meth = jstr(ser, "method");
	ht = jstr(ser, "hash_type");
	if (meth == NULL || ht == NULL) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "serialization lacks method or hash_type");
		goto out;
	}
	if (strcmp(ht, "sha256") != 0) {
		err = bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
		                  "serialization.hash_type '%.40s' is not supported (only sha256)", ht);
		goto out;
	}
	v = json_object_get(ser, "allow_symlinks");
	/* A boolean as written by every signer; "false"/"true" strings are what
	 * model_signing's own compat path builds. */
	if (json_is_boolean(v))
		m->allow_symlinks = json_is_true(v);
	else if (json_is_string(v) && (strcmp(json_string_value(v), "true") == 0 ||
	                               strcmp(json_string_value(v), "false") == 0))
		m->allow_symlinks = strcmp(json_string_value(v), "true") == 0;
	else if (v != NULL) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "serialization.allow_symlinks is not a boolean");
		goto out;
	}
	if (strcmp(meth, "files") == 0) {
		m->method = BW_SER_FILES;
	} else if (strcmp(meth, "shards") == 0) {
		double d;

		m->method = BW_SER_SHARDS;
		v = json_object_get(ser, "shard_size");
		/* Go and the spec write an integer; model_signing's protobuf
		 * Struct writes a double (8.0). Accept both when integral. */
		if (json_is_integer(v) && json_integer_value(v) > 0) {
			m->shard_size = (uint64_t)json_integer_value(v);
		} else if (json_is_real(v) && (d = json_real_value(v)) >= 1.0 && d <= 9.0e15 &&
		           (double)(uint64_t)d == d) {
			m->shard_size = (uint64_t)d;
		} else {
			err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
			                  "serialization.shard_size is missing or not a positive integer");
			goto out;
		}
	} else {
		err = bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET, "serialization.method '%.40s' is not supported",
		                  meth);
		goto out;
	}
	v = json_object_get(ser, "ignore_paths");
	if (v != NULL) {
		if (!json_is_array(v) || json_array_size(v) > 10000) {
			err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "serialization.ignore_paths is not an array");
			goto out;
		}
		m->ignore_paths = bw_calloc(json_array_size(v) + 1, sizeof *m->ignore_paths);
		if (m->ignore_paths == NULL) {
			err = BW_ERR_NOMEM;
			goto out;
		}
		for (i = 0; i < json_array_size(v); i++) {
			json_t *s = json_array_get(v, i);

			if (!json_is_string(s)) {
				err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "ignore_paths[%zu] is not a string", i);
				goto out;
			}
			m->ignore_paths[i] = bw_strdup(json_string_value(s));
			if (m->ignore_paths[i] == NULL) {
				err = BW_ERR_NOMEM;
				goto out;
			}
			m->n_ignore_paths = i + 1;
		}
	}
	if (json_array_size(res) == 0) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                  "predicate.resources is empty (OMS spec 5.2.1 requires at least one)");
		goto out;
	}
	for (i = 0; i < json_array_size(res); i++) {
		json_t *r = json_array_get(res, i);
		const char *name = jstr(r, "name"), *alg = jstr(r, "algorithm");
		json_t *d = json_object_get(r, "digest");
		char sharded[48];

		if (name == NULL || alg == NULL || !json_is_string(d)) {
			err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
			                  "resources[%zu] lacks a name, algorithm or digest string", i);
			goto out;
		}
		/* Algorithm: the hash_type (spec), or "<hash>-sharded-<N>" for shards
		 * (model_signing and the Go port). */
		snprintf(sharded, sizeof sharded, "sha256-sharded-%llu", (unsigned long long)m->shard_size);
		if (strcmp(alg, "sha256") != 0 && !(m->method == BW_SER_SHARDS && strcmp(alg, sharded) == 0)) {
			err = bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
			                  "resources[%zu]: algorithm '%.40s' does not match hash_type sha256", i, alg);
			goto out;
		}
		err = add_item(m, &cap, name, alg, json_string_value(d), json_string_length(d), diag);
		if (err != BW_OK)
			goto out;
	}
	err = check_names(m, diag);
	if (err == BW_OK)
		err = check_duplicates(m, diag);
	if (err == BW_OK)
		err = bw_manifest_root(m);
	if (err != BW_OK)
		goto out;
	/* model_signing rejects a manifest whose resources do not hash to the
	 * subject digest (over the listed order); so do we. */
	if (memcmp(want, m->root, 32) != 0) {
		char a[65], b[65];

		bw_hex_encode(want, 32, a);
		bw_hex_encode(m->root, 32, b);
		err = bw_diag_set(diag, BW_ERR_VERIFY, BW_NO_OFFSET,
		                  "manifest is inconsistent: subject digest %s but the resources hash to %s", a, b);
	}
out:
	json_decref(st);
	if (err != BW_OK) {
		bw_manifest_free(m);
		return err;
	}
	*out = m;
	return BW_OK;
}
