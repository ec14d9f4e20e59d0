/*
 * fuzz_snapshot.c - the dataset snapshot reader (bulwark data diff OLD.json):
 * a snapshot document is untrusted input (it may come from anywhere).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bulwark/provenance.h"
#include "fuzz_tmpfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct bw_snapshot *s = NULL, *t = NULL;
	struct bw_data_change *ch = NULL;
	struct bw_diag d;
	size_t n = 0;

	if (fuzz_write_tmp("snapshot", ".json", data, size, path, sizeof path) != 0)
		return 0;
	bw_diag_clear(&d);
	if (bw_snapshot_load(path, &s, &d) == BW_OK) {
		if (bw_snapshot_load(path, &t, &d) == BW_OK && bw_snapshot_diff(s, t, &ch, &n) == BW_OK)
			free(ch);
		bw_snapshot_free(t);
	}
	bw_snapshot_free(s);
	unlink(path);
	return 0;
}
