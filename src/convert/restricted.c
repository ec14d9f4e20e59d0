/*
 * restricted.c - the restricted unpickler of bulwark convert (see restricted.h).
 *
 * Opcode semantics follow CPython's C unpickler for the protocol 2-5 subset
 * torch.save writes (pickletools' table for arguments). The evaluator is an
 * explicit stack machine: no recursion on input depth; the only recursion is
 * the name flattening at the end, bounded by MAX_DEPTH. Every container,
 * string and memo entry is counted against fixed caps.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "convert/restricted.h"
#include "core/alloc.h"
#include "core/reader.h"

#define MAX_STACK 1000000u
#define MAX_MEMO 10000000u
#define MAX_ITEMS 100000000u
#define MAX_DEPTH 64
#define MAX_NAME 4096

enum vk {
	V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_BYTES, V_TUPLE, V_LIST, V_DICT, V_GLOBAL,
	V_STORAGE, V_TENSOR, V_OPAQUE
};

enum gid {
	G_ORDERED_DICT, G_REBUILD_V2, G_REBUILD, G_REBUILD_PARAM, G_REBUILD_PARAM_STATE, G_SIZE,
	G_STORAGE_TYPE, G_DTYPE_VALUE, G_TENSOR_TYPE
};

struct val {
	enum vk k;
	int64_t i;
	double f;
	const char *s;       /* str, bytes, global name, storage key */
	size_t n;            /* length of s */
	struct val **items;  /* tuple/list items; dict: key, value, key, value ... */
	size_t count, cap;   /* items (dict: pairs) */
	enum gid g;          /* V_GLOBAL */
	enum bw_dtype dtype; /* V_GLOBAL storage type, V_STORAGE */
	struct bw_rtensor *t;
};

static const char *const dtype_names[BW_DT__COUNT] = {
	"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "U16", "U32", "U64"};
static const size_t dtype_sizes[BW_DT__COUNT] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1, 2, 4, 8};

const char *bw_dtype_name(enum bw_dtype t)
{
	return (unsigned)t < BW_DT__COUNT ? dtype_names[t] : "?";
}

size_t bw_dtype_size(enum bw_dtype t)
{
	return (unsigned)t < BW_DT__COUNT ? dtype_sizes[t] : 0;
}

static const struct {
	const char *name;
	enum bw_dtype dt;
} storages[] = {
	{"DoubleStorage", BW_DT_F64}, {"FloatStorage", BW_DT_F32}, {"HalfStorage", BW_DT_F16},
	{"BFloat16Storage", BW_DT_BF16}, {"LongStorage", BW_DT_I64}, {"IntStorage", BW_DT_I32},
	{"ShortStorage", BW_DT_I16}, {"CharStorage", BW_DT_I8}, {"ByteStorage", BW_DT_U8},
	{"BoolStorage", BW_DT_BOOL},
};

/*
 * Tensor type classes named by the tar format's "tensors" records (torch and
 * torch.cuda; storage records name torch or torch.cuda storage classes).
 */
static const struct {
	const char *name;
	enum bw_dtype dt;
} tensor_types[] = {
	{"DoubleTensor", BW_DT_F64}, {"FloatTensor", BW_DT_F32}, {"HalfTensor", BW_DT_F16},
	{"BFloat16Tensor", BW_DT_BF16}, {"LongTensor", BW_DT_I64}, {"IntTensor", BW_DT_I32},
	{"ShortTensor", BW_DT_I16}, {"CharTensor", BW_DT_I8}, {"ByteTensor", BW_DT_U8},
	{"BoolTensor", BW_DT_BOOL},
};

struct vm {
	struct bw_arena *a;
	struct bw_diag *diag;
	struct bw_reader rd;
	struct val **stack;
	size_t sp, stack_cap;
	size_t *marks;
	size_t n_marks, marks_cap;
	struct val **memo;
	size_t memo_n, memo_cap;
	enum bw_err err;
	int plain; /* 1: bw_restricted_plain, no globals at all; 2: tar records, type classes only */
	const struct bw_rpids *pids; /* tar format: persistent ids name tensors by key */
};

__attribute__((format(printf, 4, 5))) static void fail(struct vm *m, enum bw_err e, uint64_t off,
                                                     const char *fmt, ...)
{
	va_list ap;
	char msg[200];

	if (m->err != BW_OK)
		return;
	m->err = e;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	(void)bw_diag_set(m->diag, e, off, "%s", msg);
}

static struct val *newv(struct vm *m, enum vk k)
{
	struct val *v = bw_arena_alloc(m->a, sizeof *v);

	if (v == NULL)
		fail(m, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory (budget) while converting");
	else
		v->k = k;
	return v;
}

static void push(struct vm *m, struct val *v)
{
	if (v == NULL || m->err != BW_OK)
		return;
	if (m->sp == m->stack_cap) {
		size_t ncap = m->stack_cap ? m->stack_cap * 2 : 64;
		struct val **ns;
		if (ncap > MAX_STACK) {
			fail(m, BW_ERR_LIMIT, bw_rd_off(&m->rd), "pickle stack deeper than %u", MAX_STACK);
			return;
		}
		ns = bw_arena_array(m->a, ncap, sizeof *ns);
		if (ns == NULL) {
			fail(m, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory");
			return;
		}
		if (m->sp)
			memcpy(ns, m->stack, m->sp * sizeof *ns);
		m->stack = ns;
		m->stack_cap = ncap;
	}
	m->stack[m->sp++] = v;
}

static struct val *pop(struct vm *m, uint64_t off)
{
	size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;

	if (m->err != BW_OK)
		return NULL;
	if (m->sp <= floor) {
		fail(m, BW_ERR_MALFORMED, off, "pickle stack underflow at byte %llu", (unsigned long long)off);
		return NULL;
	}
	return m->stack[--m->sp];
}

static struct val *top(struct vm *m, uint64_t off)
{
	struct val *v = pop(m, off);

	if (v != NULL)
		m->sp++;
	return v;
}

/* Pop everything above the last mark; returns the start index (items stay in m->stack). */
static int pop_mark(struct vm *m, uint64_t off, size_t *start)
{
	if (m->err != BW_OK)
		return -1;
	if (m->n_marks == 0) {
		fail(m, BW_ERR_MALFORMED, off, "no MARK before the opcode at byte %llu",
		     (unsigned long long)off);
		return -1;
	}
	*start = m->marks[--m->n_marks];
	return 0;
}

static void add_item(struct vm *m, struct val *c, struct val *v, uint64_t off)
{
	size_t need = c->k == V_DICT ? 2 : 1;

	if (m->err != BW_OK)
		return;
	if (c->count * need + need > c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 8;
		struct val **ni;
		if (ncap > MAX_ITEMS) {
			fail(m, BW_ERR_LIMIT, off, "container larger than %u items", MAX_ITEMS);
			return;
		}
		ni = bw_arena_array(m->a, ncap, sizeof *ni);
		if (ni == NULL) {
			fail(m, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory");
			return;
		}
		if (c->count)
			memcpy(ni, c->items, c->count * need * sizeof *ni);
		c->items = ni;
		c->cap = ncap;
	}
	c->items[c->count * need] = v;
	if (c->k != V_DICT)
		c->count++;
}

static void dict_set(struct vm *m, struct val *d, struct val *k, struct val *v, uint64_t off)
{
	if (d->k != V_DICT) {
		fail(m, BW_ERR_UNSUPPORTED, off, "SETITEM on something that is not a dict (byte %llu)",
		     (unsigned long long)off);
		return;
	}
	add_item(m, d, k, off);
	if (m->err == BW_OK) {
		d->items[d->count * 2 + 1] = v;
		d->count++;
	}
}

static struct val *make_seq(struct vm *m, enum vk k, size_t start)
{
	struct val *t = newv(m, k);
	size_t i;

	if (t == NULL)
		return NULL;
	for (i = start; i < m->sp && m->err == BW_OK; i++)
		add_item(m, t, m->stack[i], BW_NO_OFFSET);
	m->sp = start;
	return t;
}

static struct val *make_str(struct vm *m, enum vk k, const uint8_t *p, size_t n)
{
	struct val *v = newv(m, k);

	if (v == NULL)
		return NULL;
	v->s = bw_arena_strndup(m->a, (const char *)p, n);
	v->n = n;
	if (v->s == NULL && n > 0)
		fail(m, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory");
	if (v->s != NULL && strlen(v->s) != n && k == V_STR)
		v->n = strlen(v->s); /* NUL inside a name: keep the visible part */
	return v;
}

static void memo_put(struct vm *m, uint64_t idx, struct val *v, uint64_t off)
{
	if (v == NULL || m->err != BW_OK)
		return;
	if (idx >= MAX_MEMO) {
		fail(m, BW_ERR_LIMIT, off, "memo index %llu over the limit", (unsigned long long)idx);
		return;
	}
	if (idx >= m->memo_cap) {
		size_t ncap = m->memo_cap ? m->memo_cap : 64;
		struct val **nm;
		while (ncap <= idx)
			ncap *= 2;
		nm = bw_arena_array(m->a, ncap, sizeof *nm);
		if (nm == NULL) {
			fail(m, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory");
			return;
		}
		if (m->memo_cap)
			memcpy(nm, m->memo, m->memo_cap * sizeof *nm);
		m->memo = nm;
		m->memo_cap = ncap;
	}
	m->memo[idx] = v;
	if (idx >= m->memo_n)
		m->memo_n = idx + 1;
}

static struct val *memo_get(struct vm *m, uint64_t idx, uint64_t off)
{
	if (idx >= m->memo_cap || m->memo[idx] == NULL) {
		fail(m, BW_ERR_MALFORMED, off, "memo key %llu was never stored (byte %llu)",
		     (unsigned long long)idx, (unsigned long long)off);
		return NULL;
	}
	return m->memo[idx];
}

static struct val *resolve_global(struct vm *m, const char *mod, size_t ml, const char *name,
                                  size_t nl, uint64_t off)
{
	struct val *g;
	char full[256];
	size_t i;

	snprintf(full, sizeof full, "%.*s.%.*s", (int)(ml > 100 ? 100 : ml), mod,
	         (int)(nl > 100 ? 100 : nl), name);
	if (m->plain == 1) {
		fail(m, BW_ERR_UNSUPPORTED, off, "refusing to convert: a header record imports %s", full);
		return NULL;
	}
	if (m->plain == 2) {
		const char *dot = strrchr(full, '.');
		int is_torch = strncmp(full, "torch.", 6) == 0 && dot == full + 5;
		int is_cuda = strncmp(full, "torch.cuda.", 11) == 0 && dot == full + 10;

		g = newv(m, V_GLOBAL);
		if (g == NULL)
			return NULL;
		g->s = bw_arena_strdup(m->a, full);
		for (i = 0; (is_torch || is_cuda) && i < sizeof tensor_types / sizeof tensor_types[0]; i++) {
			if (strcmp(dot + 1, tensor_types[i].name) == 0) {
				g->g = G_TENSOR_TYPE;
				g->dtype = tensor_types[i].dt;
				return g;
			}
		}
		for (i = 0; (is_torch || is_cuda) && i < sizeof storages / sizeof storages[0]; i++) {
			if (strcmp(dot + 1, storages[i].name) == 0) {
				g->g = G_STORAGE_TYPE;
				g->dtype = storages[i].dt;
				return g;
			}
		}
		fail(m, BW_ERR_UNSUPPORTED, off, "refusing to convert: a tensor/storage record imports "
		     "%s, which is not a tensor or storage type (byte %llu)", full, (unsigned long long)off);
		return NULL;
	}
	g = newv(m, V_GLOBAL);
	if (g == NULL)
		return NULL;
	g->s = bw_arena_strdup(m->a, full);
	if (strcmp(full, "collections.OrderedDict") == 0)
		g->g = G_ORDERED_DICT;
	else if (strcmp(full, "torch._utils._rebuild_tensor_v2") == 0)
		g->g = G_REBUILD_V2;
	else if (strcmp(full, "torch._utils._rebuild_tensor") == 0)
		g->g = G_REBUILD;
	else if (strcmp(full, "torch._utils._rebuild_parameter") == 0 ||
	         strcmp(full, "torch.nn.parameter.Parameter") == 0)
		g->g = G_REBUILD_PARAM;
	else if (strcmp(full, "torch._utils._rebuild_parameter_with_state") == 0)
		g->g = G_REBUILD_PARAM_STATE;
	else if (strcmp(full, "torch.Size") == 0)
		g->g = G_SIZE;
	else {
		for (i = 0; i < sizeof storages / sizeof storages[0]; i++) {
			if (ml == 5 && memcmp(mod, "torch", 5) == 0 && strlen(storages[i].name) == nl &&
			    memcmp(name, storages[i].name, nl) == 0) {
				g->g = G_STORAGE_TYPE;
				g->dtype = storages[i].dt;
				return g;
			}
		}
		fail(m, BW_ERR_UNSUPPORTED, off,
		     "refusing to convert: the file imports %s, which is not part of the "
		     "tensor-rebuilding subset (byte %llu)", full, (unsigned long long)off);
		return NULL;
	}
	return g;
}

static int as_int(const struct val *v, int64_t *out)
{
	if (v == NULL || (v->k != V_INT && v->k != V_BOOL))
		return -1;
	*out = v->i;
	return 0;
}

/* Fill shape/stride from tuples of ints; checks the element count fits 64 bits. */
static int dims(struct vm *m, struct bw_rtensor *t, const struct val *size, const struct val *stride,
                uint64_t off)
{
	size_t i;
	int64_t x;

	if (size == NULL || size->k != V_TUPLE || size->count > BW_MAX_DIMS ||
	    (stride != NULL && (stride->k != V_TUPLE || stride->count != size->count))) {
		fail(m, BW_ERR_UNSUPPORTED, off, "tensor with an unreadable shape/stride (byte %llu)",
		     (unsigned long long)off);
		return -1;
	}
	t->ndim = (unsigned)size->count;
	for (i = 0; i < size->count; i++) {
		if (as_int(size->items[i], &x) != 0 || x < 0) {
			fail(m, BW_ERR_MALFORMED, off, "tensor dimension is not a non-negative int");
			return -1;
		}
		t->shape[i] = (uint64_t)x;
	}
	/* strides default to contiguous row-major */
	for (i = t->ndim; i > 0; i--) {
		if (stride != NULL) {
			if (as_int(stride->items[i - 1], &x) != 0 || x < 0) {
				fail(m, BW_ERR_UNSUPPORTED, off, "tensor stride is not a non-negative int");
				return -1;
			}
			t->stride[i - 1] = x;
		} else {
			t->stride[i - 1] = i == t->ndim ? 1 : t->stride[i] * (int64_t)t->shape[i];
		}
	}
	return 0;
}

static struct val *call(struct vm *m, struct val *fn, struct val *args, uint64_t off)
{
	struct val *r;
	struct bw_rtensor *t;
	int64_t x;

	if (fn == NULL || args == NULL)
		return NULL;
	if (fn->k != V_GLOBAL || args->k != V_TUPLE) {
		fail(m, BW_ERR_UNSUPPORTED, off, "refusing to convert: a call of something that is not "
		     "an allowed function (byte %llu)", (unsigned long long)off);
		return NULL;
	}
	switch (fn->g) {
	case G_ORDERED_DICT:
		if (args->count != 0) {
			fail(m, BW_ERR_UNSUPPORTED, off, "OrderedDict built with arguments (byte %llu)",
			     (unsigned long long)off);
			return NULL;
		}
		return newv(m, V_DICT);
	case G_SIZE:
		if (args->count != 1 || args->items[0]->k != V_TUPLE) {
			fail(m, BW_ERR_UNSUPPORTED, off, "torch.Size with unexpected arguments");
			return NULL;
		}
		return args->items[0];
	case G_REBUILD_V2:
	case G_REBUILD:
		if (args->count < 4 || args->items[0]->k != V_STORAGE) {
			fail(m, BW_ERR_UNSUPPORTED, off, "%s with unexpected arguments (byte %llu)", fn->s,
			     (unsigned long long)off);
			return NULL;
		}
		r = newv(m, V_TENSOR);
		t = bw_arena_alloc(m->a, sizeof *t);
		if (r == NULL || t == NULL) {
			fail(m, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory");
			return NULL;
		}
		t->dtype = args->items[0]->dtype;
		t->storage_key = args->items[0]->s;
		t->storage_numel = (uint64_t)args->items[0]->i;
		if (as_int(args->items[1], &x) != 0 || x < 0) {
			fail(m, BW_ERR_MALFORMED, off, "tensor storage offset is not a non-negative int");
			return NULL;
		}
		t->offset = (uint64_t)x;
		if (dims(m, t, args->items[2], args->items[3], off) != 0)
			return NULL;
		r->t = t;
		return r;
	case G_REBUILD_PARAM:
	case G_REBUILD_PARAM_STATE:
		if (args->count < 1 || args->items[0]->k != V_TENSOR) {
			fail(m, BW_ERR_UNSUPPORTED, off, "%s with unexpected arguments", fn->s);
			return NULL;
		}
		return args->items[0];
	case G_STORAGE_TYPE:
	case G_DTYPE_VALUE:
	case G_TENSOR_TYPE:
		break;
	}
	fail(m, BW_ERR_UNSUPPORTED, off, "refusing to convert: %s is not callable here (byte %llu)",
	     fn->s, (unsigned long long)off);
	return NULL;
}

/*
 * Tar format: legacy_load's persistent_load returns saved_id[0] for a tuple
 * (a module class with its source, for the source check) and otherwise
 * deserialized_objects[int(saved_id)]: a tensor or storage from the
 * "tensors"/"storages" members.
 */
static struct val *persistent_key(struct vm *m, struct val *pid, uint64_t off)
{
	const struct bw_rtensor *t;
	struct val *v;
	int64_t key = 0;
	int is_storage = 0, neg = 0;
	size_t i;

	if (pid->k == V_TUPLE) {
		fail(m, BW_ERR_UNSUPPORTED, off, "refusing to convert: a persistent id names a module "
		     "class with its source (byte %llu)", (unsigned long long)off);
		return NULL;
	}
	if (pid->k == V_INT) {
		key = pid->i;
	} else if (pid->k == V_STR && pid->n > 0 && pid->n < 19) {
		i = pid->s[0] == '-' ? 1 : 0;
		neg = (int)i;
		if (i == pid->n)
			goto bad;
		for (; i < pid->n; i++) {
			if (pid->s[i] < '0' || pid->s[i] > '9')
				goto bad;
			key = key * 10 + (pid->s[i] - '0');
		}
		if (neg)
			key = -key;
	} else {
		goto bad;
	}
	t = m->pids->lookup(m->pids->user, key, &is_storage);
	if (t == NULL && !is_storage) {
		fail(m, BW_ERR_MALFORMED, off, "persistent id %lld names no tensor or storage of the "
		     "archive (byte %llu)", (long long)key, (unsigned long long)off);
		return NULL;
	}
	if (is_storage)
		return newv(m, V_OPAQUE);
	v = newv(m, V_TENSOR);
	if (v == NULL)
		return NULL;
	v->t = bw_arena_alloc(m->a, sizeof *v->t);
	if (v->t == NULL) {
		fail(m, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory");
		return NULL;
	}
	*v->t = *t;
	return v;
bad:
	fail(m, BW_ERR_UNSUPPORTED, off, "refusing to convert: a persistent id that is not a "
	     "tensor key (byte %llu)", (unsigned long long)off);
	return NULL;
}

/* ('storage', storage_type, key, location, numel[, view_metadata]) */
static struct val *persistent(struct vm *m, struct val *pid, uint64_t off)
{
	struct val *st;
	int64_t numel = 0;

	if (pid == NULL)
		return NULL;
	if (m->pids != NULL)
		return persistent_key(m, pid, off);
	if (pid->k != V_TUPLE || pid->count < 5 || pid->items[0]->k != V_STR ||
	    strcmp(pid->items[0]->s, "storage") != 0 || pid->items[1]->k != V_GLOBAL ||
	    pid->items[1]->g != G_STORAGE_TYPE || pid->items[2]->k != V_STR) {
		fail(m, BW_ERR_UNSUPPORTED, off, "refusing to convert: a persistent id that is not a "
		     "typed storage reference (byte %llu)", (unsigned long long)off);
		return NULL;
	}
	if (pid->count >= 6 && pid->items[5]->k != V_NONE) {
		fail(m, BW_ERR_UNSUPPORTED, off, "storage views (legacy view_metadata) are not supported");
		return NULL;
	}
	(void)as_int(pid->items[4], &numel);
	st = newv(m, V_STORAGE);
	if (st == NULL)
		return NULL;
	st->dtype = pid->items[1]->dtype;
	st->s = pid->items[2]->s;
	st->i = numel;
	return st;
}

static void run(struct vm *m)
{
	struct bw_reader *rd = &m->rd;
	uint64_t off;
	uint8_t op;
	const uint8_t *p;
	size_t start, n, i;
	struct val *v, *a, *b, *c;
	uint32_t u32;
	uint64_t u64;

	for (;;) {
		if (m->err != BW_OK)
			return;
		off = bw_rd_off(rd);
		op = bw_rd_u8(rd);
		if (!bw_rd_ok(rd)) {
			fail(m, BW_ERR_TRUNCATED, off, "pickle ends before STOP (byte %llu)",
			     (unsigned long long)off);
			return;
		}
		switch (op) {
		case 0x80: /* PROTO */
			if (bw_rd_u8(rd) > 5)
				fail(m, BW_ERR_UNSUPPORTED, off, "pickle protocol above 5");
			break;
		case 0x95: /* FRAME: the C unpickler only checks the frame is present */
			u64 = bw_rd_u64le(rd);
			if (bw_rd_ok(rd) && u64 > bw_rd_left(rd))
				fail(m, BW_ERR_TRUNCATED, off, "FRAME longer than the data");
			break;
		case '.': /* STOP */
			if (m->sp != 1 || m->n_marks != 0)
				fail(m, BW_ERR_MALFORMED, off, "STOP with %zu values on the stack", m->sp);
			return;
		case '(':
			if (m->n_marks == m->marks_cap) {
				size_t ncap = m->marks_cap ? m->marks_cap * 2 : 16;
				size_t *nm;
				if (ncap > MAX_STACK) {
					fail(m, BW_ERR_LIMIT, off, "too many nested MARKs");
					break;
				}
				nm = bw_arena_array(m->a, ncap, sizeof *nm);
				if (nm == NULL) {
					fail(m, BW_ERR_NOMEM, off, "out of memory");
					break;
				}
				if (m->n_marks)
					memcpy(nm, m->marks, m->n_marks * sizeof *nm);
				m->marks = nm;
				m->marks_cap = ncap;
			}
			m->marks[m->n_marks++] = m->sp;
			break;
		case '}':
			push(m, newv(m, V_DICT));
			break;
		case ']':
			push(m, newv(m, V_LIST));
			break;
		case ')':
			push(m, newv(m, V_TUPLE));
			break;
		case 't':
			if (pop_mark(m, off, &start) == 0)
				push(m, make_seq(m, V_TUPLE, start));
			break;
		case 0x85: case 0x86: case 0x87: /* TUPLE1-3 */
			n = (size_t)(op - 0x84);
			if (m->sp < n + (m->n_marks ? m->marks[m->n_marks - 1] : 0)) {
				fail(m, BW_ERR_MALFORMED, off, "TUPLE%zu with too few values", n);
				break;
			}
			push(m, make_seq(m, V_TUPLE, m->sp - n));
			break;
		case 'J':
			v = newv(m, V_INT);
			if (v) v->i = (int32_t)bw_rd_u32le(rd);
			push(m, v);
			break;
		case 'K':
			v = newv(m, V_INT);
			if (v) v->i = bw_rd_u8(rd);
			push(m, v);
			break;
		case 'M':
			v = newv(m, V_INT);
			if (v) v->i = bw_rd_u16le(rd);
			push(m, v);
			break;
		case 0x8a: /* LONG1: little-endian two's complement, up to 8 bytes here */
			n = bw_rd_u8(rd);
			p = bw_rd_bytes(rd, n);
			if (p == NULL)
				break;
			if (n > 8 && !m->plain) {
				fail(m, BW_ERR_UNSUPPORTED, off, "integer wider than 64 bits");
				break;
			}
			if (n > 8) { /* header records (the legacy magic number): value not needed */
				push(m, newv(m, V_INT));
				break;
			}
			v = newv(m, V_INT);
			if (v) {
				uint64_t x = 0;
				for (i = n; i > 0; i--)
					x = (x << 8) | p[i - 1];
				if (n > 0 && n < 8 && (p[n - 1] & 0x80))
					x |= ~(uint64_t)0 << (8 * n);
				v->i = (int64_t)x;
			}
			push(m, v);
			break;
		case 'N':
			push(m, newv(m, V_NONE));
			break;
		case 0x88: case 0x89:
			v = newv(m, V_BOOL);
			if (v) v->i = op == 0x88;
			push(m, v);
			break;
		case 'G':
			v = newv(m, V_FLOAT);
			u64 = 0;
			p = bw_rd_bytes(rd, 8);
			if (p && v) {
				for (i = 0; i < 8; i++)
					u64 = (u64 << 8) | p[i]; /* big endian */
				memcpy(&v->f, &u64, 8);
			}
			push(m, v);
			break;
		case 'X': case 'T': case 'B': /* BINUNICODE, BINSTRING, BINBYTES: u32 length */
			u32 = bw_rd_u32le(rd);
			p = bw_rd_bytes(rd, u32);
			if (p)
				push(m, make_str(m, op == 'B' ? V_BYTES : V_STR, p, u32));
			break;
		case 0x8c: case 'U': case 'C': /* SHORT_BINUNICODE, SHORT_BINSTRING, SHORT_BINBYTES */
			n = bw_rd_u8(rd);
			p = bw_rd_bytes(rd, n);
			if (p)
				push(m, make_str(m, op == 'C' ? V_BYTES : V_STR, p, n));
			break;
		case 0x8d: case 0x8e: /* BINUNICODE8, BINBYTES8 */
			u64 = bw_rd_u64le(rd);
			if (bw_rd_ok(rd) && u64 > bw_rd_left(rd)) {
				fail(m, BW_ERR_TRUNCATED, off, "string longer than the data");
				break;
			}
			p = bw_rd_bytes(rd, (size_t)u64);
			if (p)
				push(m, make_str(m, op == 0x8e ? V_BYTES : V_STR, p, (size_t)u64));
			break;
		case 'q':
			memo_put(m, bw_rd_u8(rd), top(m, off), off);
			break;
		case 'r':
			memo_put(m, bw_rd_u32le(rd), top(m, off), off);
			break;
		case 0x94: /* MEMOIZE */
			memo_put(m, m->memo_n, top(m, off), off);
			break;
		case 'h':
			push(m, memo_get(m, bw_rd_u8(rd), off));
			break;
		case 'j':
			push(m, memo_get(m, bw_rd_u32le(rd), off));
			break;
		case 'c': { /* GLOBAL module\nname\n */
			size_t ml, nl;
			const uint8_t *mp = bw_rd_line(rd, 1024, &ml), *np;
			np = mp ? bw_rd_line(rd, 1024, &nl) : NULL;
			if (np)
				push(m, resolve_global(m, (const char *)mp, ml, (const char *)np, nl, off));
			break;
		}
		case 0x93: /* STACK_GLOBAL */
			b = pop(m, off);
			a = pop(m, off);
			if (a && b) {
				if (a->k != V_STR || b->k != V_STR)
					fail(m, BW_ERR_MALFORMED, off, "STACK_GLOBAL operands are not strings");
				else
					push(m, resolve_global(m, a->s, a->n, b->s, b->n, off));
			}
			break;
		case 'R':
			a = pop(m, off);
			b = pop(m, off);
			push(m, call(m, b, a, off));
			break;
		case 'b': /* BUILD: state of dicts (_metadata) and tensors is dropped */
			a = pop(m, off);
			b = top(m, off);
			if (a && b && b->k != V_DICT && b->k != V_TENSOR)
				fail(m, BW_ERR_UNSUPPORTED, off, "refusing to convert: BUILD on an object that "
				     "is not a dict or tensor (byte %llu)", (unsigned long long)off);
			break;
		case 's':
			c = pop(m, off);
			b = pop(m, off);
			a = top(m, off);
			if (a && b && c)
				dict_set(m, a, b, c, off);
			break;
		case 'u':
			if (pop_mark(m, off, &start) != 0)
				break;
			if ((m->sp - start) % 2 != 0 || start == 0) {
				fail(m, BW_ERR_MALFORMED, off, "SETITEMS with an odd number of values");
				break;
			}
			a = m->stack[start - 1];
			for (i = start; i + 1 < m->sp && m->err == BW_OK; i += 2)
				dict_set(m, a, m->stack[i], m->stack[i + 1], off);
			m->sp = start;
			break;
		case 'a':
			b = pop(m, off);
			a = top(m, off);
			if (a && b) {
				if (a->k != V_LIST)
					fail(m, BW_ERR_UNSUPPORTED, off, "APPEND to something that is not a list");
				else
					add_item(m, a, b, off);
			}
			break;
		case 'e':
			if (pop_mark(m, off, &start) != 0)
				break;
			if (start == 0 || m->stack[start - 1]->k != V_LIST) {
				fail(m, BW_ERR_UNSUPPORTED, off, "APPENDS to something that is not a list");
				break;
			}
			for (i = start; i < m->sp && m->err == BW_OK; i++)
				add_item(m, m->stack[start - 1], m->stack[i], off);
			m->sp = start;
			break;
		case 'Q': /* BINPERSID */
			push(m, persistent(m, pop(m, off), off));
			break;
		case 'P': { /* PERSID: the id is an ASCII line (protocol 0) */
			size_t pl;
			const uint8_t *pp = bw_rd_line(rd, 1024, &pl);
			if (pp)
				push(m, persistent(m, make_str(m, V_STR, pp, pl), off));
			break;
		}
		case '0':
			(void)pop(m, off);
			break;
		case '1':
			if (pop_mark(m, off, &start) == 0)
				m->sp = start;
			break;
		case '2':
			push(m, top(m, off));
			break;
		default:
			fail(m, BW_ERR_UNSUPPORTED, off,
			     "refusing to convert: opcode 0x%02x at byte %llu is outside the "
			     "tensor-rebuilding subset", op, (unsigned long long)off);
			return;
		}
		if (!bw_rd_ok(rd) && m->err == BW_OK)
			fail(m, BW_ERR_TRUNCATED, rd->err_off, "pickle truncated at byte %llu",
			     (unsigned long long)rd->err_off);
	}
}

struct flat {
	struct vm *m;
	struct bw_rresult *out;
	size_t cap;
};

static void flatten(struct flat *f, const struct val *v, char *name, size_t len, int depth);

static void flat_child(struct flat *f, const struct val *key, const struct val *v, char *name,
                       size_t len, int depth)
{
	char part[64];
	const char *s;
	size_t n;

	if (key->k == V_STR) {
		s = key->s;
		n = key->n;
	} else if (key->k == V_INT) {
		snprintf(part, sizeof part, "%lld", (long long)key->i);
		s = part;
		n = strlen(part);
	} else {
		f->out->n_other_leaves++;
		return;
	}
	if (len + n + 2 >= MAX_NAME) {
		fail(f->m, BW_ERR_LIMIT, BW_NO_OFFSET, "tensor name longer than %d bytes", MAX_NAME);
		return;
	}
	if (len > 0)
		name[len++] = '.';
	memcpy(name + len, s, n);
	name[len + n] = '\0';
	flatten(f, v, name, len + n, depth + 1);
	name[len > 0 ? len - 1 : 0] = '\0';
}

static void flatten(struct flat *f, const struct val *v, char *name, size_t len, int depth)
{
	size_t i;
	struct val key;

	if (f->m->err != BW_OK)
		return;
	if (depth > MAX_DEPTH) {
		fail(f->m, BW_ERR_LIMIT, BW_NO_OFFSET, "checkpoint nested deeper than %d levels", MAX_DEPTH);
		return;
	}
	switch (v->k) {
	case V_TENSOR:
		if (f->out->n_tensors == f->cap) {
			size_t ncap = f->cap ? f->cap * 2 : 64;
			struct bw_rtensor *nt = bw_arena_array(f->m->a, ncap, sizeof *nt);
			if (nt == NULL) {
				fail(f->m, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory");
				return;
			}
			if (f->out->n_tensors)
				memcpy(nt, f->out->tensors, f->out->n_tensors * sizeof *nt);
			f->out->tensors = nt;
			f->cap = ncap;
		}
		f->out->tensors[f->out->n_tensors] = *v->t;
		f->out->tensors[f->out->n_tensors].name =
			bw_arena_strdup(f->m->a, len ? name : "tensor");
		f->out->n_tensors++;
		break;
	case V_DICT:
		for (i = 0; i < v->count; i++)
			flat_child(f, v->items[2 * i], v->items[2 * i + 1], name, len, depth);
		break;
	case V_LIST:
	case V_TUPLE:
		memset(&key, 0, sizeof key);
		key.k = V_INT;
		for (i = 0; i < v->count; i++) {
			key.i = (int64_t)i;
			flat_child(f, &key, v->items[i], name, len, depth);
		}
		break;
	default:
		f->out->n_other_leaves++;
		break;
	}
}

/* Copy a value into the record form, MAX_RECORD_DEPTH levels deep (bounded recursion). */
#define MAX_RECORD_DEPTH 4
static int to_record(struct vm *m, const struct val *v, struct bw_rvalue *r, int depth)
{
	struct bw_rvalue *items;
	size_t i;

	memset(r, 0, sizeof *r);
	switch (v->k) {
	case V_NONE:
		r->kind = BW_RV_NONE;
		return 0;
	case V_INT:
	case V_BOOL:
		r->kind = BW_RV_INT;
		r->i = v->i;
		return 0;
	case V_STR:
		r->kind = BW_RV_STR;
		r->s = v->s;
		return 0;
	case V_GLOBAL:
		r->kind = v->g == G_TENSOR_TYPE ? BW_RV_TENSOR_TYPE
		          : v->g == G_STORAGE_TYPE ? BW_RV_STORAGE_TYPE : BW_RV_OTHER;
		r->s = v->s;
		r->dtype = v->dtype;
		return 0;
	case V_TUPLE:
	case V_LIST:
		if (depth >= MAX_RECORD_DEPTH) {
			r->kind = BW_RV_OTHER;
			return 0;
		}
		items = bw_arena_array(m->a, v->count + 1, sizeof *items);
		if (items == NULL)
			return -1;
		for (i = 0; i < v->count; i++)
			if (to_record(m, v->items[i], &items[i], depth + 1) != 0)
				return -1;
		r->kind = BW_RV_SEQ;
		r->items = items;
		r->n = v->count;
		return 0;
	default:
		r->kind = BW_RV_OTHER;
		return 0;
	}
}

static enum bw_err load(const uint8_t *data, size_t len, struct bw_arena *arena, int plain,
                        int want_keys, const struct bw_rpids *pids, const struct bw_rvalue **rec,
                        struct bw_rresult *out, size_t *consumed, struct bw_diag *diag)
{
	struct vm m;
	struct flat f;
	char name[MAX_NAME];
	struct val *res;
	struct bw_rvalue *rv;
	size_t i;

	if (out != NULL)
		memset(out, 0, sizeof *out);
	*consumed = 0;
	memset(&m, 0, sizeof m);
	m.a = arena;
	m.diag = diag;
	m.plain = plain;
	m.pids = pids;
	bw_rd_init(&m.rd, data, len, 0);
	run(&m);
	if (m.err != BW_OK)
		return m.err;
	*consumed = m.rd.pos;
	res = m.stack[0];
	if (rec != NULL) {
		rv = bw_arena_alloc(arena, sizeof *rv);
		if (rv == NULL || to_record(&m, res, rv, 0) != 0)
			return bw_diag_set(diag, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory while converting");
		*rec = rv;
		return BW_OK;
	}
	if (want_keys) {
		if (res->k != V_LIST) {
			(void)bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "storage key list is not a list");
			return BW_ERR_MALFORMED;
		}
		out->storage_keys = bw_arena_array(arena, res->count + 1, sizeof *out->storage_keys);
		if (out->storage_keys == NULL)
			return BW_ERR_NOMEM;
		for (i = 0; i < res->count; i++) {
			if (res->items[i]->k != V_STR) {
				(void)bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "storage key is not a string");
				return BW_ERR_MALFORMED;
			}
			out->storage_keys[i] = res->items[i]->s;
		}
		out->n_storage_keys = res->count;
		return BW_OK;
	}
	if (plain)
		return BW_OK;
	f.m = &m;
	f.out = out;
	f.cap = 0;
	name[0] = '\0';
	flatten(&f, res, name, 0, 0);
	return m.err;
}

enum bw_err bw_restricted_load(const uint8_t *data, size_t len, struct bw_arena *arena,
                               struct bw_rresult *out, size_t *consumed, struct bw_diag *diag)
{
	return load(data, len, arena, 0, 0, NULL, NULL, out, consumed, diag);
}

enum bw_err bw_restricted_load_pids(const uint8_t *data, size_t len, struct bw_arena *arena,
                                    const struct bw_rpids *pids, struct bw_rresult *out,
                                    size_t *consumed, struct bw_diag *diag)
{
	if (pids == NULL || pids->lookup == NULL)
		return BW_ERR_ARG;
	return load(data, len, arena, 0, 0, pids, NULL, out, consumed, diag);
}

enum bw_err bw_restricted_plain(const uint8_t *data, size_t len, struct bw_arena *arena,
                                int want_keys, struct bw_rresult *out, size_t *consumed,
                                struct bw_diag *diag)
{
	return load(data, len, arena, 1, want_keys, NULL, NULL, out, consumed, diag);
}

enum bw_err bw_restricted_record(const uint8_t *data, size_t len, struct bw_arena *arena,
                                 const struct bw_rvalue **out, size_t *consumed,
                                 struct bw_diag *diag)
{
	*out = NULL;
	return load(data, len, arena, 2, 0, NULL, out, NULL, consumed, diag);
}
