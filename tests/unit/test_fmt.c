/*
 * test_fmt.c - the helpers of formats/fmt.c: findings are formatted and cut,
 * clipped copies are printable, NUL-terminated and bounded.
 */
#include <string.h>

#include "harness.h"
#include "formats/fmt.h"

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
	return bw_test_done();
}
