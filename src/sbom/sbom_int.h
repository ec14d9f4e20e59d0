/*
 * sbom/sbom_int.h - what the SBOM writers share (internal): the model facts
 * read from a folder, and the file inventory.
 * Must not: include OpenSSL (hashing is behind bw_sbom_hash_file).
 */
#ifndef BW_SBOM_INT_H
#define BW_SBOM_INT_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/sbom.h"
#include "core/arena.h"

struct bw_kv {
	const char *key, *value;
};

struct bw_model_file {
	const char *rel;          /* path relative to the model folder */
	uint64_t size;
	char sha256[65];
	const char *format;       /* "safetensors", "pytorch-pickle", ... or NULL */
};

struct bw_model_info {
	const char *name;         /* model name (README model_name, config _name_or_path, folder) */
	const char *license;      /* as written */
	const char *license_name; /* README license_name for "other" */
	size_t n_datasets;
	const char **datasets;
	size_t n_base;
	const char **base_models;
	const char *pipeline_tag;
	const char *library_name;
	const char *model_type;   /* config.json model_type -> architecture family */
	size_t n_arch;
	const char **architectures;
	size_t n_hyper;
	struct bw_kv *hyper;      /* scalar config.json values, sorted by key */
	size_t n_lang;
	const char **languages;
	size_t n_files;
	struct bw_model_file *files; /* sorted by rel */
	const char *formats;      /* distinct weight formats, comma-separated, or NULL */
};

/* Read the folder: hash files, parse config.json and README.md front matter. */
BW_MUST_CHECK enum bw_err bw_model_read(struct bw_arena *a, const char *dir, uint64_t max_files,
                                        struct bw_model_info *m, struct bw_diag *diag);

/* Writers: a complete document into a new jansson-free string (bw_free). */
BW_MUST_CHECK enum bw_err bw_sbom_write_cyclonedx(const struct bw_model_info *m,
                                                  const struct bw_sbom_opts *o, const char *timestamp,
                                                  char **out, size_t *len);
BW_MUST_CHECK enum bw_err bw_sbom_write_spdx3(const struct bw_model_info *m, const struct bw_sbom_opts *o,
                                              const char *timestamp, char **out, size_t *len);

/*
 * The requirements of o by PEP 503 name (sbom/reqindex.c), built once per
 * document in the arena: dependency edges and top-level packages in
 * O(n log n).
 */
struct bw_sbom_name;
struct bw_sbom_index {
	struct bw_sbom_name *v; /* sorted by (name, index) */
	size_t n;
	unsigned char *depended; /* per requirement: another requirement depends on it */
};
BW_MUST_CHECK enum bw_err bw_sbom_index_build(struct bw_arena *a, const struct bw_sbom_opts *o,
                                              struct bw_sbom_index *ix);
/* 1 when no other requirement depends on requirement i (also when its name is not valid). */
int bw_sbom_index_is_root(const struct bw_sbom_index *ix, size_t i);
/*
 * The first requirement (in o->reqs order) other than self whose name is
 * dep's and whose refs entry is set; SIZE_MAX when there is none.
 */
size_t bw_sbom_index_find(const struct bw_sbom_index *ix, const char *dep, size_t self,
                          const char *const *refs);

/* purl of a Python requirement ("pkg:pypi/name@version"), into the arena. */
const char *bw_sbom_pypi_purl(struct bw_arena *a, const struct bw_audit_req *r);

#endif
