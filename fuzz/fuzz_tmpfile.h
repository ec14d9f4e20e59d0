/*
 * fuzz/fuzz_tmpfile.h - for targets whose API takes a path: write the input to
 * a per-process file under /tmp. Header-only; include from one fuzz target.
 */
#ifndef BW_FUZZ_TMPFILE_H
#define BW_FUZZ_TMPFILE_H

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

/* Writes data to /tmp/bw-fuzz-<tag>-<pid><ext> (path, cap bytes); 0 on success. */
static int fuzz_write_tmp(const char *tag, const char *ext, const uint8_t *data, size_t size, char *path,
                          size_t cap)
{
	FILE *f;

	snprintf(path, cap, "/tmp/bw-fuzz-%s-%d%s", tag, (int)getpid(), ext);
	f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	if (size)
		fwrite(data, 1, size, f);
	fclose(f);
	return 0;
}

#endif
