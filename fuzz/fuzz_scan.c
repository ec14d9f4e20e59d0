/*
 * fuzz_scan.c - the whole scan engine on arbitrary bytes: detection, every
 * registered parser, container recursion, rules and report rendering. Limits
 * are small so a slow input shows up as a timeout rather than passing.
 */
#include <stdint.h>
#include <stdlib.h>

#include "bulwark/bulwark.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_scan_opts o;
	struct bw_scan_result *r = NULL;
	struct bw_report_opts ro = {BW_SEV_MEDIUM, 0, 0};
	char *out = NULL;

	bw_scan_opts_default(&o);
	o.limits.max_total_unpacked = 8u << 20;
	o.limits.max_pickle_ops = 200000;
	o.limits.max_pickle_stack = 100000;
	o.limits.max_pickle_memo = 100000;
	o.limits.max_members = 1000;
	o.limits.mem_budget = 256u << 20;
	if (bw_scan_mem(&o, "fuzz", data, size, &r) != BW_OK)
		return 0;
	if (bw_report_text_result(r, &ro, &out) == BW_OK)
		bw_report_free(out);
	if (bw_report_json((const struct bw_scan_result *const *)&r, 1, &ro, &out) == BW_OK)
		bw_report_free(out);
	if (bw_report_sarif((const struct bw_scan_result *const *)&r, 1, &ro, &out) == BW_OK)
		bw_report_free(out);
	bw_scan_result_free(r);
	return 0;
}
