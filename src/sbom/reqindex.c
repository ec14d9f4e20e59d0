/*
 * reqindex.c - the requirements of an SBOM by normalized name, so that
 * dependency edges and top-level packages are found in O(n log n) rather than
 * by comparing every dependency with every package (a lock file of thousands
 * of packages took seconds).
 */
#include <stdlib.h>
#include <string.h>

#include "bulwark/audit.h"
#include "sbom/sbom_int.h"

struct bw_sbom_name {
	const char *norm; /* PEP 503 name, in the arena */
	size_t idx;       /* index in o->reqs */
};

static int by_name_idx(const void *pa, const void *pb)
{
	const struct bw_sbom_name *a = pa, *b = pb;
	int c = strcmp(a->norm, b->norm);

	return c != 0 ? c : a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* First entry whose name is norm, or ix->n. */
static size_t lower_bound(const struct bw_sbom_index *ix, const char *norm)
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ix->v[mid].norm, norm) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

enum bw_err bw_sbom_index_build(struct bw_arena *a, const struct bw_sbom_opts *o, struct bw_sbom_index *ix)
{
	char n[256];
	size_t i, j, k;

	memset(ix, 0, sizeof *ix);
	ix->v = bw_arena_array(a, o->n_reqs ? o->n_reqs : 1, sizeof *ix->v);
	ix->depended = bw_arena_array(a, o->n_reqs ? o->n_reqs : 1, 1);
	if (ix->v == NULL || ix->depended == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < o->n_reqs; i++) {
		char *s;

		if (bw_audit_name_normalize(o->reqs[i].name, n, sizeof n) != BW_OK)
			continue;
		s = bw_arena_alloc(a, strlen(n) + 1);
		if (s == NULL)
			return BW_ERR_NOMEM;
		memcpy(s, n, strlen(n) + 1);
		ix->v[ix->n].norm = s;
		ix->v[ix->n].idx = i;
		ix->n++;
	}
	qsort(ix->v, ix->n, sizeof *ix->v, by_name_idx);
	/* every package some other package depends on */
	for (j = 0; j < o->n_reqs; j++)
		for (k = 0; k < o->reqs[j].n_deps; k++) {
			if (bw_audit_name_normalize(o->reqs[j].deps[k], n, sizeof n) != BW_OK)
				continue;
			for (i = lower_bound(ix, n); i < ix->n && strcmp(ix->v[i].norm, n) == 0; i++)
				if (ix->v[i].idx != j)
					ix->depended[ix->v[i].idx] = 1;
		}
	return BW_OK;
}

int bw_sbom_index_is_root(const struct bw_sbom_index *ix, size_t i)
{
	return !ix->depended[i];
}

size_t bw_sbom_index_find(const struct bw_sbom_index *ix, const char *dep, size_t self,
                          const char *const *refs)
{
	char n[256];
	size_t i;

	if (bw_audit_name_normalize(dep, n, sizeof n) != BW_OK)
		return SIZE_MAX;
	/* entries of one name are in reqs order: the first usable one, as a scan of reqs would find */
	for (i = lower_bound(ix, n); i < ix->n && strcmp(ix->v[i].norm, n) == 0; i++)
		if (ix->v[i].idx != self && refs[ix->v[i].idx] != NULL)
			return ix->v[i].idx;
	return SIZE_MAX;
}
