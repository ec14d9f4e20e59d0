/*
 * fuzz_keras.c - libFuzzer target for the Keras configuration checks.
 * A sink that discards everything: the target checks memory safety, bounded
 * time and that the parser never fails except for memory.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "formats/keras/keras_config.h"

static void f_finding(void *u, const char *rule, uint64_t off, const char *msg)
{
	(void)u;
	(void)off;
	/* touch the strings so sanitizers see bad pointers */
	(void)strlen(rule);
	(void)strlen(msg);
}

static void f_import(void *u, const char *m, const char *n, const char *om, const char *on, uint64_t off,
                     const char *how)
{
	(void)u;
	(void)off;
	(void)strlen(m);
	(void)strlen(n);
	(void)strlen(om);
	(void)strlen(on);
	(void)strlen(how);
}

static void f_call(void *u, const struct bw_fmt_call *c)
{
	(void)u;
	(void)strlen(c->module);
	(void)strlen(c->name);
	if (c->bytes_arg_len > 0)
		(void)c->bytes_arg[c->bytes_arg_len - 1];
}

static enum bw_err f_member(void *u, const char *name, const uint8_t *d, size_t len, uint64_t off)
{
	(void)u;
	(void)off;
	(void)strlen(name);
	if (len > 0)
		(void)d[len - 1];
	return BW_OK;
}

static void f_incomplete(void *u, enum bw_err why, uint64_t off, const char *msg)
{
	(void)u;
	(void)why;
	(void)off;
	(void)strlen(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct bw_limits lim = {
		(uint64_t)1 << 32, (uint64_t)1 << 32, 200, 8, 10000, 1000000, 100000, 100000, (uint64_t)1 << 24, 64,
		(uint64_t)1 << 28,
	};
	struct bw_fmt_sink s;


	memset(&s, 0, sizeof s);
	s.finding = f_finding;
	s.import = f_import;
	s.call = f_call;
	s.member = f_member;
	s.incomplete = f_incomplete;
	s.lim = &lim;
	(void)bw_keras_config_detect(data, size);
	(void)bw_keras_config_scan(data, size, &s);
	return 0;
}
