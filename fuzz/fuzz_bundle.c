/*
 * fuzz_bundle.c - the OMS bundle / DSSE / in-toto parser and the verifier on
 * untrusted bytes: structural parsing (bw_bundle_inspect), full signature
 * verification with a fixed key and with a fixed trust root (the sigstore
 * path runs SET / inclusion-proof / checkpoint parsing), and the statement
 * parser on the raw bytes. No file system access: verification stops before
 * the model comparison.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bulwark/sign.h"
#include "sign/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char key_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEz3wd53H/swlOZq8ZAv6jGgGmAGua\n"
	"QNSYYvoD8IRGgRKXxq1EPIDXmNsZOad9jnFoKTpzfd9W5iUjYDJl5jWa1g==\n"
	"-----END PUBLIC KEY-----\n";

/* A minimal TrustedRoot with the Rekor v1 public-good key, so the sigstore
 * path reaches the log checks. */
static const char trusted_root[] =
	"{\"mediaType\":\"application/vnd.dev.sigstore.trustedroot+json;version=0.1\",\"tlogs\":[{\"baseUrl\":"
	"\"https://rekor.sigstore.dev\",\"hashAlgorithm\":\"SHA2_256\",\"publicKey\":{\"rawBytes\":"
	"\"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/"
	"9A/bY2LhC30M9+RYtw==\",\"keyDetails\":\"PKIX_ECDSA_P256_SHA_256\",\"validFor\":{\"start\":"
	"\"2021-01-12T11:53:27.000Z\"}},\"logId\":{\"keyId\":\"wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=\"}}],"
	"\"certificateAuthorities\":[]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_manifest *m = NULL;
	struct bw_verify_opts o;
	struct bw_verify_result r;
	int compat = 0;

	if (bw_bundle_inspect(data, size, &m, NULL) == BW_OK)
		bw_manifest_free(m);
	m = NULL;

	bw_verify_opts_init(&o);
	o.mode = BW_VERIFY_KEY;
	o.trust = (const uint8_t *)key_pem;
	o.trust_len = sizeof key_pem - 1;
	bw_verify_result_init(&r);
	if (bw_verify_bundle(data, size, &o, &r, &m, NULL) == BW_OK)
		bw_manifest_free(m);
	m = NULL;
	bw_verify_result_release(&r);

	o.mode = BW_VERIFY_SIGSTORE;
	o.trust = (const uint8_t *)trusted_root;
	o.trust_len = sizeof trusted_root - 1;
	o.identity = "x";
	o.issuer = "y";
	bw_verify_result_init(&r);
	if (bw_verify_bundle(data, size, &o, &r, &m, NULL) == BW_OK)
		bw_manifest_free(m);
	m = NULL;
	bw_verify_result_release(&r);

	if (bw_statement_to_manifest((const char *)data, size, &m, &compat, NULL) == BW_OK)
		bw_manifest_free(m);
	return 0;
}
