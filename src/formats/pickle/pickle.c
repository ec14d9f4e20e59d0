/*
 * pickle.c - the symbolic pickle machine: decodes pickle streams (protocols
 * 0-5) the way CPython's C unpickler (Modules/_pickle.c, 3.11) does and
 * reports, through the format sink, every import (GLOBAL, STACK_GLOBAL, INST,
 * EXT*) and every call (REDUCE, INST, OBJ, NEWOBJ, NEWOBJ_EX, BUILD, ...) the
 * loader would make, with constant arguments where known. Also recognises
 * concatenated streams, PyTorch's legacy (non-zip) format and joblib files
 * (raw array bytes inside the stream).
 *
 * Values are symbolic (pk_value.c); the stack, the mark stack and the memo
 * are bounded by sink->lim; everything lives in one arena per scan.
 * Must not: execute, import or evaluate anything; recurse on input depth
 * (the only nesting is one joblib object-array sub-stream); trust a length
 * before checking it against the bytes present and the limits.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/reader.h"
#include "formats/pickle/pickle.h"
#include "formats/pickle/pk_internal.h"
#include "formats/pickle/pk_text.h"

/* Fallbacks when a limit is 0 (docs/pickle.md "Bounds"). */
#define PK_DEF_OPS 50000000u
#define PK_DEF_STACK 1000000u
#define PK_DEF_MEMO 1000000u
#define PK_DEF_STRING (256u << 20)
#define PK_DEF_NESTING 10000u
#define PK_DEF_MEM (512u << 20)

/* detect(): trial decode bounds */
#define PK_DETECT_BYTES (64u << 10)
#define PK_DETECT_OPS 10000u

#define PK_REPR_CAP 400

/* Findings reported at most once per stream (bit per id). */
enum pk_once {
	ONCE_FRAME = 1u << 0,
	ONCE_MEMO_REDEF = 1u << 1,
	ONCE_PROTO = 1u << 2,
	ONCE_OPPROTO = 1u << 3,
	ONCE_DIFF = 1u << 4,
	ONCE_PERSID = 1u << 5,
	ONCE_BUFFER = 1u << 6,
	ONCE_DOTTED = 1u << 7,
	ONCE_EXT = 1u << 8,
	ONCE_DYNAMIC = 1u << 9,
};

/* Per scan. */
struct memo_ent {
	uint64_t key;
	pk_ref v;
	int used;
};

struct pk_ctx {
	const struct bw_fmt_sink *sink; /* NULL in detect mode */
	const struct bw_pickle_trace *trace;
	struct bw_arena arena;
	const uint8_t *data;
	size_t len;
	uint64_t max_ops, max_string;
	uint32_t max_stack, max_memo, max_nesting;
	unsigned stream;
	int detect;          /* trial decode: stop at the first import */
	int joblib;          /* format("joblib") reported */
	int plain;           /* second pass over a joblib stream as plain pickle.load reads it */
	const char **seen;   /* "module\nname" of every import reported (for the plain pass) */
	size_t n_seen, cap_seen;
	int nomem;           /* an allocation outside the budget failed */
	/*
	 * Stack, mark and memo buffers reused from one stream to the next. They are
	 * heap blocks outside the arena (growth is a realloc, not a copy into fresh
	 * pages); heap_bytes counts them against the arena's budget.
	 */
	size_t heap_bytes;
	uint8_t *slab;       /* tuples: bump allocation inside 64 KiB arena blocks */
	size_t slab_left;
	pk_ref *stk;
	size_t stk_cap;
	size_t *mk;
	size_t mk_cap;
	struct memo_ent *memo;
	size_t memo_cap;
	pk_ref *dense;
	size_t dense_cap;
};


/* Per stream (one Unpickler.load()). */
struct pk_run {
	struct pk_ctx *c;
	struct bw_reader rd;
	unsigned proto;      /* as set by PROTO (C unpickler starts at 0) */
	unsigned n_proto;
	pk_ref *stack;
	size_t sp, scap;
	size_t *marks;
	size_t n_marks, mcap;
	struct memo_ent *memo;
	size_t memo_n, memo_cap;  /* memo_n: distinct keys (C memo_len); memo_cap: hash slots */
	size_t hash_n;           /* keys in the hash part */
	pk_ref *dense;           /* keys 0..dense_cap-1 (the usual sequential memo) */
	size_t dense_cap;
	size_t dense_n;          /* dense[0..dense_n-1] initialised; keys above are unset */
	uint64_t n_ops;
	uint64_t frame_end;  /* absolute end of the current frame (pickle.py view), 0 none */
	uint64_t frame_overrun; /* offset+1 of a FRAME longer than the data, 0 none (see OP_FRAME) */
	unsigned once;
	int nested;          /* joblib object-array sub-stream */
	unsigned joblib_skips; /* raw array regions skipped in this stream */
	int hit_import;      /* detect mode: reached the first import */
	pk_ref result;
	/* the first failure */
	enum bw_err err;
	uint64_t err_off;
	const char *rule;    /* finding id for limit failures, else NULL */
	char why[240];
	uint64_t op_off;     /* offset of the opcode being executed */
};

/* ---------------------------------------------------------------- helpers */

static void fail(struct pk_run *r, enum bw_err e, const char *rule, const char *fmt, ...)
	BW_PRINTF(4, 5);

static void fail(struct pk_run *r, enum bw_err e, const char *rule, const char *fmt, ...)
{
	va_list ap;

	if (r->err != BW_OK)
		return;
	r->err = e;
	r->err_off = r->op_off;
	r->rule = rule;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof r->why, fmt, ap);
	va_end(ap);
}

/*
 * An arena allocation failed: over the scan's budget (a finding + incomplete
 * LIMIT) or a real allocation failure (the scan returns BW_ERR_NOMEM).
 */
static void mem_fail(struct pk_run *r)
{
	if (r->c->arena.over_budget) {
		fail(r, BW_ERR_LIMIT, "pickle.limit-memory",
		     "memory budget of the scan exhausted (%zu bytes)", r->c->arena.budget);
	} else {
		r->c->nomem = 1;
		fail(r, BW_ERR_NOMEM, NULL, "out of memory");
	}
}

static void finding(struct pk_run *r, const char *rule, uint64_t off, const char *fmt, ...)
	BW_PRINTF(4, 5);

static void finding(struct pk_run *r, const char *rule, uint64_t off, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	if (r->c->sink == NULL || r->c->plain)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->c->sink->finding(r->c->sink->user, rule, off, msg);
}

static int once(struct pk_run *r, unsigned bit)
{
	if (r->once & bit)
		return 0;
	r->once |= bit;
	return 1;
}

static void *alloc(struct pk_run *r, size_t n)
{
	void *p = bw_arena_alloc(&r->c->arena, n);

	if (p == NULL)
		mem_fail(r);
	return p;
}

static struct pk_val *newval(struct pk_run *r, enum pk_kind k)
{
	struct pk_val *v = pk_val_new(&r->c->arena, k);

	if (v == NULL)
		mem_fail(r);
	return v;
}

static char *cstr(struct pk_run *r, const uint8_t *s, size_t n)
{
	char *p = alloc(r, n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/*
 * Grow the heap buffer *pp of *cap elements of size sz to at least need
 * elements (doubling from min_cap), within the scan's memory budget (arena
 * plus these buffers). The new elements are not initialised. 0 ok, -1 with
 * r->err set (pickle.limit-memory or out of memory).
 */
static int grow_buf(struct pk_run *r, void **pp, size_t *cap, size_t need, size_t sz, size_t min_cap)
{
	struct pk_ctx *c = r->c;
	size_t ncap = *cap ? *cap : min_cap, nbytes, obytes = *cap * sz, total;
	void *np;

	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			mem_fail(r);
			return -1;
		}
		ncap *= 2;
	}
	if (__builtin_mul_overflow(ncap, sz, &nbytes) ||
	    __builtin_add_overflow(c->arena.used, c->heap_bytes - obytes + nbytes, &total) ||
	    (c->arena.budget != 0 && total > c->arena.budget)) {
		c->arena.over_budget = 1;
		mem_fail(r);
		return -1;
	}
	np = bw_reallocarray(*pp, ncap, sz);
	if (np == NULL) {
		mem_fail(r);
		return -1;
	}
	c->heap_bytes += nbytes - obytes;
	*pp = np;
	*cap = ncap;
	return 0;
}

/* Free a buffer of grow_buf. */
static void drop_buf(struct pk_ctx *c, void **pp, size_t *cap, size_t sz)
{
	bw_free(*pp);
	c->heap_bytes -= *cap * sz;
	*pp = NULL;
	*cap = 0;
}

/*
 * The heap node of x, allocating one for a value encoded inline (scalars
 * and tuples are immutable, so a copy is the same value). NULL for no value
 * or on budget (r->err set).
 */
static pk_ref tuple_of(struct pk_run *r, const pk_ref *v, size_t k);

static struct pk_val *val_of(struct pk_run *r, pk_ref x)
{
	struct pk_tmp tmp;
	struct pk_val *v;
	const struct pk_val *t;

	if (pk_ref_tag(x) == PK_T_PTR)
		return (struct pk_val *)(uintptr_t)x;
	if (pk_ref_tag(x) == PK_T_LAZY) {
		/* the node keeps its items: give them memory of their own first */
		pk_ref items[3];
		size_t k = pk_lazy_items(x, items);

		x = tuple_of(r, items, k);
		if (x == 0)
			return NULL;
	}
	t = pk_ref_val(x, &tmp);
	v = newval(r, t->kind);
	if (v != NULL)
		*v = *t;
	return v;
}

#define PK_SLAB ((size_t)64 << 10)

/*
 * 8-aligned memory for a tuple: small ones are cut from a 64 KiB arena block
 * (no allocator call per tuple of a pickle that holds millions), big ones
 * come from the arena directly. NULL with r->err set on budget.
 */
static void *tuple_mem(struct pk_run *r, size_t bytes)
{
	struct pk_ctx *c = r->c;
	void *p;

	bytes = (bytes + 7) & ~(size_t)7;
	if (bytes > c->slab_left) {
		if (bytes > PK_SLAB / 16) {
			p = bw_arena_alloc_uninit(&c->arena, bytes);
			if (p == NULL)
				mem_fail(r);
			return p;
		}
		/* not zeroed: tuple_of writes every word it hands out */
		c->slab = bw_arena_alloc_uninit(&c->arena, PK_SLAB);
		if (c->slab == NULL) {
			c->slab_left = 0;
			mem_fail(r);
			return NULL;
		}
		c->slab_left = PK_SLAB;
	}
	p = c->slab;
	c->slab += bytes;
	c->slab_left -= bytes;
	return p;
}

/* A tuple of the k refs at v (one allocation), as a ref; 0 on budget. */
static pk_ref tuple_of(struct pk_run *r, const pk_ref *v, size_t k)
{
	struct pk_tup *t;
	size_t bytes;

	if (__builtin_mul_overflow(k, sizeof *v, &bytes) ||
	    __builtin_add_overflow(bytes, sizeof *t, &bytes)) {
		mem_fail(r);
		return 0;
	}
	t = tuple_mem(r, bytes);
	if (t == NULL)
		return 0;
	t->n = k;
	if (k <= 3) {
		/* TUPLE1..3: no library call */
		for (bytes = 0; bytes < k; bytes++)
			t->items[bytes] = v[bytes];
	} else {
		memcpy(t->items, v, k * sizeof *v);
	}
	return (pk_ref)(uintptr_t)t | PK_T_TUPLE;
}

/* () - CPython's empty tuple is a singleton too. */
static const struct pk_tup pk_empty_tuple;

/* ------------------------------------------------------------ the stacks */

static size_t fence(const struct pk_run *r)
{
	return r->n_marks > 0 ? r->marks[r->n_marks - 1] : 0;
}

static void push_slow(struct pk_run *r, pk_ref v)
{
	if (r->err != BW_OK || v == 0)
		return;
	if ((uint64_t)r->sp + r->n_marks >= r->c->max_stack) {
		fail(r, BW_ERR_LIMIT, "pickle.limit-stack", "stack + mark stack exceed %u entries",
		     r->c->max_stack);
		return;
	}
	if (r->sp == r->scap && grow_buf(r, (void **)&r->stack, &r->scap, r->sp + 1, sizeof *r->stack, 64) != 0)
		return;
	r->stack[r->sp++] = v;
}

/* push_slow() with its common case inline (room, no error, within max_stack). */
static inline void push(struct pk_run *r, pk_ref v)
{
	if (__builtin_expect(r->err == BW_OK && v != 0 && r->sp < r->scap &&
	                     (uint64_t)r->sp + r->n_marks < r->c->max_stack, 1)) {
		r->stack[r->sp++] = v;
		return;
	}
	push_slow(r, v);
}

static void push_v(struct pk_run *r, struct pk_val *v)
{
	push(r, pk_ref_of(v));
}

static void underflow(struct pk_run *r)
{
	fail(r, BW_ERR_MALFORMED, NULL, "%s",
	     r->n_marks > 0 ? "could not find MARK" : "unpickling stack underflow");
}

/* Pop the top value above the current mark (C: Pdata_pop); 0 on error. */
static pk_ref pop(struct pk_run *r)
{
	if (r->err != BW_OK)
		return 0;
	if (r->sp <= fence(r)) {
		underflow(r);
		return 0;
	}
	return r->stack[--r->sp];
}

static pk_ref top(struct pk_run *r)
{
	if (r->err != BW_OK)
		return 0;
	if (r->sp <= fence(r)) {
		underflow(r);
		return 0;
	}
	return r->stack[r->sp - 1];
}

/* pop() as a heap node (for the calls, imports and BUILD). */
static struct pk_val *pop_v(struct pk_run *r)
{
	pk_ref x = pop(r);

	return x != 0 ? val_of(r, x) : NULL;
}

static void push_mark(struct pk_run *r)
{
	if (r->n_marks >= r->c->max_nesting) {
		fail(r, BW_ERR_LIMIT, "pickle.limit-nesting", "more than %u nested marks",
		     r->c->max_nesting);
		return;
	}
	if ((uint64_t)r->sp + r->n_marks >= r->c->max_stack) {
		fail(r, BW_ERR_LIMIT, "pickle.limit-stack", "stack + mark stack exceed %u entries",
		     r->c->max_stack);
		return;
	}
	if (r->n_marks == r->mcap &&
	    grow_buf(r, (void **)&r->marks, &r->mcap, r->n_marks + 1, sizeof *r->marks, 16) != 0)
		return;
	r->marks[r->n_marks++] = r->sp;
}

/* Pop the topmost mark; returns the stack index of the first item above it or -1. */
static long pop_mark(struct pk_run *r)
{
	if (r->err != BW_OK)
		return -1;
	if (r->n_marks == 0) {
		fail(r, BW_ERR_MALFORMED, NULL, "could not find MARK");
		return -1;
	}
	return (long)r->marks[--r->n_marks];
}

/* Items from index k to the top, as a new container of kind; stack cut to k. 0 on error. */
static pk_ref pop_items(struct pk_run *r, size_t k, enum pk_kind kind)
{
	struct pk_val *t;
	pk_ref x;

	if (k > r->sp) {
		/* C: a SETITEM reached below this mark (Pdata_poptuple with a negative length) */
		fail(r, BW_ERR_MALFORMED, NULL, "the stack shrank below a MARK");
		return 0;
	}
	if (kind == PK_TUPLE) {
		/* no arithmetic on the stack before its first push (NULL) */
		x = tuple_of(r, r->sp > k ? r->stack + k : NULL, r->sp - k);
		if (x != 0)
			r->sp = k;
		return x;
	}
	t = newval(r, kind);
	if (t == NULL)
		return 0;
	if (r->sp > k && pk_val_extend(&r->c->arena, t, r->stack + k, r->sp - k) != 0) {
		mem_fail(r);
		return 0;
	}
	r->sp = k;
	return pk_ref_of(t);
}

/* pop_items() as a heap node. */
static struct pk_val *pop_items_v(struct pk_run *r, size_t k, enum pk_kind kind)
{
	pk_ref x = pop_items(r, k, kind);

	return x != 0 ? val_of(r, x) : NULL;
}

/* ------------------------------------------------------------------ memo */

static struct memo_ent *memo_find(struct pk_run *r, uint64_t key)
{
	size_t i;

	if (r->memo_cap == 0)
		return NULL;
	i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (r->memo_cap - 1);
	while (r->memo[i].used) {
		if (r->memo[i].key == key)
			return &r->memo[i];
		i = (i + 1) & (r->memo_cap - 1);
	}
	return &r->memo[i];
}

/* Memo keys below this and near the number of entries go to the dense array. */
#define PK_DENSE_MAX (1u << 24)
/*
 * Up to this many slots the dense array is a heap buffer; past it, a
 * reservation of PK_DENSE_MAX slots (bw_reserve) that grows without copies
 * and is backed by huge pages as it is written. dense_cap stays the logical
 * capacity, accounted against the budget like the heap buffers.
 */
#define PK_DENSE_HEAP (1u << 16)

static int dense_grow(struct pk_run *r, size_t need)
{
	struct pk_ctx *c = r->c;
	size_t ncap = r->dense_cap ? r->dense_cap : 64, total;
	pk_ref *nd;

	if (need <= PK_DENSE_HEAP)
		return grow_buf(r, (void **)&r->dense, &r->dense_cap, need, sizeof *r->dense, 64);
	while (ncap < need)
		ncap *= 2; /* need <= PK_DENSE_MAX, a power of two: no overflow */
	if (__builtin_add_overflow(c->arena.used, c->heap_bytes + (ncap - r->dense_cap) * sizeof *nd, &total) ||
	    (c->arena.budget != 0 && total > c->arena.budget)) {
		c->arena.over_budget = 1;
		mem_fail(r);
		return -1;
	}
	if (r->dense_cap <= PK_DENSE_HEAP) {
		nd = bw_reserve((size_t)PK_DENSE_MAX * sizeof *nd);
		if (nd == NULL) {
			mem_fail(r);
			return -1;
		}
		if (r->dense_n > 0)
			memcpy(nd, r->dense, r->dense_n * sizeof *nd);
		drop_buf(c, (void **)&r->dense, &r->dense_cap, sizeof *r->dense);
		r->dense = nd;
	}
	c->heap_bytes += (ncap - r->dense_cap) * sizeof *nd;
	r->dense_cap = ncap;
	return 0;
}

/* Free the dense array of dense_grow. */
static void dense_drop(struct pk_ctx *c, pk_ref **dense, size_t *cap)
{
	if (*cap > PK_DENSE_HEAP) {
		bw_unreserve(*dense, (size_t)PK_DENSE_MAX * sizeof **dense);
		c->heap_bytes -= *cap * sizeof **dense;
		*dense = NULL;
		*cap = 0;
		return;
	}
	drop_buf(c, (void **)dense, cap, sizeof **dense);
}

/* 1 when key has a dense slot (unset slots up to it are cleared), 0 for the hash. */
static int dense_fit(struct pk_run *r, uint64_t key)
{
	if (key >= r->dense_cap) {
		if (key >= PK_DENSE_MAX || key >= 4 * ((uint64_t)r->memo_n + 64))
			return 0;
		if (dense_grow(r, (size_t)key + 1) != 0)
			return 0;
	}
	if (key >= r->dense_n) {
		/* slots are cleared as keys reach them: pages are touched as the memo grows */
		memset(r->dense + r->dense_n, 0, ((size_t)key + 1 - r->dense_n) * sizeof *r->dense);
		r->dense_n = (size_t)key + 1;
	}
	return 1;
}

/* The dense slot of key when it is set, else NULL. */
static pk_ref *dense_slot(struct pk_run *r, uint64_t key)
{
	return key < r->dense_n && r->dense[key] != 0 ? &r->dense[key] : NULL;
}

/*
 * memo[key] = v (C _Unpickler_MemoPut). A key lives where it was first stored
 * (dense array or hash), so memo_n counts distinct keys exactly as the C
 * unpickler's memo_len, which MEMOIZE uses as its index.
 */
static void memo_put(struct pk_run *r, uint64_t key, pk_ref v)
{
	struct memo_ent *e;

	if (r->err != BW_OK)
		return;
	e = r->hash_n > 0 ? memo_find(r, key) : NULL;
	if (dense_slot(r, key) != NULL || (e != NULL && e->used)) {
		/* C and pickle.py overwrite; pickletools.dis rejects a redefinition */
		if (once(r, ONCE_MEMO_REDEF))
			finding(r, "pickle.memo-redefinition", r->op_off,
			        "memo key %llu stored twice (pickletools.dis rejects this; the unpickler "
			        "overwrites)", (unsigned long long)key);
		if (e != NULL && e->used)
			e->v = v;
		else
			r->dense[key] = v;
		return;
	}
	if (r->memo_n >= r->c->max_memo) {
		fail(r, BW_ERR_LIMIT, "pickle.limit-memo", "memo exceeds %u entries", r->c->max_memo);
		return;
	}
	if (dense_fit(r, key)) {
		r->dense[key] = v;
		r->memo_n++;
		return;
	}
	if (r->err != BW_OK)
		return;
	if ((r->hash_n + 1) * 2 > r->memo_cap) {
		struct memo_ent *old = r->memo;
		size_t ocap = r->memo_cap, i;

		r->memo = NULL;
		r->memo_cap = 0;
		if (grow_buf(r, (void **)&r->memo, &r->memo_cap, ocap ? ocap * 2 : 64, sizeof *r->memo, 64) != 0) {
			r->memo = old;
			r->memo_cap = ocap;
			return;
		}
		memset(r->memo, 0, r->memo_cap * sizeof *r->memo);
		for (i = 0; i < ocap; i++)
			if (old[i].used)
				*memo_find(r, old[i].key) = old[i];
		drop_buf(r->c, (void **)&old, &ocap, sizeof *old);
	}
	e = memo_find(r, key);
	e->used = 1;
	e->key = key;
	e->v = v;
	r->hash_n++;
	r->memo_n++;
}

static void memo_get(struct pk_run *r, uint64_t key)
{
	struct memo_ent *e;

	if (dense_slot(r, key) != NULL) {
		push(r, r->dense[key]);
		return;
	}
	e = r->hash_n > 0 ? memo_find(r, key) : NULL;

	if (e == NULL || !e->used) {
		fail(r, BW_ERR_MALFORMED, NULL, "Memo value not found at index %llu",
		     (unsigned long long)key);
		return;
	}
	push(r, e->v);
}

/* ------------------------------------------------------ imports and calls */

static int streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int is_global(const struct pk_val *v, const char *mod, const char *name)
{
	return v != NULL && v->kind == PK_GLOBAL && streq(v->module, mod) && streq(v->name, name);
}

static struct pk_val *make_global(struct pk_run *r, const char *mod, const char *name)
{
	struct pk_val *g = newval(r, PK_GLOBAL);

	if (g != NULL) {
		g->module = mod;
		g->name = name;
	}
	return g;
}

/* Imports remembered for the joblib plain pass: open-addressing set, at most PK_SEEN_MAX. */
#define PK_SEEN_MAX 65536

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static const char **seen_slot(struct pk_ctx *c, const char *key)
{
	size_t i;

	if (c->cap_seen == 0)
		return NULL;
	i = (size_t)str_hash(key) & (c->cap_seen - 1);
	while (c->seen[i] != NULL && strcmp(c->seen[i], key) != 0)
		i = (i + 1) & (c->cap_seen - 1);
	return &c->seen[i];
}

static int seen_before(struct pk_ctx *c, const char *key)
{
	const char **slot = seen_slot(c, key);

	return slot != NULL && *slot != NULL;
}

static void remember(struct pk_ctx *c, const char *key)
{
	const char **slot;

	if (c->n_seen >= PK_SEEN_MAX)
		return;
	if ((c->n_seen + 1) * 2 > c->cap_seen) {
		size_t ncap = c->cap_seen ? c->cap_seen * 2 : 64, i, ocap = c->cap_seen;
		const char **old = c->seen;
		const char **ns = bw_arena_array(&c->arena, ncap, sizeof *ns);

		if (ns == NULL)
			return;
		c->seen = ns;
		c->cap_seen = ncap;
		for (i = 0; i < ocap; i++)
			if (old[i] != NULL)
				*seen_slot(c, old[i]) = old[i];
	}
	slot = seen_slot(c, key);
	if (*slot == NULL) {
		*slot = key;
		c->n_seen++;
	}
}

/* A dotted Python identifier ("os.path", "Bdb.run"), at most 256 bytes. */
static int ident_like(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (i >= 256 || !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '.'))
			return 0;
	}
	return 1;
}

/*
 * An overlong FRAME matters only when code follows it: the C unpickler stops at
 * the FRAME, pickle.py runs what comes after. Said once, at the first import
 * or call past it (a merely truncated file has none).
 */
static void frame_differential(struct pk_run *r)
{
	if (r->frame_overrun == 0 || r->c->detect)
		return;
	finding(r, "pickle.parser-differential", r->frame_overrun - 1,
	        "code follows a FRAME longer than the data: the C unpickler stops at the FRAME, "
	        "pickle.py (used by joblib) reads on and runs it");
	r->frame_overrun = 0;
}

static void report_import(struct pk_run *r, const char *mod, const char *name, const char *omod,
                          const char *oname, const char *how)
{
	struct pk_ctx *c = r->c;
	char *key;

	frame_differential(r);
	if (c->detect) {
		/*
		 * Evidence that these bytes are a pickle. Without a PROTO opcode (protocol
		 * 0/1), EXT codes do not exist and random data (a raw tensor storage
		 * starting with 0x82) must not pass for one: only a named import of
		 * identifier-like names counts.
		 */
		if (r->n_proto > 0 || (strncmp(how, "EXT", 3) != 0 && ident_like(mod) && ident_like(name)))
			r->hit_import = 1;
		return;
	}
	key = bw_arena_printf(&c->arena, "%s\n%s", mod, name);
	if (c->plain) {
		/* joblib differential: an import only plain pickle.load performs */
		if (key != NULL && !seen_before(c, key) && c->sink != NULL) {
			char msg[300];

			snprintf(msg, sizeof msg,
			         "plain pickle.load of this joblib file would import %s.%s from bytes joblib "
			         "reads as raw array data", mod, name);
			c->sink->finding(c->sink->user, "pickle.parser-differential", r->op_off, msg);
			c->sink->import(c->sink->user, mod, name, omod, oname, r->op_off, how);
			remember(c, key);
		}
		return;
	}
	if (key != NULL)
		remember(c, key);
	if (c->sink != NULL)
		c->sink->import(c->sink->user, mod, name, omod, oname, r->op_off, how);
	if (!r->c->joblib && streq(mod, "joblib.numpy_pickle") &&
	    (streq(name, "NumpyArrayWrapper") || streq(name, "NDArrayWrapper"))) {
		r->c->joblib = 1;
		if (r->c->sink != NULL && r->c->sink->format != NULL)
			r->c->sink->format(r->c->sink->user, "joblib");
	}
}

/*
 * find_class as the C unpickler does it: Python 2 names mapped when
 * proto < 3 (fix_imports), dotted names walked attribute by attribute only
 * when proto >= 4 (get_dotted_path), otherwise one getattr with the literal
 * name. Returns the global value (or NULL on failure, r->err set).
 */
static struct pk_val *find_class(struct pk_run *r, const uint8_t *m, size_t mn, const uint8_t *n,
                                 size_t nn, const char *how)
{
	char *omod, *oname;
	const char *mod, *name;

	if (memchr(m, '\0', mn) != NULL || memchr(n, '\0', nn) != NULL) {
		fail(r, BW_ERR_MALFORMED, NULL, "embedded null character in a global name");
		return NULL;
	}
	omod = cstr(r, m, mn);
	oname = cstr(r, n, nn);
	if (omod == NULL || oname == NULL)
		return NULL;
	mod = omod;
	name = oname;
	if (r->proto < 3)
		(void)pk_compat_map(omod, oname, &mod, &name);
	if (strchr(name, '.') != NULL && r->proto < 4 && once(r, ONCE_DOTTED))
		finding(r, "pickle.dotted-name-protocol", r->op_off,
		        "dotted name '%s' under protocol %u: the unpickler does one getattr with the "
		        "literal name (a dotted walk only happens for protocol >= 4)", name, r->proto);
	report_import(r, mod, name, omod, oname, how);
	return make_global(r, mod, name);
}

/* The first bytes/str constant among the top-level arguments (nested loaders). */
static void first_bytes_arg(const struct pk_val *args, const uint8_t **p, size_t *n)
{
	size_t i;

	*p = NULL;
	*n = 0;
	if (args == NULL || args->kind != PK_TUPLE)
		return;
	for (i = 0; i < args->n_items && i < 16; i++) {
		struct pk_tmp tmp;
		const struct pk_val *a = pk_ref_val(args->items[i], &tmp);

		if (a != NULL && (a->kind == PK_BYTES || a->kind == PK_STR || a->kind == PK_BYTEARRAY)) {
			*p = a->s;
			*n = a->n;
			return;
		}
	}
}

/* Root module of a callable value (for call reports of derived callables). */
static const char *root_module(const struct pk_val *v)
{
	int d;

	for (d = 0; v != NULL && d < 32; d++) {
		if (v->kind == PK_GLOBAL)
			return v->module;
		if (v->kind == PK_ATTRGETTER || v->kind == PK_METHODCALLER)
			return "operator";
		if (v->kind == PK_CALL)
			v = v->callee;
		else
			break;
	}
	return "<unknown>";
}

static void report_call(struct pk_run *r, const struct pk_val *callee, const struct pk_val *args,
                        const char *how, const char *name_suffix)
{
	struct bw_fmt_call call;
	char nb[PK_REPR_CAP + 8], ab[PK_REPR_CAP + 8];
	struct pk_out o;

	if (r->c->sink == NULL || r->c->detect || r->c->plain)
		return;
	frame_differential(r);
	memset(&call, 0, sizeof call);
	if (callee != NULL && callee->kind == PK_GLOBAL) {
		call.module = callee->module;
		pk_out_init(&o, nb, PK_REPR_CAP);
		if (callee->name != NULL)
			pk_out_str(&o, callee->name);
		if (name_suffix != NULL)
			pk_out_str(&o, name_suffix);
		call.name = pk_out_end(&o);
	} else if (callee != NULL && callee->kind != PK_UNKNOWN) {
		size_t ml;

		call.module = root_module(callee);
		pk_out_init(&o, nb, PK_REPR_CAP);
		pk_val_describe(&o, callee);
		if (name_suffix != NULL)
			pk_out_str(&o, name_suffix);
		call.name = pk_out_end(&o);
		/* name is relative to module: "getattr(...)" in "builtins" */
		ml = strlen(call.module);
		if (strncmp(call.name, call.module, ml) == 0 && call.name[ml] == '.')
			call.name += ml + 1;
	} else {
		call.module = "<unknown>";
		call.name = name_suffix != NULL ? name_suffix + (name_suffix[0] == '.') : "<unknown>";
	}
	if (args != NULL && pk_val_is_const(args)) {
		pk_out_init(&o, ab, PK_REPR_CAP);
		pk_val_repr(&o, args);
		call.args = pk_out_end(&o);
	}
	first_bytes_arg(args, &call.bytes_arg, &call.bytes_arg_len);
	call.offset = r->op_off;
	call.how = how;
	r->c->sink->call(r->c->sink->user, &call);
}

/* Item i of a tuple (read through tmp), NULL when there is none. */
static const struct pk_val *arg_n(const struct pk_val *args, size_t i, struct pk_tmp *tmp)
{
	if (args == NULL || args->kind != PK_TUPLE || i >= args->n_items)
		return NULL;
	return pk_ref_val(args->items[i], tmp);
}

static int is_text(const struct pk_val *v)
{
	return v != NULL && v->kind == PK_STR && memchr(v->s, '\0', v->n) == NULL;
}

/*
 * getattr(base, attr) where base is a known global or module: a synthetic
 * import of the target (how "getattr"), returned as a global value.
 */
static struct pk_val *resolve_attr(struct pk_run *r, const struct pk_val *base, const uint8_t *a,
                                   size_t an, const char *how)
{
	char *attr, *name;

	if (base == NULL || base->kind != PK_GLOBAL)
		return NULL;
	attr = cstr(r, a, an);
	if (attr == NULL)
		return NULL;
	if (base->name != NULL) {
		name = bw_arena_printf(&r->c->arena, "%s.%s", base->name, attr);
		if (name == NULL) {
			mem_fail(r);
			return NULL;
		}
	} else {
		name = attr;
	}
	report_import(r, base->module, name, base->module, name, how);
	return make_global(r, base->module, name);
}

static int is_builtin(const struct pk_val *v, const char *name)
{
	return is_global(v, "builtins", name);
}

static int is_operator(const struct pk_val *v, const char *name)
{
	return is_global(v, "operator", name) || is_global(v, "_operator", name);
}

/*
 * A call the loader would make: report it, then model the few resolvers an
 * attacker uses to reach a callable without naming it in a GLOBAL
 * (getattr, __import__, importlib.import_module, operator.attrgetter,
 * operator.methodcaller, operator.getitem(sys.modules, ...),
 * functools.partial). Returns the symbolic result.
 */
static struct pk_val *do_call(struct pk_run *r, struct pk_val *callee, struct pk_val *args,
                              const char *how)
{
	struct pk_tmp t0, t1;
	const struct pk_val *a0 = arg_n(args, 0, &t0), *a1 = arg_n(args, 1, &t1);
	struct pk_val *res = NULL;

	if (r->err != BW_OK)
		return NULL;
	report_call(r, callee, args, how, NULL);
	if (r->err != BW_OK)
		return NULL;

	if (callee != NULL && callee->kind == PK_GLOBAL) {
		if (is_builtin(callee, "getattr") && is_text(a1)) {
			res = resolve_attr(r, a0, a1->s, a1->n, "getattr");
		} else if ((is_builtin(callee, "__import__") || is_global(callee, "importlib", "import_module")) &&
		           is_text(a0)) {
			char *m = cstr(r, a0->s, a0->n);

			if (m != NULL) {
				report_import(r, m, "", m, "", "__import__");
				res = make_global(r, m, NULL);
			}
		} else if (is_operator(callee, "getitem") && is_global(a0, "sys", "modules") && is_text(a1)) {
			char *m = cstr(r, a1->s, a1->n);

			if (m != NULL) {
				report_import(r, m, "", m, "", "sys.modules");
				res = make_global(r, m, NULL);
			}
		} else if (is_operator(callee, "attrgetter") && is_text(a0)) {
			res = newval(r, PK_ATTRGETTER);
			if (res != NULL) {
				res->s = a0->s;
				res->n = a0->n;
			}
		} else if (is_operator(callee, "methodcaller") && is_text(a0)) {
			res = newval(r, PK_METHODCALLER);
			if (res != NULL) {
				size_t i;

				res->s = a0->s;
				res->n = a0->n;
				res->args = newval(r, PK_TUPLE);
				for (i = 1; res->args != NULL && i < args->n_items && i < 64; i++)
					if (pk_val_push(&r->c->arena, res->args, args->items[i]) != 0)
						break;
			}
		} else if (is_global(callee, "functools", "partial") && a0 != NULL &&
		           a0->kind == PK_GLOBAL && args->n_items == 1) {
			/* partial(f)() is f() */
			res = make_global(r, a0->module, a0->name);
		}
	} else if (callee != NULL && callee->kind == PK_ATTRGETTER) {
		res = resolve_attr(r, a0, callee->s, callee->n, "attrgetter");
	} else if (callee != NULL && callee->kind == PK_METHODCALLER) {
		struct pk_val *m = resolve_attr(r, a0, callee->s, callee->n, "methodcaller");

		if (m != NULL)
			res = do_call(r, m, callee->args, "methodcaller");
	}
	if (r->err != BW_OK)
		return NULL;
	if (res == NULL) {
		res = newval(r, PK_CALL);
		if (res != NULL) {
			res->callee = callee;
			res->args = args;
			res->how = how;
		}
	}
	return res;
}

/* ---------------------------------------------------------- joblib arrays */

/* Value of key in a constant dict (read through tmp), or NULL. */
static const struct pk_val *dict_get(const struct pk_val *d, const char *key, struct pk_tmp *tmp)
{
	size_t i, kl = strlen(key);

	if (d == NULL || d->kind != PK_DICT)
		return NULL;
	/* joblib state dicts have 6 keys: look at the first 64 pairs only (bounded work) */
	for (i = 0; i + 1 < d->n_items && i < 128; i += 2) {
		struct pk_tmp kt;
		const struct pk_val *k = pk_ref_val(d->items[i], &kt);

		if (k != NULL && k->kind == PK_STR && k->n == kl && memcmp(k->s, key, kl) == 0)
			return pk_ref_val(d->items[i + 1], tmp);
	}
	return NULL;
}

static int small_int(const struct pk_val *v, int64_t *out)
{
	if (v == NULL || (v->kind != PK_INT && v->kind != PK_BOOL) || v->big)
		return 0;
	*out = v->i;
	return 1;
}

/*
 * Item size of a numpy.dtype value built by REDUCE numpy.dtype(code, ...)
 * then BUILD state (3, order, subarray, names, fields, elsize, alignment,
 * flags): elsize when positive, else the digits of the type code.
 * Returns 0 unknown, -1 object dtype, else the size.
 */
static int64_t dtype_itemsize(const struct pk_val *dt, int depth)
{
	const struct pk_val *code;
	struct pk_tmp ct, t4, t5;
	int64_t elsize = -1;
	size_t i;
	int64_t n = 0;

	if (depth > 8 || dt == NULL || dt->kind != PK_CALL || dt->callee == NULL || dt->callee->kind != PK_GLOBAL ||
	    !streq(dt->callee->name, "dtype"))
		return 0;
	code = arg_n(dt->args, 0, &ct);
	if (code == NULL || code->kind != PK_STR || code->n == 0)
		return 0;
	if (code->s[0] == 'O')
		return -1;
	if (dt->state != NULL && dt->state->kind == PK_TUPLE && dt->state->n_items >= 6) {
		const struct pk_val *fields = pk_ref_val(dt->state->items[4], &t4);

		(void)small_int(pk_ref_val(dt->state->items[5], &t5), &elsize);
		if (fields != NULL && fields->kind == PK_DICT) {
			/* structured dtype: object fields make it an object array */
			for (i = 1; i < fields->n_items && i < 1024; i += 2) {
				struct pk_tmp ft, fdtt;
				const struct pk_val *f = pk_ref_val(fields->items[i], &ft);
				const struct pk_val *fdt = arg_n(f, 0, &fdtt);

				if (fdt != NULL && dtype_itemsize(fdt, depth + 1) == -1)
					return -1;
			}
		}
		if (elsize > 0)
			return elsize;
	}
	for (i = 1; i < code->n; i++) {
		if (code->s[i] < '0' || code->s[i] > '9')
			return 0;
		n = n * 10 + (code->s[i] - '0');
		if (n > (1 << 20))
			return 0;
	}
	return n > 0 ? n : 0;
}

static enum bw_err run_stream(struct pk_ctx *c, size_t start, int nested, struct pk_run *out_run);

/*
 * joblib's NumpyUnpickler.load_build: after BUILD of a NumpyArrayWrapper the
 * array follows in the stream: [padding length byte + padding] (when the
 * wrapper has numpy_array_alignment_bytes) then count * itemsize raw bytes,
 * or, for object dtypes, a nested pickle (pickle.load of protocol 2).
 */
static void joblib_skip_array(struct pk_run *r, const struct pk_val *state)
{
	struct pk_tmp st, at, dt;
	const struct pk_val *shape = dict_get(state, "shape", &st);
	const struct pk_val *align = dict_get(state, "numpy_array_alignment_bytes", &at);
	int64_t isz = dtype_itemsize(dict_get(state, "dtype", &dt), 0);
	uint64_t count = 1, bytes;
	size_t i;

	if (shape == NULL || shape->kind != PK_TUPLE || isz == 0) {
		fail(r, BW_ERR_UNSUPPORTED, NULL,
		     "joblib array wrapper with a shape or dtype that is not a constant");
		return;
	}
	for (i = 0; i < shape->n_items; i++) {
		int64_t d;
		struct pk_tmp it;

		if (!small_int(pk_ref_val(shape->items[i], &it), &d) || d < 0 ||
		    __builtin_mul_overflow(count, (uint64_t)d, &count)) {
			fail(r, BW_ERR_MALFORMED, NULL, "joblib array shape is not a tuple of small ints");
			return;
		}
	}
	if (isz == -1) {
		struct pk_run sub;
		enum bw_err e;

		if (r->nested) {
			fail(r, BW_ERR_UNSUPPORTED, NULL, "nested joblib object arrays");
			return;
		}
		e = run_stream(r->c, r->rd.pos + (size_t)r->rd.base, 1, &sub);
		if (e != BW_OK || sub.err != BW_OK) {
			r->err = sub.err != BW_OK ? sub.err : e;
			r->err_off = sub.err_off;
			r->rule = sub.rule;
			memcpy(r->why, sub.why, sizeof r->why);
			return;
		}
		bw_rd_seek(&r->rd, (size_t)(bw_rd_off(&sub.rd) - r->rd.base));
		return;
	}
	if (align != NULL && align->kind != PK_NONE) {
		uint8_t pad = bw_rd_u8(&r->rd);

		bw_rd_skip(&r->rd, pad);
	}
	if (__builtin_mul_overflow(count, (uint64_t)isz, &bytes) || bytes > bw_rd_left(&r->rd)) {
		fail(r, BW_ERR_TRUNCATED, NULL, "joblib array data (%llu x %lld bytes) runs past the end",
		     (unsigned long long)count, (long long)isz);
		return;
	}
	bw_rd_skip(&r->rd, (size_t)bytes);
	if (!bw_rd_ok(&r->rd))
		fail(r, BW_ERR_TRUNCATED, NULL, "joblib array padding runs past the end");
}

/* ------------------------------------------------------- argument reading */

struct pk_arg {
	enum bw_pickle_arg_kind kind;
	uint64_t u;          /* unsigned ints */
	struct pk_int iv;    /* signed / big ints */
	double f;
	const uint8_t *s;    /* STR / BYTES */
	size_t n;
	const uint8_t *s2;   /* GLOBAL / INST: second line */
	size_t n2;
	int64_t ival;        /* INT kinds: the value text is made from, lazily (arg_text) */
	char text[40];       /* only valid after arg_text(): formatting every number costs a third
	                        of a scan of number-heavy pickles, and only the listing reads it */
};

static const uint8_t *read_line(struct pk_run *r, size_t *n)
{
	const uint8_t *p = bw_rd_line(&r->rd, (size_t)r->c->max_string, n);

	if (p == NULL) {
		if (r->rd.err == BW_ERR_LIMIT)
			fail(r, BW_ERR_LIMIT, "pickle.limit-string", "line longer than %llu bytes",
			     (unsigned long long)r->c->max_string);
		else
			fail(r, BW_ERR_TRUNCATED, NULL, "pickle data was truncated (no newline)");
	}
	return p;
}

static const uint8_t *read_counted(struct pk_run *r, uint64_t n)
{
	const uint8_t *p;

	if (r->err != BW_OK)
		return NULL;
	if (n > bw_rd_left(&r->rd)) {
		fail(r, BW_ERR_TRUNCATED, NULL, "pickle data was truncated (%llu-byte operand, %zu left)",
		     (unsigned long long)n, bw_rd_left(&r->rd));
		return NULL;
	}
	if (n > r->c->max_string) {
		fail(r, BW_ERR_LIMIT, "pickle.limit-string", "operand of %llu bytes exceeds %llu",
		     (unsigned long long)n, (unsigned long long)r->c->max_string);
		return NULL;
	}
	p = bw_rd_bytes(&r->rd, (size_t)n);
	if (p == NULL)
		fail(r, BW_ERR_TRUNCATED, NULL, "pickle data was truncated");
	return p;
}

static void arg_int_text(struct pk_arg *a, int64_t v)
{
	a->kind = BW_PICKLE_ARG_INT;
	a->ival = v;
	a->text[0] = '\0';
}

/* The printable argument of a numeric opcode, made on demand (trace / disasm). */
static void arg_text(struct pk_arg *a)
{
	if (a->text[0] != '\0')
		return;
	if (a->kind == BW_PICKLE_ARG_INT)
		snprintf(a->text, sizeof a->text, "%lld", (long long)a->ival);
	else if (a->kind == BW_PICKLE_ARG_FLOAT)
		snprintf(a->text, sizeof a->text, "%.17g", a->f);
}

static void mal(struct pk_run *r, const char *what)
{
	fail(r, BW_ERR_MALFORMED, NULL, "%s", what);
}

/* A NUL in a numeric line: C stops there, pickletools/pickle.py reject the line. */
static void nul_differential(struct pk_run *r, const uint8_t *p, size_t n)
{
	if (memchr(p, '\0', n) != NULL && once(r, ONCE_DIFF))
		finding(r, "pickle.parser-differential", r->op_off,
		        "NUL byte inside a numeric text argument: the C unpickler reads up to it, "
		        "pickletools/pickle.py reject the line");
}

/* Read and decode the argument of op (C unpickler semantics). */
static void read_arg(struct pk_run *r, const struct pk_opinfo *op, uint8_t code, struct pk_arg *a)
{
	struct bw_arena *ar = &r->c->arena;
	const uint8_t *p;
	size_t n;
	int rc, differs;
	uint8_t *o;

	/* field by field: a memset of the whole struct (rep stos) was a quarter of a dense scan */
	a->kind = BW_PICKLE_ARG_NONE;
	a->u = 0;
	a->iv.v = 0;
	a->iv.big = 0;
	a->iv.text = NULL;
	a->iv.is_bool = 0;
	a->f = 0;
	a->s = NULL;
	a->n = 0;
	a->s2 = NULL;
	a->n2 = 0;
	a->ival = 0;
	a->text[0] = '\0';
	switch (op->arg) {
	case PK_A_NONE:
		return;
	case PK_A_UINT1:
		p = read_counted(r, 1);
		if (p != NULL) {
			a->u = p[0];
			arg_int_text(a, (int64_t)a->u);
		}
		return;
	case PK_A_UINT2:
		p = read_counted(r, 2);
		if (p != NULL) {
			a->u = (uint64_t)p[0] | ((uint64_t)p[1] << 8);
			arg_int_text(a, (int64_t)a->u);
		}
		return;
	case PK_A_INT4:
	case PK_A_UINT4:
		p = read_counted(r, 4);
		if (p != NULL) {
			uint32_t u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
			             ((uint32_t)p[3] << 24);

			a->u = u;
			a->iv.v = op->arg == PK_A_INT4 ? (int64_t)(int32_t)u : (int64_t)u;
			arg_int_text(a, a->iv.v);
		}
		return;
	case PK_A_UINT8:
		p = read_counted(r, 8);
		if (p != NULL) {
			int i;

			for (i = 7; i >= 0; i--)
				a->u = (a->u << 8) | p[i];
			a->kind = BW_PICKLE_ARG_INT;
			snprintf(a->text, sizeof a->text, "%llu", (unsigned long long)a->u);
		}
		return;
	case PK_A_DECIMALNL_SHORT:
		p = read_line(r, &n);
		if (p == NULL)
			return;
		if (n == 0) {
			fail(r, BW_ERR_TRUNCATED, NULL, "pickle data was truncated (empty line)");
			return;
		}
		if (code == OP_INT) {
			rc = pk_parse_int_line(ar, p, n, &a->iv, &differs);
			if (rc == 0 && differs && once(r, ONCE_DIFF))
				finding(r, "pickle.parser-differential", r->op_off,
				        "INT literal '%.*s' is read by strtol(base 0) in the C unpickler but "
				        "differently by pickle.py/pickletools", (int)(n > 40 ? 40 : n), (const char *)p);
		} else {
			/* GET/PUT: PyLong_FromString(s, NULL, 10) */
			nul_differential(r, p, n);
			rc = pk_parse_dec_line(ar, p, n, &a->iv);
		}
		if (rc == -2) {
			mem_fail(r);
			return;
		}
		if (rc != 0) {
			mal(r, "could not convert string to int");
			return;
		}
		if (a->iv.is_bool) {
			a->kind = BW_PICKLE_ARG_BOOL;
			snprintf(a->text, sizeof a->text, "%s", a->iv.v ? "True" : "False");
		} else if (a->iv.big) {
			a->kind = BW_PICKLE_ARG_INT;
		} else {
			arg_int_text(a, a->iv.v);
		}
		return;
	case PK_A_DECIMALNL_LONG:
		p = read_line(r, &n);
		if (p == NULL)
			return;
		if (n == 0) {
			fail(r, BW_ERR_TRUNCATED, NULL, "pickle data was truncated (empty line)");
			return;
		}
		nul_differential(r, p, n);
		rc = pk_parse_long_line(ar, p, n, &a->iv);
		if (rc == -2) {
			mem_fail(r);
			return;
		}
		if (rc != 0) {
			mal(r, "invalid literal for int() in LONG");
			return;
		}
		if (a->iv.big)
			a->kind = BW_PICKLE_ARG_INT;
		else
			arg_int_text(a, a->iv.v);
		return;
	case PK_A_FLOATNL:
		p = read_line(r, &n);
		if (p == NULL)
			return;
		if (n == 0) {
			fail(r, BW_ERR_TRUNCATED, NULL, "pickle data was truncated (empty line)");
			return;
		}
		nul_differential(r, p, n);
		rc = pk_parse_float_line(ar, p, n, &a->f);
		if (rc == -2) {
			mem_fail(r);
			return;
		}
		if (rc != 0) {
			mal(r, "could not convert string to float");
			return;
		}
		a->kind = BW_PICKLE_ARG_FLOAT;
		a->text[0] = '\0';
		return;
	case PK_A_FLOAT8:
		p = read_counted(r, 8);
		if (p != NULL) {
			uint64_t u = 0;
			int i;

			for (i = 0; i < 8; i++)
				u = (u << 8) | p[i];
			memcpy(&a->f, &u, sizeof a->f);
			a->s = p; /* BINFLOAT's value is a view of these bytes */
			a->kind = BW_PICKLE_ARG_FLOAT;
			a->text[0] = '\0';
		}
		return;
	case PK_A_LONG1:
	case PK_A_LONG4:
		if (op->arg == PK_A_LONG1) {
			p = read_counted(r, 1);
			if (p == NULL)
				return;
			n = p[0];
		} else {
			int32_t sz;

			p = read_counted(r, 4);
			if (p == NULL)
				return;
			sz = (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
			               ((uint32_t)p[3] << 24));
			if (sz < 0) {
				mal(r, "LONG pickle has negative byte count");
				return;
			}
			n = (size_t)sz;
		}
		p = read_counted(r, n);
		if (p == NULL)
			return;
		if (pk_decode_long_bytes(ar, p, n, &a->iv) != 0) {
			mem_fail(r);
			return;
		}
		if (a->iv.big)
			a->kind = BW_PICKLE_ARG_INT;
		else
			arg_int_text(a, a->iv.v);
		return;
	case PK_A_STRINGNL:
		p = read_line(r, &n);
		if (p == NULL)
			return;
		/* C: len >= 2 and the same quote at both ends, else an error */
		if (n < 2 || p[0] != p[n - 1] || (p[0] != '\'' && p[0] != '"')) {
			if (n == 1 && (p[0] == '\'' || p[0] == '"'))
				finding(r, "pickle.parser-differential", r->op_off,
				        "STRING argument is a lone quote: pickletools reads an empty string, "
				        "the C unpickler raises");
			mal(r, "the STRING opcode argument must be quoted");
			return;
		}
		rc = pk_decode_escape(ar, p + 1, n - 2, &o, &a->n);
		if (rc == -2) {
			mem_fail(r);
			return;
		}
		if (rc != 0) {
			mal(r, "invalid escape in STRING argument");
			return;
		}
		a->s = o;
		a->kind = BW_PICKLE_ARG_BYTES;
		return;
	case PK_A_STRINGNL_NOESCAPE:
		p = read_line(r, &n);
		if (p == NULL)
			return;
		/* C: PERSID id is decoded as ASCII, without escape processing */
		if (memchr(p, '\\', n) != NULL && once(r, ONCE_DIFF))
			finding(r, "pickle.parser-differential", r->op_off,
			        "PERSID id contains a backslash: pickletools unescapes it, the C unpickler "
			        "passes it verbatim");
		a->s = p;
		a->n = n;
		a->kind = BW_PICKLE_ARG_STR;
		return;
	case PK_A_STRINGNL_NOESCAPE_PAIR:
		p = read_line(r, &n);
		if (p == NULL)
			return;
		a->s = p;
		a->n = n;
		p = read_line(r, &n);
		if (p == NULL)
			return;
		a->s2 = p;
		a->n2 = n;
		/* C load_global: each line must hold at least one character, UTF-8 strict */
		if (a->n == 0 || a->n2 == 0) {
			mal(r, "empty module or global name");
			return;
		}
		if (!pk_utf8_valid(a->s, a->n, 0) || !pk_utf8_valid(a->s2, a->n2, 0)) {
			mal(r, "global name is not valid UTF-8");
			return;
		}
		{
			/* pickletools escape-decodes these lines and requires ASCII; C takes them raw */
			size_t i;
			int odd = 0;

			for (i = 0; i < a->n; i++)
				odd |= a->s[i] == '\\' || a->s[i] >= 0x80;
			for (i = 0; i < a->n2; i++)
				odd |= a->s2[i] == '\\' || a->s2[i] >= 0x80;
			if (odd && once(r, ONCE_DIFF))
				finding(r, "pickle.parser-differential", r->op_off,
				        "%s name with a backslash or non-ASCII byte: pickletools escape-decodes "
				        "it (or fails), the C unpickler uses it verbatim", op->name);
		}
		a->kind = BW_PICKLE_ARG_STR;
		return;
	case PK_A_STRING1:
	case PK_A_STRING4:
		if (op->arg == PK_A_STRING1) {
			p = read_counted(r, 1);
			if (p == NULL)
				return;
			n = p[0];
		} else {
			int32_t sz;

			p = read_counted(r, 4);
			if (p == NULL)
				return;
			sz = (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
			               ((uint32_t)p[3] << 24));
			if (sz < 0) {
				mal(r, "BINSTRING pickle has negative byte count");
				return;
			}
			n = (size_t)sz;
		}
		a->s = read_counted(r, n);
		a->n = n;
		a->kind = BW_PICKLE_ARG_BYTES;
		return;
	case PK_A_BYTES1:
	case PK_A_BYTES4:
	case PK_A_BYTES8:
	case PK_A_BYTEARRAY8:
	case PK_A_UNICODESTRING1:
	case PK_A_UNICODESTRING4:
	case PK_A_UNICODESTRING8: {
		uint64_t len = 0;
		size_t w = (op->arg == PK_A_BYTES1 || op->arg == PK_A_UNICODESTRING1) ? 1 :
		           (op->arg == PK_A_BYTES4 || op->arg == PK_A_UNICODESTRING4) ? 4 : 8;
		size_t i;

		p = read_counted(r, w);
		if (p == NULL)
			return;
		for (i = w; i > 0; i--)
			len = (len << 8) | p[i - 1];
		if (len > (uint64_t)INT64_MAX) {
			mal(r, "operand length exceeds the system's maximum size");
			return;
		}
		a->s = read_counted(r, len);
		if (a->s == NULL)
			return;
		a->n = (size_t)len;
		if (op->arg == PK_A_UNICODESTRING1 || op->arg == PK_A_UNICODESTRING4 ||
		    op->arg == PK_A_UNICODESTRING8) {
			if (!pk_utf8_valid(a->s, a->n, 1)) {
				mal(r, "invalid UTF-8 in unicode operand");
				return;
			}
			a->kind = BW_PICKLE_ARG_STR;
		} else {
			a->kind = BW_PICKLE_ARG_BYTES;
		}
		return;
	}
	case PK_A_UNICODESTRINGNL:
		p = read_line(r, &n);
		if (p == NULL)
			return;
		rc = pk_decode_raw_unicode_escape(ar, p, n, &o, &a->n);
		if (rc == -2) {
			mem_fail(r);
			return;
		}
		if (rc != 0) {
			mal(r, "invalid raw-unicode-escape in UNICODE argument");
			return;
		}
		a->s = o;
		a->kind = BW_PICKLE_ARG_STR;
		return;
	}
}

/* ------------------------------------------------------------- execution */

/* An int the size of a machine word inline, anything bigger as a heap node. */
static pk_ref small_int_ref(int64_t i)
{
	return ((uint64_t)i << 3) | PK_T_INT;
}

static pk_ref int_val(struct pk_run *r, const struct pk_int *iv)
{
	struct pk_val *v;

	if (iv->is_bool)
		return PK_REF_BOOL(iv->v);
	if (!iv->big && iv->v >= -PK_INT_INLINE_MAX && iv->v < PK_INT_INLINE_MAX)
		return small_int_ref(iv->v);
	v = newval(r, PK_INT);
	if (v != NULL) {
		v->i = iv->v;
		v->big = iv->big;
		v->text = iv->text;
	}
	return pk_ref_of(v);
}

/* Text or bytes: a view of the bytes when short (they stay mapped: input or arena). */
static pk_ref str_val(struct pk_run *r, enum pk_kind k, const uint8_t *s, size_t n)
{
	struct pk_val *v;

	if (s == NULL)
		s = (const uint8_t *)"";
	if (n < PK_VIEW_MAXLEN && ((uint64_t)(uintptr_t)s >> 47) == 0)
		return ((uint64_t)(uintptr_t)s << 17) | ((uint64_t)n << 5) |
		       ((uint64_t)(k == PK_STR ? 0 : k == PK_BYTES ? 1 : 2) << 3) | PK_T_VIEW;
	v = newval(r, k);
	if (v != NULL) {
		v->s = s;
		v->n = n;
	}
	return pk_ref_of(v);
}

/* The class a BUILD would call __setstate__ of (best effort). */
static const struct pk_val *class_of(const struct pk_val *obj)
{
	if (obj == NULL)
		return NULL;
	if (obj->cls != NULL)
		return obj->cls;
	if (obj->kind == PK_CALL)
		return obj->callee;
	if (obj->kind == PK_GLOBAL)
		return obj;
	return NULL;
}

static void container_call(struct pk_run *r, const struct pk_val *target, const char *suffix,
                           pk_ref arg, const char *how)
{
	/* mutating an imported object (a module attribute, a class) by opcode */
	struct pk_val *t;

	if (target == NULL || target->kind != PK_GLOBAL)
		return;
	t = newval(r, PK_TUPLE);
	if (t == NULL || (arg != 0 && pk_val_push(&r->c->arena, t, arg) != 0))
		return;
	report_call(r, target, t, how, suffix);
}

/*
 * Arguments of REDUCE/NEWOBJ. The C unpickler requires a tuple; pickle.py
 * (the pure-Python unpickler joblib uses) calls func(*args) with any
 * iterable. A list/set argument is therefore a differential: reported, and
 * the call is modelled with its items. Returns NULL when neither loader
 * would call (None, int, ...).
 */
static struct pk_val *call_args(struct pk_run *r, struct pk_val *w, const char *how)
{
	struct pk_val *t;

	if (w->kind == PK_TUPLE || w->kind == PK_UNKNOWN)
		return w;
	if (w->kind != PK_LIST && w->kind != PK_SET && w->kind != PK_FROZENSET && w->kind != PK_DICT &&
	    w->kind != PK_STR && w->kind != PK_BYTES && w->kind != PK_BYTEARRAY && w->kind != PK_CALL)
		return NULL;
	if (once(r, ONCE_DIFF))
		finding(r, "pickle.parser-differential", r->op_off,
		        "%s with non-tuple arguments: pickle.py (used by joblib) calls func(*args), the C "
		        "unpickler raises", how);
	if (w->kind != PK_LIST && w->kind != PK_SET && w->kind != PK_FROZENSET)
		return newval(r, PK_UNKNOWN);
	/* a read-only tuple view of the items (no copy: bounded work per call) */
	t = newval(r, PK_TUPLE);
	if (t != NULL) {
		t->items = w->items;
		t->n_items = t->cap_items = w->n_items;
	}
	return t;
}

/*
 * APPENDS/SETITEMS/ADDITEMS after their mark k was popped (C do_appends,
 * do_setitems, load_additems): k must be above the new fence and within the
 * stack; the target is stack[k-1]. Returns 1 when there is work (C does
 * nothing, not even a type check, when no items follow the mark).
 */
static int mark_target(struct pk_run *r, size_t k)
{
	if (k > r->sp || k <= fence(r)) {
		underflow(r);
		return 0;
	}
	return r->sp > k;
}

static void exec_op(struct pk_run *r, uint8_t code, const struct pk_opinfo *op, struct pk_arg *a)
{
	struct pk_val *v, *w, *x;
	pk_ref vr, wr, xr;
	struct pk_val *tgt;
	long k;
	size_t i;

	(void)op;
	switch (code) {
	case OP_MARK:
		push_mark(r);
		break;
	case OP_STOP:
		r->result = pop(r);
		break;
	case OP_POP:
		/* C load_pop: pops a mark when the top of the stack is a mark */
		if (r->n_marks > 0 && r->marks[r->n_marks - 1] == r->sp)
			r->n_marks--;
		else
			(void)pop(r);
		break;
	case OP_POP_MARK:
		k = pop_mark(r);
		if (k >= 0 && (size_t)k < r->sp)
			r->sp = (size_t)k; /* C Pdata_clear: nothing when the stack is already lower */
		break;
	case OP_DUP:
		push(r, top(r));
		break;
	case OP_FLOAT:
		v = newval(r, PK_FLOAT);
		if (v != NULL)
			v->f = a->f;
		push_v(r, v);
		break;
	case OP_BINFLOAT:
		/* the 8 operand bytes stay mapped: the value is a view of them */
		push(r, ((uint64_t)(uintptr_t)a->s << 3) | PK_T_F8);
		break;
	case OP_INT:
	case OP_LONG:
	case OP_LONG1:
	case OP_LONG4:
	case OP_BININT:
		push(r, int_val(r, &a->iv));
		break;
	case OP_BININT1:
	case OP_BININT2:
		push(r, small_int_ref((int64_t)a->u));
		break;
	case OP_NONE:
		push(r, PK_REF_NONE);
		break;
	case OP_NEWTRUE:
	case OP_NEWFALSE:
		push(r, PK_REF_BOOL(code == OP_NEWTRUE));
		break;
	case OP_PERSID:
	case OP_BINPERSID:
		/* persistent_load(pid): the loader's own hook decides (torch: storages) */
		wr = code == OP_BINPERSID ? pop(r) : str_val(r, PK_STR, a->s, a->n);
		if (wr == 0)
			break;
		if (once(r, ONCE_PERSID))
			finding(r, "pickle.persistent-id", r->op_off,
			        "persistent id: the loader's persistent_load decides what it becomes");
		push_v(r, newval(r, PK_UNKNOWN));
		break;
	case OP_REDUCE:
		w = pop_v(r); /* args */
		v = pop_v(r); /* callable */
		if (r->err != BW_OK)
			break;
		w = call_args(r, w, "REDUCE");
		if (w == NULL) {
			report_call(r, v, NULL, "REDUCE", NULL);
			mal(r, "REDUCE argument list must be a tuple");
			break;
		}
		push_v(r, do_call(r, v, w, "REDUCE"));
		break;
	case OP_STRING:
	case OP_BINSTRING:
	case OP_SHORT_BINSTRING:
		/* Python 2 str: decoded with the loader's encoding (ASCII by default) to str */
		push(r, str_val(r, PK_STR, a->s, a->n));
		break;
	case OP_UNICODE:
	case OP_BINUNICODE:
	case OP_SHORT_BINUNICODE:
	case OP_BINUNICODE8:
		push(r, str_val(r, PK_STR, a->s, a->n));
		break;
	case OP_BINBYTES:
	case OP_SHORT_BINBYTES:
	case OP_BINBYTES8:
		push(r, str_val(r, PK_BYTES, a->s, a->n));
		break;
	case OP_BYTEARRAY8:
		push(r, str_val(r, PK_BYTEARRAY, a->s, a->n));
		break;
	case OP_NEXT_BUFFER:
		if (once(r, ONCE_BUFFER))
			finding(r, "pickle.out-of-band-buffer", r->op_off,
			        "NEXT_BUFFER: out-of-band data (plain pickle.load without buffers= raises here)");
		push_v(r, newval(r, PK_UNKNOWN));
		break;
	case OP_READONLY_BUFFER:
		(void)top(r);
		break;
	case OP_APPEND:
		wr = pop(r);
		vr = top(r);
		if (r->err != BW_OK)
			break;
		tgt = pk_ref_ptr(vr);
		if (tgt != NULL && tgt->kind == PK_LIST) {
			if (pk_val_push(&r->c->arena, tgt, wr) != 0)
				mem_fail(r);
		} else {
			container_call(r, tgt, ".append", wr, "APPEND");
		}
		break;
	case OP_APPENDS:
	case OP_SETITEMS:
	case OP_ADDITEMS: {
		enum pk_kind want = code == OP_APPENDS ? PK_LIST : code == OP_SETITEMS ? PK_DICT : PK_SET;

		k = pop_mark(r);
		if (k < 0)
			break;
		if (!mark_target(r, (size_t)k))
			break;
		if (code == OP_SETITEMS && (r->sp - (size_t)k) % 2 != 0) {
			mal(r, "odd number of items for SETITEMS");
			break;
		}
		tgt = pk_ref_ptr(r->stack[k - 1]);
		if (tgt != NULL && tgt->kind == want) {
			/* straight from the stack into the container (no temporary) */
			if (pk_val_extend(&r->c->arena, tgt, r->stack + k, r->sp - (size_t)k) != 0)
				mem_fail(r);
			r->sp = (size_t)k;
			break;
		}
		xr = pop_items(r, (size_t)k, want);
		if (xr != 0)
			container_call(r, tgt,
			               code == OP_APPENDS ? ".extend" : code == OP_SETITEMS ? ".__setitem__" : ".add",
			               xr, code == OP_APPENDS ? "APPENDS" : code == OP_SETITEMS ? "SETITEMS" : "ADDITEMS");
		break;
	}
	case OP_SETITEM:
		wr = pop(r); /* value */
		xr = pop(r); /* key */
		vr = top(r);
		if (r->err != BW_OK)
			break;
		tgt = pk_ref_ptr(vr);
		if (tgt != NULL && tgt->kind == PK_DICT) {
			if (pk_val_push(&r->c->arena, tgt, xr) != 0 || pk_val_push(&r->c->arena, tgt, wr) != 0)
				mem_fail(r);
		} else {
			container_call(r, tgt, ".__setitem__", xr, "SETITEM");
		}
		break;
	case OP_BUILD:
		w = pop_v(r); /* state */
		vr = top(r); /* instance */
		if (r->err != BW_OK)
			break;
		{
			struct pk_tmp vt;
			const struct pk_val *cls = class_of(pk_ref_val(vr, &vt));

			v = pk_ref_ptr(vr);
			if (cls != NULL) {
				struct pk_val *t = newval(r, PK_TUPLE);

				if (t != NULL && pk_val_push(&r->c->arena, t, pk_ref_of(w)) == 0)
					report_call(r, cls, t, "BUILD", NULL);
			}
			/* shared scalars never take state (BUILD on them fails at load time) */
			if (v != NULL && (v->kind == PK_CALL || v->kind == PK_GLOBAL || v->kind == PK_UNKNOWN))
				v->state = w;
			if (cls != NULL && cls->kind == PK_GLOBAL && streq(cls->module, "joblib.numpy_pickle") &&
			    streq(cls->name, "NumpyArrayWrapper") && !r->c->plain) {
				r->joblib_skips++;
				joblib_skip_array(r, w);
			}
		}
		break;
	case OP_GLOBAL:
		push_v(r, find_class(r, a->s, a->n, a->s2, a->n2, "GLOBAL"));
		break;
	case OP_STACK_GLOBAL: {
		struct pk_tmp vt, wt;
		const struct pk_val *cv, *cw;

		wr = pop(r); /* name */
		vr = pop(r); /* module */
		if (r->err != BW_OK)
			break;
		cw = pk_ref_val(wr, &wt);
		cv = pk_ref_val(vr, &vt);
		if (cv->kind != PK_STR || cw->kind != PK_STR) {
			int dyn_m = cv->kind == PK_UNKNOWN || cv->kind == PK_CALL;
			int dyn_n = cw->kind == PK_UNKNOWN || cw->kind == PK_CALL;

			if ((cv->kind == PK_STR || dyn_m) && (cw->kind == PK_STR || dyn_n)) {
				/* a name computed at load time (a call result or a persistent
				 * id may be a str): the import cannot be resolved statically */
				char *m = dyn_m ? "<dynamic>" : cstr(r, cv->s, cv->n);
				char *nm = dyn_n ? "<dynamic>" : cstr(r, cw->s, cw->n);

				if (m == NULL || nm == NULL)
					break;
				if (once(r, ONCE_DYNAMIC))
					finding(r, "pickle.dynamic-import", r->op_off,
					        "STACK_GLOBAL with a module or name computed at load time "
					        "(%s.%s)", m, nm);
				report_import(r, m, nm, m, nm, "STACK_GLOBAL");
				push_v(r, make_global(r, m, nm));
				break;
			}
			/* C: "STACK_GLOBAL requires str" (bytes, ints, ... are rejected) */
			mal(r, "STACK_GLOBAL requires str");
			break;
		}
		push_v(r, find_class(r, cv->s, cv->n, cw->s, cw->n, "STACK_GLOBAL"));
		break;
	}
	case OP_INST:
		k = pop_mark(r);
		if (k < 0)
			break;
		x = pop_items_v(r, (size_t)k, PK_TUPLE);
		v = find_class(r, a->s, a->n, a->s2, a->n2, "INST");
		if (r->err != BW_OK || x == NULL)
			break;
		w = do_call(r, v, x, "INST");
		if (w != NULL)
			w->cls = v;
		push_v(r, w);
		break;
	case OP_OBJ:
		k = pop_mark(r);
		if (k < 0)
			break;
		if (r->sp - (size_t)k < 1) {
			underflow(r);
			break;
		}
		/* C load_obj: the class is the first item after the mark, then the args */
		x = pop_items_v(r, (size_t)k + 1, PK_TUPLE);
		if (x == NULL)
			break;
		v = val_of(r, r->stack[k]);
		r->sp = (size_t)k;
		if (v == NULL)
			break;
		w = do_call(r, v, x, "OBJ");
		if (w != NULL)
			w->cls = v;
		push_v(r, w);
		break;
	case OP_NEWOBJ:
		w = pop_v(r); /* args */
		v = pop_v(r); /* cls */
		if (r->err != BW_OK)
			break;
		w = call_args(r, w, "NEWOBJ");
		if (w == NULL) {
			report_call(r, v, NULL, "NEWOBJ", NULL);
			mal(r, "NEWOBJ args argument isn't a tuple");
			break;
		}
		x = do_call(r, v, w, "NEWOBJ");
		if (x != NULL)
			x->cls = v;
		push_v(r, x);
		break;
	case OP_NEWOBJ_EX:
		x = pop_v(r); /* kwargs */
		w = pop_v(r); /* args */
		v = pop_v(r); /* cls */
		if (r->err != BW_OK)
			break;
		if ((w->kind != PK_TUPLE && w->kind != PK_UNKNOWN) ||
		    (x->kind != PK_DICT && x->kind != PK_UNKNOWN)) {
			mal(r, "NEWOBJ_EX args must be a tuple and kwargs a dict");
			break;
		}
		{
			struct pk_val *all = newval(r, PK_TUPLE), *res;

			if (all == NULL)
				break;
			if (w->kind == PK_TUPLE && w->n_items > 64)
				w = newval(r, PK_UNKNOWN); /* bounded work: very long args are not shown */
			if (w == NULL)
				break;
			for (i = 0; w->kind == PK_TUPLE && i < w->n_items; i++)
				if (pk_val_push(&r->c->arena, all, w->items[i]) != 0)
					break;
			if (((x->kind == PK_DICT && x->n_items > 0) || x->kind == PK_UNKNOWN) &&
			    pk_val_push(&r->c->arena, all, pk_ref_of(x)) != 0)
				break;
			if (w->kind == PK_UNKNOWN && pk_val_push(&r->c->arena, all, pk_ref_of(w)) != 0)
				break;
			res = do_call(r, v, all, "NEWOBJ_EX");
			if (res != NULL)
				res->cls = v;
			push_v(r, res);
		}
		break;
	case OP_EXT1:
	case OP_EXT2:
	case OP_EXT4: {
		int64_t ext = code == OP_EXT4 ? a->iv.v : (int64_t)a->u;
		char nm[48];

		if (ext <= 0) {
			mal(r, "EXT specifies code <= 0");
			break;
		}
		snprintf(nm, sizeof nm, "_extension_registry[%lld]", (long long)ext);
		if (once(r, ONCE_EXT))
			finding(r, "pickle.ext-code", r->op_off,
			        "EXT code %lld: the callable comes from copyreg's extension registry at load "
			        "time", (long long)ext);
		report_import(r, "copyreg", nm, "copyreg", nm, op->name);
		{
			char *name = bw_arena_strdup(&r->c->arena, nm);

			push_v(r, name != NULL ? make_global(r, "copyreg", name) : NULL);
			if (name == NULL)
				mem_fail(r);
		}
		break;
	}
	case OP_TUPLE:
	case OP_LIST:
	case OP_DICT:
	case OP_FROZENSET:
		k = pop_mark(r);
		if (k < 0)
			break;
		if (code == OP_DICT && (r->sp - (size_t)k) % 2 != 0) {
			mal(r, "odd number of items for DICT");
			break;
		}
		push(r, pop_items(r, (size_t)k,
		                  code == OP_TUPLE ? PK_TUPLE : code == OP_LIST ? PK_LIST :
		                  code == OP_DICT ? PK_DICT : PK_FROZENSET));
		break;
	case OP_TUPLE1:
	case OP_TUPLE2:
	case OP_TUPLE3: {
		size_t cnt = (size_t)(code - OP_TUPLE1 + 1);

		if (r->sp < cnt || r->sp - cnt < fence(r)) {
			underflow(r);
			break;
		}
		push(r, pop_items(r, r->sp - cnt, PK_TUPLE));
		break;
	}
	case OP_EMPTY_TUPLE:
		push(r, (pk_ref)(uintptr_t)&pk_empty_tuple | PK_T_TUPLE);
		break;
	case OP_EMPTY_LIST:
		push_v(r, newval(r, PK_LIST));
		break;
	case OP_EMPTY_DICT:
		push_v(r, newval(r, PK_DICT));
		break;
	case OP_EMPTY_SET:
		push_v(r, newval(r, PK_SET));
		break;
	case OP_GET:
		if (a->iv.big || a->iv.v < 0) {
			mal(r, "Memo value not found (bad GET index)");
			break;
		}
		memo_get(r, (uint64_t)a->iv.v);
		break;
	case OP_BINGET:
	case OP_LONG_BINGET:
		memo_get(r, a->u);
		break;
	case OP_PUT:
		if (a->iv.big || a->iv.v < 0) {
			mal(r, "negative PUT argument");
			break;
		}
		vr = top(r);
		memo_put(r, (uint64_t)a->iv.v, vr);
		break;
	case OP_BINPUT:
	case OP_LONG_BINPUT:
		vr = top(r);
		memo_put(r, a->u, vr);
		break;
	case OP_MEMOIZE:
		vr = top(r);
		memo_put(r, r->memo_n, vr);
		break;
	case OP_PROTO:
		if (a->u > 5) {
			fail(r, BW_ERR_UNSUPPORTED, NULL, "unsupported pickle protocol: %llu",
			     (unsigned long long)a->u);
			break;
		}
		if ((r->n_proto > 0 || r->op_off != r->rd.base) && once(r, ONCE_PROTO))
			finding(r, "pickle.proto-misplaced", r->op_off,
			        "PROTO not at the start of the stream or repeated (the unpickler switches "
			        "protocol mid-stream)");
		r->n_proto++;
		r->proto = (unsigned)a->u;
		break;
	case OP_FRAME:
		/*
		 * C load_frame: the whole frame must be present, or unpickling stops here.
		 * pickle.py (the unpickler joblib subclasses) reads what is there and goes on,
		 * so code after an overlong FRAME runs under joblib: keep decoding, as it does.
		 */
		if (a->u > bw_rd_left(&r->rd)) {
			r->frame_overrun = r->op_off + 1;
			r->frame_end = bw_rd_off(&r->rd) + bw_rd_left(&r->rd);
			break;
		}
		if (r->frame_end > bw_rd_off(&r->rd) && once(r, ONCE_FRAME))
			finding(r, "pickle.frame-boundary", r->op_off,
			        "FRAME starts inside the previous frame (pickle.py raises, the C unpickler "
			        "accepts)");
		r->frame_end = bw_rd_off(&r->rd) + a->u;
		break;
	default:
		fail(r, BW_ERR_INTERNAL, NULL, "opcode 0x%02x has no handler", code);
		break;
	}
}

static inline uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Room on the stack for pushes without a check: min(capacity, max_stack - marks). */
static size_t stack_room(const struct pk_run *r)
{
	size_t lim = r->c->max_stack > r->n_marks ? r->c->max_stack - r->n_marks : 0;

	return r->scap < lim ? r->scap : lim;
}

/*
 * The opcodes that make up the bulk of real pickles (scalars, memo, tuples,
 * marks, container building), decoded straight from the mapped bytes in a
 * loop that keeps the position, stack pointer and opcode count in registers.
 * For every opcode it does exactly what read_arg + the checks of run_stream
 * + exec_op do, and returns (nothing consumed for that opcode) when it meets
 * one it does not handle, an operand cut short, over max_string or not plain
 * ASCII text, an opcode that would cross the end of the current FRAME (the
 * general path reports pickle.frame-boundary), an opcode newer than a
 * declared protocol below 4 (pickle.opcode-protocol), or the opcode limit;
 * errors and findings then come from the general path as before. Returns
 * after an error with r->err set.
 *
 * Two levels: the safe zone (at least 16 bytes left) takes the common cases
 * without bounds checks; the switch after it takes one opcode at a time with
 * full checks, calling the general helpers (memo_put, memo_get, tuple_of)
 * for everything but pushes. In the safe zone, tuples of 1-3 items whose
 * items were all pushed by the run opcodes just before them (with memo
 * stores between) are PK_T_LAZY refs to those opcodes: no memory per tuple
 * (see pk_internal.h).
 */
/* What fast_run does with each opcode byte (0: the general path). */
enum fast_class {
	F_NO = 0, F_INT1, F_INT2, F_INT4, F_FLOAT, F_CONST, F_SUNI, F_SBYTES, F_UNI,
	F_MEMOIZE, F_PUT, F_GET, F_TUPLEN, F_EXEC
};

/*
 * The opcodes fast_run handles: byte, class, protocol that introduced it
 * (pk_ops.c; test_pickle checks the two agree).
 */
#define FAST_OPS(X, P)                                                                             \
	X(OP_BININT1, F_INT1, 1, P) X(OP_BININT2, F_INT2, 1, P) X(OP_BININT, F_INT4, 1, P)         \
	X(OP_BINFLOAT, F_FLOAT, 1, P) X(OP_NONE, F_CONST, 0, P) X(OP_NEWTRUE, F_CONST, 2, P)        \
	X(OP_NEWFALSE, F_CONST, 2, P) X(OP_SHORT_BINUNICODE, F_SUNI, 4, P)                          \
	X(OP_SHORT_BINBYTES, F_SBYTES, 3, P) X(OP_BINUNICODE, F_UNI, 1, P)                          \
	X(OP_MEMOIZE, F_MEMOIZE, 4, P) X(OP_BINPUT, F_PUT, 1, P) X(OP_LONG_BINPUT, F_PUT, 1, P)     \
	X(OP_BINGET, F_GET, 1, P) X(OP_LONG_BINGET, F_GET, 1, P) X(OP_TUPLE1, F_TUPLEN, 2, P)       \
	X(OP_TUPLE2, F_TUPLEN, 2, P) X(OP_TUPLE3, F_TUPLEN, 2, P) X(OP_MARK, F_EXEC, 0, P)          \
	X(OP_TUPLE, F_EXEC, 0, P) X(OP_EMPTY_TUPLE, F_EXEC, 1, P) X(OP_EMPTY_LIST, F_EXEC, 1, P)    \
	X(OP_EMPTY_DICT, F_EXEC, 1, P) X(OP_APPEND, F_EXEC, 0, P) X(OP_APPENDS, F_EXEC, 1, P)       \
	X(OP_SETITEM, F_EXEC, 0, P) X(OP_SETITEMS, F_EXEC, 1, P) X(OP_POP, F_EXEC, 0, P)
#define FAST_ENTRY(op, cls, proto, p) [op] = (proto) <= (p) ? (cls) : F_NO,

/*
 * Class of each opcode byte for a stream that declared protocol 0..3 (an
 * opcode newer than that is F_NO: the general path reports
 * pickle.opcode-protocol), and for protocol 4 and up or none declared.
 * Dense classes: one jump table for the switch (the bytes are spread over 0x28-0x98).
 */
static const uint8_t fast_cls[5][256] = {
	{FAST_OPS(FAST_ENTRY, 0)}, {FAST_OPS(FAST_ENTRY, 1)}, {FAST_OPS(FAST_ENTRY, 2)},
	{FAST_OPS(FAST_ENTRY, 3)}, {FAST_OPS(FAST_ENTRY, 255)},
};

/* fast_run's class of code under protocol proto (255: any); for test_pickle. */
int pk_fast_class(unsigned proto, uint8_t code)
{
	return fast_cls[proto < 4 ? proto : 4][code];
}

__attribute__((noinline)) static void fast_run(struct pk_run *r)
{
	struct pk_ctx *c = r->c;
	const uint8_t *const base = r->rd.p;
	const uint64_t off0 = r->rd.base, max_string = c->max_string;
	const uint8_t *q = base + r->rd.pos, *end = base + r->rd.len, *run_p;
	const uint8_t *safe;
	size_t sp = r->sp, slim, fnc, run_sp, mn, memo_end;
	uint64_t n_ops = r->n_ops, ops_end = c->max_ops, run_ops;
	pk_ref *stk, *dense;
	/* opcode-protocol is checked (and reported once) by the general path */
	const uint8_t *const cls =
		fast_cls[r->proto < 4 && r->n_proto > 0 && !(r->once & ONCE_OPPROTO) ? r->proto : 4];
	const int fuse = cls[OP_MEMOIZE] == F_MEMOIZE;

	if (r->err != BW_OK)
		return;
	/* pickle.py's framing: an opcode that crosses the frame's end goes the general way */
	if (r->frame_end != 0 && off0 + r->rd.pos < r->frame_end && r->frame_end - off0 < r->rd.len)
		end = base + (r->frame_end - off0);
	if (c->detect) {
		/* the trial decode's bounds, checked by run_stream after every opcode */
		if ((size_t)(end - base) > PK_DETECT_BYTES)
			end = base + PK_DETECT_BYTES;
		if (ops_end > PK_DETECT_OPS)
			ops_end = PK_DETECT_OPS;
	}
	/* every opcode is at least one byte: within end, the opcode limit cannot be passed */
	if (n_ops >= ops_end)
		return;
	if ((uint64_t)(end - q) > ops_end - n_ops)
		end = q + (ops_end - n_ops);
	/*
	 * The safe zone: an opcode starting before safe has all of its fixed-size
	 * part (at most 9 bytes) before end, so only string lengths are checked;
	 * and views can be made (addresses below 2^47, see PK_T_VIEW).
	 */
	safe = (size_t)(end - q) > 16 && ((uint64_t)(uintptr_t)end >> 47) == 0 ? end - 16 : q;

/*
 * Registers to r before a helper (op: the opcode's first byte), back after.
 * mn is memo_n (= dense_n) while memo_end > 0: MEMOIZE then writes the next
 * dense slot inline.
 */
#define FAST_SYNC(op) (r->rd.pos = (size_t)(q - base), r->sp = sp, r->n_ops = n_ops, \
                       r->op_off = off0 + (size_t)((op) - base), \
                       memo_end > 0 ? (void)(r->memo_n = r->dense_n = mn) : (void)0)
#define FAST_LOAD() (stk = r->stack, dense = r->dense, sp = r->sp, slim = stack_room(r), fnc = fence(r), \
                     mn = r->memo_n, \
                     memo_end = r->hash_n == 0 && r->memo_n == r->dense_n \
                                ? (r->dense_cap < c->max_memo ? r->dense_cap : c->max_memo) : 0)
#define FAST_RESET_RUN() (run_sp = sp, run_p = q, run_ops = n_ops)

	FAST_LOAD();
	FAST_RESET_RUN();
	for (;;) {
		const uint8_t *p;
		uint8_t code;
		size_t adv;
		pk_ref x;

		/*
		 * The safe zone: the common cases of the opcodes below without
		 * per-opcode bounds checks, and a MEMOIZE after a pushed value or
		 * tuple stored in the same step; MEMOIZE, and BINPUT/LONG_BINPUT of
		 * the next sequential key (protocol 2), write the next dense memo
		 * slot inline. Anything else (a string cut short, a full stack, a
		 * memo store or fetch off the dense array, a tuple that is not lazy,
		 * every other opcode) goes to the switch below for that one opcode,
		 * with nothing consumed.
		 */
		while (q < safe) {
			p = q;
			switch (cls[*p]) {
			case F_INT1:
				x = pk_run_binint1(p, 16, &adv);
				break;
			case F_INT2:
				x = pk_run_binint2(p, 16, &adv);
				break;
			case F_INT4:
				x = pk_run_binint(p, 16, &adv);
				break;
			case F_FLOAT:
				x = pk_run_binfloat(p, 16, &adv);
				break;
			case F_CONST:
				x = pk_run_const(p, &adv);
				break;
			case F_SUNI:
				x = pk_run_short(p, (size_t)(end - p), max_string, 0, &adv);
				if (x == 0)
					goto careful;
				break;
			case F_SBYTES:
				x = pk_run_short(p, (size_t)(end - p), max_string, 1, &adv);
				if (x == 0)
					goto careful;
				break;
			case F_UNI:
				x = pk_run_binunicode(p, (size_t)(end - p), max_string, &adv);
				if (x == 0)
					goto careful;
				break;
			case F_MEMOIZE:
				if (mn >= memo_end || sp <= fnc)
					goto careful;
				dense[mn++] = stk[sp - 1];
				q = p + 1;
				n_ops++;
				continue; /* a memo store keeps the run */
			case F_PUT: {
				/* the next sequential key (what protocol 2 writes): a fresh dense slot */
				uint64_t key = *p == OP_BINPUT ? p[1] : le32_at(p + 1);

				if (key != mn || mn >= memo_end || sp <= fnc)
					goto careful;
				dense[mn++] = stk[sp - 1];
				q = p + (*p == OP_BINPUT ? 2 : 5);
				n_ops++;
				continue; /* a memo store keeps the run */
			}
			case F_GET: {
				uint64_t key = *p == OP_BINGET ? p[1] : le32_at(p + 1);

				if (key >= (memo_end > 0 ? mn : r->dense_n) || dense[key] == 0 || sp >= slim)
					goto careful;
				stk[sp++] = dense[key];
				q = p + (*p == OP_BINGET ? 2 : 5);
				n_ops++;
				FAST_RESET_RUN();
				continue;
			}
			case F_TUPLEN: {
				size_t k = (size_t)(*p - OP_TUPLE1 + 1);

				if (sp < k || sp - k < fnc || sp - k != run_sp || n_ops - run_ops > PK_LAZY_OPS)
					goto careful;
				x = ((uint64_t)(uintptr_t)run_p << 5) | ((uint64_t)k << 3) | PK_T_LAZY;
				sp -= k;
				stk[sp++] = x;
				q = p + 1;
				n_ops++;
				FAST_RESET_RUN();
				goto stored;
			}
			default:
				goto careful;
			}
			/* a run opcode's value */
			if (sp >= slim)
				goto careful;
			stk[sp++] = x;
			q = p + adv;
			n_ops++;
		stored:
			if (fuse && q < end && *q == OP_MEMOIZE && mn < memo_end) {
				dense[mn++] = x;
				q++;
				n_ops++;
			}
		}
	careful:
		if (q >= end)
			break;
		p = q;
		code = *p;
		switch (cls[code]) {
		/* the run opcodes (pk_run_op, one function each) */
		case F_INT1:
			x = pk_run_binint1(p, (size_t)(end - p), &adv);
			goto push;
		case F_INT2:
			x = pk_run_binint2(p, (size_t)(end - p), &adv);
			goto push;
		case F_INT4:
			x = pk_run_binint(p, (size_t)(end - p), &adv);
			goto push;
		case F_FLOAT:
			x = pk_run_binfloat(p, (size_t)(end - p), &adv);
			goto push;
		case F_CONST:
			x = pk_run_const(p, &adv);
			goto push;
		case F_SUNI:
			x = pk_run_short(p, (size_t)(end - p), max_string, 0, &adv);
			goto push;
		case F_SBYTES:
			x = pk_run_short(p, (size_t)(end - p), max_string, 1, &adv);
			goto push;
		case F_UNI:
			x = pk_run_binunicode(p, (size_t)(end - p), max_string, &adv);
		push:
			if (x == 0)
				goto out;
			q += adv;
			n_ops++;
			if (__builtin_expect(sp < slim, 1)) {
				stk[sp++] = x;
				continue;
			}
			FAST_SYNC(p);
			push_slow(r, x);
			if (r->err != BW_OK)
				return;
			FAST_LOAD();
			continue;
		/* memo stores, fetches and tuples the safe zone did not take (or in the tail) */
		case F_MEMOIZE:
			q++;
			n_ops++;
			FAST_SYNC(p);
			memo_put(r, r->memo_n, top(r));
			if (r->err != BW_OK)
				return;
			FAST_LOAD();
			continue;
		case F_PUT:
			adv = code == OP_BINPUT ? 2 : 5;
			if ((size_t)(end - p) < adv)
				goto out;
			q += adv;
			n_ops++;
			FAST_SYNC(p);
			memo_put(r, code == OP_BINPUT ? p[1] : le32_at(p + 1), top(r));
			if (r->err != BW_OK)
				return;
			FAST_LOAD();
			continue;
		case F_GET: {
			uint64_t key;

			adv = code == OP_BINGET ? 2 : 5;
			if ((size_t)(end - p) < adv)
				goto out;
			key = code == OP_BINGET ? p[1] : le32_at(p + 1);
			q += adv;
			n_ops++;
			FAST_SYNC(p);
			memo_get(r, key);
			if (r->err != BW_OK)
				return;
			FAST_LOAD();
			FAST_RESET_RUN();
			continue;
		}
		case F_TUPLEN: {
			size_t k = (size_t)(code - OP_TUPLE1 + 1);

			q++;
			n_ops++;
			FAST_SYNC(p);
			if (sp < k || sp - k < fnc) {
				underflow(r);
				return;
			}
			x = tuple_of(r, stk + sp - k, k);
			if (x == 0)
				return;
			sp -= k;
			stk[sp++] = x; /* k >= 1 items were taken: there is room */
			FAST_RESET_RUN();
			continue;
		}
		case F_EXEC: {
			struct pk_arg none;

			q++;
			n_ops++;
			FAST_SYNC(p);
			none.kind = BW_PICKLE_ARG_NONE;
			exec_op(r, code, &pk_ops[code], &none);
			if (r->err != BW_OK)
				return;
			FAST_LOAD();
			FAST_RESET_RUN();
			continue;
		}
		default:
			goto out;
		}
	}
out:
	FAST_SYNC(q);
#undef FAST_SYNC
#undef FAST_LOAD
#undef FAST_RESET_RUN
}

/*
 * Decode one pickle stream starting at absolute offset start, up to its STOP
 * or its first failure (recorded in out->err). Returns BW_ERR_NOMEM only.
 */
static enum bw_err run_stream(struct pk_ctx *c, size_t start, int nested, struct pk_run *r)
{
	/* the listing sees every opcode through the general path */
	int fast = c->trace == NULL || c->trace->op == NULL || c->plain;

	memset(r, 0, sizeof *r);
	r->c = c;
	r->nested = nested;
	bw_rd_init(&r->rd, c->data + start, c->len - start, start);
	if (!nested) {
		/* reuse the previous stream's buffers (many tiny concatenated streams) */
		r->stack = c->stk;
		r->scap = c->stk_cap;
		r->marks = c->mk;
		r->mcap = c->mk_cap;
		/* a big hash is dropped rather than cleared; the dense part clears itself (dense_n) */
		if (c->memo_cap > 4096)
			drop_buf(c, (void **)&c->memo, &c->memo_cap, sizeof *c->memo);
		r->memo = c->memo;
		r->memo_cap = c->memo_cap;
		if (r->memo_cap)
			memset(r->memo, 0, r->memo_cap * sizeof *r->memo);
		r->dense = c->dense;
		r->dense_cap = c->dense_cap;
	}
	for (;;) {
		const struct pk_opinfo *op;
		struct pk_arg a;
		uint8_t code;
		uint64_t op_start = bw_rd_off(&r->rd);

		r->op_off = op_start;
		if (r->n_ops >= c->max_ops) {
			fail(r, BW_ERR_LIMIT, "pickle.limit-ops", "more than %llu opcodes in one stream",
			     (unsigned long long)c->max_ops);
			break;
		}
		if (bw_rd_left(&r->rd) == 0) {
			fail(r, BW_ERR_TRUNCATED, NULL, "%s",
			     r->n_ops == 0 ? "Ran out of input" : "pickle data was truncated (no STOP)");
			break;
		}
		if (fast) {
			size_t pos0 = r->rd.pos;

			fast_run(r);
			if (r->err != BW_OK)
				break;
			if (c->detect && (r->n_ops >= PK_DETECT_OPS || bw_rd_off(&r->rd) - start >= PK_DETECT_BYTES))
				break;
			if (r->rd.pos != pos0)
				continue; /* the checks above again, then the general path for what stopped it */
		}
		code = bw_rd_u8(&r->rd);
		op = pk_op(code);
		if (op == NULL) {
			fail(r, BW_ERR_MALFORMED, NULL, "invalid load key, '\\x%02x'", code);
			break;
		}
		r->n_ops++;
		read_arg(r, op, code, &a);
		if (r->err != BW_OK)
			break;
		/* pickle.py's framing: an opcode may not straddle the end of a frame */
		if (r->frame_end != 0 && op_start < r->frame_end && bw_rd_off(&r->rd) > r->frame_end &&
		    once(r, ONCE_FRAME))
			finding(r, "pickle.frame-boundary", op_start,
			        "%s straddles the end of its FRAME (pickle.py raises, the C unpickler accepts)",
			        op->name);
		if (op->proto > r->proto && r->n_proto > 0 && once(r, ONCE_OPPROTO))
			finding(r, "pickle.opcode-protocol", op_start,
			        "%s (protocol %u) in a protocol %u stream", op->name, op->proto, r->proto);
		if (c->trace != NULL && c->trace->op != NULL && !c->plain) {
			struct bw_pickle_op t;

			memset(&t, 0, sizeof t);
			t.stream = c->stream;
			t.offset = op_start;
			t.code = code;
			t.name = op->name;
			t.proto = op->proto;
			t.arg_kind = a.kind;
			if (a.kind == BW_PICKLE_ARG_INT || a.kind == BW_PICKLE_ARG_BOOL ||
			    a.kind == BW_PICKLE_ARG_FLOAT) {
				if (!a.iv.big)
					arg_text(&a);
				t.text = a.iv.big ? a.iv.text : a.text;
			}
			if (a.kind == BW_PICKLE_ARG_STR || a.kind == BW_PICKLE_ARG_BYTES) {
				t.data = a.s;
				t.data_len = a.n;
				if (a.s2 != NULL) {
					/* GLOBAL/INST: "module name" as pickletools shows it */
					uint8_t *j = bw_arena_alloc(&c->arena, a.n + a.n2 + 1);

					if (j != NULL) {
						memcpy(j, a.s, a.n);
						j[a.n] = ' ';
						memcpy(j + a.n + 1, a.s2, a.n2);
						t.data = j;
						t.data_len = a.n + a.n2 + 1;
					}
				}
			}
			c->trace->op(c->trace->user, &t);
		}
		exec_op(r, code, op, &a);
		if (r->err != BW_OK || code == OP_STOP)
			break;
		if (c->detect && r->hit_import)
			break;
		if (c->detect && (r->n_ops >= PK_DETECT_OPS || bw_rd_off(&r->rd) - start >= PK_DETECT_BYTES))
			break;
	}
	if (!nested) {
		c->stk = r->stack;
		c->stk_cap = r->scap;
		c->mk = r->marks;
		c->mk_cap = r->mcap;
		c->memo = r->memo;
		c->memo_cap = r->memo_cap;
		c->dense = r->dense;
		c->dense_cap = r->dense_cap;
	} else {
		drop_buf(c, (void **)&r->stack, &r->scap, sizeof *r->stack);
		drop_buf(c, (void **)&r->marks, &r->mcap, sizeof *r->marks);
		drop_buf(c, (void **)&r->memo, &r->memo_cap, sizeof *r->memo);
		dense_drop(c, &r->dense, &r->dense_cap);
	}
	return c->nomem ? BW_ERR_NOMEM : BW_OK;
}

/* ---------------------------------------------------------------- public */

static void ctx_init(struct pk_ctx *c, const uint8_t *data, size_t len, const struct bw_limits *lim,
                     int detect)
{
	memset(c, 0, sizeof *c);
	c->data = data;
	c->len = len;
	c->max_ops = lim != NULL && lim->max_pickle_ops ? lim->max_pickle_ops : PK_DEF_OPS;
	c->max_stack = lim != NULL && lim->max_pickle_stack ? lim->max_pickle_stack : PK_DEF_STACK;
	c->max_memo = lim != NULL && lim->max_pickle_memo ? lim->max_pickle_memo : PK_DEF_MEMO;
	c->max_string = lim != NULL && lim->max_string ? lim->max_string : PK_DEF_STRING;
	c->max_nesting = lim != NULL && lim->max_nesting ? lim->max_nesting : PK_DEF_NESTING;
	bw_arena_init(&c->arena, lim != NULL && lim->mem_budget ? (size_t)lim->mem_budget : PK_DEF_MEM);
	c->detect = detect;
}

static void ctx_release(struct pk_ctx *c)
{
	drop_buf(c, (void **)&c->stk, &c->stk_cap, sizeof *c->stk);
	drop_buf(c, (void **)&c->mk, &c->mk_cap, sizeof *c->mk);
	drop_buf(c, (void **)&c->memo, &c->memo_cap, sizeof *c->memo);
	dense_drop(c, &c->dense, &c->dense_cap);
	bw_arena_release(&c->arena);
}

int bw_pickle_detect(const uint8_t *data, size_t len)
{
	struct pk_ctx c;
	struct pk_run r;
	struct bw_limits lim;
	int score = 0;

	if (data == NULL || len < 2)
		return 0;
	memset(&lim, 0, sizeof lim);
	lim.max_pickle_ops = PK_DETECT_OPS + 1;
	lim.max_pickle_stack = 100000;
	lim.max_pickle_memo = 100000;
	lim.max_string = PK_DETECT_BYTES;
	lim.max_nesting = 10000;
	lim.mem_budget = 16u << 20;
	ctx_init(&c, data, len, &lim, 1);
	if (run_stream(&c, 0, 0, &r) == BW_OK) {
		/* a limit inside the trial window (long operand) is not a decoding error */
		if (r.err == BW_OK || (r.err == BW_ERR_LIMIT && r.n_ops > 1))
			score = (data[0] == OP_PROTO && data[1] >= 2 && data[1] <= 5) ? 95
			        /* "N." and other 2-3 opcode protocol 0/1 streams are 1 in 10^4 of any
			         * bytes: without an import they are a weak claim (whole files only) */
			        : (r.n_ops < 4 && !r.hit_import) ? BW_DETECT_WEAK
			        /* a stream that starts with PERSID ("PK\3\4..." of every zip) stops
			         * pickle.load at once unless the loader defines persistent_load */
			        : (data[0] == 'P' || data[0] == 'Q') ? BW_DETECT_WEAK : 60;
		/*
		 * A PROTO 2-5 header that breaks before STOP or any import: a truncated or
		 * hostile pickle - or raw tensor bytes that happen to start with 0x80 0x0N.
		 * A weak claim: the engine uses it for whole files only, never for members.
		 */
		else if (data[0] == OP_PROTO && data[1] >= 2 && data[1] <= 5)
			score = BW_DETECT_WEAK;
	}
	ctx_release(&c);
	return score;
}

/* The legacy torch.save magic number 0x1950a86a20f9469cfc6c as LONG1 payload. */
static int is_torch_magic(pk_ref x)
{
	const struct pk_val *v = pk_ref_ptr(x);

	return v != NULL && v->kind == PK_INT && v->big && streq(v->text, "119547037146038801333356");
}

static void report_stop(struct pk_ctx *c, struct pk_run *r)
{
	const struct bw_fmt_sink *s = c->sink;
	char msg[400];

	if (r->rule != NULL)
		s->finding(s->user, r->rule, r->err_off, r->why);
	else
		s->finding(s->user, "pickle.broken-stream", r->err_off, r->why);
	snprintf(msg, sizeof msg, "pickle stream %s at offset %llu: %s",
	         r->err == BW_ERR_LIMIT ? "not fully scanned" : "broken", (unsigned long long)r->err_off,
	         r->why);
	s->incomplete(s->user, r->err == BW_ERR_INTERNAL ? BW_ERR_MALFORMED : r->err, r->err_off, msg);
}

enum bw_err bw_pickle_scan_trace(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink,
                                 const struct bw_pickle_trace *trace)
{
	struct pk_ctx c;
	enum bw_err e = BW_OK;
	size_t pos = 0;
	int legacy = 0, multi = 0;

	static const uint8_t empty[1];

	if (sink == NULL || (data == NULL && len > 0))
		return BW_ERR_ARG;
	if (data == NULL)
		data = empty; /* no arithmetic on a null pointer below */
	ctx_init(&c, data, len, sink->lim, 0);
	c.sink = sink;
	c.trace = trace;
	for (;;) {
		struct pk_run r;

		e = run_stream(&c, pos, 0, &r);
		if (e != BW_OK)
			break;
		if (r.joblib_skips > 0) {
			/* the same bytes as plain pickle.load reads them (no array skipping) */
			struct pk_run plain;

			c.plain = 1;
			e = run_stream(&c, pos, 0, &plain);
			c.plain = 0;
			if (e != BW_OK)
				break;
		}
		if (r.err != BW_OK) {
			report_stop(&c, &r);
			break;
		}
		if (r.sp > 0 || r.n_marks > 0)
			finding(&r, "pickle.stack-not-empty", r.op_off,
			        "%zu value(s) and %zu mark(s) left below the result at STOP (pickletools.dis "
			        "rejects this; the unpickler ignores them)", r.sp, r.n_marks);
		pos = (size_t)bw_rd_off(&r.rd);
		if (c.stream == 0 && is_torch_magic(r.result)) {
			legacy = 1;
			if (sink->format != NULL)
				sink->format(sink->user, "pytorch-legacy");
		}
		c.stream++;
		if (pos >= len)
			break;
		if (legacy && c.stream == 5) {
			/* torch.load reads raw storage bytes after the 5th pickle */
			if (bw_pickle_detect(data + pos, len - pos) > 0)
				sink->finding(sink->user, "pickle.unloaded-stream", pos,
				              "bytes after the 5 pickles of a legacy torch file look like another "
				              "pickle, which torch.load does not unpickle");
			break;
		}
		if (bw_pickle_detect(data + pos, len - pos) > 0) {
			if (!multi && !legacy)
				sink->finding(sink->user, "pickle.multiple-streams", pos,
				              "another pickle stream follows the first STOP");
			multi = 1;
			continue;
		}
		{
			char msg[120];

			snprintf(msg, sizeof msg, "%zu byte(s) after the final STOP are not a pickle", len - pos);
			sink->finding(sink->user, "pickle.trailing-data", pos, msg);
		}
		break;
	}
	if (e == BW_OK && legacy && c.stream < 5 && pos >= len) {
		/* fewer than 5 streams in a legacy file: torch.load would fail */
		sink->incomplete(sink->user, BW_ERR_TRUNCATED, pos,
		                 "legacy torch file ends before its 5 pickles");
	}
	ctx_release(&c);
	return e;
}

enum bw_err bw_pickle_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	return bw_pickle_scan_trace(data, len, sink, NULL);
}
