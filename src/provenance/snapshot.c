/*
 * snapshot.c - dataset snapshots and their diff (see bulwark/provenance.h).
 *
 * Hashing reuses the OMS manifest walk of src/sign (parallel, no symlinks,
 * the same path normalisation), so a dataset and a model are walked by one
 * piece of code. The snapshot digest is SHA-256 over "<sha256>  <path>\n"
 * lines sorted by path (the sha256sum listing), so anyone can recompute it
 * with coreutils.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulwark/provenance.h"
#include "bulwark/sign.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/fileio.h"
#include "core/json.h"
#include "crypto/crypto.h"

#define SNAPSHOT_MAX_FILE ((size_t)1 << 31)

const char *bw_change_str(enum bw_change c)
{
	switch (c) {
	case BW_CHANGE_ADDED:
		return "added";
	case BW_CHANGE_REMOVED:
		return "removed";
	case BW_CHANGE_CHANGED:
		return "changed";
	case BW_CHANGE_RENAMED:
		return "renamed";
	}
	return "?";
}

void bw_snapshot_free(struct bw_snapshot *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n_files; i++)
		bw_free(s->files[i].path);
	bw_free(s->files);
	bw_free(s->name);
	bw_free(s->created);
	bw_free(s);
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct bw_snapshot_file *)a)->path,
	              ((const struct bw_snapshot_file *)b)->path);
}

/* Sort by path and compute the listing digest. */
static enum bw_err finish(struct bw_snapshot *s)
{
	struct bw_hash_ctx *h = bw_hash_ctx_new(BW_HASH_SHA256);
	uint8_t d[BW_SHA256_LEN];
	enum bw_err e = BW_OK;
	size_t i;

	if (h == NULL)
		return BW_ERR_NOMEM;
	qsort(s->files, s->n_files, sizeof *s->files, cmp_file);
	s->bytes = 0;
	for (i = 0; i < s->n_files && e == BW_OK; i++) {
		s->bytes += s->files[i].size;
		e = bw_hash_ctx_update(h, s->files[i].sha256, 64);
		if (e == BW_OK)
			e = bw_hash_ctx_update(h, "  ", 2);
		if (e == BW_OK)
			e = bw_hash_ctx_update(h, s->files[i].path, strlen(s->files[i].path));
		if (e == BW_OK)
			e = bw_hash_ctx_update(h, "\n", 1);
	}
	if (e == BW_OK)
		e = bw_hash_ctx_final(h, d);
	bw_hash_ctx_free(h);
	if (e == BW_OK)
		bw_hex_encode(d, sizeof d, s->digest);
	return e;
}

static char *now_rfc3339(void)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return bw_strdup(buf);
}

enum bw_err bw_snapshot_take(const char *dir, struct bw_snapshot **out, struct bw_diag *diag)
{
	struct bw_hash_opts ho;
	struct bw_manifest *m = NULL;
	struct bw_snapshot *s;
	const char *base;
	size_t i;
	enum bw_err e;

	*out = NULL;
	bw_hash_opts_init(&ho);
	ho.no_default_ignores = 1; /* a dataset's .gitattributes is data too */
	e = bw_manifest_build(dir, NULL, &ho, &m, diag);
	if (e != BW_OK)
		return e;
	s = bw_calloc(1, sizeof *s);
	if (s == NULL) {
		bw_manifest_free(m);
		return BW_ERR_NOMEM;
	}
	base = strrchr(dir, '/');
	base = base && base[1] ? base + 1 : dir;
	s->name = bw_strdup(base);
	s->created = now_rfc3339();
	s->files = bw_calloc(m->n_items + 1, sizeof *s->files);
	if (s->name == NULL || s->created == NULL || s->files == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < m->n_items; i++) {
		const struct bw_manifest_item *it = &m->items[i];
		s->files[i].path = bw_strdup(m->single_file ? base : it->path);
		if (s->files[i].path == NULL) {
			e = BW_ERR_NOMEM;
			goto out;
		}
		s->files[i].size = it->end - it->start;
		bw_hex_encode(it->digest, 32, s->files[i].sha256);
		s->n_files++;
	}
	e = finish(s);
out:
	bw_manifest_free(m);
	if (e != BW_OK) {
		bw_snapshot_free(s);
		return e;
	}
	*out = s;
	return BW_OK;
}

enum bw_err bw_snapshot_json(const struct bw_snapshot *s, char **json)
{
	json_t *files = json_array();
	size_t i;

	for (i = 0; i < s->n_files; i++)
		json_array_append_new(files, json_pack("{s:o,s:I,s:s}", "path", bw_json_text(s->files[i].path),
		                                       "size", (json_int_t)s->files[i].size, "sha256",
		                                       s->files[i].sha256));
	return bw_json_dump(json_pack("{s:s,s:o,s:s,s:I,s:I,s:s,s:o}", "schema", "bulwark.data-snapshot/1",
	                              "name", bw_json_text(s->name), "created", s->created, "files",
	                              (json_int_t)s->n_files, "bytes", (json_int_t)s->bytes, "digest",
	                              s->digest, "entries", files),
	                    json);
}

static int is_hex64(const char *h)
{
	size_t i;

	if (h == NULL || strlen(h) != 64)
		return 0;
	for (i = 0; i < 64; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return 0;
	return 1;
}

enum bw_err bw_snapshot_load(const char *path, struct bw_snapshot **out, struct bw_diag *diag)
{
	struct bw_file_map m;
	json_error_t jerr;
	json_t *root = NULL, *ents, *e_;
	struct bw_snapshot *s = NULL;
	const char *schema, *digest;
	size_t i;
	enum bw_err e;

	*out = NULL;
	e = bw_file_map(path, SNAPSHOT_MAX_FILE, &m, diag);
	if (e != BW_OK)
		return e;
	root = json_loadb((const char *)m.data, m.len, JSON_REJECT_DUPLICATES, &jerr);
	bw_file_unmap(&m);
	if (root == NULL)
		return bw_diag_set(diag, BW_ERR_MALFORMED, (uint64_t)jerr.position, "%s: %s", path, jerr.text);
	schema = json_string_value(json_object_get(root, "schema"));
	digest = json_string_value(json_object_get(root, "digest"));
	ents = json_object_get(root, "entries");
	if (schema == NULL || strcmp(schema, "bulwark.data-snapshot/1") != 0 || !is_hex64(digest) ||
	    !json_is_array(ents)) {
		e = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                "%s: not a bulwark.data-snapshot/1 document", path);
		goto out;
	}
	s = bw_calloc(1, sizeof *s);
	if (s == NULL || (s->files = bw_calloc(json_array_size(ents) + 1, sizeof *s->files)) == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	{
		const char *nm = json_string_value(json_object_get(root, "name"));
		const char *cr = json_string_value(json_object_get(root, "created"));
		s->name = bw_strdup(nm ? nm : "");
		s->created = bw_strdup(cr ? cr : "");
	}
	json_array_foreach(ents, i, e_) {
		const char *p = json_string_value(json_object_get(e_, "path"));
		const char *h = json_string_value(json_object_get(e_, "sha256"));
		json_t *sz = json_object_get(e_, "size");
		if (p == NULL || !is_hex64(h) || !json_is_integer(sz) || json_integer_value(sz) < 0) {
			e = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "%s: entry %zu is malformed", path, i);
			goto out;
		}
		s->files[i].path = bw_strdup(p);
		if (s->files[i].path == NULL) {
			e = BW_ERR_NOMEM;
			goto out;
		}
		s->files[i].size = (uint64_t)json_integer_value(sz);
		memcpy(s->files[i].sha256, h, 65);
		s->n_files++;
	}
	e = finish(s);
	if (e == BW_OK && strcmp(s->digest, digest) != 0)
		e = bw_diag_set(diag, BW_ERR_VERIFY, BW_NO_OFFSET,
		                "%s: the listing does not match its digest (the snapshot was edited)", path);
out:
	json_decref(root);
	if (e != BW_OK) {
		bw_snapshot_free(s);
		return e;
	}
	*out = s;
	return BW_OK;
}

enum bw_err bw_snapshot_open(const char *path, struct bw_snapshot **out, struct bw_diag *diag)
{
	struct bw_file_map m;
	enum bw_err e = bw_file_map(path, 16, &m, NULL);
	int is_file = e == BW_OK || e == BW_ERR_LIMIT;

	if (e == BW_OK)
		bw_file_unmap(&m);
	/* a regular file is a snapshot document; anything else is a folder to snapshot now */
	return is_file ? bw_snapshot_load(path, out, diag) : bw_snapshot_take(path, out, diag);
}

/* qsort has no context argument: the file array being indexed, set just before sorting */
static __thread const struct bw_snapshot_file *g_sort_files;

static int cmp_idx_digest(const void *a, const void *b)
{
	const struct bw_snapshot_file *x = &g_sort_files[*(const size_t *)a];
	const struct bw_snapshot_file *y = &g_sort_files[*(const size_t *)b];
	int c = strcmp(x->sha256, y->sha256);

	return c != 0 ? c : strcmp(x->path, y->path);
}

static int cmp_change(const void *a, const void *b)
{
	return strcmp(((const struct bw_data_change *)a)->path, ((const struct bw_data_change *)b)->path);
}

enum bw_err bw_snapshot_diff(const struct bw_snapshot *o, const struct bw_snapshot *n,
                             struct bw_data_change **out, size_t *count)
{
	struct bw_data_change *v;
	char *o_used = NULL, *n_used = NULL;
	size_t i = 0, j = 0, k = 0, a, b;
	int c;

	*out = NULL;
	*count = 0;
	v = bw_calloc(o->n_files + n->n_files + 1, sizeof *v);
	o_used = bw_calloc(o->n_files + 1, 1);
	n_used = bw_calloc(n->n_files + 1, 1);
	if (v == NULL || o_used == NULL || n_used == NULL) {
		bw_free(v);
		bw_free(o_used);
		bw_free(n_used);
		return BW_ERR_NOMEM;
	}
	/* both lists are sorted by path: one merge pass finds same-path changes */
	while (i < o->n_files && j < n->n_files) {
		c = strcmp(o->files[i].path, n->files[j].path);
		if (c == 0) {
			if (strcmp(o->files[i].sha256, n->files[j].sha256) != 0) {
				v[k].kind = BW_CHANGE_CHANGED;
				v[k++].path = o->files[i].path;
			}
			o_used[i++] = n_used[j++] = 1;
		} else if (c < 0) {
			i++;
		} else {
			j++;
		}
	}
	/* a removed file whose content reappears under a new path was renamed:
	 * match unmatched files by digest through a sorted index (n log n) */
	{
		size_t *idx = bw_calloc(n->n_files + 1, sizeof *idx), m = 0, lo, hi, mid;

		if (idx == NULL) {
			bw_free(v);
			bw_free(o_used);
			bw_free(n_used);
			return BW_ERR_NOMEM;
		}
		for (b = 0; b < n->n_files; b++)
			if (!n_used[b])
				idx[m++] = b;
		g_sort_files = n->files;
		qsort(idx, m, sizeof *idx, cmp_idx_digest);
		for (a = 0; a < o->n_files; a++) {
			if (o_used[a])
				continue;
			lo = 0;
			hi = m;
			while (lo < hi) { /* first index whose digest is >= the removed file's */
				mid = lo + (hi - lo) / 2;
				if (strcmp(n->files[idx[mid]].sha256, o->files[a].sha256) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (; lo < m && strcmp(n->files[idx[lo]].sha256, o->files[a].sha256) == 0; lo++) {
				if (n_used[idx[lo]])
					continue;
				v[k].kind = BW_CHANGE_RENAMED;
				v[k].path = o->files[a].path;
				v[k++].new_path = n->files[idx[lo]].path;
				o_used[a] = n_used[idx[lo]] = 1;
				break;
			}
			if (!o_used[a]) {
				v[k].kind = BW_CHANGE_REMOVED;
				v[k++].path = o->files[a].path;
			}
		}
		bw_free(idx);
	}
	for (b = 0; b < n->n_files; b++) {
		if (!n_used[b]) {
			v[k].kind = BW_CHANGE_ADDED;
			v[k++].path = n->files[b].path;
		}
	}
	bw_free(o_used);
	bw_free(n_used);
	qsort(v, k, sizeof *v, cmp_change);
	*out = v;
	*count = k;
	return BW_OK;
}
