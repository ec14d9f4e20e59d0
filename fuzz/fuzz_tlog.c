/*
 * fuzz_tlog.c - the audit log's parsers of untrusted documents: inclusion and
 * consistency proof JSON (bulwark log verify-proof).
 */
#include <stdint.h>

#include "bulwark/translog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_diag d;
	int verified = 0;

	bw_diag_clear(&d);
	verified += bw_tlog_verify_inclusion_json((const char *)data, size, &d) == BW_OK;
	bw_diag_clear(&d);
	verified += bw_tlog_verify_consistency_json((const char *)data, size, &d) == BW_OK;
	return verified < 0; /* always 0; keeps the results used */
}
