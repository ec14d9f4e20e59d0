/*
 * fuzz_hdf5.c - libFuzzer target for the reply frame of the confined HDF5
 * child (bw_hdf5_reply_scan). The HDF5 bytes themselves are parsed only by
 * libhdf5 inside that child; what the scanning process parses is this frame,
 * which a subverted child could fill with anything.
 */
#include <stddef.h>
#include <stdint.h>

#include "formats/hdf5/hdf5.h"
#include "fuzz_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int no_detect(const uint8_t *d, size_t n)
{
	(void)d, (void)n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(no_detect, bw_hdf5_reply_scan, data, size);
	return 0;
}
