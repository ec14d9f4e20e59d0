/*
 * cmd_sbom.c - bulwark sbom: write an ML-BOM of a model folder and its Python
 * dependencies (CycloneDX 1.6/1.5 JSON or SPDX 3.0 JSON-LD), or check a
 * CycloneDX document against the official schema (--check).
 * Exit codes: 0 written / valid, 1 --check found the document invalid,
 * 2 usage error, 3 an input could not be read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/sbom.h"
#include "cli.h"

const char sbom_help[] =
	"usage: bulwark sbom [options] MODEL_DIR\n"
	"       bulwark sbom --check FILE [--schema-dir DIR]\n"
	"\n"
	"Write a software bill of materials for a model folder: the model (hashes, format,\n"
	"model card from config.json and the README front matter), its datasets, and the\n"
	"Python packages it needs with their dependency graph. Nothing is loaded or run.\n"
	"\n"
	"options:\n"
	"  -r, --requirement FILE  Python packages from requirements.txt / pip freeze\n"
	"  --pyproject FILE        ... from pyproject.toml\n"
	"  --lock FILE             ... from poetry.lock, uv.lock or pylock.toml (with the graph)\n"
	"  --format FMT            cyclonedx (default) or spdx (SPDX 3.0.1 JSON-LD, AI + Dataset)\n"
	"  --spec-version V        CycloneDX 1.6 (default) or 1.5\n"
	"  -o, --output FILE       write to FILE instead of stdout\n"
	"  --check FILE            validate a CycloneDX JSON document against its schema\n"
	"  --schema-dir DIR        where bom-1.x.schema.json live (default $BULWARK_CYCLONEDX_SCHEMAS)\n"
	"\n"
	"The timestamp is SOURCE_DATE_EPOCH when set, so the output is reproducible.\n"
	"exit codes: 0 ok, 1 --check: invalid, 2 usage error, 3 input unreadable.\n";

static int do_check(const char *path, const char *schema_dir)
{
	struct bw_sbom_info info;
	struct bw_diag d;
	enum bw_err e;

	if (schema_dir == NULL) {
		cli_err("sbom", "--check needs the CycloneDX schemas: --schema-dir DIR or BULWARK_CYCLONEDX_SCHEMAS");
		return BW_EXIT_USAGE;
	}
	bw_diag_clear(&d);
	e = bw_sbom_check(path, schema_dir, &info, &d);
	if (e == BW_ERR_MALFORMED) {
		printf("%s: invalid: %s\n", path, d.what);
		return BW_EXIT_FINDINGS;
	}
	if (e != BW_OK) {
		cli_err("sbom", "%s: %s", path, d.what[0] ? d.what : bw_err_str(e));
		return BW_EXIT_INCOMPLETE;
	}
	if (info.n_errors > 0) {
		printf("%s: invalid CycloneDX %s: %zu error%s; first: %s\n", path, info.spec_version, info.n_errors,
		       info.n_errors == 1 ? "" : "s", info.first_error);
		return BW_EXIT_FINDINGS;
	}
	printf("%s: valid CycloneDX %s, %zu components\n", path, info.spec_version, info.n_components);
	return BW_EXIT_OK;
}

int cmd_sbom(int argc, char **argv)
{
	struct bw_sbom_opts o;
	const char *dir = NULL, *out_path = NULL, *check = NULL;
	const char *schema_dir = getenv("BULWARK_CYCLONEDX_SCHEMAS");
	struct bw_audit_reqs *lists[64] = {0};
	size_t n_lists = 0, n_all = 0, i, j;
	struct bw_audit_req *all = NULL;
	char *doc = NULL;
	size_t doc_len = 0;
	struct bw_diag d;
	enum bw_err e;
	int rc = BW_EXIT_OK;

	bw_sbom_opts_default(&o);
	for (i = 1; i < (size_t)argc; i++) {
		const char *a = argv[i], *val = i + 1 < (size_t)argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(sbom_help, stdout);
			return BW_EXIT_OK;
		}
		if (a[0] != '-') {
			if (dir != NULL) {
				cli_err("sbom", "one model folder at a time");
				rc = BW_EXIT_USAGE;
				goto out;
			}
			dir = a;
			continue;
		}
		if (val == NULL) {
			cli_err("sbom", "%s needs a value (see bulwark help sbom)", a);
			rc = BW_EXIT_USAGE;
			goto out;
		}
		i++;
		if (strcmp(a, "-r") == 0 || strcmp(a, "--requirement") == 0 || strcmp(a, "--pyproject") == 0 ||
		    strcmp(a, "--lock") == 0) {
			enum bw_req_format f = a[1] == 'r' || strcmp(a, "--requirement") == 0 ? BW_REQ_TXT
			                       : strcmp(a, "--pyproject") == 0                ? BW_REQ_PYPROJECT
			                                                                      : BW_REQ_AUTO;

			if (n_lists == sizeof lists / sizeof lists[0]) {
				cli_err("sbom", "too many inputs");
				rc = BW_EXIT_USAGE;
				goto out;
			}
			bw_diag_clear(&d);
			e = bw_audit_reqs_load(val, f, &lists[n_lists], &d);
			if (e != BW_OK) {
				cli_err("sbom", "%s: %s", val, d.what[0] ? d.what : bw_err_str(e));
				rc = BW_EXIT_INCOMPLETE;
				goto out;
			}
			for (j = 0; j < lists[n_lists]->n_problems; j++)
				cli_err("sbom", "%s: %s", lists[n_lists]->problems[j].file, lists[n_lists]->problems[j].what);
			n_all += lists[n_lists]->n;
			n_lists++;
		} else if (strcmp(a, "--format") == 0) {
			if (strcmp(val, "cyclonedx") == 0) {
				if (o.format == BW_SBOM_SPDX_3)
					o.format = BW_SBOM_CYCLONEDX_16;
			} else if (strcmp(val, "spdx") == 0) {
				o.format = BW_SBOM_SPDX_3;
			} else {
				cli_err("sbom", "unknown format '%s' (cyclonedx, spdx)", val);
				rc = BW_EXIT_USAGE;
				goto out;
			}
		} else if (strcmp(a, "--spec-version") == 0) {
			if (strcmp(val, "1.6") == 0 && o.format != BW_SBOM_SPDX_3) {
				o.format = BW_SBOM_CYCLONEDX_16;
			} else if (strcmp(val, "1.5") == 0 && o.format != BW_SBOM_SPDX_3) {
				o.format = BW_SBOM_CYCLONEDX_15;
			} else {
				cli_err("sbom", "--spec-version is 1.6 or 1.5 (CycloneDX only)");
				rc = BW_EXIT_USAGE;
				goto out;
			}
		} else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
			out_path = val;
		} else if (strcmp(a, "--check") == 0) {
			check = val;
		} else if (strcmp(a, "--schema-dir") == 0) {
			schema_dir = val;
		} else {
			cli_err("sbom", "unknown option '%s' (see bulwark help sbom)", a);
			rc = BW_EXIT_USAGE;
			goto out;
		}
	}
	if (check != NULL) {
		rc = dir != NULL ? (cli_err("sbom", "--check takes no model folder"), BW_EXIT_USAGE)
		                 : do_check(check, schema_dir);
		goto out;
	}
	if (dir == NULL) {
		cli_err("sbom", "no model folder given (see bulwark help sbom)");
		rc = BW_EXIT_USAGE;
		goto out;
	}
	all = calloc(n_all ? n_all : 1, sizeof *all);
	if (all == NULL) {
		cli_err("sbom", "out of memory");
		rc = BW_EXIT_INCOMPLETE;
		goto out;
	}
	n_all = 0;
	for (i = 0; i < n_lists; i++)
		for (j = 0; j < lists[i]->n; j++)
			all[n_all++] = lists[i]->items[j];
	o.model_dir = dir;
	o.reqs = all;
	o.n_reqs = n_all;
	bw_diag_clear(&d);
	e = bw_sbom_build(&o, &doc, &doc_len, &d);
	if (e != BW_OK) {
		cli_err("sbom", "%s: %s", dir, d.what[0] ? d.what : bw_err_str(e));
		rc = e == BW_ERR_ARG ? BW_EXIT_USAGE : BW_EXIT_INCOMPLETE;
		goto out;
	}
	if (out_path != NULL) {
		FILE *f = fopen(out_path, "wb");

		if (f == NULL || fwrite(doc, 1, doc_len, f) != doc_len || fclose(f) != 0) {
			cli_err("sbom", "cannot write %s", out_path);
			rc = BW_EXIT_INCOMPLETE;
		}
	} else {
		fwrite(doc, 1, doc_len, stdout);
	}
out:
	bw_sbom_str_free(doc);
	for (i = 0; i < n_lists; i++)
		bw_audit_reqs_free(lists[i]);
	free(all);
	return rc;
}
