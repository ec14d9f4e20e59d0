/*
 * test_zip_sink.h - recording sink and a miniature scan engine shared by the
 * container unit tests (test_zip.c, test_tar.c, test_compress.c, test_npy.c,
 * test_archive.c). The mini engine dispatches members by content to the
 * container parsers only, with depth + 1, like src/scan does with all formats.
 */
#ifndef BW_TEST_ZIP_SINK_H
#define BW_TEST_ZIP_SINK_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/archive/archive_fmt.h"
#include "formats/compress/compress.h"
#include "formats/npy/npy.h"
#include "formats/tar/tar.h"
#include "formats/zip/zip.h"
#include "harness.h"

#define REC_MAX 256

struct rec {
	char finding[REC_MAX][64];
	uint64_t finding_off[REC_MAX];
	int n_finding;
	enum bw_err inc_why[REC_MAX];
	uint64_t inc_off[REC_MAX];
	int n_inc;
	char member[REC_MAX][320];
	size_t member_len[REC_MAX];
	uint8_t member_head[REC_MAX][16];
	int n_member;
	char format[REC_MAX][32];
	int n_format;
	struct bw_limits lim;
	int recurse;
};

struct rec_ctx {
	struct rec *r;
	char prefix[256];
	unsigned depth;
};

static void rec_limits(struct bw_limits *l)
{
	memset(l, 0, sizeof *l);
	l->max_file_size = (uint64_t)1 << 32;
	l->max_total_unpacked = (uint64_t)64 << 20;
	l->max_ratio = 100;
	l->max_depth = 8;
	l->max_members = 1000;
	l->mem_budget = (uint64_t)64 << 20;
}

static void rec_init(struct rec *r, int recurse)
{
	memset(r, 0, sizeof *r);
	rec_limits(&r->lim);
	r->recurse = recurse;
}

static void r_finding(void *u, const char *rule, uint64_t off, const char *msg)
{
	struct rec *r = ((struct rec_ctx *)u)->r;

	if (getenv("REC_VERBOSE"))
		fprintf(stderr, "  finding %s @%llu: %s\n", rule, (unsigned long long)off, msg);
	if (r->n_finding < REC_MAX) {
		snprintf(r->finding[r->n_finding], 64, "%s", rule);
		r->finding_off[r->n_finding++] = off;
	}
}

static void r_incomplete(void *u, enum bw_err why, uint64_t off, const char *msg)
{
	struct rec *r = ((struct rec_ctx *)u)->r;

	if (getenv("REC_VERBOSE"))
		fprintf(stderr, "  incomplete %s @%llu: %s\n", bw_err_str(why), (unsigned long long)off, msg);
	if (r->n_inc < REC_MAX) {
		r->inc_why[r->n_inc] = why;
		r->inc_off[r->n_inc++] = off;
	}
}

static void r_format(void *u, const char *f)
{
	struct rec *r = ((struct rec_ctx *)u)->r;

	if (r->n_format < REC_MAX)
		snprintf(r->format[r->n_format++], 32, "%s", f);
}

static enum bw_err rec_scan(struct rec *r, const char *prefix, unsigned depth, const uint8_t *d,
                            size_t n);

static enum bw_err r_member(void *u, const char *name, const uint8_t *data, size_t len, uint64_t off)
{
	struct rec_ctx *c = u;
	struct rec *r = c->r;
	char path[320];

	(void)off;
	snprintf(path, sizeof path, "%s%s", c->prefix, name);
	if (getenv("REC_VERBOSE"))
		fprintf(stderr, "  member %s (%zu bytes)\n", path, len);
	if (r->n_member < REC_MAX) {
		snprintf(r->member[r->n_member], 320, "%s", path);
		r->member_len[r->n_member] = len;
		memcpy(r->member_head[r->n_member], data, len < 16 ? len : 16);
		r->n_member++;
	}
	if (r->recurse && c->depth + 1 < r->lim.max_depth) {
		char p2[256];

		snprintf(p2, sizeof p2, "%.200s/", path);
		return rec_scan(r, p2, c->depth + 1, data, len);
	}
	return BW_OK;
}

/* Dispatch by content among the container formats, as the scan engine does. */
static enum bw_err rec_scan(struct rec *r, const char *prefix, unsigned depth, const uint8_t *d,
                            size_t n)
{
	struct rec_ctx c;
	struct bw_fmt_sink s;
	int best = 0, k, i;
	static int (*const det[])(const uint8_t *, size_t) = {bw_zip_detect, bw_tar_detect,
	                                                     bw_compress_detect, bw_npy_detect,
	                                                     bw_archive_detect};
	static enum bw_err (*const scan[])(const uint8_t *, size_t, const struct bw_fmt_sink *) = {
		bw_zip_scan, bw_tar_scan, bw_compress_scan, bw_npy_scan, bw_archive_scan};

	c.r = r;
	snprintf(c.prefix, sizeof c.prefix, "%s", prefix);
	c.depth = depth;
	s.user = &c;
	s.finding = r_finding;
	s.import = NULL;
	s.call = NULL;
	s.member = r_member;
	s.incomplete = r_incomplete;
	s.format = r_format;
	s.lim = &r->lim;
	s.depth = depth;
	k = -1;
	for (i = 0; i < 5; i++) {
		int v = det[i](d, n);

		if (v > best) {
			best = v;
			k = i;
		}
	}
	if (k < 0)
		return BW_OK;
	return scan[k](d, n, &s);
}

/* Scan with one named parser at depth 0. */
static inline enum bw_err rec_run(struct rec *r, enum bw_err (*scan)(const uint8_t *, size_t,
                                                             const struct bw_fmt_sink *),
                           const uint8_t *d, size_t n)
{
	static struct rec_ctx c;
	struct bw_fmt_sink s;

	c.r = r;
	c.prefix[0] = 0;
	c.depth = 0;
	s.user = &c;
	s.finding = r_finding;
	s.import = NULL;
	s.call = NULL;
	s.member = r_member;
	s.incomplete = r_incomplete;
	s.format = r_format;
	s.lim = &r->lim;
	s.depth = 0;
	return scan(d, n, &s);
}

static inline int rec_has_finding(const struct rec *r, const char *rule)
{
	int i;

	for (i = 0; i < r->n_finding; i++)
		if (strcmp(r->finding[i], rule) == 0)
			return 1;
	return 0;
}

static inline int rec_member(const struct rec *r, const char *name)
{
	int i;

	for (i = 0; i < r->n_member; i++)
		if (strcmp(r->member[i], name) == 0)
			return i;
	return -1;
}

static inline int rec_has_format(const struct rec *r, const char *f)
{
	int i;

	for (i = 0; i < r->n_format; i++)
		if (strcmp(r->format[i], f) == 0)
			return 1;
	return 0;
}

static inline int rec_has_inc(const struct rec *r, enum bw_err why)
{
	int i;

	for (i = 0; i < r->n_inc; i++)
		if (r->inc_why[i] == why)
			return 1;
	return 0;
}

/* Read tests/data/containers/NAME (BW_SRC set by ctest); exits loudly if absent. */
static inline uint8_t *rec_load(const char *name, size_t *len)
{
	const char *src = getenv("BW_SRC");
	char path[4096];
	FILE *f;
	uint8_t *buf;
	long n;

	snprintf(path, sizeof path, "%s/tests/data/containers/%s", src ? src : ".", name);
	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "*** test file %s is missing (BW_SRC=%s) ***\n", path, src ? src : "unset");
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* A table row: file, expected rule (or NULL), expected member (or NULL), incomplete reason (or BW_OK). */
struct row {
	const char *file;
	const char *finding;
	const char *member;
	enum bw_err incomplete;
	const char *format;
};

static inline void run_rows(const struct row *rows, size_t n,
                     enum bw_err (*scan)(const uint8_t *, size_t, const struct bw_fmt_sink *),
                     int (*detect)(const uint8_t *, size_t), int min_detect)
{
	size_t i;

	for (i = 0; i < n; i++) {
		static struct rec r;
		size_t len;
		uint8_t *d = rec_load(rows[i].file, &len);
		enum bw_err e;

		rec_init(&r, 0);
		if (getenv("REC_VERBOSE"))
			fprintf(stderr, "%s:\n", rows[i].file);
		CHECKF(detect(d, len) >= min_detect, "%s: detect %d", rows[i].file, detect(d, len));
		e = rec_run(&r, scan, d, len);
		CHECKF(e == BW_OK, "%s: scan returned %s", rows[i].file, bw_err_str(e));
		if (rows[i].finding != NULL)
			CHECKF(rec_has_finding(&r, rows[i].finding), "%s: expected finding %s", rows[i].file,
			       rows[i].finding);
		else
			CHECKF(r.n_finding == 0, "%s: unexpected finding %s", rows[i].file, r.finding[0]);
		if (rows[i].member != NULL)
			CHECKF(rec_member(&r, rows[i].member) >= 0, "%s: expected member %s", rows[i].file,
			       rows[i].member);
		if (rows[i].incomplete != BW_OK)
			CHECKF(rec_has_inc(&r, rows[i].incomplete), "%s: expected incomplete %s", rows[i].file,
			       bw_err_str(rows[i].incomplete));
		else
			CHECKF(r.n_inc == 0, "%s: unexpected incomplete (%d)", rows[i].file, r.n_inc);
		if (rows[i].format != NULL)
			CHECKF(rec_has_format(&r, rows[i].format), "%s: expected format %s", rows[i].file,
			       rows[i].format);
		free(d);
	}
}

#endif
