/*
 * test_fmt.c - the helpers of formats/fmt.c: findings are formatted and cut,
 * clipped copies are printable, NUL-terminated and bounded; and the engine's
 * guess from a file's first bytes of whether its parser reads it whole.
 */
#include <string.h>

#include "harness.h"
#include "formats/fmt.h"
#include "scan/engine.h"

static int whole(const char *h, size_t n)
{
	return bw_scan_reads_whole((const uint8_t *)h, n);
}

static void test_reads_whole(void)
{
	static const char legacy[] = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02";
	static const char joblib[] = "\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x13"
	                             "joblib.numpy_pickle\x94\x8c\x11NumpyArrayWrapper\x94";

	CHECK(whole("\x80\x04\x95\x00", 4));               /* protocol 4 pickle */
	CHECK(whole("\x80\x02}q\x00", 5));                  /* protocol 2 state dict pickle */
	CHECK(!whole("\x80\x06", 2));                        /* no such protocol */
	CHECK(!whole(legacy, sizeof legacy - 1));            /* PyTorch legacy: tensors follow */
	CHECK(whole(legacy, 13));                            /* a prefix only: could be anything */
	CHECK(!whole(joblib, sizeof joblib - 1));            /* joblib array: raw bytes follow */
	CHECK(whole("\x1f\x8b\x08", 3));                     /* gzip */
	CHECK(whole("BZh9", 4));
	CHECK(whole("\xfd" "7zXZ\0\0", 7));
	CHECK(!whole("PK\x03\x04", 4));                      /* zip: directory and members only */
	CHECK(!whole("GGUF", 4));
	CHECK(!whole("", 0));
}

static char last_rule[64], last_msg[1024];
static uint64_t last_off;

static void on_finding(void *user, const char *rule, uint64_t off, const char *msg)
{
	(void)user;
	snprintf(last_rule, sizeof last_rule, "%s", rule);
	snprintf(last_msg, sizeof last_msg, "%s", msg);
	last_off = off;
}

/* strcmp as an int, so CHECK_STR's NULL test does not see an array. */
static int same(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

int main(void)
{
	struct bw_fmt_sink s;
	char out[8], big[900];

	memset(&s, 0, sizeof s);
	s.finding = on_finding;
	bw_fmt_finding(&s, "x.rule", 42, "key \"%s\" %d", "k", 7);
	CHECKF(same(last_rule, "x.rule"), "\"%s\"", last_rule);
	CHECKF(same(last_msg, "key \"k\" 7"), "\"%s\"", last_msg);
	CHECK(last_off == 42);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	bw_fmt_finding(&s, "x.rule", 0, "%s", big);
	CHECKF(strlen(last_msg) == 699, "message cut at 699, got %zu", strlen(last_msg));

	bw_fmt_clip("ab\x01\xff" "c", 5, out, sizeof out);
	CHECKF(same(out, "ab??c"), "\"%s\"", out);
	bw_fmt_clip("0123456789", 10, out, sizeof out);
	CHECKF(same(out, "0123456"), "\"%s\"", out);
	bw_fmt_clip("", 0, out, sizeof out);
	CHECKF(same(out, ""), "\"%s\"", out);
	bw_fmt_clips(NULL, out, sizeof out);
	CHECKF(same(out, ""), "\"%s\"", out);
	bw_fmt_clips("t\ny", out, sizeof out);
	CHECKF(same(out, "t?y"), "\"%s\"", out);
	test_reads_whole();
	return bw_test_done();
}
