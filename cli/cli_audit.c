/*
 * cli_audit.c - append an entry to the audit log on behalf of a subcommand
 * (gate, sign, verify with --log DIR --log-key KEY.pem).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulwark/translog.h"
#include "cli.h"

int cli_audit_append(const char *cmd, const char *dir, const char *key_path, json_t *entry)
{
	struct bw_tlog *log = NULL;
	struct bw_tlog_key *key = NULL;
	struct bw_diag d;
	char when[32], *text;
	struct tm tm;
	time_t now = time(NULL);
	uint64_t idx;
	int rc = -1;

	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(entry, "schema", json_string("bulwark.audit-entry/1"));
	json_object_set_new(entry, "time", json_string(when));
	text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(entry);
	if (text == NULL)
		return -1;
	bw_diag_clear(&d);
	if (bw_tlog_key_load(key_path, 1, getenv("BULWARK_KEY_PASSPHRASE"), &key, &d) != BW_OK ||
	    bw_tlog_open(dir, 1, 1, NULL, &log, &d) != BW_OK ||
	    bw_tlog_append(log, text, strlen(text), key, &idx, &d) != BW_OK) {
		cli_err(cmd, "audit log: %s", d.what);
	} else {
		fprintf(stderr, "bulwark %s: recorded as audit-log entry %llu\n", cmd, (unsigned long long)idx);
		rc = 0;
	}
	free(text);
	bw_tlog_close(log);
	bw_tlog_key_free(key);
	return rc;
}

json_t *cli_audit_inputs(const char *const *paths, size_t n)
{
	json_t *arr = json_array(), *o;
	struct bw_diag d;
	char hex[65];
	size_t i;

	for (i = 0; i < n; i++) {
		o = json_pack("{s:s}", "path", paths[i]);
		bw_diag_clear(&d);
		if (bw_tlog_file_digest(paths[i], hex, &d) == BW_OK)
			json_object_set_new(o, "sha256", json_string(hex));
		json_array_append_new(arr, o);
	}
	return arr;
}
