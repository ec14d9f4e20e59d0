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

#include <archive.h>
#include <jansson.h>
#include <archive_entry.h>

#include "audit/osv.h"
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
 * The first, cheaper judge: look only at the values of "name" keys. In every
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
static int keyed_mention(const struct bw_osv_db *db, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n, *s = p;
	size_t n_keys = 0;

	if (n == 0 || memchr(p, '\\', n) != NULL || memchr(p, '\0', n) != NULL)
		return -1;
	while ((s = memmem(s, (size_t)(end - s), "name", 4)) != NULL) {
		const uint8_t *k = s, *q = s + 4, *v;
		uint8_t open = 0;
		char norm[OSV_MAX_NAME];

		s = q;
		if (k > p) {
			if (name_class[k[-1]] != 0)
				continue; /* the end of a longer word ("filename") */
			if (k[-1] == '"' || k[-1] == '\'')
				open = k[-1];
		}
		if (q < end && name_class[*q] != 0)
			continue; /* the start of a longer word ("names") */
		if (open != 0) {
			if (q >= end || *q != open)
				continue; /* a quoted text that is not just "name" */
			q++;
		} else if (q < end && (*q == '"' || *q == '\'')) {
			continue;
		}
		while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
			q++;
		if (q < end && *q == '#')
			return -1;
		if (q >= end || *q != ':')
			continue; /* a key is always followed by its colon */
		q++;
		n_keys++;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q < end && (*q == '"' || *q == '\''))
			q++;
		else if (q >= end || name_class[*q] == 0)
			return -1;
		for (v = q; q < end && name_class[*q] != 0; q++)
			;
		if (q == v || (size_t)(q - v) >= OSV_MAX_NAME)
			continue; /* empty or longer than any wanted name */
		if (bw_pep503_normalize((const char *)v, (size_t)(q - v), norm, sizeof norm) != BW_OK)
			continue;
		if (slot_find(db->want, db->n_want_slots, norm, strlen(norm))->name != NULL)
			return 1;
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

/* Parse one file's bytes; problems are recorded, only NOMEM/LIMIT are fatal. */
static enum bw_err load_bytes(struct bw_osv_db *db, const char *file, const uint8_t *p, size_t n)
{
	struct bw_tnode *doc = NULL;
	struct bw_diag d;
	enum bw_err e;

	db->info.n_files++;
	if (db->info.n_files > OSV_MAX_FILES)
		return BW_ERR_LIMIT;
	if (bw_add_ovf64(db->total_read, n, &db->total_read) || db->total_read > db->opts.max_total)
		return BW_ERR_LIMIT;
	if (db->want != NULL && !want_file(db, p, n))
		return BW_OK;
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
static enum bw_err load_file_at(struct bw_osv_db *db, int dfd, const char *name, const char *path)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t len = 0;
	enum bw_err e;

	if (fd < 0)
		return add_problem(db, path, errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO, strerror(errno));
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
			return add_problem(db, path, BW_ERR_IO, strerror(er));
		}
		if (got == 0)
			break;
		len += (size_t)got;
		if (len > db->opts.max_file) {
			close(fd);
			return add_problem(db, path, BW_ERR_LIMIT, "advisory larger than the per-file cap");
		}
	}
	close(fd);
	e = load_bytes(db, path, db->rbuf, len);
	return e;
}

static enum bw_err load_file(struct bw_osv_db *db, const char *path)
{
	return load_file_at(db, AT_FDCWD, path, path);
}

/* ------------------------------------------------------------ directory */

struct strvec {
	char **v;
	size_t n, cap;
};

static enum bw_err sv_push(struct strvec *s, char *p)
{
	if (p == NULL)
		return BW_ERR_NOMEM;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **t = bw_reallocarray(s->v, cap, sizeof *t);

		if (t == NULL) {
			bw_free(p);
			return BW_ERR_NOMEM;
		}
		s->v = t;
		s->cap = cap;
	}
	s->v[s->n++] = p;
	return BW_OK;
}

static void sv_release(struct strvec *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		bw_free(s->v[i]);
	bw_free(s->v);
	memset(s, 0, sizeof *s);
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

struct dent {
	char *name;
	int is_dir;
};

static int cmp_dent(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

/* One advisory file found by the walk: its directory (index) and name. */
struct ffile {
	size_t dir;
	char *name;
};

struct flist {
	struct strvec dirs;   /* directory paths, in visit order */
	struct ffile *v;
	size_t n, cap;
};

static void flist_release(struct flist *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		bw_free(f->v[i].name);
	bw_free(f->v);
	sv_release(&f->dirs);
	memset(f, 0, sizeof *f);
}

/*
 * Walk iteratively (explicit stack of directories) and list the advisory
 * files: each directory's entries in name order, its files before its
 * subdirectories. The list order is the load order, so results do not
 * depend on the file system's order or on how loading is split.
 */
static enum bw_err walk_dir(struct bw_osv_db *db, const char *root, struct flist *fl)
{
	struct strvec todo = {0};
	size_t *depths = NULL, dcap = 64, i;
	struct dent *ents = NULL;
	size_t n_ents = 0, cap_ents = 0;
	enum bw_err e;

	depths = bw_calloc(dcap, sizeof *depths);
	if (depths == NULL)
		return BW_ERR_NOMEM;
	e = sv_push(&todo, bw_strdup(root));
	while (todo.n > 0 && e == BW_OK) {
		char *dir = todo.v[--todo.n];
		size_t depth = depths[todo.n], di;
		DIR *d = opendir(dir);
		struct dirent *de;

		if (d == NULL) {
			e = add_problem(db, dir, BW_ERR_IO, strerror(errno));
			bw_free(dir);
			continue;
		}
		di = fl->dirs.n;
		if ((e = sv_push(&fl->dirs, dir)) != BW_OK) {
			closedir(d);
			break;
		}
		n_ents = 0;
		while (e == BW_OK && (de = readdir(d)) != NULL) {
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
			if (n_ents == cap_ents) {
				size_t c = cap_ents ? cap_ents * 2 : 256;
				struct dent *t = bw_reallocarray(ents, c, sizeof *t);

				if (t == NULL) {
					e = BW_ERR_NOMEM;
					break;
				}
				ents = t;
				cap_ents = c;
			}
			ents[n_ents].name = bw_strdup(de->d_name);
			ents[n_ents].is_dir = is_dir;
			if (ents[n_ents].name == NULL) {
				e = BW_ERR_NOMEM;
				break;
			}
			n_ents++;
		}
		closedir(d);
		if (e == BW_OK && n_ents > 1)
			qsort(ents, n_ents, sizeof *ents, cmp_dent);
		for (i = 0; i < n_ents && e == BW_OK; i++) {
			if (ents[i].is_dir)
				continue;
			if (fl->n == fl->cap) {
				size_t c = fl->cap ? fl->cap * 2 : 1024;
				struct ffile *t = bw_reallocarray(fl->v, c, sizeof *t);

				if (t == NULL) {
					e = BW_ERR_NOMEM;
					break;
				}
				fl->v = t;
				fl->cap = c;
			}
			if (fl->n >= OSV_MAX_FILES) {
				e = BW_ERR_LIMIT;
				break;
			}
			fl->v[fl->n].dir = di;
			fl->v[fl->n].name = ents[i].name;
			ents[i].name = NULL;
			fl->n++;
		}
		/* subdirectories pushed in reverse so they are visited in order */
		for (i = n_ents; i-- > 0 && e == BW_OK;) {
			char *p;

			if (!ents[i].is_dir)
				continue;
			p = path_join(fl->dirs.v[di], ents[i].name);
			if (p == NULL) {
				e = BW_ERR_NOMEM;
				break;
			}
			if (depth + 1 >= OSV_MAX_DIR_DEPTH) {
				e = add_problem(db, p, BW_ERR_LIMIT, "directory nesting over the limit");
				bw_free(p);
				continue;
			}
			if (todo.n + 1 > dcap) {
				size_t *t = bw_reallocarray(depths, dcap * 2, sizeof *t);

				if (t == NULL) {
					bw_free(p);
					e = BW_ERR_NOMEM;
					break;
				}
				depths = t;
				dcap *= 2;
			}
			depths[todo.n] = depth + 1;
			e = sv_push(&todo, p);
		}
		for (i = 0; i < n_ents; i++)
			bw_free(ents[i].name);
	}
	bw_free(ents);
	bw_free(depths);
	sv_release(&todo);
	return e;
}

/* Load files [lo, hi) of the list into db, opening each directory once. */
static enum bw_err load_range(struct bw_osv_db *db, const struct flist *fl, size_t lo, size_t hi)
{
	size_t i, cur = (size_t)-1;
	int dfd = -1;
	enum bw_err e = BW_OK;
	char path[4096];

	for (i = lo; i < hi && e == BW_OK; i++) {
		const struct ffile *f = &fl->v[i];

		if (snprintf(path, sizeof path, "%s/%s", fl->dirs.v[f->dir], f->name) >= (int)sizeof path) {
			e = add_problem(db, f->name, BW_ERR_LIMIT, "path too long");
			continue;
		}
		if (f->dir != cur) {
			if (dfd >= 0)
				close(dfd);
			/* openat() on the directory resolves one component per file instead of the whole path */
			dfd = open(fl->dirs.v[f->dir], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			cur = f->dir;
		}
		e = dfd >= 0 ? load_file_at(db, dfd, f->name, path) : load_file(db, path);
	}
	if (dfd >= 0)
		close(dfd);
	return e;
}

struct worker {
	struct bw_osv_db *db;
	const struct flist *fl;
	size_t lo, hi;
	enum bw_err e;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->e = load_range(w->db, w->fl, w->lo, w->hi);
	return NULL;
}

/* Move everything src loaded behind what dst loaded; src is left empty. */
static enum bw_err db_merge(struct bw_osv_db *dst, struct bw_osv_db *src)
{
	size_t i;
	enum bw_err e;

	for (i = 0; i < src->n_all; i++)
		if ((e = add_affected(dst, src->all[i])) != BW_OK)
			return e;
	for (i = 0; i < src->n_problems; i++)
		if ((e = add_problem(dst, src->problems[i].file, src->problems[i].code, src->problems[i].what)) != BW_OK)
			return e;
	dst->info.n_files += src->info.n_files;
	dst->info.n_parsed += src->info.n_parsed;
	dst->info.n_advisories += src->info.n_advisories;
	dst->info.n_withdrawn += src->info.n_withdrawn;
	dst->info.n_bad_events += src->info.n_bad_events;
	if (bw_add_ovf64(dst->total_read, src->total_read, &dst->total_read) ||
	    dst->total_read > dst->opts.max_total)
		return BW_ERR_LIMIT;
	/* the advisories live in src's arena: dst keeps it */
	for (i = 0; i < OSV_MAX_THREADS; i++)
		if (dst->more[i].head == NULL) {
			dst->more[i] = src->arena;
			bw_arena_init(&src->arena, 0);
			return BW_OK;
		}
	return BW_ERR_INTERNAL;
}

/*
 * Load a folder. With more than a few hundred files and more than one CPU,
 * the second half of the (ordered) list is loaded by a second thread into its
 * own database, merged behind the first: the result is the same as loading
 * in one thread.
 */
static enum bw_err load_dir(struct bw_osv_db *db, const char *root)
{
	struct flist fl;
	enum bw_err e;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(&fl, 0, sizeof fl);
	e = walk_dir(db, root, &fl);
	if (e == BW_OK && fl.n >= 512 && ncpu > 1 && db->opts.threads != 1) {
		struct bw_osv_db *db2 = NULL;
		struct worker w;
		pthread_t th;
		size_t half = fl.n / 2;

		json_object_seed(0); /* before threads: jansson seeds its hash once */
		e = db_new(NULL, db, &db2);
		if (e == BW_OK) {
			w.db = db2;
			w.fl = &fl;
			w.lo = half;
			w.hi = fl.n;
			w.e = BW_OK;
			if (pthread_create(&th, NULL, worker_main, &w) != 0) {
				e = load_range(db, &fl, 0, fl.n); /* no thread: do it all here */
			} else {
				e = load_range(db, &fl, 0, half);
				pthread_join(th, NULL);
				if (e == BW_OK)
					e = w.e;
				if (e == BW_OK)
					e = db_merge(db, db2);
			}
			bw_osv_db_free(db2);
		}
	} else if (e == BW_OK) {
		e = load_range(db, &fl, 0, fl.n);
	}
	flist_release(&fl);
	return e;
}

/* ------------------------------------------------------------ zip */

static enum bw_err load_zip(struct bw_osv_db *db, const char *path, struct bw_diag *diag)
{
	struct archive *ar = archive_read_new();
	struct archive_entry *ent;
	uint8_t *buf = NULL;
	enum bw_err e = BW_OK;
	int r;

	if (ar == NULL)
		return BW_ERR_NOMEM;
	archive_read_support_format_zip(ar);
	if (archive_read_open_filename(ar, path, 1 << 16) != ARCHIVE_OK) {
		e = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "cannot open zip: %s",
		                archive_error_string(ar) ? archive_error_string(ar) : "unknown");
		goto out;
	}
	buf = bw_malloc((size_t)db->opts.max_file + 1);
	if (buf == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	while ((r = archive_read_next_header(ar, &ent)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(ent);
		la_ssize_t got;
		size_t len = 0;

		if (name == NULL || archive_entry_filetype(ent) != AE_IFREG || !wanted_ext(name))
			continue;
		for (;;) {
			got = archive_read_data(ar, buf + len, (size_t)db->opts.max_file + 1 - len);
			if (got <= 0)
				break;
			len += (size_t)got;
			if (len > db->opts.max_file)
				break;
		}
		if (got < 0) {
			e = add_problem(db, name, BW_ERR_MALFORMED,
			                archive_error_string(ar) ? archive_error_string(ar) : "zip member unreadable");
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
		e = load_bytes(db, name, buf, len);
		if (e != BW_OK)
			break;
	}
	if (e == BW_OK && r != ARCHIVE_EOF)
		e = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "zip: %s",
		                archive_error_string(ar) ? archive_error_string(ar) : "read error");
out:
	bw_free(buf);
	archive_read_free(ar);
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
	e = load_bytes(db, name, data, len);
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
