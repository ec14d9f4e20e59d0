/*
 * match.c - match requirements against a loaded OSV database.
 *
 * The OSV rule for PyPI (OSV schema, "Evaluation"): a version is affected by
 * an advisory's package entry when the entry's `versions` list holds it, or
 * when it falls inside any ECOSYSTEM range. A range is evaluated by walking
 * its events sorted by PEP 440 order: `introduced` (or "0") switches to
 * affected, `fixed` and `limit` at or below the version switch back,
 * `last_affected` below the version switches back. Pre-releases and local
 * versions are ordinary versions here (1.13.0+cu117 < 1.13.1). Withdrawn
 * advisories never match. A version PEP 440 cannot parse can only match a
 * `versions` list entry spelled the same. A requirement given as a specifier
 * is checked for every version the advisory names (listed versions and range
 * bounds) that the specifier allows.
 * Must not: modify the database (it may be shared between threads).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/osv.h"
#include "core/alloc.h"
#include "core/arena.h"

enum bw_err bw_audit_name_normalize(const char *name, char *out, size_t out_len)
{
	if (name == NULL)
		return BW_ERR_ARG;
	return bw_pep503_normalize(name, strlen(name), out, out_len);
}

void bw_audit_opts_default(struct bw_audit_opts *o)
{
	memset(o, 0, sizeof *o);
}

/* ------------------------------------------------------------ OSV rule */

static int range_affects(const struct osv_range *r, const struct bw_pep440 *v)
{
	int affected = 0;
	size_t i;

	for (i = 0; i < r->n_events; i++) {
		const struct osv_event *e = &r->events[i];
		int c = e->zero ? 1 : bw_pep440_cmp(v, &e->v);

		if (c < 0)
			break; /* events are sorted: none later can apply */
		switch (e->kind) {
		case OSV_INTRODUCED:
			affected = 1;
			break;
		case OSV_FIXED:
		case OSV_LIMIT:
			affected = 0;
			break;
		case OSV_LAST_AFFECTED:
			if (c > 0)
				affected = 0;
			break;
		default:
			break;
		}
	}
	return affected;
}

static int listed(const struct osv_affected *a, const char *text)
{
	size_t i;

	/* the first byte inline: most listed versions differ there (lists run to hundreds) */
	for (i = 0; i < a->n_versions; i++)
		if (a->versions[i][0] == text[0] && strcmp(a->versions[i], text) == 0)
			return 1;
	return 0;
}

/* bit 1: listed, bit 2: in a range */
static int affects(const struct osv_affected *a, const char *text, const struct bw_pep440 *v)
{
	int r = listed(a, text) ? 1 : 0;
	size_t i;

	if (v != NULL)
		for (i = 0; i < a->n_ranges; i++)
			if (a->ranges[i].type == OSV_ECOSYSTEM && range_affects(&a->ranges[i], v)) {
				r |= 2;
				break;
			}
	return r;
}

/* ------------------------------------------------------------ building */

struct hitb {
	const struct osv_vuln *vuln;
	int via;
	const char **fixed;
	size_t n_fixed, cap_fixed;
	const char **allowed;
	size_t n_allowed, cap_allowed;
};

struct run {
	struct bw_arena *arena;
	struct hitb *hits;
	size_t n_hits, cap_hits;
	const struct bw_audit_opts *opts;
	char today[11];
};

static enum bw_err push_str(const char ***v, size_t *n, size_t *cap, const char *s)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i], s) == 0)
			return BW_OK;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 4;
		const char **t = bw_reallocarray((void *)*v, c, sizeof *t);

		if (t == NULL)
			return BW_ERR_NOMEM;
		*v = t;
		*cap = c;
	}
	(*v)[(*n)++] = s;
	return BW_OK;
}

static struct hitb *hit_for(struct run *r, const struct osv_vuln *v)
{
	size_t i;

	for (i = 0; i < r->n_hits; i++)
		if (r->hits[i].vuln == v)
			return &r->hits[i];
	if (r->n_hits == r->cap_hits) {
		size_t c = r->cap_hits ? r->cap_hits * 2 : 8;
		struct hitb *t = bw_reallocarray(r->hits, c, sizeof *t);

		if (t == NULL)
			return NULL;
		r->hits = t;
		r->cap_hits = c;
	}
	memset(&r->hits[r->n_hits], 0, sizeof r->hits[r->n_hits]);
	r->hits[r->n_hits].vuln = v;
	return &r->hits[r->n_hits++];
}

static void hits_reset(struct run *r)
{
	size_t i;

	for (i = 0; i < r->n_hits; i++) {
		bw_free((void *)r->hits[i].fixed);
		bw_free((void *)r->hits[i].allowed);
	}
	r->n_hits = 0;
}

static enum bw_err add_fixed(struct hitb *h, const struct osv_affected *a)
{
	size_t i, j;
	enum bw_err e;

	for (i = 0; i < a->n_ranges; i++)
		for (j = 0; j < a->ranges[i].n_events; j++)
			if (a->ranges[i].events[j].kind == OSV_FIXED) {
				e = push_str(&h->fixed, &h->n_fixed, &h->cap_fixed, a->ranges[i].events[j].text);
				if (e != BW_OK)
					return e;
			}
	return BW_OK;
}

static int cmp_version_text(const void *x, const void *y)
{
	const char *a = *(const char *const *)x, *b = *(const char *const *)y;
	struct bw_pep440 va, vb;
	int pa = bw_pep440_parse(a, &va) == BW_OK, pb = bw_pep440_parse(b, &vb) == BW_OK;

	if (pa && pb) {
		int c = bw_pep440_cmp(&va, &vb);

		return c != 0 ? c : strcmp(a, b);
	}
	if (pa != pb)
		return pa ? 1 : -1;
	return strcmp(a, b);
}

/* ------------------------------------------------------------ ignores */

static void today_utc(char out[11])
{
	time_t t = time(NULL);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, 11, "%Y-%m-%d", &tm) != 10)
		strcpy(out, "9999-12-31");
}

static int valid_date(const char *d)
{
	size_t i;

	if (d == NULL || strlen(d) != 10 || d[4] != '-' || d[7] != '-')
		return 0;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (d[i] < '0' || d[i] > '9'))
			return 0;
	return 1;
}

static const struct bw_audit_ignore *find_ignore(const struct run *r, const struct osv_vuln *v,
                                                 int *expired)
{
	const struct bw_audit_ignore *found = NULL;
	size_t i, j;

	*expired = 0;
	for (i = 0; r->opts != NULL && i < r->opts->n_ignores; i++) {
		const struct bw_audit_ignore *ig = &r->opts->ignores[i];
		int m = strcmp(ig->id, v->id) == 0;

		for (j = 0; !m && j < v->n_aliases; j++)
			m = strcmp(ig->id, v->aliases[j]) == 0;
		if (!m)
			continue;
		/* ISO dates compare as strings; `until` is the last day it applies */
		if (ig->until != NULL && strcmp(r->today, ig->until) > 0) {
			*expired = 1;
			continue;
		}
		found = ig;
	}
	if (found != NULL)
		*expired = 0;
	return found;
}

/* ------------------------------------------------------------ one package */

static int any_affects(const struct osv_affected *head, const char *text, const struct bw_pep440 *v)
{
	const struct osv_affected *a;

	for (a = head; a != NULL; a = a->next)
		if (!a->vuln->withdrawn && affects(a, text, v))
			return 1;
	return 0;
}

/*
 * Smallest fix version named by a hit that is above `floor` (when given) and
 * that no advisory for the package affects.
 */
static const char *suggest_fix(const struct run *r, const struct osv_affected *head,
                               const struct bw_pep440 *floor)
{
	const char *best = NULL;
	struct bw_pep440 bv, cv;
	size_t i, j;

	for (i = 0; i < r->n_hits; i++) {
		const struct hitb *h = &r->hits[i];

		for (j = 0; j < h->n_fixed; j++) {
			if (bw_pep440_parse(h->fixed[j], &cv) != BW_OK)
				continue;
			if (floor != NULL && bw_pep440_cmp(&cv, floor) <= 0)
				continue;
			if (best != NULL && bw_pep440_cmp(&cv, &bv) >= 0)
				continue;
			if (any_affects(head, h->fixed[j], &cv))
				continue;
			best = h->fixed[j];
			bv = cv;
		}
	}
	return best;
}

static const char **copy_strs(struct bw_arena *a, const char **v, size_t n)
{
	const char **o = bw_arena_array(a, n ? n : 1, sizeof *o);

	if (o != NULL && n > 0)
		memcpy(o, v, n * sizeof *o);
	return o;
}

static int cmp_hit_id(const void *x, const void *y)
{
	const struct bw_audit_hit *a = x, *b = y;

	return strcmp(a->id, b->id);
}

struct cand_state {
	struct hitb *h;
	struct bw_pep440 *floor;
	int *have_floor;
	const struct bw_pep440_spec *spec;
	int pre;
};

/* A version named by advisory entry a: allowed by the specifier and affected? */
static enum bw_err check_candidate(struct run *r, const struct osv_affected *a, struct cand_state *cs,
                                   const char *c)
{
	struct bw_pep440 cv;
	int parsed, via;

	if (!bw_pep440_spec_contains_str(cs->spec, c, cs->pre, &parsed))
		return BW_OK;
	if (parsed)
		parsed = bw_pep440_parse(c, &cv) == BW_OK;
	via = affects(a, c, parsed ? &cv : NULL);
	if (via == 0)
		return BW_OK;
	if (cs->h == NULL && (cs->h = hit_for(r, a->vuln)) == NULL)
		return BW_ERR_NOMEM;
	cs->h->via |= via;
	if (parsed && (!*cs->have_floor || bw_pep440_cmp(&cv, cs->floor) > 0)) {
		*cs->floor = cv;
		*cs->have_floor = 1;
	}
	return push_str(&cs->h->allowed, &cs->h->n_allowed, &cs->h->cap_allowed, c);
}

static enum bw_err match_one(struct run *r, const struct bw_osv_db *db, const struct bw_audit_req *req,
                             struct bw_audit_pkg *pkg, struct bw_audit_result *res)
{
	char norm[256];
	const struct osv_affected *head, *a;
	struct bw_pep440 v, floor;
	struct bw_pep440_spec *spec = NULL;
	int have_floor = 0;
	enum bw_err e = BW_OK;
	size_t i;
	struct bw_audit_hit *hits;
	size_t n_active = 0;

	pkg->req = req;
	pkg->name = "";
	if (req->name == NULL || bw_pep503_normalize(req->name, strlen(req->name), norm, sizeof norm) != BW_OK) {
		pkg->note = "not a valid Python project name: not checked";
		return BW_OK;
	}
	pkg->name = bw_arena_strdup(r->arena, norm);
	if (pkg->name == NULL)
		return BW_ERR_NOMEM;
	head = bw_osv_lookup(db, norm);
	hits_reset(r);

	if (req->version != NULL) {
		pkg->pinned = 1;
		pkg->version_valid = bw_pep440_parse(req->version, &v) == BW_OK;
		if (!pkg->version_valid) {
			res->n_unparsable++;
			pkg->note = bw_arena_printf(r->arena,
			                            "version '%s' is not PEP 440: matched only against advisories "
			                            "listing it exactly; ranges cannot order it",
			                            req->version);
		}
		for (a = head; a != NULL; a = a->next) {
			int via;
			struct hitb *h;

			if (a->vuln->withdrawn)
				continue;
			via = affects(a, req->version, pkg->version_valid ? &v : NULL);
			if (via == 0)
				continue;
			if ((h = hit_for(r, a->vuln)) == NULL)
				return BW_ERR_NOMEM;
			h->via |= via;
			if ((e = add_fixed(h, a)) != BW_OK)
				return e;
		}
		if (pkg->version_valid) {
			floor = v;
			have_floor = 1;
		}
	} else {
		const char *s = req->spec != NULL ? req->spec : "";
		int pre = r->opts != NULL && r->opts->ranges_include_prereleases ? 1 : -1;

		spec = bw_malloc(sizeof *spec);
		if (spec == NULL)
			return BW_ERR_NOMEM;
		if (bw_pep440_spec_parse(s, spec) != BW_OK) {
			pkg->note = bw_arena_printf(r->arena, "specifier '%s' is not PEP 440: not checked", s);
			res->n_unparsable++;
			goto done;
		}
		pkg->note = s[0] == '\0'
		                ? "no version given: every version the advisories name was checked"
		                : bw_arena_printf(r->arena,
		                                  "not pinned: checked every version allowed by '%s' that the "
		                                  "advisories name", s);
		for (a = head; a != NULL; a = a->next) {
			struct cand_state cs = {NULL, &floor, &have_floor, spec, pre};
			size_t j, k;

			if (a->vuln->withdrawn)
				continue;
			/* candidates: the listed versions, then the range bounds */
			for (j = 0; j < a->n_versions && e == BW_OK; j++)
				e = check_candidate(r, a, &cs, a->versions[j]);
			for (j = 0; j < a->n_ranges && e == BW_OK; j++)
				for (k = 0; k < a->ranges[j].n_events && e == BW_OK; k++)
					if (!a->ranges[j].events[k].zero)
						e = check_candidate(r, a, &cs, a->ranges[j].events[k].text);
			if (e == BW_OK && cs.h != NULL)
				e = add_fixed(cs.h, a);
			if (e != BW_OK)
				goto done;
		}
	}

	/* into the result */
	hits = bw_arena_array(r->arena, r->n_hits ? r->n_hits : 1, sizeof *hits);
	if (hits == NULL) {
		e = BW_ERR_NOMEM;
		goto done;
	}
	for (i = 0; i < r->n_hits; i++) {
		const struct hitb *h = &r->hits[i];
		const struct osv_vuln *ov = h->vuln;
		struct bw_audit_hit *o = &hits[i];
		const struct bw_audit_ignore *ig;
		int expired;

		o->id = ov->id;
		o->summary = ov->summary != NULL ? ov->summary : "";
		o->n_aliases = ov->n_aliases;
		o->aliases = ov->aliases;
		o->severity = ov->severity;
		o->severity_known = ov->severity_known;
		o->score = ov->score;
		o->vector = ov->vector;
		o->via_versions = (h->via & 1) != 0;
		o->via_ranges = (h->via & 2) != 0;
		if (h->n_fixed > 1)
			qsort((void *)h->fixed, h->n_fixed, sizeof *h->fixed, cmp_version_text);
		if (h->n_allowed > 1)
			qsort((void *)h->allowed, h->n_allowed, sizeof *h->allowed, cmp_version_text);
		o->n_fixed = h->n_fixed;
		o->fixed = copy_strs(r->arena, h->fixed, h->n_fixed);
		o->n_allowed = h->n_allowed;
		o->allowed = copy_strs(r->arena, h->allowed, h->n_allowed);
		if (o->fixed == NULL || o->allowed == NULL) {
			e = BW_ERR_NOMEM;
			goto done;
		}
		o->url = ov->url;
		o->file = ov->file;
		ig = find_ignore(r, ov, &expired);
		o->ignore_expired = expired;
		if (ig != NULL) {
			o->ignored = 1;
			o->ignore_reason = ig->reason != NULL ? ig->reason : "ignored by --ignore";
		} else {
			n_active++;
		}
	}
	if (r->n_hits > 1)
		qsort(hits, r->n_hits, sizeof *hits, cmp_hit_id);
	pkg->hits = hits;
	pkg->n_hits = r->n_hits;
	pkg->status = r->n_hits == 0 ? BW_AUDIT_OK : n_active > 0 ? BW_AUDIT_VULNERABLE : BW_AUDIT_IGNORED;
	res->n_hits += n_active;
	if (pkg->status == BW_AUDIT_VULNERABLE) {
		res->n_vulnerable++;
		pkg->fix = suggest_fix(r, head, have_floor ? &floor : NULL);
	}
done:
	bw_free(spec);
	return e;
}

/* ------------------------------------------------------------ public */

struct result_priv {
	struct bw_arena arena;
};

enum bw_err bw_audit_run(const struct bw_osv_db *db, const struct bw_audit_req *reqs, size_t n,
                         const struct bw_audit_opts *opts, struct bw_audit_result **out)
{
	struct bw_audit_result *res = NULL;
	struct result_priv *priv = NULL;
	struct bw_audit_pkg *pkgs = NULL;
	struct run r;
	enum bw_err e = BW_OK;
	size_t i;

	if (out == NULL)
		return BW_ERR_ARG;
	*out = NULL;
	if (db == NULL || (reqs == NULL && n > 0))
		return BW_ERR_ARG;
	memset(&r, 0, sizeof r);
	r.opts = opts;
	if (opts != NULL && opts->today != NULL) {
		if (!valid_date(opts->today))
			return BW_ERR_ARG;
		strcpy(r.today, opts->today);
	} else {
		today_utc(r.today);
	}
	for (i = 0; opts != NULL && i < opts->n_ignores; i++)
		if (opts->ignores[i].id == NULL ||
		    (opts->ignores[i].until != NULL && !valid_date(opts->ignores[i].until)))
			return BW_ERR_ARG;
	res = bw_calloc(1, sizeof *res);
	priv = bw_calloc(1, sizeof *priv);
	if (res == NULL || priv == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	bw_arena_init(&priv->arena, 0);
	res->priv_ = priv;
	r.arena = &priv->arena;
	pkgs = bw_arena_array(r.arena, n ? n : 1, sizeof *pkgs);
	if (pkgs == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	res->pkgs = pkgs;
	res->n_pkgs = n;
	for (i = 0; i < n && e == BW_OK; i++)
		e = match_one(&r, db, &reqs[i], &pkgs[i], res);
out:
	hits_reset(&r);
	bw_free(r.hits);
	if (e != BW_OK) {
		if (res != NULL)
			res->priv_ = priv;
		bw_audit_result_free(res);
		if (res == NULL && priv != NULL)
			bw_free(priv);
		return e;
	}
	*out = res;
	return BW_OK;
}

void bw_audit_result_free(struct bw_audit_result *r)
{
	struct result_priv *p;

	if (r == NULL)
		return;
	p = r->priv_;
	if (p != NULL) {
		bw_arena_release(&p->arena);
		bw_free(p);
	}
	bw_free(r);
}

int bw_audit_hit_fails(const struct bw_audit_hit *h, enum bw_severity threshold)
{
	if (h->ignored)
		return 0;
	if (!h->severity_known)
		return 1;
	return h->severity >= threshold;
}
