/*
 * pk_text.c - decoding of the text and integer arguments of pickle opcodes
 * exactly as CPython's C unpickler does (Modules/_pickle.c load_int,
 * load_long, load_float, load_string, load_unicode, load_counted_long):
 * strtol base 0 for INT, int(x, 0) literal rules for LONG and the INT
 * fallback, PyOS_string_to_double for FLOAT, PyBytes_DecodeEscape for STRING,
 * raw-unicode-escape for UNICODE, two's complement for LONG1/LONG4.
 * Outputs go to the caller's arena. Must not: read outside the given bytes.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/pickle/pk_text.h"

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int digit_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}

/*
 * Python's int(s, 0) literal grammar (PyLong_FromString base 0; base 10 when
 * !base0: no prefix, leading zeros allowed): optional
 * surrounding whitespace, sign, 0x/0o/0b prefix or a decimal without leading
 * zeros (all zeros allowed), single underscores between digits.
 * On success fills r (int64 when it fits, else big with decimal or the
 * literal as text).
 */
static int parse_pylong(struct bw_arena *a, const char *s, size_t n, int base0, struct pk_int *r)
{
	size_t i = 0, end = n, start;
	int neg = 0, base = 10, ndig = 0, prev_us = 0;
	uint64_t acc = 0;
	int ovf = 0;

	while (i < end && is_ws(s[i]))
		i++;
	while (end > i && is_ws(s[end - 1]))
		end--;
	if (i < end && (s[i] == '+' || s[i] == '-')) {
		neg = s[i] == '-';
		i++;
	}
	if (base0 && i + 1 < end && s[i] == '0' && strchr("xXoObB", s[i + 1]) != NULL) {
		base = (s[i + 1] == 'x' || s[i + 1] == 'X') ? 16 : (s[i + 1] == 'o' || s[i + 1] == 'O') ? 8 : 2;
		i += 2;
		prev_us = 1; /* "0x_1" is allowed: an underscore may follow the prefix */
		if (i < end && s[i] == '_')
			i++;
		prev_us = 0;
	}
	start = i;
	if (base0 && base == 10 && i < end && s[i] == '0') {
		/* leading zero: only zeros (and underscores) may follow */
		size_t j;

		for (j = i; j < end; j++)
			if (s[j] != '0' && s[j] != '_')
				return -1;
	}
	for (; i < end; i++) {
		int d;

		if (s[i] == '_') {
			if (prev_us || i == start || i + 1 == end)
				return -1;
			prev_us = 1;
			continue;
		}
		prev_us = 0;
		d = digit_val(s[i]);
		if (d >= base)
			return -1;
		ndig++;
		if (!ovf) {
			if (__builtin_mul_overflow(acc, (uint64_t)base, &acc) ||
			    __builtin_add_overflow(acc, (uint64_t)d, &acc))
				ovf = 1;
		}
	}
	if (ndig == 0)
		return -1;
	memset(r, 0, sizeof *r);
	if (!ovf && ((!neg && acc <= INT64_MAX) || (neg && acc <= (uint64_t)INT64_MAX + 1))) {
		r->v = neg ? (int64_t)(0 - (uint64_t)acc) : (int64_t)acc;
		return 0;
	}
	r->big = 1;
	if (base == 10) {
		/* decimal text without underscores */
		char *t = bw_arena_alloc(a, end - start + 2);
		size_t k = 0, j;

		if (t == NULL)
			return -2;
		if (neg)
			t[k++] = '-';
		for (j = start; j < end; j++)
			if (s[j] != '_')
				t[k++] = s[j];
		t[k] = '\0';
		r->text = t;
	} else {
		r->text = bw_arena_strndup(a, s, n);
		if (r->text == NULL)
			return -2;
	}
	return 0;
}

/* C string functions see the line only up to its first NUL byte. */
static size_t cut_nul(const uint8_t *p, size_t n)
{
	const uint8_t *z = memchr(p, '\0', n);

	return z != NULL ? (size_t)(z - p) : n;
}

int pk_parse_int_line(struct bw_arena *a, const uint8_t *line, size_t n, struct pk_int *r,
                      int *differs)
{
	size_t m = cut_nul(line, n), i;
	char *buf, *endp;
	long long x;

	*differs = 0;
	memset(r, 0, sizeof *r);
	/* the C unpickler parses "line\n" as a C string: up to the first NUL */
	buf = bw_arena_alloc(a, m + 2);
	if (buf == NULL)
		return -2;
	memcpy(buf, line, m);
	if (m == n)
		buf[m++] = '\n';
	buf[m] = '\0';
	if (memchr(line, '\0', n) != NULL)
		*differs = 1; /* pickletools/pickle.py: int() rejects a NUL */
	/* pickletools/pickle.py read INT with int(s) base 10 / int(s, 0): a 0x or
	 * octal-looking literal is read differently by strtol(s, 0). */
	for (i = 0; i < m && is_ws(buf[i]); i++)
		;
	if (i < m && (buf[i] == '+' || buf[i] == '-'))
		i++;
	if (i + 1 < m && buf[i] == '0' && buf[i + 1] != '\n' && buf[i + 1] != '\0')
		*differs |= !(n == 2 && (line[1] == '0' || line[1] == '1'));
	errno = 0;
	x = strtoll(buf, &endp, 0);
	if (errno == 0 && (*endp == '\n' || *endp == '\0')) {
		/* C: a 3-byte line (newline included) holding 0 or 1 is a bool */
		if (n == 2 && (x == 0 || x == 1)) {
			r->is_bool = 1;
			if (line[0] != '0')
				*differs = 1;
		}
		r->v = x;
		return 0;
	}
	return parse_pylong(a, buf, strlen(buf), 1, r);
}

int pk_parse_long_line(struct bw_arena *a, const uint8_t *line, size_t n, struct pk_int *r)
{
	memset(r, 0, sizeof *r);
	/* C load_long: a trailing 'L' (before the newline) is cut, then the C string is parsed */
	if (n >= 1 && line[n - 1] == 'L')
		n--;
	return parse_pylong(a, (const char *)line, cut_nul(line, n), 1, r);
}

int pk_parse_dec_line(struct bw_arena *a, const uint8_t *line, size_t n, struct pk_int *r)
{
	memset(r, 0, sizeof *r);
	return parse_pylong(a, (const char *)line, cut_nul(line, n), 0, r);
}

int pk_parse_float_line(struct bw_arena *a, const uint8_t *line, size_t n, double *out)
{
	char *buf, *endp;
	double d;

	n = cut_nul(line, n);
	if (n == 0)
		return -1;
	buf = bw_arena_alloc(a, n + 1);
	if (buf == NULL)
		return -2;
	memcpy(buf, line, n);
	buf[n] = '\0';
	/* PyOS_string_to_double: no leading whitespace, no hex, overflow is an error */
	if (is_ws(buf[0]))
		return -1;
	{
		const char *p = buf + (buf[0] == '+' || buf[0] == '-');

		if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
			return -1;
	}
	errno = 0;
	d = strtod(buf, &endp);
	if (endp == buf || *endp != '\0')
		return -1;
	if (errno == ERANGE && isinf(d))
		return -1;
	*out = d;
	return 0;
}

int pk_decode_escape(struct bw_arena *a, const uint8_t *s, size_t n, uint8_t **out, size_t *out_len)
{
	uint8_t *o = bw_arena_alloc(a, n + 1);
	size_t i = 0, k = 0;

	if (o == NULL)
		return -2;
	while (i < n) {
		uint8_t c = s[i++];

		if (c != '\\') {
			o[k++] = c;
			continue;
		}
		if (i >= n)
			return -1; /* "Trailing \ in string" */
		c = s[i++];
		switch (c) {
		case '\n': break;
		case '\\': o[k++] = '\\'; break;
		case '\'': o[k++] = '\''; break;
		case '"': o[k++] = '"'; break;
		case 'b': o[k++] = '\b'; break;
		case 'f': o[k++] = '\f'; break;
		case 't': o[k++] = '\t'; break;
		case 'n': o[k++] = '\n'; break;
		case 'r': o[k++] = '\r'; break;
		case 'v': o[k++] = '\v'; break;
		case 'a': o[k++] = '\a'; break;
		case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
			unsigned v = (unsigned)(c - '0');

			if (i < n && s[i] >= '0' && s[i] <= '7') {
				v = v * 8 + (unsigned)(s[i++] - '0');
				if (i < n && s[i] >= '0' && s[i] <= '7')
					v = v * 8 + (unsigned)(s[i++] - '0');
			}
			o[k++] = (uint8_t)(v & 0xff);
			break;
		}
		case 'x': {
			int h1, h2;

			if (n - i < 2)
				return -1; /* invalid \x escape */
			h1 = digit_val((char)s[i]);
			h2 = digit_val((char)s[i + 1]);
			if (h1 > 15 || h2 > 15)
				return -1;
			o[k++] = (uint8_t)(h1 * 16 + h2);
			i += 2;
			break;
		}
		default:
			/* unknown escape: kept with its backslash */
			o[k++] = '\\';
			o[k++] = c;
			break;
		}
	}
	*out = o;
	*out_len = k;
	return 0;
}

static size_t put_utf8(uint8_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xc0 | (cp >> 6));
		o[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (uint8_t)(0xe0 | (cp >> 12));
		o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (uint8_t)(0xf0 | (cp >> 18));
	o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

int pk_decode_raw_unicode_escape(struct bw_arena *a, const uint8_t *s, size_t n, uint8_t **out,
                                 size_t *out_len)
{
	size_t cap, i = 0, k = 0;
	uint8_t *o;

	if (n > (SIZE_MAX - 1) / 2)
		return -2;
	cap = n * 2 + 1;
	o = bw_arena_alloc(a, cap);
	if (o == NULL)
		return -2;
	while (i < n) {
		size_t run = 0, cnt, j;
		uint32_t cp = 0;

		if (s[i] != '\\') {
			k += put_utf8(o + k, s[i++]);
			continue;
		}
		/* a run of backslashes: \u / \U is an escape only after an odd run */
		while (i < n && s[i] == '\\') {
			o[k++] = '\\';
			i++;
			run++;
		}
		if ((run & 1) == 0 || i >= n || (s[i] != 'u' && s[i] != 'U'))
			continue;
		k--; /* drop the escaping backslash */
		cnt = s[i] == 'u' ? 4 : 8;
		i++;
		for (j = 0; j < cnt; j++) {
			int d;

			if (i >= n)
				return -1; /* truncated \uXXXX escape */
			d = digit_val((char)s[i]);
			if (d > 15)
				return -1;
			cp = cp * 16 + (uint32_t)d;
			i++;
		}
		if (cp > 0x10ffff)
			return -1;
		k += put_utf8(o + k, cp);
	}
	*out = o;
	*out_len = k;
	return 0;
}

int pk_decode_long_bytes(struct bw_arena *a, const uint8_t *p, size_t n, struct pk_int *r)
{
	size_t i;

	memset(r, 0, sizeof *r);
	if (n == 0)
		return 0;
	if (n <= 8) {
		uint64_t u = 0;

		for (i = n; i > 0; i--)
			u = (u << 8) | p[i - 1];
		if (p[n - 1] & 0x80 && n < 8)
			u |= ~(uint64_t)0 << (8 * n);
		r->v = (int64_t)u;
		return 0;
	}
	r->big = 1;
	if (n > PK_BIGINT_MAX_BYTES) {
		r->text = bw_arena_printf(a, "<%zu-byte int>", n);
		return r->text == NULL ? -2 : 0;
	}
	{
		/* two's complement -> magnitude in 32-bit limbs, then base 1e9 division */
		size_t nl = (n + 3) / 4, nd = 0, dcap = nl * 10 + 3, len;
		uint32_t *limb = bw_arena_array(a, nl, sizeof *limb);
		uint32_t *dig = bw_arena_array(a, nl * 2 + 2, sizeof *dig);
		char *t = bw_arena_alloc(a, dcap);
		int neg = (p[n - 1] & 0x80) != 0;
		uint64_t carry = 1;

		if (limb == NULL || dig == NULL || t == NULL)
			return -2;
		for (i = 0; i < nl * 4; i++) {
			uint32_t byte = i < n ? p[i] : (neg ? 0xffu : 0u);

			limb[i / 4] |= byte << (8 * (i % 4));
		}
		if (neg) {
			for (i = 0; i < nl; i++) {
				uint64_t v = (uint64_t)(uint32_t)~limb[i] + carry;

				limb[i] = (uint32_t)v;
				carry = v >> 32;
			}
		}
		for (;;) {
			uint64_t rem = 0;
			int nz = 0;

			for (i = nl; i > 0; i--) {
				uint64_t cur = (rem << 32) | limb[i - 1];

				limb[i - 1] = (uint32_t)(cur / 1000000000u);
				rem = cur % 1000000000u;
				if (limb[i - 1] != 0)
					nz = 1;
			}
			dig[nd++] = (uint32_t)rem;
			if (!nz)
				break;
		}
		len = 0;
		if (neg)
			t[len++] = '-';
		len += (size_t)snprintf(t + len, dcap - len, "%u", dig[nd - 1]);
		for (i = nd - 1; i > 0; i--)
			len += (size_t)snprintf(t + len, dcap - len, "%09u", dig[i - 1]);
		r->text = t;
	}
	return 0;
}
