/*
 * policy/policy_internal.h - the parsed form of a policy, shared by the parser
 * (policy.c) and the gate (gate.c). Everything lives in the policy's arena.
 */
#ifndef BW_POLICY_INTERNAL_H
#define BW_POLICY_INTERNAL_H

#include <time.h>

#include "bulwark/policy.h"
#include "core/arena.h"

struct bw_policy_exception {
	const char *id, *owner, *reason;
	const char *expires_str; /* YYYY-MM-DD */
	time_t expires;          /* first second after the expiry day (UTC) */
	const char *check;       /* NULL: any check */
	const char *rule;        /* NULL: any rule; trailing '*' matches a prefix */
	const char *path;        /* NULL: any file; fnmatch glob */
	unsigned line;
};

struct bw_policy_identity {
	const char *identity, *issuer;
};

struct bw_policy {
	struct bw_arena arena;
	const char *name;

	/* scan */
	int scan_enabled;
	enum bw_severity deny_on;
	int review_enabled;
	enum bw_severity review_on;
	enum bw_decision incomplete_action;

	/* formats */
	const char **formats_allow;
	size_t n_formats_allow;
	int formats_allow_set;
	const char **formats_deny;
	size_t n_formats_deny;
	enum bw_decision pickle_action;

	/* signature */
	int sig_required;
	const char **sig_keys;
	size_t n_sig_keys;
	struct bw_policy_identity *sig_identities;
	size_t n_sig_identities;
	const char *sig_file;
	const char *sig_trusted_root; /* trusted_root.json for identities (Sigstore bundles) */

	/* licenses */
	int lic_set;
	const char **lic_allow;
	size_t n_lic_allow;
	const char **lic_deny;
	size_t n_lic_deny;
	enum bw_decision lic_unknown_action;

	/* dependencies */
	int deps_set;
	const char *deps_requirements;
	const char *deps_db;
	enum bw_severity deps_fail_on;

	/* provenance */
	int prov_required;
	const char **prov_attestations;
	size_t n_prov_attestations;
	const char *prov_key;

	struct bw_policy_exception *exceptions;
	size_t n_exceptions;
};

#endif
