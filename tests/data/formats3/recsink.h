/*
 * tests/data/formats3/recsink.h - a recording struct bw_fmt_sink for the
 * formats3 unit tests (safetensors, GGUF, Keras config, ONNX, SavedModel).
 *
 * Records rule ids, imports, calls, members and incomplete reports so tests
 * can assert on them; with BW_REC_VERBOSE set in the environment it also
 * prints them. Members are re-dispatched by content to the formats3 parsers
 * (like the scan engine would), one level deep, so tests see e.g. the Keras
 * findings of a keras_metadata.pb. Test-only: fixed-size tables, no cleanup.
 */
#ifndef BW_TEST_FORMATS3_RECSINK_H
#define BW_TEST_FORMATS3_RECSINK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/scan.h"
#include "core/alloc.h"
#include "formats/fmt.h"
#include "formats/gguf/gguf.h"
#include "formats/keras/keras_config.h"
#include "formats/onnx/onnx_scan.h"
#include "formats/safetensors/safetensors.h"
#include "formats/savedmodel/savedmodel.h"

#define REC_MAX 256

struct rec {
	char rules[REC_MAX][64];
	char msgs[REC_MAX][700];
	size_t n_find;
	char imports[REC_MAX][200];
	size_t n_imp;
	char calls[REC_MAX][200];
	size_t n_call;
	char members[REC_MAX][200];
	size_t member_len[REC_MAX];
	unsigned char member_head[REC_MAX][4];
	size_t n_mem;
	size_t n_incomplete;
	char incomplete_msg[700];
	char format[64];
	int verbose;
	unsigned depth;
};

static void rec_finding(void *u, const char *rule, uint64_t off, const char *msg)
{
	struct rec *r = u;

	(void)off;
	if (r->verbose)
		printf("  finding %s: %s\n", rule, msg);
	if (r->n_find < REC_MAX) {
		snprintf(r->rules[r->n_find], sizeof r->rules[0], "%s", rule);
		snprintf(r->msgs[r->n_find], sizeof r->msgs[0], "%s", msg);
		r->n_find++;
	}
}

static void rec_import(void *u, const char *module, const char *name, const char *om, const char *on,
                       uint64_t off, const char *how)
{
	struct rec *r = u;

	(void)om;
	(void)on;
	(void)off;
	if (r->verbose)
		printf("  import %s.%s (%s)\n", module, name, how);
	if (r->n_imp < REC_MAX)
		snprintf(r->imports[r->n_imp++], sizeof r->imports[0], "%s.%s", module, name);
}

static void rec_call(void *u, const struct bw_fmt_call *c)
{
	struct rec *r = u;

	if (r->verbose)
		printf("  call %s.%s how=%s bytes=%zu\n", c->module, c->name, c->how, c->bytes_arg_len);
	if (r->n_call < REC_MAX)
		snprintf(r->calls[r->n_call++], sizeof r->calls[0], "%s.%s", c->module, c->name);
}

static void rec_incomplete(void *u, enum bw_err why, uint64_t off, const char *msg)
{
	struct rec *r = u;

	if (r->verbose)
		printf("  incomplete %s @%llu: %s\n", bw_err_str(why), (unsigned long long)off, msg);
	r->n_incomplete++;
	snprintf(r->incomplete_msg, sizeof r->incomplete_msg, "%s", msg);
}

static void rec_format(void *u, const char *f)
{
	struct rec *r = u;

	if (r->depth == 0)
		snprintf(r->format, sizeof r->format, "%s", f);
}

static enum bw_err rec_member(void *u, const char *name, const uint8_t *data, size_t len, uint64_t off);

static const struct bw_limits rec_lim_default = {
	(uint64_t)1 << 34, (uint64_t)1 << 34, 200, 8, 10000, 10000000, 100000, 100000, (uint64_t)64 << 20, 256,
	(uint64_t)1 << 30,
};

static inline void rec_sink(struct rec *r, struct bw_fmt_sink *s, const struct bw_limits *lim)
{
	memset(s, 0, sizeof *s);
	s->user = r;
	s->finding = rec_finding;
	s->import = rec_import;
	s->call = rec_call;
	s->member = rec_member;
	s->incomplete = rec_incomplete;
	s->format = rec_format;
	s->lim = lim != NULL ? lim : &rec_lim_default;
	s->depth = r->depth;
}

static enum bw_err rec_member(void *u, const char *name, const uint8_t *data, size_t len, uint64_t off)
{
	struct rec *r = u;
	struct bw_fmt_sink s;
	enum bw_err e = BW_OK;

	(void)off;
	if (r->verbose)
		printf("  member %s (%zu bytes)\n", name, len);
	if (r->n_mem < REC_MAX) {
		snprintf(r->members[r->n_mem], sizeof r->members[0], "%s", name);
		r->member_len[r->n_mem] = len;
		memcpy(r->member_head[r->n_mem], data, len < 4 ? len : 4);
		r->n_mem++;
	}
	if (r->depth >= 2)
		return BW_OK;
	r->depth++;
	rec_sink(r, &s, NULL);
	if (bw_keras_config_detect(data, len) > 0)
		e = bw_keras_config_scan(data, len, &s);
	r->depth--;
	return e;
}

static inline int rec_has(const struct rec *r, const char *rule)
{
	size_t i;

	for (i = 0; i < r->n_find; i++)
		if (strcmp(r->rules[i], rule) == 0)
			return 1;
	return 0;
}

static inline int rec_has_import(const struct rec *r, const char *full)
{
	size_t i;

	for (i = 0; i < r->n_imp; i++)
		if (strcmp(r->imports[i], full) == 0)
			return 1;
	return 0;
}

static inline int rec_msg_has(const struct rec *r, const char *needle)
{
	size_t i;

	for (i = 0; i < r->n_find; i++)
		if (strstr(r->msgs[i], needle) != NULL)
			return 1;
	return 0;
}

/* A pointer the compiler cannot prove non-NULL (CHECK_STR tests for NULL). */
static inline const char *rec_str(const char *p)
{
	return p;
}

/* Read a whole file (test helper); NULL on failure. */
static inline uint8_t *rec_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		b = malloc((size_t)n + 1);
		if (b != NULL && fread(b, 1, (size_t)n, f) != (size_t)n) {
			free(b);
			b = NULL;
		} else if (b != NULL) {
			*len = (size_t)n;
		}
	}
	fclose(f);
	return b;
}

/* Path of a file in tests/data/formats3 (BW_SRC from ctest). */
static inline const char *rec_path(const char *name)
{
	static char buf[4096];
	const char *src = getenv("BW_SRC");

	snprintf(buf, sizeof buf, "%s/tests/data/formats3/%s", src != NULL ? src : ".", name);
	return buf;
}

/*
 * One table row: file, expected rule (NULL: the file must scan clean, no
 * finding and no incomplete), whether an incomplete report is expected.
 */
struct rec_case {
	const char *file;
	const char *rule;
	int incomplete;
};

typedef enum bw_err (*rec_scan_fn)(const uint8_t *, size_t, const struct bw_fmt_sink *);
typedef int (*rec_detect_fn)(const uint8_t *, size_t);

/* Run a table; returns the number of failed rows (details on stderr). */
static inline int rec_run_table(const struct rec_case *t, size_t n, rec_detect_fn det, rec_scan_fn scan,
                         const char *want_format, struct rec *r)
{
	size_t i;
	int bad = 0;

	for (i = 0; i < n; i++) {
		size_t len;
		uint8_t *d = rec_read(rec_path(t[i].file), &len);
		struct bw_fmt_sink s;
		enum bw_err e;
		int ok = 1;

		memset(r, 0, sizeof *r);
		r->verbose = getenv("BW_REC_VERBOSE") != NULL;
		if (r->verbose)
			printf("%s\n", t[i].file);
		if (d == NULL) {
			fprintf(stderr, "cannot read %s\n", rec_path(t[i].file));
			bad++;
			continue;
		}
		rec_sink(r, &s, NULL);
		if (det != NULL && det(d, len) < 50) {
			fprintf(stderr, "%s: detect gave %d\n", t[i].file, det(d, len));
			ok = 0;
		}
		e = scan(d, len, &s);
		if (e != BW_OK)
			ok = 0;
		if (want_format != NULL && strcmp(r->format, want_format) != 0)
			ok = 0;
		/* rule NULL: no finding; incomplete only when the row says so (a cut file) */
		if (t[i].rule == NULL && (r->n_find != 0 || (r->n_incomplete != 0) != (t[i].incomplete != 0)))
			ok = 0;
		if (t[i].rule != NULL && !rec_has(r, t[i].rule))
			ok = 0;
		if (t[i].rule != NULL && !t[i].incomplete && r->n_incomplete != 0)
			ok = 0;
		if (t[i].incomplete && r->n_incomplete == 0)
			ok = 0;
		if (!ok) {
			fprintf(stderr, "%s: expected %s%s; got %zu findings (first %s: %s), %zu incomplete (%s), err %s, format %s\n",
			        t[i].file, t[i].rule ? t[i].rule : "clean", t[i].incomplete ? " + incomplete" : "",
			        r->n_find, r->n_find ? r->rules[0] : "-", r->n_find ? r->msgs[0] : "-",
			        r->n_incomplete, r->incomplete_msg, bw_err_str(e), r->format);
			bad++;
		}
		free(d);
	}
	return bad;
}

/*
 * Allocation-failure sweep: scan the file with the k-th allocation (and all
 * after it) failing, for every k up to the number a clean scan makes. Each
 * run must return BW_OK or BW_ERR_NOMEM (ASan checks nothing leaks).
 * Returns the number of bad runs.
 */
static inline int rec_alloc_sweep(const char *file, rec_scan_fn scan, struct rec *r)
{
	size_t len;
	uint8_t *d = rec_read(rec_path(file), &len);
	struct bw_fmt_sink s;
	uint64_t n, k;
	int bad = 0;

	if (d == NULL)
		return 1;
	memset(r, 0, sizeof *r);
	rec_sink(r, &s, NULL);
	(void)bw_alloc_fail_after(0);
	if (scan(d, len, &s) != BW_OK)
		bad++;
	n = bw_alloc_fail_after(0);
	for (k = 1; k <= n + 1; k++) {
		enum bw_err e;

		memset(r, 0, sizeof *r);
		(void)bw_alloc_fail_after(k);
		e = scan(d, len, &s);
		(void)bw_alloc_fail_after(0);
		if (e != BW_OK && e != BW_ERR_NOMEM) {
			fprintf(stderr, "%s: allocation %llu failing gave %s\n", file, (unsigned long long)k, bw_err_str(e));
			bad++;
		}
	}
	free(d);
	return bad;
}

#endif
