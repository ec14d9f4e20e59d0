/*
 * fuzz_pep440.c - PEP 440 parser, ordering and specifiers on arbitrary bytes.
 * Input: "VERSION\nSPECIFIER\nVERSION2". Checks invariants that must hold for
 * any input: a parsed version re-parses from its canonical form to an equal
 * version with the same canonical text; cmp is antisymmetric; contains never
 * crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/pep440.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[1024], *parts[3] = {buf, "", ""}, *nl;
	struct bw_pep440 a, b, c;
	struct bw_pep440_spec *spec;
	char canon[BW_PEP440_MAX_CANON], canon2[BW_PEP440_MAX_CANON];
	int pa, pb, parsed;

	if (size >= sizeof buf)
		size = sizeof buf - 1;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if ((nl = strchr(buf, '\n')) != NULL) {
		*nl = '\0';
		parts[1] = nl + 1;
		if ((nl = strchr(parts[1], '\n')) != NULL) {
			*nl = '\0';
			parts[2] = nl + 1;
		}
	}
	pa = bw_pep440_parse(parts[0], &a) == BW_OK;
	pb = bw_pep440_parse(parts[2], &b) == BW_OK;
	if (pa) {
		bw_pep440_str(&a, canon, sizeof canon);
		if (bw_pep440_parse(canon, &c) != BW_OK || bw_pep440_cmp(&a, &c) != 0 ||
		    strcmp(bw_pep440_str(&c, canon2, sizeof canon2), canon) != 0)
			abort();
	}
	if (pa && pb && bw_pep440_cmp(&a, &b) != -bw_pep440_cmp(&b, &a))
		abort();
	spec = malloc(sizeof *spec);
	if (spec != NULL && bw_pep440_spec_parse(parts[1], spec) == BW_OK) {
		if (pa) {
			(void)bw_pep440_spec_contains(spec, &a, -1);
			(void)bw_pep440_spec_contains(spec, &a, 1);
		}
		(void)bw_pep440_spec_contains_str(spec, parts[2], 0, &parsed);
	}
	free(spec);
	if (bw_pep503_normalize(parts[0], strlen(parts[0]), canon, sizeof canon) == BW_OK && canon[0] == 0)
		abort();
	return 0;
}
