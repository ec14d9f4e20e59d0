/*
 * test_osv_vectors.c - the 2,661 real PyPI advisories of
 * ../shared/testdata/osv-pypi and the 1,315 expected package-version results
 * of test-vectors.json: every case must match exactly, for the combined rule
 * (expected) and for each half of it (ranges_only: via ECOSYSTEM ranges,
 * versions_only: via the versions list). Also checks the filtered load
 * (only_names) gives the same answers.
 */
#include <jansson.h>

#include "bulwark/audit.h"
#include "harness.h"

static int in_list(json_t *arr, const char *id)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e)
		if (strcmp(json_string_value(e), id) == 0)
			return 1;
	return 0;
}

static size_t count_via(const struct bw_audit_pkg *p, int ranges)
{
	size_t i, n = 0;

	for (i = 0; i < p->n_hits; i++)
		n += (ranges ? p->hits[i].via_ranges : p->hits[i].via_versions) ? 1u : 0u;
	return n;
}

static void run_vectors(const struct bw_osv_db *db, json_t *vecs, const char *label)
{
	size_t n = json_array_size(vecs), i, j;
	struct bw_audit_req *reqs = calloc(n, sizeof *reqs);
	struct bw_audit_result *res = NULL;
	size_t bad = 0;

	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(vecs, i);

		reqs[i].name = json_string_value(json_object_get(v, "name"));
		reqs[i].version = json_string_value(json_object_get(v, "version"));
	}
	CHECK(bw_audit_run(db, reqs, n, NULL, &res) == BW_OK);
	if (res == NULL) {
		free(reqs);
		return;
	}
	CHECK_EQ_INT(res->n_pkgs, n);
	for (i = 0; i < n && i < res->n_pkgs; i++) {
		json_t *v = json_array_get(vecs, i);
		json_t *exp = json_object_get(v, "expected"), *ro = json_object_get(v, "ranges_only");
		json_t *vo = json_object_get(v, "versions_only");
		const struct bw_audit_pkg *p = &res->pkgs[i];
		int ok = p->n_hits == json_array_size(exp) && count_via(p, 1) == json_array_size(ro) &&
		         count_via(p, 0) == json_array_size(vo);

		for (j = 0; ok && j < p->n_hits; j++) {
			const struct bw_audit_hit *h = &p->hits[j];

			ok = in_list(exp, h->id) && in_list(ro, h->id) == h->via_ranges &&
			     in_list(vo, h->id) == h->via_versions;
		}
		if (!ok) {
			bad++;
			fprintf(stderr, "%s: %s %s: got %zu hits (%zu ranges, %zu versions), want %zu (%zu, %zu):",
			        label, reqs[i].name, reqs[i].version, p->n_hits, count_via(p, 1), count_via(p, 0),
			        json_array_size(exp), json_array_size(ro), json_array_size(vo));
			for (j = 0; j < p->n_hits && j < 6; j++)
				fprintf(stderr, " %s%s%s", p->hits[j].id, p->hits[j].via_ranges ? "/r" : "",
				        p->hits[j].via_versions ? "/v" : "");
			fputc('\n', stderr);
		}
		CHECK(ok);
	}
	printf("%s: %zu vectors, %zu mismatches\n", label, n, bad);
	bw_audit_result_free(res);
	free(reqs);
}

int main(void)
{
	const char *td = bw_test_testdata();
	char path[4096];
	json_error_t jerr;
	json_t *root, *vecs;
	struct bw_osv_db *db = NULL;
	struct bw_osv_db_info info;
	struct bw_diag d;
	size_t i;

	snprintf(path, sizeof path, "%s/osv-pypi/test-vectors.json", td);
	root = json_load_file(path, 0, &jerr);
	if (root == NULL) {
		fprintf(stderr, "cannot read %s: %s\n", path, jerr.text);
		return 1;
	}
	vecs = json_object_get(root, "vectors");
	CHECK_EQ_INT(json_array_size(vecs), 1315);

	snprintf(path, sizeof path, "%s/osv-pypi/vulns", td);
	bw_diag_clear(&d);
	CHECK(bw_osv_db_load(path, NULL, &db, &d) == BW_OK);
	if (db == NULL) {
		fprintf(stderr, "load failed: %s\n", d.what);
		return bw_test_done();
	}
	bw_osv_db_info(db, &info);
	CHECK_EQ_INT(info.n_files, 2661);
	CHECK_EQ_INT(info.n_parsed, 2661);
	CHECK_EQ_INT(info.n_problems, 0);
	for (i = 0; i < info.n_problems; i++)
		fprintf(stderr, "problem: %s: %s\n", info.problems[i].file, info.problems[i].what);
	CHECK_EQ_INT(info.n_bad_events, 2); /* steam 2019-09-12, binderhub 0.2.0-n653 */
	CHECK(info.n_withdrawn > 0);
	run_vectors(db, vecs, "full load");
	bw_osv_db_free(db);

	/* the same with the name prefilter */
	{
		struct bw_osv_load_opts o;
		size_t n = json_array_size(vecs);
		const char **names = calloc(n, sizeof *names);
		char (*norm)[128] = calloc(n, sizeof *norm);

		for (i = 0; i < n; i++) {
			const char *nm = json_string_value(json_object_get(json_array_get(vecs, i), "name"));

			CHECK(bw_audit_name_normalize(nm, norm[i], sizeof norm[i]) == BW_OK);
			names[i] = norm[i];
		}
		bw_osv_load_opts_default(&o);
		o.only_names = names;
		o.n_only_names = n;
		db = NULL;
		CHECK(bw_osv_db_load(path, &o, &db, &d) == BW_OK);
		if (db != NULL) {
			bw_osv_db_info(db, &info);
			CHECK(info.n_parsed < info.n_files);
			run_vectors(db, vecs, "filtered load");
		}
		bw_osv_db_free(db);
		free(names);
		free(norm);
	}
	json_decref(root);
	return bw_test_done();
}
