/*
 * cmd_audit.c - bulwark audit: check Python dependencies against an OSV
 * database on disk (no network). Reads requirement files, loads only the
 * advisories that can concern them, matches, prints a report and chooses the
 * exit code: 0 nothing at or above --fail-on, 1 advisories at or above it,
 * 2 usage error, 3 something could not be fully checked (unreadable lines or
 * advisories, versions PEP 440 cannot order) and nothing failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bulwark/audit.h"
#include "cli.h"

const char audit_help[] =
	"usage: bulwark audit [options] [REQUIREMENT-FILE...]\n"
	"\n"
	"Check Python dependencies against an OSV database on disk. Nothing is sent\n"
	"anywhere: the database is a folder of OSV JSON/YAML advisories or an OSV zip dump.\n"
	"\n"
	"inputs (any number, mixed):\n"
	"  -r, --requirement FILE  requirements.txt or `pip freeze` output (-r/-c followed)\n"
	"  --pyproject FILE        pyproject.toml ([project], [dependency-groups], Poetry)\n"
	"  --lock FILE             poetry.lock, uv.lock or pylock.toml\n"
	"  --sbom FILE             CycloneDX JSON or SPDX 3 JSON-LD (pkg:pypi purls)\n"
	"  --package SPEC          one requirement, e.g. --package 'torch==1.13.0'\n"
	"  FILE                    any of the above, format from the name/content\n"
	"\n"
	"options:\n"
	"  --db PATH               OSV database (folder, advisory file or .zip);\n"
	"                          default: $BULWARK_OSV_DB\n"
	"  --format FMT            text (default), json, sarif, cyclonedx\n"
	"  -o, --output FILE       write the report to FILE instead of stdout\n"
	"  --ignore ID[:DATE]      ignore an advisory (id or alias) until DATE (YYYY-MM-DD,\n"
	"                          inclusive); repeatable\n"
	"  --fail-on SEVERITY      exit 1 only for advisories at or above SEVERITY\n"
	"                          (info|low|medium|high|critical; default info = any).\n"
	"                          Advisories without a severity always count.\n"
	"  --pre                   range requirements: also consider pre-releases\n"
	"  --full-load             parse every advisory (default: only those that can\n"
	"                          name a requested package)\n"
	"  --today DATE            date used for --ignore expiry (default: today, UTC)\n"
	"  --jobs N                threads loading the database (default: 2 when there\n"
	"                          are 2 or more CPUs; 1 = single-threaded)\n"
	"  --update-db             explain how to fetch an OSV dump (no network is used)\n"
	"  -q, --quiet             no summary on stderr\n"
	"\n"
	"exit codes: 0 clean, 1 advisories at or above --fail-on, 2 usage error,\n"
	"            3 input not fully processed (and nothing at or above --fail-on).\n";

static const char update_help[] =
	"bulwark audit works offline and cannot download the database itself.\n"
	"Fetch the PyPI OSV dump on a machine with network access:\n"
	"  curl -fLO https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip\n"
	"then copy it here and run:  bulwark audit --db all.zip -r requirements.txt\n"
	"(or unzip it into a folder, or use a clone of github.com/pypa/advisory-database\n"
	" and point --db at its vulns/ folder). See docs/audit.md.\n";

#define MAX_INPUTS 256
#define MAX_IGNORES 256

struct input {
	const char *path;
	enum bw_req_format fmt;
};

static int parse_ignore(char *arg, struct bw_audit_ignore *ig)
{
	char *c = strchr(arg, ':');

	memset(ig, 0, sizeof *ig);
	ig->id = arg;
	if (c != NULL) {
		*c = '\0';
		ig->until = c + 1;
	}
	return arg[0] != '\0';
}

int cmd_audit(int argc, char **argv)
{
	struct input inputs[MAX_INPUTS];
	struct bw_audit_ignore ignores[MAX_IGNORES];
	const char *pkgs[MAX_INPUTS];
	size_t n_inputs = 0, n_ignores = 0, n_pkgs = 0, i, j;
	const char *db_path = getenv("BULWARK_OSV_DB"), *out_path = NULL, *today = NULL;
	enum bw_audit_format fmt = BW_AUDIT_TEXT;
	enum bw_severity fail_on = BW_SEV_INFO;
	int pre = 0, quiet = 0, full = 0, rc = BW_EXIT_OK, incomplete = 0;
	unsigned jobs = 0;
	struct bw_audit_reqs *lists[MAX_INPUTS + 1] = {0};
	size_t n_lists = 0;
	struct bw_audit_req *all = NULL;
	size_t n_all = 0;
	const char **names = NULL;
	char (*norm)[256] = NULL;
	struct bw_osv_db *db = NULL;
	struct bw_audit_result *res = NULL;
	char *report = NULL;
	size_t report_len = 0;
	struct bw_diag d;
	enum bw_err e;

	for (i = 1; i < (size_t)argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < (size_t)argc ? argv[i + 1] : NULL;
		int takes = 1;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(audit_help, stdout);
			return BW_EXIT_OK;
		} else if (strcmp(a, "--update-db") == 0) {
			fputs(update_help, stderr);
			return BW_EXIT_USAGE;
		} else if (strcmp(a, "--pre") == 0) {
			pre = 1;
			takes = 0;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			quiet = 1;
			takes = 0;
		} else if (strcmp(a, "--full-load") == 0) {
			full = 1;
			takes = 0;
		} else if (a[0] == '-' && a[1] != '\0') {
			if (val == NULL) {
				cli_err("audit", "%s needs a value (see bulwark help audit)", a);
				return BW_EXIT_USAGE;
			}
			if (strcmp(a, "-r") == 0 || strcmp(a, "--requirement") == 0 || strcmp(a, "--pyproject") == 0 ||
			    strcmp(a, "--lock") == 0 || strcmp(a, "--sbom") == 0) {
				if (n_inputs == MAX_INPUTS) {
					cli_err("audit", "too many inputs");
					return BW_EXIT_USAGE;
				}
				inputs[n_inputs].path = val;
				inputs[n_inputs].fmt = strcmp(a, "-r") == 0 || strcmp(a, "--requirement") == 0
				                           ? BW_REQ_TXT
				                       : strcmp(a, "--pyproject") == 0 ? BW_REQ_PYPROJECT
				                       : strcmp(a, "--sbom") == 0      ? BW_REQ_CYCLONEDX
				                                                       : BW_REQ_AUTO;
				n_inputs++;
			} else if (strcmp(a, "--package") == 0) {
				if (n_pkgs == MAX_INPUTS) {
					cli_err("audit", "too many --package");
					return BW_EXIT_USAGE;
				}
				pkgs[n_pkgs++] = val;
			} else if (strcmp(a, "--db") == 0) {
				db_path = val;
			} else if (strcmp(a, "--format") == 0) {
				if (strcmp(val, "text") == 0)
					fmt = BW_AUDIT_TEXT;
				else if (strcmp(val, "json") == 0)
					fmt = BW_AUDIT_JSON;
				else if (strcmp(val, "sarif") == 0)
					fmt = BW_AUDIT_SARIF;
				else if (strcmp(val, "cyclonedx") == 0)
					fmt = BW_AUDIT_CYCLONEDX;
				else {
					cli_err("audit", "unknown format '%s' (text, json, sarif, cyclonedx)", val);
					return BW_EXIT_USAGE;
				}
			} else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
				out_path = val;
			} else if (strcmp(a, "--ignore") == 0) {
				if (n_ignores == MAX_IGNORES || !parse_ignore(argv[i + 1], &ignores[n_ignores])) {
					cli_err("audit", "bad or too many --ignore");
					return BW_EXIT_USAGE;
				}
				n_ignores++;
			} else if (strcmp(a, "--fail-on") == 0) {
				if (bw_severity_parse(val, &fail_on) != BW_OK) {
					cli_err("audit", "unknown severity '%s'", val);
					return BW_EXIT_USAGE;
				}
			} else if (strcmp(a, "--today") == 0) {
				today = val;
			} else if (strcmp(a, "--jobs") == 0) {
				char *end = NULL;
				unsigned long nj = strtoul(val, &end, 10);

				if (end == val || *end != 0 || nj < 1 || nj > 64) {
					cli_err("audit", "--jobs needs a number from 1 to 64");
					return BW_EXIT_USAGE;
				}
				jobs = (unsigned)nj;
			} else {
				cli_err("audit", "unknown option '%s' (see bulwark help audit)", a);
				return BW_EXIT_USAGE;
			}
		} else {
			if (n_inputs == MAX_INPUTS) {
				cli_err("audit", "too many inputs");
				return BW_EXIT_USAGE;
			}
			inputs[n_inputs].path = a;
			inputs[n_inputs].fmt = BW_REQ_AUTO;
			n_inputs++;
			takes = 0;
		}
		i += (size_t)takes;
	}
	if (n_inputs == 0 && n_pkgs == 0) {
		cli_err("audit", "nothing to audit: give -r FILE, --pyproject, --lock, --sbom or --package");
		return BW_EXIT_USAGE;
	}
	if (db_path == NULL) {
		cli_err("audit", "no OSV database: use --db PATH or set BULWARK_OSV_DB "
		                 "(bulwark audit --update-db explains how to get one)");
		return BW_EXIT_USAGE;
	}

	/* ---- requirements ---- */
	for (i = 0; i < n_inputs; i++) {
		bw_diag_clear(&d);
		e = bw_audit_reqs_load(inputs[i].path, inputs[i].fmt, &lists[n_lists], &d);
		if (e != BW_OK) {
			cli_err("audit", "%s: %s", inputs[i].path, d.what[0] ? d.what : bw_err_str(e));
			rc = BW_EXIT_INCOMPLETE;
			goto out;
		}
		n_lists++;
	}
	if (n_pkgs > 0) {
		char *joined = NULL;
		size_t len = 0;

		for (i = 0; i < n_pkgs; i++)
			len += strlen(pkgs[i]) + 1;
		joined = calloc(1, len + 1);
		if (joined == NULL) {
			cli_err("audit", "out of memory");
			rc = BW_EXIT_INCOMPLETE;
			goto out;
		}
		for (i = 0; i < n_pkgs; i++) {
			strcat(joined, pkgs[i]);
			strcat(joined, "\n");
		}
		e = bw_audit_reqs_parse("(command line)", BW_REQ_TXT, (const uint8_t *)joined, strlen(joined),
		                        &lists[n_lists], &d);
		free(joined);
		if (e != BW_OK) {
			cli_err("audit", "--package: %s", bw_err_str(e));
			rc = BW_EXIT_USAGE;
			goto out;
		}
		n_lists++;
	}
	for (i = 0; i < n_lists; i++) {
		n_all += lists[i]->n;
		for (j = 0; j < lists[i]->n_problems; j++) {
			cli_err("audit", "%s: %s", lists[i]->problems[j].file, lists[i]->problems[j].what);
			incomplete = 1;
		}
	}
	all = calloc(n_all ? n_all : 1, sizeof *all);
	names = calloc(n_all ? n_all : 1, sizeof *names);
	norm = calloc(n_all ? n_all : 1, sizeof *norm);
	if (all == NULL || names == NULL || norm == NULL) {
		cli_err("audit", "out of memory");
		rc = BW_EXIT_INCOMPLETE;
		goto out;
	}
	n_all = 0;
	{
		size_t n_names = 0;

		for (i = 0; i < n_lists; i++)
			for (j = 0; j < lists[i]->n; j++) {
				all[n_all] = lists[i]->items[j];
				if (bw_audit_name_normalize(all[n_all].name, norm[n_names], sizeof norm[n_names]) == BW_OK) {
					names[n_names] = norm[n_names];
					n_names++;
				}
				n_all++;
			}

		/* ---- database ---- */
		{
			struct bw_osv_load_opts lo;
			struct bw_osv_db_info info;

			bw_osv_load_opts_default(&lo);
			lo.threads = jobs;
			if (!full) {
				lo.only_names = names;
				lo.n_only_names = n_names;
			}
			bw_diag_clear(&d);
			e = bw_osv_db_load(db_path, &lo, &db, &d);
			if (e != BW_OK) {
				cli_err("audit", "cannot load the OSV database %s: %s", db_path,
				        d.what[0] ? d.what : bw_err_str(e));
				rc = BW_EXIT_INCOMPLETE;
				goto out;
			}
			bw_osv_db_info(db, &info);
			for (j = 0; j < info.n_problems; j++) {
				cli_err("audit", "advisory %s unusable: %s", info.problems[j].file, info.problems[j].what);
				incomplete = 1;
			}
			if (info.n_files == 0) {
				cli_err("audit", "the OSV database %s holds no advisories", db_path);
				incomplete = 1;
			}
			if (!quiet)
				fprintf(stderr, "bulwark audit: %zu advisory files, %zu parsed, %zu requirements\n",
				        info.n_files, info.n_parsed, n_all);
		}
	}

	/* ---- match ---- */
	{
		struct bw_audit_opts ao;

		bw_audit_opts_default(&ao);
		ao.ignores = ignores;
		ao.n_ignores = n_ignores;
		ao.today = today;
		ao.ranges_include_prereleases = pre;
		e = bw_audit_run(db, all, n_all, &ao, &res);
		if (e == BW_ERR_ARG) {
			cli_err("audit", "bad --ignore date or --today (use YYYY-MM-DD)");
			rc = BW_EXIT_USAGE;
			goto out;
		}
		if (e != BW_OK) {
			cli_err("audit", "matching failed: %s", bw_err_str(e));
			rc = BW_EXIT_INCOMPLETE;
			goto out;
		}
	}
	e = bw_audit_report(res, fmt, &report, &report_len);
	if (e != BW_OK) {
		cli_err("audit", "cannot render the report: %s", bw_err_str(e));
		rc = BW_EXIT_INCOMPLETE;
		goto out;
	}
	if (out_path != NULL) {
		FILE *f = fopen(out_path, "wb");

		if (f == NULL || fwrite(report, 1, report_len, f) != report_len || fclose(f) != 0) {
			cli_err("audit", "cannot write %s", out_path);
			rc = BW_EXIT_INCOMPLETE;
			goto out;
		}
	} else {
		fwrite(report, 1, report_len, stdout);
	}

	/* ---- exit code ---- */
	{
		int failing = 0;

		for (i = 0; i < res->n_pkgs; i++) {
			for (j = 0; j < res->pkgs[i].n_hits; j++)
				if (bw_audit_hit_fails(&res->pkgs[i].hits[j], fail_on))
					failing = 1;
			if (res->pkgs[i].name[0] == '\0')
				incomplete = 1;
		}
		if (res->n_unparsable > 0)
			incomplete = 1;
		rc = failing ? BW_EXIT_FINDINGS : incomplete ? BW_EXIT_INCOMPLETE : BW_EXIT_OK;
	}
out:
	bw_audit_str_free(report);
	bw_audit_result_free(res);
	bw_osv_db_free(db);
	for (i = 0; i < n_lists; i++)
		bw_audit_reqs_free(lists[i]);
	free(all);
	free(names);
	free(norm);
	return rc;
}
