/*
 * fuzz_archive.c - libFuzzer target for the archive container parser (src/formats/archive):
 * detect and scan arbitrary bytes with small limits; the sink reads every
 * byte of every member so out-of-bounds member pointers are caught by ASan.
 * libarchive is fuzzed in-process (bw_archive_scan_inproc): forking the
 * sandbox child under libFuzzer+ASan can deadlock on the fuzzer's threads.
 * The sandboxed entry point is exercised by the replay build (make check).
 */
#include <stdint.h>
#include <string.h>

#include "formats/archive/archive_fmt.h"
#include "fuzz_container_sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
const char *__asan_default_options(void);

/* Set when libFuzzer drives us (it calls LLVMFuzzerInitialize; replay_main.c does not). */
static int under_libfuzzer;

/*
 * Hostile 7z headers make libarchive ask for many GB (fuzz/regress/archive/
 * 7z-6gb-alloc); in production the sandbox's RLIMIT_AS refuses them. In-process
 * under libFuzzer, raise the fuzzer's malloc limit so such a request is not
 * reported as a crash of ours (the memory is never touched).
 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char flag[] = "-malloc_limit_mb=1048576";
	static char *args[256];
	int i, n = *argc < 254 ? *argc : 254;

	under_libfuzzer = 1;
	for (i = 0; i < n; i++)
		args[i] = (*argv)[i];
	args[n] = flag;
	args[n + 1] = NULL;
	*argc = n + 1;
	*argv = args;
	return 0;
}

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
	/*
	 * 7z and RAR make libarchive allocate what their headers declare (many GB
	 * from 200 bytes): in production the sandbox's RLIMIT_AS stops that, in
	 * process it only trips the fuzzer's RSS limit. Under libFuzzer those two
	 * kinds are detected only; their hostile inputs are replayed through the
	 * sandbox by the replay build (fuzz/regress/archive).
	 */
	if (under_libfuzzer && size >= 2 && (memcmp(data, "7z", 2) == 0 || memcmp(data, "Ra", 2) == 0))
		return 0;
	if ((under_libfuzzer ? bw_archive_scan_inproc : bw_archive_scan)(data, size, &s) == BW_ERR_ARG)
		return 0;
	return 0;
}
