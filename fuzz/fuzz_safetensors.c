/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors parser.
 * The discarding sink (fuzz_sink.h) checks memory safety and bounded time.
 */
#include <stddef.h>
#include <stdint.h>

#include "formats/safetensors/safetensors.h"
#include "fuzz_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(bw_safetensors_detect, bw_safetensors_scan, data, size);
	return 0;
}
