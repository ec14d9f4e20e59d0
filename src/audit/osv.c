/*
 * osv.c - load an OSV database from disk: a folder of advisories (JSON or
 * YAML, any depth), one advisory file, or an OSV zip dump (libarchive).
 *
 * Each advisory becomes a struct osv_vuln with its PyPI affected entries
 * indexed by PEP 503 name (OSV schema 1.6: id, aliases, summary, details,
 * withdrawn, severity[], affected[].package{ecosystem,name},
 * affected[].ranges[]{type,events[]}, affected[].versions[],
 * database_specific.severity). Files that cannot be parsed are recorded as
 * problems and loading goes on; nothing in a file is executed or fetched.
 * Must not: follow directory symlinks (loops), read more than the configured
 * byte caps, or trust a folder name as a package name.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdatomic.h>

#include <jansson.h>

#include "audit/osv.h"
#include "core/larchive.h"
#include "audit/tree.h"
#include "core/alloc.h"
#include "core/fileio.h"

#define OSV_DEFAULT_MAX_FILE ((uint64_t)8 << 20)
#define OSV_DEFAULT_MAX_TOTAL ((uint64_t)4 << 30)
#define OSV_MAX_DIR_DEPTH 16
#define OSV_MAX_FILES 2000000u
#define OSV_MAX_NAME 256
#define OSV_WANT_BITS ((uint64_t)OSV_WANT_BITMAP_BITS)

void bw_osv_load_opts_default(struct bw_osv_load_opts *o)
{
	memset(o, 0, sizeof *o);
	o->max_file = OSV_DEFAULT_MAX_FILE;
	o->max_total = OSV_DEFAULT_MAX_TOTAL;
}

uint64_t bw_osv_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* ------------------------------------------------------------ name sets */

static struct osv_name_slot *slot_find_h(struct osv_name_slot *slots, size_t n_slots, const char *name,
                                         size_t len, uint64_t h)
{
	size_t i = (size_t)h & (n_slots - 1);

	for (;;) {
		struct osv_name_slot *s = &slots[i];

		if (s->name == NULL || (strncmp(s->name, name, len) == 0 && s->name[len] == '\0'))
			return s;
		i = (i + 1) & (n_slots - 1);
	}
}

static struct osv_name_slot *slot_find(struct osv_name_slot *slots, size_t n_slots, const char *name,
                                       size_t len)
{
	return slot_find_h(slots, n_slots, name, len, bw_osv_hash(name, len));
}

const struct osv_affected *bw_osv_lookup(const struct bw_osv_db *db, const char *norm)
{
	const struct osv_name_slot *s;

	if (db->slots == NULL)
		return NULL;
	s = slot_find(db->slots, db->n_slots, norm, strlen(norm));
	return s->name != NULL ? s->head : NULL;
}

static size_t pow2_at_least(size_t n)
{
	size_t p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

static enum bw_err db_new(const struct bw_osv_load_opts *opts, const struct bw_osv_db *like,
                          struct bw_osv_db **out);

/* ------------------------------------------------------------ problems */

static enum bw_err add_problem(struct bw_osv_db *db, const char *file, enum bw_err code,
                               const char *what)
{
	struct bw_osv_problem *p;

	if (db->n_problems == db->cap_problems) {
		size_t cap = db->cap_problems ? db->cap_problems * 2 : 16;

		p = bw_reallocarray(db->problems, cap, sizeof *p);
		if (p == NULL)
			return BW_ERR_NOMEM;
		db->problems = p;
		db->cap_problems = cap;
	}
	p = &db->problems[db->n_problems];
	p->file = bw_arena_strdup(&db->arena, file);
	p->what = bw_arena_strdup(&db->arena, what);
	p->code = code;
	if (p->file == NULL || p->what == NULL)
		return BW_ERR_NOMEM;
	db->n_problems++;
	return BW_OK;
}

/* ------------------------------------------------------------ prefilter */

/* 0: not in a name, 1: letter or digit, 2: separator (- _ .) */
static const uint8_t name_class[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
	['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1,
	['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
	['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
	['-'] = 2, ['_'] = 2, ['.'] = 2,
};

/*
 * Could this file mention a wanted package? Every maximal run of name
 * characters is PEP 503-normalized (hashed as it is read) and looked up;
 * a bitmap of the wanted hashes rejects almost every word without a probe.
 * A backslash (an escape that could spell a name in pieces) makes the answer
 * "yes". Sound for OSV files: the package name is a scalar of its own, so it
 * is one such run.
 */
static int may_mention(const struct bw_osv_db *db, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t start;
		int sep = 0, len = 0;
		uint64_t h = 1469598103934665603ULL;

		while (i < n && name_class[p[i]] == 0) {
			/* a NUL: UTF-16/32 text, where a name is not one run of bytes */
			if (p[i] == '\\' || p[i] == '\0')
				return 1;
			i++;
		}
		/* hash the normalized word without storing it */
		for (start = i; i < n && name_class[p[i]] != 0; i++) {
			unsigned c = p[i];

			if (name_class[c] == 2) {
				sep = 1;
				continue;
			}
			if (sep && len > 0) {
				h = (h ^ '-') * 1099511628211ULL;
				len++;
			}
			sep = 0;
			c |= (c >= 'A' && c <= 'Z') ? 0x20u : 0u;
			h = (h ^ c) * 1099511628211ULL;
			len++;
		}
		if (len == 0 || len >= OSV_MAX_NAME ||
		    !(db->want_bits[(h >> 6) & (OSV_WANT_BITS / 64 - 1)] & (1ULL << (h & 63))))
			continue;
		{
			/* a probable hit: build the normalized word and look it up exactly */
			char tok[OSV_MAX_NAME];
			size_t t = 0, j;

			sep = 0;
			for (j = start; j < i; j++) {
				unsigned c = p[j];

				if (name_class[c] == 2) {
					sep = 1;
					continue;
				}
				if (sep && t > 0)
					tok[t++] = '-';
				sep = 0;
				tok[t++] = (char)(c | ((c >= 'A' && c <= 'Z') ? 0x20u : 0u));
			}
			if (slot_find_h(db->want, db->n_want_slots, tok, t, h)->name != NULL)
				return 1;
		}
	}
	return 0;
}

/*
 * The first, cheaper judge: look only at the values of "name" keys (this
 * comment is about YAML; JSON files are judged by json_keyed). In every
 * advisory the package name is the value of a key spelled exactly `name`
 * (OSV affected[].package.name), and in JSON and YAML such a key is the bytes
 * n-a-m-e, optionally between matching quotes, followed by white space and a
 * colon, unless a backslash escape spells it in pieces (JSON \u, YAML double
 * quotes) or the text is not UTF-8 (UTF-16/32 hold NULs); either makes this
 * judge give up. For each such key the value that follows on the same line is
 * read: a valid PyPI name is made only of letters, digits and - _ . (PEP 503;
 * bw_pep503_normalize refuses anything else), so a value is one maximal run
 * of those characters, plain or just inside a quote; a quoted value that
 * starts with anything else, or continues on another line, folds to text with
 * a space or line break and is no valid name. Every occurrence that may be the
 * key is judged (an occurrence that is not a key only costs a look-up). Gives
 * up (-1) where the value is not on the key's line or starts with anything
 * YAML may give a meaning (anchor, tag, alias, block scalar, flow collection,
 * comment) and where a comment sits between the key and its colon
 * (explicit "? name" keys), and where the file has no name key at all (then
 * it names no package or is broken, and the word scan decides whether it is
 * parsed, as before this judge). Returns 1 when some value is a wanted name,
 * 0 when none is: then no affected entry of the file can name a wanted package.
 */
static int is_json(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')
			continue;
		return p[i] == '{' || p[i] == '[';
	}
	return 0;
}

/*
 * A JSON string at p (just after its opening quote) up to end: *close gets
 * its closing quote; the decoded text, when it is at most cap-1 bytes of
 * ASCII, goes to buf (NUL-terminated) and *ascii is set. JSON escapes
 * (RFC 8259 section 7): \" \\ \/ \b \f \n \r \t and \uXXXX. Returns 0 for an
 * unterminated string or a bad escape.
 */
static int json_str(const uint8_t *p, const uint8_t *end, const uint8_t **close, char *buf, size_t cap,
                    int *ascii)
{
	size_t o = 0;

	*ascii = 1;
	while (p < end && *p != '"') {
		unsigned c = *p++;

		if (c == '\\') {
			if (p >= end)
				return 0;
			c = *p++;
			switch (c) {
			case '"': case '\\': case '/': break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u': {
				unsigned v = 0, j;

				if (end - p < 4)
					return 0;
				for (j = 0; j < 4; j++) {
					unsigned h = p[j];

					v <<= 4;
					if (h >= '0' && h <= '9')
						v |= h - '0';
					else if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
						v |= (h | 0x20) - 'a' + 10;
					else
						return 0;
				}
				p += 4;
				c = v;
				break;
			}
			default:
				return 0;
			}
		}
		if (c == 0 || c >= 0x80)
			*ascii = 0;
		else if (o + 1 < cap)
			buf[o++] = (char)c;
		else
			*ascii = 0; /* longer than any text we compare */
	}
	if (p >= end)
		return 0;
	*close = p;
	buf[o] = '\0';
	return 1;
}

/*
 * The name-key judge for JSON (what jansson reads: the first non-blank byte
 * is { or [). Outside strings JSON has no quotes or escapes, so every string
 * is found and decoded: a key (a string followed by a colon) that decodes to
 * "name" has its value judged. A string value decoding to a valid PyPI name
 * is looked up; any other string is no valid name; a value that is not a
 * string (a number is rewritten by the loader, 1.50 -> "1.5") keeps the file.
 * -1: the text is not JSON enough to tell, or has no "name" key.
 */
static int json_keyed(const struct bw_osv_db *db, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n, *q = p;
	size_t n_keys = 0;
	char key[8], val[OSV_MAX_NAME], norm[OSV_MAX_NAME];

	while ((q = memchr(q, '"', (size_t)(end - q))) != NULL) {
		const uint8_t *close;
		int ascii, is_name;

		if (!json_str(q + 1, end, &close, key, sizeof key, &ascii))
			return -1;
		is_name = ascii && strcmp(key, "name") == 0;
		q = close + 1;
		while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
			q++;
		if (q >= end || *q != ':' || !is_name)
			continue; /* a value, or a key other than "name" */
		n_keys++;
		q++;
		while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
			q++;
		if (q >= end || *q != '"')
			return 1;
		if (!json_str(q + 1, end, &close, val, sizeof val, &ascii))
			return -1;
		q = close + 1;
		if (ascii && bw_pep503_normalize(val, strlen(val), norm, sizeof norm) == BW_OK &&
		    slot_find(db->want, db->n_want_slots, norm, strlen(norm))->name != NULL)
			return 1;
	}
	return n_keys > 0 ? 0 : -1;
}

/* Judge one occurrence of "name" at k: -1 give up, 0 not (a wanted) key, 1 wanted. */
static int judge_key(const struct bw_osv_db *db, const uint8_t *p, const uint8_t *end, const uint8_t *k,
                     size_t *n_keys)
{
	const uint8_t *q = k + 4, *v;
	uint8_t open = 0;
	char norm[OSV_MAX_NAME];

	if (k > p) {
		if (name_class[k[-1]] != 0)
			return 0; /* the end of a longer word ("filename") */
		if (k[-1] == '"' || k[-1] == '\'')
			open = k[-1];
	}
	if (q < end && name_class[*q] != 0)
		return 0; /* the start of a longer word ("names") */
	if (open != 0) {
		if (q >= end || *q != open)
			return 0; /* a quoted text that is not just "name" */
		q++;
	} else if (q < end && (*q == '"' || *q == '\'')) {
		return 0;
	}
	while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
		q++;
	if (q < end && *q == '#')
		return -1;
	if (q >= end || *q != ':')
		return 0; /* a key is always followed by its colon */
	q++;
	(*n_keys)++;
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if (q < end && (*q == '"' || *q == '\''))
		q++;
	else if (q >= end || name_class[*q] == 0)
		return -1;
	for (v = q; q < end && name_class[*q] != 0; q++)
		;
	if (q == v || (size_t)(q - v) >= OSV_MAX_NAME)
		return 0; /* empty or longer than any wanted name */
	if (bw_pep503_normalize((const char *)v, (size_t)(q - v), norm, sizeof norm) != BW_OK)
		return 0;
	return slot_find(db->want, db->n_want_slots, norm, strlen(norm))->name != NULL;
}

static int keyed_mention(const struct bw_osv_db *db, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	size_t n_keys = 0, i = 0;
	int r;

	if (n == 0)
		return -1;
	if (is_json(p, n))
		return json_keyed(db, p, n);
#if defined(__SSE2__)
	/*
	 * One pass, 16 positions at a time: any backslash or NUL gives up; a
	 * position where n, a, m, e start is judged. (SSE2 is part of x86-64.)
	 */
	{
		const __m128i bs = _mm_set1_epi8('\\'), nul = _mm_setzero_si128();
		const __m128i cn = _mm_set1_epi8('n'), ca = _mm_set1_epi8('a'), cm = _mm_set1_epi8('m'),
		              ce = _mm_set1_epi8('e');

		for (; i + 19 <= n; i += 16) {
			__m128i b0 = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
			__m128i bad = _mm_or_si128(_mm_cmpeq_epi8(b0, bs), _mm_cmpeq_epi8(b0, nul));
			__m128i hit;
			unsigned m;

			if (_mm_movemask_epi8(bad) != 0)
				return -1;
			hit = _mm_and_si128(
			    _mm_and_si128(_mm_cmpeq_epi8(b0, cn),
			                  _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i + 1)), ca)),
			    _mm_and_si128(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i + 2)), cm),
			                  _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i + 3)), ce)));
			m = (unsigned)_mm_movemask_epi8(hit);
			while (m != 0) {
				unsigned bit = (unsigned)__builtin_ctz(m);

				m &= m - 1;
				if ((r = judge_key(db, p, end, p + i + bit, &n_keys)) != 0)
					return r;
			}
		}
	}
#endif
	for (; i < n; i++) {
		if (p[i] == '\\' || p[i] == '\0')
			return -1;
		if (p[i] == 'n' && n - i >= 4 && memcmp(p + i, "name", 4) == 0 &&
		    (r = judge_key(db, p, end, p + i, &n_keys)) != 0)
			return r;
	}
	/* no name key at all: not an advisory with packages, or a broken one; the
	 * word scan decides whether it is parsed (and its problems reported) */
	return n_keys > 0 ? 0 : -1;
}

/* Must this file be parsed for the wanted names? (sound: see both judges) */
static int want_file(const struct bw_osv_db *db, const uint8_t *p, size_t n)
{
	int r = keyed_mention(db, p, n);

	return r >= 0 ? r : may_mention(db, p, n);
}

int bw_osv_prefilter(const char *const *names, size_t n_names, const uint8_t *p, size_t n, int *keyed)
{
	struct bw_osv_load_opts o;
	struct bw_osv_db *db = NULL;
	int r;

	if (keyed != NULL)
		*keyed = -2;
	bw_osv_load_opts_default(&o);
	o.only_names = names;
	o.n_only_names = n_names;
	if (n_names == 0 || db_new(&o, NULL, &db) != BW_OK)
		return -1;
	if (keyed != NULL)
		*keyed = keyed_mention(db, p, n);
	r = want_file(db, p, n);
	bw_osv_db_free(db);
	return r;
}

/* ------------------------------------------------------------ advisory */


/*
 * Parsed documents live in a scratch arena released after each file: what the
 * database keeps is copied into its own arena (a fraction of the tree: no
 * details text, references or node structures), which keeps the loader's
 * memory, and so its page faults, small.
 */
static const char *keep(struct bw_osv_db *db, const char *s)
{
	return s != NULL ? bw_arena_strdup(&db->arena, s) : NULL;
}

static int event_cmp(const void *a, const void *b)
{
	const struct osv_event *x = a, *y = b;
	int r;

	if (x->zero || y->zero)
		r = (y->zero != 0) - (x->zero != 0);
	else
		r = bw_pep440_cmp(&x->v, &y->v);
	if (r != 0)
		return r;
	/* equal versions keep the advisory's order (a stable sort, as OSV's tools do) */
	return (x->idx > y->idx) - (x->idx < y->idx);
}

static enum bw_err read_range(struct bw_osv_db *db, const struct bw_tnode *r, struct osv_range *out)
{
	const char *type = bw_tree_get_str(r, "type");
	const struct bw_tnode *ev = bw_tree_get(r, "events");
	size_t i;

	memset(out, 0, sizeof *out);
	if (type == NULL || ev == NULL || ev->type != BW_T_SEQ)
		return BW_ERR_MALFORMED;
	out->type = strcmp(type, "ECOSYSTEM") == 0 ? OSV_ECOSYSTEM
	            : strcmp(type, "SEMVER") == 0  ? OSV_SEMVER
	            : strcmp(type, "GIT") == 0     ? OSV_GIT
	                                           : OSV_OTHER;
	if (out->type != OSV_ECOSYSTEM)
		return BW_OK; /* PyPI versions are matched on ECOSYSTEM ranges only */
	out->events = bw_arena_array(&db->arena, ev->n ? ev->n : 1, sizeof *out->events);
	if (out->events == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < ev->n; i++) {
		static const char *const kinds[] = {"introduced", "fixed", "last_affected", "limit"};
		const struct bw_tnode *e = ev->kids[i];
		struct osv_event *o = &out->events[out->n_events];
		size_t k;
		const char *text = NULL;

		if (e->type != BW_T_MAP || e->n != 1)
			return BW_ERR_MALFORMED;
		for (k = 0; k < 4; k++)
			if ((text = bw_tree_get_str(e, kinds[k])) != NULL)
				break;
		if (k == 4)
			return BW_ERR_MALFORMED;
		o->kind = (uint8_t)k;
		o->text = keep(db, text);
		if (o->text == NULL)
			return BW_ERR_NOMEM;
		o->idx = (uint32_t)i;
		if (k == OSV_INTRODUCED && strcmp(text, "0") == 0) {
			o->zero = 1;
		} else if (bw_pep440_parse(text, &o->v) != BW_OK) {
			/* An event PEP 440 cannot order cannot be placed: skipped and counted. */
			out->n_bad++;
			db->info.n_bad_events++;
			continue;
		}
		out->n_events++;
	}
	if (out->n_events > 1)
		qsort(out->events, out->n_events, sizeof *out->events, event_cmp);
	return BW_OK;
}

static enum bw_err str_list(struct bw_osv_db *db, const struct bw_tnode *seq, size_t *n,
                            const char ***out)
{
	size_t i;

	*n = 0;
	*out = NULL;
	if (seq == NULL)
		return BW_OK;
	if (seq->type != BW_T_SEQ)
		return BW_ERR_MALFORMED;
	*out = bw_arena_array(&db->arena, seq->n ? seq->n : 1, sizeof **out);
	if (*out == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < seq->n; i++) {
		const char *s = bw_tree_str(seq->kids[i]);

		if (s == NULL)
			return BW_ERR_MALFORMED;
		if ((s = keep(db, s)) == NULL)
			return BW_ERR_NOMEM;
		(*out)[(*n)++] = s;
	}
	return BW_OK;
}

static void severity_of(struct osv_vuln *v, const struct bw_tnode *doc)
{
	const struct bw_tnode *sev = bw_tree_get(doc, "severity");
	const char *ds = bw_tree_get_str(bw_tree_get(doc, "database_specific"), "severity");
	size_t i;

	v->score = -1;
	if (sev != NULL && sev->type == BW_T_SEQ) {
		for (i = 0; i < sev->n; i++) {
			const char *t = bw_tree_get_str(sev->kids[i], "type");
			const char *s = bw_tree_get_str(sev->kids[i], "score");
			double sc;
			enum bw_severity bs;

			if (t == NULL || s == NULL)
				continue;
			if (strncmp(t, "CVSS_V3", 7) == 0 && bw_cvss3_score(s, &sc, &bs) == BW_OK) {
				v->score = sc;
				v->severity = bs;
				v->severity_known = 1;
				v->vector = s;
				return;
			}
			if (v->vector == NULL)
				v->vector = s; /* CVSS v2/v4: kept for the report, not scored */
		}
	}
	if (ds != NULL) {
		if (strcasecmp(ds, "critical") == 0)
			v->severity = BW_SEV_CRITICAL;
		else if (strcasecmp(ds, "high") == 0)
			v->severity = BW_SEV_HIGH;
		else if (strcasecmp(ds, "moderate") == 0 || strcasecmp(ds, "medium") == 0)
			v->severity = BW_SEV_MEDIUM;
		else if (strcasecmp(ds, "low") == 0)
			v->severity = BW_SEV_LOW;
		else
			return;
		v->severity_known = 1;
	}
}

static const char *first_line(struct bw_osv_db *db, const char *s)
{
	size_t n;

	if (s == NULL)
		return "";
	n = strcspn(s, "\n");
	if (n > 200)
		n = 200;
	return bw_arena_strndup(&db->arena, s, n);
}

static enum bw_err add_affected(struct bw_osv_db *db, struct osv_affected *a)
{
	if (db->n_all == db->cap_all) {
		size_t cap = db->cap_all ? db->cap_all * 2 : 1024;
		struct osv_affected **t = bw_reallocarray(db->all, cap, sizeof *t);

		if (t == NULL)
			return BW_ERR_NOMEM;
		db->all = t;
		db->cap_all = cap;
	}
	db->all[db->n_all++] = a;
	return BW_OK;
}

/* Turn one parsed document into a vulnerability (if it concerns PyPI). */
static enum bw_err read_advisory(struct bw_osv_db *db, const char *file, const struct bw_tnode *doc,
                                 struct bw_diag *diag)
{
	const struct bw_tnode *aff = bw_tree_get(doc, "affected"), *refs;
	struct osv_vuln *v;
	enum bw_err e;
	size_t i, n_pypi = 0;
	const char *wd;

	if (doc->type != BW_T_MAP || bw_tree_get_str(doc, "id") == NULL)
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "not an OSV advisory (no id)");
	if (aff == NULL)
		return BW_OK;
	if (aff->type != BW_T_SEQ)
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "affected is not a list");
	v = bw_arena_alloc(&db->arena, sizeof *v);
	if (v == NULL)
		return BW_ERR_NOMEM;
	v->id = keep(db, bw_tree_get_str(doc, "id"));
	v->summary = bw_tree_get_str(doc, "summary");
	if (v->summary == NULL)
		v->summary = first_line(db, bw_tree_get_str(doc, "details"));
	else
		v->summary = keep(db, v->summary);
	if (v->summary == NULL || v->id == NULL)
		return BW_ERR_NOMEM;
	wd = bw_tree_get_str(doc, "withdrawn");
	v->withdrawn = wd != NULL && wd[0] != '\0';
	v->file = bw_arena_strdup(&db->arena, file);
	if (v->file == NULL)
		return BW_ERR_NOMEM;
	e = str_list(db, bw_tree_get(doc, "aliases"), &v->n_aliases, &v->aliases);
	if (e != BW_OK)
		return bw_diag_set(diag, e, BW_NO_OFFSET, "aliases is not a list of strings");
	severity_of(v, doc);
	if (v->vector != NULL && (v->vector = keep(db, v->vector)) == NULL)
		return BW_ERR_NOMEM;
	refs = bw_tree_get(doc, "references");
	if (refs != NULL && refs->type == BW_T_SEQ) {
		for (i = 0; i < refs->n && v->url == NULL; i++) {
			const char *t = bw_tree_get_str(refs->kids[i], "type");

			if (t != NULL && strcmp(t, "ADVISORY") == 0)
				v->url = bw_tree_get_str(refs->kids[i], "url");
		}
		if (v->url == NULL && refs->n > 0)
			v->url = bw_tree_get_str(refs->kids[0], "url");
		if (v->url != NULL && (v->url = keep(db, v->url)) == NULL)
			return BW_ERR_NOMEM;
	}

	for (i = 0; i < aff->n; i++) {
		const struct bw_tnode *a = aff->kids[i], *pkg = bw_tree_get(a, "package");
		const struct bw_tnode *ranges = bw_tree_get(a, "ranges");
		const char *eco = bw_tree_get_str(pkg, "ecosystem"), *name = bw_tree_get_str(pkg, "name");
		struct osv_affected *o;
		char norm[OSV_MAX_NAME];
		size_t j;

		/* "PyPI" exactly; ecosystem suffixes (":" variants) do not exist for PyPI */
		if (eco == NULL || strcmp(eco, "PyPI") != 0)
			continue;
		if (name == NULL || bw_pep503_normalize(name, strlen(name), norm, sizeof norm) != BW_OK)
			return bw_diag_set(diag, BW_ERR_MALFORMED, a->line, "affected[%zu]: bad PyPI package name", i);
		o = bw_arena_alloc(&db->arena, sizeof *o);
		if (o == NULL || (o->name = bw_arena_strdup(&db->arena, norm)) == NULL)
			return BW_ERR_NOMEM;
		o->vuln = v;
		if (ranges != NULL) {
			if (ranges->type != BW_T_SEQ)
				return bw_diag_set(diag, BW_ERR_MALFORMED, a->line, "affected[%zu].ranges is not a list", i);
			o->ranges = bw_arena_array(&db->arena, ranges->n ? ranges->n : 1, sizeof *o->ranges);
			if (o->ranges == NULL)
				return BW_ERR_NOMEM;
			for (j = 0; j < ranges->n; j++) {
				e = read_range(db, ranges->kids[j], &o->ranges[j]);
				if (e != BW_OK)
					return bw_diag_set(diag, e, ranges->kids[j]->line,
					                   "affected[%zu].ranges[%zu] is malformed", i, j);
			}
			o->n_ranges = ranges->n;
		}
		e = str_list(db, bw_tree_get(a, "versions"), &o->n_versions, &o->versions);
		if (e != BW_OK)
			return bw_diag_set(diag, e, a->line, "affected[%zu].versions is malformed", i);
		e = add_affected(db, o);
		if (e != BW_OK)
			return e;
		n_pypi++;
	}
	if (n_pypi > 0) {
		db->info.n_advisories++;
		if (v->withdrawn)
			db->info.n_withdrawn++;
	}
	return BW_OK;
}

/*
 * A file's path for the database and messages: dir/name, or name alone when
 * dir is NULL. Built only for files that are parsed or have a problem (most
 * files of a filtered load are neither). NULL when over the buffer.
 */
static const char *file_path(const char *dir, const char *name, char *buf, size_t cap)
{
	size_t ld, ln;

	if (dir == NULL)
		return name;
	ld = strlen(dir);
	ln = strlen(name);
	if (ld + ln + 2 > cap)
		return NULL;
	memcpy(buf, dir, ld);
	buf[ld] = '/';
	memcpy(buf + ld + 1, name, ln + 1);
	return buf;
}

static enum bw_err file_problem(struct bw_osv_db *db, const char *dir, const char *name, enum bw_err code,
                                const char *what)
{
	char buf[4096];
	const char *file = file_path(dir, name, buf, sizeof buf);

	return add_problem(db, file != NULL ? file : name, code, what);
}

/* Parse one file's bytes; problems are recorded, only NOMEM/LIMIT are fatal. */
static enum bw_err load_bytes(struct bw_osv_db *db, const char *dir, const char *name, const uint8_t *p,
                              size_t n)
{
	struct bw_tnode *doc = NULL;
	struct bw_diag d;
	enum bw_err e;
	char buf[4096];
	const char *file;

	db->info.n_files++;
	if (db->info.n_files > OSV_MAX_FILES)
		return BW_ERR_LIMIT;
	if (bw_add_ovf64(db->total_read, n, &db->total_read) || db->total_read > db->opts.max_total)
		return BW_ERR_LIMIT;
	if (db->want != NULL && !want_file(db, p, n))
		return BW_OK;
	file = file_path(dir, name, buf, sizeof buf);
	if (file == NULL)
		return add_problem(db, name, BW_ERR_LIMIT, "path too long");
	bw_diag_clear(&d);
	e = is_json(p, n) ? bw_tree_parse_json(&db->scratch, p, n, &doc, &d)
	                  : bw_tree_parse_yaml(&db->scratch, p, n, &doc, &d);
	if (e == BW_OK) {
		db->info.n_parsed++;
		e = read_advisory(db, file, doc, &d);
	}
	bw_arena_release(&db->scratch);
	if (e == BW_ERR_NOMEM)
		return e;
	if (e != BW_OK)
		return add_problem(db, file, e, d.what[0] ? d.what : bw_err_str(e));
	return BW_OK;
}

static int wanted_ext(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && strcmp(name + n - 5, ".json") == 0) ||
	       (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/*
 * Advisories are small and many: one open + read into a reused buffer costs
 * far fewer system calls than mapping each (this is most of the load time).
 */
static enum bw_err load_file_at(struct bw_osv_db *db, int dfd, const char *dir, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t len = 0;
	enum bw_err e;

	if (fd < 0)
		return file_problem(db, dir, name, errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO, strerror(errno));
	if (db->rbuf == NULL) {
		db->rbuf = bw_malloc((size_t)db->opts.max_file + 1);
		if (db->rbuf == NULL) {
			close(fd);
			return BW_ERR_NOMEM;
		}
	}
	for (;;) {
		ssize_t got = read(fd, db->rbuf + len, (size_t)db->opts.max_file + 1 - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int er = errno;

			close(fd);
			return file_problem(db, dir, name, BW_ERR_IO, strerror(er));
		}
		if (got == 0)
			break;
		len += (size_t)got;
		if (len > db->opts.max_file) {
			close(fd);
			return file_problem(db, dir, name, BW_ERR_LIMIT, "advisory larger than the per-file cap");
		}
	}
	close(fd);
	e = load_bytes(db, dir, name, db->rbuf, len);
	return e;
}

static enum bw_err load_file(struct bw_osv_db *db, const char *path)
{
	return load_file_at(db, AT_FDCWD, NULL, path);
}

/* ------------------------------------------------------------ directory */

/*
 * A folder is loaded in units, each a run of advisory files of one directory
 * or a whole subtree, in the order a depth-first walk visits them (each
 * directory's entries in name order, its files before its subdirectories).
 * Loader threads take units as they come free (a shared counter), each into
 * its own database; the results are then stitched together in unit order, so
 * the database is the same for any number of threads and any scheduling, and
 * a thread delayed on a busy machine does not hold the others up. Listing a
 * directory and loading its files share one directory descriptor (openat).
 */

#define OSV_UNIT_FILES 48   /* files of one directory per unit */
#define OSV_UNITS_WANTED 64 /* expand subtrees at the top until there are this many units */
#define OSV_MAX_EXPAND 64   /* directories listed before the threads start */

struct dent {
	char *name;
	int is_dir;
};

struct dlist {
	struct dent *v;
	size_t n, cap;
};

static void dlist_release(struct dlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		bw_free(l->v[i].name);
	bw_free(l->v);
	memset(l, 0, sizeof *l);
}

static int cmp_dent(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

static char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = bw_malloc(la + lb + 2);

	if (p == NULL)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

/* The advisory files and subdirectories of an open directory, in name order. */
static enum bw_err list_dir(DIR *d, struct dlist *out)
{
	struct dirent *de;

	memset(out, 0, sizeof *out);
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		int is_dir;

		if (de->d_name[0] == '.')
			continue;
		/* d_type spares a stat per file; fstatat only when the file system does not say */
		if (de->d_type == DT_DIR)
			is_dir = 1;
		else if (de->d_type == DT_REG || de->d_type == DT_LNK)
			is_dir = 0;
		else if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			is_dir = S_ISDIR(st.st_mode);
		else
			continue;
		if (!is_dir && !wanted_ext(de->d_name))
			continue;
		if (out->n == out->cap) {
			size_t c = out->cap ? out->cap * 2 : 64;
			struct dent *t = bw_reallocarray(out->v, c, sizeof *t);

			if (t == NULL)
				return BW_ERR_NOMEM;
			out->v = t;
			out->cap = c;
		}
		if (out->n >= OSV_MAX_FILES)
			return BW_ERR_LIMIT;
		out->v[out->n].name = bw_strdup(de->d_name);
		if (out->v[out->n].name == NULL)
			return BW_ERR_NOMEM;
		out->v[out->n].is_dir = is_dir;
		out->n++;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof *out->v, cmp_dent);
	return BW_OK;
}

/* Load the named files of an open directory (path = its path, for messages). */
static enum bw_err load_names(struct bw_osv_db *db, int dfd, const char *path, char *const *names, size_t n)
{
	enum bw_err e = BW_OK;
	size_t i;

	for (i = 0; i < n && e == BW_OK; i++)
		e = load_file_at(db, dfd, path, names[i]);
	return e;
}

enum unit_kind { UNIT_FILES = 0, UNIT_TREE, UNIT_PROBLEM };

struct unit {
	enum unit_kind kind;
	char *dir;            /* FILES: their directory; TREE: its root; PROBLEM: the path */
	char **names;         /* FILES: the file names (owned) */
	size_t n_names;
	size_t depth;         /* TREE: depth of dir below the database root */
	enum bw_err code;     /* PROBLEM */
	const char *what;     /* PROBLEM: a static message, or NULL for strerror(err) */
	int err;
	/* filled by the loader that took it */
	unsigned by;
	size_t all_lo, all_hi, prob_lo, prob_hi;
};

struct units {
	struct unit *v;
	size_t n, cap;
};

static void unit_release(struct unit *u)
{
	size_t i;

	for (i = 0; i < u->n_names; i++)
		bw_free(u->names[i]);
	bw_free(u->names);
	bw_free(u->dir);
	memset(u, 0, sizeof *u);
}

static void units_release(struct units *us)
{
	size_t i;

	for (i = 0; i < us->n; i++)
		unit_release(&us->v[i]);
	bw_free(us->v);
	memset(us, 0, sizeof *us);
}

/* Room for k more units at position at (moving the tail up). */
static enum bw_err units_open(struct units *us, size_t at, size_t k)
{
	if (k > SIZE_MAX / 2 - us->n)
		return BW_ERR_LIMIT;
	if (us->n + k > us->cap) {
		size_t c = us->cap ? us->cap : 64;
		struct unit *t;

		while (c < us->n + k)
			c *= 2;
		t = bw_reallocarray(us->v, c, sizeof *t);
		if (t == NULL)
			return BW_ERR_NOMEM;
		us->v = t;
		us->cap = c;
	}
	memmove(&us->v[at + k], &us->v[at], (us->n - at) * sizeof *us->v);
	memset(&us->v[at], 0, k * sizeof *us->v);
	us->n += k;
	return BW_OK;
}

/*
 * Replace the TREE unit at `at` by what its directory holds: its files in
 * runs of OSV_UNIT_FILES, then one TREE unit per subdirectory (a PROBLEM unit
 * where one cannot be opened or is nested too deep). *n_out = units now there.
 */
static enum bw_err units_expand(struct units *us, size_t at, size_t *n_out)
{
	struct unit u = us->v[at];
	struct dlist dl = {0};
	size_t i, n_files = 0, n_dirs = 0, k, j;
	DIR *d;
	enum bw_err e = BW_OK;
	int dir_ours = 0; /* u.dir no longer owned by a unit */

	*n_out = 1;
	d = opendir(u.dir);
	if (d == NULL) {
		us->v[at].kind = UNIT_PROBLEM;
		us->v[at].code = BW_ERR_IO;
		us->v[at].err = errno;
		return BW_OK;
	}
	e = list_dir(d, &dl);
	closedir(d);
	if (e != BW_OK)
		goto out;
	for (i = 0; i < dl.n; i++) {
		if (dl.v[i].is_dir)
			n_dirs++;
		else
			n_files++;
	}
	k = (n_files + OSV_UNIT_FILES - 1) / OSV_UNIT_FILES + n_dirs;
	if (k == 0) {
		unit_release(&us->v[at]);
		u.dir = NULL;
		memmove(&us->v[at], &us->v[at + 1], (us->n - at - 1) * sizeof *us->v);
		us->n--;
		*n_out = 0;
		goto out;
	}
	if ((e = units_open(us, at + 1, k - 1)) != BW_OK)
		goto out;
	dir_ours = 1; /* us->v[at] is overwritten below: u.dir is ours to free */
	j = at;
	for (i = 0; i < dl.n && e == BW_OK;) {
		struct unit *t = &us->v[j];
		size_t m = 0;

		if (dl.v[i].is_dir) {
			i++;
			continue;
		}
		memset(t, 0, sizeof *t);
		t->kind = UNIT_FILES;
		t->names = bw_calloc(OSV_UNIT_FILES, sizeof *t->names);
		t->dir = bw_strdup(u.dir);
		if (t->names == NULL || t->dir == NULL) {
			e = BW_ERR_NOMEM;
			break;
		}
		for (; i < dl.n && m < OSV_UNIT_FILES; i++) {
			if (dl.v[i].is_dir)
				continue;
			t->names[m++] = dl.v[i].name;
			dl.v[i].name = NULL;
		}
		t->n_names = m;
		j++;
	}
	for (i = 0; i < dl.n && e == BW_OK; i++) {
		struct unit *t = &us->v[j];

		if (!dl.v[i].is_dir)
			continue;
		memset(t, 0, sizeof *t);
		t->dir = path_join(u.dir, dl.v[i].name);
		if (t->dir == NULL) {
			e = BW_ERR_NOMEM;
			break;
		}
		if (u.depth + 1 >= OSV_MAX_DIR_DEPTH) {
			t->kind = UNIT_PROBLEM;
			t->code = BW_ERR_LIMIT;
			t->what = "directory nesting over the limit";
		} else {
			t->kind = UNIT_TREE;
			t->depth = u.depth + 1;
		}
		j++;
	}
	if (e == BW_OK)
		*n_out = k;
	/* units not filled on an error stay zeroed (released as empty) */
out:
	if (dir_ours)
		bw_free(u.dir);
	dlist_release(&dl);
	return e;
}

/* Load a subtree (explicit stack, no recursion): pre-order, files first. */
static enum bw_err load_tree(struct bw_osv_db *db, const char *root, size_t depth0)
{
	struct stk {
		char *path;
		size_t depth;
	} *st = NULL;
	size_t n_st = 0, cap_st = 0, i;
	enum bw_err e = BW_OK;

	st = bw_calloc(16, sizeof *st);
	if (st == NULL || (st[0].path = bw_strdup(root)) == NULL) {
		bw_free(st);
		return BW_ERR_NOMEM;
	}
	cap_st = 16;
	st[0].depth = depth0;
	n_st = 1;
	while (n_st > 0 && e == BW_OK) {
		struct stk cur = st[--n_st];
		struct dlist dl = {0};
		char **names = NULL;
		size_t n_names = 0;
		DIR *d = opendir(cur.path);

		if (d == NULL) {
			e = add_problem(db, cur.path, BW_ERR_IO, strerror(errno));
			bw_free(cur.path);
			continue;
		}
		e = list_dir(d, &dl);
		if (e == BW_OK && dl.n > 0) {
			names = bw_calloc(dl.n, sizeof *names);
			if (names == NULL)
				e = BW_ERR_NOMEM;
			for (i = 0; i < dl.n && e == BW_OK; i++)
				if (!dl.v[i].is_dir)
					names[n_names++] = dl.v[i].name;
		}
		if (e == BW_OK)
			e = load_names(db, dirfd(d), cur.path, names, n_names);
		closedir(d);
		bw_free(names);
		/* subdirectories pushed in reverse so they are visited in order */
		for (i = dl.n; i-- > 0 && e == BW_OK;) {
			char *p;

			if (!dl.v[i].is_dir)
				continue;
			p = path_join(cur.path, dl.v[i].name);
			if (p == NULL) {
				e = BW_ERR_NOMEM;
				break;
			}
			if (cur.depth + 1 >= OSV_MAX_DIR_DEPTH) {
				e = add_problem(db, p, BW_ERR_LIMIT, "directory nesting over the limit");
				bw_free(p);
				continue;
			}
			if (n_st == cap_st) {
				struct stk *t = bw_reallocarray(st, cap_st * 2, sizeof *t);

				if (t == NULL) {
					bw_free(p);
					e = BW_ERR_NOMEM;
					break;
				}
				st = t;
				cap_st *= 2;
			}
			st[n_st].path = p;
			st[n_st].depth = cur.depth + 1;
			n_st++;
		}
		dlist_release(&dl);
		bw_free(cur.path);
	}
	for (i = 0; i < n_st; i++)
		bw_free(st[i].path);
	bw_free(st);
	return e;
}

static enum bw_err load_unit(struct bw_osv_db *db, struct unit *u)
{
	enum bw_err e = BW_OK;

	u->all_lo = db->n_all;
	u->prob_lo = db->n_problems;
	switch (u->kind) {
	case UNIT_FILES: {
		int dfd = open(u->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0) {
			e = add_problem(db, u->dir, BW_ERR_IO, strerror(errno));
			break;
		}
		e = load_names(db, dfd, u->dir, u->names, u->n_names);
		close(dfd);
		break;
	}
	case UNIT_TREE:
		e = load_tree(db, u->dir, u->depth);
		break;
	case UNIT_PROBLEM:
		e = add_problem(db, u->dir, u->code, u->what != NULL ? u->what : strerror(u->err));
		break;
	}
	u->all_hi = db->n_all;
	u->prob_hi = db->n_problems;
	return e;
}

struct worker {
	struct bw_osv_db *db;
	struct units *us;
	atomic_size_t *next;
	atomic_int *stop;
	unsigned id;
	enum bw_err e;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->e = BW_OK;
	while (!atomic_load(w->stop)) {
		size_t i = atomic_fetch_add(w->next, 1);

		if (i >= w->us->n)
			break;
		w->us->v[i].by = w->id;
		w->e = load_unit(w->db, &w->us->v[i]);
		if (w->e != BW_OK) {
			atomic_store(w->stop, 1);
			break;
		}
	}
	return NULL;
}

/*
 * Put the loaders' results together in unit order into dbs[0]: its affected
 * list and problems are rebuilt, the other loaders' arenas move into it.
 */
static enum bw_err db_stitch(struct bw_osv_db **dbs, unsigned n_dbs, const struct units *us)
{
	struct bw_osv_db *dst = dbs[0];
	struct osv_affected **all = NULL;
	struct bw_osv_problem *probs = NULL;
	size_t n_all = 0, n_probs = 0, i, k;
	unsigned t;
	enum bw_err e = BW_OK;

	for (t = 0; t < n_dbs; t++) {
		if (bw_add_ovf(n_all, dbs[t]->n_all, &n_all) || bw_add_ovf(n_probs, dbs[t]->n_problems, &n_probs))
			return BW_ERR_LIMIT;
	}
	all = bw_calloc(n_all ? n_all : 1, sizeof *all);
	probs = bw_calloc(n_probs ? n_probs : 1, sizeof *probs);
	if (all == NULL || probs == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	n_all = n_probs = 0;
	for (i = 0; i < us->n; i++) {
		const struct unit *u = &us->v[i];
		const struct bw_osv_db *src = dbs[u->by];

		for (k = u->all_lo; k < u->all_hi; k++)
			all[n_all++] = src->all[k];
		for (k = u->prob_lo; k < u->prob_hi; k++)
			probs[n_probs++] = src->problems[k];
	}
	for (t = 1; t < n_dbs; t++) {
		struct bw_osv_db *src = dbs[t];
		size_t m;

		dst->info.n_files += src->info.n_files;
		dst->info.n_parsed += src->info.n_parsed;
		dst->info.n_advisories += src->info.n_advisories;
		dst->info.n_withdrawn += src->info.n_withdrawn;
		dst->info.n_bad_events += src->info.n_bad_events;
		if (bw_add_ovf64(dst->total_read, src->total_read, &dst->total_read) ||
		    dst->total_read > dst->opts.max_total || dst->info.n_files > OSV_MAX_FILES) {
			e = BW_ERR_LIMIT;
			goto out;
		}
		/* the advisories and problem texts live in src's arena: dst keeps it */
		for (m = 0; m < OSV_MAX_THREADS; m++)
			if (dst->more[m].head == NULL)
				break;
		if (m == OSV_MAX_THREADS) {
			e = BW_ERR_INTERNAL;
			goto out;
		}
		dst->more[m] = src->arena;
		bw_arena_init(&src->arena, 0);
	}
	bw_free(dst->all);
	dst->all = all;
	dst->n_all = dst->cap_all = n_all;
	all = NULL;
	bw_free(dst->problems);
	dst->problems = probs;
	dst->n_problems = dst->cap_problems = n_probs;
	probs = NULL;
out:
	bw_free(all);
	bw_free(probs);
	return e;
}

static enum bw_err load_dir(struct bw_osv_db *db, const char *root)
{
	struct units us = {0};
	struct bw_osv_db *dbs[OSV_MAX_THREADS] = {0};
	struct worker w[OSV_MAX_THREADS];
	pthread_t th[OSV_MAX_THREADS];
	unsigned n_threads, t, started = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i, n_expanded = 0;
	atomic_size_t next;
	atomic_int stop;
	enum bw_err e;

	/* the root as one TREE unit, expanded while there are few units */
	if ((e = units_open(&us, 0, 1)) != BW_OK)
		return e;
	us.v[0].kind = UNIT_TREE;
	us.v[0].dir = bw_strdup(root);
	if (us.v[0].dir == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < us.n && us.n < OSV_UNITS_WANTED && n_expanded < OSV_MAX_EXPAND && e == BW_OK;) {
		size_t got;

		if (us.v[i].kind != UNIT_TREE) {
			i++;
			continue;
		}
		e = units_expand(&us, i, &got);
		n_expanded++;
		/* re-examine the units that replaced it (subtrees may expand further) */
	}
	if (e != BW_OK)
		goto out;

	n_threads = db->opts.threads == 0 ? (ncpu > 1 ? OSV_MAX_THREADS : 1) : db->opts.threads;
	if (n_threads > OSV_MAX_THREADS)
		n_threads = OSV_MAX_THREADS;
	if (us.n < 8)
		n_threads = 1;
	dbs[0] = db;
	for (t = 1; t < n_threads && e == BW_OK; t++)
		e = db_new(NULL, db, &dbs[t]);
	if (e != BW_OK)
		goto out;
	atomic_init(&next, 0);
	atomic_init(&stop, 0);
	if (n_threads > 1)
		json_object_seed(0); /* before threads: jansson seeds its hash once */
	for (t = 0; t < n_threads; t++) {
		w[t].db = dbs[t];
		w[t].us = &us;
		w[t].next = &next;
		w[t].stop = &stop;
		w[t].id = t;
		w[t].e = BW_OK;
	}
	for (t = 1; t < n_threads; t++) {
		if (pthread_create(&th[t], NULL, worker_main, &w[t]) != 0)
			break; /* fewer threads: the units are taken by those running */
		started++;
	}
	worker_main(&w[0]);
	for (t = 1; t <= started; t++)
		pthread_join(th[t], NULL);
	for (t = 0; t < n_threads && e == BW_OK; t++)
		e = w[t].e;
	if (e == BW_OK)
		e = db_stitch(dbs, n_threads, &us);
out:
	for (t = 1; t < OSV_MAX_THREADS; t++)
		bw_osv_db_free(dbs[t]);
	units_release(&us);
	return e;
}

/* ------------------------------------------------------------ zip */

static enum bw_err load_zip(struct bw_osv_db *db, const char *path, struct bw_diag *diag)
{
	struct archive *ar;
	struct archive_entry *ent;
	uint8_t *buf = NULL;
	enum bw_err e = BW_OK;
	int r;

	if (bw_larchive_load() != 0)
		return bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET, "cannot read a zip database: %s",
		                   bw_larchive_error());
	ar = bw_la.archive_read_new();
	if (ar == NULL)
		return BW_ERR_NOMEM;
	bw_la.archive_read_support_format_zip(ar);
	if (bw_la.archive_read_open_filename(ar, path, 1 << 16) != ARCHIVE_OK) {
		e = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "cannot open zip: %s",
		                bw_la.archive_error_string(ar) ? bw_la.archive_error_string(ar) : "unknown");
		goto out;
	}
	buf = bw_malloc((size_t)db->opts.max_file + 1);
	if (buf == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	while ((r = bw_la.archive_read_next_header(ar, &ent)) == ARCHIVE_OK) {
		const char *name = bw_la.archive_entry_pathname(ent);
		la_ssize_t got;
		size_t len = 0;

		if (name == NULL || bw_la.archive_entry_filetype(ent) != AE_IFREG || !wanted_ext(name))
			continue;
		for (;;) {
			got = bw_la.archive_read_data(ar, buf + len, (size_t)db->opts.max_file + 1 - len);
			if (got <= 0)
				break;
			len += (size_t)got;
			if (len > db->opts.max_file)
				break;
		}
		if (got < 0) {
			e = add_problem(db, name, BW_ERR_MALFORMED,
			                bw_la.archive_error_string(ar) ? bw_la.archive_error_string(ar) : "zip member unreadable");
			if (e != BW_OK || r == ARCHIVE_FATAL)
				break;
			continue;
		}
		if (len > db->opts.max_file) {
			e = add_problem(db, name, BW_ERR_LIMIT, "advisory larger than the per-file cap");
			if (e != BW_OK)
				break;
			continue;
		}
		e = load_bytes(db, NULL, name, buf, len);
		if (e != BW_OK)
			break;
	}
	if (e == BW_OK && r != ARCHIVE_EOF)
		e = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "zip: %s",
		                bw_la.archive_error_string(ar) ? bw_la.archive_error_string(ar) : "read error");
out:
	bw_free(buf);
	bw_la.archive_read_free(ar);
	return e;
}

/* ------------------------------------------------------------ public */

static enum bw_err db_new(const struct bw_osv_load_opts *opts, const struct bw_osv_db *like,
                          struct bw_osv_db **out)
{
	struct bw_osv_db *db = bw_calloc(1, sizeof *db);
	size_t i;

	if (db == NULL)
		return BW_ERR_NOMEM;
	bw_arena_init(&db->arena, 0);
	bw_arena_init(&db->scratch, 0);
	for (i = 0; i < OSV_MAX_THREADS; i++)
		bw_arena_init(&db->more[i], 0);
	if (like != NULL) {
		/* a second loader for the same load: same options, same wanted names */
		db->opts = like->opts;
		if (like->want != NULL) {
			db->want = bw_calloc(like->n_want_slots, sizeof *db->want);
			if (db->want == NULL) {
				bw_free(db);
				return BW_ERR_NOMEM;
			}
			memcpy(db->want, like->want, like->n_want_slots * sizeof *db->want);
			db->n_want_slots = like->n_want_slots;
			memcpy(db->want_bits, like->want_bits, sizeof db->want_bits);
		}
		*out = db;
		return BW_OK;
	}
	if (opts != NULL)
		db->opts = *opts;
	else
		bw_osv_load_opts_default(&db->opts);
	if (db->opts.max_file == 0)
		db->opts.max_file = OSV_DEFAULT_MAX_FILE;
	if (db->opts.max_total == 0)
		db->opts.max_total = OSV_DEFAULT_MAX_TOTAL;
	if (db->opts.n_only_names > 0 && db->opts.only_names != NULL) {
		db->n_want_slots = pow2_at_least(db->opts.n_only_names * 2 + 1);
		db->want = bw_calloc(db->n_want_slots, sizeof *db->want);
		if (db->want == NULL) {
			bw_free(db);
			return BW_ERR_NOMEM;
		}
		for (i = 0; i < db->opts.n_only_names; i++) {
			const char *n = db->opts.only_names[i];
			uint64_t h = bw_osv_hash(n, strlen(n));
			struct osv_name_slot *s = slot_find_h(db->want, db->n_want_slots, n, strlen(n), h);

			s->name = n;
			db->want_bits[(h >> 6) & (OSV_WANT_BITS / 64 - 1)] |= 1ULL << (h & 63);
		}
	}
	db->opts.only_names = NULL;
	*out = db;
	return BW_OK;
}

/* Build the name index and release loading state. */
static enum bw_err db_finish(struct bw_osv_db *db)
{
	size_t i;

	bw_free(db->want);
	db->want = NULL;
	bw_free(db->rbuf);
	db->rbuf = NULL;
	db->n_slots = pow2_at_least(db->n_all * 2 + 1);
	db->slots = bw_arena_array(&db->arena, db->n_slots, sizeof *db->slots);
	if (db->slots == NULL)
		return BW_ERR_NOMEM;
	/* insert in reverse so each chain keeps load order */
	for (i = db->n_all; i-- > 0;) {
		struct osv_affected *a = db->all[i];
		struct osv_name_slot *s = slot_find(db->slots, db->n_slots, a->name, strlen(a->name));

		if (s->name == NULL)
			s->name = a->name;
		a->next = s->head;
		s->head = a;
	}
	bw_free(db->all);
	db->all = NULL;
	if (db->n_problems > 0) {
		struct bw_osv_problem *p = bw_arena_array(&db->arena, db->n_problems, sizeof *p);

		if (p == NULL)
			return BW_ERR_NOMEM;
		memcpy(p, db->problems, db->n_problems * sizeof *p);
		db->info.problems = p;
		db->info.n_problems = db->n_problems;
	}
	bw_free(db->problems);
	db->problems = NULL;
	return BW_OK;
}

enum bw_err bw_osv_db_load(const char *path, const struct bw_osv_load_opts *opts,
                           struct bw_osv_db **out, struct bw_diag *diag)
{
	struct bw_osv_db *db = NULL;
	struct stat st;
	enum bw_err e;
	size_t n;

	if (out == NULL)
		return BW_ERR_ARG;
	*out = NULL;
	if (path == NULL)
		return BW_ERR_ARG;
	if (stat(path, &st) != 0)
		return bw_diag_set(diag, errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO, BW_NO_OFFSET,
		                   "%s: %s", path, strerror(errno));
	e = db_new(opts, NULL, &db);
	if (e != BW_OK)
		return e;
	n = strlen(path);
	if (S_ISDIR(st.st_mode)) {
		e = load_dir(db, path);
	} else if (n > 4 && strcasecmp(path + n - 4, ".zip") == 0) {
		e = load_zip(db, path, diag);
	} else {
		e = load_file(db, path);
	}
	if (e == BW_OK)
		e = db_finish(db);
	if (e != BW_OK) {
		if (e == BW_ERR_LIMIT)
			bw_diag_set(diag, e, BW_NO_OFFSET, "database larger than the configured caps");
		bw_osv_db_free(db);
		return e;
	}
	*out = db;
	return BW_OK;
}

enum bw_err bw_osv_db_load_mem(const char *name, const uint8_t *data, size_t len,
                               struct bw_osv_db **out, struct bw_diag *diag)
{
	struct bw_osv_db *db = NULL;
	enum bw_err e;

	if (out == NULL)
		return BW_ERR_ARG;
	*out = NULL;
	if (name == NULL || (data == NULL && len > 0))
		return BW_ERR_ARG;
	e = db_new(NULL, NULL, &db);
	if (e != BW_OK)
		return e;
	e = load_bytes(db, NULL, name, data, len);
	if (e == BW_OK)
		e = db_finish(db);
	if (e != BW_OK) {
		bw_diag_set(diag, e, BW_NO_OFFSET, "cannot load advisory");
		bw_osv_db_free(db);
		return e;
	}
	*out = db;
	return BW_OK;
}

void bw_osv_db_info(const struct bw_osv_db *db, struct bw_osv_db_info *info)
{
	memset(info, 0, sizeof *info);
	if (db != NULL)
		*info = db->info;
}

void bw_osv_db_free(struct bw_osv_db *db)
{
	if (db == NULL)
		return;
	bw_free(db->all);
	bw_free(db->problems);
	bw_free(db->want);
	bw_free(db->rbuf);
	bw_arena_release(&db->scratch);
	bw_arena_release(&db->arena);
	{
		size_t i;

		for (i = 0; i < OSV_MAX_THREADS; i++)
			bw_arena_release(&db->more[i]);
	}
	bw_free(db);
}
