/*
 * attest.c - training-run attestations (in-toto Statement v1, SLSA
 * provenance v1 predicate, DSSE envelope) and the lineage check that walks
 * from a model back through them. See bulwark/provenance.h and
 * docs/provenance.md.
 *
 * Signing goes through the sign module's struct bw_signer (the same keys as
 * `bulwark sign`); verification through crypto/. Nothing here trusts a field
 * of an attestation before its DSSE signature verified.
 */
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>

#include "bulwark/provenance.h"
#include "bulwark/sign.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/fileio.h"
#include "core/json.h"
#include "crypto/crypto.h"

#define INTOTO_TYPE "application/vnd.in-toto+json"
#define STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define SLSA_TYPE "https://slsa.dev/provenance/v1"
#define BUILD_TYPE "https://bulwark.dev/ml-training/v1"
#define ATTEST_MAX ((size_t)64 << 20)

static enum bw_err file_sha256(const char *path, char hex[65], uint64_t *size, struct bw_diag *diag)
{
	struct bw_file_map m;
	uint8_t d[BW_SHA256_LEN];
	enum bw_err e = bw_file_map(path, (size_t)1 << 40, &m, diag);

	if (e != BW_OK)
		return e;
	e = bw_sha256(m.data, m.len, d);
	if (size)
		*size = m.len;
	bw_file_unmap(&m);
	if (e == BW_OK)
		bw_hex_encode(d, sizeof d, hex);
	return e;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s && s[1] ? s + 1 : p;
}

static json_t *digest_obj(const char *hex)
{
	return json_pack("{s:s}", "sha256", hex);
}

/* Subjects: each output file (a folder contributes every file, via a snapshot). */
static enum bw_err add_outputs(json_t *subjects, const char *const *out, size_t n, struct bw_diag *diag)
{
	struct stat st;
	char hex[65];
	size_t i, k;
	enum bw_err e;

	for (i = 0; i < n; i++) {
		if (stat(out[i], &st) != 0)
			return bw_diag_set(diag, BW_ERR_NOTFOUND, BW_NO_OFFSET, "%s: not found", out[i]);
		if (S_ISDIR(st.st_mode)) {
			struct bw_snapshot *s = NULL;
			e = bw_snapshot_take(out[i], &s, diag);
			if (e != BW_OK)
				return e;
			for (k = 0; k < s->n_files; k++)
				json_array_append_new(subjects,
				                      json_pack("{s:s+,s:o}", "name", base_name(out[i]), "/",
				                                s->files[k].path, "digest",
				                                digest_obj(s->files[k].sha256)));
			bw_snapshot_free(s);
		} else {
			e = file_sha256(out[i], hex, NULL, diag);
			if (e != BW_OK)
				return e;
			json_array_append_new(subjects, json_pack("{s:s,s:o}", "name", base_name(out[i]),
			                                          "digest", digest_obj(hex)));
		}
	}
	return BW_OK;
}

static char *rfc3339(time_t t)
{
	char buf[32];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return bw_strdup(buf);
}

enum bw_err bw_attest_statement(const struct bw_attest_opts *o, char **json, struct bw_diag *diag)
{
	json_t *subjects = json_array(), *deps = json_array(), *params = json_object(), *env;
	json_t *stmt = NULL;
	struct utsname un;
	char hex[65], *now = rfc3339(time(NULL));
	size_t i;
	uint64_t size;
	enum bw_err e;

	*json = NULL;
	if (now == NULL || subjects == NULL || deps == NULL || params == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	if (o->n_outputs == 0) {
		e = bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET, "an attestation needs at least one output");
		goto out;
	}
	e = add_outputs(subjects, o->outputs, o->n_outputs, diag);
	if (e != BW_OK)
		goto out;
	for (i = 0; i < o->n_datasets; i++) {
		struct bw_snapshot *s = NULL;
		json_t *ann;
		e = bw_snapshot_open(o->datasets[i], &s, diag);
		if (e != BW_OK)
			goto out;
		ann = json_pack("{s:s,s:I,s:I}", "kind", "dataset-snapshot", "files", (json_int_t)s->n_files,
		                "bytes", (json_int_t)s->bytes);
		if (o->snapshot_paths != NULL && o->snapshot_paths[i] != NULL)
			json_object_set_new(ann, "snapshot", json_string(o->snapshot_paths[i]));
		json_array_append_new(deps, json_pack("{s:s+,s:s+,s:o,s:o}", "name", "dataset:", s->name,
		                                      "uri", "file:", o->datasets[i], "digest",
		                                      digest_obj(s->digest), "annotations", ann));
		bw_snapshot_free(s);
	}
	for (i = 0; i < o->n_code; i++) {
		e = file_sha256(o->code[i], hex, &size, diag);
		if (e != BW_OK)
			goto out;
		json_array_append_new(deps, json_pack("{s:s+,s:s+,s:o,s:{s:s}}", "name", "code:",
		                                      base_name(o->code[i]), "uri", "file:", o->code[i],
		                                      "digest", digest_obj(hex), "annotations", "kind", "code"));
	}
	if (o->git_commit != NULL)
		json_array_append_new(deps, json_pack("{s:s,s:s,s:{s:s},s:{s:s}}", "name", "source",
		                                      "uri", o->git_repo ? o->git_repo : "git", "digest",
		                                      "gitCommit", o->git_commit, "annotations", "kind",
		                                      "git-commit"));
	for (i = 0; i < o->n_params; i++) {
		const char *eq = strchr(o->params[i], '=');
		char key[256];
		if (eq == NULL || eq == o->params[i] || (size_t)(eq - o->params[i]) >= sizeof key) {
			e = bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET, "parameter '%s' is not KEY=VALUE",
			                o->params[i]);
			goto out;
		}
		memcpy(key, o->params[i], (size_t)(eq - o->params[i]));
		key[eq - o->params[i]] = '\0';
		json_object_set_new(params, key, json_string(eq + 1));
	}
	env = json_object();
	if (uname(&un) == 0)
		json_object_set_new(env, "os", json_pack("{s:s,s:s,s:s}", "sysname", un.sysname, "release",
		                                         un.release, "machine", un.machine));
	json_object_set_new(env, "recorder", json_string("bulwark " BW_VERSION));
	stmt = json_pack(
		"{s:s,s:o,s:s,s:{s:{s:s,s:{s:o},s:{s:o},s:o},s:{s:{s:s},s:{s:s,s:s,s:s}}}}", "_type",
		STATEMENT_TYPE, "subject", subjects, "predicateType", SLSA_TYPE, "predicate",
		"buildDefinition", "buildType", BUILD_TYPE, "externalParameters", "parameters", params,
		"internalParameters", "environment", env, "resolvedDependencies", deps, "runDetails",
		"builder", "id", o->builder_id ? o->builder_id : "https://bulwark.dev/recorder/local",
		"metadata", "invocationId", o->invocation_id ? o->invocation_id : now, "startedOn",
		o->started ? o->started : now, "finishedOn", o->finished ? o->finished : now);
	subjects = deps = params = NULL;
	if (stmt == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	e = bw_json_dump(stmt, json);
	stmt = NULL;
out:
	json_decref(subjects);
	json_decref(deps);
	json_decref(params);
	json_decref(stmt);
	bw_free(now);
	return e;
}

enum bw_err bw_attest_sign(const char *statement, struct bw_signer *s, char **envelope,
                           struct bw_diag *diag)
{
	uint8_t *pae = NULL, *sig = NULL;
	size_t pae_len = 0, sig_len = 0, n = strlen(statement);
	char *b64p = NULL, *b64s = NULL;
	json_t *mat = NULL, *hint;
	char *mtxt = NULL;
	json_error_t jerr;
	enum bw_err e;

	*envelope = NULL;
	e = bw_dsse_pae(INTOTO_TYPE, (const uint8_t *)statement, n, &pae, &pae_len);
	if (e == BW_OK)
		e = s->sign(s->ctx, pae, pae_len, &sig, &sig_len, diag);
	if (e == BW_OK)
		e = s->material(s->ctx, sig, sig_len, pae, pae_len, &mtxt, diag);
	if (e != BW_OK)
		goto out;
	b64p = bw_malloc(bw_b64_enc_len(n));
	b64s = bw_malloc(bw_b64_enc_len(sig_len));
	mat = json_loads(mtxt, 0, &jerr);
	if (b64p == NULL || b64s == NULL || mat == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	bw_b64_encode((const uint8_t *)statement, n, b64p);
	bw_b64_encode(sig, sig_len, b64s);
	/* the keyid is the OMS key hint: hex SHA-256 of the public key PEM */
	hint = json_object_get(json_object_get(mat, "publicKey"), "hint");
	e = bw_json_dump(json_pack("{s:s,s:s,s:[{s:s,s:s}]}", "payloadType", INTOTO_TYPE, "payload", b64p,
	                           "signatures", "keyid", json_is_string(hint) ? json_string_value(hint) : "",
	                           "sig", b64s),
	                 envelope);
out:
	json_decref(mat);
	bw_free(pae);
	bw_free(sig);
	bw_free(b64p);
	bw_free(b64s);
	bw_free(mtxt);
	return e;
}

/* ---- lineage ---- */

struct lineage_ctx {
	struct bw_lineage_report *rep;
	struct bw_arena *a;
};

static void add_link(struct bw_lineage_report *r, struct bw_arena *a, const char *attestation,
                     const char *kind, const char *name, int ok, const char *detail)
{
	struct bw_lineage_link *l;

	if (r->n_links == r->cap_links) {
		size_t ncap = r->cap_links ? r->cap_links * 2 : 16;
		struct bw_lineage_link *nv = bw_arena_array(a, ncap, sizeof *nv);
		if (nv == NULL)
			return;
		if (r->n_links)
			memcpy(nv, r->links, r->n_links * sizeof *nv);
		r->links = nv;
		r->cap_links = ncap;
	}
	l = &r->links[r->n_links++];
	l->attestation = bw_arena_strdup(a, attestation);
	l->kind = kind;
	l->name = bw_arena_strdup(a, name ? name : "");
	l->ok = ok;
	l->detail = bw_arena_strdup(a, detail ? detail : "");
	if (!ok)
		r->broken++;
}

/* Verify a DSSE envelope with pub and return the decoded statement (bw_malloc'd). */
static enum bw_err open_envelope(const uint8_t *env, size_t len, const struct bw_pkey *pub,
                                 char **statement, struct bw_diag *diag)
{
	json_error_t jerr;
	json_t *root = json_loadb((const char *)env, len, JSON_REJECT_DUPLICATES, &jerr), *sigs, *s0;
	const char *ptype, *payload, *sigb;
	uint8_t *pl = NULL, *sig = NULL, *pae = NULL;
	size_t pl_len = 0, sig_len = 0, pae_len = 0, i;
	enum bw_err e = BW_ERR_VERIFY;

	*statement = NULL;
	if (root == NULL)
		return bw_diag_set(diag, BW_ERR_MALFORMED, (uint64_t)jerr.position, "not JSON: %s", jerr.text);
	ptype = json_string_value(json_object_get(root, "payloadType"));
	payload = json_string_value(json_object_get(root, "payload"));
	sigs = json_object_get(root, "signatures");
	if (ptype == NULL || strcmp(ptype, INTOTO_TYPE) != 0 || payload == NULL || !json_is_array(sigs) ||
	    json_array_size(sigs) == 0) {
		e = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "not a DSSE envelope of an in-toto statement");
		goto out;
	}
	if (bw_b64_decode(payload, strlen(payload), &pl, &pl_len) != BW_OK ||
	    bw_dsse_pae(INTOTO_TYPE, pl, pl_len, &pae, &pae_len) != BW_OK) {
		e = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "payload is not base64");
		goto out;
	}
	/* any one signature by the key verifies the envelope (DSSE protocol) */
	json_array_foreach(sigs, i, s0) {
		sigb = json_string_value(json_object_get(s0, "sig"));
		bw_free(sig);
		sig = NULL;
		if (sigb == NULL || bw_b64_decode(sigb, strlen(sigb), &sig, &sig_len) != BW_OK)
			continue;
		if (bw_pkey_verify(pub, bw_pkey_default_hash(pub), pae, pae_len, sig, sig_len) == BW_OK) {
			e = BW_OK;
			break;
		}
	}
	if (e != BW_OK) {
		(void)bw_diag_set(diag, BW_ERR_VERIFY, BW_NO_OFFSET, "no signature verifies with the key");
		goto out;
	}
	*statement = bw_strndup((const char *)pl, pl_len);
	if (*statement == NULL)
		e = BW_ERR_NOMEM;
out:
	json_decref(root);
	bw_free(pl);
	bw_free(sig);
	bw_free(pae);
	return e;
}

enum bw_err bw_attest_open(const uint8_t *envelope, size_t len, const uint8_t *pub_pem, size_t pub_len,
                           char **statement, struct bw_diag *diag)
{
	struct bw_pkey *pub = NULL;
	enum bw_err e;

	*statement = NULL;
	e = bw_pkey_load_public_pem(pub_pem, pub_len, &pub, diag);
	if (e == BW_OK)
		e = open_envelope(envelope, len, pub, statement, diag);
	bw_pkey_free(pub);
	return e;
}

static void check_dataset(struct lineage_ctx *c, const char *att, json_t *dep)
{
	const char *uri = json_string_value(json_object_get(dep, "uri"));
	const char *want = json_string_value(json_object_get(json_object_get(dep, "digest"), "sha256"));
	const char *name = json_string_value(json_object_get(dep, "name"));
	const char *snap_path = json_string_value(
		json_object_get(json_object_get(dep, "annotations"), "snapshot"));
	struct bw_snapshot *now = NULL, *then = NULL;
	struct bw_data_change *ch = NULL;
	struct bw_diag d;
	char msg[1024];
	size_t n = 0, i, off;

	bw_diag_clear(&d);
	if (uri == NULL || strncmp(uri, "file:", 5) != 0 || want == NULL) {
		add_link(c->rep, c->a, att, "dataset", name, 0, "the dependency has no file: uri or sha256");
		return;
	}
	if (bw_snapshot_take(uri + 5, &now, &d) != BW_OK) {
		snprintf(msg, sizeof msg, "missing: %s", d.what);
		add_link(c->rep, c->a, att, "dataset", name, 0, msg);
		return;
	}
	if (strcmp(now->digest, want) == 0) {
		snprintf(msg, sizeof msg, "%zu files match snapshot %.16s...", now->n_files, want);
		add_link(c->rep, c->a, att, "dataset", name, 1, msg);
		bw_snapshot_free(now);
		return;
	}
	/* changed: name the files, from the snapshot recorded with the attestation */
	bw_diag_clear(&d);
	if (snap_path != NULL && bw_snapshot_load(snap_path, &then, &d) == BW_OK &&
	    strcmp(then->digest, want) == 0 && bw_snapshot_diff(then, now, &ch, &n) == BW_OK) {
		off = (size_t)snprintf(msg, sizeof msg, "CHANGED since the run: %zu file%s:", n,
		                       n == 1 ? "" : "s");
		for (i = 0; i < n && off < sizeof msg - 64; i++)
			off += (size_t)snprintf(msg + off, sizeof msg - off, " %s %s%s%s;",
			                        bw_change_str(ch[i].kind), ch[i].path,
			                        ch[i].new_path ? " -> " : "", ch[i].new_path ? ch[i].new_path : "");
	} else {
		snprintf(msg, sizeof msg, "CHANGED since the run (snapshot %.16s... now %.16s...; no recorded "
		         "snapshot to name the files%s%s)", want, now->digest, d.what[0] ? ": " : "", d.what);
	}
	add_link(c->rep, c->a, att, "dataset", name, 0, msg);
	free(ch);
	bw_snapshot_free(then);
	bw_snapshot_free(now);
}

static void check_file_dep(struct lineage_ctx *c, const char *att, json_t *dep)
{
	const char *uri = json_string_value(json_object_get(dep, "uri"));
	const char *want = json_string_value(json_object_get(json_object_get(dep, "digest"), "sha256"));
	const char *name = json_string_value(json_object_get(dep, "name"));
	char hex[65], msg[512];
	struct bw_diag d;

	bw_diag_clear(&d);
	if (uri == NULL || strncmp(uri, "file:", 5) != 0 || want == NULL) {
		add_link(c->rep, c->a, att, "code", name, 0, "the dependency has no file: uri or sha256");
		return;
	}
	if (file_sha256(uri + 5, hex, NULL, &d) != BW_OK) {
		snprintf(msg, sizeof msg, "missing: %s", d.what);
		add_link(c->rep, c->a, att, "code", name, 0, msg);
	} else if (strcmp(hex, want) != 0) {
		snprintf(msg, sizeof msg, "CHANGED since the run (%.16s... now %.16s...)", want, hex);
		add_link(c->rep, c->a, att, "code", name, 0, msg);
	} else {
		add_link(c->rep, c->a, att, "code", name, 1, "matches");
	}
}

enum bw_err bw_lineage_check(const char *model, const char *const *attestations, size_t n_att,
                             const uint8_t *pub_pem, size_t pub_len, struct bw_lineage_report **out,
                             struct bw_diag *diag)
{
	struct bw_lineage_report *r;
	struct bw_arena *a;
	struct bw_pkey *pub = NULL;
	struct lineage_ctx c;
	char model_hex[65], msg[512];
	size_t i, k;
	enum bw_err e;

	*out = NULL;
	r = bw_calloc(1, sizeof *r);
	a = bw_calloc(1, sizeof *a);
	if (r == NULL || a == NULL) {
		bw_free(r);
		bw_free(a);
		return BW_ERR_NOMEM;
	}
	bw_arena_init(a, 0);
	r->priv_ = a;
	c.rep = r;
	c.a = a;
	e = file_sha256(model, model_hex, NULL, diag);
	if (e == BW_OK)
		e = bw_pkey_load_public_pem(pub_pem, pub_len, &pub, diag);
	if (e != BW_OK) {
		bw_lineage_free(r);
		return e;
	}
	memcpy(r->model_sha256, model_hex, 65);
	for (i = 0; i < n_att; i++) {
		struct bw_file_map m;
		struct bw_diag d;
		char *stmt = NULL;
		json_t *root, *subj, *deps, *dep, *s;
		json_error_t jerr;
		int named = 0;

		bw_diag_clear(&d);
		if (bw_file_map(attestations[i], ATTEST_MAX, &m, &d) != BW_OK) {
			add_link(r, a, attestations[i], "attestation", attestations[i], 0, d.what);
			continue;
		}
		e = open_envelope(m.data, m.len, pub, &stmt, &d);
		bw_file_unmap(&m);
		if (e != BW_OK) {
			snprintf(msg, sizeof msg, "signature: %s", d.what);
			add_link(r, a, attestations[i], "attestation", attestations[i], 0, msg);
			continue;
		}
		root = json_loads(stmt, JSON_REJECT_DUPLICATES, &jerr);
		bw_free(stmt);
		if (root == NULL || !json_is_string(json_object_get(root, "_type")) ||
		    strcmp(json_string_value(json_object_get(root, "_type")), STATEMENT_TYPE) != 0) {
			add_link(r, a, attestations[i], "attestation", attestations[i], 0,
			         "the signed payload is not an in-toto Statement v1");
			json_decref(root);
			continue;
		}
		subj = json_object_get(root, "subject");
		json_array_foreach(subj, k, s) {
			const char *h = json_string_value(json_object_get(json_object_get(s, "digest"), "sha256"));
			if (h && strcmp(h, model_hex) == 0)
				named = 1;
		}
		if (!named) {
			add_link(r, a, attestations[i], "attestation", attestations[i], 0,
			         "signature ok, but no subject has this model's sha256: not this model's run");
			json_decref(root);
			continue;
		}
		r->n_attestations++;
		add_link(r, a, attestations[i], "attestation", attestations[i], 1,
		         "signature ok; names this model as an output");
		deps = json_object_get(json_object_get(json_object_get(root, "predicate"), "buildDefinition"),
		                       "resolvedDependencies");
		json_array_foreach(deps, k, dep) {
			const char *kind = json_string_value(
				json_object_get(json_object_get(dep, "annotations"), "kind"));
			if (kind && strcmp(kind, "dataset-snapshot") == 0)
				check_dataset(&c, attestations[i], dep);
			else if (kind && strcmp(kind, "code") == 0)
				check_file_dep(&c, attestations[i], dep);
			else if (kind && strcmp(kind, "git-commit") == 0)
				add_link(r, a, attestations[i], "source",
				         json_string_value(json_object_get(json_object_get(dep, "digest"), "gitCommit")),
				         1, "recorded (a git commit cannot be re-checked offline without the repository)");
		}
		json_decref(root);
	}
	if (r->n_attestations == 0)
		add_link(r, a, "-", "model", model, 0, "no attestation given names this model");
	bw_pkey_free(pub);
	*out = r;
	return BW_OK;
}

void bw_lineage_free(struct bw_lineage_report *r)
{
	if (r == NULL)
		return;
	bw_arena_release(r->priv_);
	bw_free(r->priv_);
	bw_free(r);
}
