/*
 * fuzz_savedmodel.c - libFuzzer target for the TF SavedModel and keras_metadata.pb scanners.
 * The discarding sink (fuzz_sink.h) checks memory safety and bounded time.
 */
#include <stddef.h>
#include <stdint.h>

#include "formats/savedmodel/savedmodel.h"
#include "fuzz_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(bw_savedmodel_detect, bw_savedmodel_scan, data, size);
	fz_run(bw_keras_metadata_pb_detect, bw_keras_metadata_pb_scan, data, size);
	return 0;
}
