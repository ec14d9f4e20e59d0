/*
 * cmd_data.c - `bulwark data`: dataset snapshots and what changed since one.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/provenance.h"
#include "cli.h"

const char data_help[] =
	"usage: bulwark data snapshot DIR [-o SNAPSHOT.json]\n"
	"       bulwark data diff OLD NEW [--format text|json]\n"
	"\n"
	"snapshot records every file of a dataset folder with its SHA-256 (on all cores) and a\n"
	"digest over the listing (the sha256sum lines of the files, sorted by path).\n"
	"diff compares two snapshots, or a snapshot and a folder (snapshotted now), and names\n"
	"every file added, removed, changed or renamed since the last known good version.\n"
	"\n"
	"exit codes: 0 snapshot written / no difference, 1 differences, 2 usage,\n"
	"3 unreadable input (or a snapshot whose listing no longer matches its digest).\n";

static int snapshot(int argc, char **argv)
{
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
	const char *out = NULL;
	struct bw_snapshot *s = NULL;
	struct bw_diag d;
	char *json = NULL;
	FILE *f;
	int c, rc = BW_EXIT_INCOMPLETE;

	optind = 2;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c != 'o') {
			fprintf(stderr, "see: bulwark help data\n");
			return BW_EXIT_USAGE;
		}
		out = optarg;
	}
	if (optind != argc - 1) {
		cli_err("data", "snapshot takes one DIR");
		return BW_EXIT_USAGE;
	}
	bw_diag_clear(&d);
	if (bw_snapshot_take(argv[optind], &s, &d) != BW_OK) {
		cli_err("data", "%s: %s", argv[optind], d.what);
		return BW_EXIT_INCOMPLETE;
	}
	if (bw_snapshot_json(s, &json) != BW_OK)
		goto done;
	f = out ? fopen(out, "w") : stdout;
	if (f == NULL || fputs(json, f) == EOF || (out && fclose(f) != 0)) {
		cli_err("data", "%s: cannot write", out ? out : "stdout");
		goto done;
	}
	fprintf(stderr, "bulwark data: %zu files, %llu bytes, digest %s\n", s->n_files,
	        (unsigned long long)s->bytes, s->digest);
	rc = BW_EXIT_OK;
done:
	bw_report_free(json);
	bw_snapshot_free(s);
	return rc;
}

static int diff(int argc, char **argv)
{
	static const struct option opts[] = {{"format", required_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
	struct bw_snapshot *a = NULL, *b = NULL;
	struct bw_data_change *ch = NULL;
	struct bw_diag d;
	size_t n = 0, i;
	int c, fmt = BW_OUT_TEXT, rc = BW_EXIT_INCOMPLETE;

	optind = 2;
	while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
		if (c != 'f' || (fmt = cli_parse_format(optarg, 0)) < 0) {
			cli_err("data", "diff: --format text|json");
			return BW_EXIT_USAGE;
		}
	}
	if (optind != argc - 2) {
		cli_err("data", "diff takes OLD and NEW (snapshots or folders)");
		return BW_EXIT_USAGE;
	}
	bw_diag_clear(&d);
	if (bw_snapshot_open(argv[optind], &a, &d) != BW_OK ||
	    bw_snapshot_open(argv[optind + 1], &b, &d) != BW_OK) {
		cli_err("data", "%s", d.what);
		goto done;
	}
	if (bw_snapshot_diff(a, b, &ch, &n) != BW_OK)
		goto done;
	if (fmt == BW_OUT_JSON) {
		json_t *arr = json_array();
		char *s;
		for (i = 0; i < n; i++) {
			json_t *o = json_pack("{s:s,s:s}", "change", bw_change_str(ch[i].kind), "path", ch[i].path);
			if (ch[i].new_path)
				json_object_set_new(o, "new_path", json_string(ch[i].new_path));
			json_array_append_new(arr, o);
		}
		json_t *doc = json_pack("{s:s,s:s,s:s,s:I,s:o}", "schema", "bulwark.data-diff/1", "old",
		                         a->digest, "new", b->digest, "changes", (json_int_t)n, "files", arr);
		s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(doc);
		if (s)
			puts(s);
		free(s);
	} else {
		for (i = 0; i < n; i++) {
			if (ch[i].kind == BW_CHANGE_RENAMED)
				printf("renamed  %s -> %s\n", ch[i].path, ch[i].new_path);
			else
				printf("%-8s %s\n", bw_change_str(ch[i].kind), ch[i].path);
		}
		printf("%zu change%s (%zu files before, %zu after)\n", n, n == 1 ? "" : "s", a->n_files,
		       b->n_files);
	}
	rc = n ? BW_EXIT_FINDINGS : BW_EXIT_OK;
done:
	free(ch);
	bw_snapshot_free(a);
	bw_snapshot_free(b);
	return rc;
}

int cmd_data(int argc, char **argv)
{
	if (argc < 2) {
		cli_err("data", "which action? snapshot or diff (see: bulwark help data)");
		return BW_EXIT_USAGE;
	}
	if (strcmp(argv[1], "snapshot") == 0)
		return snapshot(argc, argv);
	if (strcmp(argv[1], "diff") == 0)
		return diff(argc, argv);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cli_help("data");
	cli_err("data", "unknown action '%s' (snapshot, diff)", argv[1]);
	return BW_EXIT_USAGE;
}
