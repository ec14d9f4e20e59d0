/*
 * test_sign.c - unit tests of src/crypto and src/sign: base64, hex, DSSE PAE
 * (DSSE spec test vector), ECDSA round trips on every curve, the DSSE
 * hello-world envelope, RFC 6962 inclusion proofs against a reference tree,
 * shard-name parsing, resource ordering, path canonicalisation, the v0.2
 * compat repr, statement parsing of malformed payloads, manifest building.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#include "bulwark/sign.h"
#include "core/alloc.h"
#include "crypto/crypto.h"
#include "sign/bundle.h"
#include "sign/sign_internal.h"
#include "sign/sigstore.h"
#include "crypto/merkle.h"

/* byte arrays of 32-byte hashes viewed as the Merkle module's hash type (same layout) */
#define MH(x) ((const struct bw_mhash *)(const void *)(x))

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

static void test_base64(void)
{
	static const struct {
		const char *plain, *enc;
	} v[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
	         {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
	static const char *const bad[] = {"Zg=", "Zh==", "Zm9=", "Z===", "Zm9v!A==", "=Zm9", "Zg==Zg=="};
	size_t i, n;
	char out[64];
	uint8_t *d;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		n = bw_b64_encode((const uint8_t *)v[i].plain, strlen(v[i].plain), out);
		CHECKF(strcmp(out, v[i].enc) == 0, "%s != %s", out, v[i].enc);
		CHECK_EQ_INT(n, strlen(v[i].enc));
		CHECK(bw_b64_decode(v[i].enc, strlen(v[i].enc), &d, &n) == BW_OK);
		CHECK(n == strlen(v[i].plain) && memcmp(d, v[i].plain, n) == 0);
		bw_free(d);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECKF(bw_b64_decode(bad[i], strlen(bad[i]), &d, &n) == BW_ERR_MALFORMED, "accepted %s", bad[i]);
}

static void test_pae(const char *td)
{
	char path[4096];
	size_t want_len = 0, env_len = 0, got_len = 0;
	char *want, *env;
	uint8_t *got = NULL;

	snprintf(path, sizeof path, "%s/signing-vectors/dsse/pae-helloworld.bin", td);
	want = read_all(path, &want_len);
	CHECK(want != NULL);
	CHECK(bw_dsse_pae("http://example.com/HelloWorld", (const uint8_t *)"hello world", 11, &got, &got_len) == BW_OK);
	CHECK(want != NULL && got_len == want_len && memcmp(got, want, got_len) == 0);
	bw_free(got);
	free(want);

	/* DSSE protocol.md test vector: raw r||s over the PAE, key from the spec. */
	snprintf(path, sizeof path, "%s/signing-vectors/dsse/envelope-helloworld.json", td);
	env = read_all(path, &env_len);
	CHECK(env != NULL);
	if (env != NULL) {
		json_t *j = json_loads(env, 0, NULL);
		uint8_t *raw = NULL, der[80];
		size_t rl = 0, dl = 0, pl = 0, kl = 0, k;
		char *pem;
		struct bw_pkey *key = NULL;
		uint8_t *pae2 = NULL;

		snprintf(path, sizeof path, "%s/signing-vectors/dsse/key-p256-pub.pem", td);
		pem = read_all(path, &kl);
		CHECK(bw_json_b64(json_array_get(json_object_get(j, "signatures"), 0), "sig", &raw, &rl, NULL) == BW_OK);
		CHECK_EQ_INT(rl, 64);
		/* r||s -> DER SEQUENCE { INTEGER r, INTEGER s } */
		der[dl++] = 0x30;
		der[dl++] = 0;
		for (k = 0; k < 2 && rl == 64; k++) {
			const uint8_t *x = raw + 32 * k;
			size_t skip = 0;

			while (skip < 31 && x[skip] == 0 && !(x[skip + 1] & 0x80))
				skip++;
			der[dl++] = 0x02;
			der[dl++] = (uint8_t)(32 - skip + (x[skip] & 0x80 ? 1 : 0));
			if (x[skip] & 0x80)
				der[dl++] = 0;
			memcpy(der + dl, x + skip, 32 - skip);
			dl += 32 - skip;
		}
		der[1] = (uint8_t)(dl - 2);
		CHECK(pem != NULL && bw_pkey_load_public_pem((const uint8_t *)pem, kl, &key, NULL) == BW_OK);
		CHECK(bw_dsse_pae("http://example.com/HelloWorld", (const uint8_t *)"hello world", 11, &pae2, &pl) == BW_OK);
		if (key != NULL) {
			CHECK(bw_pkey_verify(key, BW_HASH_SHA256, pae2, pl, der, dl) == BW_OK);
			der[dl - 1] ^= 1;
			CHECK(bw_pkey_verify(key, BW_HASH_SHA256, pae2, pl, der, dl) == BW_ERR_VERIFY);
		}
		bw_pkey_free(key);
		bw_free(raw);
		bw_free(pae2);
		free(pem);
		json_decref(j);
		free(env);
	}
}

static void test_ecdsa(void)
{
	static const int bits[] = {256, 384, 521};
	size_t i;

	for (i = 0; i < 3; i++) {
		char *priv = NULL, *pub = NULL;
		size_t privl = 0, publ = 0, sl = 0;
		struct bw_pkey *k = NULL, *p = NULL;
		uint8_t *sig = NULL;
		const uint8_t msg[] = "message";

		CHECK(bw_keygen(bits[i], i == 1 ? "pw" : NULL, &priv, &privl, &pub, &publ) == BW_OK);
		CHECK(bw_pkey_load_private_pem((const uint8_t *)priv, privl, i == 1 ? "pw" : NULL, &k, NULL) == BW_OK);
		if (i == 1) {
			struct bw_pkey *x = NULL;
			struct bw_diag d;

			bw_diag_clear(&d);
			CHECK(bw_pkey_load_private_pem((const uint8_t *)priv, privl, NULL, &x, &d) == BW_ERR_ARG);
			CHECK(strstr(d.what, "passphrase") != NULL);
			CHECK(bw_pkey_load_private_pem((const uint8_t *)priv, privl, "nope", &x, NULL) == BW_ERR_VERIFY);
		}
		CHECK(bw_pkey_load_public_pem((const uint8_t *)pub, publ, &p, NULL) == BW_OK);
		if (k != NULL && p != NULL) {
			CHECK(bw_pkey_equal_public(k, p));
			CHECK(bw_pkey_sign(k, bw_pkey_default_hash(k), msg, 7, &sig, &sl) == BW_OK);
			CHECK(bw_pkey_verify(p, bw_pkey_default_hash(p), msg, 7, sig, sl) == BW_OK);
			CHECK(bw_pkey_verify(p, bw_pkey_default_hash(p), msg, 6, sig, sl) == BW_ERR_VERIFY);
		}
		bw_free(sig);
		bw_pkey_free(k);
		bw_pkey_free(p);
		bw_wipe(priv, privl);
		bw_free(priv);
		bw_free(pub);
	}
}

/* Reference Merkle tree (RFC 6962 section 2.1) to produce audit paths. */
static void mth(uint8_t (*leaves)[32], size_t n, uint8_t out[32])
{
	uint8_t buf[65], l[32], r[32];
	size_t k = 1;

	if (n == 1) {
		memcpy(out, leaves[0], 32);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	mth(leaves, k, l);
	mth(leaves + k, n - k, r);
	buf[0] = 1;
	memcpy(buf + 1, l, 32);
	memcpy(buf + 33, r, 32);
	CHECK(bw_sha256(buf, 65, out) == BW_OK);
}

static size_t audit_path(uint8_t (*leaves)[32], size_t n, size_t m, uint8_t (*path)[32])
{
	size_t k = 1, c;

	if (n <= 1)
		return 0;
	while (k * 2 < n)
		k *= 2;
	if (m < k) {
		c = audit_path(leaves, k, m, path);
		mth(leaves + k, n - k, path[c]);
	} else {
		c = audit_path(leaves + k, n - k, m - k, path);
		mth(leaves, k, path[c]);
	}
	return c + 1;
}

static void test_merkle(void)
{
	uint8_t leaves[17][32], root[32], path[8][32];
	size_t n, m, i, np;

	for (i = 0; i < 17; i++) {
		uint8_t b[2] = {0, (uint8_t)i};

		CHECK(bw_sha256(b, 2, leaves[i]) == BW_OK);
	}
	for (n = 1; n <= 17; n++) {
		mth(leaves, n, root);
		for (m = 0; m < n; m++) {
			np = audit_path(leaves, n, m, path);
			CHECKF(bw_merkle_verify_inclusion(m, n, MH(leaves[m]), MH(path), np, MH(root)) == BW_OK,
			       "n=%zu m=%zu", n, m);
			if (n > 1)
				CHECK(bw_merkle_verify_inclusion((m + 1) % n, n, MH(leaves[m]), MH(path), np,
				                                 MH(root)) != BW_OK);
			if (np > 0) {
				path[0][0] ^= 1;
				CHECK(bw_merkle_verify_inclusion(m, n, MH(leaves[m]), MH(path), np, MH(root)) != BW_OK);
			}
		}
	}
}

static void test_names(void)
{
	size_t pl;
	uint64_t s, e;
	char out[64];

	CHECK(bw_shard_split("a:b:c.bin:8:16", &pl, &s, &e) == 0 && pl == 9 && s == 8 && e == 16);
	CHECK(bw_shard_split("x:0:1", &pl, &s, &e) == 0 && pl == 1);
	CHECK(bw_shard_split("x:0", &pl, &s, &e) != 0);
	CHECK(bw_shard_split("x:a:1", &pl, &s, &e) != 0);
	CHECK(bw_shard_split(":0:1", &pl, &s, &e) != 0);
	CHECK(bw_name_cmp("a/b.bin", "a b.bin", BW_ORDER_PYTHON) < 0);
	CHECK(bw_name_cmp("a/b.bin", "a b.bin", BW_ORDER_SPEC) > 0);
	CHECK(bw_name_cmp("tokenizer/v", "tokenizer.json", BW_ORDER_PYTHON) < 0);
	CHECK(bw_name_cmp("f:8:16", "f:16:24", BW_ORDER_PYTHON) < 0);
	CHECK(bw_name_cmp("f:8:16", "f:16:24", BW_ORDER_SPEC) > 0);
	CHECK(bw_path_canon("./a//b/./c/", out, sizeof out) == 0 && strcmp(out, "a/b/c") == 0);
	CHECK(bw_path_canon("/abs", out, sizeof out) != 0);
	CHECK(bw_path_canon("a/../b", out, sizeof out) != 0);
	CHECK(bw_path_canon("./", out, sizeof out) != 0);
	CHECK(bw_path_is_under(".git/HEAD", ".git") && bw_path_is_under(".git", ".git"));
	CHECK(!bw_path_is_under(".github", ".git") && !bw_path_is_under("sub/.git", ".git"));
}

static void test_repr(void)
{
	static const struct {
		const char *in, *out;
	} v[] = {{"a\nb", "b'a\\nb'"}, {"it's", "b\"it's\""}, {"q\"'", "b'q\"\\''"}, {"\\\t\x01\x7f", "b'\\\\\\t\\x01\\x7f'"}};
	size_t i, n;
	char *s;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		CHECK(bw_py_bytes_repr((const uint8_t *)v[i].in, strlen(v[i].in), &s, &n) == BW_OK);
		CHECKF(n == strlen(v[i].out) && memcmp(s, v[i].out, n) == 0, "repr %zu: %.*s", i, (int)n, s);
		bw_free(s);
	}
}

#define R1 "{\"name\":\"a\",\"algorithm\":\"sha256\",\"digest\":\"" \
	"0000000000000000000000000000000000000000000000000000000000000000\"}"
/* root of one all-zero digest = sha256(32 zero bytes) */
#define ROOT1 "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
#define R1B "{\"name\":\"b\",\"algorithm\":\"sha256\",\"digest\":\"" \
	"0000000000000000000000000000000000000000000000000000000000000000\"}"
/* root of two all-zero digests = sha256(64 zero bytes) */
#define ROOT2 "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b"
#define ST(subj, ptype, pred) "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":" subj \
	",\"predicateType\":\"" ptype "\",\"predicate\":" pred "}"
#define SUBJ "[{\"name\":\"m\",\"digest\":{\"sha256\":\"" ROOT1 "\"}}]"
#define PT "https://model_signing/signature/v1.0"
#define SER "{\"method\":\"files\",\"hash_type\":\"sha256\",\"allow_symlinks\":false}"

static void test_statement(void)
{
	static const struct {
		const char *json;
		enum bw_err want;
	} v[] = {
		{ST(SUBJ, PT, "{\"resources\":[" R1 "],\"serialization\":" SER "}"), BW_OK},
		{ST(SUBJ, PT, "{\"resources\":[],\"serialization\":" SER "}"), BW_ERR_MALFORMED},
		{ST(SUBJ, PT, "{\"resources\":[" R1 "," R1 "],\"serialization\":" SER "}"), BW_ERR_MALFORMED},
		{ST(SUBJ, "https://example.com/other", "{}"), BW_ERR_VERIFY},
		{ST("[]", PT, "{\"resources\":[" R1 "],\"serialization\":" SER "}"), BW_ERR_MALFORMED},
		{ST(SUBJ, PT, "{\"resources\":[" R1 "]}"), BW_ERR_MALFORMED},
		{ST("[{\"name\":\"m\",\"digest\":{\"sha256\":\"" "11" ROOT1 "\"}}]", PT,
		    "{\"resources\":[" R1 "],\"serialization\":" SER "}"), BW_ERR_MALFORMED},
		{ST(SUBJ, PT, "{\"resources\":[{\"name\":\"../x\",\"algorithm\":\"sha256\",\"digest\":\""
		    "0000000000000000000000000000000000000000000000000000000000000000\"}],\"serialization\":" SER "}"),
		 BW_ERR_MALFORMED},
		{ST(SUBJ, PT, "{\"resources\":[" R1 "],\"serialization\":{\"method\":\"files\",\"hash_type\":\"md5\"}}"),
		 BW_ERR_UNSUPPORTED},
		{ST(SUBJ, PT, "{\"resources\":[" R1 "],\"serialization\":{\"method\":\"shards\",\"hash_type\":"
		    "\"sha256\",\"shard_size\":8.5}}"), BW_ERR_MALFORMED},
		{"{\"_type\":\"https://in-toto.io/Statement/v0.1\"}", BW_ERR_VERIFY},
		{"[1,2]", BW_ERR_MALFORMED},
		/* resources in a non-sorted (e.g. Python component) order: accepted,
		 * the root is taken over the listed order */
		{ST("[{\"name\":\"m\",\"digest\":{\"sha256\":\"" ROOT2 "\"}}]", PT,
		    "{\"resources\":[" R1B "," R1 "],\"serialization\":" SER "}"), BW_OK},
		{"{\"a\":1,\"a\":2}", BW_ERR_MALFORMED},
	};
	size_t i;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct bw_manifest *m = NULL;
		int compat = 0;
		enum bw_err e = bw_statement_to_manifest(v[i].json, strlen(v[i].json), &m, &compat, NULL);

		CHECKF(e == v[i].want, "statement case %zu: %s, expected %s", i, bw_err_str(e), bw_err_str(v[i].want));
		bw_manifest_free(m);
	}
}

static uint64_t g_progress_calls;

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	(void)done;
	(void)total;
	g_progress_calls++;
}

static void test_manifest(void)
{
	char dir[] = "/tmp/bw_sign_test_XXXXXX";
	char p[4096];
	struct bw_hash_opts o;
	struct bw_manifest *m = NULL;
	FILE *f;
	size_t i;
	const char *ign[] = {"skip"};

	CHECK(mkdtemp(dir) != NULL);
	snprintf(p, sizeof p, "%s/sub", dir);
	CHECK(mkdir(p, 0755) == 0);
	snprintf(p, sizeof p, "%s/.git", dir);
	CHECK(mkdir(p, 0755) == 0);
	for (i = 0; i < 5; i++) {
		static const char *const names[] = {"a.bin", "sub/b.bin", "skip", ".git/x", "empty"};

		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		f = fopen(p, "wb");
		CHECK(f != NULL);
		if (f != NULL) {
			if (i != 4)
				fprintf(f, "content %zu of the file, long enough for shards", i);
			fclose(f);
		}
	}
	bw_hash_opts_init(&o);
	o.ignore_paths = ign;
	o.n_ignore_paths = 1;
	o.progress = progress;
	o.threads = 3;
	CHECK(bw_manifest_build(dir, NULL, &o, &m, NULL) == BW_OK);
	if (m != NULL) {
		CHECK_EQ_INT(m->n_items, 3);
		CHECK_STR(m->items[0].name, "a.bin");
		CHECK_STR(m->items[1].name, "empty");
		CHECK_STR(m->items[2].name, "sub/b.bin");
		CHECK(g_progress_calls >= 3);
	}
	bw_manifest_free(m);
	m = NULL;
	o.method = BW_SER_SHARDS;
	o.shard_size = 16;
	CHECK(bw_manifest_build(dir, NULL, &o, &m, NULL) == BW_OK);
	if (m != NULL) {
		CHECK_EQ_INT(m->n_items, 6); /* two 45-byte files, 3 shards each; empty file omitted */
		CHECK_STR(m->items[0].name, "a.bin:0:16");
		CHECK_STR(m->items[0].algorithm, "sha256-sharded-16");
	}
	bw_manifest_free(m);
	m = NULL;
	snprintf(p, sizeof p, "%s/missing", dir);
	CHECK(bw_manifest_build(p, NULL, &o, &m, NULL) == BW_ERR_NOTFOUND);
	snprintf(p, sizeof p, "rm -rf '%s'", dir);
	CHECK(system(p) == 0);
}

int main(void)
{
	const char *td = getenv("BW_TESTDATA");

	test_base64();
	test_ecdsa();
	test_merkle();
	test_names();
	test_repr();
	test_statement();
	test_manifest();
	if (td == NULL) {
		fprintf(stderr, "BW_TESTDATA is not set (run through ctest)\n");
		return 1;
	}
	test_pae(td);
	return bw_test_done();
}
