/*
 * fuzz_pickle.c - libFuzzer target of the symbolic pickle machine: detect,
 * scan (with small limits so bounds are exercised) and the disassembly trace,
 * over arbitrary bytes. The sink checks every string it receives is
 * NUL-terminated and readable. Must never crash, hang or leak.
 * Differential: a scan without the trace takes the fast path (fast_run) and
 * one with it the general path for every opcode; both must report the same
 * events in the same order (abort otherwise), unless the memory budget ran
 * out (the fast path keeps small tuples without memory).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/pickle/pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t sink_bytes;
static uint64_t ev_hash; /* FNV-1a over every event of one scan */
static int ev_budget;    /* the scan ran out of its memory budget */

static void mix(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		ev_hash = (ev_hash ^ b[i]) * 0x100000001b3ull;
}

static void touch(const char *s)
{
	if (s != NULL) {
		sink_bytes += strlen(s);
		mix(s, strlen(s) + 1);
	} else {
		mix("\xff", 1);
	}
}

static void f_finding(void *u, const char *rule, uint64_t off, const char *msg)
{
	(void)u;
	mix(&off, sizeof off);
	touch(rule);
	touch(msg);
}

static void f_import(void *u, const char *m, const char *n, const char *om, const char *on,
                     uint64_t off, const char *how)
{
	(void)u;
	mix(&off, sizeof off);
	touch(m);
	touch(n);
	touch(om);
	touch(on);
	touch(how);
}

static void f_call(void *u, const struct bw_fmt_call *c)
{
	(void)u;
	touch(c->module);
	touch(c->name);
	touch(c->args);
	touch(c->how);
	mix(&c->offset, sizeof c->offset);
	if (c->bytes_arg != NULL && c->bytes_arg_len > 0) {
		sink_bytes += c->bytes_arg[0] + c->bytes_arg[c->bytes_arg_len - 1];
		mix(c->bytes_arg, c->bytes_arg_len);
	}
}

static enum bw_err f_member(void *u, const char *name, const uint8_t *d, size_t len, uint64_t off)
{
	(void)u;
	(void)name;
	(void)d;
	(void)len;
	(void)off;
	return BW_OK;
}

static void f_incomplete(void *u, enum bw_err why, uint64_t off, const char *msg)
{
	(void)u;
	mix(&why, sizeof why);
	mix(&off, sizeof off);
	touch(msg);
	if (why == BW_ERR_NOMEM || (msg != NULL && strstr(msg, "budget") != NULL))
		ev_budget = 1;
}

static void f_format(void *u, const char *f)
{
	(void)u;
	touch(f);
}

/* The trace's own callback: read everything, but not part of the compared events. */
static void f_op(void *u, const struct bw_pickle_op *op)
{
	(void)u;
	sink_bytes += strlen(op->name);
	if (op->text != NULL)
		sink_bytes += strlen(op->text);
	if (op->data != NULL && op->data_len > 0)
		sink_bytes += op->data[op->data_len - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_limits lim;
	struct bw_fmt_sink sink;
	struct bw_pickle_trace trace = {NULL, f_op};
	uint64_t fast;
	int fast_budget;

	memset(&lim, 0, sizeof lim);
	lim.max_pickle_ops = 100000;
	lim.max_pickle_stack = 10000;
	lim.max_pickle_memo = 10000;
	lim.max_string = 1 << 20;
	lim.max_nesting = 1000;
	lim.mem_budget = 64u << 20;
	memset(&sink, 0, sizeof sink);
	sink.finding = f_finding;
	sink.import = f_import;
	sink.call = f_call;
	sink.member = f_member;
	sink.incomplete = f_incomplete;
	sink.format = (size & 1) ? f_format : NULL;
	sink.lim = &lim;
	(void)bw_pickle_detect(data, size);
	ev_hash = 0xcbf29ce484222325ull;
	ev_budget = 0;
	if (bw_pickle_scan_trace(data, size, &sink, NULL) != BW_OK)
		return 0;
	fast = ev_hash;
	fast_budget = ev_budget;
	ev_hash = 0xcbf29ce484222325ull;
	ev_budget = 0;
	if (bw_pickle_scan_trace(data, size, &sink, &trace) != BW_OK)
		return 0;
	if (fast != ev_hash && !fast_budget && !ev_budget) {
		fprintf(stderr, "fuzz_pickle: the fast path and the general path disagree\n");
		abort();
	}
	return 0;
}
