/*
 * tree.c - JSON (jansson) and YAML (libyaml) documents into struct bw_tnode.
 *
 * Both builders share one explicit-stack builder: a container's children are
 * gathered on a temporary vector and copied into the arena when it closes,
 * so depth is bounded by BW_TREE_MAX_DEPTH and nothing recurses on input.
 * Must not: resolve YAML aliases or tags (an alias is refused: OSV never uses
 * them and they are the classic expansion bomb), or keep jansson objects alive
 * past the call.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "audit/tree.h"
#include "core/alloc.h"
#include "core/buf.h"

struct frame {
	struct bw_tnode *node;
	size_t start;
};

struct builder {
	struct bw_arena *a;
	struct bw_tnode **tmp;
	size_t tmp_n, tmp_cap;
	struct frame stack[BW_TREE_MAX_DEPTH];
	size_t depth;
	size_t n_nodes;
	struct bw_tnode *root;
};

static void b_init(struct builder *b, struct bw_arena *a)
{
	memset(b, 0, sizeof *b);
	b->a = a;
}

static void b_release(struct builder *b)
{
	bw_free(b->tmp);
	b->tmp = NULL;
}

static enum bw_err b_append(struct builder *b, struct bw_tnode *n)
{
	if (b->depth == 0) {
		if (b->root != NULL)
			return BW_ERR_MALFORMED; /* a second document */
		b->root = n;
		return BW_OK;
	}
	if (b->tmp_n == b->tmp_cap) {
		size_t cap = b->tmp_cap ? b->tmp_cap * 2 : 256;
		struct bw_tnode **t = bw_reallocarray(b->tmp, cap, sizeof *t);

		if (t == NULL)
			return BW_ERR_NOMEM;
		b->tmp = t;
		b->tmp_cap = cap;
	}
	b->tmp[b->tmp_n++] = n;
	return BW_OK;
}

static struct bw_tnode *b_new(struct builder *b, enum bw_tnode_type t, uint32_t line)
{
	struct bw_tnode *n;

	if (++b->n_nodes > BW_TREE_MAX_NODES)
		return NULL;
	n = bw_arena_alloc(b->a, sizeof *n);
	if (n == NULL)
		return NULL;
	n->type = t;
	n->str = "";
	n->line = line;
	return n;
}

static enum bw_err b_scalar(struct builder *b, enum bw_tnode_type t, const char *s, size_t len,
                            uint32_t line)
{
	struct bw_tnode *n;
	char *txt;
	size_t total;

	if (++b->n_nodes > BW_TREE_MAX_NODES)
		return BW_ERR_LIMIT;
	/* node and text in one allocation; the text is copied whole (no strnlen
	 * pass): a NUL inside, as a TOML \u0000 can give, ends the C string just
	 * as the strndup this replaces did */
	if (bw_add_ovf(sizeof *n + 1, len, &total))
		return BW_ERR_LIMIT;
	n = bw_arena_alloc(b->a, total);
	if (n == NULL)
		return BW_ERR_NOMEM;
	txt = (char *)(n + 1);
	memcpy(txt, s, len);
	n->type = t;
	n->str = txt;
	n->len = len;
	n->line = line;
	return b_append(b, n);
}

static enum bw_err b_open(struct builder *b, enum bw_tnode_type t, uint32_t line)
{
	struct bw_tnode *n;

	if (b->depth == BW_TREE_MAX_DEPTH)
		return BW_ERR_LIMIT;
	n = b_new(b, t, line);
	if (n == NULL)
		return b->n_nodes > BW_TREE_MAX_NODES ? BW_ERR_LIMIT : BW_ERR_NOMEM;
	b->stack[b->depth].node = n;
	b->stack[b->depth].start = b->tmp_n;
	b->depth++;
	return BW_OK;
}

static enum bw_err b_close(struct builder *b)
{
	struct frame *f;
	size_t cnt;

	if (b->depth == 0)
		return BW_ERR_INTERNAL;
	f = &b->stack[--b->depth];
	cnt = b->tmp_n - f->start;
	if (f->node->type == BW_T_MAP && cnt % 2 != 0)
		return BW_ERR_MALFORMED;
	if (cnt > 0) {
		f->node->kids = bw_arena_array(b->a, cnt, sizeof *f->node->kids);
		if (f->node->kids == NULL)
			return BW_ERR_NOMEM;
		memcpy(f->node->kids, b->tmp + f->start, cnt * sizeof *f->node->kids);
	}
	f->node->n = f->node->type == BW_T_MAP ? cnt / 2 : cnt;
	b->tmp_n = f->start;
	return b_append(b, f->node);
}

/* ---------------------------------------------------------------- YAML */

static uint32_t line_of(const yaml_event_t *ev)
{
	return ev->start_mark.line + 1 > UINT32_MAX ? UINT32_MAX : (uint32_t)(ev->start_mark.line + 1);
}

enum bw_err bw_tree_parse_yaml_libyaml(struct bw_arena *a, const uint8_t *p, size_t n,
                                       struct bw_tnode **out, struct bw_diag *diag)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct builder b;
	enum bw_err err = BW_OK;
	int done = 0, docs = 0;

	*out = NULL;
	b_init(&b, a);
	if (!yaml_parser_initialize(&parser))
		return BW_ERR_NOMEM;
	yaml_parser_set_input_string(&parser, p, n);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			err = bw_diag_set(diag, BW_ERR_MALFORMED, parser.problem_mark.index,
			                  "YAML: %s (line %zu)", parser.problem ? parser.problem : "syntax error",
			                  parser.problem_mark.line + 1);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				err = bw_diag_set(diag, BW_ERR_MALFORMED, ev.start_mark.index,
				                  "YAML: more than one document");
			break;
		case YAML_MAPPING_START_EVENT:
			err = b_open(&b, BW_T_MAP, line_of(&ev));
			break;
		case YAML_SEQUENCE_START_EVENT:
			err = b_open(&b, BW_T_SEQ, line_of(&ev));
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			err = b_close(&b);
			break;
		case YAML_SCALAR_EVENT: {
			/* Plain null/~ and booleans are kept as text: OSV fields are strings;
			 * extractors look at the text. An empty plain scalar is null. */
			enum bw_tnode_type t = BW_T_STR;

			if (ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev.data.scalar.length == 0)
				t = BW_T_NULL;
			err = b_scalar(&b, t, (const char *)ev.data.scalar.value, ev.data.scalar.length,
			               line_of(&ev));
			break;
		}
		case YAML_ALIAS_EVENT:
			err = bw_diag_set(diag, BW_ERR_UNSUPPORTED, ev.start_mark.index,
			                  "YAML: aliases are not accepted in advisories");
			break;
		default:
			break;
		}
		if (err == BW_ERR_LIMIT)
			bw_diag_set(diag, err, ev.start_mark.index, "YAML: nesting or node count over the limit");
		yaml_event_delete(&ev);
		if (err != BW_OK)
			break;
	}
	yaml_parser_delete(&parser);
	if (err == BW_OK && b.root == NULL)
		err = bw_diag_set(diag, BW_ERR_MALFORMED, 0, "YAML: empty document");
	if (err == BW_OK)
		*out = b.root;
	b_release(&b);
	return err;
}


/* ---------------------------------------------------------------- YAML fast path */

/*
 * A reader for the block-style YAML subset that generated advisories use
 * (PyYAML's dump as in github.com/pypa/advisory-database): block mappings
 * with simple keys, block sequences (also at their key's indentation),
 * compact mappings in sequence items, plain and quoted scalars over several
 * lines. It is about ten times faster than libyaml for these files. It gives
 * up (returns BW_ERR_UNSUPPORTED, and the caller uses libyaml) on anything
 * else: control bytes, UTF-8 that is malformed or holds a character libyaml
 * treats specially (fy_utf8_len), comments, directives, document markers,
 * anchors, aliases, tags, flow collections, folded block scalars and literal
 * ones other than mapping values with a plain header (fy_literal), escapes in double
 * quotes, and any indentation it does not expect. The unit tests check that
 * every advisory it accepts gives the same tree as libyaml, and fuzz_osv
 * checks it differentially.
 */

struct fy {
	const char *p, *end;   /* current line start */
	uint32_t line;
};

struct fline {
	const char *text, *eol; /* content after indentation, end of line (before \n) */
	size_t ind;
	int blank;
};

/*
 * Length of the UTF-8 sequence at p if it is a character this reader takes,
 * else 0. Taken: well-formed sequences (no overlong forms, no surrogates)
 * of characters libyaml accepts as printable (YAML 1.1 section 5.1, c-printable)
 * that are not special to it: U+0085 (NEL), U+2028 and U+2029 are line
 * breaks for libyaml and U+FEFF is a byte order mark, so those, and the C1
 * controls U+0080-U+009F and U+FFFE/U+FFFF that libyaml refuses, leave the
 * file to libyaml.
 */
static size_t fy_utf8_len(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t k, j;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		k = 2;
		cp = p[0] & 0x1fu;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		k = 3;
		cp = p[0] & 0x0fu;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		k = 4;
		cp = p[0] & 0x07u;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (j = 1; j < k; j++) {
		if ((p[j] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[j] & 0x3fu);
	}
	if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0; /* overlong or beyond Unicode */
	if (cp < 0xa0 || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff ||
	    cp == 0xfffe || cp == 0xffff)
		return 0;
	return k;
}

static void fy_peek(const struct fy *f, struct fline *l)
{
	const char *q = f->p, *nl;

	while (q < f->end && *q == ' ')
		q++;
	l->ind = (size_t)(q - f->p);
	l->text = q;
	nl = q < f->end ? memchr(q, '\n', (size_t)(f->end - q)) : NULL;
	l->eol = nl != NULL ? nl : f->end;
	while (l->eol > l->text && l->eol[-1] == ' ')
		l->eol--;
	l->blank = l->eol == l->text;
}

static void fy_next(struct fy *f)
{
	const char *nl = f->p < f->end ? memchr(f->p, '\n', (size_t)(f->end - f->p)) : NULL;

	f->p = nl != NULL ? nl + 1 : f->end;
	f->line++;
}

static int fy_key_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-' || c == '.';
}

/* "key:" or "key: ..." at t: returns the key length, 0 if not a simple key. */
static size_t fy_key_len(const char *t, const char *eol)
{
	const char *q = t;

	if (q >= eol || !((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_'))
		return 0;
	while (q < eol && fy_key_char((unsigned char)*q))
		q++;
	if (q < eol && *q == ':' && (q + 1 == eol || q[1] == ' '))
		return (size_t)(q - t);
	return 0;
}

/*
 * May a plain scalar line hold this text? (no indicators we do not model)
 * The first line of a scalar must not start with an indicator. A continuation
 * line may start with any character but '#' (a comment) and "- " (kept out
 * to stay clear of sequence entries): libyaml's plain scalar scanner, in
 * block context, copies everything up to ": ", " #" or the line break
 * (YAML 1.2 section 7.3.3, ns-plain-char).
 */
static int fy_plain_ok(const char *t, const char *e, int first)
{
	const char *q;
	size_t n;

	if (t >= e)
		return 0;
	if (first && strchr("[]{}#&*!|>%@`,?:'\"", *t) != NULL)
		return 0;
	if (*t == '#')
		return 0;
	if (*t == '-' && (t + 1 == e || t[1] == ' '))
		return 0;
	n = (size_t)(e - t);
	for (q = t; (q = memchr(q, ':', (size_t)(e - q))) != NULL; q++)
		if (q + 1 == e || q[1] == ' ')
			return 0;
	for (q = t + 1; n > 1 && (q = memchr(q, '#', (size_t)(e - q))) != NULL; q++)
		if (q[-1] == ' ')
			return 0;
	return 1;
}

/*
 * Read a scalar that starts at text (on the current line) and may continue on
 * following lines indented more than parent_ind. Leaves f after its last line.
 * A scalar of one piece (one line, no '' escape) goes to the tree straight
 * from the input; only folded or unescaped text is assembled in a buffer.
 */
static enum bw_err fy_scalar(struct builder *b, struct fy *f, const struct fline *first, const char *text,
                             size_t parent_ind)
{
	struct bw_buf sb;
	enum bw_err e = BW_OK;
	char q = (*text == '\'' || *text == '"') ? *text : 0;
	const char *t = text + (q ? 1 : 0), *e0 = first->eol;
	const char *one = NULL; /* the text while it is one unmodified piece */
	size_t one_len = 0;
	int in_buf = 0;         /* text is in sb */
	uint32_t line = f->line + 1;
	int done = 0;

	bw_buf_init(&sb, (size_t)1 << 24);
	if (!q && !fy_plain_ok(t, e0, 1))
		return BW_ERR_UNSUPPORTED;
	for (;;) {
		/* consume this line's piece */
		if (q) {
			const char *c = t, *hit;

			if (q == '"' && memchr(t, '\\', (size_t)(e0 - t)) != NULL) {
				e = BW_ERR_UNSUPPORTED;
				goto out;
			}
			for (;;) {
				hit = memchr(c, q, (size_t)(e0 - c));
				if (hit == NULL) {
					hit = e0;
				} else if (q == '\'' && hit + 1 < e0 && hit[1] == '\'') {
					hit++; /* '' is one quote: keep the first, skip the second */
					if (!in_buf && one != NULL && (e = bw_buf_append(&sb, one, one_len)) != BW_OK)
						goto out;
					in_buf = 1;
					if ((e = bw_buf_append(&sb, c, (size_t)(hit - c))) != BW_OK)
						goto out;
					c = hit + 1;
					continue;
				} else if (hit + 1 != e0) { /* junk after the closing quote */
					e = BW_ERR_UNSUPPORTED;
					goto out;
				} else {
					done = 1;
				}
				break;
			}
			if (in_buf) {
				if ((e = bw_buf_append(&sb, c, (size_t)(hit - c))) != BW_OK)
					goto out;
			} else {
				one = c;
				one_len = (size_t)(hit - c);
			}
		} else if (in_buf) {
			if ((e = bw_buf_append(&sb, t, (size_t)(e0 - t))) != BW_OK)
				goto out;
		} else {
			one = t;
			one_len = (size_t)(e0 - t);
		}
		fy_next(f);
		if (done)
			break;
		/* continuation? count blank lines, then need a line indented more */
		{
			struct fy save = *f;
			struct fline l;
			size_t blanks = 0;

			for (;;) {
				if (f->p >= f->end)
					break;
				fy_peek(f, &l);
				if (!l.blank)
					break;
				blanks++;
				fy_next(f);
			}
			if (f->p >= f->end || l.blank || l.ind <= parent_ind) {
				if (q) { /* an unterminated quote */
					e = BW_ERR_UNSUPPORTED;
					goto out;
				}
				*f = save;
				break;
			}
			if (!q && !fy_plain_ok(l.text, l.eol, 0)) {
				e = BW_ERR_UNSUPPORTED;
				goto out;
			}
			if (!in_buf) {
				if (one != NULL && (e = bw_buf_append(&sb, one, one_len)) != BW_OK)
					goto out;
				in_buf = 1;
			}
			if (blanks == 0)
				e = bw_buf_putc(&sb, ' ');
			while (e == BW_OK && blanks-- > 0)
				e = bw_buf_putc(&sb, '\n');
			if (e != BW_OK)
				goto out;
			t = l.text;
			e0 = l.eol;
		}
	}
	if (in_buf)
		e = b_scalar(b, BW_T_STR, sb.data ? (const char *)sb.data : "", sb.len, line);
	else
		e = b_scalar(b, BW_T_STR, one != NULL ? one : "", one_len, line);
out:
	bw_buf_release(&sb);
	return e;
}

/*
 * A literal block scalar ("|", "|-" or "|+" ending the key's line; no
 * indentation indicator, no comment) as a mapping value, read the way
 * libyaml's block scalar scanner reads it (YAML 1.2 section 8.1.2): the
 * content indentation is that of the first non-empty line, which must be
 * deeper than the mapping and at least as deep as any blank line before it;
 * every line indented that much or more is content from that column on (a
 * blank line with more spaces keeps the extra ones), a blank line with fewer
 * spaces is a line break, and the first non-blank line indented less ends
 * the scalar. Chomping: "-" drops the final line break and trailing blank
 * lines, "|" keeps the final break only, "+" keeps them all. Anything else
 * (no content, a last line without a line break) is left to libyaml.
 */
static enum bw_err fy_literal(struct builder *b, struct fy *f, const struct fline *first, const char *text,
                              size_t parent_ind)
{
	struct bw_buf sb;
	int chomp; /* -1 strip, 0 clip, 1 keep */
	size_t hl = (size_t)(first->eol - text), ind = 0, max_blank = 0, n_blank = 0, trailing, i;
	int lead = 0; /* a content line's line break waits to be added */
	uint32_t line = f->line + 1;
	enum bw_err e = BW_OK;
	const char *q;

	if (hl == 1)
		chomp = 0;
	else if (hl == 2 && text[1] == '-')
		chomp = -1;
	else if (hl == 2 && text[1] == '+')
		chomp = 1;
	else
		return BW_ERR_UNSUPPORTED;
	fy_next(f);
	/* blank lines before the first content line, and its indentation */
	for (q = f->p;;) {
		const char *s0 = q;

		while (q < f->end && *q == ' ')
			q++;
		if (q >= f->end)
			return BW_ERR_UNSUPPORTED;
		if (*q != '\n') {
			ind = (size_t)(q - s0);
			break;
		}
		if ((size_t)(q - s0) > max_blank)
			max_blank = (size_t)(q - s0);
		n_blank++;
		q++;
	}
	if (ind <= parent_ind || max_blank > ind)
		return BW_ERR_UNSUPPORTED;
	for (i = 0; i < n_blank; i++)
		fy_next(f);
	trailing = n_blank;
	bw_buf_init(&sb, (size_t)1 << 24);
	for (;;) {
		const char *s0 = f->p, *r = f->p, *nl;
		size_t sp;

		if (s0 >= f->end)
			break;
		while (r < f->end && *r == ' ')
			r++;
		sp = (size_t)(r - s0);
		if (r >= f->end) {
			e = BW_ERR_UNSUPPORTED; /* spaces, then the end of the input */
			goto out;
		}
		if (*r == '\n') {
			if (sp <= ind) {
				trailing++;
				fy_next(f);
				continue;
			}
			/* more spaces than the indentation: those beyond it are content */
		} else if (sp < ind) {
			break;
		}
		nl = memchr(s0, '\n', (size_t)(f->end - s0));
		if (nl == NULL) {
			e = BW_ERR_UNSUPPORTED;
			goto out;
		}
		if (lead && (e = bw_buf_putc(&sb, '\n')) != BW_OK)
			goto out;
		for (; trailing > 0 && e == BW_OK; trailing--)
			e = bw_buf_putc(&sb, '\n');
		if (e != BW_OK || (e = bw_buf_append(&sb, s0 + ind, (size_t)(nl - (s0 + ind)))) != BW_OK)
			goto out;
		lead = 1;
		fy_next(f);
	}
	if (chomp >= 0 && lead && (e = bw_buf_putc(&sb, '\n')) != BW_OK)
		goto out;
	for (; chomp == 1 && trailing > 0 && e == BW_OK; trailing--)
		e = bw_buf_putc(&sb, '\n');
	if (e == BW_OK)
		e = b_scalar(b, BW_T_STR, sb.data ? (const char *)sb.data : "", sb.len, line);
out:
	bw_buf_release(&sb);
	return e;
}

struct fframe {
	int seq;
	size_t ind;
};

static enum bw_err fy_parse(struct builder *b, const uint8_t *p, size_t n)
{
	struct fy f;
	struct fframe st[BW_TREE_MAX_DEPTH];
	size_t depth = 0, i;
	int pending = 0;        /* a key or "-" waits for a nested node */
	size_t pending_ind = 0; /* indentation of the container that waits */
	int pending_in_map = 0;
	enum bw_err e;

	for (i = 0; i < n; i++) {
		uint8_t c;

#if defined(__SSE2__)
		/* 16 bytes at a time while they are all printable ASCII or line feeds */
		while (i + 16 <= n) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
			/* signed: bytes >= 0x80 count as below 0x20 too */
			__m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
			                           _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));

			bad = _mm_andnot_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')), bad);
			if (_mm_movemask_epi8(bad) != 0)
				break;
			i += 16;
		}
		if (i >= n)
			break;
#endif
		c = p[i];
		if (c >= 0x80) {
			size_t k = fy_utf8_len(p + i, n - i);

			if (k == 0)
				return BW_ERR_UNSUPPORTED;
			i += k - 1;
			continue;
		}
		if ((c < 0x20 && c != '\n') || c == 0x7f)
			return BW_ERR_UNSUPPORTED;
	}
	f.p = (const char *)p;
	f.end = f.p + n;
	f.line = 0;
	for (;;) {
		struct fline l;
		int is_item;

		while (f.p < f.end) {
			fy_peek(&f, &l);
			if (!l.blank)
				break;
			fy_next(&f);
		}
		if (f.p >= f.end)
			break;
		if (*l.text == '#' || *l.text == '%' || (l.ind == 0 && (f.end - l.text >= 3) &&
		                                        (memcmp(l.text, "---", 3) == 0 || memcmp(l.text, "...", 3) == 0)))
			return BW_ERR_UNSUPPORTED;
		is_item = *l.text == '-' && (l.text + 1 == l.eol || l.text[1] == ' ');

		if (pending) {
			pending = 0;
			if (l.ind > pending_ind || (l.ind == pending_ind && pending_in_map && is_item)) {
				if (depth == BW_TREE_MAX_DEPTH)
					return BW_ERR_LIMIT;
				if ((e = b_open(b, is_item ? BW_T_SEQ : BW_T_MAP, f.line + 1)) != BW_OK)
					return e;
				st[depth].seq = is_item;
				st[depth].ind = l.ind;
				depth++;
			} else if ((e = b_scalar(b, BW_T_NULL, "", 0, f.line + 1)) != BW_OK) {
				return e;
			}
		}
		if (depth == 0) {
			if (b->root != NULL)
				return BW_ERR_UNSUPPORTED;
			if ((e = b_open(b, is_item ? BW_T_SEQ : BW_T_MAP, f.line + 1)) != BW_OK)
				return e;
			st[0].seq = is_item;
			st[0].ind = l.ind;
			depth = 1;
		}
		/* close what this line ends */
		for (;;) {
			struct fframe *t = &st[depth - 1];

			if (l.ind < t->ind || (t->seq && l.ind == t->ind && !is_item)) {
				if ((e = b_close(b)) != BW_OK)
					return e;
				if (--depth == 0)
					return BW_ERR_UNSUPPORTED; /* content after the root */
				continue;
			}
			if (l.ind > t->ind || (!t->seq && is_item))
				return BW_ERR_UNSUPPORTED;
			break;
		}
		/* this line belongs to st[depth-1] */
		{
			struct fframe *t = &st[depth - 1];
			const char *text = l.text;
			size_t ind = l.ind;

			if (t->seq) {
				text = l.text + 1;
				while (text < l.eol && *text == ' ')
					text++;
				if (text == l.eol) {
					pending = 1;
					pending_ind = t->ind;
					pending_in_map = 0;
					fy_next(&f);
					continue;
				}
				ind = (size_t)(text - l.text) + l.ind;
				if (fy_key_len(text, l.eol) == 0) {
					struct fline sl = l;

					if ((e = fy_scalar(b, &f, &sl, text, t->ind)) != BW_OK)
						return e;
					continue;
				}
				/* "- key: ..." opens a compact mapping at the key's column */
				if (depth == BW_TREE_MAX_DEPTH)
					return BW_ERR_LIMIT;
				if ((e = b_open(b, BW_T_MAP, f.line + 1)) != BW_OK)
					return e;
				st[depth].seq = 0;
				st[depth].ind = ind;
				depth++;
				t = &st[depth - 1];
			}
			{
				size_t kl = fy_key_len(text, l.eol);
				const char *v;

				if (kl == 0)
					return BW_ERR_UNSUPPORTED;
				if ((e = b_scalar(b, BW_T_STR, text, kl, f.line + 1)) != BW_OK)
					return e;
				v = text + kl + 1;
				while (v < l.eol && *v == ' ')
					v++;
				if (v == l.eol) {
					pending = 1;
					pending_ind = t->ind;
					pending_in_map = 1;
					fy_next(&f);
					continue;
				}
				if (*v == '|')
					e = fy_literal(b, &f, &l, v, t->ind);
				else
					e = fy_scalar(b, &f, &l, v, t->ind);
				if (e != BW_OK)
					return e;
			}
		}
	}
	if (pending && (e = b_scalar(b, BW_T_NULL, "", 0, f.line)) != BW_OK)
		return e;
	while (depth > 0) {
		if ((e = b_close(b)) != BW_OK)
			return e;
		depth--;
	}
	return b->root != NULL ? BW_OK : BW_ERR_UNSUPPORTED;
}

enum bw_err bw_tree_parse_yaml_fast(struct bw_arena *a, const uint8_t *p, size_t n, struct bw_tnode **out)
{
	struct builder b;
	enum bw_err e;

	*out = NULL;
	b_init(&b, a);
	e = fy_parse(&b, p, n);
	if (e == BW_OK)
		*out = b.root;
	b_release(&b);
	return e;
}

enum bw_err bw_tree_parse_yaml(struct bw_arena *a, const uint8_t *p, size_t n, struct bw_tnode **out,
                               struct bw_diag *diag)
{
	enum bw_err e = bw_tree_parse_yaml_fast(a, p, n, out);

	if (e == BW_OK || e == BW_ERR_NOMEM)
		return e;
	/* anything the fast path does not model goes to libyaml */
	return bw_tree_parse_yaml_libyaml(a, p, n, out, diag);
}

int bw_tree_equal(const struct bw_tnode *x, const struct bw_tnode *y)
{
	const struct bw_tnode *sx[BW_TREE_MAX_DEPTH * 2], *sy[BW_TREE_MAX_DEPTH * 2];
	size_t ix[BW_TREE_MAX_DEPTH * 2], d = 0;

	/* iterative walk; equal shapes keep the two stacks in step */
	sx[0] = x;
	sy[0] = y;
	ix[0] = 0;
	d = 1;
	if ((x == NULL) != (y == NULL))
		return 0;
	if (x == NULL)
		return 1;
	while (d > 0) {
		const struct bw_tnode *a = sx[d - 1], *b2 = sy[d - 1];
		size_t nk;

		if (ix[d - 1] == 0) {
			if (a->type != b2->type || a->n != b2->n || a->len != b2->len || memcmp(a->str, b2->str, a->len) != 0)
				return 0;
		}
		nk = a->type == BW_T_MAP ? a->n * 2 : (a->type == BW_T_SEQ ? a->n : 0);
		if (ix[d - 1] >= nk) {
			d--;
			continue;
		}
		if (d == BW_TREE_MAX_DEPTH * 2)
			return 0;
		sx[d] = a->kids[ix[d - 1]];
		sy[d] = b2->kids[ix[d - 1]];
		ix[d - 1]++;
		ix[d] = 0;
		d++;
	}
	return 1;
}

/* ---------------------------------------------------------------- JSON */

struct jframe {
	json_t *v;
	void *iter;   /* objects */
	size_t idx;   /* arrays */
};

static enum bw_err json_scalar(struct builder *b, json_t *v)
{
	char num[64];

	switch (json_typeof(v)) {
	case JSON_STRING:
		return b_scalar(b, BW_T_STR, json_string_value(v), json_string_length(v), 0);
	case JSON_INTEGER:
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return b_scalar(b, BW_T_NUM, num, strlen(num), 0);
	case JSON_REAL: {
		/* the shortest text that reads back as the same double, written as
		 * Python's repr would (0.1 not 0.10000000000000001, 10000.0 not 1e+04) */
		double d = json_real_value(v), m = d < 0 ? -d : d;
		int prec;

		for (prec = 1; prec <= 17; prec++) {
			snprintf(num, sizeof num, "%.*g", prec, d);
			if (strtod(num, NULL) == d)
				break;
		}
		if (m >= 1e-4 && m < 1e16 && strchr(num, 'e') != NULL) {
			int mag = 0, dec;
			double t = m;

			while (t >= 10) {
				t /= 10;
				mag++;
			}
			while (t < 1) {
				t *= 10;
				mag--;
			}
			dec = prec - 1 - mag;
			snprintf(num, sizeof num, "%.*f", dec > 0 ? dec : 0, d);
		}
		if (strchr(num, '.') == NULL && strchr(num, 'e') == NULL && strchr(num, 'n') == NULL &&
		    strlen(num) + 2 < sizeof num)
			strcat(num, ".0");
		return b_scalar(b, BW_T_NUM, num, strlen(num), 0);
	}
	case JSON_TRUE:
		return b_scalar(b, BW_T_BOOL, "true", 4, 0);
	case JSON_FALSE:
		return b_scalar(b, BW_T_BOOL, "false", 5, 0);
	default:
		return b_scalar(b, BW_T_NULL, "", 0, 0);
	}
}

enum bw_err bw_tree_parse_json(struct bw_arena *a, const uint8_t *p, size_t n, struct bw_tnode **out,
                               struct bw_diag *diag)
{
	json_error_t jerr;
	json_t *root;
	struct builder b;
	struct jframe st[BW_TREE_MAX_DEPTH];
	size_t depth = 0;
	enum bw_err err = BW_OK;

	*out = NULL;
	/* jansson bounds its own nesting (JSON_PARSER_MAX_DEPTH); we bound ours below */
	root = json_loadb((const char *)p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return bw_diag_set(diag, BW_ERR_MALFORMED, (uint64_t)jerr.position, "JSON: %s (line %d)",
		                   jerr.text, jerr.line);
	b_init(&b, a);
	if (!json_is_object(root) && !json_is_array(root)) {
		err = json_scalar(&b, root);
		goto out;
	}
	err = b_open(&b, json_is_object(root) ? BW_T_MAP : BW_T_SEQ, 0);
	if (err != BW_OK)
		goto out;
	st[0].v = root;
	st[0].iter = json_is_object(root) ? json_object_iter(root) : NULL;
	st[0].idx = 0;
	depth = 1;
	while (depth > 0 && err == BW_OK) {
		struct jframe *f = &st[depth - 1];
		json_t *child;

		if (json_is_object(f->v)) {
			if (f->iter == NULL) {
				err = b_close(&b);
				depth--;
				continue;
			}
			{
				const char *k = json_object_iter_key(f->iter);

				err = b_scalar(&b, BW_T_STR, k, strlen(k), 0);
			}
			child = json_object_iter_value(f->iter);
			f->iter = json_object_iter_next(f->v, f->iter);
		} else {
			if (f->idx >= json_array_size(f->v)) {
				err = b_close(&b);
				depth--;
				continue;
			}
			child = json_array_get(f->v, f->idx++);
		}
		if (err != BW_OK)
			break;
		if (json_is_object(child) || json_is_array(child)) {
			if (depth == BW_TREE_MAX_DEPTH) {
				err = BW_ERR_LIMIT;
				break;
			}
			err = b_open(&b, json_is_object(child) ? BW_T_MAP : BW_T_SEQ, 0);
			st[depth].v = child;
			st[depth].iter = json_is_object(child) ? json_object_iter(child) : NULL;
			st[depth].idx = 0;
			depth++;
		} else {
			err = json_scalar(&b, child);
		}
	}
out:
	if (err == BW_ERR_LIMIT)
		bw_diag_set(diag, err, BW_NO_OFFSET, "JSON: nesting or node count over the limit");
	else if (err != BW_OK)
		bw_diag_set(diag, err, BW_NO_OFFSET, "JSON: cannot build the document tree");
	json_decref(root);
	if (err == BW_OK)
		*out = b.root;
	b_release(&b);
	return err;
}

/* ---------------------------------------------------------------- access */

struct bw_tnode *bw_tree_get(const struct bw_tnode *m, const char *k)
{
	size_t i, kl;

	if (m == NULL || m->type != BW_T_MAP || k == NULL)
		return NULL;
	kl = strlen(k);
	for (i = 0; i < m->n; i++) {
		const struct bw_tnode *key = m->kids[2 * i];

		if (key->len == kl && memcmp(key->str, k, kl) == 0)
			return m->kids[2 * i + 1];
	}
	return NULL;
}

const char *bw_tree_str(const struct bw_tnode *n)
{
	if (n == NULL)
		return NULL;
	if (n->type == BW_T_STR || n->type == BW_T_NUM || n->type == BW_T_BOOL)
		return n->str;
	return NULL;
}

const char *bw_tree_get_str(const struct bw_tnode *m, const char *k)
{
	return bw_tree_str(bw_tree_get(m, k));
}
