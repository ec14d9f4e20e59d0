/*
 * pk_value.c - symbolic values of the pickle machine and their printable,
 * bounded, depth-capped Python-like repr. Values live in the scan's arena.
 * Must not: recurse deeper than PK_REPR_DEPTH, write past an output's cap.
 */
#include <stdio.h>
#include <string.h>

#include "formats/pickle/pk_internal.h"

#define PK_REPR_DEPTH 16

size_t pk_lazy_items(pk_ref x, pk_ref out[3])
{
	const uint8_t *p = (const uint8_t *)(uintptr_t)(x >> 5);
	size_t k = (size_t)((x >> 3) & 3u), i = 0, adv, ops;

	/*
	 * The opcodes were read in full and accepted by pk_run_op when the tuple
	 * was made, so the bytes are there; the op bound is a second guard.
	 */
	for (ops = 0; i < k && ops < PK_LAZY_OPS; ops++) {
		pk_ref v = pk_run_op(p, SIZE_MAX, UINT64_MAX, &adv);

		if (v == 0) {
			adv = pk_run_store(p[0]);
			if (adv == 0)
				break;
		} else {
			out[i++] = v;
		}
		p += adv;
	}
	return i;
}

const struct pk_val *pk_ref_val(pk_ref x, struct pk_tmp *t)
{
	struct pk_val *tmp = &t->v;
	uint64_t hi;

	switch (pk_ref_tag(x)) {
	case PK_T_PTR:
		return (const struct pk_val *)(uintptr_t)x;
	case PK_T_INT:
		memset(tmp, 0, sizeof *tmp);
		tmp->kind = PK_INT;
		/* exact: the low 3 bits of v * 8 are the tag */
		tmp->i = (int64_t)(x & ~(uint64_t)7) / 8;
		return tmp;
	case PK_T_CONST:
		memset(tmp, 0, sizeof *tmp);
		tmp->kind = (x >> 3) == 0 ? PK_NONE : PK_BOOL;
		tmp->i = (x >> 3) == 2;
		return tmp;
	case PK_T_VIEW:
		memset(tmp, 0, sizeof *tmp);
		hi = (x >> 3) & 3u;
		tmp->kind = hi == 0 ? PK_STR : hi == 1 ? PK_BYTES : PK_BYTEARRAY;
		tmp->n = (size_t)((x >> 5) & (PK_VIEW_MAXLEN - 1));
		tmp->s = (const uint8_t *)(uintptr_t)(x >> 17);
		return tmp;
	case PK_T_F8: {
		const uint8_t *p = (const uint8_t *)(uintptr_t)(x >> 3);
		uint64_t u = 0;
		int i;

		memset(tmp, 0, sizeof *tmp);
		tmp->kind = PK_FLOAT;
		for (i = 0; i < 8; i++)
			u = (u << 8) | p[i];
		memcpy(&tmp->f, &u, sizeof tmp->f);
		return tmp;
	}
	case PK_T_TUPLE: {
		const struct pk_tup *tup = (const struct pk_tup *)(uintptr_t)(x & ~(uint64_t)7);

		memset(tmp, 0, sizeof *tmp);
		tmp->kind = PK_TUPLE;
		tmp->items = (pk_ref *)(uintptr_t)tup->items; /* read-only: tuples are never extended in place */
		tmp->n_items = tmp->cap_items = tup->n;
		return tmp;
	}
	case PK_T_LAZY:
		memset(tmp, 0, sizeof *tmp);
		tmp->kind = PK_TUPLE;
		tmp->items = t->items;
		tmp->n_items = tmp->cap_items = pk_lazy_items(x, t->items);
		return tmp;
	default:
		break;
	}
	return NULL;
}

enum pk_kind pk_ref_kind(pk_ref x)
{
	struct pk_tmp tmp;
	const struct pk_val *v;

	switch (pk_ref_tag(x)) {
	case PK_T_PTR:
		return x == 0 ? PK_UNKNOWN : ((const struct pk_val *)(uintptr_t)x)->kind;
	case PK_T_INT: return PK_INT;
	case PK_T_F8: return PK_FLOAT;
	case PK_T_TUPLE:
	case PK_T_LAZY: return PK_TUPLE;
	default:
		v = pk_ref_val(x, &tmp);
		return v != NULL ? v->kind : PK_UNKNOWN;
	}
}

struct pk_val *pk_val_new(struct bw_arena *a, enum pk_kind k)
{
	struct pk_val *v = bw_arena_alloc(a, sizeof *v);

	if (v != NULL)
		v->kind = k;
	return v;
}

int pk_val_extend(struct bw_arena *a, struct pk_val *c, const pk_ref *v, size_t k)
{
	size_t need;

	/* items past PK_KEEP_ITEMS are dropped (see pk_internal.h) */
	if (c->n_items >= PK_KEEP_ITEMS)
		return 0;
	if (k > PK_KEEP_ITEMS - c->n_items)
		k = PK_KEEP_ITEMS - c->n_items;
	if (k == 0)
		return 0;
	if (__builtin_add_overflow(c->n_items, k, &need))
		return -1;
	if (need > c->cap_items) {
		/* exact size for a new container (tuples, lists built at once), doubling after */
		size_t ncap = c->cap_items == 0 ? need : c->cap_items * 2;
		pk_ref *ni;

		if (ncap < need)
			ncap = need;
		ni = bw_arena_array(a, ncap, sizeof *ni);
		if (ni == NULL)
			return -1;
		if (c->n_items > 0)
			memcpy(ni, c->items, c->n_items * sizeof *ni);
		c->items = ni;
		c->cap_items = ncap;
	}
	memcpy(c->items + c->n_items, v, k * sizeof *v);
	c->n_items = need;
	return 0;
}

int pk_val_push(struct bw_arena *a, struct pk_val *c, pk_ref v)
{
	if (c->n_items == c->cap_items && c->cap_items > 0 && c->cap_items < 4) {
		/* small containers grow to 4 first */
		pk_ref *ni = bw_arena_array(a, 4, sizeof *ni);

		if (ni == NULL)
			return -1;
		memcpy(ni, c->items, c->n_items * sizeof *ni);
		c->items = ni;
		c->cap_items = 4;
	}
	return pk_val_extend(a, c, &v, 1);
}

/* Nodes is_const may visit: beyond this a value counts as not constant (bounded work per call). */
#define PK_CONST_VISITS 256

static int is_const_d(const struct pk_val *v, int depth, unsigned *budget)
{
	size_t i;

	if (v == NULL || depth > PK_REPR_DEPTH || *budget == 0)
		return 0;
	(*budget)--;
	switch (v->kind) {
	case PK_UNKNOWN:
	case PK_CALL:
	case PK_ATTRGETTER:
	case PK_METHODCALLER:
		return 0;
	case PK_TUPLE:
	case PK_LIST:
	case PK_DICT:
	case PK_SET:
	case PK_FROZENSET:
		for (i = 0; i < v->n_items; i++) {
			struct pk_tmp tmp;

			if (!is_const_d(pk_ref_val(v->items[i], &tmp), depth + 1, budget))
				return 0;
		}
		return 1;
	default:
		return 1;
	}
}

int pk_val_is_const(const struct pk_val *v)
{
	unsigned budget = PK_CONST_VISITS;

	return is_const_d(v, 0, &budget);
}

void pk_out_init(struct pk_out *o, char *p, size_t cap)
{
	o->p = p;
	o->len = 0;
	o->cap = cap;
	o->full = 0;
	if (p != NULL)
		p[0] = '\0';
}

void pk_out_put(struct pk_out *o, const char *s, size_t n)
{
	if (o->full)
		return;
	if (n > o->cap - o->len) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

void pk_out_str(struct pk_out *o, const char *s)
{
	pk_out_put(o, s, strlen(s));
}

const char *pk_out_end(struct pk_out *o)
{
	if (o->full) {
		memcpy(o->p + o->len, "...", 3);
		o->len += 3;
	}
	o->p[o->len] = '\0';
	return o->p;
}

size_t pk_utf8_seq(const uint8_t *p, size_t n, int surrogatepass)
{
	uint8_t c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && p[1] < 0xa0)
			return 0; /* overlong */
		if (c == 0xed && p[1] >= 0xa0 && !surrogatepass)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && p[1] < 0x90)
			return 0;
		if (c == 0xf4 && p[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

int pk_utf8_valid(const uint8_t *p, size_t n, int surrogatepass)
{
	size_t i = 0;

	while (i < n) {
		size_t k = pk_utf8_seq(p + i, n - i, surrogatepass);

		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

static void put_hex(struct pk_out *o, uint8_t c)
{
	char t[5];

	snprintf(t, sizeof t, "\\x%02x", c);
	pk_out_put(o, t, 4);
}

/* Quoted text or bytes the way Python's repr writes them (single quotes). */
static void repr_text(struct pk_out *o, const uint8_t *s, size_t n, int is_bytes)
{
	size_t i = 0;

	pk_out_put(o, "'", 1);
	while (i < n && !o->full) {
		uint8_t c = s[i];

		if (c == '\\' || c == '\'') {
			char t[2] = {'\\', (char)c};
			pk_out_put(o, t, 2);
		} else if (c == '\n') {
			pk_out_put(o, "\\n", 2);
		} else if (c == '\r') {
			pk_out_put(o, "\\r", 2);
		} else if (c == '\t') {
			pk_out_put(o, "\\t", 2);
		} else if (c < 0x20 || c == 0x7f) {
			put_hex(o, c);
		} else if (c < 0x80) {
			pk_out_put(o, (const char *)&s[i], 1);
		} else if (!is_bytes) {
			size_t k = pk_utf8_seq(s + i, n - i, 0);

			if (k == 0) {
				put_hex(o, c);
			} else {
				pk_out_put(o, (const char *)&s[i], k);
				i += k - 1;
			}
		} else {
			put_hex(o, c);
		}
		i++;
	}
	pk_out_put(o, "'", 1);
}

static void repr_d(struct pk_out *o, const struct pk_val *v, int depth);

static void repr_items(struct pk_out *o, const struct pk_val *v, int depth, const char *open,
                       const char *close, int pairs)
{
	size_t i;

	pk_out_str(o, open);
	for (i = 0; i < v->n_items && !o->full; i++) {
		struct pk_tmp tmp;

		if (i > 0)
			pk_out_str(o, pairs && (i % 2) == 1 ? ": " : ", ");
		repr_d(o, pk_ref_val(v->items[i], &tmp), depth + 1);
	}
	if (v->kind == PK_TUPLE && v->n_items == 1)
		pk_out_str(o, ",");
	pk_out_str(o, close);
}

static void describe_d(struct pk_out *o, const struct pk_val *v, int depth)
{
	if (v == NULL || depth > PK_REPR_DEPTH) {
		pk_out_str(o, "...");
		return;
	}
	switch (v->kind) {
	case PK_GLOBAL:
		pk_out_str(o, v->module);
		if (v->name != NULL) {
			pk_out_str(o, ".");
			pk_out_str(o, v->name);
		}
		break;
	case PK_CALL:
		describe_d(o, v->callee, depth + 1);
		pk_out_str(o, "(...)");
		break;
	case PK_ATTRGETTER:
		pk_out_str(o, "attrgetter(");
		repr_text(o, v->s, v->n, 0);
		pk_out_str(o, ")");
		break;
	case PK_METHODCALLER:
		pk_out_str(o, "methodcaller(");
		repr_text(o, v->s, v->n, 0);
		pk_out_str(o, ", ...)");
		break;
	default:
		repr_d(o, v, depth + 1);
		break;
	}
}

void pk_val_describe(struct pk_out *o, const struct pk_val *v)
{
	describe_d(o, v, 0);
}

static void repr_d(struct pk_out *o, const struct pk_val *v, int depth)
{
	char t[64];

	if (o->full)
		return;
	if (v == NULL || depth > PK_REPR_DEPTH) {
		pk_out_str(o, "...");
		return;
	}
	switch (v->kind) {
	case PK_UNKNOWN:
		pk_out_str(o, "<unknown>");
		break;
	case PK_NONE:
		pk_out_str(o, "None");
		break;
	case PK_BOOL:
		pk_out_str(o, v->i ? "True" : "False");
		break;
	case PK_INT:
		if (v->big) {
			pk_out_str(o, v->text);
		} else {
			snprintf(t, sizeof t, "%lld", (long long)v->i);
			pk_out_str(o, t);
		}
		break;
	case PK_FLOAT:
		snprintf(t, sizeof t, "%.17g", v->f);
		if (strspn(t, "-0123456789") == strlen(t))
			strcat(t, ".0");
		pk_out_str(o, t);
		break;
	case PK_STR:
		repr_text(o, v->s, v->n, 0);
		break;
	case PK_BYTES:
		pk_out_str(o, "b");
		repr_text(o, v->s, v->n, 1);
		break;
	case PK_BYTEARRAY:
		pk_out_str(o, "bytearray(b");
		repr_text(o, v->s, v->n, 1);
		pk_out_str(o, ")");
		break;
	case PK_TUPLE:
		repr_items(o, v, depth, "(", ")", 0);
		break;
	case PK_LIST:
		repr_items(o, v, depth, "[", "]", 0);
		break;
	case PK_DICT:
		repr_items(o, v, depth, "{", "}", 1);
		break;
	case PK_SET:
		if (v->n_items == 0)
			pk_out_str(o, "set()");
		else
			repr_items(o, v, depth, "{", "}", 0);
		break;
	case PK_FROZENSET:
		repr_items(o, v, depth, "frozenset({", "})", 0);
		break;
	case PK_GLOBAL:
	case PK_CALL:
	case PK_ATTRGETTER:
	case PK_METHODCALLER:
		describe_d(o, v, depth);
		break;
	}
}

void pk_val_repr(struct pk_out *o, const struct pk_val *v)
{
	repr_d(o, v, 0);
}
