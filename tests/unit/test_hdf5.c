/*
 * test_hdf5.c - the confined HDF5 reader: attributes come back as members,
 * malformed files are incomplete (never clean).
 */
#include <string.h>

#include "bulwark/scan.h"
#include "core/fileio.h"
#include "formats/hdf5/hdf5.h"
#include "scan/engine.h"
#include "harness.h"

struct rec {
	int n_members, n_incomplete, n_findings;
	char member[128];
	char format[32];
	int model_config_has_lambda;
};

static void r_finding(void *u, const char *rule, uint64_t off, const char *msg)
{
	(void)rule, (void)off, (void)msg;
	((struct rec *)u)->n_findings++;
}
static void r_import(void *u, const char *m, const char *n, const char *om, const char *on,
                     uint64_t off, const char *how)
{
	(void)u, (void)m, (void)n, (void)om, (void)on, (void)off, (void)how;
}
static void r_call(void *u, const struct bw_fmt_call *c)
{
	(void)u, (void)c;
}
static enum bw_err r_member(void *u, const char *name, const uint8_t *d, size_t n, uint64_t off)
{
	struct rec *r = u;

	(void)off;
	r->n_members++;
	snprintf(r->member, sizeof r->member, "%s", name);
	if (strcmp(name, "<attribute model_config>") == 0 && memmem(d, n, "\"Lambda\"", 8) != NULL)
		r->model_config_has_lambda = 1;
	return BW_OK;
}
static void r_incomplete(void *u, enum bw_err why, uint64_t off, const char *msg)
{
	(void)why, (void)off, (void)msg;
	((struct rec *)u)->n_incomplete++;
}
static void r_format(void *u, const char *f)
{
	snprintf(((struct rec *)u)->format, sizeof ((struct rec *)u)->format, "%s", f);
}

static void scan(const uint8_t *d, size_t n, struct rec *r)
{
	struct bw_limits lim;
	struct bw_fmt_sink s = {r, r_finding, r_import, r_call, r_member, r_incomplete, r_format, &lim, 0};

	bw_limits_default(&lim);
	memset(r, 0, sizeof *r);
	CHECK_EQ_INT(bw_hdf5_scan(d, n, &s), BW_OK);
}

int main(void)
{
	const char *td = bw_test_testdata();
	char path[4096];
	struct bw_file_map m;
	struct bw_diag d;
	struct rec r;
	uint8_t junk[600];

	snprintf(path, sizeof path, "%s/corpus/modelaudit/tests/assets/samples/keras/malicious_lambda.h5", td);
	bw_diag_clear(&d);
	CHECK_EQ_INT(bw_file_map(path, 1 << 30, &m, &d), BW_OK);
	CHECK(bw_hdf5_detect(m.data, m.len) > 0);
	CHECK(bw_hdf5_detect((const uint8_t *)"not hdf5", 8) == 0);

	/* no service: the library forks a confined child per file */
	bw_scan_workers_init();
	scan(m.data, m.len, &r);
	CHECK_EQ_INT(r.n_incomplete, 0);
	CHECK(r.n_members >= 1);
	CHECK(r.model_config_has_lambda);
	CHECK_STR(r.format, "keras-h5");

	/* a truncated file: libhdf5 refuses it -> incomplete, never clean */
	scan(m.data, 1024, &r);
	CHECK_EQ_INT(r.n_incomplete, 1);
	memset(junk, 0xA5, sizeof junk);
	memcpy(junk, m.data, 8); /* signature then garbage */
	scan(junk, sizeof junk, &r);
	CHECK_EQ_INT(r.n_incomplete, 1);
	scan(m.data, m.len, &r);
	CHECK(r.model_config_has_lambda);

	bw_file_unmap(&m);
	return bw_test_done();
}
