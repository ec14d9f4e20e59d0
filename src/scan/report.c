/*
 * report.c - text, JSON and SARIF renderings of scan results.
 *
 * JSON follows the versioned schema "bulwark.scan/1" (docs/scan-json.md);
 * SARIF follows 2.1.0 as GitHub code scanning reads it (ruleId, level,
 * security-severity, artifact locations relative to the working directory).
 * Strings from the scanned file (names, arguments) are escaped by jansson in
 * JSON; in text they are printed with control bytes replaced, so a hostile
 * file cannot inject terminal escapes into a report.
 */
#include <jansson.h>
#include <string.h>

#include "bulwark/report.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "scan/rules.h"

#define REPORT_MAX ((size_t)1 << 30)

void bw_summary_init(struct bw_scan_summary *s)
{
	memset(s, 0, sizeof *s);
	s->max_severity = BW_SEV_INFO;
}

static int failing(const struct bw_scan_result *r, enum bw_severity fail_on)
{
	return r->n_findings > 0 && r->max_severity >= fail_on;
}

void bw_summary_add(struct bw_scan_summary *s, const struct bw_scan_result *r,
                    enum bw_severity fail_on)
{
	s->files++;
	if (r->verdict == BW_VERDICT_CLEAN)
		s->clean++;
	else if (r->verdict == BW_VERDICT_FINDINGS)
		s->with_findings++;
	/* counted whatever the verdict: findings never hide that a file was not fully read */
	if (r->incomplete)
		s->incomplete++;
	if (r->n_findings > 0) {
		if (!s->any_finding || r->max_severity > s->max_severity)
			s->max_severity = r->max_severity;
		s->any_finding = 1;
	}
	if (failing(r, fail_on))
		s->failing++;
}

int bw_summary_exit_code(const struct bw_scan_summary *s)
{
	if (s->failing > 0)
		return 1;
	if (s->incomplete > 0)
		return 3;
	return 0;
}

void bw_report_free(char *s)
{
	bw_free(s);
}

/* Append s with control characters shown as \xNN (no terminal injection). */
static enum bw_err put_safe(struct bw_buf *b, const char *s)
{
	enum bw_err e = BW_OK;

	for (; *s && e == BW_OK; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f)
			e = bw_buf_printf(b, "\\x%02x", ch);
		else
			e = bw_buf_putc(b, ch);
	}
	return e;
}

static const char *sev_color(enum bw_severity s)
{
	switch (s) {
	case BW_SEV_CRITICAL:
		return "\033[1;31m";
	case BW_SEV_HIGH:
		return "\033[31m";
	case BW_SEV_MEDIUM:
		return "\033[33m";
	case BW_SEV_LOW:
		return "\033[36m";
	default:
		return "\033[2m";
	}
}

static enum bw_err text_result(struct bw_buf *b, const struct bw_scan_result *r,
                               const struct bw_report_opts *o)
{
	const char *on = o->color ? "\033[1m" : "", *off = o->color ? "\033[0m" : "";
	size_t i;
	enum bw_err e = BW_OK;

	e = bw_buf_puts(b, on);
	if (e == BW_OK)
		e = put_safe(b, r->path);
	if (e == BW_OK)
		e = bw_buf_printf(b, "%s [%s]: ", off, r->format);
	if (e != BW_OK)
		return e;
	if (r->verdict == BW_VERDICT_CLEAN && !r->incomplete)
		e = bw_buf_printf(b, "%sclean%s\n", o->color ? "\033[32m" : "", off);
	else if (r->verdict == BW_VERDICT_FINDINGS)
		e = bw_buf_printf(b, "%sFINDINGS (highest: %s)%s\n",
		                  o->color ? sev_color(r->max_severity) : "",
		                  bw_severity_str(r->max_severity), off);
	else
		e = bw_buf_printf(b, "%sNOT FULLY SCANNED%s\n", o->color ? "\033[35m" : "", off);
	for (i = 0; i < r->n_findings && e == BW_OK; i++) {
		const struct bw_finding *f = &r->findings[i];
		e = bw_buf_printf(b, "  %s%-8s%s %s: ", o->color ? sev_color(f->severity) : "",
		                  bw_severity_str(f->severity), off, f->rule);
		if (e == BW_OK)
			e = put_safe(b, f->message);
		if (e == BW_OK && (*f->location || f->offset != BW_NO_OFFSET)) {
			e = bw_buf_puts(b, " [");
			if (e == BW_OK && *f->location) {
				e = bw_buf_puts(b, "in ");
				if (e == BW_OK)
					e = put_safe(b, f->location);
				if (e == BW_OK && f->offset != BW_NO_OFFSET)
					e = bw_buf_puts(b, " ");
			}
			if (e == BW_OK && f->offset != BW_NO_OFFSET)
				e = bw_buf_printf(b, "at byte %llu", (unsigned long long)f->offset);
			if (e == BW_OK)
				e = bw_buf_puts(b, "]");
		}
		if (e == BW_OK)
			e = bw_buf_printf(b, "\n           why: %s\n", f->reason);
	}
	if (e == BW_OK && r->incomplete) {
		e = bw_buf_puts(b, "  not fully scanned: ");
		if (e == BW_OK)
			e = put_safe(b, r->incomplete_reason ? r->incomplete_reason : "unknown reason");
		if (e == BW_OK && r->incomplete_location && *r->incomplete_location) {
			e = bw_buf_puts(b, " (in ");
			if (e == BW_OK)
				e = put_safe(b, r->incomplete_location);
			if (e == BW_OK)
				e = bw_buf_puts(b, ")");
		}
		if (e == BW_OK && r->incomplete_offset != BW_NO_OFFSET)
			e = bw_buf_printf(b, " at byte %llu", (unsigned long long)r->incomplete_offset);
		if (e == BW_OK)
			e = bw_buf_puts(b, "\n");
	}
	return e;
}

enum bw_err bw_report_text_result(const struct bw_scan_result *r, const struct bw_report_opts *o,
                                  char **out)
{
	struct bw_buf b;
	enum bw_err e = BW_OK;

	*out = NULL;
	bw_buf_init(&b, REPORT_MAX);
	if (!o->quiet || failing(r, o->fail_on) || r->incomplete)
		e = text_result(&b, r, o);
	if (e == BW_OK)
		e = bw_buf_append(&b, "", 0);
	if (e != BW_OK) {
		bw_buf_release(&b);
		return e;
	}
	*out = (char *)bw_buf_take(&b, NULL);
	return BW_OK;
}

enum bw_err bw_report_text_summary(const struct bw_scan_summary *s, const struct bw_report_opts *o,
                                   char **out)
{
	struct bw_buf b;
	enum bw_err e;

	*out = NULL;
	bw_buf_init(&b, 4096);
	e = bw_buf_printf(&b,
	                  "summary: %zu file%s: %zu clean, %zu with findings, %zu not fully scanned; "
	                  "%zu at or above %s",
	                  s->files, s->files == 1 ? "" : "s", s->clean, s->with_findings,
	                  s->incomplete, s->failing, bw_severity_str(o->fail_on));
	if (e == BW_OK && s->any_finding)
		e = bw_buf_printf(&b, "; highest severity %s", bw_severity_str(s->max_severity));
	if (e == BW_OK)
		e = bw_buf_puts(&b, "\n");
	if (e != BW_OK) {
		bw_buf_release(&b);
		return e;
	}
	*out = (char *)bw_buf_take(&b, NULL);
	return BW_OK;
}

/* ---- JSON ---- */

static json_t *jstr_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *joffset(uint64_t off)
{
	return off == BW_NO_OFFSET ? json_null() : json_integer((json_int_t)off);
}

#define jtext bw_json_text

static json_t *json_result(const struct bw_scan_result *r)
{
	json_t *f = json_object(), *members = json_array(), *findings = json_array();
	size_t i;

	json_object_set_new(f, "path", jtext(r->path));
	json_object_set_new(f, "format", json_string(r->format));
	json_object_set_new(f, "size", json_integer((json_int_t)r->size));
	json_object_set_new(f, "verdict", json_string(bw_verdict_str(r->verdict)));
	json_object_set_new(f, "max_severity",
	                    r->n_findings ? json_string(bw_severity_str(r->max_severity)) : json_null());
	if (r->incomplete) {
		json_t *inc = json_object();
		json_object_set_new(inc, "reason", jtext(r->incomplete_reason));
		json_object_set_new(inc, "location", jtext(r->incomplete_location ? r->incomplete_location : ""));
		json_object_set_new(inc, "offset", joffset(r->incomplete_offset));
		json_object_set_new(f, "incomplete", inc);
	} else {
		json_object_set_new(f, "incomplete", json_null());
	}
	for (i = 0; i < r->n_members; i++) {
		json_t *m = json_object();
		json_object_set_new(m, "location", jtext(r->members[i].location));
		json_object_set_new(m, "format", json_string(r->members[i].format));
		json_object_set_new(m, "size", json_integer((json_int_t)r->members[i].size));
		json_array_append_new(members, m);
	}
	json_object_set_new(f, "members", members);
	for (i = 0; i < r->n_findings; i++) {
		const struct bw_finding *x = &r->findings[i];
		json_t *j = json_object();
		json_object_set_new(j, "rule", jtext(x->rule));
		json_object_set_new(j, "severity", json_string(bw_severity_str(x->severity)));
		json_object_set_new(j, "message", jtext(x->message));
		json_object_set_new(j, "location", jtext(x->location));
		json_object_set_new(j, "offset", joffset(x->offset));
		json_object_set_new(j, "callable", jtext(x->callable));
		json_object_set_new(j, "args", jtext(x->args));
		json_object_set_new(j, "reason", jtext(x->reason));
		json_object_set_new(j, "reference", jstr_or_null(x->reference));
		json_array_append_new(findings, j);
	}
	json_object_set_new(f, "findings", findings);
	return f;
}

enum bw_err bw_report_json(const struct bw_scan_result *const *rs, size_t n,
                           const struct bw_report_opts *o, char **out)
{
	json_t *root = json_object(), *files = json_array(), *sum = json_object();
	struct bw_scan_summary s;
	size_t i;

	*out = NULL;
	if (root == NULL || files == NULL || sum == NULL) {
		json_decref(root);
		json_decref(files);
		json_decref(sum);
		return BW_ERR_NOMEM;
	}
	bw_summary_init(&s);
	for (i = 0; i < n; i++) {
		bw_summary_add(&s, rs[i], o->fail_on);
		json_array_append_new(files, json_result(rs[i]));
	}
	json_object_set_new(root, "schema", json_string("bulwark.scan/1"));
	json_object_set_new(root, "bulwark_version", json_string(BW_VERSION));
	json_object_set_new(root, "fail_on", json_string(bw_severity_str(o->fail_on)));
	json_object_set_new(sum, "files", json_integer((json_int_t)s.files));
	json_object_set_new(sum, "clean", json_integer((json_int_t)s.clean));
	json_object_set_new(sum, "findings", json_integer((json_int_t)s.with_findings));
	json_object_set_new(sum, "incomplete", json_integer((json_int_t)s.incomplete));
	json_object_set_new(sum, "failing", json_integer((json_int_t)s.failing));
	json_object_set_new(sum, "max_severity",
	                    s.any_finding ? json_string(bw_severity_str(s.max_severity)) : json_null());
	json_object_set_new(sum, "exit_code", json_integer(bw_summary_exit_code(&s)));
	json_object_set_new(root, "summary", sum);
	json_object_set_new(root, "files", files);
	return bw_json_dump(root, out);
}

/* ---- SARIF 2.1.0 ---- */

static const char *sarif_level(enum bw_severity s)
{
	return s >= BW_SEV_HIGH ? "error" : s == BW_SEV_MEDIUM ? "warning" : "note";
}

static const char *security_severity(enum bw_severity s)
{
	static const char *const v[BW_SEV__COUNT] = {"1.0", "3.0", "5.5", "8.0", "9.5"};

	return v[s];
}

/* Index of rule id in the rules array, adding a descriptor when new. */
static size_t sarif_rule(json_t *rules, const struct bw_finding *f)
{
	size_t i;
	json_t *r, *props, *tags;

	for (i = 0; i < json_array_size(rules); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(rules, i), "id")), f->rule) == 0)
			return i;
	r = json_object();
	json_object_set_new(r, "id", jtext(f->rule));
	json_object_set_new(r, "shortDescription", json_pack("{s:o}", "text", jtext(f->reason)));
	json_object_set_new(r, "fullDescription", json_pack("{s:o}", "text", jtext(f->reason)));
	json_object_set_new(r, "help", json_pack("{s:s}", "text",
	                    "Do not load this file; bulwark names what it would run. "
	                    "Convert trusted models to safetensors."));
	if (f->reference)
		json_object_set_new(r, "helpUri", jtext(f->reference));
	json_object_set_new(r, "defaultConfiguration",
	                    json_pack("{s:s}", "level", sarif_level(f->severity)));
	props = json_object();
	tags = json_pack("[s,s]", "security", "ml-model");
	json_object_set_new(props, "tags", tags);
	json_object_set_new(props, "security-severity", json_string(security_severity(f->severity)));
	json_object_set_new(props, "problem.severity",
	                    json_string(f->severity >= BW_SEV_HIGH ? "error" : "warning"));
	json_object_set_new(r, "properties", props);
	json_array_append_new(rules, r);
	return json_array_size(rules) - 1;
}

/* SARIF artifact URIs: relative paths, percent-encoding what URIs forbid. */
static json_t *uri_of(const char *path)
{
	struct bw_buf b;
	const unsigned char *p = (const unsigned char *)path;
	json_t *j;

	bw_buf_init(&b, REPORT_MAX);
	if (p[0] == '.' && p[1] == '/')
		p += 2;
	for (; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("/-._~", *p) != NULL) {
			if (bw_buf_putc(&b, *p) != BW_OK)
				break;
		} else if (bw_buf_printf(&b, "%%%02X", *p) != BW_OK) {
			break;
		}
	}
	j = json_string(b.data ? (const char *)b.data : "");
	bw_buf_release(&b);
	return j;
}

static json_t *sarif_location(const char *path, uint64_t offset)
{
	json_t *region = json_object();

	json_object_set_new(region, "startLine", json_integer(1));
	if (offset != BW_NO_OFFSET)
		json_object_set_new(region, "byteOffset", json_integer((json_int_t)offset));
	return json_pack("[{s:{s:{s:o},s:o}}]", "physicalLocation", "artifactLocation", "uri",
	                 uri_of(path), "region", region);
}

enum bw_err bw_report_sarif(const struct bw_scan_result *const *rs, size_t n,
                            const struct bw_report_opts *o, char **out)
{
	json_t *root, *run, *rules, *results, *notes;
	size_t i, k;

	(void)o;
	*out = NULL;
	rules = json_array();
	results = json_array();
	notes = json_array();
	for (i = 0; i < n; i++) {
		const struct bw_scan_result *r = rs[i];
		for (k = 0; k < r->n_findings; k++) {
			const struct bw_finding *f = &r->findings[k];
			size_t idx = sarif_rule(rules, f);
			json_t *res = json_object();
			struct bw_buf msg;

			bw_buf_init(&msg, 1 << 20);
			if (bw_buf_printf(&msg, "%s%s%s: %s", r->path, *f->location ? " > " : "",
			                  f->location, f->message) != BW_OK)
				bw_buf_release(&msg); /* over the cap: the result stands with an empty message */
			json_object_set_new(res, "ruleId", jtext(f->rule));
			json_object_set_new(res, "ruleIndex", json_integer((json_int_t)idx));
			json_object_set_new(res, "level", json_string(sarif_level(f->severity)));
			json_object_set_new(res, "message",
			                    json_pack("{s:o}", "text", jtext(msg.data ? (char *)msg.data : "")));
			json_object_set_new(res, "locations",
			                    sarif_location(r->path, *f->location ? BW_NO_OFFSET : f->offset));
			json_object_set_new(res, "properties",
			                    json_pack("{s:s,s:o,s:o,s:o}", "severity",
			                              bw_severity_str(f->severity), "member",
			                              jtext(f->location), "callable", jtext(f->callable),
			                              "args", jtext(f->args)));
			json_array_append_new(results, res);
			bw_buf_release(&msg);
		}
		if (r->incomplete) {
			json_t *note = json_object();
			struct bw_buf msg;

			bw_buf_init(&msg, 1 << 20);
			if (bw_buf_printf(&msg, "%s: not fully scanned: %s", r->path,
			                  r->incomplete_reason ? r->incomplete_reason : "unknown reason") != BW_OK)
				bw_buf_release(&msg);
			json_object_set_new(note, "level", json_string("warning"));
			json_object_set_new(note, "message",
			                    json_pack("{s:o}", "text", jtext(msg.data ? (char *)msg.data : "")));
			json_object_set_new(note, "locations", sarif_location(r->path, BW_NO_OFFSET));
			json_array_append_new(notes, note);
			bw_buf_release(&msg);
		}
	}
	run = json_object();
	json_object_set_new(run, "tool",
	                    json_pack("{s:{s:s,s:s,s:s,s:s,s:o}}", "driver", "name", "bulwark",
	                              "version", BW_VERSION, "semanticVersion", BW_VERSION,
	                              "informationUri", "https://github.com/bulwark-ml/bulwark",
	                              "rules", rules));
	json_object_set_new(run, "invocations",
	                    json_pack("[{s:b,s:o}]", "executionSuccessful", 1,
	                              "toolExecutionNotifications", notes));
	json_object_set_new(run, "results", results);
	json_object_set_new(run, "columnKind", json_string("unicodeCodePoints"));
	root = json_object();
	json_object_set_new(root, "$schema", json_string("https://json.schemastore.org/sarif-2.1.0.json"));
	json_object_set_new(root, "version", json_string("2.1.0"));
	json_object_set_new(root, "runs", json_pack("[o]", run));
	return bw_json_dump(root, out);
}
