/*
 * bulwark/report.h - render scan results as text, JSON (schema bulwark.scan/1,
 * docs/scan-json.md) or SARIF 2.1.0 (GitHub code scanning).
 *
 * Renderers return a new NUL-terminated string (free with bw_report_free);
 * they never print. Thread-safe.
 */
#ifndef BULWARK_REPORT_H
#define BULWARK_REPORT_H

#include "bulwark/scan.h"

struct bw_report_opts {
	enum bw_severity fail_on; /* findings at or above this fail the gate */
	int color;                /* ANSI colours in text output */
	int quiet;                /* text: only files that fail or were not fully scanned */
};

struct bw_scan_summary {
	size_t files, clean, with_findings, incomplete;
	size_t failing;             /* files with a finding at or above fail_on */
	int any_finding;
	enum bw_severity max_severity;
};

void bw_summary_init(struct bw_scan_summary *s);
/* Add one result to the summary. */
void bw_summary_add(struct bw_scan_summary *s, const struct bw_scan_result *r,
                    enum bw_severity fail_on);
/* 0 clean, 1 failing findings, 3 not fully scanned (and nothing failing). */
int bw_summary_exit_code(const struct bw_scan_summary *s);

/* Text block for one result (empty string when quiet and nothing to say). */
BW_MUST_CHECK enum bw_err bw_report_text_result(const struct bw_scan_result *r,
                                                const struct bw_report_opts *o, char **out);
BW_MUST_CHECK enum bw_err bw_report_text_summary(const struct bw_scan_summary *s,
                                                 const struct bw_report_opts *o, char **out);
BW_MUST_CHECK enum bw_err bw_report_json(const struct bw_scan_result *const *rs, size_t n,
                                         const struct bw_report_opts *o, char **out);
BW_MUST_CHECK enum bw_err bw_report_sarif(const struct bw_scan_result *const *rs, size_t n,
                                          const struct bw_report_opts *o, char **out);
void bw_report_free(char *s);

#endif
