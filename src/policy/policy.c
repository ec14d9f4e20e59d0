/*
 * policy.c - parse the policy language (YAML, docs/policy.md) strictly.
 *
 * Every key is known or an error; every error names the file and line. A
 * policy decides what may reach production, so a typo must never silently
 * weaken it: unknown keys, wrong types, bad severities or dates, and
 * exceptions without an owner, reason or expiry are all refused. Missing
 * sections take safe defaults (bw_policy_default).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/fileio.h"
#include "policy/policy_internal.h"

#define POLICY_MAX_FILE (1u << 20)
#define POLICY_MAX_LIST 10000

struct pctx {
	yaml_document_t *doc;
	struct bw_policy *p;
	struct bw_diag *diag;
	const char *name;
	enum bw_err err;
};

const char *bw_decision_str(enum bw_decision d)
{
	switch (d) {
	case BW_DECISION_ALLOW:
		return "allow";
	case BW_DECISION_REVIEW:
		return "review";
	case BW_DECISION_DENY:
		return "deny";
	}
	return "unknown";
}

static unsigned line_of(const yaml_node_t *n)
{
	return n ? (unsigned)n->start_mark.line + 1 : 0;
}

__attribute__((format(printf, 3, 4))) static int perr(struct pctx *c, const yaml_node_t *n,
                                                     const char *fmt, ...)
{
	char msg[128];
	va_list ap;

	if (c->err != BW_OK)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->err = BW_ERR_MALFORMED;
	(void)bw_diag_set(c->diag, BW_ERR_MALFORMED, line_of(n), "%s:%u: %s", c->name, line_of(n), msg);
	return -1;
}

static const char *scalar(struct pctx *c, const yaml_node_t *n, const char *key)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE) {
		perr(c, n, "'%s' takes a single value", key);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

static const char *dup_scalar(struct pctx *c, const yaml_node_t *n, const char *key)
{
	const char *s = scalar(c, n, key);
	char *d;

	if (s == NULL)
		return NULL;
	d = bw_arena_strdup(&c->p->arena, s);
	if (d == NULL && c->err == BW_OK) {
		c->err = BW_ERR_NOMEM;
		(void)bw_diag_set(c->diag, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory");
	}
	return d;
}

static int parse_bool(struct pctx *c, const yaml_node_t *n, const char *key, int *out)
{
	const char *s = scalar(c, n, key);

	if (s == NULL)
		return -1;
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)
		*out = 1;
	else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0)
		*out = 0;
	else
		return perr(c, n, "'%s' takes true or false, not '%s'", key, s);
	return 0;
}

static int parse_sev(struct pctx *c, const yaml_node_t *n, const char *key, enum bw_severity *out)
{
	const char *s = scalar(c, n, key);

	if (s == NULL)
		return -1;
	if (bw_severity_parse(s, out) != BW_OK)
		return perr(c, n, "'%s': unknown severity '%s' (info, low, medium, high, critical)", key, s);
	return 0;
}

static int parse_action(struct pctx *c, const yaml_node_t *n, const char *key, enum bw_decision *out)
{
	const char *s = scalar(c, n, key);

	if (s == NULL)
		return -1;
	if (strcmp(s, "allow") == 0)
		*out = BW_DECISION_ALLOW;
	else if (strcmp(s, "review") == 0)
		*out = BW_DECISION_REVIEW;
	else if (strcmp(s, "deny") == 0)
		*out = BW_DECISION_DENY;
	else
		return perr(c, n, "'%s' takes allow, review or deny, not '%s'", key, s);
	return 0;
}

static int parse_list(struct pctx *c, const yaml_node_t *n, const char *key, const char ***out,
                      size_t *count)
{
	yaml_node_item_t *it;
	size_t i = 0, cnt;
	const char **v;

	if (n == NULL || n->type != YAML_SEQUENCE_NODE)
		return perr(c, n, "'%s' takes a list", key);
	cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (cnt > POLICY_MAX_LIST)
		return perr(c, n, "'%s' has more than %d entries", key, POLICY_MAX_LIST);
	v = bw_arena_array(&c->p->arena, cnt + 1, sizeof *v);
	if (v == NULL) {
		c->err = BW_ERR_NOMEM;
		return -1;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		v[i] = dup_scalar(c, yaml_document_get_node(c->doc, *it), key);
		if (v[i] == NULL)
			return -1;
		i++;
	}
	*out = v;
	*count = cnt;
	return 0;
}

/* Parse YYYY-MM-DD; *end is the first second after that day, UTC. */
static int parse_date(const char *s, time_t *end)
{
	struct tm tm;
	int y, m, d;
	char tail;

	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || s[4] != '-' ||
	    s[7] != '-')
		return -1;
	if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d + 1;
	*end = timegm(&tm);
	/* reject 2026-02-31 and friends: the normalised day must be the next one */
	{
		struct tm chk;
		time_t day = *end - 86400;
		gmtime_r(&day, &chk);
		if (chk.tm_mday != d || chk.tm_mon != m - 1)
			return -1;
	}
	return 0;
}

typedef int (*key_fn)(struct pctx *c, const char *key, const yaml_node_t *v, void *obj);

struct key_def {
	const char *key;
	key_fn fn;
};

/* Walk a mapping, dispatching each key; unknown and repeated keys are errors. */
static int walk_map(struct pctx *c, const yaml_node_t *n, const char *what,
                    const struct key_def *defs, size_t n_defs, void *obj)
{
	yaml_node_pair_t *pair;
	unsigned seen = 0;
	size_t i;

	if (n == NULL || n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'%s' takes a mapping of keys", what);
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);
		const char *key = scalar(c, k, what);

		if (key == NULL)
			return -1;
		for (i = 0; i < n_defs; i++)
			if (strcmp(defs[i].key, key) == 0)
				break;
		if (i == n_defs) {
			char known[96] = "";
			size_t j;
			for (j = 0; j < n_defs; j++) {
				if (strlen(known) + strlen(defs[j].key) + 3 >= sizeof known)
					break;
				strcat(known, j ? ", " : "");
				strcat(known, defs[j].key);
			}
			return perr(c, k, "unknown key '%s' in %s (known: %s)", key, what, known);
		}
		if (seen & (1u << i))
			return perr(c, k, "key '%s' appears twice in %s", key, what);
		seen |= 1u << i;
		if (defs[i].fn(c, key, v, obj) != 0)
			return -1;
	}
	return 0;
}

#define P(obj) ((struct bw_policy *)(obj))

static int k_version(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	const char *s = scalar(c, v, key);

	(void)obj;
	if (s == NULL)
		return -1;
	if (strcmp(s, "1") != 0) {
		perr(c, v, "unsupported policy version '%s' (this bulwark reads version 1)", s);
		c->err = BW_ERR_UNSUPPORTED;
		if (c->diag)
			c->diag->code = BW_ERR_UNSUPPORTED;
		return -1;
	}
	return 0;
}

static int k_scan_enabled(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return parse_bool(c, v, key, &P(obj)->scan_enabled);
}
static int k_deny_on(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return parse_sev(c, v, key, &P(obj)->deny_on);
}
static int k_review_on(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	const char *s = scalar(c, v, key);

	if (s != NULL && strcmp(s, "none") == 0) {
		P(obj)->review_enabled = 0;
		return 0;
	}
	P(obj)->review_enabled = 1;
	return parse_sev(c, v, key, &P(obj)->review_on);
}
static int k_incomplete(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return parse_action(c, v, key, &P(obj)->incomplete_action);
}

static int k_scan(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	static const struct key_def defs[] = {
		{"enabled", k_scan_enabled}, {"deny_on", k_deny_on},
		{"review_on", k_review_on},  {"incomplete", k_incomplete},
	};

	return walk_map(c, v, key, defs, sizeof defs / sizeof defs[0], obj);
}

static int k_fmt_allow(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	P(obj)->formats_allow_set = 1;
	return parse_list(c, v, key, &P(obj)->formats_allow, &P(obj)->n_formats_allow);
}
static int k_fmt_deny(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return parse_list(c, v, key, &P(obj)->formats_deny, &P(obj)->n_formats_deny);
}
static int k_pickle(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return parse_action(c, v, key, &P(obj)->pickle_action);
}
static int k_formats(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	static const struct key_def defs[] = {
		{"allow", k_fmt_allow}, {"deny", k_fmt_deny}, {"pickle_based", k_pickle},
	};

	return walk_map(c, v, key, defs, sizeof defs / sizeof defs[0], obj);
}

static int k_sig_required(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return parse_bool(c, v, key, &P(obj)->sig_required);
}
static int k_sig_keys(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return parse_list(c, v, key, &P(obj)->sig_keys, &P(obj)->n_sig_keys);
}
static int k_sig_file(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	P(obj)->sig_file = dup_scalar(c, v, key);
	return P(obj)->sig_file ? 0 : -1;
}

struct ident_obj {
	struct bw_policy_identity *id;
};
static int k_ident_identity(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	((struct ident_obj *)obj)->id->identity = dup_scalar(c, v, key);
	return ((struct ident_obj *)obj)->id->identity ? 0 : -1;
}
static int k_ident_issuer(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	((struct ident_obj *)obj)->id->issuer = dup_scalar(c, v, key);
	return ((struct ident_obj *)obj)->id->issuer ? 0 : -1;
}
static int k_sig_identities(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	static const struct key_def defs[] = {
		{"identity", k_ident_identity}, {"issuer", k_ident_issuer},
	};
	struct bw_policy *p = obj;
	yaml_node_item_t *it;
	size_t cnt, i = 0;

	if (v == NULL || v->type != YAML_SEQUENCE_NODE)
		return perr(c, v, "'%s' takes a list of {identity, issuer}", key);
	cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (cnt > POLICY_MAX_LIST)
		return perr(c, v, "'%s' has too many entries", key);
	p->sig_identities = bw_arena_array(&p->arena, cnt + 1, sizeof *p->sig_identities);
	if (p->sig_identities == NULL) {
		c->err = BW_ERR_NOMEM;
		return -1;
	}
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++, i++) {
		struct ident_obj io = {&p->sig_identities[i]};
		yaml_node_t *n = yaml_document_get_node(c->doc, *it);
		if (walk_map(c, n, key, defs, 2, &io) != 0)
			return -1;
		if (io.id->identity == NULL || io.id->issuer == NULL)
			return perr(c, n, "each identity needs both 'identity' and 'issuer'");
	}
	p->n_sig_identities = cnt;
	return 0;
}
static int k_sig_root(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	P(obj)->sig_trusted_root = dup_scalar(c, v, key);
	return P(obj)->sig_trusted_root ? 0 : -1;
}
static int k_signature(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	static const struct key_def defs[] = {
		{"required", k_sig_required},
		{"keys", k_sig_keys},
		{"identities", k_sig_identities},
		{"signature_file", k_sig_file},
		{"trusted_root", k_sig_root},
	};
	struct bw_policy *p = obj;
	int rc = walk_map(c, v, key, defs, sizeof defs / sizeof defs[0], obj);

	if (rc == 0 && p->sig_required && p->n_sig_keys == 0 && p->n_sig_identities == 0)
		return perr(c, v, "signature.required needs 'keys' or 'identities' to verify against");
	if (rc == 0 && p->n_sig_identities > 0 && p->sig_trusted_root == NULL)
		return perr(c, v, "signature.identities need 'trusted_root' (a Sigstore trusted_root.json)");
	return rc;
}

static int k_lic_allow(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	P(obj)->lic_set = 1;
	return parse_list(c, v, key, &P(obj)->lic_allow, &P(obj)->n_lic_allow);
}
static int k_lic_deny(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	P(obj)->lic_set = 1;
	return parse_list(c, v, key, &P(obj)->lic_deny, &P(obj)->n_lic_deny);
}
static int k_lic_unknown(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	P(obj)->lic_set = 1;
	return parse_action(c, v, key, &P(obj)->lic_unknown_action);
}
static int k_licenses(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	static const struct key_def defs[] = {
		{"allow", k_lic_allow}, {"deny", k_lic_deny}, {"unknown", k_lic_unknown},
	};

	return walk_map(c, v, key, defs, sizeof defs / sizeof defs[0], obj);
}

static int k_deps_req(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	P(obj)->deps_requirements = dup_scalar(c, v, key);
	return P(obj)->deps_requirements ? 0 : -1;
}
static int k_deps_db(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	P(obj)->deps_db = dup_scalar(c, v, key);
	return P(obj)->deps_db ? 0 : -1;
}
static int k_deps_fail(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return parse_sev(c, v, key, &P(obj)->deps_fail_on);
}
static int k_dependencies(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	static const struct key_def defs[] = {
		{"requirements", k_deps_req}, {"db", k_deps_db}, {"fail_on", k_deps_fail},
	};
	int rc;

	P(obj)->deps_set = 1;
	rc = walk_map(c, v, key, defs, sizeof defs / sizeof defs[0], obj);
	if (rc == 0 && (P(obj)->deps_requirements == NULL || P(obj)->deps_db == NULL))
		return perr(c, v, "'dependencies' needs both 'requirements' and 'db'");
	return rc;
}

static int k_prov_required(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return parse_bool(c, v, key, &P(obj)->prov_required);
}
static int k_prov_att(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return parse_list(c, v, key, &P(obj)->prov_attestations, &P(obj)->n_prov_attestations);
}
static int k_prov_key(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	P(obj)->prov_key = dup_scalar(c, v, key);
	return P(obj)->prov_key ? 0 : -1;
}
static int k_provenance(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	static const struct key_def defs[] = {
		{"required", k_prov_required}, {"attestations", k_prov_att}, {"key", k_prov_key},
	};
	struct bw_policy *p = obj;
	int rc = walk_map(c, v, key, defs, sizeof defs / sizeof defs[0], obj);

	if (rc == 0 && p->prov_required && (p->n_prov_attestations == 0 || p->prov_key == NULL))
		return perr(c, v, "provenance.required needs 'attestations' and 'key'");
	return rc;
}

#define E(obj) ((struct bw_policy_exception *)(obj))
static int k_ex_id(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return (E(obj)->id = dup_scalar(c, v, key)) ? 0 : -1;
}
static int k_ex_owner(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return (E(obj)->owner = dup_scalar(c, v, key)) ? 0 : -1;
}
static int k_ex_reason(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return (E(obj)->reason = dup_scalar(c, v, key)) ? 0 : -1;
}
static int k_ex_check(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	static const char *const checks[] = {"scan", "format", "signature", "license",
	                                     "dependencies", "provenance"};
	size_t i;

	if ((E(obj)->check = dup_scalar(c, v, key)) == NULL)
		return -1;
	for (i = 0; i < sizeof checks / sizeof checks[0]; i++)
		if (strcmp(checks[i], E(obj)->check) == 0)
			return 0;
	return perr(c, v, "unknown check '%s' (scan, format, signature, license, dependencies, "
	                  "provenance)", E(obj)->check);
}
static int k_ex_rule(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return (E(obj)->rule = dup_scalar(c, v, key)) ? 0 : -1;
}
static int k_ex_path(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	return (E(obj)->path = dup_scalar(c, v, key)) ? 0 : -1;
}
static int k_ex_expires(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	if ((E(obj)->expires_str = dup_scalar(c, v, key)) == NULL)
		return -1;
	if (parse_date(E(obj)->expires_str, &E(obj)->expires) != 0)
		return perr(c, v, "'expires' takes a date YYYY-MM-DD, not '%s'", E(obj)->expires_str);
	return 0;
}

static int k_exceptions(struct pctx *c, const char *key, const yaml_node_t *v, void *obj)
{
	static const struct key_def defs[] = {
		{"id", k_ex_id},       {"owner", k_ex_owner}, {"reason", k_ex_reason},
		{"expires", k_ex_expires}, {"check", k_ex_check}, {"rule", k_ex_rule},
		{"path", k_ex_path},
	};
	struct bw_policy *p = obj;
	yaml_node_item_t *it;
	size_t cnt, i = 0, j;

	if (v == NULL || v->type != YAML_SEQUENCE_NODE)
		return perr(c, v, "'%s' takes a list of exceptions", key);
	cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (cnt > POLICY_MAX_LIST)
		return perr(c, v, "'%s' has too many entries", key);
	p->exceptions = bw_arena_array(&p->arena, cnt + 1, sizeof *p->exceptions);
	if (p->exceptions == NULL) {
		c->err = BW_ERR_NOMEM;
		return -1;
	}
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++, i++) {
		struct bw_policy_exception *ex = &p->exceptions[i];
		yaml_node_t *n = yaml_document_get_node(c->doc, *it);

		ex->line = line_of(n);
		if (walk_map(c, n, "an exception", defs, sizeof defs / sizeof defs[0], ex) != 0)
			return -1;
		if (ex->id == NULL || ex->owner == NULL || ex->reason == NULL || ex->expires_str == NULL)
			return perr(c, n, "an exception needs 'id', 'owner', 'reason' and 'expires'");
		if (ex->check == NULL && ex->rule == NULL && ex->path == NULL)
			return perr(c, n, "exception '%s' matches everything: give 'check', 'rule' or 'path'",
			            ex->id);
		for (j = 0; j < i; j++)
			if (strcmp(p->exceptions[j].id, ex->id) == 0)
				return perr(c, n, "exception id '%s' is used twice", ex->id);
	}
	p->n_exceptions = cnt;
	return 0;
}

static struct bw_policy *policy_new(const char *name)
{
	struct bw_policy *p = bw_calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	bw_arena_init(&p->arena, 64u << 20);
	/* Safe defaults (docs/policy.md). */
	p->scan_enabled = 1;
	p->deny_on = BW_SEV_HIGH;
	p->review_enabled = 1;
	p->review_on = BW_SEV_MEDIUM;
	p->incomplete_action = BW_DECISION_DENY;
	p->pickle_action = BW_DECISION_REVIEW;
	p->lic_unknown_action = BW_DECISION_REVIEW;
	p->deps_fail_on = BW_SEV_HIGH;
	p->sig_file = "model.sig";
	p->name = bw_arena_strdup(&p->arena, name);
	if (p->name == NULL) {
		bw_policy_free(p);
		return NULL;
	}
	return p;
}

void bw_policy_free(struct bw_policy *p)
{
	if (p == NULL)
		return;
	bw_arena_release(&p->arena);
	bw_free(p);
}

enum bw_err bw_policy_default(struct bw_policy **out)
{
	*out = policy_new("built-in default policy");
	return *out ? BW_OK : BW_ERR_NOMEM;
}

enum bw_err bw_policy_parse(const char *text, size_t len, const char *name, struct bw_policy **out,
                            struct bw_diag *diag)
{
	static const struct key_def top[] = {
		{"version", k_version},       {"scan", k_scan},
		{"formats", k_formats},       {"signature", k_signature},
		{"licenses", k_licenses},     {"dependencies", k_dependencies},
		{"provenance", k_provenance}, {"exceptions", k_exceptions},
	};
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	struct pctx c;
	struct bw_policy *p;
	yaml_node_pair_t *pair;
	int have_version = 0;

	*out = NULL;
	p = policy_new(name);
	if (p == NULL)
		return BW_ERR_NOMEM;
	if (!yaml_parser_initialize(&parser)) {
		bw_policy_free(p);
		return BW_ERR_NOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		enum bw_err e = bw_diag_set(diag, BW_ERR_MALFORMED, parser.problem_mark.line + 1,
		                            "%s:%zu: YAML error: %s", name, parser.problem_mark.line + 1,
		                            parser.problem ? parser.problem : "unreadable");
		yaml_parser_delete(&parser);
		bw_policy_free(p);
		return e;
	}
	c.doc = &doc;
	c.p = p;
	c.diag = diag;
	c.name = name;
	c.err = BW_OK;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL) {
		(void)bw_diag_set(diag, BW_ERR_MALFORMED, 1, "%s:1: the policy is empty (it needs at "
		                  "least 'version: 1')", name);
		c.err = BW_ERR_MALFORMED;
	} else if (walk_map(&c, root, "the policy", top, sizeof top / sizeof top[0], p) == 0) {
		for (pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++) {
			yaml_node_t *k = yaml_document_get_node(&doc, pair->key);
			if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, "version") == 0)
				have_version = 1;
		}
		if (!have_version)
			perr(&c, root, "the policy needs 'version: 1'");
	}
	if (c.err == BW_OK && p->review_enabled && p->review_on > p->deny_on)
		perr(&c, root, "scan.review_on (%s) is above scan.deny_on (%s)",
		     bw_severity_str(p->review_on), bw_severity_str(p->deny_on));
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (c.err != BW_OK) {
		bw_policy_free(p);
		return c.err;
	}
	*out = p;
	return BW_OK;
}

enum bw_err bw_policy_load_file(const char *path, struct bw_policy **out, struct bw_diag *diag)
{
	struct bw_file_map m;
	enum bw_err e;

	*out = NULL;
	e = bw_file_map(path, POLICY_MAX_FILE, &m, diag);
	if (e != BW_OK)
		return e;
	e = bw_policy_parse((const char *)m.data, m.len, path, out, diag);
	bw_file_unmap(&m);
	return e;
}
