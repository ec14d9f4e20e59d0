/*
 * fuzz_container_sink.h - the sink shared by the container fuzz targets
 * (fuzz_zip.c, fuzz_tar.c, fuzz_compress.c, fuzz_npy.c, fuzz_archive.c):
 * small limits, callbacks that read what they are given and keep nothing.
 */
#ifndef BW_FUZZ_CONTAINER_SINK_H
#define BW_FUZZ_CONTAINER_SINK_H

#include <string.h>

#include "core/alloc.h"
#include "formats/fmt.h"

static volatile uint8_t fz_sink_sum;

static void fz_touch(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	fz_sink_sum = s;
}

static void fz_finding(void *u, const char *rule, uint64_t off, const char *msg)
{
	(void)u;
	(void)off;
	fz_touch((const uint8_t *)rule, strlen(rule));
	fz_touch((const uint8_t *)msg, strlen(msg));
}

static void fz_incomplete(void *u, enum bw_err why, uint64_t off, const char *msg)
{
	(void)u;
	(void)why;
	(void)off;
	fz_touch((const uint8_t *)msg, strlen(msg));
}

static enum bw_err fz_member(void *u, const char *name, const uint8_t *data, size_t len, uint64_t off)
{
	(void)u;
	(void)off;
	fz_touch((const uint8_t *)name, strlen(name));
	fz_touch(data, len);
	return BW_OK;
}

static void fz_format(void *u, const char *f)
{
	(void)u;
	fz_touch((const uint8_t *)f, strlen(f));
}

static void fz_sink(struct bw_fmt_sink *s, struct bw_limits *lim)
{
	memset(lim, 0, sizeof *lim);
	lim->max_file_size = 1u << 24;
	lim->max_total_unpacked = 4u << 20;
	lim->max_ratio = 100;
	lim->max_depth = 4;
	lim->max_members = 256;
	lim->mem_budget = 8u << 20;
	memset(s, 0, sizeof *s);
	s->finding = fz_finding;
	s->incomplete = fz_incomplete;
	s->member = fz_member;
	s->format = fz_format;
	s->lim = lim;
}

#endif
