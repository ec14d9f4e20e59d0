/*
 * bulwark/policy.h - one policy decides: the gate.
 *
 * A policy (YAML, docs/policy.md) says which checks a model must pass and what
 * each failure means: deny, or needs review. bw_gate_run() runs the checks the
 * policy asks for over files and folders and returns one decision with every
 * reason, applying exceptions (owner, reason, expiry) that have not expired.
 * A check the policy requires but this build cannot perform denies: the gate
 * fails closed.
 *
 * Thread safety: a loaded policy is immutable and may be shared.
 */
#ifndef BULWARK_POLICY_H
#define BULWARK_POLICY_H

#include <stddef.h>
#include <time.h>

#include "bulwark/error.h"
#include "bulwark/scan.h"

enum bw_decision { BW_DECISION_ALLOW = 0, BW_DECISION_REVIEW, BW_DECISION_DENY };

/* "allow", "review", "deny". */
const char *bw_decision_str(enum bw_decision d);

struct bw_policy;

/*
 * Parse a policy. On error returns BW_ERR_MALFORMED (or _UNSUPPORTED for an
 * unknown version) and diag->what reads "policy.yaml:12: unknown key 'sacn'";
 * diag->offset holds the 1-based line. Free with bw_policy_free.
 */
BW_MUST_CHECK enum bw_err bw_policy_parse(const char *text, size_t len, const char *name,
                                          struct bw_policy **out, struct bw_diag *diag);
BW_MUST_CHECK enum bw_err bw_policy_load_file(const char *path, struct bw_policy **out,
                                              struct bw_diag *diag);
/* The built-in policy when none is given (safe defaults, docs/policy.md). */
BW_MUST_CHECK enum bw_err bw_policy_default(struct bw_policy **out);
void bw_policy_free(struct bw_policy *p);

struct bw_gate_reason {
	const char *check;     /* "scan", "format", "signature", "license", "dependencies", "provenance" */
	const char *subject;   /* file (and member) the reason is about */
	const char *rule;      /* rule id or policy key ("callable:os", "formats.allow") */
	enum bw_decision effect;   /* what it would decide, before exceptions */
	const char *message;
	const char *waived_by; /* id of the exception that waived it, or NULL */
	const char *waiver_owner;
	const char *waiver_expires; /* YYYY-MM-DD */
};

struct bw_gate_result {
	enum bw_decision decision;
	size_t n_reasons;
	const struct bw_gate_reason *reasons;
	size_t n_files;
	size_t n_expired;           /* exceptions that matched but had expired */
	void *priv_;
};

struct bw_gate_inputs {
	const char *const *paths;
	size_t n_paths;
	time_t now;        /* decides which exceptions have expired */
	unsigned threads;  /* 0: one per core */
};

/*
 * Run the checks. *out always receives a result on BW_OK. Returns BW_ERR_ARG
 * or BW_ERR_NOMEM; per-file problems are reasons, not errors.
 */
BW_MUST_CHECK enum bw_err bw_gate_run(const struct bw_policy *p, const struct bw_gate_inputs *in,
                                      struct bw_gate_result **out, struct bw_diag *diag);
void bw_gate_result_free(struct bw_gate_result *r);

/* JSON rendering (schema "bulwark.gate/1"); free with bw_report_free. */
BW_MUST_CHECK enum bw_err bw_gate_json(const struct bw_gate_result *r, char **out);

#endif
