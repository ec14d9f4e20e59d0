/*
 * gate.c - run what a policy asks for and decide: allow, review or deny.
 *
 * Each check turns what it found into reasons with an effect; exceptions that
 * have not expired waive matching reasons (and say so); the decision is the
 * strongest effect of the reasons left. A check the policy requires but this
 * build cannot perform produces a deny reason saying so: the gate fails closed.
 */
#include <fnmatch.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/fileio.h"
#include "core/json.h"
#include "bulwark/audit.h"
#include "bulwark/provenance.h"
#include "bulwark/sbom.h"
#include "bulwark/sign.h"
#include "policy/policy_internal.h"

struct gate {
	const struct bw_policy *p;
	time_t now;
	struct bw_arena *arena;
	struct bw_gate_reason *reasons;
	size_t n, cap;
	size_t n_files;
	size_t n_expired;
	int nomem;
};

static const char *const pickle_family[] = {"pickle",  "pytorch-legacy", "pytorch-zip", "pytorch-tar",
                                            "joblib", "numpy-object"};

static int in_list(const char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

static int rule_matches(const char *pattern, const char *rule)
{
	size_t n = strlen(pattern);

	if (n > 0 && pattern[n - 1] == '*')
		return strncmp(pattern, rule, n - 1) == 0;
	return strcmp(pattern, rule) == 0;
}

static void add_reason(struct gate *g, const char *check, const char *subject, const char *rule,
                       enum bw_decision effect, const char *message)
{
	struct bw_gate_reason *r;
	size_t i;

	if (effect == BW_DECISION_ALLOW || g->nomem)
		return;
	if (g->n == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 32;
		struct bw_gate_reason *nv = bw_arena_array(g->arena, ncap, sizeof *nv);
		if (nv == NULL) {
			g->nomem = 1;
			return;
		}
		if (g->n)
			memcpy(nv, g->reasons, g->n * sizeof *nv);
		g->reasons = nv;
		g->cap = ncap;
	}
	r = &g->reasons[g->n];
	memset(r, 0, sizeof *r);
	r->check = check;
	r->subject = bw_arena_strdup(g->arena, subject);
	r->rule = bw_arena_strdup(g->arena, rule);
	r->message = bw_arena_strdup(g->arena, message);
	r->effect = effect;
	if (r->subject == NULL || r->rule == NULL || r->message == NULL) {
		g->nomem = 1;
		return;
	}
	/* Exceptions: the first matching one decides; an expired one is reported, never applied. */
	for (i = 0; i < g->p->n_exceptions; i++) {
		const struct bw_policy_exception *ex = &g->p->exceptions[i];
		if (ex->check && strcmp(ex->check, check) != 0)
			continue;
		if (ex->rule && !rule_matches(ex->rule, rule))
			continue;
		if (ex->path && fnmatch(ex->path, subject, 0) != 0)
			continue;
		if (g->now >= ex->expires) {
			g->n_expired++;
			r->message = bw_arena_printf(g->arena, "%s (exception %s expired on %s; not applied)",
			                             message, ex->id, ex->expires_str);
			if (r->message == NULL)
				r->message = message;
			continue;
		}
		r->waived_by = ex->id;
		r->waiver_owner = ex->owner;
		r->waiver_expires = ex->expires_str;
		break;
	}
	g->n++;
}

static void on_scan(void *user, size_t index, size_t total, struct bw_scan_result *res)
{
	struct gate *g = user;
	const struct bw_policy *p = g->p;
	size_t i;
	char *subject, *msg;

	(void)index;
	(void)total;
	g->n_files++;
	if (p->scan_enabled) {
		for (i = 0; i < res->n_findings; i++) {
			const struct bw_finding *f = &res->findings[i];
			enum bw_decision eff = BW_DECISION_ALLOW;

			if (f->severity >= p->deny_on)
				eff = BW_DECISION_DENY;
			else if (p->review_enabled && f->severity >= p->review_on)
				eff = BW_DECISION_REVIEW;
			if (eff == BW_DECISION_ALLOW)
				continue;
			subject = *f->location ? bw_arena_printf(g->arena, "%s!/%s", res->path, f->location)
			                       : bw_arena_strdup(g->arena, res->path);
			msg = bw_arena_printf(g->arena, "%s finding: %s", bw_severity_str(f->severity),
			                      f->message);
			if (subject == NULL || msg == NULL) {
				g->nomem = 1;
				break;
			}
			add_reason(g, "scan", subject, f->rule, eff, msg);
		}
		if (res->incomplete) {
			msg = bw_arena_printf(g->arena, "not fully scanned: %s",
			                      res->incomplete_reason ? res->incomplete_reason : "unknown reason");
			if (msg != NULL)
				add_reason(g, "scan", res->path, "scan.incomplete", p->incomplete_action, msg);
		}
	}
	if (strcmp(res->format, "data") != 0 && strcmp(res->format, "unknown") != 0) {
		if (p->formats_allow_set && !in_list(p->formats_allow, p->n_formats_allow, res->format)) {
			msg = bw_arena_printf(g->arena, "format '%s' is not in formats.allow", res->format);
			if (msg != NULL)
				add_reason(g, "format", res->path, "formats.allow", BW_DECISION_DENY, msg);
		}
		if (in_list(p->formats_deny, p->n_formats_deny, res->format)) {
			msg = bw_arena_printf(g->arena, "format '%s' is in formats.deny", res->format);
			if (msg != NULL)
				add_reason(g, "format", res->path, "formats.deny", BW_DECISION_DENY, msg);
		}
		if (in_list(pickle_family, sizeof pickle_family / sizeof pickle_family[0], res->format)) {
			msg = bw_arena_printf(g->arena, "format '%s' is pickle-based: loading it can run code; "
			                      "convert to safetensors", res->format);
			if (msg != NULL)
				add_reason(g, "format", res->path, "formats.pickle_based", p->pickle_action, msg);
		}
	}
	bw_scan_result_free(res);
}

static char *read_small(const char *path, size_t *len)
{
	struct bw_file_map m;
	char *b = NULL;

	if (bw_file_map(path, 16u << 20, &m, NULL) != BW_OK)
		return NULL;
	b = bw_malloc(m.len + 1);
	if (b != NULL) {
		memcpy(b, m.data, m.len);
		b[m.len] = '\0';
		*len = m.len;
	}
	bw_file_unmap(&m);
	return b;
}

/* Where the signature of a model lives: DIR/<signature_file>, or beside a single file. */
static char *sig_path_for(struct gate *g, const char *model)
{
	struct stat st;
	const char *slash;

	if (stat(model, &st) == 0 && S_ISDIR(st.st_mode))
		return bw_arena_printf(g->arena, "%s/%s", model, g->p->sig_file);
	slash = strrchr(model, '/');
	if (slash == NULL)
		return bw_arena_strdup(g->arena, g->p->sig_file);
	return bw_arena_printf(g->arena, "%.*s/%s", (int)(slash - model), model, g->p->sig_file);
}

/* Verified by any of the policy's keys (or its identities through the trusted root). */
static void check_signature(struct gate *g, const char *model)
{
	const struct bw_policy *p = g->p;
	char *sig = sig_path_for(g, model), *bundle, *trust, *msg;
	size_t blen = 0, tlen = 0, i;
	struct bw_verify_opts vo;
	struct bw_verify_result vr;
	struct bw_diag d;
	int verified = 0;
	char last[300] = "no key given";

	if (sig == NULL || (bundle = read_small(sig, &blen)) == NULL) {
		msg = bw_arena_printf(g->arena, "no readable signature at %s", sig ? sig : "?");
		add_reason(g, "signature", model, "signature.missing", BW_DECISION_DENY, msg ? msg : "");
		return;
	}
	for (i = 0; i < p->n_sig_keys + p->n_sig_identities && !verified; i++) {
		int by_key = i < p->n_sig_keys;
		const char *tpath = by_key ? p->sig_keys[i] : p->sig_trusted_root;

		trust = read_small(tpath, &tlen);
		if (trust == NULL) {
			snprintf(last, sizeof last, "cannot read %s", tpath);
			continue;
		}
		bw_verify_opts_init(&vo);
		vo.mode = by_key ? BW_VERIFY_KEY : BW_VERIFY_SIGSTORE;
		vo.trust = (const uint8_t *)trust;
		vo.trust_len = tlen;
		if (!by_key) {
			vo.identity = p->sig_identities[i - p->n_sig_keys].identity;
			vo.issuer = p->sig_identities[i - p->n_sig_keys].issuer;
		}
		bw_verify_result_init(&vr);
		bw_diag_clear(&d);
		if (bw_verify_model(model, sig, (const uint8_t *)bundle, blen, &vo, &vr, &d) == BW_OK &&
		    vr.verified)
			verified = 1;
		else
			snprintf(last, sizeof last, "%s", vr.reason[0] ? vr.reason : d.what);
		bw_verify_result_release(&vr);
		bw_free(trust);
	}
	bw_free(bundle);
	if (!verified) {
		msg = bw_arena_printf(g->arena, "signature does not verify with any trusted key or identity: %s",
		                      last);
		add_reason(g, "signature", model, "signature.invalid", BW_DECISION_DENY, msg ? msg : "");
	}
}

static void check_provenance(struct gate *g, const char *model)
{
	const struct bw_policy *p = g->p;
	struct bw_lineage_report *r = NULL;
	struct bw_diag d;
	char *key, *msg;
	size_t klen = 0, i;
	struct stat st;

	if (stat(model, &st) == 0 && S_ISDIR(st.st_mode)) {
		add_reason(g, "provenance", model, "provenance.required", BW_DECISION_REVIEW,
		           "provenance is checked per model file; give the model files, not the folder");
		return;
	}
	key = read_small(p->prov_key, &klen);
	bw_diag_clear(&d);
	if (key == NULL || bw_lineage_check(model, p->prov_attestations, p->n_prov_attestations,
	                                    (const uint8_t *)key, klen, &r, &d) != BW_OK) {
		msg = bw_arena_printf(g->arena, "lineage could not be checked: %s",
		                      key ? d.what : "cannot read provenance.key");
		add_reason(g, "provenance", model, "provenance.unchecked", BW_DECISION_DENY, msg ? msg : "");
		bw_free(key);
		return;
	}
	bw_free(key);
	for (i = 0; i < r->n_links; i++) {
		if (r->links[i].ok)
			continue;
		msg = bw_arena_printf(g->arena, "%s %s: %s", r->links[i].kind, r->links[i].name,
		                      r->links[i].detail);
		add_reason(g, "provenance", model, "provenance.broken", BW_DECISION_DENY, msg ? msg : "");
	}
	bw_lineage_free(r);
}

static int in_list_ci(const char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(v[i], s) == 0)
			return 1;
	return 0;
}

/* Licence ids/names of the model component(s) of a CycloneDX document. */
static void collect_licenses(json_t *comp, json_t *out)
{
	json_t *lic, *l;
	size_t i;
	const char *id;

	if (!json_is_object(comp))
		return;
	lic = json_object_get(comp, "licenses");
	json_array_foreach(lic, i, l) {
		json_t *x = json_object_get(l, "license");
		id = json_string_value(json_object_get(x, "id"));
		if (id == NULL)
			id = json_string_value(json_object_get(x, "name"));
		if (id == NULL)
			id = json_string_value(json_object_get(l, "expression"));
		if (id != NULL)
			json_array_append_new(out, json_string(id));
	}
}

/* The model's licence, as the SBOM reads it (config.json, README front matter). */
static void check_license(struct gate *g, const char *model)
{
	const struct bw_policy *p = g->p;
	struct bw_sbom_opts so;
	struct bw_diag d;
	struct stat st;
	char *doc = NULL, *dir, *msg;
	size_t len = 0, i;
	json_t *root, *comps, *c, *lics;
	json_error_t jerr;
	const char *slash;

	if (stat(model, &st) == 0 && S_ISDIR(st.st_mode))
		dir = bw_arena_strdup(g->arena, model);
	else if ((slash = strrchr(model, '/')) != NULL)
		dir = bw_arena_strndup(g->arena, model, (size_t)(slash - model));
	else
		dir = bw_arena_strdup(g->arena, ".");
	if (dir == NULL) {
		g->nomem = 1;
		return;
	}
	bw_sbom_opts_default(&so);
	so.model_dir = dir;
	bw_diag_clear(&d);
	if (bw_sbom_build(&so, &doc, &len, &d) != BW_OK) {
		msg = bw_arena_printf(g->arena, "the model's licence could not be read: %s", d.what);
		add_reason(g, "license", model, "licenses.unreadable", BW_DECISION_DENY, msg ? msg : "");
		return;
	}
	root = json_loadb(doc, len, 0, &jerr);
	bw_sbom_str_free(doc);
	lics = json_array();
	collect_licenses(json_object_get(json_object_get(root, "metadata"), "component"), lics);
	comps = json_object_get(root, "components");
	json_array_foreach(comps, i, c) {
		const char *type = json_string_value(json_object_get(c, "type"));
		if (type != NULL && strcmp(type, "machine-learning-model") == 0)
			collect_licenses(c, lics);
	}
	if (json_array_size(lics) == 0) {
		add_reason(g, "license", model, "licenses.unknown", p->lic_unknown_action,
		           "the model declares no licence (config.json, README front matter)");
	}
	json_array_foreach(lics, i, c) {
		const char *id = json_string_value(c);
		if (in_list_ci(p->lic_deny, p->n_lic_deny, id)) {
			msg = bw_arena_printf(g->arena, "licence %s is in licenses.deny", id);
			add_reason(g, "license", model, "licenses.deny", BW_DECISION_DENY, msg ? msg : "");
		} else if (p->n_lic_allow > 0 && !in_list_ci(p->lic_allow, p->n_lic_allow, id)) {
			msg = bw_arena_printf(g->arena, "licence %s is not in licenses.allow", id);
			add_reason(g, "license", model, "licenses.allow", BW_DECISION_DENY, msg ? msg : "");
		}
	}
	json_decref(lics);
	json_decref(root);
}

/* The policy's requirements against its OSV database (once per gate run). */
static void check_dependencies(struct gate *g)
{
	const struct bw_policy *p = g->p;
	struct bw_audit_reqs *reqs = NULL;
	struct bw_osv_db *db = NULL;
	struct bw_audit_result *r = NULL;
	struct bw_audit_opts ao;
	struct bw_diag d;
	size_t i, k;
	char *msg;

	bw_diag_clear(&d);
	if (bw_audit_reqs_load(p->deps_requirements, BW_REQ_AUTO, &reqs, &d) != BW_OK ||
	    bw_osv_db_load(p->deps_db, NULL, &db, &d) != BW_OK) {
		msg = bw_arena_printf(g->arena, "the dependency audit could not run: %s", d.what);
		add_reason(g, "dependencies", p->deps_requirements, "dependencies.unchecked",
		           BW_DECISION_DENY, msg ? msg : "");
		goto out;
	}
	bw_audit_opts_default(&ao);
	if (bw_audit_run(db, reqs->items, reqs->n, &ao, &r) != BW_OK) {
		g->nomem = 1;
		goto out;
	}
	for (i = 0; i < r->n_pkgs; i++) {
		const struct bw_audit_pkg *pk = &r->pkgs[i];
		for (k = 0; k < pk->n_hits; k++) {
			const struct bw_audit_hit *h = &pk->hits[k];
			if (h->ignored || !bw_audit_hit_fails(h, p->deps_fail_on))
				continue;
			msg = bw_arena_printf(g->arena, "%s %s: %s (%s)%s%s", pk->name,
			                      pk->req->version ? pk->req->version : pk->req->spec,
			                      h->id, h->severity_known ? bw_severity_str(h->severity) : "severity unknown",
			                      pk->fix ? "; fixed in " : "", pk->fix ? pk->fix : "");
			add_reason(g, "dependencies", p->deps_requirements, h->id, BW_DECISION_DENY,
			           msg ? msg : "");
		}
	}
out:
	bw_audit_result_free(r);
	bw_osv_db_free(db);
	bw_audit_reqs_free(reqs);
}

enum bw_err bw_gate_run(const struct bw_policy *p, const struct bw_gate_inputs *in,
                        struct bw_gate_result **out, struct bw_diag *diag)
{
	struct bw_gate_result *res;
	struct bw_arena *a;
	struct gate g;
	struct bw_scan_opts so;
	enum bw_err e;
	size_t i;

	if (out == NULL)
		return BW_ERR_ARG;
	*out = NULL;
	if (p == NULL || in == NULL || (in->paths == NULL && in->n_paths > 0))
		return BW_ERR_ARG;
	res = bw_calloc(1, sizeof *res);
	a = bw_calloc(1, sizeof *a);
	if (res == NULL || a == NULL) {
		bw_free(res);
		bw_free(a);
		return BW_ERR_NOMEM;
	}
	bw_arena_init(a, 0);
	res->priv_ = a;
	memset(&g, 0, sizeof g);
	g.p = p;
	g.now = in->now;
	g.arena = a;
	bw_scan_opts_default(&so);
	e = bw_scan_paths(&so, in->paths, in->n_paths, in->threads, on_scan, &g, diag);
	if (e != BW_OK && e != BW_ERR_NOMEM) {
		/* the file list itself could not be built: nothing was checked */
		add_reason(&g, "scan", "(inputs)", "scan.incomplete", BW_DECISION_DENY,
		           diag && diag->what[0] ? diag->what : bw_err_str(e));
		e = BW_OK;
	}
	if (p->sig_required)
		for (i = 0; i < in->n_paths && !g.nomem; i++)
			check_signature(&g, in->paths[i]);
	if (p->lic_set)
		for (i = 0; i < in->n_paths && !g.nomem; i++)
			check_license(&g, in->paths[i]);
	if (p->deps_set)
		check_dependencies(&g);
	if (p->prov_required)
		for (i = 0; i < in->n_paths && !g.nomem; i++)
			check_provenance(&g, in->paths[i]);
	if (e == BW_ERR_NOMEM || g.nomem) {
		bw_gate_result_free(res);
		return BW_ERR_NOMEM;
	}
	res->decision = BW_DECISION_ALLOW;
	for (i = 0; i < g.n; i++)
		if (g.reasons[i].waived_by == NULL && g.reasons[i].effect > res->decision)
			res->decision = g.reasons[i].effect;
	res->reasons = g.reasons;
	res->n_reasons = g.n;
	res->n_files = g.n_files;
	res->n_expired = g.n_expired;
	*out = res;
	return BW_OK;
}

void bw_gate_result_free(struct bw_gate_result *r)
{
	if (r == NULL)
		return;
	bw_arena_release(r->priv_);
	bw_free(r->priv_);
	bw_free(r);
}

enum bw_err bw_gate_json(const struct bw_gate_result *r, char **out)
{
	json_t *root = json_object(), *reasons = json_array();
	size_t i;

	*out = NULL;
	for (i = 0; i < r->n_reasons; i++) {
		const struct bw_gate_reason *x = &r->reasons[i];
		json_t *j = json_object();
		json_object_set_new(j, "check", json_string(x->check));
		json_object_set_new(j, "subject", bw_json_text(x->subject));
		json_object_set_new(j, "rule", bw_json_text(x->rule));
		json_object_set_new(j, "effect", json_string(bw_decision_str(x->effect)));
		json_object_set_new(j, "message", bw_json_text(x->message));
		json_object_set_new(j, "waived_by", x->waived_by ? json_string(x->waived_by) : json_null());
		json_object_set_new(j, "waiver_owner",
		                    x->waiver_owner ? json_string(x->waiver_owner) : json_null());
		json_object_set_new(j, "waiver_expires",
		                    x->waiver_expires ? json_string(x->waiver_expires) : json_null());
		json_array_append_new(reasons, j);
	}
	json_object_set_new(root, "schema", json_string("bulwark.gate/1"));
	json_object_set_new(root, "decision", json_string(bw_decision_str(r->decision)));
	json_object_set_new(root, "files", json_integer((json_int_t)r->n_files));
	json_object_set_new(root, "expired_exceptions", json_integer((json_int_t)r->n_expired));
	json_object_set_new(root, "reasons", reasons);
	return bw_json_dump(root, out);
}
