/*
 * verify.c - OMS verification (spec section 8): bundle -> key / certificate
 * chain / Sigstore checks -> DSSE signature -> statement -> manifest -> the
 * files on disk. Every file added, removed, renamed or changed is reported.
 *
 * Trust decisions are made here and in sigstore.c only. A failed check fills
 * struct bw_verify_result (reason + the list of checks) and returns
 * BW_ERR_VERIFY; unreadable inputs return their own codes.
 * Must not: print, or report "verified" unless every check ran and passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/alloc.h"
#include "crypto/crypto.h"
#include "sign/bundle.h"
#include "sign/sigstore.h"
#include "sign/sign_internal.h"

void bw_verify_opts_init(struct bw_verify_opts *o)
{
	memset(o, 0, sizeof *o);
}

void bw_verify_result_init(struct bw_verify_result *r)
{
	memset(r, 0, sizeof *r);
}

void bw_verify_result_release(struct bw_verify_result *r)
{
	size_t i;

	for (i = 0; i < r->n_diffs; i++) {
		bw_free(r->diffs[i].name);
		bw_free(r->diffs[i].new_name);
	}
	bw_free(r->diffs);
	memset(r, 0, sizeof *r);
}

void bw_verify_check(struct bw_verify_result *r, const char *name, int ok, const char *fmt, ...)
{
	struct bw_check spare, *c;
	va_list ap;

	/* A full list still records the first failure as the reason. */
	c = r->n_checks < BW_MAX_CHECKS ? &r->checks[r->n_checks++] : &spare;
	snprintf(c->name, sizeof c->name, "%s", name);
	c->ok = ok;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof c->detail, fmt, ap);
	va_end(ap);
	if (!ok && r->reason[0] == '\0')
		snprintf(r->reason, sizeof r->reason, "%s: %s", name, c->detail);
}

/* DSSE signature over PAE; P-384/P-521 keys are tried with their curve hash
 * first and SHA-256 second (some signers hash every curve with SHA-256). */
static enum bw_err check_dsse(const struct bw_bundle *b, const struct bw_pkey *key, int compat,
                              struct bw_verify_result *r)
{
	uint8_t *pae = NULL;
	size_t pae_len = 0;
	enum bw_hash_alg h = bw_pkey_default_hash(key);
	enum bw_err err;
	const char *how = "";

	if (compat) {
		/* v0.2.0 "compat" PAE: "DSSEV1 28 <type> <len> b'<repr>'", SHA-256. */
		char *rep = NULL, head[96];
		size_t rl = 0, hl;

		err = bw_py_bytes_repr((const uint8_t *)b->payload, b->payload_len, &rep, &rl);
		if (err != BW_OK)
			return err;
		hl = (size_t)snprintf(head, sizeof head, "DSSEV1 %zu %s %zu ", strlen(b->payload_type),
		                      b->payload_type, b->payload_len);
		pae = bw_malloc(hl + rl);
		if (pae == NULL) {
			bw_free(rep);
			return BW_ERR_NOMEM;
		}
		memcpy(pae, head, hl);
		memcpy(pae + hl, rep, rl);
		pae_len = hl + rl;
		bw_free(rep);
		h = BW_HASH_SHA256;
		how = " (v0.2 compat encoding)";
	} else {
		err = bw_dsse_pae(b->payload_type, (const uint8_t *)b->payload, b->payload_len, &pae, &pae_len);
		if (err != BW_OK)
			return err;
	}
	err = bw_pkey_verify(key, h, pae, pae_len, b->sig, b->sig_len);
	if (err == BW_ERR_VERIFY && h != BW_HASH_SHA256 && !compat) {
		err = bw_pkey_verify(key, BW_HASH_SHA256, pae, pae_len, b->sig, b->sig_len);
		if (err == BW_OK)
			how = " (ECDSA with SHA-256)";
	}
	bw_free(pae);
	if (err == BW_OK) {
		bw_verify_check(r, "signature", 1, "DSSE signature valid%s", how);
		return BW_OK;
	}
	if (err == BW_ERR_VERIFY) {
		bw_verify_check(r, "signature", 0, "DSSE signature does not verify with the %s%s", r->method[0] == 'k'
		                ? "given public key" : "certificate's public key",
		                r->hint_mismatch ? " (the bundle names another key by its hint)" : "");
		return BW_ERR_VERIFY;
	}
	bw_verify_check(r, "signature", 0, "signature check failed: %s", bw_err_str(err));
	return err;
}

static enum bw_err key_material(const struct bw_bundle *b, const struct bw_verify_opts *o,
                                struct bw_verify_result *r, struct bw_pkey **key, struct bw_diag *diag)
{
	char hint[65];
	enum bw_err err;

	snprintf(r->method, sizeof r->method, "key");
	if (o->mode != BW_VERIFY_KEY) {
		bw_verify_check(r, "material", 0, "bundle is signed with a bare key (publicKey) but verification "
		                "asked for %s", o->mode == BW_VERIFY_CHAIN ? "a certificate chain" : "Sigstore");
		return BW_ERR_VERIFY;
	}
	err = bw_pkey_load_public_pem(o->trust, o->trust_len, key, diag);
	if (err != BW_OK) {
		bw_verify_check(r, "material", 0, "cannot read the public key: %s", diag ? diag->what : "");
		return err;
	}
	err = bw_key_hint(o->trust, o->trust_len, hint, NULL);
	if (err != BW_OK)
		return err;
	snprintf(r->signer, sizeof r->signer, "key %s", hint);
	if (b->vm == BW_VM_KEY_HINT) {
		/* The hint only identifies the key; the signature is what proves it.
		 * A different hint still means the bundle names another key. */
		if (strcmp(b->hint, hint) != 0) {
			/* Unsigned and computed differently by some producers: only
			 * the signature decides, but a failure names both keys. */
			bw_verify_check(r, "material", 1, "bundle names key %.70s, the given key is %s", b->hint, hint);
			r->hint_mismatch = 1;
		} else {
			bw_verify_check(r, "material", 1, "publicKey.hint matches the given key");
		}
	} else {
		struct bw_pkey *raw = NULL;

		/* rawBytes is DER SPKI per sigstore_common.proto; model_signing
		 * 0.3-1.0 wrote the PEM text there instead. Accept both. */
		if (bw_pkey_from_spki_der(b->raw_key, b->raw_key_len, &raw, NULL) == BW_OK ||
		    bw_pkey_load_public_pem(b->raw_key, b->raw_key_len, &raw, NULL) == BW_OK) {
			int same = bw_pkey_equal_public(raw, *key);

			bw_pkey_free(raw);
			if (!same) {
				bw_verify_check(r, "material", 0, "bundle's publicKey.rawBytes is another key");
				return BW_ERR_VERIFY;
			}
			bw_verify_check(r, "material", 1, "publicKey.rawBytes is the given key");
		} else {
			bw_verify_check(r, "material", 0, "publicKey.rawBytes is neither a DER nor a PEM public key");
			return BW_ERR_VERIFY;
		}
	}
	return BW_OK;
}

static enum bw_err chain_material(const struct bw_bundle *b, const struct bw_verify_opts *o,
                                  struct bw_verify_result *r, struct bw_pkey **key, struct bw_diag *diag)
{
	struct bw_x509 **roots = NULL;
	size_t n_roots = 0;
	int64_t now = o->now ? o->now : (int64_t)time(NULL);
	struct bw_diag d;
	enum bw_err err;

	snprintf(r->method, sizeof r->method, "certificate");
	if (o->mode != BW_VERIFY_CHAIN) {
		bw_verify_check(r, "material", 0, "bundle is signed with a certificate chain but verification asked "
		                "for %s", o->mode == BW_VERIFY_KEY ? "a public key" : "Sigstore");
		return BW_ERR_VERIFY;
	}
	bw_x509_subject(b->certs[0], r->signer, sizeof r->signer);
	err = bw_x509_list_from_pem(o->trust, o->trust_len, &roots, &n_roots, diag);
	if (err != BW_OK) {
		bw_verify_check(r, "certificate-chain", 0, "cannot read the trusted certificates");
		return err;
	}
	bw_diag_clear(&d);
	/* Every certificate must be valid now (OMS spec 8.2: the leaf MUST be
	 * within its validity period); model_signing checks at the leaf's
	 * notBefore instead (docs/signing.md). */
	err = bw_x509_verify_chain(b->certs[0], b->certs + 1, b->n_certs - 1, roots, n_roots, now, 1, &d);
	bw_x509_list_free(roots, n_roots);
	if (err != BW_OK) {
		bw_verify_check(r, "certificate-chain", 0, "%s", d.what);
		return err == BW_ERR_VERIFY ? BW_ERR_VERIFY : err;
	}
	bw_verify_check(r, "certificate-chain", 1, "leaf chains to a given root (%zu certificates in the bundle)",
	                b->n_certs);
	return bw_x509_pubkey(b->certs[0], key);
}

enum bw_err bw_verify_bundle(const uint8_t *bundle, size_t bundle_len, const struct bw_verify_opts *o,
                             struct bw_verify_result *r, struct bw_manifest **out, struct bw_diag *diag)
{
	struct bw_bundle b;
	struct bw_pkey *key = NULL;
	struct bw_manifest *m = NULL;
	struct bw_diag d;
	enum bw_err err;
	int compat = 0;
	char hex[65];

	if (out != NULL)
		*out = NULL;
	bw_diag_clear(&d);
	err = bw_bundle_parse(bundle, bundle_len, &b, &d);
	if (err != BW_OK) {
		bw_verify_check(r, "bundle", 0, "%s", d.what);
		(void)bw_diag_set(diag, err, d.offset, "%s", d.what);
		return err == BW_ERR_NOMEM ? err : BW_ERR_VERIFY;
	}
	bw_verify_check(r, "bundle", 1, "%s", b.media_type);
	if (strcmp(b.payload_type, BW_INTOTO_PAYLOAD_TYPE) != 0) {
		bw_verify_check(r, "bundle", 0, "DSSE payloadType is '%.80s', expected %s", b.payload_type,
		                BW_INTOTO_PAYLOAD_TYPE);
		err = BW_ERR_VERIFY;
		goto out;
	}
	/* Decide the statement's layout first (it selects the PAE encoding of
	 * v0.2 bundles); nothing from it is trusted before the signature check. */
	{
		struct bw_manifest *tmp = NULL;
		struct bw_diag td;

		bw_diag_clear(&td);
		if (bw_statement_to_manifest(b.payload, b.payload_len, &tmp, &compat, &td) != BW_OK)
			compat = 0;
		bw_manifest_free(tmp);
	}
	switch (b.vm) {
	case BW_VM_KEY_HINT:
	case BW_VM_KEY_RAW:
		err = key_material(&b, o, r, &key, diag);
		break;
	case BW_VM_CHAIN:
		err = chain_material(&b, o, r, &key, diag);
		break;
	case BW_VM_CERT:
		snprintf(r->method, sizeof r->method, "sigstore");
		if (o->mode != BW_VERIFY_SIGSTORE) {
			bw_verify_check(r, "material", 0, "bundle is a Sigstore (keyless) bundle but verification asked "
			                "for %s", o->mode == BW_VERIFY_KEY ? "a public key" : "a certificate chain");
			err = BW_ERR_VERIFY;
			break;
		}
		err = bw_sigstore_verify(&b, o, r, &key, diag);
		break;
	default:
		err = BW_ERR_INTERNAL;
	}
	if (err != BW_OK)
		goto out;
	err = check_dsse(&b, key, compat, r);
	if (err != BW_OK)
		goto out;
	bw_diag_clear(&d);
	err = bw_statement_to_manifest(b.payload, b.payload_len, &m, &compat, &d);
	if (err != BW_OK) {
		bw_verify_check(r, "statement", 0, "%s", d.what);
		err = err == BW_ERR_NOMEM ? err : BW_ERR_VERIFY;
		goto out;
	}
	snprintf(r->predicate_type, sizeof r->predicate_type, "%s",
	         compat ? BW_OMS_PREDICATE_COMPAT : BW_OMS_PREDICATE_V1);
	snprintf(r->model_name, sizeof r->model_name, "%s", m->model_name);
	snprintf(r->ser_method, sizeof r->ser_method, "%s", m->method == BW_SER_SHARDS ? "shards" : "files");
	r->n_resources = m->n_items;
	if (!compat) {
		bw_hex_encode(m->root, 32, hex);
		snprintf(r->root_digest, sizeof r->root_digest, "%s", hex);
	}
	bw_verify_check(r, "statement", 1, "%s, %zu resources (%s)", r->predicate_type, m->n_items, r->ser_method);
	if (out != NULL) {
		*out = m;
		m = NULL;
	}
out:
	bw_manifest_free(m);
	bw_pkey_free(key);
	bw_bundle_release(&b);
	return err;
}

/* ---- comparing the signed manifest with the files on disk ---- */

struct group {
	const char *path;
	size_t first, n;   /* items [first, first+n) in an array sorted by (path, start) */
	int used;
};

static int item_path_cmp(const void *a, const void *b)
{
	const struct bw_manifest_item *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	if (c != 0)
		return c;
	return x->start < y->start ? -1 : x->start > y->start;
}

static enum bw_err group_items(struct bw_manifest *m, struct group **gs, size_t *ng)
{
	size_t i, n = 0;
	struct group *g;

	qsort(m->items, m->n_items, sizeof *m->items, item_path_cmp);
	g = bw_calloc(m->n_items ? m->n_items : 1, sizeof *g);
	if (g == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < m->n_items; i++) {
		if (n > 0 && strcmp(g[n - 1].path, m->items[i].path) == 0) {
			g[n - 1].n++;
			continue;
		}
		g[n].path = m->items[i].path;
		g[n].first = i;
		g[n].n = 1;
		n++;
	}
	*gs = g;
	*ng = n;
	return BW_OK;
}

/* Same content: same ranges and digests (the name is not compared). */
static int same_content(const struct bw_manifest *a, const struct group *ga, const struct bw_manifest *b,
                        const struct group *gb)
{
	size_t i;

	if (ga->n != gb->n)
		return 0;
	for (i = 0; i < ga->n; i++) {
		const struct bw_manifest_item *x = &a->items[ga->first + i], *y = &b->items[gb->first + i];

		/* files mode: the signed manifest has no ranges, only digests */
		if ((a->method == BW_SER_SHARDS && (x->start != y->start || x->end != y->end)) ||
		    memcmp(x->digest, y->digest, 32) != 0)
			return 0;
	}
	return 1;
}

static enum bw_err add_diff(struct bw_verify_result *r, enum bw_diff_kind k, const char *name, const char *nn)
{
	struct bw_file_diff *d;

	if (r->n_diffs >= BW_MANIFEST_MAX_ITEMS)
		return BW_ERR_LIMIT;
	d = bw_reallocarray(r->diffs, r->n_diffs + 1, sizeof *d);
	if (d == NULL)
		return BW_ERR_NOMEM;
	r->diffs = d;
	d = &r->diffs[r->n_diffs];
	d->kind = k;
	d->name = bw_strdup(name);
	d->new_name = nn ? bw_strdup(nn) : NULL;
	if (d->name == NULL || (nn && d->new_name == NULL)) {
		bw_free(d->name);
		bw_free(d->new_name);
		return BW_ERR_NOMEM;
	}
	r->n_diffs++;
	return BW_OK;
}

static enum bw_err compare(struct bw_manifest *sig, struct bw_manifest *loc, int ignore_unsigned,
                           struct bw_verify_result *r)
{
	struct group *gs = NULL, *gl = NULL;
	size_t ns = 0, nl = 0, i = 0, j = 0, k;
	enum bw_err err;
	size_t removed = 0, added = 0;

	err = group_items(sig, &gs, &ns);
	if (err == BW_OK)
		err = group_items(loc, &gl, &nl);
	if (err != BW_OK)
		goto out;
	/* Merge the two path-sorted lists: common paths compare content. */
	while (i < ns || j < nl) {
		int c = i == ns ? 1 : j == nl ? -1 : strcmp(gs[i].path, gl[j].path);

		if (c == 0) {
			gs[i].used = gl[j].used = 1;
			if (!same_content(sig, &gs[i], loc, &gl[j]))
				err = add_diff(r, BW_DIFF_CHANGED, gs[i].path, NULL);
			i++;
			j++;
		} else if (c < 0) {
			removed++;
			i++;
		} else {
			added++;
			j++;
		}
		if (err != BW_OK)
			goto out;
	}
	/* A signed file that is gone and an unsigned file with its exact content
	 * is a rename. Quadratic, so bounded. */
	if (removed > 0 && added > 0 && removed * added <= 10000000u) {
		for (i = 0; i < ns; i++) {
			if (gs[i].used)
				continue;
			for (k = 0; k < nl; k++) {
				if (gl[k].used || !same_content(sig, &gs[i], loc, &gl[k]))
					continue;
				gs[i].used = gl[k].used = 1;
				err = add_diff(r, BW_DIFF_RENAMED, gs[i].path, gl[k].path);
				if (err != BW_OK)
					goto out;
				break;
			}
		}
	}
	for (i = 0; i < ns && err == BW_OK; i++)
		if (!gs[i].used)
			err = add_diff(r, BW_DIFF_REMOVED, gs[i].path, NULL);
	for (j = 0; j < nl && err == BW_OK; j++)
		if (!gl[j].used && !ignore_unsigned)
			err = add_diff(r, BW_DIFF_ADDED, gl[j].path, NULL);
out:
	bw_free(gs);
	bw_free(gl);
	return err;
}

static const char *diff_word(enum bw_diff_kind k)
{
	return k == BW_DIFF_CHANGED ? "changed" : k == BW_DIFF_ADDED ? "added (not signed)"
	     : k == BW_DIFF_REMOVED ? "removed" : "renamed";
}

enum bw_err bw_verify_model(const char *model_path, const char *sig_path, const uint8_t *bundle,
                            size_t bundle_len, const struct bw_verify_opts *o, struct bw_verify_result *r,
                            struct bw_diag *diag)
{
	struct bw_manifest *sm = NULL, *lm = NULL;
	struct bw_hash_opts ho;
	const char **ign = NULL;
	size_t n_ign = 0, i, k;
	struct stat st;
	enum bw_err err;
	struct bw_diag d;
	int defaults = !o->no_default_ignores;

	err = bw_verify_bundle(bundle, bundle_len, o, r, &sm, diag);
	if (err != BW_OK)
		goto out;
	if (stat(model_path, &st) != 0) {
		bw_verify_check(r, "manifest", 0, "cannot read the model %s", model_path);
		err = bw_diag_set(diag, BW_ERR_NOTFOUND, BW_NO_OFFSET, "%s: no such file or folder", model_path);
		goto out;
	}
	/* Single-file model: model_signing and Go name the one resource ".", the
	 * spec names it by the file's basename; both mean this file. */
	if (S_ISREG(st.st_mode)) {
		const char *base = strrchr(model_path, '/');

		base = base ? base + 1 : model_path;
		for (i = 0; i < sm->n_items; i++)
			if (strcmp(sm->items[i].path, ".") == 0) {
				bw_free(sm->items[i].path);
				sm->items[i].path = bw_strdup(base);
				if (sm->items[i].path == NULL) {
					err = BW_ERR_NOMEM;
					goto out;
				}
			}
	}

	/* Exclusions: the bundle's ignore_paths (what the signer excluded),
	 * the caller's, and the defaults unless the signer signed such a path. */
	ign = bw_calloc(sm->n_ignore_paths + o->n_ignore_paths + BW_N_DEFAULT_IGNORES + 1, sizeof *ign);
	if (ign == NULL) {
		err = BW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < sm->n_ignore_paths; i++) {
		char canon[BW_NAME_MAX];

		if (bw_path_canon(sm->ignore_paths[i], canon, sizeof canon) == 0 &&
		    strcmp(canon, sm->ignore_paths[i]) == 0)
			ign[n_ign++] = sm->ignore_paths[i];
	}
	for (i = 0; i < o->n_ignore_paths; i++)
		ign[n_ign++] = o->ignore_paths[i];
	if (defaults) {
		int hit = 0;

		for (k = 0; k < BW_N_DEFAULT_IGNORES; k++)
			for (i = 0; i < sm->n_items; i++)
				if (bw_path_is_under(sm->items[i].path, bw_default_ignore(k)))
					hit = 1;
		if (hit) {
			defaults = 0;
			for (k = 0; k < BW_N_DEFAULT_IGNORES; k++) {
				int signed_here = 0;

				for (i = 0; i < sm->n_items; i++)
					if (bw_path_is_under(sm->items[i].path, bw_default_ignore(k)))
						signed_here = 1;
				if (!signed_here)
					ign[n_ign++] = bw_default_ignore(k);
			}
		}
	}
	bw_hash_opts_init(&ho);
	ho.method = sm->method;
	ho.shard_size = sm->shard_size;
	ho.allow_symlinks = sm->allow_symlinks;
	ho.ignore_paths = ign;
	ho.n_ignore_paths = n_ign;
	ho.no_default_ignores = !defaults;
	ho.threads = o->threads;
	ho.progress = o->progress;
	ho.progress_ctx = o->progress_ctx;
	bw_diag_clear(&d);
	err = bw_manifest_build(model_path, sig_path, &ho, &lm, &d);
	if (err != BW_OK) {
		bw_verify_check(r, "manifest", 0, "cannot hash the model: %s", d.what);
		(void)bw_diag_set(diag, err, BW_NO_OFFSET, "%s", d.what);
		if (err == BW_ERR_UNSUPPORTED)
			err = BW_ERR_VERIFY; /* e.g. a symlink the signer did not allow */
		goto out;
	}
	err = compare(sm, lm, o->ignore_unsigned, r);
	if (err != BW_OK)
		goto out;
	if (r->n_diffs > 0) {
		char first[200];

		snprintf(first, sizeof first, "%s%s%s", r->diffs[0].name, r->diffs[0].new_name ? " -> " : "",
		         r->diffs[0].new_name ? r->diffs[0].new_name : "");
		bw_verify_check(r, "manifest", 0, "%zu file%s from the signed manifest; first: %.120s %s",
		                r->n_diffs, r->n_diffs == 1 ? " differs" : "s differ", first, diff_word(r->diffs[0].kind));
		err = BW_ERR_VERIFY;
		goto out;
	}
	bw_verify_check(r, "manifest", 1, "%zu files (%llu bytes) match the %zu signed resources", lm->n_files,
	                (unsigned long long)lm->total_bytes, sm->n_items);
	r->verified = 1;
out:
	if (err != BW_OK && r->reason[0] == '\0')
		snprintf(r->reason, sizeof r->reason, "%s", diag && diag->what[0] ? diag->what : bw_err_str(err));
	bw_free(ign);
	bw_manifest_free(sm);
	bw_manifest_free(lm);
	return err;
}

enum bw_err bw_bundle_inspect(const uint8_t *bundle, size_t bundle_len, struct bw_manifest **out,
                              struct bw_diag *diag)
{
	struct bw_bundle b;
	enum bw_err err;
	int compat = 0;

	*out = NULL;
	err = bw_bundle_parse(bundle, bundle_len, &b, diag);
	if (err != BW_OK)
		return err;
	err = bw_statement_to_manifest(b.payload, b.payload_len, out, &compat, diag);
	bw_bundle_release(&b);
	return err;
}
