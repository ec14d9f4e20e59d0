/*
 * fuzz_gguf.c - libFuzzer target for the GGUF parser (and its chat-template checks).
 * The discarding sink (fuzz_sink.h) checks memory safety and bounded time.
 */
#include <stddef.h>
#include <stdint.h>

#include "formats/gguf/gguf.h"
#include "fuzz_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(bw_gguf_detect, bw_gguf_scan, data, size);
	return 0;
}
