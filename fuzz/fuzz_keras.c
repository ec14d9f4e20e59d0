/*
 * fuzz_keras.c - libFuzzer target for the Keras configuration checks.
 * The discarding sink (fuzz_sink.h) checks memory safety and bounded time.
 */
#include <stddef.h>
#include <stdint.h>

#include "formats/keras/keras_config.h"
#include "fuzz_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(bw_keras_config_detect, bw_keras_config_scan, data, size);
	return 0;
}
