/*
 * fuzz_onnx.c - libFuzzer target for the ONNX scanner (and through it the protobuf wire reader).
 * The discarding sink (fuzz_sink.h) checks memory safety and bounded time.
 */
#include <stddef.h>
#include <stdint.h>

#include "formats/onnx/onnx_scan.h"
#include "fuzz_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(bw_onnx_detect, bw_onnx_scan, data, size);
	return 0;
}
