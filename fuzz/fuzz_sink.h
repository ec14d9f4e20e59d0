/*
 * fuzz/fuzz_sink.h - a sink that discards everything, for the fuzz targets of
 * single format parsers. It touches every string and the last byte of every
 * buffer it is given, so sanitizers see bad pointers and lengths. Include it
 * in exactly one translation unit (each fuzz target is one file).
 */
#ifndef BW_FUZZ_SINK_H
#define BW_FUZZ_SINK_H

#include <string.h>

#include "formats/fmt.h"

static void fz_finding(void *u, const char *rule, uint64_t off, const char *msg)
{
	(void)u;
	(void)off;
	(void)strlen(rule);
	(void)strlen(msg);
}

static void fz_import(void *u, const char *m, const char *n, const char *om, const char *on,
                      uint64_t off, const char *how)
{
	(void)u;
	(void)off;
	(void)strlen(m);
	(void)strlen(n);
	(void)strlen(om);
	(void)strlen(on);
	(void)strlen(how);
}

static void fz_call(void *u, const struct bw_fmt_call *c)
{
	(void)u;
	(void)strlen(c->module);
	(void)strlen(c->name);
	if (c->args != NULL)
		(void)strlen(c->args);
	if (c->bytes_arg_len > 0)
		(void)c->bytes_arg[c->bytes_arg_len - 1];
}

static enum bw_err fz_member(void *u, const char *name, const uint8_t *d, size_t len, uint64_t off)
{
	(void)u;
	(void)off;
	(void)strlen(name);
	if (len > 0)
		(void)d[len - 1];
	return BW_OK;
}

static void fz_incomplete(void *u, enum bw_err why, uint64_t off, const char *msg)
{
	(void)u;
	(void)why;
	(void)off;
	(void)strlen(msg);
}

static void fz_format(void *u, const char *f)
{
	(void)u;
	(void)strlen(f);
}

/* Detect and scan data with small limits that keep every input fast. */
static inline void fz_run(int (*detect)(const uint8_t *, size_t),
                          enum bw_err (*scan)(const uint8_t *, size_t, const struct bw_fmt_sink *),
                          const uint8_t *data, size_t size)
{
	static const struct bw_limits lim = {
		(uint64_t)1 << 32, (uint64_t)1 << 32, 200, 8, 10000, 1000000, 100000, 100000,
		(uint64_t)1 << 24, 64, (uint64_t)1 << 28,
	};
	struct bw_fmt_sink s;
	int score;

	memset(&s, 0, sizeof s);
	s.finding = fz_finding;
	s.import = fz_import;
	s.call = fz_call;
	s.member = fz_member;
	s.incomplete = fz_incomplete;
	s.format = fz_format;
	s.lim = &lim;
	score = detect(data, size);
	(void)score;
	(void)scan(data, size, &s);
}

#endif
