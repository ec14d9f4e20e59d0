/*
 * pep440.c - PEP 440 version parsing, ordering and specifiers; PEP 503 names.
 *
 * The grammar is the one in PEP 440 Appendix B ("Parsing version strings with
 * regular expressions"), which is also what `packaging.version.Version` (pip)
 * accepts, written as a hand parser: each optional part is tried at the
 * current position and, if it does not match completely, the position is
 * restored (the regex's backtracking for these parts). Specifier semantics
 * follow PEP 440 "Version specifiers" as implemented by `packaging`.
 *
 * Must not: allocate, recurse, read past the given length, or accept a string
 * the reference grammar rejects.
 */
#include <string.h>
#include <strings.h>

#include "audit/pep440.h"

/* ------------------------------------------------------------------ scanning */

struct cur {
	const char *p;
	const char *end;
};

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_space(int c)
{
	/* Python's \s for ASCII text. */
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int is_alnum_lower(int c)
{
	c = lower(c);
	return is_digit(c) || (c >= 'a' && c <= 'z');
}

static int is_sep(int c)
{
	return c == '-' || c == '_' || c == '.';
}

/* Case-insensitive literal at the cursor; consumes it on match. */
static int take_word(struct cur *c, const char *w)
{
	size_t n = strlen(w), i;

	if ((size_t)(c->end - c->p) < n)
		return 0;
	for (i = 0; i < n; i++)
		if (lower((unsigned char)c->p[i]) != w[i])
			return 0;
	c->p += n;
	return 1;
}

static void take_sep(struct cur *c)
{
	if (c->p < c->end && is_sep((unsigned char)*c->p))
		c->p++;
}

/* Digits into *out; 0 = no digit, 1 = ok, -1 = overflow. */
static int take_num(struct cur *c, uint64_t *out)
{
	uint64_t v = 0;
	int any = 0;

	while (c->p < c->end && is_digit((unsigned char)*c->p)) {
		uint64_t d = (uint64_t)(*c->p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		c->p++;
		any = 1;
	}
	*out = v;
	return any;
}

/* ------------------------------------------------------------------- parsing */

/* Pre-release label, in the order of the PEP 440 Appendix B alternation. */
static int take_pre_label(struct cur *c, uint8_t *kind)
{
	static const struct {
		const char *w;
		uint8_t k;
	} labels[] = {
		{"alpha", BW_PEP440_PRE_A}, {"a", BW_PEP440_PRE_A},
		{"beta", BW_PEP440_PRE_B},  {"b", BW_PEP440_PRE_B},
		{"preview", BW_PEP440_PRE_RC}, {"pre", BW_PEP440_PRE_RC},
		{"c", BW_PEP440_PRE_RC},    {"rc", BW_PEP440_PRE_RC},
	};
	size_t i;

	for (i = 0; i < sizeof labels / sizeof labels[0]; i++)
		if (take_word(c, labels[i].w)) {
			*kind = labels[i].k;
			return 1;
		}
	return 0;
}

/* Local label: [a-z0-9]+ ([-_.][a-z0-9]+)*, canonicalised into v->local. */
static enum bw_err parse_local(struct cur *c, struct bw_pep440 *v)
{
	size_t o = 0;

	for (;;) {
		const char *s = c->p;
		size_t n, i, z = 0;
		int numeric = 1;

		while (c->p < c->end && is_alnum_lower((unsigned char)*c->p)) {
			if (!is_digit((unsigned char)*c->p))
				numeric = 0;
			c->p++;
		}
		n = (size_t)(c->p - s);
		if (n == 0)
			return BW_ERR_MALFORMED;
		if (numeric) /* PEP 440 "Local version identifiers": 07 == 7 */
			while (z + 1 < n && s[z] == '0')
				z++;
		if (o + (n - z) + 2 > sizeof v->local)
			return BW_ERR_LIMIT;
		if (o > 0)
			v->local[o++] = '.';
		for (i = z; i < n; i++)
			v->local[o++] = (char)lower((unsigned char)s[i]);
		v->local[o] = '\0';
		if (c->p < c->end && is_sep((unsigned char)*c->p) && c->p + 1 < c->end &&
		    is_alnum_lower((unsigned char)c->p[1])) {
			c->p++;
			continue;
		}
		return BW_OK;
	}
}

enum bw_err bw_pep440_parse_n(const char *s, size_t n, struct bw_pep440 *v)
{
	struct cur c;
	const char *save;
	uint64_t num;
	int r;

	memset(v, 0, sizeof *v);
	if (s == NULL)
		return BW_ERR_ARG;
	if (n > BW_PEP440_MAX_STR)
		return BW_ERR_LIMIT;
	c.p = s;
	c.end = s + n;
	while (c.p < c.end && is_space((unsigned char)*c.p))
		c.p++;
	while (c.end > c.p && is_space((unsigned char)c.end[-1]))
		c.end--;
	if (c.p < c.end && lower((unsigned char)*c.p) == 'v')
		c.p++;

	/* epoch: N! */
	save = c.p;
	r = take_num(&c, &num);
	if (r < 0)
		return BW_ERR_LIMIT;
	if (r == 1 && c.p < c.end && *c.p == '!') {
		v->epoch = num;
		c.p++;
	} else {
		c.p = save;
	}

	/* release: N(.N)* */
	for (;;) {
		r = take_num(&c, &num);
		if (r < 0)
			return BW_ERR_LIMIT;
		if (r == 0)
			return BW_ERR_MALFORMED;
		if (v->n_release == BW_PEP440_MAX_RELEASE)
			return BW_ERR_LIMIT;
		v->release[v->n_release++] = num;
		if (c.p + 1 < c.end && *c.p == '.' && is_digit((unsigned char)c.p[1])) {
			c.p++;
			continue;
		}
		break;
	}

	/* pre-release: [-_.]? (a|b|rc|...) [-_.]? N? */
	save = c.p;
	take_sep(&c);
	if (take_pre_label(&c, &v->pre_kind)) {
		take_sep(&c);
		if (take_num(&c, &v->pre) < 0)
			return BW_ERR_LIMIT;
	} else {
		c.p = save;
	}

	/* post-release: -N | [-_.]? (post|rev|r) [-_.]? N? */
	save = c.p;
	if (c.p + 1 < c.end && *c.p == '-' && is_digit((unsigned char)c.p[1])) {
		c.p++;
		if (take_num(&c, &v->post) < 0)
			return BW_ERR_LIMIT;
		v->has_post = 1;
	} else {
		take_sep(&c);
		if (take_word(&c, "post") || take_word(&c, "rev") || take_word(&c, "r")) {
			take_sep(&c);
			if (take_num(&c, &v->post) < 0)
				return BW_ERR_LIMIT;
			v->has_post = 1;
		} else {
			c.p = save;
		}
	}

	/* dev-release: [-_.]? dev [-_.]? N? */
	save = c.p;
	take_sep(&c);
	if (take_word(&c, "dev")) {
		take_sep(&c);
		if (take_num(&c, &v->dev) < 0)
			return BW_ERR_LIMIT;
		v->has_dev = 1;
	} else {
		c.p = save;
	}

	/* local: +label */
	if (c.p < c.end && *c.p == '+') {
		enum bw_err e;

		c.p++;
		e = parse_local(&c, v);
		if (e != BW_OK)
			return e;
	}
	if (c.p != c.end)
		return BW_ERR_MALFORMED;
	return BW_OK;
}

enum bw_err bw_pep440_parse(const char *s, struct bw_pep440 *v)
{
	if (s == NULL) {
		memset(v, 0, sizeof *v);
		return BW_ERR_ARG;
	}
	return bw_pep440_parse_n(s, strnlen(s, BW_PEP440_MAX_STR + 1), v);
}

/* ------------------------------------------------------------------ ordering */

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

/* Release segments, trailing zeros ignored (1.0 == 1.0.0). */
static int cmp_release(const struct bw_pep440 *a, const struct bw_pep440 *b)
{
	size_t n = a->n_release > b->n_release ? a->n_release : b->n_release, i;

	for (i = 0; i < n; i++) {
		uint64_t x = i < a->n_release ? a->release[i] : 0;
		uint64_t y = i < b->n_release ? b->release[i] : 0;
		int r = cmp_u64(x, y);

		if (r != 0)
			return r;
	}
	return 0;
}

/* One local segment: numeric segments sort after alphanumeric ones,
 * numbers by value, strings lexicographically (PEP 440 "Local version
 * identifiers"). Segments are canonical (numbers without leading zeros). */
static int cmp_local_seg(const char *a, size_t an, const char *b, size_t bn)
{
	int anum = 1, bnum = 1, r;
	size_t i;

	for (i = 0; i < an; i++)
		if (!is_digit((unsigned char)a[i]))
			anum = 0;
	for (i = 0; i < bn; i++)
		if (!is_digit((unsigned char)b[i]))
			bnum = 0;
	if (anum != bnum)
		return anum ? 1 : -1;
	if (anum && an != bn)
		return an < bn ? -1 : 1;
	r = memcmp(a, b, an < bn ? an : bn);
	if (r != 0)
		return r < 0 ? -1 : 1;
	return (an > bn) - (an < bn);
}

static int cmp_local(const char *a, const char *b)
{
	if (a[0] == '\0' || b[0] == '\0')
		return (a[0] != '\0') - (b[0] != '\0');
	for (;;) {
		size_t an = strcspn(a, "."), bn = strcspn(b, ".");
		int r = cmp_local_seg(a, an, b, bn);

		if (r != 0)
			return r;
		a += an;
		b += bn;
		if (*a == '\0' || *b == '\0')
			return (*a != '\0') - (*b != '\0');
		a++;
		b++;
	}
}

/*
 * The pre-release key: a dev release of a final (1.0.dev0, no pre, no post)
 * sorts before every pre-release of it; a final sorts after them.
 * Encoded as (class, kind, number): class 0 = -inf, 1 = a pre-release, 2 = +inf.
 */
static int pre_class(const struct bw_pep440 *v)
{
	if (v->pre_kind == BW_PEP440_PRE_NONE)
		return (!v->has_post && v->has_dev) ? 0 : 2;
	return 1;
}

int bw_pep440_cmp(const struct bw_pep440 *a, const struct bw_pep440 *b)
{
	int r, ca, cb;

	if ((r = cmp_u64(a->epoch, b->epoch)) != 0)
		return r;
	if ((r = cmp_release(a, b)) != 0)
		return r;
	ca = pre_class(a);
	cb = pre_class(b);
	if (ca != cb)
		return ca < cb ? -1 : 1;
	if (ca == 1) {
		if (a->pre_kind != b->pre_kind)
			return a->pre_kind < b->pre_kind ? -1 : 1;
		if ((r = cmp_u64(a->pre, b->pre)) != 0)
			return r;
	}
	/* no post-release sorts first */
	if (a->has_post != b->has_post)
		return a->has_post ? 1 : -1;
	if (a->has_post && (r = cmp_u64(a->post, b->post)) != 0)
		return r;
	/* no dev-release sorts last */
	if (a->has_dev != b->has_dev)
		return a->has_dev ? -1 : 1;
	if (a->has_dev && (r = cmp_u64(a->dev, b->dev)) != 0)
		return r;
	return cmp_local(a->local, b->local);
}

/* --------------------------------------------------------------- formatting */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void put(struct sbuf *b, const char *s)
{
	while (*s != '\0' && b->len + 1 < b->cap)
		b->p[b->len++] = *s++;
	b->p[b->len] = '\0';
}

static void put_u64(struct sbuf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof tmp - 1;

	tmp[i] = '\0';
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put(b, tmp + i);
}

/* parts: 1 base, 2 public, 3 full */
static char *format_v(const struct bw_pep440 *v, char *out, size_t out_len, int parts)
{
	static const char *pre_names[] = {"", "a", "b", "rc"};
	struct sbuf b;
	size_t i;

	if (out_len == 0)
		return out;
	b.p = out;
	b.len = 0;
	b.cap = out_len;
	out[0] = '\0';
	if (v->epoch != 0) {
		put_u64(&b, v->epoch);
		put(&b, "!");
	}
	for (i = 0; i < v->n_release; i++) {
		if (i > 0)
			put(&b, ".");
		put_u64(&b, v->release[i]);
	}
	if (parts >= 2) {
		if (v->pre_kind != BW_PEP440_PRE_NONE && v->pre_kind <= BW_PEP440_PRE_RC) {
			put(&b, pre_names[v->pre_kind]);
			put_u64(&b, v->pre);
		}
		if (v->has_post) {
			put(&b, ".post");
			put_u64(&b, v->post);
		}
		if (v->has_dev) {
			put(&b, ".dev");
			put_u64(&b, v->dev);
		}
	}
	if (parts >= 3 && v->local[0] != '\0') {
		put(&b, "+");
		put(&b, v->local);
	}
	return out;
}

char *bw_pep440_str(const struct bw_pep440 *v, char *out, size_t out_len)
{
	return format_v(v, out, out_len, 3);
}

char *bw_pep440_public_str(const struct bw_pep440 *v, char *out, size_t out_len)
{
	return format_v(v, out, out_len, 2);
}

char *bw_pep440_base_str(const struct bw_pep440 *v, char *out, size_t out_len)
{
	return format_v(v, out, out_len, 1);
}

int bw_pep440_is_prerelease(const struct bw_pep440 *v)
{
	return v->pre_kind != BW_PEP440_PRE_NONE || v->has_dev;
}

int bw_pep440_is_postrelease(const struct bw_pep440 *v)
{
	return v->has_post;
}

int bw_pep440_is_devrelease(const struct bw_pep440 *v)
{
	return v->has_dev;
}

/* --------------------------------------------------------------- specifiers */

/* Copy of v without its local label (packaging's Version(v.public)). */
static void public_of(const struct bw_pep440 *v, struct bw_pep440 *out)
{
	*out = *v;
	out->local[0] = '\0';
}

/* Version(a.base_version) == Version(b.base_version) */
static int base_eq(const struct bw_pep440 *a, const struct bw_pep440 *b)
{
	return a->epoch == b->epoch && cmp_release(a, b) == 0;
}

/*
 * Prefix matching for ==V.* (PEP 440 "Version matching", prefix match).
 * Both sides are split into tokens the way packaging does it: the canonical
 * public form split at dots, with a pre-release glued to the last release
 * number split off ("0rc1" -> "0", "rc1"). The candidate is cut to the
 * length of the prefix, then the release parts of both are zero-padded to
 * the same length and the token lists compared.
 */
#define MAX_TOKENS (BW_PEP440_MAX_RELEASE + 4)

struct toks {
	size_t n, n_rel;
	char t[MAX_TOKENS][32];
};

static int all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!is_digit((unsigned char)*s))
			return 0;
	return 1;
}

static void split_tokens(const char *s, struct toks *t)
{
	t->n = 0;
	while (*s != '\0' && t->n < MAX_TOKENS) {
		size_t n = strcspn(s, "."), d = 0;
		char item[32];

		if (n >= sizeof item)
			n = sizeof item - 1;
		memcpy(item, s, n);
		item[n] = '\0';
		/* ^([0-9]+)((?:a|b|c|rc)[0-9]+)$ */
		while (is_digit((unsigned char)item[d]))
			d++;
		if (d > 0 && d < n && t->n + 1 < MAX_TOKENS) {
			const char *rest = item + d;
			size_t l = (rest[0] == 'r' && rest[1] == 'c') ? 2
			           : (rest[0] == 'a' || rest[0] == 'b' || rest[0] == 'c') ? 1 : 0;

			if (l > 0 && all_digits(rest + l)) {
				memcpy(t->t[t->n], item, d);
				t->t[t->n++][d] = '\0';
				strcpy(t->t[t->n++], rest);
				goto next;
			}
		}
		strcpy(t->t[t->n++], item);
next:
		s += strcspn(s, ".");
		if (*s == '.')
			s++;
	}
	for (t->n_rel = 0; t->n_rel < t->n && all_digits(t->t[t->n_rel]); t->n_rel++)
		;
}

/* Zero-pad the release part of t to n_rel tokens, keeping the rest after it. */
static void pad_tokens(struct toks *t, size_t n_rel)
{
	size_t add, i;

	if (n_rel <= t->n_rel)
		return;
	add = n_rel - t->n_rel;
	if (t->n + add > MAX_TOKENS)
		add = MAX_TOKENS - t->n;
	for (i = t->n; i-- > t->n_rel;)
		memcpy(t->t[i + add], t->t[i], sizeof t->t[i]);
	for (i = 0; i < add; i++)
		strcpy(t->t[t->n_rel + i], "0");
	t->n += add;
	t->n_rel += add;
}

static int prefix_match(const struct bw_pep440 *cand, const char *prefix_canon)
{
	char cs[BW_PEP440_MAX_CANON];
	struct toks pt, ct;
	size_t i, n_rel;

	split_tokens(prefix_canon, &pt);
	split_tokens(bw_pep440_public_str(cand, cs, sizeof cs), &ct);
	if (ct.n > pt.n) {
		ct.n = pt.n;
		if (ct.n_rel > ct.n)
			ct.n_rel = ct.n;
	}
	n_rel = pt.n_rel > ct.n_rel ? pt.n_rel : ct.n_rel;
	pad_tokens(&pt, n_rel);
	pad_tokens(&ct, n_rel);
	if (pt.n != ct.n)
		return 0;
	for (i = 0; i < pt.n; i++)
		if (strcmp(pt.t[i], ct.t[i]) != 0)
			return 0;
	return 1;
}

static int is_suffix_token(const char *t)
{
	return strncmp(t, "dev", 3) == 0 || t[0] == 'a' || t[0] == 'b' ||
	       strncmp(t, "rc", 2) == 0 || strncmp(t, "post", 4) == 0;
}

/* ~=V: >= V and == P.* where P is V's release without its last number. */
static int compatible_match(const struct bw_pep440 *cand, const struct bw_pep440 *spec)
{
	char s[BW_PEP440_MAX_CANON], prefix[BW_PEP440_MAX_CANON];
	struct toks t;
	size_t n, i;
	struct bw_pep440 pub;

	public_of(cand, &pub);
	if (bw_pep440_cmp(&pub, spec) < 0)
		return 0;
	split_tokens(bw_pep440_public_str(spec, s, sizeof s), &t);
	for (n = 0; n < t.n && !is_suffix_token(t.t[n]); n++)
		;
	if (n > 0)
		n--;
	prefix[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(prefix, ".");
		strcat(prefix, t.t[i]);
	}
	return prefix_match(cand, prefix);
}

static int clause_match(const struct bw_pep440_clause *cl, const struct bw_pep440 *cand,
                        const char *text)
{
	struct bw_pep440 pub;
	char s[BW_PEP440_MAX_CANON];
	int r;

	public_of(cand, &pub);
	switch (cl->op) {
	case BW_OP_COMPATIBLE:
		return compatible_match(cand, &cl->v);
	case BW_OP_EQ:
	case BW_OP_NE:
		if (cl->wildcard)
			r = prefix_match(cand, bw_pep440_public_str(&cl->v, s, sizeof s));
		else if (cl->v.local[0] != '\0')
			r = bw_pep440_cmp(cand, &cl->v) == 0;
		else /* a spec without local label ignores the candidate's */
			r = bw_pep440_cmp(&pub, &cl->v) == 0;
		return cl->op == BW_OP_EQ ? r : !r;
	case BW_OP_LE:
		return bw_pep440_cmp(&pub, &cl->v) <= 0;
	case BW_OP_GE:
		return bw_pep440_cmp(&pub, &cl->v) >= 0;
	case BW_OP_LT:
		/* <V excludes pre-releases of V itself unless V is one */
		if (bw_pep440_cmp(cand, &cl->v) >= 0)
			return 0;
		if (!bw_pep440_is_prerelease(&cl->v) && bw_pep440_is_prerelease(cand) &&
		    base_eq(cand, &cl->v))
			return 0;
		return 1;
	case BW_OP_GT:
		/* >V excludes post-releases and local versions of V */
		if (bw_pep440_cmp(cand, &cl->v) <= 0)
			return 0;
		if (!bw_pep440_is_postrelease(&cl->v) && bw_pep440_is_postrelease(cand) &&
		    base_eq(cand, &cl->v))
			return 0;
		if (cand->local[0] != '\0' && base_eq(cand, &cl->v))
			return 0;
		return 1;
	case BW_OP_ARBITRARY:
		/* === compares the candidate's string form, case-insensitively */
		if (text == NULL)
			text = bw_pep440_str(cand, s, sizeof s);
		return strcasecmp(text, cl->arbitrary) == 0;
	}
	return 0;
}

/* Does this clause, on its own, let pre-releases in? */
static int clause_allows_pre(const struct bw_pep440_clause *cl)
{
	struct bw_pep440 v;

	switch (cl->op) {
	case BW_OP_EQ:
	case BW_OP_GE:
	case BW_OP_LE:
	case BW_OP_COMPATIBLE:
		return bw_pep440_is_prerelease(&cl->v);
	case BW_OP_ARBITRARY:
		return bw_pep440_parse(cl->arbitrary, &v) == BW_OK && bw_pep440_is_prerelease(&v);
	default:
		return 0;
	}
}

static int spec_contains(const struct bw_pep440_spec *spec, const struct bw_pep440 *v,
                         const char *text, int prereleases)
{
	size_t i;

	if (prereleases < 0) {
		prereleases = 0;
		for (i = 0; i < spec->n_clauses; i++)
			if (clause_allows_pre(&spec->c[i]))
				prereleases = 1;
	}
	if (!prereleases && bw_pep440_is_prerelease(v))
		return 0;
	for (i = 0; i < spec->n_clauses; i++)
		if (!clause_match(&spec->c[i], v, text))
			return 0;
	return 1;
}

int bw_pep440_spec_contains(const struct bw_pep440_spec *spec, const struct bw_pep440 *v,
                            int prereleases)
{
	return spec_contains(spec, v, NULL, prereleases);
}

int bw_pep440_spec_contains_str(const struct bw_pep440_spec *spec, const char *text,
                                int prereleases, int *parsed)
{
	struct bw_pep440 v;
	char canon[BW_PEP440_MAX_CANON];
	size_t i;

	if (bw_pep440_parse(text, &v) == BW_OK) {
		*parsed = 1;
		return spec_contains(spec, &v, bw_pep440_str(&v, canon, sizeof canon), prereleases);
	}
	/* Not PEP 440: only a set made purely of === clauses can name it. */
	*parsed = 0;
	if (spec->n_clauses == 0)
		return 0;
	for (i = 0; i < spec->n_clauses; i++)
		if (spec->c[i].op != BW_OP_ARBITRARY || strcasecmp(text, spec->c[i].arbitrary) != 0)
			return 0;
	return 1;
}

/*
 * One clause "OP VERSION" (already trimmed). The version grammar depends on
 * the operator (PEP 440 "Version specifiers"): ~= needs two release numbers
 * and no local label, ==/!= allow a local label or a trailing .* (not both, and
 * .* not after a dev release), ordered comparisons allow neither.
 */
static enum bw_err parse_clause(const char *s, size_t n, struct bw_pep440_clause *cl)
{
	static const struct {
		const char *t;
		enum bw_pep440_op op;
	} ops[] = {
		{"===", BW_OP_ARBITRARY}, {"~=", BW_OP_COMPATIBLE}, {"==", BW_OP_EQ},
		{"!=", BW_OP_NE},         {"<=", BW_OP_LE},         {">=", BW_OP_GE},
		{"<", BW_OP_LT},          {">", BW_OP_GT},
	};
	size_t i, ol = 0;
	enum bw_err e;
	const char *vs;
	size_t vn;

	memset(cl, 0, sizeof *cl);
	for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		ol = strlen(ops[i].t);
		if (n >= ol && memcmp(s, ops[i].t, ol) == 0) {
			cl->op = ops[i].op;
			break;
		}
	}
	if (i == sizeof ops / sizeof ops[0])
		return BW_ERR_MALFORMED;
	vs = s + ol;
	vn = n - ol;
	while (vn > 0 && is_space((unsigned char)*vs)) {
		vs++;
		vn--;
	}
	if (cl->op == BW_OP_ARBITRARY) {
		/* [^\s;)]* */
		for (i = 0; i < vn; i++)
			if (is_space((unsigned char)vs[i]) || vs[i] == ';' || vs[i] == ')')
				return BW_ERR_MALFORMED;
		if (vn >= sizeof cl->arbitrary)
			return BW_ERR_LIMIT;
		memcpy(cl->arbitrary, vs, vn);
		cl->arbitrary[vn] = '\0';
		return BW_OK;
	}
	if ((cl->op == BW_OP_EQ || cl->op == BW_OP_NE) && vn >= 2 && vs[vn - 2] == '.' &&
	    vs[vn - 1] == '*') {
		cl->wildcard = 1;
		vn -= 2;
	}
	if (vn == 0 || is_space((unsigned char)vs[vn - 1]) || is_space((unsigned char)vs[0]))
		return BW_ERR_MALFORMED;
	e = bw_pep440_parse_n(vs, vn, &cl->v);
	if (e != BW_OK)
		return e;
	if (cl->v.local[0] != '\0' && cl->op != BW_OP_EQ && cl->op != BW_OP_NE)
		return BW_ERR_MALFORMED;
	if (cl->wildcard && (cl->v.local[0] != '\0' || cl->v.has_dev))
		return BW_ERR_MALFORMED;
	if (cl->op == BW_OP_COMPATIBLE && cl->v.n_release < 2)
		return BW_ERR_MALFORMED;
	return BW_OK;
}

enum bw_err bw_pep440_spec_parse(const char *s, struct bw_pep440_spec *spec)
{
	memset(spec, 0, sizeof *spec);
	if (s == NULL)
		return BW_ERR_ARG;
	if (strlen(s) > 4 * BW_PEP440_MAX_STR)
		return BW_ERR_LIMIT;
	for (;;) {
		size_t n = strcspn(s, ",");
		const char *a = s, *b = s + n;
		enum bw_err e;

		while (a < b && is_space((unsigned char)*a))
			a++;
		while (b > a && is_space((unsigned char)b[-1]))
			b--;
		if (a == b) {
			/* "" is the empty set; an empty clause between commas is not */
			if (s[n] == ',' || spec->n_clauses > 0)
				return BW_ERR_MALFORMED;
			return BW_OK;
		}
		if (spec->n_clauses == BW_PEP440_MAX_CLAUSES)
			return BW_ERR_LIMIT;
		e = parse_clause(a, (size_t)(b - a), &spec->c[spec->n_clauses]);
		if (e != BW_OK)
			return e;
		spec->n_clauses++;
		if (s[n] == '\0')
			return BW_OK;
		s += n + 1;
	}
}

/* ------------------------------------------------------------------ PEP 503 */

enum bw_err bw_pep503_normalize(const char *name, size_t name_len, char *out, size_t out_len)
{
	size_t i, o = 0;
	int in_sep = 0;

	if (name == NULL || out == NULL || out_len == 0)
		return BW_ERR_ARG;
	out[0] = '\0';
	if (name_len == 0)
		return BW_ERR_MALFORMED;
	for (i = 0; i < name_len; i++) {
		int c = (unsigned char)name[i];

		if (is_sep(c)) {
			in_sep = 1;
			continue;
		}
		if (!is_alnum_lower(c))
			return BW_ERR_MALFORMED;
		if (o + (size_t)in_sep + 1 >= out_len)
			return BW_ERR_LIMIT;
		if (in_sep && (o > 0 || i > 0))
			out[o++] = '-';
		in_sep = 0;
		out[o++] = (char)lower(c);
	}
	if (in_sep) {
		if (o + 1 >= out_len)
			return BW_ERR_LIMIT;
		out[o++] = '-';
	}
	out[o] = '\0';
	return o == 0 ? BW_ERR_MALFORMED : BW_OK;
}
