/*
 * fuzz_tar.c - libFuzzer target for the tar container parser (src/formats/tar):
 * detect and scan arbitrary bytes with small limits; the sink reads every
 * byte of every member so out-of-bounds member pointers are caught by ASan.
 */
#include <stdint.h>
#include <string.h>

#include "formats/tar/tar.h"
#include "fuzz_container_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_fmt_sink s;
	struct bw_limits lim;

	fz_sink(&s, &lim);
	(void)bw_tar_detect(data, size);
	if (bw_tar_scan(data, size, &s) == BW_ERR_ARG)
		return 0;
	return 0;
}
