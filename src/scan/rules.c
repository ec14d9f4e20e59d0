/*
 * rules.c - parse and look up detection rules (format: rules/README.md).
 *
 * The built-in set is the text of every rules/NAME.rules file embedded at build
 * time (bw_rules_text, generated). Parsing is strict: an unknown kind, a bad
 * severity or a duplicate pattern is an error naming the file and line, so a
 * typo can never silently disable a rule. After parsing the set is immutable.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/fileio.h"
#include "scan/rules.h"

extern const char bw_rules_text[];
extern const size_t bw_rules_text_len;

#define RULES_MAX_FILE (16u << 20)

struct bw_rules {
	struct bw_arena arena;
	struct bw_rule *all;      /* in file order */
	size_t n_all;
	const struct bw_rule **callables; /* deny + allow, sorted by pattern */
	size_t n_callables;
	const struct bw_rule **anomalies; /* sorted by id */
	size_t n_anomalies;
	struct bw_rule unknown;
};

static const char *sev_names[BW_SEV__COUNT] = {"info", "low", "medium", "high", "critical"};

const char *bw_severity_str(enum bw_severity s)
{
	return (unsigned)s < BW_SEV__COUNT ? sev_names[s] : "unknown";
}

enum bw_err bw_severity_parse(const char *s, enum bw_severity *out)
{
	unsigned i;

	for (i = 0; i < BW_SEV__COUNT; i++) {
		if (strcasecmp(s, sev_names[i]) == 0) {
			*out = (enum bw_severity)i;
			return BW_OK;
		}
	}
	return BW_ERR_ARG;
}

const char *bw_verdict_str(enum bw_verdict v)
{
	switch (v) {
	case BW_VERDICT_CLEAN:
		return "clean";
	case BW_VERDICT_FINDINGS:
		return "findings";
	case BW_VERDICT_INCOMPLETE:
		return "incomplete";
	}
	return "unknown";
}

static int cmp_rule_ptr(const void *a, const void *b)
{
	const struct bw_rule *x = *(const struct bw_rule *const *)a;
	const struct bw_rule *y = *(const struct bw_rule *const *)b;

	return strcmp(x->pattern, y->pattern);
}

static int cmp_key_rule(const void *key, const void *elem)
{
	const struct bw_rule *r = *(const struct bw_rule *const *)elem;

	return strcmp(key, r->pattern);
}

/* Trim spaces and tabs in place; returns the new start. */
static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int valid_pattern(const char *p)
{
	const char *c;

	if (*p == '\0' || *p == '.')
		return 0;
	for (c = p; *c; c++) {
		if (*c == ' ' || *c == '\t' || *c == '|')
			return 0;
		if (c[0] == '.' && (c[1] == '.' || c[1] == '\0'))
			return 0;
	}
	return 1;
}

/* Parse one non-comment line into r; returns BW_OK or sets diag. */
static enum bw_err parse_line(struct bw_rules *rs, char *line, const char *file, unsigned lineno,
                              struct bw_rule *r, struct bw_diag *diag)
{
	char *fields, *reason, *ref, *kind, *pat, *sev, *extra, *save = NULL;

	fields = line;
	reason = strchr(fields, '|');
	if (reason == NULL)
		return bw_diag_set(diag, BW_ERR_MALFORMED, lineno,
		                   "%s:%u: expected '<kind> <pattern> <severity> | <reason> | <reference>'",
		                   file, lineno);
	*reason++ = '\0';
	ref = strchr(reason, '|');
	if (ref == NULL)
		return bw_diag_set(diag, BW_ERR_MALFORMED, lineno, "%s:%u: missing '| <reference>'",
		                   file, lineno);
	*ref++ = '\0';
	if (strchr(ref, '|') != NULL)
		return bw_diag_set(diag, BW_ERR_MALFORMED, lineno, "%s:%u: too many '|' fields", file, lineno);
	kind = strtok_r(fields, " \t", &save);
	pat = strtok_r(NULL, " \t", &save);
	sev = strtok_r(NULL, " \t", &save);
	extra = strtok_r(NULL, " \t", &save);
	if (kind == NULL || pat == NULL || sev == NULL || extra != NULL)
		return bw_diag_set(diag, BW_ERR_MALFORMED, lineno,
		                   "%s:%u: expected exactly '<kind> <pattern> <severity>' before '|'",
		                   file, lineno);
	if (strcmp(kind, "deny") == 0)
		r->kind = BW_RULE_DENY;
	else if (strcmp(kind, "allow") == 0)
		r->kind = BW_RULE_ALLOW;
	else if (strcmp(kind, "anomaly") == 0)
		r->kind = BW_RULE_ANOMALY;
	else if (strcmp(kind, "unknown") == 0)
		r->kind = BW_RULE_UNKNOWN;
	else
		return bw_diag_set(diag, BW_ERR_MALFORMED, lineno,
		                   "%s:%u: unknown rule kind '%s' (deny, allow, anomaly, unknown)",
		                   file, lineno, kind);
	if (r->kind == BW_RULE_ALLOW && strlen(pat) > 2 &&
	    strcmp(pat + strlen(pat) - 2, ".*") == 0) {
		pat[strlen(pat) - 2] = '\0';
		r->prefix = 1;
	}
	if (!valid_pattern(pat))
		return bw_diag_set(diag, BW_ERR_MALFORMED, lineno, "%s:%u: bad pattern '%s'", file,
		                   lineno, pat);
	if (r->kind == BW_RULE_ALLOW) {
		if (strcmp(sev, "-") != 0)
			return bw_diag_set(diag, BW_ERR_MALFORMED, lineno,
			                   "%s:%u: allow rules take '-' as severity", file, lineno);
		r->severity = BW_SEV_INFO;
	} else if (bw_severity_parse(sev, &r->severity) != BW_OK) {
		return bw_diag_set(diag, BW_ERR_MALFORMED, lineno,
		                   "%s:%u: unknown severity '%s' (info, low, medium, high, critical)",
		                   file, lineno, sev);
	}
	if (r->kind == BW_RULE_UNKNOWN && strcmp(pat, "import") != 0)
		return bw_diag_set(diag, BW_ERR_MALFORMED, lineno,
		                   "%s:%u: 'unknown' rules take the pattern 'import'", file, lineno);
	reason = trim(reason);
	ref = trim(ref);
	if (*reason == '\0')
		return bw_diag_set(diag, BW_ERR_MALFORMED, lineno, "%s:%u: empty reason", file, lineno);
	r->pattern = bw_arena_strdup(&rs->arena, pat);
	r->reason = bw_arena_strdup(&rs->arena, reason);
	r->reference = (*ref == '\0' || strcmp(ref, "-") == 0) ? NULL : bw_arena_strdup(&rs->arena, ref);
	switch (r->kind) {
	case BW_RULE_DENY:
		r->id = bw_arena_printf(&rs->arena, "callable:%s", pat);
		break;
	case BW_RULE_ALLOW:
		r->id = bw_arena_printf(&rs->arena, "allow:%s", pat);
		break;
	case BW_RULE_ANOMALY:
		r->id = r->pattern;
		break;
	case BW_RULE_UNKNOWN:
		r->id = "import.unknown";
		break;
	}
	if (r->pattern == NULL || r->reason == NULL || r->id == NULL ||
	    (r->reference == NULL && *ref != '\0' && strcmp(ref, "-") != 0))
		return bw_diag_set(diag, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory");
	return BW_OK;
}

enum bw_err bw_rules_parse(const char *text, size_t len, const char *name, struct bw_rules **out,
                           struct bw_diag *diag)
{
	struct bw_rules *rs = NULL;
	char *copy = NULL, *line, *next;
	const char *file = name;
	size_t cap = 256, i;
	unsigned lineno = 0;
	int have_unknown = 0;
	enum bw_err e = BW_OK;

	*out = NULL;
	rs = bw_calloc(1, sizeof *rs);
	copy = bw_strndup(text, len);
	if (rs == NULL || copy == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	bw_arena_init(&rs->arena, 0);
	rs->all = bw_arena_array(&rs->arena, cap, sizeof *rs->all);
	if (rs->all == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	for (line = copy; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		if (strncmp(line, "#@file ", 7) == 0) {
			file = bw_arena_strdup(&rs->arena, trim(line + 7));
			if (file == NULL) {
				e = BW_ERR_NOMEM;
				goto out;
			}
			lineno = 0;
			continue;
		}
		{
			char *hash = strchr(line, '#');
			if (hash != NULL)
				*hash = '\0';
		}
		line = trim(line);
		if (*line == '\0')
			continue;
		if (rs->n_all == cap) {
			struct bw_rule *grown = bw_arena_array(&rs->arena, cap * 2, sizeof *grown);
			if (grown == NULL) {
				e = BW_ERR_NOMEM;
				goto out;
			}
			memcpy(grown, rs->all, cap * sizeof *grown);
			rs->all = grown;
			cap *= 2;
		}
		e = parse_line(rs, line, file, lineno, &rs->all[rs->n_all], diag);
		if (e != BW_OK)
			goto out;
		if (rs->all[rs->n_all].kind == BW_RULE_UNKNOWN) {
			if (have_unknown) {
				e = bw_diag_set(diag, BW_ERR_MALFORMED, lineno,
				                "%s:%u: a second 'unknown import' rule", file, lineno);
				goto out;
			}
			have_unknown = 1;
			rs->unknown = rs->all[rs->n_all];
		}
		rs->n_all++;
	}
	if (!have_unknown) {
		/* Unknown imports never pass silently: without a rule they are medium. */
		rs->unknown.kind = BW_RULE_UNKNOWN;
		rs->unknown.pattern = "import";
		rs->unknown.severity = BW_SEV_MEDIUM;
		rs->unknown.id = "import.unknown";
		rs->unknown.reason = "imports code that no rule names; review it before loading";
		rs->unknown.reference = NULL;
	}
	rs->callables = bw_arena_array(&rs->arena, rs->n_all + 1, sizeof *rs->callables);
	rs->anomalies = bw_arena_array(&rs->arena, rs->n_all + 1, sizeof *rs->anomalies);
	if (rs->callables == NULL || rs->anomalies == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < rs->n_all; i++) {
		if (rs->all[i].kind == BW_RULE_DENY || rs->all[i].kind == BW_RULE_ALLOW)
			rs->callables[rs->n_callables++] = &rs->all[i];
		else if (rs->all[i].kind == BW_RULE_ANOMALY)
			rs->anomalies[rs->n_anomalies++] = &rs->all[i];
	}
	qsort(rs->callables, rs->n_callables, sizeof *rs->callables, cmp_rule_ptr);
	qsort(rs->anomalies, rs->n_anomalies, sizeof *rs->anomalies, cmp_rule_ptr);
	for (i = 1; i < rs->n_callables; i++) {
		if (strcmp(rs->callables[i]->pattern, rs->callables[i - 1]->pattern) == 0) {
			e = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
			                "%s: '%s' is named by two rules", name, rs->callables[i]->pattern);
			goto out;
		}
	}
	for (i = 1; i < rs->n_anomalies; i++) {
		if (strcmp(rs->anomalies[i]->pattern, rs->anomalies[i - 1]->pattern) == 0) {
			e = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
			                "%s: anomaly '%s' is defined twice", name, rs->anomalies[i]->pattern);
			goto out;
		}
	}
	*out = rs;
	rs = NULL;
out:
	if (e == BW_ERR_NOMEM)
		(void)bw_diag_set(diag, e, BW_NO_OFFSET, "out of memory while parsing rules");
	bw_free(copy);
	bw_rules_free(rs);
	return e;
}

void bw_rules_free(struct bw_rules *r)
{
	if (r == NULL)
		return;
	bw_arena_release(&r->arena);
	bw_free(r);
}

static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;
static struct bw_rules *builtin_rules;
static struct bw_diag builtin_diag;
static enum bw_err builtin_err;

static void load_builtin(void)
{
	bw_diag_clear(&builtin_diag);
	builtin_err = bw_rules_parse(bw_rules_text, bw_rules_text_len, "built-in rules",
	                             &builtin_rules, &builtin_diag);
}

enum bw_err bw_rules_builtin(const struct bw_rules **out, struct bw_diag *diag)
{
	*out = NULL;
	pthread_once(&builtin_once, load_builtin);
	if (builtin_err != BW_OK) {
		if (diag != NULL)
			*diag = builtin_diag;
		return builtin_err;
	}
	*out = builtin_rules;
	return BW_OK;
}

enum bw_err bw_rules_load_file(const char *path, struct bw_rules **out, struct bw_diag *diag)
{
	struct bw_file_map m;
	enum bw_err e;

	*out = NULL;
	e = bw_file_map(path, RULES_MAX_FILE, &m, diag);
	if (e != BW_OK)
		return e;
	e = bw_rules_parse((const char *)m.data, m.len, path, out, diag);
	bw_file_unmap(&m);
	return e;
}

const struct bw_rule *bw_rules_match_callable(const struct bw_rules *rs, const char *fullname)
{
	char key[512];
	const struct bw_rule *const *hit;
	size_t n = strlen(fullname);
	char *dot;

	if (n >= sizeof key) {
		/* Names this long are not in any rule file; match on the first 511 bytes' prefixes. */
		n = sizeof key - 1;
	}
	memcpy(key, fullname, n);
	key[n] = '\0';
	hit = bsearch(key, rs->callables, rs->n_callables, sizeof *rs->callables, cmp_key_rule);
	/* an exact "module.*" allow names the module object itself, which is not a class */
	if (hit != NULL && n == strlen(fullname) && !(*hit)->prefix)
		return *hit;
	/* Dotted prefixes, longest first: a parent module's verdict covers its children. */
	while ((dot = strrchr(key, '.')) != NULL) {
		*dot = '\0';
		hit = bsearch(key, rs->callables, rs->n_callables, sizeof *rs->callables, cmp_key_rule);
		if (hit != NULL && ((*hit)->kind == BW_RULE_DENY || (*hit)->prefix))
			return *hit;
	}
	return NULL;
}

const struct bw_rule *bw_rules_anomaly(const struct bw_rules *rs, const char *id)
{
	const struct bw_rule *const *hit;

	hit = bsearch(id, rs->anomalies, rs->n_anomalies, sizeof *rs->anomalies, cmp_key_rule);
	return hit == NULL ? NULL : *hit;
}

const struct bw_rule *bw_rules_unknown(const struct bw_rules *rs)
{
	return &rs->unknown;
}

size_t bw_rules_count(const struct bw_rules *rs)
{
	return rs->n_all;
}

const struct bw_rule *bw_rules_at(const struct bw_rules *rs, size_t i)
{
	return i < rs->n_all ? &rs->all[i] : NULL;
}
