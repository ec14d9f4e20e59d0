/*
 * tests/harness.h - minimal test harness shared by every unit test executable.
 * CHECK records a failure and continues; the executable prints
 * "N passed, N failed" and exits non-zero on any failure.
 * Tests that need ../shared/testdata call bw_test_testdata(), which fails
 * loudly (never skips silently) when it is absent.
 */
#ifndef BW_TEST_HARNESS_H
#define BW_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bw_t_pass, bw_t_fail;

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (cond) {                                                          \
			bw_t_pass++;                                                 \
		} else {                                                             \
			bw_t_fail++;                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                    \
	} while (0)

#define CHECKF(cond, ...)                                                            \
	do {                                                                         \
		if (cond) {                                                          \
			bw_t_pass++;                                                 \
		} else {                                                             \
			bw_t_fail++;                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                \
			fputc('\n', stderr);                                         \
		}                                                                    \
	} while (0)

#define CHECK_EQ_INT(a, b) CHECKF((long long)(a) == (long long)(b), "%lld != %lld", (long long)(a), (long long)(b))
#define CHECK_STR(a, b) CHECKF((a) != NULL && strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a) ? (a) : "(null)", (b))

static inline int bw_test_done(void)
{
	printf("%d passed, %d failed\n", bw_t_pass, bw_t_fail);
	return bw_t_fail == 0 && bw_t_pass > 0 ? 0 : 1;
}

/* Path of ../shared/testdata; exits with failure (not skip) when absent. */
static inline const char *bw_test_testdata(void)
{
	const char *d = getenv("BW_TESTDATA");
	static char buf[4096];
	FILE *f;

	if (d == NULL) {
		fprintf(stderr, "BW_TESTDATA is not set (run through ctest)\n");
		exit(1);
	}
	snprintf(buf, sizeof buf, "%s/corpus/MANIFEST.txt", d);
	f = fopen(buf, "r");
	if (f == NULL) {
		fprintf(stderr, "*** ../shared/testdata is ABSENT at %s: these tests cannot run ***\n", d);
		exit(1);
	}
	fclose(f);
	return d;
}

#endif
