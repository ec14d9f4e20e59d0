/*
 * fuzz_zip.c - libFuzzer target for the zip container parser (src/formats/zip):
 * detect and scan arbitrary bytes with small limits; the sink reads every
 * byte of every member so out-of-bounds member pointers are caught by ASan.
 */
#include <stdint.h>
#include <string.h>

#include "formats/zip/zip.h"
#include "fuzz_container_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_fmt_sink s;
	struct bw_limits lim;

	fz_sink(&s, &lim);
	(void)bw_zip_detect(data, size);
	if (bw_zip_scan(data, size, &s) == BW_ERR_ARG)
		return 0;
	/* the reader API directly: open, walk, extract each entry with a small cap */
	{
		struct bw_zip z;
		struct bw_zip_opts o;
		size_t i;

		memset(&o, 0, sizeof o);
		o.max_entries = 64;
		o.mem_budget = 1u << 20;
		if (bw_zip_open(&z, data, size, &o, NULL) == BW_OK) {
			for (i = 0; i < z.n_entries; i++) {
				struct bw_zip_data zd;

				if (bw_zip_extract(&z, i, 1u << 16, 50, &zd) == BW_ERR_ARG)
					break;
				fz_touch(zd.data, zd.len);
				bw_free(zd.owned);
			}
		}
		bw_zip_close(&z);
	}
	return 0;
}
