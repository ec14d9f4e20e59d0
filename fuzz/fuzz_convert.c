/*
 * fuzz_convert.c - bulwark convert's input readers, restricted unpickler and
 * safetensors writer on arbitrary bytes (prefixed with the legacy magic half
 * the time so the evaluator is reached). Unprefixed inputs are recognised by
 * content, which reaches the PyTorch zip, legacy tar (record pickles, storage
 * views, tensor records) and NumPy .npy/.npz readers: seeds of each are in
 * fuzz/seeds/convert.
 */
#include <stdint.h>
#include <string.h>

#include "bulwark/convert.h"
#include "convert/convert_internal.h"
#include "core/alloc.h"
#include "formats/tar/tar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_buf out;
	struct bw_convert_report rep;
	struct bw_diag d;
	uint8_t *buf;
	int prefix;

	if (size > (1u << 20))
		return 0;
	buf = bw_malloc(size + sizeof magic);
	if (buf == NULL)
		return 0;
	memcpy(buf, magic, sizeof magic);
	memcpy(buf + sizeof magic, data, size);
	bw_buf_init(&out, 64u << 20);
	bw_diag_clear(&d);
	/* inputs that already start like a recognised container are never prefixed */
	prefix = size > 0 && (data[0] & 1) && !(size >= 6 && memcmp(data, "\x93NUMPY", 6) == 0) &&
	         bw_tar_detect(data, size) == 0;
	if (bw_convert_mem(prefix ? buf : buf + sizeof magic, prefix ? size + sizeof magic : size,
	                   &out, &rep, &d) == BW_OK)
		(void)rep;
	bw_buf_release(&out);
	bw_free(buf);
	return 0;
}
