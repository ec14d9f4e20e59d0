/*
 * npy.c - NumPy .npy parser (numpy/lib/format.py documents the layout:
 * "\x93NUMPY", major, minor, header length (u16 for 1.0, u32 for 2.0/3.0),
 * header text padded with spaces and ending in '\n', then the data).
 *
 * numpy reads the header with ast.literal_eval and requires exactly the keys
 * 'descr', 'fortran_order' and 'shape'; this parser accepts the same literal
 * subset (strings, ints, True/False, tuples, lists, one dict) with an explicit
 * nesting bound. Must not: evaluate anything, recurse deeper than NEST_MAX,
 * or hand back array data except the pickle of object arrays and bytes past
 * the array (which numpy ignores).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "formats/npy/npy.h"

#define NEST_MAX 16
#define HEADER_MAX (1u << 20)

struct lit {
	const char *s;
	size_t n, i;
	int err;          /* sticky: 1 malformed, 2 unsupported */
	const char *what; /* first failure */
	uint64_t err_at;
};

struct dtinfo {
	uint64_t itemsize;
	int has_object;
	int structured;   /* a field list */
	char order, kind; /* simple descr: byte order ('<', '>', '|', '=', '!' or 0) and kind */
	int size_given;
};

static void fail(struct lit *l, int kind, const char *what)
{
	if (l->err)
		return;
	l->err = kind;
	l->what = what;
	l->err_at = l->i;
}

static void ws(struct lit *l)
{
	while (l->i < l->n && (l->s[l->i] == ' ' || l->s[l->i] == '\t' || l->s[l->i] == '\n' ||
	                       l->s[l->i] == '\r'))
		l->i++;
}

static int peek(struct lit *l)
{
	ws(l);
	return l->err || l->i >= l->n ? -1 : (unsigned char)l->s[l->i];
}

static int eat(struct lit *l, char c)
{
	if (peek(l) == (unsigned char)c) {
		l->i++;
		return 1;
	}
	return 0;
}

static void expect(struct lit *l, char c, const char *what)
{
	if (!eat(l, c))
		fail(l, 1, what);
}

/* A quoted string; returns a pointer to its raw body in the header. */
static const char *str(struct lit *l, size_t *len)
{
	int q = peek(l);
	size_t start;

	if (q != '\'' && q != '"') {
		fail(l, 1, "expected a string");
		return NULL;
	}
	start = ++l->i;
	while (l->i < l->n && l->s[l->i] != q) {
		if (l->s[l->i] == '\\' && l->i + 1 < l->n)
			l->i++;
		if (l->s[l->i] == '\n') {
			fail(l, 1, "newline inside a string");
			return NULL;
		}
		l->i++;
	}
	if (l->i >= l->n) {
		fail(l, 1, "unterminated string");
		return NULL;
	}
	*len = l->i - start;
	l->i++;
	return l->s + start;
}

static int word(struct lit *l, const char *w)
{
	size_t n = strlen(w);

	ws(l);
	if (l->n - l->i >= n && memcmp(l->s + l->i, w, n) == 0) {
		l->i += n;
		return 1;
	}
	return 0;
}

static uint64_t integer(struct lit *l)
{
	uint64_t v = 0;
	int any = 0;

	ws(l);
	while (l->i < l->n && l->s[l->i] >= '0' && l->s[l->i] <= '9') {
		if (v > (UINT64_MAX - 9) / 10) {
			fail(l, 1, "integer too large");
			return 0;
		}
		v = v * 10 + (uint64_t)(l->s[l->i] - '0');
		l->i++;
		any = 1;
	}
	if (!any)
		fail(l, 1, "expected a non-negative integer");
	return v;
}

/*
 * Tuple of non-negative ints: "()", "(3,)", "(2, 3)". Returns the product in
 * *count; when h is not NULL the dimensions are recorded there too.
 */
static void shape(struct lit *l, uint64_t *count, int *overflow, struct bw_npy_header *h)
{
	uint64_t c = 1;

	*overflow = 0;
	expect(l, '(', "shape must be a tuple");
	while (!l->err && peek(l) != ')') {
		uint64_t d = integer(l);

		if (h != NULL) {
			if (h->ndim < BW_NPY_MAX_DIMS)
				h->shape[h->ndim] = d;
			h->ndim++;
		}
		if (__builtin_mul_overflow(c, d, &c))
			*overflow = 1;
		if (!eat(l, ','))
			break;
	}
	expect(l, ')', "unterminated shape tuple");
	*count = c;
}

/* One numpy type string such as "<f4", "|O", "<U10", "<M8[ns]". */
static void typestr(struct lit *l, const char *s, size_t n, struct dtinfo *out)
{
	size_t i = 0;
	uint64_t size = 0;
	char kind;
	int digits = 0;

	if (n > 0 && strchr("<>|=!", s[0]) != NULL)
		out->order = s[i++];
	if (i >= n) {
		fail(l, 1, "empty dtype");
		return;
	}
	kind = s[i++];
	out->kind = kind;
	while (i < n && s[i] >= '0' && s[i] <= '9') {
		if (size > UINT32_MAX) {
			fail(l, 1, "dtype size too large");
			return;
		}
		size = size * 10 + (uint64_t)(s[i++] - '0');
		digits = 1;
	}
	out->size_given = digits;
	if ((kind == 'M' || kind == 'm') && i < n && s[i] == '[') {
		while (i < n && s[i] != ']')
			i++;
		i++;
	}
	if (i != n) {
		fail(l, 2, "dtype string not understood");
		return;
	}
	switch (kind) {
	case 'O':
		out->has_object = 1;
		out->itemsize = digits ? size : 8;
		return;
	case '?':
		out->itemsize = digits ? size : 1;
		return;
	case 'b': case 'i': case 'u': case 'f': case 'c': case 'M': case 'm': case 'S': case 'a':
	case 'V':
		if (!digits && kind != 'b') {
			fail(l, 2, "dtype without an explicit size");
			return;
		}
		out->itemsize = digits ? size : 1;
		return;
	case 'U':
		out->itemsize = size * 4;
		return;
	default:
		fail(l, 2, "unknown dtype kind");
	}
}

/*
 * descr: a type string, or a list of fields (name, descr) / (name, descr, shape)
 * where name may be a (title, name) tuple. Nested lists are followed with an
 * explicit depth (bounded by NEST_MAX).
 */
static void descr(struct lit *l, struct dtinfo *out, int depth)
{
	const char *s;
	size_t n;

	out->itemsize = 0;
	if (depth > NEST_MAX) {
		fail(l, 2, "dtype nested too deeply");
		return;
	}
	if (peek(l) != '[') {
		s = str(l, &n);
		if (s != NULL)
			typestr(l, s, n, out);
		return;
	}
	l->i++;
	out->structured = 1;
	while (!l->err && peek(l) != ']') {
		struct dtinfo f;
		uint64_t cnt = 1;
		int ovf = 0;

		memset(&f, 0, sizeof f);
		expect(l, '(', "field must be a tuple");
		if (peek(l) == '(') { /* (title, name) */
			l->i++;
			(void)str(l, &n);
			expect(l, ',', "field title");
			(void)str(l, &n);
			expect(l, ')', "field title");
		} else {
			(void)str(l, &n);
		}
		expect(l, ',', "field needs a dtype");
		descr(l, &f, depth + 1);
		if (eat(l, ',') && peek(l) == '(')
			shape(l, &cnt, &ovf, NULL);
		(void)eat(l, ',');
		expect(l, ')', "unterminated field");
		if (ovf || __builtin_mul_overflow(f.itemsize, cnt, &f.itemsize) ||
		    __builtin_add_overflow(out->itemsize, f.itemsize, &out->itemsize)) {
			fail(l, 1, "structured dtype size overflows");
			return;
		}
		out->has_object |= f.has_object;
		if (!eat(l, ','))
			break;
	}
	expect(l, ']', "unterminated field list");
}

int bw_npy_detect(const uint8_t *data, size_t len)
{
	if (data == NULL || len < 8 || memcmp(data, "\x93NUMPY", 6) != 0)
		return 0;
	return 95;
}

static void stopf(const struct bw_fmt_sink *s, enum bw_err why, uint64_t off, const char *fmt, ...)
	BW_PRINTF(4, 5);
static void stopf(const struct bw_fmt_sink *s, enum bw_err why, uint64_t off, const char *fmt, ...)
{
	char m[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	s->incomplete(s->user, why, off, m);
}

static void findf(const struct bw_fmt_sink *s, const char *rule, uint64_t off, const char *fmt, ...)
	BW_PRINTF(4, 5);
static void findf(const struct bw_fmt_sink *s, const char *rule, uint64_t off, const char *fmt, ...)
{
	char m[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	s->finding(s->user, rule, off, m);
}

enum bw_err bw_npy_header_parse(const uint8_t *data, size_t len, struct bw_npy_header *h,
                                struct bw_diag *diag)
{
	size_t hlen, hstart;
	struct lit l;
	struct dtinfo dt;
	int seen_descr = 0, seen_fo = 0, seen_shape = 0;

	if (h == NULL || (data == NULL && len > 0))
		return BW_ERR_ARG;
	memset(h, 0, sizeof *h);
	memset(&dt, 0, sizeof dt);
	if (bw_npy_detect(data, len) == 0)
		return bw_diag_set(diag, BW_ERR_MALFORMED, 0, "not a .npy file");
	h->major = data[6];
	if ((data[6] != 1 && data[6] != 2 && data[6] != 3) || data[7] != 0)
		return bw_diag_set(diag, BW_ERR_UNSUPPORTED, 6, ".npy format version %u.%u is not known",
		                   data[6], data[7]);
	if (h->major == 1) {
		if (len < 10)
			goto trunc;
		hlen = (size_t)data[8] | ((size_t)data[9] << 8);
		hstart = 10;
	} else {
		if (len < 12)
			goto trunc;
		hlen = (size_t)data[8] | ((size_t)data[9] << 8) | ((size_t)data[10] << 16) |
		       ((size_t)data[11] << 24);
		hstart = 12;
	}
	if (hlen > HEADER_MAX)
		return bw_diag_set(diag, BW_ERR_LIMIT, 8, "header of %zu bytes is over the %u-byte cap",
		                   hlen, HEADER_MAX);
	if (len - hstart < hlen)
		goto trunc;
	h->header_offset = hstart;
	h->data_offset = hstart + hlen;

	memset(&l, 0, sizeof l);
	l.s = (const char *)data + hstart;
	l.n = hlen;
	expect(&l, '{', "header is not a dict");
	while (!l.err && peek(&l) != '}') {
		const char *k;
		size_t kn;

		k = str(&l, &kn);
		expect(&l, ':', "expected ':'");
		if (l.err)
			break;
		if (kn == 5 && memcmp(k, "descr", 5) == 0 && !seen_descr) {
			size_t at;

			ws(&l);
			at = l.i;
			seen_descr = 1;
			descr(&l, &dt, 0);
			if (!l.err)
				snprintf(h->descr, sizeof h->descr, "%.*s", (int)(l.i - at), l.s + at);
		} else if (kn == 13 && memcmp(k, "fortran_order", 13) == 0 && !seen_fo) {
			seen_fo = 1;
			if (word(&l, "True"))
				h->fortran_order = 1;
			else if (!word(&l, "False"))
				fail(&l, 1, "fortran_order must be True or False");
		} else if (kn == 5 && memcmp(k, "shape", 5) == 0 && !seen_shape) {
			seen_shape = 1;
			shape(&l, &h->count, &h->count_overflow, h);
		} else {
			fail(&l, 1, "unexpected or repeated key");
		}
		if (!eat(&l, ','))
			break;
	}
	expect(&l, '}', "unterminated header dict");
	ws(&l);
	if (!l.err && l.i != l.n)
		fail(&l, 1, "bytes after the header dict");
	if (!l.err && (!seen_descr || !seen_fo || !seen_shape))
		fail(&l, 1, "header lacks descr, fortran_order or shape");
	if (l.err)
		return bw_diag_set(diag, l.err == 2 ? BW_ERR_UNSUPPORTED : BW_ERR_MALFORMED,
		                   hstart + l.err_at, ".npy header: %s", l.what);
	h->newline_end = hlen > 0 && data[h->data_offset - 1] == '\n';
	h->itemsize = dt.itemsize;
	h->has_object = dt.has_object;
	h->structured = dt.structured;
	h->byteorder = dt.order;
	h->kind = dt.kind;
	h->size_given = dt.size_given;
	return BW_OK;
trunc:
	return bw_diag_set(diag, BW_ERR_TRUNCATED, len, ".npy header ends early");
}

enum bw_err bw_npy_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	struct bw_npy_header h;
	struct bw_diag d;
	size_t dstart;
	uint64_t need;
	enum bw_err e;

	if (sink == NULL || (data == NULL && len > 0))
		return BW_ERR_ARG;
	bw_diag_clear(&d);
	e = bw_npy_header_parse(data, len, &h, &d);
	if (e != BW_OK) {
		stopf(sink, e, d.offset, "%s", d.what);
		return BW_OK;
	}
	dstart = h.data_offset;
	if (!h.newline_end)
		findf(sink, "npy.header-malformed", dstart, "header does not end with a newline");

	if (h.has_object) {
		/* numpy.load(allow_pickle=True) unpickles everything after the header. */
		if (sink->format != NULL)
			sink->format(sink->user, "numpy-object");
		e = sink->member(sink->user, "<object array pickle>", data + dstart, len - dstart, dstart);
		return e == BW_ERR_NOMEM ? e : BW_OK;
	}
	if (sink->format != NULL)
		sink->format(sink->user, "numpy");
	if (h.count_overflow || __builtin_mul_overflow(h.count, h.itemsize, &need)) {
		findf(sink, "npy.size-mismatch", h.header_offset, "shape times item size overflows 64 bits");
		return BW_OK;
	}
	if (need > len - dstart) {
		findf(sink, "npy.size-mismatch", dstart, "array needs %llu data bytes, %zu present",
		      (unsigned long long)need, len - dstart);
		stopf(sink, BW_ERR_TRUNCATED, len, "array data ends early");
	} else if (need < len - dstart) {
		/* numpy reads exactly the array and ignores the rest: hide-and-seek room. */
		findf(sink, "npy.trailing-data", dstart + need, "%llu bytes after the array data",
		      (unsigned long long)(len - dstart - need));
		e = sink->member(sink->user, "<npy trailing>", data + dstart + need,
		                 (size_t)(len - dstart - need), dstart + need);
		if (e == BW_ERR_NOMEM)
			return e;
	}
	return BW_OK;
}
