/*
 * bulwark/audit.h - offline audit of Python dependencies against an OSV
 * database on disk.
 *
 * Three steps, each usable alone (the policy gate calls them directly):
 *   1. bw_osv_db_load()     reads a folder of OSV JSON/YAML advisories or an
 *                           OSV zip dump once; the result is immutable.
 *   2. bw_audit_reqs_load() reads requirements.txt / pip freeze output,
 *                           pyproject.toml, poetry.lock, uv.lock, pylock.toml
 *                           or an SBOM (CycloneDX JSON, SPDX 3 JSON-LD) into
 *                           (name, version|specifier)
 *                           pairs. Callers may also fill struct bw_audit_req
 *                           themselves.
 *   3. bw_audit_run()       matches the pairs against the database with the
 *                           OSV rule for PyPI: a version is affected when the
 *                           advisory lists it, or when it falls inside any
 *                           ECOSYSTEM range, ordered by PEP 440 (pre-releases
 *                           and local versions included); withdrawn
 *                           advisories are skipped. A requirement given as a
 *                           range is checked for every version it allows that
 *                           the advisory names.
 * bw_audit_report() renders a result as text, JSON, SARIF 2.1.0 or a CycloneDX
 * 1.6 vulnerabilities document.
 *
 * Nothing here uses the network. Memory: every object owns its strings and is
 * freed by its _free function; NULL is accepted by every _free.
 * Thread safety: a loaded database may be shared by threads running
 * bw_audit_run() concurrently; requirement lists and results are not shared.
 */
#ifndef BULWARK_AUDIT_H
#define BULWARK_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"
#include "bulwark/scan.h"

/* ---- OSV database ---- */

struct bw_osv_db;

struct bw_osv_load_opts {
	uint64_t max_file;       /* bytes of one advisory (default 8 MiB) */
	uint64_t max_total;      /* bytes read in all (default 4 GiB) */
	/*
	 * Optional: only these PEP 503-normalized names will ever be matched.
	 * Files that cannot mention any of them are not fully parsed (a file is
	 * parsed whenever any word in it normalizes to a wanted name, or it holds
	 * a backslash escape). NULL/0: parse everything.
	 */
	const char *const *only_names;
	size_t n_only_names;
	unsigned threads;        /* loader threads for a folder: 0 = as many CPUs as useful (max 2), 1 = none */
};
void bw_osv_load_opts_default(struct bw_osv_load_opts *o);

/* One file of the database that could not be used (and why). */
struct bw_osv_problem {
	const char *file;
	enum bw_err code;
	const char *what;
};

struct bw_osv_db_info {
	size_t n_files;          /* advisory files seen */
	size_t n_parsed;         /* files fully parsed */
	size_t n_advisories;     /* advisories with at least one PyPI package */
	size_t n_withdrawn;      /* of those, withdrawn */
	size_t n_bad_events;     /* ECOSYSTEM range events that are not PEP 440 (skipped) */
	size_t n_problems;
	const struct bw_osv_problem *problems;
};

/*
 * Load path: a directory (walked, *.json *.yaml *.yml), a single advisory file,
 * or a .zip OSV dump. Files that fail to parse are recorded as problems, not
 * fatal. opts may be NULL (defaults). Returns BW_OK, BW_ERR_ARG, BW_ERR_IO /
 * BW_ERR_NOTFOUND (path unusable), BW_ERR_MALFORMED (zip unreadable),
 * BW_ERR_LIMIT (max_total), BW_ERR_NOMEM.
 */
BW_MUST_CHECK enum bw_err bw_osv_db_load(const char *path, const struct bw_osv_load_opts *opts,
                                         struct bw_osv_db **out, struct bw_diag *diag);
/* Load from one advisory in memory (format sniffed: JSON starts with '{'). */
BW_MUST_CHECK enum bw_err bw_osv_db_load_mem(const char *name, const uint8_t *data, size_t len,
                                             struct bw_osv_db **out, struct bw_diag *diag);
void bw_osv_db_info(const struct bw_osv_db *db, struct bw_osv_db_info *info);
void bw_osv_db_free(struct bw_osv_db *db);

/* ---- requirements ---- */

enum bw_req_format {
	BW_REQ_AUTO = 0,     /* by file name, then content */
	BW_REQ_TXT,          /* requirements.txt and `pip freeze` output */
	BW_REQ_PYPROJECT,    /* pyproject.toml: [project], [dependency-groups], Poetry */
	BW_REQ_POETRY_LOCK,
	BW_REQ_UV_LOCK,
	BW_REQ_PYLOCK,       /* PEP 751 pylock.toml */
	BW_REQ_CYCLONEDX,    /* CycloneDX JSON: components with pkg:pypi purls */
	BW_REQ_SPDX3         /* SPDX 3 JSON-LD: software_Package with a pkg:pypi packageUrl */
};
/* "requirements", "pyproject", "poetry.lock", "uv.lock", "pylock", "cyclonedx", "spdx3". */
const char *bw_req_format_str(enum bw_req_format f);

struct bw_audit_req {
	const char *name;        /* as written */
	const char *version;     /* exact pin (== or ===), may be non-PEP 440; NULL if not pinned */
	const char *spec;        /* specifier when not pinned ("" = any version); NULL when pinned */
	const char *source;      /* file the requirement came from */
	uint32_t line;           /* 1-based line, 0 if unknown */
	const char *note;        /* e.g. "url requirement", "editable" (NULL if none) */
	size_t n_deps;           /* direct dependencies by name (lock files), for SBOM graphs */
	const char *const *deps;
};

struct bw_audit_reqs {
	size_t n;
	const struct bw_audit_req *items;
	size_t n_problems;       /* lines that could not be read (described in problems) */
	const struct bw_osv_problem *problems;
	void *priv_;
};

/*
 * Read a requirement file. -r/-c includes in requirements files are followed
 * (relative to the including file, depth 8, each file once). Unreadable lines
 * are recorded as problems. Returns BW_OK, BW_ERR_ARG, BW_ERR_IO,
 * BW_ERR_NOTFOUND, BW_ERR_MALFORMED (the file as a whole), BW_ERR_LIMIT,
 * BW_ERR_NOMEM.
 */
BW_MUST_CHECK enum bw_err bw_audit_reqs_load(const char *path, enum bw_req_format fmt,
                                             struct bw_audit_reqs **out, struct bw_diag *diag);
/* Same from memory (no includes followed); name is used as source. */
BW_MUST_CHECK enum bw_err bw_audit_reqs_parse(const char *name, enum bw_req_format fmt,
                                              const uint8_t *data, size_t len,
                                              struct bw_audit_reqs **out, struct bw_diag *diag);
void bw_audit_reqs_free(struct bw_audit_reqs *r);

/* ---- matching ---- */

/* PEP 503 normalized project name ("Foo__Bar" -> "foo-bar") into out.
 * Returns BW_OK, BW_ERR_MALFORMED (not a project name), BW_ERR_LIMIT. */
BW_MUST_CHECK enum bw_err bw_audit_name_normalize(const char *name, char *out, size_t out_len);

struct bw_audit_ignore {
	const char *id;          /* advisory id or alias (CVE/GHSA) */
	const char *until;       /* "YYYY-MM-DD" inclusive, or NULL for no expiry */
	const char *reason;      /* may be NULL */
};

struct bw_audit_opts {
	size_t n_ignores;
	const struct bw_audit_ignore *ignores;
	const char *today;       /* "YYYY-MM-DD" for expiry checks; NULL: the UTC date now */
	int ranges_include_prereleases; /* range requirements: also consider pre-releases (default 0: as pip) */
};
void bw_audit_opts_default(struct bw_audit_opts *o);

enum bw_audit_status {
	BW_AUDIT_OK = 0,           /* no advisory applies */
	BW_AUDIT_VULNERABLE,       /* at least one advisory applies (not ignored) */
	BW_AUDIT_IGNORED,          /* advisories apply but every one is ignored */
};

struct bw_audit_hit {
	const char *id;
	const char *summary;       /* summary, else first line of details (may be "") */
	size_t n_aliases;
	const char *const *aliases;
	enum bw_severity severity; /* from CVSS v3 base score or database_specific */
	int severity_known;        /* 0: the advisory gives none (treated as failing) */
	double score;              /* CVSS base score, or -1 */
	const char *vector;        /* CVSS vector used, or NULL */
	int via_versions;          /* the advisory lists the version */
	int via_ranges;            /* the version is inside an ECOSYSTEM range */
	size_t n_fixed;            /* fix versions named by the advisory for this package */
	const char *const *fixed;
	size_t n_allowed;          /* range requirements: affected versions the range allows */
	const char *const *allowed;
	const char *url;           /* an advisory URL (may be NULL) */
	const char *file;          /* advisory file in the database */
	int ignored;
	const char *ignore_reason; /* NULL unless ignored */
	int ignore_expired;        /* an --ignore for it existed but expired */
};

struct bw_audit_pkg {
	const struct bw_audit_req *req;
	const char *name;          /* PEP 503 normalized */
	int pinned;                /* req->version set */
	int version_valid;         /* pinned and PEP 440; 0: only exact listed versions can match */
	enum bw_audit_status status;
	size_t n_hits;
	const struct bw_audit_hit *hits;
	const char *fix;           /* smallest version clearing every hit, or NULL */
	const char *note;          /* what was checked, in words (ranges, unparsable versions) */
};

struct bw_audit_result {
	size_t n_pkgs;
	const struct bw_audit_pkg *pkgs;
	size_t n_vulnerable;       /* packages with status VULNERABLE */
	size_t n_hits;             /* advisories applying, not ignored */
	size_t n_unparsable;       /* pinned versions PEP 440 cannot parse */
	void *priv_;
};

/*
 * Match n requirements against db. Returns BW_OK, BW_ERR_ARG (NULL db/out, a
 * bad ignore date), BW_ERR_NOMEM. A requirement whose name is not a valid
 * project name yields a package with note set and no hits.
 */
BW_MUST_CHECK enum bw_err bw_audit_run(const struct bw_osv_db *db, const struct bw_audit_req *reqs,
                                       size_t n, const struct bw_audit_opts *opts,
                                       struct bw_audit_result **out);
void bw_audit_result_free(struct bw_audit_result *r);

/* Does the hit meet a --fail-on threshold? Unknown severity always does. */
int bw_audit_hit_fails(const struct bw_audit_hit *h, enum bw_severity threshold);

/*
 * CVSS v3.0/v3.1 base score of a vector ("CVSS:3.1/AV:N/..."), per the FIRST
 * specification section 7.1. Returns BW_OK or BW_ERR_MALFORMED.
 */
BW_MUST_CHECK enum bw_err bw_cvss3_score(const char *vector, double *score, enum bw_severity *sev);

/* ---- reports ---- */

enum bw_audit_format { BW_AUDIT_TEXT, BW_AUDIT_JSON, BW_AUDIT_SARIF, BW_AUDIT_CYCLONEDX };

/*
 * Render r into a new NUL-terminated string (*out, free with bw_audit_str_free).
 * Deterministic: same input, same bytes. Returns BW_OK, BW_ERR_ARG, BW_ERR_NOMEM.
 */
BW_MUST_CHECK enum bw_err bw_audit_report(const struct bw_audit_result *r,
                                          enum bw_audit_format fmt, char **out, size_t *len);
void bw_audit_str_free(char *s);

#endif
