/*
 * sbom.c - bw_sbom_build(): read the model folder once, then hand the facts
 * to the chosen writer (cyclonedx.c, spdx3.c). Chooses the timestamp:
 * the caller's, else SOURCE_DATE_EPOCH (reproducible-builds.org), else now.
 * Must not: print, or read anything but the model folder.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "sbom/sbom_int.h"

#define SBOM_DEFAULT_MAX_FILES 100000u

void bw_sbom_opts_default(struct bw_sbom_opts *o)
{
	memset(o, 0, sizeof *o);
	o->format = BW_SBOM_CYCLONEDX_16;
	o->timestamp = -1;
	o->max_files = SBOM_DEFAULT_MAX_FILES;
}

static int pick_time(int64_t want, char out[32])
{
	time_t t;
	struct tm tm;

	if (want >= 0) {
		t = (time_t)want;
	} else {
		const char *sde = getenv("SOURCE_DATE_EPOCH");
		char *end = NULL;
		long long v;

		errno = 0;
		if (sde != NULL && sde[0] != '\0' && (v = strtoll(sde, &end, 10), errno == 0 && *end == '\0' && v >= 0))
			t = (time_t)v;
		else
			t = time(NULL);
	}
	if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	return 0;
}

enum bw_err bw_sbom_build(const struct bw_sbom_opts *o, char **out, size_t *len, struct bw_diag *diag)
{
	struct bw_arena a;
	struct bw_model_info m;
	char ts[32];
	size_t l = 0;
	enum bw_err e;

	if (out == NULL)
		return BW_ERR_ARG;
	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (o == NULL || o->model_dir == NULL || (o->reqs == NULL && o->n_reqs > 0) ||
	    (o->format != BW_SBOM_CYCLONEDX_16 && o->format != BW_SBOM_CYCLONEDX_15 && o->format != BW_SBOM_SPDX_3))
		return BW_ERR_ARG;
	if (pick_time(o->timestamp, ts) != 0)
		return bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET, "timestamp out of range");
	bw_arena_init(&a, 0);
	e = bw_model_read(&a, o->model_dir, o->max_files ? o->max_files : SBOM_DEFAULT_MAX_FILES, &m, diag);
	if (e == BW_OK)
		e = o->format == BW_SBOM_SPDX_3 ? bw_sbom_write_spdx3(&m, o, ts, out, &l)
		                                : bw_sbom_write_cyclonedx(&m, o, ts, out, &l);
	bw_arena_release(&a);
	if (e == BW_OK && len != NULL)
		*len = l;
	return e;
}

void bw_sbom_str_free(char *s)
{
	bw_free(s);
}
