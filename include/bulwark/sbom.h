/*
 * bulwark/sbom.h - inventory of a model folder and its Python dependencies as
 * an SBOM: CycloneDX 1.6 (or 1.5) JSON ML-BOM, or SPDX 3.0 JSON-LD with the AI
 * and Dataset profiles.
 *
 * bw_sbom_build() hashes every file of the model folder (SHA-256), reads what
 * the folder says about the model (Hugging Face config.json and the README
 * front matter: license, datasets, base model, pipeline tag, architecture,
 * hyperparameters), adds each Python package as a library with a purl and the
 * dependency graph, and renders the document. Nothing in the folder is loaded
 * or executed; only config.json and README.md are parsed (JSON, YAML front
 * matter), every other file is only hashed.
 *
 * Output is deterministic for the same inputs and the same timestamp: the
 * timestamp is SOURCE_DATE_EPOCH when set (reproducible builds), else now.
 * Memory: strings returned are freed with bw_sbom_str_free. Thread-safe (no
 * shared state).
 */
#ifndef BULWARK_SBOM_H
#define BULWARK_SBOM_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/audit.h"
#include "bulwark/error.h"

enum bw_sbom_format {
	BW_SBOM_CYCLONEDX_16 = 0,
	BW_SBOM_CYCLONEDX_15,
	BW_SBOM_SPDX_3           /* SPDX 3.0.1 JSON-LD, core + software + ai + dataset */
};

struct bw_sbom_opts {
	const char *model_dir;            /* required */
	const struct bw_audit_req *reqs;  /* Python packages (may be NULL when n_reqs == 0) */
	size_t n_reqs;
	enum bw_sbom_format format;
	int64_t timestamp;                /* seconds since 1970; -1: SOURCE_DATE_EPOCH or now */
	uint64_t max_files;               /* files hashed in the folder (default 100000) */
};
void bw_sbom_opts_default(struct bw_sbom_opts *o);

/*
 * Build the SBOM into a new NUL-terminated string. Returns BW_OK, BW_ERR_ARG,
 * BW_ERR_NOTFOUND / BW_ERR_IO (folder unusable), BW_ERR_MALFORMED (config.json
 * or README front matter unreadable: diag says which), BW_ERR_LIMIT,
 * BW_ERR_CRYPTO (hashing failed), BW_ERR_NOMEM.
 */
BW_MUST_CHECK enum bw_err bw_sbom_build(const struct bw_sbom_opts *o, char **out, size_t *len,
                                        struct bw_diag *diag);
void bw_sbom_str_free(char *s);

/*
 * SHA-256 of a file's bytes, read in chunks (any size). The one hashing entry
 * point of the SBOM module. Returns BW_OK, BW_ERR_IO, BW_ERR_NOTFOUND,
 * BW_ERR_CRYPTO.
 */
BW_MUST_CHECK enum bw_err bw_sbom_hash_file(const char *path, uint8_t out[32], struct bw_diag *diag);

/* Case-correct SPDX identifier for a license name ("apache-2.0" -> "Apache-2.0"),
 * or NULL when it is not an SPDX identifier. */
const char *bw_sbom_spdx_id(const char *name);

/* ---- reading SBOMs back (bulwark sbom --check) ---- */

struct bw_sbom_info {
	char spec_version[8];     /* "1.5", "1.6" */
	size_t n_components;      /* all, nested included */
	size_t n_errors;          /* schema violations found */
	char first_error[256];    /* the first one, with its JSON path */
};

/*
 * Check a CycloneDX JSON document against the official JSON schema of its
 * specVersion, read from schema_dir (bom-1.5.schema.json, bom-1.6.schema.json,
 * spdx.schema.json, jsf-0.82.schema.json). Returns BW_OK (read; info says
 * whether it is valid: n_errors == 0), BW_ERR_MALFORMED (not JSON / not
 * CycloneDX), BW_ERR_UNSUPPORTED (a specVersion without schema),
 * BW_ERR_NOTFOUND / BW_ERR_IO (schema files), BW_ERR_LIMIT, BW_ERR_NOMEM.
 */
BW_MUST_CHECK enum bw_err bw_sbom_check(const char *path, const char *schema_dir,
                                        struct bw_sbom_info *info, struct bw_diag *diag);

#endif
