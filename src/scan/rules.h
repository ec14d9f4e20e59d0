/*
 * scan/rules.h - the detection rule set (internal view of struct bw_rules).
 *
 * Rules are data (rules/NAME.rules, format in rules/README.md), parsed once
 * into sorted arrays and immutable afterwards, so lookups are thread-safe.
 * Lookups never allocate.
 */
#ifndef BW_SCAN_RULES_H
#define BW_SCAN_RULES_H

#include "bulwark/scan.h"

enum bw_rule_kind { BW_RULE_DENY, BW_RULE_ALLOW, BW_RULE_ANOMALY, BW_RULE_UNKNOWN };

struct bw_rule {
	enum bw_rule_kind kind;
	const char *pattern;
	enum bw_severity severity;
	const char *id;         /* "callable:os", "zip.crc-mismatch", "import.unknown" */
	const char *reason;
	const char *reference;  /* NULL when "-" */
	int prefix;             /* allow rule written "module.*": covers dotted children */
};

/*
 * Decide what the rule set says of a full dotted name ("os.system"): the most
 * specific deny or allow rule whose pattern equals the name or is a dotted
 * prefix of it (allow rules match exactly, unless written "module.*"). Returns NULL when no rule
 * names it (an unknown import).
 */
const struct bw_rule *bw_rules_match_callable(const struct bw_rules *rs, const char *fullname);
/* The anomaly rule with this id, or NULL. */
const struct bw_rule *bw_rules_anomaly(const struct bw_rules *rs, const char *id);
/* The rule used for imports nothing names (always present: a built-in default). */
const struct bw_rule *bw_rules_unknown(const struct bw_rules *rs);
/* Every rule (for SARIF rule metadata and `bulwark rules`). */
size_t bw_rules_count(const struct bw_rules *rs);
const struct bw_rule *bw_rules_at(const struct bw_rules *rs, size_t i);

/* Parse rules text (NUL-terminated); name is used in diagnostics. */
BW_MUST_CHECK enum bw_err bw_rules_parse(const char *text, size_t len, const char *name,
                                         struct bw_rules **out, struct bw_diag *diag);

#endif
