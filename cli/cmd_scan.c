/*
 * cmd_scan.c - `bulwark scan`: the CI gate for model files.
 * Scans files and folders on all cores, prints results in order, and exits
 * 0 clean, 1 findings at or above --fail-on, 2 usage, 3 not fully scanned.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char scan_help[] =
	"usage: bulwark scan [options] PATH...\n"
	"\n"
	"Scan model files and folders without loading them: detect each file's format by\n"
	"content, decode every pickle the way the loader would, and name every import and\n"
	"call it would make. Folders are scanned recursively on all cores.\n"
	"\n"
	"options:\n"
	"  -f, --format FMT     text (default), json (schema bulwark.scan/1) or sarif (2.1.0)\n"
	"      --fail-on SEV    exit 1 when a finding is at or above SEV: info, low, medium\n"
	"                       (default), high, critical\n"
	"  -o, --output FILE    write the report to FILE instead of stdout\n"
	"  -q, --quiet          text: print only files that fail or were not fully scanned\n"
	"      --rules FILE     use this rule file instead of the built-in rules\n"
	"  -j, --threads N      scanning threads (default: one per core)\n"
	"      --color WHEN     auto (default), always, never\n"
	"      --max-depth N    container nesting limit (default 8)\n"
	"      --no-sandbox     do not confine the scanning process (seccomp: no file\n"
	"                       writes, sockets or new processes once scanning starts)\n"
	"      --isolate-each-file  read every HDF5 / archive file in a fresh confined\n"
	"                       child (default: a child reads up to 64 files of one kind\n"
	"                       of this scan; slower, but a libhdf5 or libarchive\n"
	"                       exploit in one file cannot misreport the others)\n"
	"\n"
	"exit codes: 0 every file clean (or findings below --fail-on), 1 a finding at or\n"
	"above --fail-on, 2 usage error, 3 a file could not be fully scanned and nothing\n"
	"at or above --fail-on was found. A file that was not fully scanned is never clean.\n";

struct scan_run {
	int format;
	struct bw_report_opts ro;
	FILE *out;
	struct bw_scan_summary sum;
	struct bw_scan_result **kept; /* json/sarif: every result, in order */
	size_t n_kept, cap_kept;
	int oom;
	int progress;
	int failed_io;
};

static void on_result(void *user, size_t index, size_t total, struct bw_scan_result *r)
{
	struct scan_run *s = user;
	char *text = NULL;

	bw_summary_add(&s->sum, r, s->ro.fail_on);
	if (s->progress)
		fprintf(stderr, "\r\033[K[%zu/%zu] %s", index + 1, total, r->path);
	if (s->format == BW_OUT_TEXT) {
		if (bw_report_text_result(r, &s->ro, &text) == BW_OK) {
			if (s->progress && *text)
				fprintf(stderr, "\r\033[K");
			if (fputs(text, s->out) == EOF)
				s->failed_io = 1;
			bw_report_free(text);
		}
		bw_scan_result_free(r);
		return;
	}
	(void)index;
	if (s->n_kept == s->cap_kept) {
		size_t ncap = s->cap_kept ? s->cap_kept * 2 : 64;
		struct bw_scan_result **n = realloc(s->kept, ncap * sizeof *n);
		if (n == NULL) {
			s->oom = 1;
			bw_scan_result_free(r);
			return;
		}
		s->kept = n;
		s->cap_kept = ncap;
	}
	s->kept[s->n_kept++] = r;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v > max || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

int cmd_scan(int argc, char **argv)
{
	static const struct option opts[] = {
		{"format", required_argument, NULL, 'f'},
		{"fail-on", required_argument, NULL, 'F'},
		{"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'},
		{"rules", required_argument, NULL, 'R'},
		{"threads", required_argument, NULL, 'j'},
		{"color", required_argument, NULL, 'C'},
		{"max-depth", required_argument, NULL, 'D'},
		{"no-sandbox", no_argument, NULL, 'S'},
		{"isolate-each-file", no_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct scan_run s;
	struct bw_scan_opts so;
	struct bw_rules *rules = NULL;
	struct bw_diag diag;
	const char *out_path = NULL, *color = "auto";
	unsigned long threads = 0, depth;
	char *doc = NULL;
	int c, rc = BW_EXIT_USAGE, i, sandbox = 1;
	unsigned svc_flags = 0;
	enum bw_err e;

	memset(&s, 0, sizeof s);
	s.format = BW_OUT_TEXT;
	s.ro.fail_on = BW_SEV_MEDIUM;
	bw_scan_opts_default(&so);
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:o:qj:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			s.format = cli_parse_format(optarg, 1);
			if (s.format < 0) {
				cli_err("scan", "unknown format '%s' (text, json, sarif)", optarg);
				return BW_EXIT_USAGE;
			}
			break;
		case 'F':
			if (bw_severity_parse(optarg, &s.ro.fail_on) != BW_OK) {
				cli_err("scan", "unknown severity '%s' (info, low, medium, high, critical)", optarg);
				return BW_EXIT_USAGE;
			}
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'q':
			s.ro.quiet = 1;
			break;
		case 'R':
			bw_diag_clear(&diag);
			bw_rules_free(rules);
			rules = NULL;
			if (bw_rules_load_file(optarg, &rules, &diag) != BW_OK) {
				cli_err("scan", "rules: %s", diag.what);
				return BW_EXIT_USAGE;
			}
			so.rules = rules;
			break;
		case 'j':
			if (parse_uint(optarg, 64, &threads) != 0 || threads == 0) {
				cli_err("scan", "--threads takes a number from 1 to 64");
				goto out;
			}
			break;
		case 'C':
			if (strcmp(optarg, "auto") && strcmp(optarg, "always") && strcmp(optarg, "never")) {
				cli_err("scan", "--color takes auto, always or never");
				goto out;
			}
			color = optarg;
			break;
		case 'D':
			if (parse_uint(optarg, 64, &depth) != 0) {
				cli_err("scan", "--max-depth takes a number from 0 to 64");
				goto out;
			}
			so.limits.max_depth = (uint32_t)depth;
			break;
		case 'S':
			sandbox = 0;
			break;
		case 'I':
			svc_flags |= BW_SERVICE_ISOLATE_EACH_FILE;
			break;
		case 'h':
			rc = cli_help("scan");
			goto out;
		default:
			fprintf(stderr, "see: bulwark help scan\n");
			goto out;
		}
	}
	if (optind >= argc) {
		cli_err("scan", "no PATH given (see: bulwark help scan)");
		goto out;
	}
	s.out = stdout;
	if (out_path != NULL) {
		s.out = fopen(out_path, "w");
		if (s.out == NULL) {
			cli_err("scan", "%s: %s", out_path, strerror(errno));
			goto out;
		}
	}
	s.ro.color = strcmp(color, "always") == 0 ||
	             (strcmp(color, "auto") == 0 && out_path == NULL && cli_use_color(stdout));
	s.progress = s.format == BW_OUT_TEXT ? cli_use_color(stderr) && (out_path != NULL || !isatty(1))
	                                     : cli_use_color(stderr);
	bw_summary_init(&s.sum);
	bw_diag_clear(&diag);
	/* Start the confined worker service while starting processes is still allowed. */
	if (bw_scan_service_start(svc_flags, &diag) != BW_OK)
		cli_err("scan", "warning: HDF5 and archive files will not be read: %s", diag.what);
	bw_diag_clear(&diag);
	/* Inputs are opened read-only and the report descriptor is open: drop the rest. */
	if (sandbox && bw_sandbox_enter(&diag) != BW_OK)
		cli_err("scan", "warning: running without the sandbox: %s", diag.what);
	bw_diag_clear(&diag);
	e = bw_scan_paths(&so, (const char *const *)(argv + optind), (size_t)(argc - optind),
	                  (unsigned)threads, on_result, &s, &diag);
	if (s.oom) {
		cli_err("scan", "out of memory keeping results");
		rc = BW_EXIT_INCOMPLETE;
		goto out;
	}
	if (s.progress)
		fprintf(stderr, "\r\033[K");
	if (e != BW_OK) {
		cli_err("scan", "%s", diag.what[0] ? diag.what : bw_err_str(e));
		rc = BW_EXIT_INCOMPLETE;
		goto out;
	}
	if (s.format == BW_OUT_TEXT) {
		if (!s.ro.quiet || bw_summary_exit_code(&s.sum) != 0) {
			if (bw_report_text_summary(&s.sum, &s.ro, &doc) == BW_OK && fputs(doc, s.out) == EOF)
				s.failed_io = 1;
		}
	} else {
		e = s.format == BW_OUT_JSON
		        ? bw_report_json((const struct bw_scan_result *const *)s.kept, s.n_kept, &s.ro, &doc)
		        : bw_report_sarif((const struct bw_scan_result *const *)s.kept, s.n_kept, &s.ro, &doc);
		if (e != BW_OK) {
			cli_err("scan", "rendering the report failed: %s", bw_err_str(e));
			rc = BW_EXIT_INCOMPLETE;
			goto out;
		}
		if (fputs(doc, s.out) == EOF)
			s.failed_io = 1;
	}
	rc = bw_summary_exit_code(&s.sum);
out:
	if (s.out != NULL && s.out != stdout && fclose(s.out) != 0)
		s.failed_io = 1;
	else if (s.out == stdout && fflush(stdout) != 0)
		s.failed_io = 1;
	if (s.failed_io) {
		cli_err("scan", "writing the report failed: %s", strerror(errno));
		if (rc == BW_EXIT_OK)
			rc = BW_EXIT_INCOMPLETE;
	}
	bw_scan_service_stop();
	bw_report_free(doc);
	for (i = 0; (size_t)i < s.n_kept; i++)
		bw_scan_result_free(s.kept[i]);
	free(s.kept);
	bw_rules_free(rules);
	return rc;
}
