/*
 * crypto.c - OpenSSL 3 (EVP APIs only) behind crypto/crypto.h.
 *
 * The only file of libbulwark that includes OpenSSL headers. It turns
 * OpenSSL's int lengths and error queue into size_t and enum bw_err, and
 * clears the error queue after each failure so errors never leak between
 * calls. It must not print or keep state; key bytes are wiped by callers
 * (bw_pkey_private_pem output) or here (passphrase copies).
 */
#include <limits.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ct.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/alloc.h"
#include "crypto/crypto.h"

struct bw_pkey {
	EVP_PKEY *k;
};

struct bw_x509 {
	X509 *c;
};

struct bw_hash_ctx {
	EVP_MD_CTX *ctx;
	const EVP_MD *md;
};

static const EVP_MD *md_of(enum bw_hash_alg alg)
{
	switch (alg) {
	case BW_HASH_SHA256:
		return EVP_sha256();
	case BW_HASH_SHA384:
		return EVP_sha384();
	case BW_HASH_SHA512:
		return EVP_sha512();
	}
	return NULL;
}

static enum bw_err ossl_fail(struct bw_diag *diag, enum bw_err code, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[120];

	buf[0] = '\0';
	if (e != 0)
		ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return bw_diag_set(diag, code, BW_NO_OFFSET, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

size_t bw_hash_len(enum bw_hash_alg alg)
{
	return alg == BW_HASH_SHA256 ? 32 : alg == BW_HASH_SHA384 ? 48 : 64;
}

enum bw_err bw_hash(enum bw_hash_alg alg, const void *p, size_t n, uint8_t *out)
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, md_of(alg), NULL) != 1) {
		ERR_clear_error();
		return BW_ERR_CRYPTO;
	}
	return BW_OK;
}

enum bw_err bw_sha256(const void *p, size_t n, uint8_t out[BW_SHA256_LEN])
{
	return bw_hash(BW_HASH_SHA256, p, n, out);
}

struct bw_hash_ctx *bw_hash_ctx_new(enum bw_hash_alg alg)
{
	struct bw_hash_ctx *h = bw_calloc(1, sizeof *h);

	if (h == NULL)
		return NULL;
	h->md = md_of(alg);
	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1) {
		ERR_clear_error();
		bw_hash_ctx_free(h);
		return NULL;
	}
	return h;
}

enum bw_err bw_hash_ctx_update(struct bw_hash_ctx *h, const void *p, size_t n)
{
	if (EVP_DigestUpdate(h->ctx, p, n) != 1) {
		ERR_clear_error();
		return BW_ERR_CRYPTO;
	}
	return BW_OK;
}

enum bw_err bw_hash_ctx_final(struct bw_hash_ctx *h, uint8_t *out)
{
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1) {
		ERR_clear_error();
		return BW_ERR_CRYPTO;
	}
	return BW_OK;
}

void bw_hash_ctx_free(struct bw_hash_ctx *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	bw_free(h);
}

/* ---- keys ---- */

static enum bw_curve curve_of(const EVP_PKEY *k)
{
	char name[64];
	size_t len = 0;

	if (EVP_PKEY_is_a(k, "ED25519"))
		return BW_CURVE_ED25519;
	if (!EVP_PKEY_is_a(k, "EC"))
		return BW_CURVE_OTHER;
	if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) != 1) {
		ERR_clear_error();
		return BW_CURVE_OTHER;
	}
	if (strcmp(name, "prime256v1") == 0 || strcmp(name, "P-256") == 0)
		return BW_CURVE_P256;
	if (strcmp(name, "secp384r1") == 0 || strcmp(name, "P-384") == 0)
		return BW_CURVE_P384;
	if (strcmp(name, "secp521r1") == 0 || strcmp(name, "P-521") == 0)
		return BW_CURVE_P521;
	return BW_CURVE_OTHER;
}

static enum bw_err wrap_key(EVP_PKEY *k, struct bw_pkey **out)
{
	struct bw_pkey *w = bw_calloc(1, sizeof *w);

	if (w == NULL) {
		EVP_PKEY_free(k);
		return BW_ERR_NOMEM;
	}
	w->k = k;
	*out = w;
	return BW_OK;
}

struct pass_state {
	const char *pass;
	int asked;
};

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass_state *st = u;
	size_t n;

	(void)rwflag;
	st->asked = 1;
	if (st->pass == NULL || size <= 0)
		return -1;
	n = strlen(st->pass);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, st->pass, n);
	return (int)n;
}

static int fits_int(size_t n)
{
	return n <= (size_t)INT_MAX;
}

enum bw_err bw_pkey_load_private_pem(const uint8_t *pem, size_t len, const char *pass,
                                     struct bw_pkey **out, struct bw_diag *diag)
{
	BIO *bio = NULL;
	EVP_PKEY *k = NULL;
	struct pass_state st = {pass, 0};
	enum bw_err err = BW_OK;
	enum bw_curve c;

	*out = NULL;
	if (!fits_int(len))
		return bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "key file too large");
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		return ossl_fail(diag, BW_ERR_NOMEM, "BIO_new_mem_buf");
	k = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, &st);
	if (k == NULL) {
		if (st.asked && pass == NULL) {
			ERR_clear_error();
			err = bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET, "passphrase needed: the private key is encrypted");
		} else if (st.asked) {
			ERR_clear_error();
			err = bw_diag_set(diag, BW_ERR_VERIFY, BW_NO_OFFSET, "wrong passphrase for the private key");
		} else {
			err = ossl_fail(diag, BW_ERR_MALFORMED, "no PEM private key found");
		}
		goto out;
	}
	c = curve_of(k);
	if (c != BW_CURVE_P256 && c != BW_CURVE_P384 && c != BW_CURVE_P521) {
		err = bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
		                  "private key is not an ECDSA key on P-256, P-384 or P-521");
		goto out;
	}
	err = wrap_key(k, out);
	k = NULL;
out:
	EVP_PKEY_free(k);
	BIO_free(bio);
	return err;
}

enum bw_err bw_pkey_load_public_pem(const uint8_t *pem, size_t len, struct bw_pkey **out,
                                    struct bw_diag *diag)
{
	BIO *bio = NULL;
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	enum bw_err err = BW_OK;

	*out = NULL;
	if (!fits_int(len))
		return bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "key file too large");
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		return ossl_fail(diag, BW_ERR_NOMEM, "BIO_new_mem_buf");
	k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (k == NULL) {
		ERR_clear_error();
		(void)BIO_reset(bio);
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (x != NULL)
			k = X509_get_pubkey(x);
	}
	if (k == NULL) {
		err = ossl_fail(diag, BW_ERR_MALFORMED, "no PEM public key or certificate found");
		goto out;
	}
	err = wrap_key(k, out);
	k = NULL;
out:
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(bio);
	return err;
}

enum bw_err bw_pkey_from_spki_der(const uint8_t *der, size_t len, struct bw_pkey **out,
                                  struct bw_diag *diag)
{
	const unsigned char *p = der;
	EVP_PKEY *k;

	*out = NULL;
	if (!fits_int(len))
		return bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "public key too large");
	k = d2i_PUBKEY(NULL, &p, (long)len);
	if (k == NULL)
		return ossl_fail(diag, BW_ERR_MALFORMED, "bad DER SubjectPublicKeyInfo");
	if (p != der + len) {
		EVP_PKEY_free(k);
		return bw_diag_set(diag, BW_ERR_MALFORMED, (uint64_t)(p - der),
		                   "trailing bytes after SubjectPublicKeyInfo");
	}
	return wrap_key(k, out);
}

enum bw_err bw_pkey_generate(enum bw_curve curve, struct bw_pkey **out)
{
	const char *name = curve == BW_CURVE_P256 ? "P-256" : curve == BW_CURVE_P384 ? "P-384"
	                 : curve == BW_CURVE_P521 ? "P-521" : NULL;
	EVP_PKEY *k;

	*out = NULL;
	if (name == NULL)
		return BW_ERR_ARG;
	k = EVP_EC_gen(name);
	if (k == NULL) {
		ERR_clear_error();
		return BW_ERR_CRYPTO;
	}
	return wrap_key(k, out);
}

void bw_pkey_free(struct bw_pkey *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->k);
	bw_free(k);
}

enum bw_curve bw_pkey_curve(const struct bw_pkey *k)
{
	return curve_of(k->k);
}

enum bw_hash_alg bw_pkey_default_hash(const struct bw_pkey *k)
{
	switch (curve_of(k->k)) {
	case BW_CURVE_P384:
		return BW_HASH_SHA384;
	case BW_CURVE_P521:
		return BW_HASH_SHA512;
	default:
		return BW_HASH_SHA256;
	}
}

int bw_pkey_equal_public(const struct bw_pkey *a, const struct bw_pkey *b)
{
	int r = EVP_PKEY_eq(a->k, b->k);

	ERR_clear_error();
	return r == 1;
}

static enum bw_err bio_take(BIO *bio, char **out, size_t *len)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);
	char *copy;

	if (n < 0 || p == NULL)
		return BW_ERR_CRYPTO;
	copy = bw_malloc((size_t)n + 1);
	if (copy == NULL)
		return BW_ERR_NOMEM;
	memcpy(copy, p, (size_t)n);
	copy[n] = '\0';
	*out = copy;
	*len = (size_t)n;
	return BW_OK;
}

enum bw_err bw_pkey_public_pem(const struct bw_pkey *k, char **pem, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	enum bw_err err;

	*pem = NULL;
	*len = 0;
	if (bio == NULL)
		return BW_ERR_NOMEM;
	if (PEM_write_bio_PUBKEY(bio, k->k) != 1) {
		ERR_clear_error();
		BIO_free(bio);
		return BW_ERR_CRYPTO;
	}
	err = bio_take(bio, pem, len);
	BIO_free(bio);
	return err;
}

/* Move an i2d_*() result (n bytes in OpenSSL's buf) into our allocator. */
static enum bw_err der_take(int n, unsigned char *buf, uint8_t **der, size_t *len)
{
	*der = NULL;
	*len = 0;
	if (n <= 0) {
		ERR_clear_error();
		return BW_ERR_CRYPTO;
	}
	*der = bw_malloc((size_t)n);
	if (*der == NULL) {
		OPENSSL_free(buf);
		return BW_ERR_NOMEM;
	}
	memcpy(*der, buf, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(buf);
	return BW_OK;
}

enum bw_err bw_pkey_public_der(const struct bw_pkey *k, uint8_t **der, size_t *len)
{
	unsigned char *buf = NULL;
	int n = i2d_PUBKEY(k->k, &buf);

	return der_take(n, buf, der, len);
}

enum bw_err bw_pkey_private_pem(const struct bw_pkey *k, const char *pass, char **pem, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	const EVP_CIPHER *enc = NULL;
	enum bw_err err;
	int ok;

	*pem = NULL;
	*len = 0;
	if (bio == NULL)
		return BW_ERR_NOMEM;
	if (pass != NULL && pass[0] != '\0') {
		if (!fits_int(strlen(pass))) {
			BIO_free(bio);
			return BW_ERR_ARG;
		}
		enc = EVP_aes_256_cbc();
	}
	ok = PEM_write_bio_PKCS8PrivateKey(bio, k->k, enc, enc ? pass : NULL,
	                                   enc ? (int)strlen(pass) : 0, NULL, NULL);
	if (ok != 1) {
		ERR_clear_error();
		BIO_free(bio);
		return BW_ERR_CRYPTO;
	}
	err = bio_take(bio, pem, len);
	/* The memory BIO held the key text: clear it before it is freed. */
	{
		char *p = NULL;
		long n = BIO_get_mem_data(bio, &p);

		if (p != NULL && n > 0)
			OPENSSL_cleanse(p, (size_t)n);
	}
	BIO_free(bio);
	return err;
}

enum bw_err bw_pkey_sign(const struct bw_pkey *k, enum bw_hash_alg alg, const uint8_t *msg,
                         size_t msg_len, uint8_t **sig, size_t *sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n = 0;
	uint8_t *buf = NULL;
	enum bw_err err = BW_ERR_CRYPTO;

	*sig = NULL;
	*sig_len = 0;
	if (ctx == NULL)
		return BW_ERR_NOMEM;
	if (EVP_DigestSignInit(ctx, NULL, md_of(alg), NULL, k->k) != 1 ||
	    EVP_DigestSign(ctx, NULL, &n, msg, msg_len) != 1)
		goto out;
	buf = bw_malloc(n);
	if (buf == NULL) {
		err = BW_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestSign(ctx, buf, &n, msg, msg_len) != 1)
		goto out;
	*sig = buf;
	*sig_len = n;
	buf = NULL;
	err = BW_OK;
out:
	ERR_clear_error();
	bw_free(buf);
	EVP_MD_CTX_free(ctx);
	return err;
}

enum bw_err bw_pkey_verify(const struct bw_pkey *k, enum bw_hash_alg alg, const uint8_t *msg,
                           size_t msg_len, const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r;
	int ed = EVP_PKEY_is_a(k->k, "ED25519");

	if (ctx == NULL)
		return BW_ERR_NOMEM;
	if (EVP_DigestVerifyInit(ctx, NULL, ed ? NULL : md_of(alg), NULL, k->k) != 1) {
		ERR_clear_error();
		EVP_MD_CTX_free(ctx);
		return BW_ERR_CRYPTO;
	}
	r = EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len);
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return r == 1 ? BW_OK : BW_ERR_VERIFY;
}

enum bw_err bw_pkey_verify_digest(const struct bw_pkey *k, const uint8_t *dgst, size_t dgst_len,
                                  const uint8_t *sig, size_t sig_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->k, NULL);
	int r;

	if (ctx == NULL)
		return BW_ERR_NOMEM;
	if (EVP_PKEY_verify_init(ctx) != 1) {
		ERR_clear_error();
		EVP_PKEY_CTX_free(ctx);
		return BW_ERR_CRYPTO;
	}
	r = EVP_PKEY_verify(ctx, sig, sig_len, dgst, dgst_len);
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	return r == 1 ? BW_OK : BW_ERR_VERIFY;
}

/* ---- X.509 ---- */

static enum bw_err wrap_x509(X509 *c, struct bw_x509 **out)
{
	struct bw_x509 *w = bw_calloc(1, sizeof *w);

	if (w == NULL) {
		X509_free(c);
		return BW_ERR_NOMEM;
	}
	w->c = c;
	*out = w;
	return BW_OK;
}

enum bw_err bw_x509_from_der(const uint8_t *der, size_t len, struct bw_x509 **out, struct bw_diag *diag)
{
	const unsigned char *p = der;
	X509 *c;

	*out = NULL;
	if (!fits_int(len))
		return bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "certificate too large");
	c = d2i_X509(NULL, &p, (long)len);
	if (c == NULL)
		return ossl_fail(diag, BW_ERR_MALFORMED, "bad DER certificate");
	if (p != der + len) {
		X509_free(c);
		return bw_diag_set(diag, BW_ERR_MALFORMED, (uint64_t)(p - der), "trailing bytes after certificate");
	}
	return wrap_x509(c, out);
}

void bw_x509_free(struct bw_x509 *c)
{
	if (c == NULL)
		return;
	X509_free(c->c);
	bw_free(c);
}

void bw_x509_list_free(struct bw_x509 **certs, size_t n)
{
	size_t i;

	if (certs == NULL)
		return;
	for (i = 0; i < n; i++)
		bw_x509_free(certs[i]);
	bw_free(certs);
}

#define BW_MAX_PEM_CERTS 64

enum bw_err bw_x509_list_from_pem(const uint8_t *pem, size_t len, struct bw_x509 ***certs, size_t *n,
                                  struct bw_diag *diag)
{
	BIO *bio;
	struct bw_x509 **arr = NULL;
	size_t cnt = 0;
	enum bw_err err = BW_OK;
	X509 *c;

	*certs = NULL;
	*n = 0;
	if (!fits_int(len))
		return bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "certificate file too large");
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		return BW_ERR_NOMEM;
	arr = bw_calloc(BW_MAX_PEM_CERTS, sizeof *arr);
	if (arr == NULL) {
		BIO_free(bio);
		return BW_ERR_NOMEM;
	}
	while ((c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (cnt == BW_MAX_PEM_CERTS) {
			X509_free(c);
			err = bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "more than %d certificates",
			                  BW_MAX_PEM_CERTS);
			goto out;
		}
		err = wrap_x509(c, &arr[cnt]);
		if (err != BW_OK)
			goto out;
		cnt++;
	}
	ERR_clear_error();
	if (cnt == 0)
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "no PEM certificate found");
out:
	BIO_free(bio);
	if (err != BW_OK) {
		bw_x509_list_free(arr, cnt);
		return err;
	}
	*certs = arr;
	*n = cnt;
	return BW_OK;
}

enum bw_err bw_x509_der(const struct bw_x509 *c, uint8_t **der, size_t *len)
{
	unsigned char *buf = NULL;
	int n = i2d_X509(c->c, &buf);

	return der_take(n, buf, der, len);
}

enum bw_err bw_x509_pubkey(const struct bw_x509 *c, struct bw_pkey **out)
{
	EVP_PKEY *k = X509_get_pubkey(c->c);

	*out = NULL;
	if (k == NULL) {
		ERR_clear_error();
		return BW_ERR_MALFORMED;
	}
	return wrap_key(k, out);
}

static enum bw_err asn1_time_to_epoch(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
		ERR_clear_error();
		return BW_ERR_MALFORMED;
	}
	*out = (int64_t)timegm(&tm);
	return BW_OK;
}

enum bw_err bw_x509_validity(const struct bw_x509 *c, int64_t *not_before, int64_t *not_after)
{
	enum bw_err err = asn1_time_to_epoch(X509_get0_notBefore(c->c), not_before);

	if (err != BW_OK)
		return err;
	return asn1_time_to_epoch(X509_get0_notAfter(c->c), not_after);
}

void bw_x509_subject(const struct bw_x509 *c, char *buf, size_t n)
{
	if (n == 0)
		return;
	buf[0] = '\0';
	if (fits_int(n))
		X509_NAME_oneline(X509_get_subject_name(c->c), buf, (int)n);
}

static void copy_str(char *buf, size_t n, const unsigned char *p, int len)
{
	size_t l = len < 0 ? 0 : (size_t)len;

	if (n == 0)
		return;
	if (l >= n)
		l = n - 1;
	memcpy(buf, p, l);
	buf[l] = '\0';
}

enum bw_err bw_x509_san(const struct bw_x509 *c, char *buf, size_t n)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(c->c, NID_subject_alt_name, NULL, NULL);
	enum bw_err err = BW_ERR_NOTFOUND;
	int i;

	if (n > 0)
		buf[0] = '\0';
	if (names == NULL) {
		ERR_clear_error();
		return BW_ERR_NOTFOUND;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		ASN1_IA5STRING *s = NULL;

		if (g->type == GEN_EMAIL)
			s = g->d.rfc822Name;
		else if (g->type == GEN_URI)
			s = g->d.uniformResourceIdentifier;
		if (s != NULL) {
			copy_str(buf, n, ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
			err = BW_OK;
			break;
		}
	}
	GENERAL_NAMES_free(names);
	return err;
}

enum bw_err bw_x509_ext_string(const struct bw_x509 *c, const char *oid, char *buf, size_t n)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	int idx;
	X509_EXTENSION *ext;
	ASN1_OCTET_STRING *os;
	const unsigned char *p;
	int len;

	if (n > 0)
		buf[0] = '\0';
	if (obj == NULL) {
		ERR_clear_error();
		return BW_ERR_ARG;
	}
	idx = X509_get_ext_by_OBJ(c->c, obj, -1);
	ASN1_OBJECT_free(obj);
	if (idx < 0)
		return BW_ERR_NOTFOUND;
	ext = X509_get_ext(c->c, idx);
	os = X509_EXTENSION_get_data(ext);
	p = ASN1_STRING_get0_data(os);
	len = ASN1_STRING_length(os);
	/* DER UTF8String (tag 12) with a short or long-form length. */
	if (len >= 2 && p[0] == 0x0c) {
		ASN1_UTF8STRING *u = NULL;
		const unsigned char *q = p;

		u = d2i_ASN1_UTF8STRING(NULL, &q, len);
		if (u != NULL && q == p + len) {
			copy_str(buf, n, ASN1_STRING_get0_data(u), ASN1_STRING_length(u));
			ASN1_UTF8STRING_free(u);
			return BW_OK;
		}
		ASN1_UTF8STRING_free(u);
		ERR_clear_error();
	}
	copy_str(buf, n, p, len);
	return BW_OK;
}

enum bw_err bw_x509_verify_chain(struct bw_x509 *leaf, struct bw_x509 *const *inter, size_t n_inter,
                                 struct bw_x509 *const *roots, size_t n_roots, int64_t at,
                                 int code_signing, struct bw_diag *diag)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_VERIFY_PARAM *vp;
	enum bw_err err = BW_ERR_NOMEM;
	size_t i;
	int r;

	if (store == NULL || ctx == NULL || untrusted == NULL)
		goto out;
	for (i = 0; i < n_roots; i++)
		if (X509_STORE_add_cert(store, roots[i]->c) != 1) {
			err = ossl_fail(diag, BW_ERR_CRYPTO, "adding a trust anchor");
			goto out;
		}
	for (i = 0; i < n_inter; i++)
		if (sk_X509_push(untrusted, inter[i]->c) <= 0)
			goto out;
	if (X509_STORE_CTX_init(ctx, store, leaf->c, untrusted) != 1) {
		err = ossl_fail(diag, BW_ERR_CRYPTO, "X509_STORE_CTX_init");
		goto out;
	}
	vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(vp, (time_t)at);
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT);
	r = X509_verify_cert(ctx);
	if (r != 1) {
		int e = X509_STORE_CTX_get_error(ctx);

		ERR_clear_error();
		err = bw_diag_set(diag, BW_ERR_VERIFY, BW_NO_OFFSET, "certificate chain: %s (depth %d)",
		                  X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
		goto out;
	}
	/* OpenSSL 3.0 has no code-signing purpose: check EKU by hand (RFC 5280
	 * section 4.2.1.12: when present it must allow codeSigning). */
	if (code_signing && (X509_get_extension_flags(leaf->c) & EXFLAG_XKUSAGE) &&
	    !(X509_get_extended_key_usage(leaf->c) & XKU_CODE_SIGN)) {
		err = bw_diag_set(diag, BW_ERR_VERIFY, BW_NO_OFFSET,
		                  "certificate chain: leaf extended key usage lacks codeSigning");
		goto out;
	}
	if (code_signing && !(X509_get_key_usage(leaf->c) & X509v3_KU_DIGITAL_SIGNATURE)) {
		err = bw_diag_set(diag, BW_ERR_VERIFY, BW_NO_OFFSET,
		                  "certificate chain: leaf key usage lacks digitalSignature");
		goto out;
	}
	err = BW_OK;
out:
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return err;
}

enum bw_err bw_x509_verify_scts(const struct bw_x509 *leaf, const struct bw_x509 *issuer,
                                const struct bw_ct_log *logs, size_t n_logs, size_t *n_scts, size_t *n_valid,
                                uint64_t *first_ts)
{
	STACK_OF(SCT) *scts = X509_get_ext_d2i(leaf->c, NID_ct_precert_scts, NULL, NULL);
	X509 *pre = NULL;
	unsigned char *tbs = NULL, *spki = NULL;
	int tbs_len, spki_len, idx, i;
	uint8_t ikh[32], *msg = NULL;
	enum bw_err err = BW_ERR_NOMEM;

	*n_scts = 0;
	*n_valid = 0;
	*first_ts = 0;
	if (scts == NULL) {
		ERR_clear_error();
		return BW_ERR_NOTFOUND;
	}
	/* The log signed the precertificate: this TBS minus the SCT list. */
	pre = X509_dup(leaf->c);
	if (pre == NULL)
		goto out;
	idx = X509_get_ext_by_NID(pre, NID_ct_precert_scts, -1);
	if (idx >= 0)
		X509_EXTENSION_free(X509_delete_ext(pre, idx));
	tbs_len = i2d_re_X509_tbs(pre, &tbs);
	spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(issuer->c), &spki);
	if (tbs_len <= 0 || spki_len <= 0 || tbs_len >= (1 << 24)) {
		err = BW_ERR_CRYPTO;
		goto out;
	}
	if (bw_sha256(spki, (size_t)spki_len, ikh) != BW_OK) {
		err = BW_ERR_CRYPTO;
		goto out;
	}
	msg = bw_malloc((size_t)tbs_len + 64 + 65536);
	if (msg == NULL)
		goto out;
	*n_scts = (size_t)sk_SCT_num(scts);
	for (i = 0; i < sk_SCT_num(scts); i++) {
		SCT *sct = sk_SCT_value(scts, i);
		unsigned char *lid = NULL, *ext = NULL, *sig = NULL;
		size_t lid_len = SCT_get0_log_id(sct, &lid), ext_len = SCT_get0_extensions(sct, &ext);
		size_t sig_len = SCT_get0_signature(sct, &sig), n = 0, k;
		uint64_t ts = SCT_get_timestamp(sct);
		const struct bw_ct_log *log = NULL;
		int b;

		if (SCT_get_version(sct) != SCT_VERSION_V1 || ext_len > 65535 || sig == NULL)
			continue;
		for (k = 0; k < n_logs; k++)
			if (logs[k].id_len == lid_len && lid != NULL && memcmp(logs[k].id, lid, lid_len) == 0)
				log = &logs[k];
		if (log == NULL)
			continue;
		/* digitally-signed struct of RFC 6962 section 3.2 */
		msg[n++] = 0; /* v1 */
		msg[n++] = 0; /* certificate_timestamp */
		for (b = 7; b >= 0; b--)
			msg[n++] = (uint8_t)(ts >> (8 * b));
		msg[n++] = 0;
		msg[n++] = 1; /* precert_entry */
		memcpy(msg + n, ikh, 32);
		n += 32;
		msg[n++] = (uint8_t)(tbs_len >> 16);
		msg[n++] = (uint8_t)(tbs_len >> 8);
		msg[n++] = (uint8_t)tbs_len;
		memcpy(msg + n, tbs, (size_t)tbs_len);
		n += (size_t)tbs_len;
		msg[n++] = (uint8_t)(ext_len >> 8);
		msg[n++] = (uint8_t)ext_len;
		if (ext_len)
			memcpy(msg + n, ext, ext_len);
		n += ext_len;
		if (bw_pkey_verify(log->key, BW_HASH_SHA256, msg, n, sig, sig_len) == BW_OK) {
			if (*n_valid == 0)
				*first_ts = ts;
			(*n_valid)++;
		}
	}
	err = BW_OK;
out:
	ERR_clear_error();
	bw_free(msg);
	OPENSSL_free(tbs);
	OPENSSL_free(spki);
	X509_free(pre);
	SCT_LIST_free(scts);
	return err;
}

enum bw_err bw_rfc3161_verify(const uint8_t *resp, size_t resp_len, const uint8_t *data, size_t data_len,
                              struct bw_x509 *const *chain, size_t n_chain, int64_t *gen_time,
                              struct bw_diag *diag)
{
	const unsigned char *p = resp;
	TS_RESP *r = NULL;
	TS_VERIFY_CTX *ctx = NULL;
	X509_STORE *store = NULL;
	STACK_OF(X509) *certs = NULL;
	BIO *bio = NULL;
	TS_TST_INFO *tst;
	enum bw_err err = BW_ERR_NOMEM;
	size_t i;

	*gen_time = 0;
	if (n_chain == 0 || !fits_int(resp_len) || !fits_int(data_len))
		return bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET, "timestamp: no TSA certificate or input too large");
	r = d2i_TS_RESP(NULL, &p, (long)resp_len);
	if (r == NULL || p != resp + resp_len) {
		err = ossl_fail(diag, BW_ERR_MALFORMED, "timestamp: not a DER TimeStampResp");
		goto out;
	}
	tst = TS_RESP_get_tst_info(r);
	if (tst == NULL || asn1_time_to_epoch(TS_TST_INFO_get_time(tst), gen_time) != BW_OK) {
		err = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "timestamp: no TSTInfo time");
		goto out;
	}
	store = X509_STORE_new();
	certs = sk_X509_new_null();
	ctx = TS_VERIFY_CTX_new();
	bio = BIO_new_mem_buf(data, (int)data_len);
	if (store == NULL || certs == NULL || ctx == NULL || bio == NULL)
		goto out;
	if (X509_STORE_add_cert(store, chain[n_chain - 1]->c) != 1)
		goto out;
	for (i = 0; i + 1 < n_chain; i++)
		if (sk_X509_push(certs, X509_dup(chain[i]->c)) <= 0)
			goto out;
	/* The TSA certificate must be valid when it issued the token. */
	X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), (time_t)*gen_time);
	TS_VERIFY_CTX_set_flags(ctx, TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_DATA);
	/* The context owns store, certs and bio from here on. */
	TS_VERIFY_CTX_set_store(ctx, store);
	store = NULL;
	TS_VERIFY_CTX_set_certs(ctx, certs);
	certs = NULL;
	TS_VERIFY_CTX_set_data(ctx, bio);
	bio = NULL;
	if (TS_RESP_verify_response(ctx, r) != 1) {
		err = ossl_fail(diag, BW_ERR_VERIFY, "timestamp does not verify");
		goto out;
	}
	err = BW_OK;
out:
	ERR_clear_error();
	TS_VERIFY_CTX_free(ctx);
	X509_STORE_free(store);
	if (certs != NULL)
		sk_X509_pop_free(certs, X509_free);
	BIO_free(bio);
	TS_RESP_free(r);
	return err;
}

/* ---- base64 / hex ---- */

static const char b64_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t bw_b64_enc_len(size_t n)
{
	return (n + 2) / 3 * 4 + 1;
}

size_t bw_b64_encode(const uint8_t *p, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = b64_alpha[v >> 18 & 63];
		out[o++] = b64_alpha[v >> 12 & 63];
		out[o++] = b64_alpha[v >> 6 & 63];
		out[o++] = b64_alpha[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		out[o++] = b64_alpha[v >> 18 & 63];
		out[o++] = b64_alpha[v >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		out[o++] = b64_alpha[v >> 18 & 63];
		out[o++] = b64_alpha[v >> 12 & 63];
		out[o++] = b64_alpha[v >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

enum bw_err bw_b64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len)
{
	uint8_t *buf;
	size_t i, o = 0, pad = 0;

	*out = NULL;
	*out_len = 0;
	if (n % 4 != 0)
		return BW_ERR_MALFORMED;
	if (n >= 1 && s[n - 1] == '=')
		pad++;
	if (n >= 2 && s[n - 2] == '=')
		pad++;
	buf = bw_malloc(n / 4 * 3 + 1);
	if (buf == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < n; i += 4) {
		int v[4], k;
		int last = i + 4 == n;

		for (k = 0; k < 4; k++) {
			v[k] = b64_val(s[i + (size_t)k]);
			if (v[k] < 0) {
				if (!(last && s[i + (size_t)k] == '=' && (size_t)k >= 4 - pad))
					goto bad;
				v[k] = 0;
			}
		}
		buf[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (!(last && pad == 2))
			buf[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
		else if (v[1] & 15)
			goto bad; /* non-canonical trailing bits */
		if (!(last && pad >= 1))
			buf[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
		else if (pad == 1 && (v[2] & 3))
			goto bad;
	}
	*out = buf;
	*out_len = o;
	return BW_OK;
bad:
	bw_free(buf);
	return BW_ERR_MALFORMED;
}

void bw_hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int bw_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n)
{
	size_t i;

	if (slen != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
