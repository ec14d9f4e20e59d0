/*
 * bulwark/scan.h - scan model files without loading them.
 *
 * bw_scan_file() maps a file, detects its format by content, runs the format's
 * parser (recursively for containers), applies the detection rules to every
 * import and call the file would make, and returns a result with findings and
 * a verdict. Nothing in the input is ever executed or imported.
 *
 * Thread safety: bw_scan_file/bw_scan_mem may run concurrently on different
 * results; the rule set is immutable after bw_rules_load*.
 */
#ifndef BULWARK_SCAN_H
#define BULWARK_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"

enum bw_severity {
	BW_SEV_INFO = 0,
	BW_SEV_LOW,
	BW_SEV_MEDIUM,
	BW_SEV_HIGH,
	BW_SEV_CRITICAL,
	BW_SEV__COUNT
};

/* "info", "low", "medium", "high", "critical". */
const char *bw_severity_str(enum bw_severity s);
/* Parse a severity name (case-insensitive); BW_ERR_ARG if unknown. */
BW_MUST_CHECK enum bw_err bw_severity_parse(const char *s, enum bw_severity *out);

enum bw_verdict {
	BW_VERDICT_CLEAN = 0,      /* fully scanned, no finding */
	BW_VERDICT_FINDINGS,       /* at least one finding (see max_severity) */
	BW_VERDICT_INCOMPLETE,     /* not fully scanned and no finding at or above high */
};
const char *bw_verdict_str(enum bw_verdict v);

/* Bounds on one scan. Hitting one is a finding or an incomplete scan, never a crash. */
struct bw_limits {
	uint64_t max_file_size;      /* bytes of one input file */
	uint64_t max_total_unpacked; /* bytes decompressed from one file, all members */
	uint32_t max_ratio;          /* decompressed/compressed bytes of one member */
	uint32_t max_depth;          /* container nesting */
	uint32_t max_members;        /* members of one container */
	uint64_t max_pickle_ops;     /* opcodes in one pickle stream */
	uint32_t max_pickle_stack;   /* stack + metastack entries */
	uint32_t max_pickle_memo;    /* memo entries */
	uint64_t max_string;         /* one string/bytes operand */
	uint32_t max_nesting;        /* nesting of marks / structures */
	uint64_t mem_budget;         /* arena bytes for one file */
};

/* Fill with the documented defaults (docs/FORMATS.md). */
void bw_limits_default(struct bw_limits *lim);

struct bw_finding {
	const char *rule;        /* rule id, e.g. "pickle.callable.os" */
	enum bw_severity severity;
	const char *message;     /* one line */
	const char *location;    /* member path inside the file ("archive/data.pkl"), "" for the file */
	uint64_t offset;         /* byte offset within that member, or BW_NO_OFFSET */
	const char *callable;    /* "os.system" when the finding names code, else NULL */
	const char *args;        /* constant arguments when known ("('echo hi',)"), else NULL */
	const char *reason;      /* rationale from the rule */
	const char *reference;   /* URL or advisory id from the rule, may be NULL */
};

struct bw_scan_member {
	const char *location;  /* "" for the file itself */
	const char *format;    /* detected format */
	uint64_t size;
};

struct bw_scan_result {
	const char *path;
	const char *format;          /* top-level detected format */
	uint64_t size;
	enum bw_verdict verdict;
	enum bw_severity max_severity; /* meaningful when n_findings > 0 */
	size_t n_findings;
	const struct bw_finding *findings;
	size_t n_members;
	const struct bw_scan_member *members;
	int incomplete;              /* 1 when not fully scanned */
	const char *incomplete_reason;
	const char *incomplete_location;
	uint64_t incomplete_offset;
	enum bw_err error;           /* BW_OK, or why the file could not be opened/scanned at all */
	void *priv_;                 /* owner of all strings above */
};

struct bw_rules;

struct bw_scan_opts {
	const struct bw_rules *rules;  /* NULL: the built-in rules */
	struct bw_limits limits;
};

/* Default options: built-in rules, default limits. */
void bw_scan_opts_default(struct bw_scan_opts *o);

/*
 * Scan one file. *out receives a new result even when the file could not be
 * read (then result->error != BW_OK, verdict INCOMPLETE); free with
 * bw_scan_result_free. Returns BW_OK, BW_ERR_NOMEM, or BW_ERR_ARG (NULL args).
 */
BW_MUST_CHECK enum bw_err bw_scan_file(const struct bw_scan_opts *o, const char *path,
                                       struct bw_scan_result **out);
/* Same for bytes in memory; name is used as the result's path. */
BW_MUST_CHECK enum bw_err bw_scan_mem(const struct bw_scan_opts *o, const char *name,
                                      const uint8_t *data, size_t len,
                                      struct bw_scan_result **out);
void bw_scan_result_free(struct bw_scan_result *r);

/*
 * Called once per path, in order (directories expanded depth-first in name
 * order, a directory's files before its subdirectories), on the caller's
 * thread. index counts from 0 to total-1. The callback owns r (free it with
 * bw_scan_result_free).
 */
typedef void (*bw_scan_each_fn)(void *user, size_t index, size_t total, struct bw_scan_result *r);

/*
 * Scan files and directories on `threads` threads (0: one per core). Symbolic
 * links found inside a directory are not followed out of it (a finding
 * instead); paths named by the caller are followed. Unreadable paths and
 * special files produce results marked not scanned. Returns BW_OK, BW_ERR_ARG,
 * BW_ERR_NOMEM or BW_ERR_LIMIT (more than 10 million files); diag says why.
 */
BW_MUST_CHECK enum bw_err bw_scan_paths(const struct bw_scan_opts *o, const char *const *paths,
                                        size_t n_paths, unsigned threads, bw_scan_each_fn fn,
                                        void *user, struct bw_diag *diag);

/*
 * Third-party parsers of hostile data (libhdf5, libarchive) run in confined
 * child processes. A program that sandboxes itself (bulwark scan forbids new
 * processes) starts the worker service first, while it is still
 * single-threaded and holds no secret: bw_scan_service_start forks it (the
 * service keeps none of the caller's descriptors or environment). Without
 * the service, the library forks a child per file itself.
 *
 * The service lets one confined child read up to 64 files of one kind (HDF5,
 * or archives) of this process's scans, replacing it after a crash, a timeout
 * or a refused file: a child subverted by one hostile file could misreport
 * later files of the same kind in the same scan (docs/ARCHITECTURE.md, step
 * 5). flags BW_SERVICE_ISOLATE_EACH_FILE: a fresh child for every file (as
 * without the service; slower). Returns BW_OK or BW_ERR_IO.
 */
#define BW_SERVICE_ISOLATE_EACH_FILE 1u
BW_MUST_CHECK enum bw_err bw_scan_service_start(unsigned flags, struct bw_diag *diag);
void bw_scan_service_stop(void);

/* ---- rules (rules/NAME.rules, docs/RULES.md) ---- */

/* The built-in rule set compiled into the library (shared, immutable; never free it). */
BW_MUST_CHECK enum bw_err bw_rules_builtin(const struct bw_rules **out, struct bw_diag *diag);
/* Load a rule file (replaces built-ins entirely); free with bw_rules_free. */
BW_MUST_CHECK enum bw_err bw_rules_load_file(const char *path, struct bw_rules **out,
                                             struct bw_diag *diag);
void bw_rules_free(struct bw_rules *r);

#endif
