/*
 * registry.c - content-based dispatch over the format table (scan/formats.def).
 * Never looks at file names: an attacker chooses those.
 */
#include "scan/registry.h"

#define BW_FORMAT(name, detect, scan, header) \
	int detect(const uint8_t *data, size_t len); \
	enum bw_err scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);
#include "scan/formats.def"
#undef BW_FORMAT

static const struct bw_format formats[] = {
#define BW_FORMAT(name, detect, scan, header) {name, detect, scan},
#include "scan/formats.def"
#undef BW_FORMAT
	{NULL, NULL, NULL},
};

size_t bw_registry_count(void)
{
	return sizeof formats / sizeof formats[0] - 1;
}

const struct bw_format *bw_registry_at(size_t i)
{
	return i < bw_registry_count() ? &formats[i] : NULL;
}

const struct bw_format *bw_registry_detect(const uint8_t *data, size_t len, int *score)
{
	const struct bw_format *best = NULL;
	size_t i;
	int s, top = 0;

	for (i = 0; i < bw_registry_count(); i++) {
		s = formats[i].detect(data, len);
		if (s > top) {
			top = s;
			best = &formats[i];
		}
	}
	*score = top;
	return best;
}

size_t bw_registry_candidates(const uint8_t *data, size_t len, struct bw_candidate *out, size_t max)
{
	size_t i, n = 0, j;
	int s;

	for (i = 0; i < bw_registry_count(); i++) {
		s = formats[i].detect(data, len);
		if (s <= 0)
			continue;
		/* insertion into a short sorted list; stable for equal scores */
		for (j = n; j > 0 && out[j - 1].score < s; j--)
			if (j < max)
				out[j] = out[j - 1];
		if (j < max) {
			out[j].fmt = &formats[i];
			out[j].score = s;
		}
		if (n < max)
			n++;
	}
	return n;
}
