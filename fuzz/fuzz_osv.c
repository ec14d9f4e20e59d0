/*
 * fuzz_osv.c - an OSV advisory (JSON or YAML) on arbitrary bytes: load it,
 * match a few requirements against it, render every report format. Also a
 * differential check: whenever the fast YAML reader accepts the input, its
 * tree must equal libyaml's. And a soundness check of the load prefilter:
 * for every PyPI package the full load finds, a load wanting only that
 * package must not skip the input.
 */
#include <stdint.h>
#include <stdlib.h>

#include "audit/osv.h"
#include "audit/tree.h"
#include "bulwark/audit.h"
#include "core/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_osv_db *db = NULL;
	struct bw_audit_result *res = NULL;
	static const struct bw_audit_req reqs[] = {
		{.name = "a", .version = "1.0"}, {.name = "b", .version = "0.8.4p1"},
		{.name = "c", .spec = ">=1,<3"}, {.name = "pkg", .spec = ""}, {.name = "x", .version = "2.0+cu117"},
	};
	struct bw_arena a;
	struct bw_tnode *t1 = NULL, *t2 = NULL;

	bw_arena_init(&a, (size_t)64 << 20);
	if (bw_tree_parse_yaml_fast(&a, data, size, &t1) == BW_OK) {
		if (bw_tree_parse_yaml_libyaml(&a, data, size, &t2, NULL) != BW_OK || !bw_tree_equal(t1, t2))
			abort();
	}
	bw_arena_release(&a);

	if (bw_osv_db_load_mem("fuzz", data, size, &db, NULL) != BW_OK)
		return 0;
	/* the load prefilter must keep this input for every package it names */
	{
		size_t i;

		for (i = 0; i < db->n_slots; i++) {
			const char *name = db->slots[i].name;

			if (name != NULL && bw_osv_prefilter(&name, 1, data, size, NULL) != 1)
				abort();
		}
	}
	if (bw_audit_run(db, reqs, sizeof reqs / sizeof reqs[0], NULL, &res) == BW_OK) {
		int f;

		for (f = BW_AUDIT_TEXT; f <= BW_AUDIT_CYCLONEDX; f++) {
			char *s = NULL;

			if (bw_audit_report(res, (enum bw_audit_format)f, &s, NULL) == BW_OK)
				bw_audit_str_free(s);
		}
	}
	bw_audit_result_free(res);
	bw_osv_db_free(db);
	return 0;
}
