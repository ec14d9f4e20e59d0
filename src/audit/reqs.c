/*
 * reqs.c - read Python dependency lists into struct bw_audit_req:
 * requirements.txt and `pip freeze` output (pip's requirements file format),
 * pyproject.toml (PEP 621 [project], PEP 735 [dependency-groups], Poetry
 * [tool.poetry.*dependencies]), poetry.lock, uv.lock, pylock.toml (PEP 751)
 * and CycloneDX JSON (components with pkg:pypi purls).
 *
 * A requirement is (name, exact version) when pinned with == (no wildcard) or
 * ===, else (name, specifier). Poetry constraints (^ ~ *) are translated to
 * PEP 440 specifiers; alternatives joined by || become one requirement each.
 * Lines that cannot be read are recorded as problems, never dropped silently.
 * Must not: run pip, resolve anything over the network, or follow includes
 * outside the file system (URLs in -r are refused).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audit/pep440.h"
#include "audit/tree.h"
#include "bulwark/audit.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/fileio.h"

#define REQS_MAX_FILE ((size_t)64 << 20)
#define REQS_MAX_INCLUDE_DEPTH 8
#define REQS_MAX_ITEMS 1000000u
#define REQS_MAX_LINE 65536

struct reqs_priv {
	struct bw_arena arena;
	struct bw_audit_req *items;
	size_t n, cap;
	struct bw_osv_problem *problems;
	size_t n_problems, cap_problems;
	const char *visited[REQS_MAX_INCLUDE_DEPTH * 8];
	size_t n_visited;
};

const char *bw_req_format_str(enum bw_req_format f)
{
	switch (f) {
	case BW_REQ_TXT: return "requirements";
	case BW_REQ_PYPROJECT: return "pyproject";
	case BW_REQ_POETRY_LOCK: return "poetry.lock";
	case BW_REQ_UV_LOCK: return "uv.lock";
	case BW_REQ_PYLOCK: return "pylock";
	case BW_REQ_CYCLONEDX: return "cyclonedx";
	case BW_REQ_SPDX3: return "spdx3";
	default: return "auto";
	}
}

static enum bw_err problem(struct reqs_priv *p, const char *src, uint32_t line, const char *what)
{
	struct bw_osv_problem *pr;

	if (p->n_problems == p->cap_problems) {
		size_t c = p->cap_problems ? p->cap_problems * 2 : 8;

		pr = bw_reallocarray(p->problems, c, sizeof *pr);
		if (pr == NULL)
			return BW_ERR_NOMEM;
		p->problems = pr;
		p->cap_problems = c;
	}
	pr = &p->problems[p->n_problems];
	pr->file = line ? bw_arena_printf(&p->arena, "%s:%u", src, line) : bw_arena_strdup(&p->arena, src);
	pr->what = bw_arena_strdup(&p->arena, what);
	pr->code = BW_ERR_MALFORMED;
	if (pr->file == NULL || pr->what == NULL)
		return BW_ERR_NOMEM;
	p->n_problems++;
	return BW_OK;
}

static struct bw_audit_req *new_req(struct reqs_priv *p)
{
	if (p->n == p->cap) {
		size_t c = p->cap ? p->cap * 2 : 32;
		struct bw_audit_req *t;

		if (c > REQS_MAX_ITEMS)
			return NULL;
		t = bw_reallocarray(p->items, c, sizeof *t);
		if (t == NULL)
			return NULL;
		p->items = t;
		p->cap = c;
	}
	memset(&p->items[p->n], 0, sizeof p->items[p->n]);
	return &p->items[p->n++];
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static char *trim(char *s)
{
	char *e;

	while (is_space((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && is_space((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int name_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_' || c == '.';
}

/*
 * Split a specifier into pin or range: "==X" (one clause, no wildcard) or
 * "===X" pins; anything else stays a specifier (validated when matching).
 */
static enum bw_err set_version(struct reqs_priv *p, struct bw_audit_req *r, const char *spec)
{
	char *s = bw_arena_strdup(&p->arena, spec), *v;

	if (s == NULL)
		return BW_ERR_NOMEM;
	s = trim(s);
	if (s[0] == '(' && s[strlen(s) - 1] == ')') {
		s[strlen(s) - 1] = '\0';
		s = trim(s + 1);
	}
	if (strchr(s, ',') == NULL && strncmp(s, "==", 2) == 0) {
		v = trim(s + (s[2] == '=' ? 3 : 2));
		if (s[2] == '=' || (strlen(v) < 2 || strcmp(v + strlen(v) - 2, ".*") != 0)) {
			if (v[0] != '\0' && strpbrk(v, " \t") == NULL) {
				r->version = v;
				return BW_OK;
			}
		}
	}
	r->spec = s;
	return BW_OK;
}

static char *pct_decode(struct reqs_priv *p, const char *s, size_t n);

/*
 * A direct reference to a wheel names its version: the last path segment of
 * the URL is "{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl"
 * (binary distribution format, file name convention; '-' inside a name or
 * version is escaped as '_'). On success *name and *version point into the
 * arena; returns 0 when the URL is not a wheel file name.
 */
static int wheel_name(struct reqs_priv *p, const char *url, char **name, char **version)
{
	size_t end = strcspn(url, "#?"), start = end, n_parts = 1, i;
	const char *seg, *dash;

	*name = NULL;
	*version = NULL;
	while (start > 0 && url[start - 1] != '/')
		start--;
	seg = url + start;
	if (end - start < 4 || memcmp(url + end - 4, ".whl", 4) != 0)
		return 0;
	for (i = start; i < end - 4; i++)
		if (url[i] == '-')
			n_parts++;
	if (n_parts != 5 && n_parts != 6)
		return 0;
	dash = memchr(seg, '-', end - start);
	if (dash == NULL || dash == seg)
		return 0;
	*name = bw_arena_strndup(&p->arena, seg, (size_t)(dash - seg));
	seg = dash + 1;
	dash = memchr(seg, '-', (size_t)(url + end - seg));
	if (dash == NULL || dash == seg || *name == NULL)
		return 0;
	*version = pct_decode(p, seg, (size_t)(dash - seg)); /* "%2B" for a local version's '+' */
	return *version != NULL;
}

/* pep503-normalized names a and b are equal (both valid names) */
static int same_project(const char *a, const char *b)
{
	char na[256], nb[256];

	return bw_pep503_normalize(a, strlen(a), na, sizeof na) == BW_OK &&
	       bw_pep503_normalize(b, strlen(b), nb, sizeof nb) == BW_OK && strcmp(na, nb) == 0;
}

/*
 * One PEP 508 requirement: name [extras] (specifier | @ url) [; markers].
 * Markers are not evaluated: the requirement is audited whatever the
 * environment (said in the note when present).
 */
static enum bw_err parse_pep508(struct reqs_priv *p, const char *src, uint32_t line, const char *text)
{
	char *s = bw_arena_strdup(&p->arena, text), *name, *rest, *semi;
	struct bw_audit_req *r;

	if (s == NULL)
		return BW_ERR_NOMEM;
	s = trim(s);
	name = s;
	while (name_char((unsigned char)*s))
		s++;
	if (s == name || !((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z') ||
	                   (name[0] >= '0' && name[0] <= '9')))
		return problem(p, src, line, "not a requirement (no project name)");
	rest = s;
	r = new_req(p);
	if (r == NULL)
		return BW_ERR_NOMEM;
	r->source = src;
	r->line = line;
	semi = strchr(rest, ';');
	if (semi != NULL) {
		*semi = '\0';
		r->note = "has environment markers (audited regardless)";
	}
	{
		size_t nl = (size_t)(rest - name);
		char *nm = bw_arena_strndup(&p->arena, name, nl);

		if (nm == NULL)
			return BW_ERR_NOMEM;
		r->name = nm;
	}
	rest = trim(rest);
	if (*rest == '[') {
		char *close = strchr(rest, ']');

		if (close == NULL) {
			p->n--;
			return problem(p, src, line, "unclosed extras bracket");
		}
		rest = trim(close + 1);
	}
	if (*rest == '@') {
		char *wn, *wv;

		if (wheel_name(p, trim(rest + 1), &wn, &wv) && same_project(wn, r->name)) {
			r->version = wv;
			r->note = "direct reference to a wheel: version taken from its file name";
			return BW_OK;
		}
		r->spec = "";
		r->note = "direct URL reference: version unknown, every advisory-named version checked";
		return BW_OK;
	}
	return set_version(p, r, rest);
}

/* ------------------------------------------------------------ requirements.txt */

static enum bw_err load_txt(struct reqs_priv *p, const char *src, const char *data, size_t len,
                            const char *path, int depth);

static enum bw_err include_file(struct reqs_priv *p, const char *from, uint32_t line, const char *arg,
                                const char *path, int depth)
{
	char *full;
	struct bw_file_map m;
	struct bw_diag d;
	enum bw_err e;
	size_t i;

	if (strstr(arg, "://") != NULL)
		return problem(p, from, line, "remote requirement files are not fetched");
	if (depth >= REQS_MAX_INCLUDE_DEPTH)
		return problem(p, from, line, "-r/-c nesting over the limit");
	if (arg[0] == '/' || path == NULL || strrchr(path, '/') == NULL) {
		full = bw_arena_strdup(&p->arena, arg);
	} else {
		int dl = (int)(strrchr(path, '/') - path);

		full = bw_arena_printf(&p->arena, "%.*s/%s", dl, path, arg);
	}
	if (full == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < p->n_visited; i++)
		if (strcmp(p->visited[i], full) == 0)
			return BW_OK; /* each file once (also breaks cycles) */
	if (p->n_visited == sizeof p->visited / sizeof p->visited[0])
		return problem(p, from, line, "too many included files");
	p->visited[p->n_visited++] = full;
	bw_diag_clear(&d);
	e = bw_file_map(full, REQS_MAX_FILE, &m, &d);
	if (e == BW_ERR_NOMEM)
		return e;
	if (e != BW_OK)
		return problem(p, from, line, bw_arena_printf(&p->arena, "cannot read %s: %s", full, d.what));
	e = load_txt(p, full, (const char *)m.data, m.len, full, depth + 1);
	bw_file_unmap(&m);
	return e;
}

/* Option lines (pip's requirements file format, "Supported options"). */
static enum bw_err txt_option(struct reqs_priv *p, const char *src, uint32_t line, char *s,
                              const char *path, int depth)
{
	static const char *const inc[] = {"-r", "--requirement", "-c", "--constraint"};
	size_t i;

	for (i = 0; i < 4; i++) {
		size_t n = strlen(inc[i]);

		if (strncmp(s, inc[i], n) == 0 && (s[n] == ' ' || s[n] == '\t' || s[n] == '=' ||
		                                   (n == 2 && s[n] != '\0'))) {
			char *arg = trim(s + n + (s[n] == '=' ? 1 : 0));

			return include_file(p, src, line, arg, path, depth);
		}
	}
	if (strncmp(s, "-e", 2) == 0 || strncmp(s, "--editable", 10) == 0) {
		struct bw_audit_req *r;
		const char *egg = strstr(s, "#egg=");
		char *nm;

		if (egg == NULL)
			return problem(p, src, line, "editable install without #egg= name: not audited");
		egg += 5;
		nm = bw_arena_strndup(&p->arena, egg, strcspn(egg, "&[ \t"));
		r = new_req(p);
		if (nm == NULL || r == NULL)
			return BW_ERR_NOMEM;
		r->name = nm;
		r->spec = "";
		r->source = src;
		r->line = line;
		r->note = "editable install: version unknown, every advisory-named version checked";
		return BW_OK;
	}
	/* index, hash and build options do not name packages */
	return BW_OK;
}

static enum bw_err txt_line(struct reqs_priv *p, const char *src, uint32_t line, char *s,
                            const char *path, int depth)
{
	char *h;

	/* comments: "#" at the start or after whitespace */
	for (h = s; (h = strchr(h, '#')) != NULL; h++)
		if (h == s || is_space((unsigned char)h[-1])) {
			*h = '\0';
			break;
		}
	s = trim(s);
	if (*s == '\0')
		return BW_OK;
	if (*s == '-')
		return txt_option(p, src, line, s, path, depth);
	/* per-requirement options: "pkg==1 --hash=sha256:..." */
	for (h = s; (h = strstr(h, "--")) != NULL; h++)
		if (h > s && is_space((unsigned char)h[-1])) {
			*h = '\0';
			break;
		}
	s = trim(s);
	/* a bare path or URL (./pkg, https://x/y.whl, git+https://...#egg=name) */
	if (strstr(s, "://") != NULL && strchr(s, '@') == NULL) {
		const char *egg = strstr(s, "#egg=");
		struct bw_audit_req *r;
		char *nm, *wv;

		if (egg == NULL && wheel_name(p, s, &nm, &wv)) {
			r = new_req(p);
			if (r == NULL)
				return BW_ERR_NOMEM;
			r->name = nm;
			r->version = wv;
			r->source = src;
			r->line = line;
			r->note = "direct reference to a wheel: name and version taken from its file name";
			return BW_OK;
		}
		if (egg == NULL)
			return problem(p, src, line, "URL requirement without a name: not audited");
		egg += 5;
		nm = bw_arena_strndup(&p->arena, egg, strcspn(egg, "&[ \t"));
		r = new_req(p);
		if (nm == NULL || r == NULL)
			return BW_ERR_NOMEM;
		r->name = nm;
		r->spec = "";
		r->source = src;
		r->line = line;
		r->note = "direct URL reference: version unknown, every advisory-named version checked";
		return BW_OK;
	}
	if (s[0] == '.' || s[0] == '/')
		return problem(p, src, line, "local path requirement: not audited");
	return parse_pep508(p, src, line, s);
}

static enum bw_err load_txt(struct reqs_priv *p, const char *src, const char *data, size_t len,
                            const char *path, int depth)
{
	size_t i = 0;
	uint32_t line = 0;
	char *buf = bw_malloc(REQS_MAX_LINE + 1);
	enum bw_err e = BW_OK;

	if (buf == NULL)
		return BW_ERR_NOMEM;
	while (i < len && e == BW_OK) {
		size_t o = 0;
		uint32_t first = line + 1;
		int over = 0;

		/* one logical line: physical lines joined at a trailing backslash */
		for (;;) {
			size_t s = i;

			while (i < len && data[i] != '\n')
				i++;
			line++;
			{
				size_t n = i - s;

				if (n > 0 && data[s + n - 1] == '\r')
					n--;
				if (n > 0 && data[s + n - 1] == '\\' && i < len) {
					n--;
					if (o + n > REQS_MAX_LINE)
						over = 1;
					else
						memcpy(buf + o, data + s, n), o += n;
					i++;
					continue;
				}
				if (o + n > REQS_MAX_LINE)
					over = 1;
				else
					memcpy(buf + o, data + s, n), o += n;
			}
			if (i < len)
				i++;
			break;
		}
		buf[o] = '\0';
		if (over) {
			e = problem(p, src, first, "line longer than 64 KiB");
			continue;
		}
		if (memchr(buf, '\0', o) != NULL) {
			e = problem(p, src, first, "NUL byte in line");
			continue;
		}
		e = txt_line(p, src, first, buf, path, depth);
	}
	bw_free(buf);
	return e;
}

/* ------------------------------------------------------------ Poetry constraints */

/* Poetry's ^ and ~ (poetry-core "Version constraints") as PEP 440. */
static const char *poetry_to_pep440(struct reqs_priv *p, const char *c)
{
	struct bw_pep440 v;
	char up[BW_PEP440_MAX_CANON];
	char *s = bw_arena_strdup(&p->arena, c);
	size_t i, keep;

	if (s == NULL)
		return NULL;
	s = trim(s);
	if (s[0] == '\0' || strcmp(s, "*") == 0)
		return "";
	if (s[0] != '^' && s[0] != '~' && !(s[0] >= '0' && s[0] <= '9'))
		return s; /* already PEP 440 style (>=, <, ==, !=, ~=) */
	if (s[0] == '~' && s[1] == '=')
		return s;
	if (s[0] >= '0' && s[0] <= '9')
		return bw_arena_printf(&p->arena, "==%s", s); /* a bare version is exact */
	if (bw_pep440_parse(s + 1, &v) != BW_OK)
		return s;
	if (s[0] == '^') {
		/* bump the first non-zero component (or the last given one) */
		for (keep = 0; keep + 1 < v.n_release && v.release[keep] == 0; keep++)
			;
	} else {
		keep = v.n_release >= 2 ? 1 : 0;
	}
	up[0] = '\0';
	for (i = 0; i <= keep; i++) {
		char num[24];

		snprintf(num, sizeof num, "%s%llu", i ? "." : "",
		         (unsigned long long)(i == keep ? v.release[i] + 1 : v.release[i]));
		strncat(up, num, sizeof up - strlen(up) - 1);
	}
	return bw_arena_printf(&p->arena, ">=%s,<%s", s + 1, up);
}

static enum bw_err add_poetry_dep(struct reqs_priv *p, const char *src, const char *name,
                                  const struct bw_tnode *val)
{
	const char *c = bw_tree_str(val);
	char *alts, *tok, *save = NULL;

	if (strcasecmp(name, "python") == 0)
		return BW_OK;
	if (c == NULL && val != NULL && val->type == BW_T_MAP)
		c = bw_tree_get_str(val, "version");
	if (c == NULL)
		c = ""; /* git/path/url dependency: any version */
	alts = bw_arena_strdup(&p->arena, c);
	if (alts == NULL)
		return BW_ERR_NOMEM;
	for (tok = strtok_r(alts, "|", &save); tok != NULL || c[0] == '\0'; tok = strtok_r(NULL, "|", &save)) {
		struct bw_audit_req *r = new_req(p);
		const char *spec;
		char *sp;

		if (r == NULL)
			return BW_ERR_NOMEM;
		r->name = name;
		r->source = src;
		r->line = val != NULL ? val->line : 0;
		/* clauses are separated by commas or spaces: "^1.2 <1.5", ">=1,<2" */
		sp = bw_arena_strdup(&p->arena, "");
		{
			char *cl, *save2 = NULL, *t2 = bw_arena_strdup(&p->arena, tok != NULL ? tok : "");

			if (t2 == NULL || sp == NULL)
				return BW_ERR_NOMEM;
			for (cl = strtok_r(t2, ", \t", &save2); cl != NULL; cl = strtok_r(NULL, ", \t", &save2)) {
				/* ">= 1.2": operator and version split by a space */
				if (strspn(cl, "<>=!~") == strlen(cl)) {
					char *nx = strtok_r(NULL, ", \t", &save2);

					if (nx == NULL)
						break;
					cl = bw_arena_printf(&p->arena, "%s%s", cl, nx);
					if (cl == NULL)
						return BW_ERR_NOMEM;
				}
				spec = poetry_to_pep440(p, cl);
				if (spec == NULL)
					return BW_ERR_NOMEM;
				if (spec[0] == '\0')
					continue;
				sp = bw_arena_printf(&p->arena, "%s%s%s", sp, sp[0] ? "," : "", spec);
				if (sp == NULL)
					return BW_ERR_NOMEM;
			}
		}
		if (set_version(p, r, sp) != BW_OK)
			return BW_ERR_NOMEM;
		if (c[0] == '\0')
			break;
	}
	return BW_OK;
}

/* ------------------------------------------------------------ TOML formats */

static enum bw_err add_pep508_list(struct reqs_priv *p, const char *src, const struct bw_tnode *seq)
{
	size_t i;
	enum bw_err e;

	if (seq == NULL || seq->type != BW_T_SEQ)
		return BW_OK;
	for (i = 0; i < seq->n; i++) {
		const char *s = bw_tree_str(seq->kids[i]);

		if (s == NULL) {
			if (seq->kids[i]->type == BW_T_MAP) /* {include-group = "x"} */
				continue;
			e = problem(p, src, seq->kids[i]->line, "dependency is not a string");
		} else {
			e = parse_pep508(p, src, seq->kids[i]->line, s);
		}
		if (e != BW_OK)
			return e;
	}
	return BW_OK;
}

static enum bw_err add_poetry_table(struct reqs_priv *p, const char *src, const struct bw_tnode *t)
{
	size_t i;
	enum bw_err e;

	if (t == NULL || t->type != BW_T_MAP)
		return BW_OK;
	for (i = 0; i < t->n; i++)
		if ((e = add_poetry_dep(p, src, t->kids[2 * i]->str, t->kids[2 * i + 1])) != BW_OK)
			return e;
	return BW_OK;
}

static enum bw_err load_pyproject(struct reqs_priv *p, const char *src, const struct bw_tnode *doc)
{
	const struct bw_tnode *proj = bw_tree_get(doc, "project"), *opt, *groups, *poetry, *g;
	size_t i;
	enum bw_err e;

	if ((e = add_pep508_list(p, src, bw_tree_get(proj, "dependencies"))) != BW_OK)
		return e;
	opt = bw_tree_get(proj, "optional-dependencies");
	for (i = 0; opt != NULL && opt->type == BW_T_MAP && i < opt->n; i++)
		if ((e = add_pep508_list(p, src, opt->kids[2 * i + 1])) != BW_OK)
			return e;
	groups = bw_tree_get(doc, "dependency-groups");
	for (i = 0; groups != NULL && groups->type == BW_T_MAP && i < groups->n; i++)
		if ((e = add_pep508_list(p, src, groups->kids[2 * i + 1])) != BW_OK)
			return e;
	poetry = bw_tree_get(bw_tree_get(doc, "tool"), "poetry");
	if ((e = add_poetry_table(p, src, bw_tree_get(poetry, "dependencies"))) != BW_OK ||
	    (e = add_poetry_table(p, src, bw_tree_get(poetry, "dev-dependencies"))) != BW_OK)
		return e;
	g = bw_tree_get(poetry, "group");
	for (i = 0; g != NULL && g->type == BW_T_MAP && i < g->n; i++)
		if ((e = add_poetry_table(p, src, bw_tree_get(g->kids[2 * i + 1], "dependencies"))) != BW_OK)
			return e;
	return BW_OK;
}

/* Dependency names of one lock node: a table keyed by name (poetry) or a list of {name = ...} (uv, pylock). */
static size_t lock_dep_count(const struct bw_tnode *d)
{
	return d != NULL && (d->type == BW_T_MAP || d->type == BW_T_SEQ) ? d->n : 0;
}

static void lock_dep_add(const struct bw_tnode *d, const char **v, size_t *n)
{
	size_t i;

	for (i = 0; i < lock_dep_count(d); i++) {
		const char *nm = d->type == BW_T_MAP ? d->kids[2 * i]->str : bw_tree_get_str(d->kids[i], "name");

		if (nm != NULL)
			v[(*n)++] = nm;
	}
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The direct dependencies of a lock entry, by name, each once, sorted: its
 * dependencies, and in uv.lock also the packages its extras
 * ([package.optional-dependencies]) and dependency groups
 * ([package.dev-dependencies]) resolved to, which uv locks like any other
 * dependency. Poetry's [package.extras] are requirement strings of extras
 * that may not be installed, not locked edges, and are not followed.
 */
static enum bw_err lock_deps(struct reqs_priv *p, struct bw_audit_req *r, const struct bw_tnode *k,
                             enum bw_req_format fmt)
{
	static const char *const groups[] = {"optional-dependencies", "dev-dependencies"};
	const struct bw_tnode *d = bw_tree_get(k, "dependencies");
	const char **v;
	size_t total = lock_dep_count(d), n = 0, g, i;

	for (g = 0; fmt == BW_REQ_UV_LOCK && g < sizeof groups / sizeof groups[0]; g++) {
		const struct bw_tnode *t = bw_tree_get(k, groups[g]);

		for (i = 0; t != NULL && t->type == BW_T_MAP && i < t->n; i++)
			total += lock_dep_count(t->kids[2 * i + 1]);
	}
	if (total == 0)
		return BW_OK;
	v = bw_arena_array(&p->arena, total, sizeof *v);
	if (v == NULL)
		return BW_ERR_NOMEM;
	lock_dep_add(d, v, &n);
	for (g = 0; fmt == BW_REQ_UV_LOCK && g < sizeof groups / sizeof groups[0]; g++) {
		const struct bw_tnode *t = bw_tree_get(k, groups[g]);

		for (i = 0; t != NULL && t->type == BW_T_MAP && i < t->n; i++)
			lock_dep_add(t->kids[2 * i + 1], v, &n);
	}
	/* each name once, sorted (uv lists a name once per marker fork; a graph edge is one edge):
	 * sorting keeps this O(n log n) on a hostile lock file */
	if (n > 1) {
		size_t w = 1;

		qsort(v, n, sizeof *v, cmp_str_ptr);
		for (i = 1; i < n; i++)
			if (strcmp(v[i], v[w - 1]) != 0)
				v[w++] = v[i];
		n = w;
	}
	r->deps = v;
	r->n_deps = n;
	return BW_OK;
}

static enum bw_err load_lock(struct reqs_priv *p, const char *src, const struct bw_tnode *doc,
                             enum bw_req_format fmt)
{
	const struct bw_tnode *pkgs = bw_tree_get(doc, fmt == BW_REQ_PYLOCK ? "packages" : "package");
	size_t i;
	enum bw_err e;

	if (pkgs == NULL)
		return problem(p, src, 0, fmt == BW_REQ_PYLOCK ? "no [[packages]] in lock file"
		                                               : "no [[package]] in lock file");
	if (pkgs->type != BW_T_SEQ)
		return problem(p, src, 0, "package list is not an array of tables");
	for (i = 0; i < pkgs->n; i++) {
		const struct bw_tnode *k = pkgs->kids[i];
		const char *name = bw_tree_get_str(k, "name"), *ver = bw_tree_get_str(k, "version");
		struct bw_audit_req *r;

		if (name == NULL) {
			if ((e = problem(p, src, k->line, "lock entry without a name")) != BW_OK)
				return e;
			continue;
		}
		r = new_req(p);
		if (r == NULL)
			return BW_ERR_NOMEM;
		r->name = name;
		r->source = src;
		r->line = k->line;
		if (ver != NULL) {
			r->version = ver;
		} else {
			r->spec = "";
			r->note = "lock entry without a version (editable or virtual): every advisory-named "
			          "version checked";
		}
		if ((e = lock_deps(p, r, k, fmt)) != BW_OK)
			return e;
	}
	return BW_OK;
}

/* ------------------------------------------------------------ CycloneDX */

static int hexval(int c)
{
	return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
	       : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* percent-decoded copy of s[0..n) (purl spec: names and versions are percent-encoded) */
static char *pct_decode(struct reqs_priv *p, const char *s, size_t n)
{
	char *o = bw_arena_alloc(&p->arena, n + 1);
	size_t i, k = 0;

	if (o == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			o[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			o[k++] = s[i];
		}
	}
	o[k] = '\0';
	return o;
}

/* One CycloneDX component: a pkg:pypi purl becomes a requirement; a library without a purl is a problem. */
static enum bw_err cdx_component(struct reqs_priv *p, const char *src, const struct bw_tnode *c)
{
	const char *purl = bw_tree_get_str(c, "purl");

	if (purl != NULL && strncmp(purl, "pkg:pypi/", 9) == 0) {
		const char *s = purl + 9;
		size_t nl = strcspn(s, "@?#"), vl;
		struct bw_audit_req *r = new_req(p);

		if (r == NULL)
			return BW_ERR_NOMEM;
		r->source = src;
		r->line = c->line;
		r->name = pct_decode(p, s, nl);
		if (r->name == NULL)
			return BW_ERR_NOMEM;
		if (s[nl] == '@') {
			vl = strcspn(s + nl + 1, "?#");
			if ((r->version = pct_decode(p, s + nl + 1, vl)) == NULL)
				return BW_ERR_NOMEM;
		} else {
			r->spec = "";
			r->note = "purl without a version: every advisory-named version checked";
		}
	} else if (purl == NULL && bw_tree_get_str(c, "type") != NULL &&
	           strcmp(bw_tree_get_str(c, "type"), "library") == 0 && bw_tree_get_str(c, "name") != NULL) {
		return problem(p, src, c->line, bw_arena_printf(&p->arena, "component '%s' has no purl: not audited",
		                                                bw_tree_get_str(c, "name")));
	}
	return BW_OK;
}

/*
 * Every component of a CycloneDX document: metadata.component (what the BOM
 * describes: audited too when it is a PyPI package), then components, each
 * followed by its nested components, in document order. The walk keeps one
 * frame per nesting level; a level is two tree levels deeper than its parent
 * (component -> "components" -> component), so the tree parser's depth cap
 * bounds the frames and no list is ever skipped.
 */
static enum bw_err load_cyclonedx(struct reqs_priv *p, const char *src, const struct bw_tnode *doc)
{
	struct cdx_frame {
		const struct bw_tnode *list;
		size_t next;
	} st[BW_TREE_MAX_DEPTH];
	const struct bw_tnode *meta = bw_tree_get(bw_tree_get(doc, "metadata"), "component");
	const struct bw_tnode *roots[2];
	size_t depth, r;
	enum bw_err e;

	if (bw_tree_get_str(doc, "bomFormat") == NULL || strcmp(bw_tree_get_str(doc, "bomFormat"), "CycloneDX") != 0)
		return problem(p, src, 0, "not a CycloneDX document (bomFormat)");
	if (meta != NULL && meta->type == BW_T_MAP && (e = cdx_component(p, src, meta)) != BW_OK)
		return e;
	roots[0] = meta != NULL && meta->type == BW_T_MAP ? bw_tree_get(meta, "components") : NULL;
	roots[1] = bw_tree_get(doc, "components");
	for (r = 0; r < 2; r++) {
		if (roots[r] == NULL || roots[r]->type != BW_T_SEQ)
			continue;
		depth = 0;
		st[depth].list = roots[r];
		st[depth++].next = 0;
		while (depth > 0) {
			struct cdx_frame *f = &st[depth - 1];
			const struct bw_tnode *c, *sub;

			if (f->next == f->list->n) {
				depth--;
				continue;
			}
			c = f->list->kids[f->next++];
			if ((e = cdx_component(p, src, c)) != BW_OK)
				return e;
			sub = bw_tree_get(c, "components");
			if (sub == NULL || sub->type != BW_T_SEQ || sub->n == 0)
				continue;
			if (depth == BW_TREE_MAX_DEPTH) /* cannot happen: the parser caps nesting at this depth */
				return problem(p, src, c->line, "components nested over the limit");
			st[depth].list = sub;
			st[depth++].next = 0;
		}
	}
	return BW_OK;
}

/* SPDX 3 JSON-LD: every software_Package whose software_packageUrl is a pkg:pypi purl. */
static enum bw_err load_spdx3(struct reqs_priv *p, const char *src, const struct bw_tnode *doc)
{
	const struct bw_tnode *g = bw_tree_get(doc, "@graph");
	size_t i;

	if (g == NULL || g->type != BW_T_SEQ)
		return problem(p, src, 0, "not an SPDX 3 JSON-LD document (@graph)");
	for (i = 0; i < g->n; i++) {
		const char *type = bw_tree_get_str(g->kids[i], "type");
		const char *purl = bw_tree_get_str(g->kids[i], "software_packageUrl");
		const char *s;
		size_t nl;
		struct bw_audit_req *r;

		if (type == NULL || strcmp(type, "software_Package") != 0 || purl == NULL ||
		    strncmp(purl, "pkg:pypi/", 9) != 0)
			continue;
		s = purl + 9;
		nl = strcspn(s, "@?#");
		r = new_req(p);
		if (r == NULL || (r->name = pct_decode(p, s, nl)) == NULL)
			return BW_ERR_NOMEM;
		r->source = src;
		if (s[nl] == '@') {
			if ((r->version = pct_decode(p, s + nl + 1, strcspn(s + nl + 1, "?#"))) == NULL)
				return BW_ERR_NOMEM;
		} else {
			r->spec = "";
			r->note = "purl without a version: every advisory-named version checked";
		}
	}
	return BW_OK;
}

/* ------------------------------------------------------------ entry points */

static enum bw_req_format detect(const char *name, const uint8_t *d, size_t n)
{
	const char *base = strrchr(name, '/');
	size_t i;

	base = base ? base + 1 : name;
	if (strcmp(base, "pyproject.toml") == 0)
		return BW_REQ_PYPROJECT;
	if (strcmp(base, "poetry.lock") == 0)
		return BW_REQ_POETRY_LOCK;
	if (strcmp(base, "uv.lock") == 0)
		return BW_REQ_UV_LOCK;
	if (strncmp(base, "pylock.", 7) == 0 && strlen(base) > 5 &&
	    strcmp(base + strlen(base) - 5, ".toml") == 0)
		return BW_REQ_PYLOCK;
	for (i = 0; i < n && is_space(d[i]); i++)
		;
	if (i < n && d[i] == '{')
		return BW_REQ_CYCLONEDX;
	return BW_REQ_TXT;
}

static enum bw_err reqs_parse(const char *name, enum bw_req_format fmt, const uint8_t *data, size_t len,
                              const char *path, struct bw_audit_reqs **out, struct bw_diag *diag)
{
	struct bw_audit_reqs *res = NULL;
	struct reqs_priv *p = NULL;
	struct bw_tnode *doc = NULL;
	enum bw_err e = BW_OK;
	const char *src;

	*out = NULL;
	res = bw_calloc(1, sizeof *res);
	p = bw_calloc(1, sizeof *p);
	if (res == NULL || p == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	bw_arena_init(&p->arena, 0);
	res->priv_ = p;
	src = bw_arena_strdup(&p->arena, name);
	if (src == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	if (fmt == BW_REQ_AUTO)
		fmt = detect(name, data, len);
	switch (fmt) {
	case BW_REQ_TXT:
		if (path != NULL)
			p->visited[p->n_visited++] = src;
		e = load_txt(p, src, (const char *)data, len, path, 0);
		break;
	case BW_REQ_CYCLONEDX:
	case BW_REQ_SPDX3:
		e = bw_tree_parse_json(&p->arena, data, len, &doc, diag);
		if (e == BW_OK)
			e = bw_tree_get(doc, "@graph") != NULL ? load_spdx3(p, src, doc) : load_cyclonedx(p, src, doc);
		break;
	default:
		e = bw_tree_parse_toml(&p->arena, data, len, &doc, diag);
		if (e != BW_OK)
			break;
		if (fmt == BW_REQ_PYPROJECT)
			e = load_pyproject(p, src, doc);
		else
			e = load_lock(p, src, doc, fmt);
		break;
	}
	if (e != BW_OK)
		goto out;
	if (p->n_problems > 0) {
		struct bw_osv_problem *pr = bw_arena_array(&p->arena, p->n_problems, sizeof *pr);

		if (pr == NULL) {
			e = BW_ERR_NOMEM;
			goto out;
		}
		memcpy(pr, p->problems, p->n_problems * sizeof *pr);
		res->problems = pr;
		res->n_problems = p->n_problems;
	}
	if (p->n > 0) {
		struct bw_audit_req *it = bw_arena_array(&p->arena, p->n, sizeof *it);

		if (it == NULL) {
			e = BW_ERR_NOMEM;
			goto out;
		}
		memcpy(it, p->items, p->n * sizeof *it);
		res->items = it;
		res->n = p->n;
	}
out:
	if (p != NULL) {
		bw_free(p->items);
		bw_free(p->problems);
		p->items = NULL;
		p->problems = NULL;
	}
	if (e != BW_OK) {
		if (res == NULL && p != NULL) {
			bw_arena_release(&p->arena);
			bw_free(p);
		}
		bw_audit_reqs_free(res);
		return e;
	}
	*out = res;
	return BW_OK;
}

enum bw_err bw_audit_reqs_parse(const char *name, enum bw_req_format fmt, const uint8_t *data,
                                size_t len, struct bw_audit_reqs **out, struct bw_diag *diag)
{
	if (out == NULL)
		return BW_ERR_ARG;
	*out = NULL;
	if (name == NULL || (data == NULL && len > 0))
		return BW_ERR_ARG;
	return reqs_parse(name, fmt, data != NULL ? data : (const uint8_t *)"", len, NULL, out, diag);
}

enum bw_err bw_audit_reqs_load(const char *path, enum bw_req_format fmt, struct bw_audit_reqs **out,
                               struct bw_diag *diag)
{
	struct bw_file_map m;
	enum bw_err e;

	if (out == NULL)
		return BW_ERR_ARG;
	*out = NULL;
	if (path == NULL)
		return BW_ERR_ARG;
	e = bw_file_map(path, REQS_MAX_FILE, &m, diag);
	if (e != BW_OK)
		return e;
	e = reqs_parse(path, fmt, m.data != NULL ? m.data : (const uint8_t *)"", m.len, path, out, diag);
	bw_file_unmap(&m);
	return e;
}

void bw_audit_reqs_free(struct bw_audit_reqs *r)
{
	struct reqs_priv *p;

	if (r == NULL)
		return;
	p = r->priv_;
	if (p != NULL) {
		bw_free(p->items);
		bw_free(p->problems);
		bw_arena_release(&p->arena);
		bw_free(p);
	}
	bw_free(r);
}
