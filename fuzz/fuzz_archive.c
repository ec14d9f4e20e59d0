/*
 * fuzz_archive.c - libFuzzer target for the archive container parser (src/formats/archive):
 * detect and scan arbitrary bytes with small limits; the sink reads every
 * byte of every member so out-of-bounds member pointers are caught by ASan.
 */
#include <stdint.h>
#include <string.h>

#include "formats/archive/archive_fmt.h"
#include "fuzz_container_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

/*
 * libarchive may ask for absurd allocations on hostile headers (see
 * fuzz/regress/archive/7z-huge-alloc); in production malloc then fails and
 * libarchive reports an error. Let ASan return NULL the same way instead of
 * aborting inside the sandbox child.
 */
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_fmt_sink s;
	struct bw_limits lim;

	fz_sink(&s, &lim);
	(void)bw_archive_detect(data, size);
	if (bw_archive_scan(data, size, &s) == BW_ERR_ARG)
		return 0;
	return 0;
}
