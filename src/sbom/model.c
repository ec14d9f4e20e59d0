/*
 * model.c - what a model folder says about its model: every file (relative
 * path, size, SHA-256, weight format by name), Hugging Face config.json
 * (model_type, architectures, scalar hyperparameters, _name_or_path) and the
 * README.md front matter (license, license_name, datasets, base_model,
 * pipeline_tag, library_name, language, model-index name), as documented in
 * the Hugging Face model card specification (huggingface.co/docs/hub/model-cards).
 *
 * Must not: load, unpickle or execute anything; parse any file other than
 * config.json and README.md; follow directory symlinks; recurse on depth.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "audit/tree.h"
#include "core/alloc.h"
#include "core/fileio.h"
#include "sbom/sbom_int.h"

#define MODEL_MAX_META ((size_t)4 << 20)  /* config.json / README.md bytes */
#define MODEL_MAX_DEPTH 32
#define MODEL_MAX_DIRS (1 << 20) /* folders pending at once */
#define MODEL_MAX_HYPER 256

/* Weight/serialization format from the file name (the scanner decides by content). */
static const char *format_of(const char *name)
{
	static const struct {
		const char *ext, *fmt;
	} t[] = {
		{".safetensors", "safetensors"}, {".bin", "pytorch"}, {".pt", "pytorch"}, {".pth", "pytorch"},
		{".ckpt", "checkpoint"}, {".onnx", "onnx"}, {".gguf", "gguf"}, {".ggml", "ggml"},
		{".h5", "hdf5"}, {".hdf5", "hdf5"}, {".keras", "keras"}, {".pb", "tensorflow-savedmodel"},
		{".tflite", "tflite"}, {".msgpack", "flax-msgpack"}, {".pkl", "pickle"}, {".pickle", "pickle"},
		{".joblib", "joblib"}, {".npy", "numpy"}, {".npz", "numpy"}, {".mlmodel", "coreml"},
	};
	size_t n = strlen(name), i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		size_t l = strlen(t[i].ext);

		if (n > l && strcasecmp(name + n - l, t[i].ext) == 0)
			return t[i].fmt;
	}
	return NULL;
}

/* ------------------------------------------------------------ files */

struct fvec {
	struct bw_model_file *v;
	size_t n, cap;
};

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct bw_model_file *)a)->rel, ((const struct bw_model_file *)b)->rel);
}

static enum bw_err add_file(struct bw_arena *a, struct fvec *fv, const char *full, const char *rel,
                            uint64_t size, struct bw_diag *diag)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t h[32];
	struct bw_model_file *f;
	enum bw_err e;
	size_t i;

	if (fv->n == fv->cap) {
		size_t c = fv->cap ? fv->cap * 2 : 32;
		struct bw_model_file *t = bw_reallocarray(fv->v, c, sizeof *t);

		if (t == NULL)
			return BW_ERR_NOMEM;
		fv->v = t;
		fv->cap = c;
	}
	e = bw_sbom_hash_file(full, h, diag);
	if (e != BW_OK)
		return e;
	f = &fv->v[fv->n];
	memset(f, 0, sizeof *f);
	f->rel = bw_arena_strdup(a, rel);
	if (f->rel == NULL)
		return BW_ERR_NOMEM;
	f->size = size;
	for (i = 0; i < 32; i++) {
		f->sha256[2 * i] = hex[h[i] >> 4];
		f->sha256[2 * i + 1] = hex[h[i] & 15];
	}
	f->sha256[64] = '\0';
	f->format = format_of(rel);
	fv->n++;
	return BW_OK;
}

static enum bw_err walk(struct bw_arena *a, const char *root, uint64_t max_files, struct fvec *fv,
                        struct bw_diag *diag)
{
	char **stack = NULL;
	size_t *depth_of = NULL;
	size_t n = 0, cap = 64;
	enum bw_err e = BW_OK;
	size_t rootlen = strlen(root);

	/* pending folders: an explicit stack that grows (capped by MODEL_MAX_DIRS) */
	stack = bw_calloc(cap, sizeof *stack);
	depth_of = bw_calloc(cap, sizeof *depth_of);
	if (stack == NULL || depth_of == NULL) {
		bw_free(stack);
		bw_free(depth_of);
		return BW_ERR_NOMEM;
	}
	stack[n] = bw_strdup(root);
	depth_of[n++] = 0;
	if (stack[0] == NULL) {
		bw_free(stack);
		return BW_ERR_NOMEM;
	}
	while (n > 0 && e == BW_OK) {
		char *dir = stack[--n];
		size_t depth = depth_of[n];
		DIR *d = opendir(dir);
		struct dirent *de;

		if (d == NULL) {
			e = bw_diag_set(diag, errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO, BW_NO_OFFSET, "%s: %s",
			                dir, strerror(errno));
			bw_free(dir);
			break;
		}
		while (e == BW_OK && (de = readdir(d)) != NULL) {
			struct stat st;
			char *full;

			/* hidden entries (.git, .cache, .gitattributes) are not part of the model */
			if (de->d_name[0] == '.')
				continue;
			full = bw_malloc(strlen(dir) + strlen(de->d_name) + 2);
			if (full == NULL) {
				e = BW_ERR_NOMEM;
				break;
			}
			strcpy(full, dir);
			strcat(full, "/");
			strcat(full, de->d_name);
			if (lstat(full, &st) != 0) {
				bw_free(full);
				continue;
			}
			if (S_ISDIR(st.st_mode)) {
				if (depth + 1 >= MODEL_MAX_DEPTH) {
					e = bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET,
					                "%s: folder nesting deeper than %d levels", full, MODEL_MAX_DEPTH);
					bw_free(full);
					break;
				}
				if (n == cap) {
					char **ns;
					size_t *nd;

					if (cap >= MODEL_MAX_DIRS) {
						e = bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET,
						                "%s: more than %d folders waiting to be read", full, MODEL_MAX_DIRS);
						bw_free(full);
						break;
					}
					ns = bw_reallocarray(stack, cap * 2, sizeof *stack);
					if (ns != NULL)
						stack = ns;
					nd = ns != NULL ? bw_reallocarray(depth_of, cap * 2, sizeof *depth_of) : NULL;
					if (nd == NULL) {
						e = BW_ERR_NOMEM;
						bw_free(full);
						break;
					}
					depth_of = nd;
					cap *= 2;
				}
				stack[n] = full;
				depth_of[n++] = depth + 1;
				continue;
			}
			/* a symlink to a file is hashed through (Hugging Face cache snapshots are symlinks) */
			if (S_ISLNK(st.st_mode) && (stat(full, &st) != 0 || !S_ISREG(st.st_mode))) {
				bw_free(full);
				continue;
			}
			if (S_ISREG(st.st_mode)) {
				if (fv->n >= max_files)
					e = bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "more than %llu files in the model folder",
					                (unsigned long long)max_files);
				else
					e = add_file(a, fv, full, full + rootlen + 1, (uint64_t)st.st_size, diag);
			}
			bw_free(full);
		}
		closedir(d);
		bw_free(dir);
	}
	while (n > 0)
		bw_free(stack[--n]);
	bw_free(stack);
	bw_free(depth_of);
	if (e == BW_OK && fv->n > 1)
		qsort(fv->v, fv->n, sizeof *fv->v, cmp_file);
	return e;
}

/* ------------------------------------------------------------ metadata */

/* A string or a list of strings (YAML front matter allows both). */
static enum bw_err str_or_list(struct bw_arena *a, const struct bw_tnode *n, size_t *cnt, const char ***out)
{
	size_t i;

	*cnt = 0;
	*out = NULL;
	if (n == NULL)
		return BW_OK;
	if (bw_tree_str(n) != NULL) {
		*out = bw_arena_array(a, 1, sizeof **out);
		if (*out == NULL)
			return BW_ERR_NOMEM;
		(*out)[0] = bw_tree_str(n);
		*cnt = 1;
		return BW_OK;
	}
	if (n->type != BW_T_SEQ)
		return BW_OK;
	*out = bw_arena_array(a, n->n ? n->n : 1, sizeof **out);
	if (*out == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < n->n; i++)
		if (bw_tree_str(n->kids[i]) != NULL && bw_tree_str(n->kids[i])[0] != '\0')
			(*out)[(*cnt)++] = bw_tree_str(n->kids[i]);
	return BW_OK;
}

static enum bw_err read_meta_file(struct bw_arena *a, const char *dir, const char *name, struct bw_file_map *m,
                                  int *present, struct bw_diag *diag)
{
	char path[4096];
	enum bw_err e;

	*present = 0;
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "path too long");
	e = bw_file_map(path, MODEL_MAX_META, m, diag);
	if (e == BW_ERR_NOTFOUND) {
		bw_diag_clear(diag);
		return BW_OK;
	}
	(void)a;
	if (e == BW_OK)
		*present = 1;
	return e;
}

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const struct bw_kv *)a)->key, ((const struct bw_kv *)b)->key);
}

static enum bw_err read_config(struct bw_arena *a, const char *dir, struct bw_model_info *m, struct bw_diag *diag)
{
	struct bw_file_map fm;
	struct bw_tnode *doc = NULL;
	int present;
	enum bw_err e;
	size_t i;

	e = read_meta_file(a, dir, "config.json", &fm, &present, diag);
	if (e != BW_OK || !present)
		return e;
	e = bw_tree_parse_json(a, fm.data, fm.len, &doc, diag);
	bw_file_unmap(&fm);
	if (e != BW_OK)
		return bw_diag_set(diag, e, BW_NO_OFFSET, "config.json is not valid JSON");
	if (doc->type != BW_T_MAP)
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "config.json is not an object");
	m->model_type = bw_tree_get_str(doc, "model_type");
	if (m->name == NULL && bw_tree_get_str(doc, "_name_or_path") != NULL &&
	    bw_tree_get_str(doc, "_name_or_path")[0] != '\0')
		m->name = bw_tree_get_str(doc, "_name_or_path");
	if ((e = str_or_list(a, bw_tree_get(doc, "architectures"), &m->n_arch, &m->architectures)) != BW_OK)
		return e;
	m->hyper = bw_arena_array(a, doc->n ? doc->n : 1, sizeof *m->hyper);
	if (m->hyper == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < doc->n && m->n_hyper < MODEL_MAX_HYPER; i++) {
		const char *k = doc->kids[2 * i]->str;
		const struct bw_tnode *v = doc->kids[2 * i + 1];

		/* scalar settings are the hyperparameters; "_" keys and the ones used above are bookkeeping */
		if (k[0] == '_' || strcmp(k, "architectures") == 0 || strcmp(k, "model_type") == 0 ||
		    strcmp(k, "transformers_version") == 0 || bw_tree_str(v) == NULL)
			continue;
		m->hyper[m->n_hyper].key = k;
		m->hyper[m->n_hyper].value = bw_tree_str(v);
		m->n_hyper++;
	}
	if (m->n_hyper > 1)
		qsort(m->hyper, m->n_hyper, sizeof *m->hyper, cmp_kv);
	return BW_OK;
}

static enum bw_err read_readme(struct bw_arena *a, const char *dir, struct bw_model_info *m, struct bw_diag *diag)
{
	struct bw_file_map fm;
	struct bw_tnode *doc = NULL;
	const struct bw_tnode *mi;
	int present;
	enum bw_err e;
	const char *p, *end, *start;
	size_t n_lic = 0;
	const char **lic = NULL;

	e = read_meta_file(a, dir, "README.md", &fm, &present, diag);
	if (e != BW_OK || !present)
		return e;
	p = (const char *)fm.data;
	end = p + fm.len;
	/* front matter: the file starts with a "---" line and the block ends at the next "---" line */
	if (fm.len < 4 || memcmp(p, "---", 3) != 0 || (p[3] != '\n' && p[3] != '\r')) {
		bw_file_unmap(&fm);
		return BW_OK;
	}
	start = p + (p[3] == '\r' ? 5 : 4);
	for (p = start; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (ll >= 3 && memcmp(p, "---", 3) == 0 && (ll == 3 || (ll == 4 && p[3] == '\r')))
			break;
		p = nl ? nl + 1 : end;
	}
	if (p >= end) {
		bw_file_unmap(&fm);
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "README.md front matter is not closed");
	}
	if (p == start) {
		bw_file_unmap(&fm);
		return BW_OK;
	}
	e = bw_tree_parse_yaml(a, (const uint8_t *)start, (size_t)(p - start), &doc, diag);
	bw_file_unmap(&fm);
	if (e != BW_OK)
		return bw_diag_set(diag, e, BW_NO_OFFSET, "README.md front matter is not valid YAML");
	if (doc->type != BW_T_MAP)
		return BW_OK;
	if ((e = str_or_list(a, bw_tree_get(doc, "license"), &n_lic, &lic)) != BW_OK)
		return e;
	if (n_lic > 0)
		m->license = lic[0];
	m->license_name = bw_tree_get_str(doc, "license_name");
	if ((e = str_or_list(a, bw_tree_get(doc, "datasets"), &m->n_datasets, &m->datasets)) != BW_OK ||
	    (e = str_or_list(a, bw_tree_get(doc, "base_model"), &m->n_base, &m->base_models)) != BW_OK ||
	    (e = str_or_list(a, bw_tree_get(doc, "language"), &m->n_lang, &m->languages)) != BW_OK)
		return e;
	m->pipeline_tag = bw_tree_get_str(doc, "pipeline_tag");
	m->library_name = bw_tree_get_str(doc, "library_name");
	mi = bw_tree_get(doc, "model-index");
	if (mi != NULL && mi->type == BW_T_SEQ && mi->n > 0 && bw_tree_get_str(mi->kids[0], "name") != NULL)
		m->name = bw_tree_get_str(mi->kids[0], "name");
	return BW_OK;
}

enum bw_err bw_model_read(struct bw_arena *a, const char *dir, uint64_t max_files, struct bw_model_info *m,
                          struct bw_diag *diag)
{
	struct fvec fv = {0};
	struct stat st;
	enum bw_err e;
	size_t i;
	char fmts[256];

	memset(m, 0, sizeof *m);
	if (stat(dir, &st) != 0)
		return bw_diag_set(diag, errno == ENOENT ? BW_ERR_NOTFOUND : BW_ERR_IO, BW_NO_OFFSET, "%s: %s", dir,
		                   strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET, "%s is not a folder", dir);
	e = read_readme(a, dir, m, diag);
	if (e == BW_OK)
		e = read_config(a, dir, m, diag);
	if (e == BW_OK)
		e = walk(a, dir, max_files, &fv, diag);
	if (e != BW_OK) {
		bw_free(fv.v);
		return e;
	}
	m->files = bw_arena_array(a, fv.n ? fv.n : 1, sizeof *m->files);
	if (m->files == NULL) {
		bw_free(fv.v);
		return BW_ERR_NOMEM;
	}
	if (fv.n > 0)
		memcpy(m->files, fv.v, fv.n * sizeof *m->files);
	m->n_files = fv.n;
	bw_free(fv.v);
	if (m->name == NULL) {
		const char *b = strrchr(dir, '/');
		size_t l = strlen(dir);

		while (l > 1 && dir[l - 1] == '/')
			l--;
		b = dir;
		for (i = 0; i < l; i++)
			if (dir[i] == '/' && i + 1 < l)
				b = dir + i + 1;
		m->name = bw_arena_strndup(a, b, l - (size_t)(b - dir));
		if (m->name == NULL)
			return BW_ERR_NOMEM;
	}
	fmts[0] = '\0';
	for (i = 0; i < m->n_files; i++) {
		const char *f = m->files[i].format;

		if (f == NULL || strstr(fmts, f) != NULL)
			continue;
		if (strlen(fmts) + strlen(f) + 2 >= sizeof fmts)
			break;
		if (fmts[0] != '\0')
			strcat(fmts, ",");
		strcat(fmts, f);
	}
	if (fmts[0] != '\0' && (m->formats = bw_arena_strdup(a, fmts)) == NULL)
		return BW_ERR_NOMEM;
	return BW_OK;
}
