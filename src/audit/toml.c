/*
 * toml.c - a TOML 1.0 reader for lock files and pyproject.toml, into the
 * shared struct bw_tnode tree.
 *
 * Covers what Python packaging files use: tables, arrays of tables, dotted
 * keys, basic/literal/multi-line strings with escapes (TOML 1.0 "String"),
 * arrays and inline tables (nested, across lines inside arrays), integers,
 * floats, booleans. Dates and times are kept as their text. Nesting uses an
 * explicit stack capped at BW_TREE_MAX_DEPTH. Duplicate keys are an error
 * (TOML 1.0 "Keys": defining a key twice is invalid).
 * Must not: recurse on input, or accept a value it cannot delimit.
 */
#include <string.h>

#include "audit/tree.h"
#include "core/alloc.h"
#include "core/buf.h"

#define TOML_MAX_STRING ((size_t)1 << 20)

struct tp {
	struct bw_arena *a;
	const char *p, *end, *start;
	uint32_t line;
	size_t n_nodes;
	struct bw_diag *diag;
};

static enum bw_err fail(struct tp *t, enum bw_err e, const char *what)
{
	return bw_diag_set(t->diag, e, (uint64_t)(t->p - t->start), "TOML line %u: %s", t->line, what);
}

static struct bw_tnode *mk(struct tp *t, enum bw_tnode_type ty)
{
	struct bw_tnode *n;

	if (++t->n_nodes > BW_TREE_MAX_NODES)
		return NULL;
	n = bw_arena_alloc(t->a, sizeof *n);
	if (n != NULL) {
		n->type = ty;
		n->str = "";
		n->line = t->line;
	}
	return n;
}

/* Room for `need` more kid slots; arrays grow by doubling inside the arena. */
static enum bw_err kid_room(struct tp *t, struct bw_tnode *c, size_t need)
{
	size_t used = c->type == BW_T_MAP ? c->n * 2 : c->n, ncap;
	struct bw_tnode **nk;

	if (used + need <= c->cap_)
		return BW_OK;
	ncap = c->cap_ ? c->cap_ * 2 : 8;
	while (ncap < used + need)
		ncap *= 2;
	nk = bw_arena_array(t->a, ncap, sizeof *nk);
	if (nk == NULL)
		return BW_ERR_NOMEM;
	if (used > 0)
		memcpy(nk, c->kids, used * sizeof *nk);
	c->kids = nk;
	c->cap_ = ncap;
	return BW_OK;
}

static enum bw_err kid_push(struct tp *t, struct bw_tnode *c, struct bw_tnode *k)
{
	enum bw_err e = kid_room(t, c, 1);

	if (e == BW_OK)
		c->kids[c->n++] = k;
	return e;
}

static enum bw_err map_put(struct tp *t, struct bw_tnode *m, struct bw_tnode *key, struct bw_tnode *val)
{
	enum bw_err e;

	if (bw_tree_get(m, key->str) != NULL)
		return fail(t, BW_ERR_MALFORMED, "duplicate key");
	e = kid_room(t, m, 2);
	if (e != BW_OK)
		return e;
	m->kids[m->n * 2] = key;
	m->kids[m->n * 2 + 1] = val;
	m->n++;
	return BW_OK;
}

static void skip_ws(struct tp *t)
{
	while (t->p < t->end && (*t->p == ' ' || *t->p == '\t'))
		t->p++;
}

/* whitespace, newlines and comments */
static void skip_all(struct tp *t)
{
	for (;;) {
		skip_ws(t);
		if (t->p < t->end && *t->p == '#') {
			while (t->p < t->end && *t->p != '\n')
				t->p++;
		}
		if (t->p < t->end && (*t->p == '\n' || *t->p == '\r')) {
			if (*t->p == '\n')
				t->line++;
			t->p++;
			continue;
		}
		return;
	}
}

static int is_bare(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-';
}

static enum bw_err put_utf8(struct bw_buf *b, uint32_t cp)
{
	uint8_t u[4];
	size_t n;

	if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return BW_ERR_MALFORMED;
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xC0 | (cp >> 6));
		u[1] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xE0 | (cp >> 12));
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xF0 | (cp >> 18));
		u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return bw_buf_append(b, u, n);
}

/* A string of any of the four kinds at t->p (which is ' or "). */
static enum bw_err parse_string(struct tp *t, struct bw_tnode **out)
{
	char q = *t->p;
	int multi = t->end - t->p >= 3 && t->p[1] == q && t->p[2] == q;
	struct bw_buf b;
	enum bw_err e = BW_OK;
	struct bw_tnode *n;

	bw_buf_init(&b, TOML_MAX_STRING);
	t->p += multi ? 3 : 1;
	if (multi && t->p < t->end && *t->p == '\n') {
		t->p++;
		t->line++;
	} else if (multi && t->end - t->p >= 2 && t->p[0] == '\r' && t->p[1] == '\n') {
		t->p += 2;
		t->line++;
	}
	for (;;) {
		char c;

		if (t->p >= t->end) {
			e = fail(t, BW_ERR_TRUNCATED, "unterminated string");
			goto out;
		}
		c = *t->p;
		if (c == q) {
			if (!multi) {
				t->p++;
				break;
			}
			if (t->end - t->p >= 3 && t->p[1] == q && t->p[2] == q) {
				/* up to two quotes may end the content: """a"""" */
				size_t extra = 0;

				while (extra < 2 && t->end - t->p >= (ptrdiff_t)(4 + extra) && t->p[3 + extra] == q)
					extra++;
				if (extra > 0 && (e = bw_buf_append(&b, t->p, extra)) != BW_OK)
					goto out;
				t->p += 3 + extra;
				break;
			}
		}
		if (c == '\n') {
			if (!multi) {
				e = fail(t, BW_ERR_MALFORMED, "newline in a string");
				goto out;
			}
			t->line++;
		}
		if (c == '\\' && q == '"') {
			const char *s = t->p + 1;

			if (s >= t->end) {
				e = fail(t, BW_ERR_TRUNCATED, "escape at end");
				goto out;
			}
			t->p += 2;
			switch (*s) {
			case 'b': e = bw_buf_putc(&b, '\b'); break;
			case 't': e = bw_buf_putc(&b, '\t'); break;
			case 'n': e = bw_buf_putc(&b, '\n'); break;
			case 'f': e = bw_buf_putc(&b, '\f'); break;
			case 'r': e = bw_buf_putc(&b, '\r'); break;
			case 'e': e = bw_buf_putc(&b, 0x1b); break;
			case '"': e = bw_buf_putc(&b, '"'); break;
			case '\\': e = bw_buf_putc(&b, '\\'); break;
			case 'u':
			case 'U': {
				size_t k, nd = *s == 'u' ? 4 : 8;
				uint32_t cp = 0;

				if ((size_t)(t->end - t->p) < nd) {
					e = fail(t, BW_ERR_TRUNCATED, "short unicode escape");
					goto out;
				}
				for (k = 0; k < nd; k++) {
					char h = t->p[k];
					uint32_t d = (h >= '0' && h <= '9') ? (uint32_t)(h - '0')
					             : (h >= 'a' && h <= 'f') ? (uint32_t)(h - 'a' + 10)
					             : (h >= 'A' && h <= 'F') ? (uint32_t)(h - 'A' + 10) : 99;

					if (d == 99 || cp > 0x10FFFF) {
						e = fail(t, BW_ERR_MALFORMED, "bad unicode escape");
						goto out;
					}
					cp = cp * 16 + d;
				}
				t->p += nd;
				if (put_utf8(&b, cp) != BW_OK) {
					e = fail(t, BW_ERR_MALFORMED, "bad unicode scalar");
					goto out;
				}
				break;
			}
			default:
				if (multi && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
					/* line-ending backslash: drop whitespace and newlines */
					t->p = s;
					while (t->p < t->end &&
					       (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r')) {
						if (*t->p == '\n')
							t->line++;
						t->p++;
					}
					break;
				}
				e = fail(t, BW_ERR_MALFORMED, "bad escape");
				goto out;
			}
			if (e != BW_OK)
				goto out;
			continue;
		}
		if ((e = bw_buf_putc(&b, c)) != BW_OK)
			goto out;
		t->p++;
	}
	n = mk(t, BW_T_STR);
	if (n == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	n->str = bw_arena_strndup(t->a, b.data ? (const char *)b.data : "", b.len);
	n->len = b.len;
	if (n->str == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	*out = n;
out:
	if (e == BW_ERR_LIMIT)
		fail(t, e, "string over the size limit");
	bw_buf_release(&b);
	return e;
}

/* One key (bare or quoted) as a string node. */
static enum bw_err parse_key_part(struct tp *t, struct bw_tnode **out)
{
	const char *s = t->p;
	struct bw_tnode *n;

	skip_ws(t);
	if (t->p < t->end && (*t->p == '"' || *t->p == '\'')) {
		if (t->end - t->p >= 3 && t->p[1] == *t->p && t->p[2] == *t->p)
			return fail(t, BW_ERR_MALFORMED, "multi-line string as key");
		return parse_string(t, out);
	}
	s = t->p;
	while (t->p < t->end && is_bare((unsigned char)*t->p))
		t->p++;
	if (t->p == s)
		return fail(t, BW_ERR_MALFORMED, "expected a key");
	n = mk(t, BW_T_STR);
	if (n == NULL || (n->str = bw_arena_strndup(t->a, s, (size_t)(t->p - s))) == NULL)
		return BW_ERR_NOMEM;
	n->len = (size_t)(t->p - s);
	*out = n;
	return BW_OK;
}

#define MAX_KEY_PARTS 32

/* a.b."c" -> parts */
static enum bw_err parse_key(struct tp *t, struct bw_tnode **parts, size_t *n)
{
	enum bw_err e;

	*n = 0;
	for (;;) {
		if (*n == MAX_KEY_PARTS)
			return fail(t, BW_ERR_LIMIT, "dotted key too long");
		e = parse_key_part(t, &parts[*n]);
		if (e != BW_OK)
			return e;
		(*n)++;
		skip_ws(t);
		if (t->p < t->end && *t->p == '.') {
			t->p++;
			continue;
		}
		return BW_OK;
	}
}

/* Walk/create maps for parts[0..n-1] starting at m; arrays of tables step into their last table. */
static enum bw_err descend(struct tp *t, struct bw_tnode *m, struct bw_tnode **parts, size_t n,
                           struct bw_tnode **out)
{
	size_t i;
	enum bw_err e;

	for (i = 0; i < n; i++) {
		struct bw_tnode *c = bw_tree_get(m, parts[i]->str);

		if (c == NULL) {
			c = mk(t, BW_T_MAP);
			if (c == NULL)
				return BW_ERR_NOMEM;
			if ((e = map_put(t, m, parts[i], c)) != BW_OK)
				return e;
		} else if (c->type == BW_T_SEQ && c->n > 0 && c->kids[c->n - 1]->type == BW_T_MAP) {
			c = c->kids[c->n - 1];
		} else if (c->type != BW_T_MAP) {
			return fail(t, BW_ERR_MALFORMED, "key redefined as a table");
		}
		m = c;
	}
	*out = m;
	return BW_OK;
}

static enum bw_err parse_bare_scalar(struct tp *t, struct bw_tnode **out)
{
	const char *s = t->p;
	size_t len;
	struct bw_tnode *n;
	enum bw_tnode_type ty = BW_T_NUM;

	while (t->p < t->end && *t->p != ',' && *t->p != ']' && *t->p != '}' && *t->p != '#' &&
	       *t->p != '\n' && *t->p != '\r') {
		/* a space is allowed once inside a date-time: 1979-05-27 07:32:00 */
		if ((*t->p == ' ' || *t->p == '\t') &&
		    !(t->p - s == 10 && t->end - t->p > 1 && t->p[1] >= '0' && t->p[1] <= '9' && s[4] == '-'))
			break;
		t->p++;
	}
	len = (size_t)(t->p - s);
	if (len == 0)
		return fail(t, BW_ERR_MALFORMED, "expected a value");
	if ((len == 4 && memcmp(s, "true", 4) == 0) || (len == 5 && memcmp(s, "false", 5) == 0)) {
		ty = BW_T_BOOL;
	} else {
		size_t i;

		for (i = 0; i < len; i++) {
			char c = s[i];

			if (!((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '_' || c == '.' || c == 'e' ||
			      c == 'E' || c == 'x' || c == 'o' || c == 'b' || (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F') || c == ':' || c == 'T' || c == 'Z' || c == ' ' || c == 'i' ||
			      c == 'n'))
				return fail(t, BW_ERR_MALFORMED, "bad bare value");
			if (c == ':' || (c == '-' && i == 4))
				ty = BW_T_STR; /* date/time kept as text */
		}
	}
	n = mk(t, ty);
	if (n == NULL || (n->str = bw_arena_strndup(t->a, s, len)) == NULL)
		return BW_ERR_NOMEM;
	n->len = len;
	*out = n;
	return BW_OK;
}

struct vframe {
	struct bw_tnode *c;
	struct bw_tnode *keys[MAX_KEY_PARTS]; /* inline table: key awaiting its value */
	size_t n_keys;
};

/* Parse one value; arrays and inline tables use an explicit stack. */
static enum bw_err parse_value(struct tp *t, struct bw_tnode **out)
{
	struct vframe *st;
	size_t depth = 0;
	struct bw_tnode *v = NULL;
	enum bw_err e = BW_OK;

	st = bw_calloc(BW_TREE_MAX_DEPTH, sizeof *st);
	if (st == NULL)
		return BW_ERR_NOMEM;
	for (;;) {
		/* ---- value start ---- */
		if (depth > 0 && st[depth - 1].c->type == BW_T_SEQ)
			skip_all(t);
		else
			skip_ws(t);
		if (t->p >= t->end) {
			e = fail(t, BW_ERR_TRUNCATED, "value expected");
			goto out;
		}
		if (*t->p == '"' || *t->p == '\'') {
			if ((e = parse_string(t, &v)) != BW_OK)
				goto out;
		} else if (*t->p == '[' || *t->p == '{') {
			int arr = *t->p == '[';

			if (depth == BW_TREE_MAX_DEPTH) {
				e = fail(t, BW_ERR_LIMIT, "nesting over the limit");
				goto out;
			}
			t->p++;
			memset(&st[depth], 0, sizeof st[depth]);
			st[depth].c = mk(t, arr ? BW_T_SEQ : BW_T_MAP);
			if (st[depth].c == NULL) {
				e = BW_ERR_NOMEM;
				goto out;
			}
			depth++;
			if (arr) {
				skip_all(t);
				if (t->p < t->end && *t->p == ']') {
					t->p++;
					v = st[--depth].c;
					goto got;
				}
				continue;
			}
			skip_ws(t);
			if (t->p < t->end && *t->p == '}') {
				t->p++;
				v = st[--depth].c;
				goto got;
			}
			if ((e = parse_key(t, st[depth - 1].keys, &st[depth - 1].n_keys)) != BW_OK)
				goto out;
			skip_ws(t);
			if (t->p >= t->end || *t->p != '=') {
				e = fail(t, BW_ERR_MALFORMED, "expected '=' in inline table");
				goto out;
			}
			t->p++;
			continue;
		} else {
			if ((e = parse_bare_scalar(t, &v)) != BW_OK)
				goto out;
		}
got:
		/* ---- a complete value v ---- */
		for (;;) {
			struct vframe *f;

			if (depth == 0) {
				*out = v;
				goto out;
			}
			f = &st[depth - 1];
			if (f->c->type == BW_T_SEQ) {
				if ((e = kid_push(t, f->c, v)) != BW_OK)
					goto out;
				skip_all(t);
				if (t->p < t->end && *t->p == ',') {
					t->p++;
					skip_all(t);
				} else if (t->p >= t->end || *t->p != ']') {
					e = fail(t, BW_ERR_MALFORMED, "expected ',' or ']'");
					goto out;
				}
				if (t->p < t->end && *t->p == ']') {
					t->p++;
					v = f->c;
					depth--;
					continue;
				}
				break; /* next element */
			} else {
				struct bw_tnode *m;

				if ((e = descend(t, f->c, f->keys, f->n_keys - 1, &m)) != BW_OK ||
				    (e = map_put(t, m, f->keys[f->n_keys - 1], v)) != BW_OK)
					goto out;
				skip_ws(t);
				if (t->p < t->end && *t->p == '}') {
					t->p++;
					v = f->c;
					depth--;
					continue;
				}
				if (t->p >= t->end || *t->p != ',') {
					e = fail(t, BW_ERR_MALFORMED, "expected ',' or '}'");
					goto out;
				}
				t->p++;
				if ((e = parse_key(t, f->keys, &f->n_keys)) != BW_OK)
					goto out;
				skip_ws(t);
				if (t->p >= t->end || *t->p != '=') {
					e = fail(t, BW_ERR_MALFORMED, "expected '='");
					goto out;
				}
				t->p++;
				break;
			}
		}
	}
out:
	bw_free(st);
	return e;
}

enum bw_err bw_tree_parse_toml(struct bw_arena *a, const uint8_t *p, size_t n, struct bw_tnode **out,
                               struct bw_diag *diag)
{
	struct tp t;
	struct bw_tnode *root, *cur;
	struct bw_tnode *parts[MAX_KEY_PARTS];
	size_t np;
	enum bw_err e;

	*out = NULL;
	memset(&t, 0, sizeof t);
	t.a = a;
	t.p = t.start = (const char *)p;
	t.end = t.p + n;
	t.line = 1;
	t.diag = diag;
	if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		t.p += 3;
	root = cur = mk(&t, BW_T_MAP);
	if (root == NULL)
		return BW_ERR_NOMEM;
	for (;;) {
		skip_all(&t);
		if (t.p >= t.end)
			break;
		if (*t.p == '[') {
			int arr = t.end - t.p >= 2 && t.p[1] == '[';
			struct bw_tnode *parent, *last;

			t.p += arr ? 2 : 1;
			if ((e = parse_key(&t, parts, &np)) != BW_OK)
				return e;
			skip_ws(&t);
			if (t.p >= t.end || *t.p != ']' || (arr && (t.end - t.p < 2 || t.p[1] != ']')))
				return fail(&t, BW_ERR_MALFORMED, "bad table header");
			t.p += arr ? 2 : 1;
			if (!arr) {
				if ((e = descend(&t, root, parts, np, &cur)) != BW_OK)
					return e;
			} else {
				struct bw_tnode *tbl;

				if ((e = descend(&t, root, parts, np - 1, &parent)) != BW_OK)
					return e;
				last = bw_tree_get(parent, parts[np - 1]->str);
				if (last == NULL) {
					last = mk(&t, BW_T_SEQ);
					if (last == NULL)
						return BW_ERR_NOMEM;
					if ((e = map_put(&t, parent, parts[np - 1], last)) != BW_OK)
						return e;
				} else if (last->type != BW_T_SEQ) {
					return fail(&t, BW_ERR_MALFORMED, "array of tables redefines a key");
				}
				tbl = mk(&t, BW_T_MAP);
				if (tbl == NULL)
					return BW_ERR_NOMEM;
				if ((e = kid_push(&t, last, tbl)) != BW_OK)
					return e;
				cur = tbl;
			}
		} else {
			struct bw_tnode *m = NULL, *v = NULL;

			if ((e = parse_key(&t, parts, &np)) != BW_OK)
				return e;
			skip_ws(&t);
			if (t.p >= t.end || *t.p != '=')
				return fail(&t, BW_ERR_MALFORMED, "expected '='");
			t.p++;
			if ((e = parse_value(&t, &v)) != BW_OK)
				return e;
			if ((e = descend(&t, cur, parts, np - 1, &m)) != BW_OK ||
			    (e = map_put(&t, m, parts[np - 1], v)) != BW_OK)
				return e;
		}
		skip_ws(&t);
		if (t.p < t.end && *t.p == '#')
			while (t.p < t.end && *t.p != '\n')
				t.p++;
		if (t.p < t.end && *t.p == '\r')
			t.p++;
		if (t.p < t.end && *t.p != '\n')
			return fail(&t, BW_ERR_MALFORMED, "junk after a value");
	}
	*out = root;
	return BW_OK;
}
