/*
 * bulwark/provenance.h - dataset snapshots, training-run attestations and the
 * lineage of a model.
 *
 *  - A snapshot records every file of a dataset folder with its SHA-256
 *    (schema bulwark.data-snapshot/1) and a digest over that listing; two
 *    snapshots (or a snapshot and a folder) diff into added, removed, changed
 *    and renamed files.
 *  - An attestation is an in-toto Statement v1 with a SLSA provenance v1
 *    predicate describing a training run (inputs by digest: datasets through
 *    their snapshot digests, code, git commit, parameters, environment;
 *    outputs: the model files), signed as a DSSE envelope with a key made by
 *    `bulwark keygen`.
 *  - Lineage walks from a model file to the attestations that name it, checks
 *    their signatures, and re-checks every input digest against what is on
 *    disk, naming each missing or changed link (down to the dataset file).
 * Thread safety: no shared state.
 */
#ifndef BULWARK_PROVENANCE_H
#define BULWARK_PROVENANCE_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"

/* ---- snapshots ---- */

struct bw_snapshot_file {
	char *path;         /* '/'-separated, relative to the dataset root */
	uint64_t size;
	char sha256[65];
};

struct bw_snapshot {
	char *name;
	char *created;      /* RFC 3339 UTC */
	char digest[65];    /* SHA-256 over the sorted "<sha256>  <path>\n" lines */
	struct bw_snapshot_file *files;
	size_t n_files;
	uint64_t bytes;
};

/* Hash every file under dir (on all cores). */
BW_MUST_CHECK enum bw_err bw_snapshot_take(const char *dir, struct bw_snapshot **out, struct bw_diag *diag);
/* JSON text (bw_malloc'd) of a snapshot. */
BW_MUST_CHECK enum bw_err bw_snapshot_json(const struct bw_snapshot *s, char **json);
/* Read a snapshot JSON file; its digest is recomputed and must match. */
BW_MUST_CHECK enum bw_err bw_snapshot_load(const char *path, struct bw_snapshot **out, struct bw_diag *diag);
/* A snapshot file, or a folder snapshotted now. */
BW_MUST_CHECK enum bw_err bw_snapshot_open(const char *path, struct bw_snapshot **out, struct bw_diag *diag);
void bw_snapshot_free(struct bw_snapshot *s);

enum bw_change { BW_CHANGE_ADDED, BW_CHANGE_REMOVED, BW_CHANGE_CHANGED, BW_CHANGE_RENAMED };
const char *bw_change_str(enum bw_change c);

struct bw_data_change {
	enum bw_change kind;
	const char *path;      /* the old path (added: the new path) */
	const char *new_path;  /* renamed: the new path */
};

/* Differences from old to new, sorted by path. *out bw_malloc'd (pointers into the snapshots). */
BW_MUST_CHECK enum bw_err bw_snapshot_diff(const struct bw_snapshot *old_s, const struct bw_snapshot *new_s,
                                           struct bw_data_change **out, size_t *n);

/* ---- attestations ---- */

struct bw_signer; /* bulwark/sign.h */

struct bw_attest_opts {
	const char *const *outputs;   /* model files or folders (the statement's subjects) */
	size_t n_outputs;
	const char *const *datasets;  /* dataset folders or snapshot files */
	size_t n_datasets;
	const char *const *snapshot_paths; /* per dataset: where its snapshot was saved (or NULL) */
	const char *const *code;      /* code files */
	size_t n_code;
	const char *git_commit, *git_repo;
	const char *const *params;    /* "KEY=VALUE" */
	size_t n_params;
	const char *builder_id, *invocation_id, *started, *finished; /* NULL: defaults */
};

/* The in-toto Statement v1 (SLSA provenance v1 predicate) of a run; *json bw_malloc'd. */
BW_MUST_CHECK enum bw_err bw_attest_statement(const struct bw_attest_opts *o, char **json,
                                              struct bw_diag *diag);
/* Sign a statement as a DSSE envelope (payloadType application/vnd.in-toto+json). */
BW_MUST_CHECK enum bw_err bw_attest_sign(const char *statement, struct bw_signer *s, char **envelope,
                                         struct bw_diag *diag);

/*
 * Verify a DSSE envelope with the PEM public key and return its in-toto
 * statement (*statement bw_malloc'd; free with bw_report_free). BW_ERR_VERIFY
 * when no signature verifies, BW_ERR_MALFORMED for a broken envelope.
 */
BW_MUST_CHECK enum bw_err bw_attest_open(const uint8_t *envelope, size_t len, const uint8_t *pub_pem,
                                         size_t pub_len, char **statement, struct bw_diag *diag);

/*
 * A model card from a verified statement: Markdown, or a CycloneDX 1.6
 * document. sbom_json (may be NULL) is a CycloneDX SBOM of the model
 * (bulwark sbom); its machine-learning-model component gets the card,
 * otherwise one component per subject is made. *out bw_malloc'd.
 */
BW_MUST_CHECK enum bw_err bw_modelcard_build(const char *statement, const char *sbom_json,
                                             const char *attestation_name, int cyclonedx, char **out,
                                             struct bw_diag *diag);

/* ---- lineage ---- */

struct bw_lineage_link {
	const char *attestation;  /* file */
	const char *kind;         /* "attestation", "dataset", "code", "source", "model" */
	const char *name;
	int ok;
	const char *detail;       /* what was checked, or what is missing or changed */
};

struct bw_lineage_report {
	char model_sha256[65];
	size_t n_attestations;    /* attestations whose signature verified and that name the model */
	size_t broken;            /* links not ok */
	struct bw_lineage_link *links;
	size_t n_links, cap_links;
	void *priv_;
};

/*
 * Walk from the model file to the attestations that name it (signature by the
 * PEM public key), then re-check every input: datasets re-snapshotted and
 * compared (changed files named from the snapshot recorded at attest time),
 * code files re-hashed. *out always set on BW_OK; broken > 0 means a link is
 * missing or changed. Errors only when the model or key cannot be read.
 */
BW_MUST_CHECK enum bw_err bw_lineage_check(const char *model, const char *const *attestations,
                                           size_t n_att, const uint8_t *pub_pem, size_t pub_len,
                                           struct bw_lineage_report **out, struct bw_diag *diag);
void bw_lineage_free(struct bw_lineage_report *r);

#endif
