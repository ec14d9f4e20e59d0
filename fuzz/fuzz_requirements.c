/*
 * fuzz_requirements.c - the requirement readers (requirements.txt, TOML lock
 * files and pyproject.toml, CycloneDX JSON) on arbitrary bytes. The first byte
 * picks the format; the rest is the file.
 */
#include <stdint.h>
#include <stddef.h>

#include "bulwark/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum bw_req_format fmts[] = {BW_REQ_TXT, BW_REQ_PYPROJECT, BW_REQ_POETRY_LOCK,
	                                          BW_REQ_UV_LOCK, BW_REQ_PYLOCK, BW_REQ_CYCLONEDX,
	                                          BW_REQ_SPDX3};
	struct bw_audit_reqs *r = NULL;
	struct bw_diag d;

	if (size < 1)
		return 0;
	if (bw_audit_reqs_parse("fuzz", fmts[data[0] % 7], data + 1, size - 1, &r, &d) == BW_OK) {
		size_t i;

		for (i = 0; i < r->n; i++)
			if (r->items[i].name == NULL)
				__builtin_trap();
	}
	bw_audit_reqs_free(r);
	return 0;
}
