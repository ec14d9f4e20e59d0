/*
 * report.c - render an audit result as a text table, JSON, SARIF 2.1.0 or a
 * CycloneDX 1.6 BOM with a vulnerabilities section.
 *
 * JSON documents are built with jansson and dumped with JSON_PRESERVE_ORDER so
 * keys come out in the order written here: the same result gives the same
 * bytes (no timestamps, no random serial numbers). SARIF follows the OASIS
 * SARIF 2.1.0 standard (3.13 run, 3.27 result, 3.49 reportingDescriptor);
 * CycloneDX follows the 1.6 JSON schema ("vulnerabilities", "affects").
 * Must not: print; the CLI decides where the string goes.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "bulwark/audit.h"
#include "bulwark/version.h"
#include "core/alloc.h"
#include "core/buf.h"

#define REPORT_MAX ((size_t)1 << 30)

static const char *sev_name(const struct bw_audit_hit *h)
{
	return h->severity_known ? bw_severity_str(h->severity) : "unknown";
}

static const char *pkg_version(const struct bw_audit_pkg *p)
{
	if (p->req->version != NULL)
		return p->req->version;
	return p->req->spec != NULL && p->req->spec[0] != '\0' ? p->req->spec : "*";
}

static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* json_string() refuses invalid UTF-8; advisory text is usually fine, but never lose a field */
static json_t *jstr(const char *s)
{
	json_t *j;

	if (s == NULL)
		return json_null();
	j = json_string(s);
	if (j == NULL) {
		char *c = bw_strdup(s);
		size_t i;

		if (c == NULL)
			return json_null();
		for (i = 0; c[i] != '\0'; i++)
			if ((unsigned char)c[i] >= 0x80)
				c[i] = '?';
		j = json_string(c);
		bw_free(c);
	}
	return j != NULL ? j : json_null();
}

static char *source_of(const struct bw_audit_req *r, char *buf, size_t n)
{
	if (r->source == NULL)
		snprintf(buf, n, "(arguments)");
	else if (r->line > 0)
		snprintf(buf, n, "%s:%u", r->source, r->line);
	else
		snprintf(buf, n, "%s", r->source);
	return buf;
}

/* ------------------------------------------------------------ JSON */

static json_t *hit_json(const struct bw_audit_hit *h)
{
	json_t *o = json_object(), *via = json_array();

	json_object_set_new(o, "id", jstr(h->id));
	json_object_set_new(o, "aliases", str_array(h->aliases, h->n_aliases));
	json_object_set_new(o, "summary", jstr(h->summary));
	json_object_set_new(o, "severity", json_string(sev_name(h)));
	json_object_set_new(o, "score", h->score >= 0 ? json_real(h->score) : json_null());
	json_object_set_new(o, "vector", jstr(h->vector));
	if (h->via_versions)
		json_array_append_new(via, json_string("versions"));
	if (h->via_ranges)
		json_array_append_new(via, json_string("ranges"));
	json_object_set_new(o, "matched_by", via);
	json_object_set_new(o, "fixed_in", str_array(h->fixed, h->n_fixed));
	if (h->n_allowed > 0)
		json_object_set_new(o, "affected_versions_allowed", str_array(h->allowed, h->n_allowed));
	json_object_set_new(o, "url", jstr(h->url));
	json_object_set_new(o, "advisory_file", jstr(h->file));
	json_object_set_new(o, "ignored", json_boolean(h->ignored));
	if (h->ignored)
		json_object_set_new(o, "ignore_reason", jstr(h->ignore_reason));
	if (h->ignore_expired)
		json_object_set_new(o, "ignore_expired", json_true());
	return o;
}

static const char *status_str(enum bw_audit_status s)
{
	return s == BW_AUDIT_VULNERABLE ? "vulnerable" : s == BW_AUDIT_IGNORED ? "ignored" : "ok";
}

static json_t *report_json(const struct bw_audit_result *r)
{
	json_t *root = json_object(), *sum = json_object(), *pkgs = json_array();
	size_t i, j;
	char src[4200];

	json_object_set_new(root, "tool", json_string("bulwark"));
	json_object_set_new(root, "version", json_string(bw_version()));
	json_object_set_new(sum, "packages", json_integer((json_int_t)r->n_pkgs));
	json_object_set_new(sum, "vulnerable", json_integer((json_int_t)r->n_vulnerable));
	json_object_set_new(sum, "advisories", json_integer((json_int_t)r->n_hits));
	json_object_set_new(sum, "unparsable", json_integer((json_int_t)r->n_unparsable));
	json_object_set_new(root, "summary", sum);
	for (i = 0; i < r->n_pkgs; i++) {
		const struct bw_audit_pkg *p = &r->pkgs[i];
		json_t *o = json_object(), *v = json_array();

		json_object_set_new(o, "name", jstr(p->req->name));
		json_object_set_new(o, "normalized", jstr(p->name));
		json_object_set_new(o, "version", jstr(p->req->version));
		json_object_set_new(o, "specifier", p->req->version ? json_null() : jstr(p->req->spec ? p->req->spec : ""));
		json_object_set_new(o, "pep440", json_boolean(p->pinned ? p->version_valid : 1));
		json_object_set_new(o, "source", jstr(source_of(p->req, src, sizeof src)));
		json_object_set_new(o, "status", json_string(status_str(p->status)));
		json_object_set_new(o, "fix", jstr(p->fix));
		json_object_set_new(o, "note", jstr(p->note != NULL ? p->note : p->req->note));
		for (j = 0; j < p->n_hits; j++)
			json_array_append_new(v, hit_json(&p->hits[j]));
		json_object_set_new(o, "vulnerabilities", v);
		json_array_append_new(pkgs, o);
	}
	json_object_set_new(root, "packages", pkgs);
	return root;
}

/* ------------------------------------------------------------ SARIF */

static const char *sarif_level(const struct bw_audit_hit *h)
{
	if (!h->severity_known || h->severity >= BW_SEV_HIGH)
		return "error";
	return h->severity == BW_SEV_MEDIUM ? "warning" : "note";
}

static json_t *report_sarif(const struct bw_audit_result *r)
{
	json_t *root = json_object(), *runs = json_array(), *run = json_object(), *tool = json_object();
	json_t *drv = json_object(), *rules = json_array(), *results = json_array();
	json_t *seen = json_object();
	size_t i, j;

	json_object_set_new(root, "$schema", json_string("https://json.schemastore.org/sarif-2.1.0.json"));
	json_object_set_new(root, "version", json_string("2.1.0"));
	json_object_set_new(drv, "name", json_string("bulwark"));
	json_object_set_new(drv, "version", json_string(bw_version()));
	json_object_set_new(drv, "informationUri", json_string("https://osv.dev/"));
	for (i = 0; i < r->n_pkgs; i++) {
		const struct bw_audit_pkg *p = &r->pkgs[i];

		for (j = 0; j < p->n_hits; j++) {
			const struct bw_audit_hit *h = &p->hits[j];
			json_t *res = json_object(), *msg = json_object(), *locs = json_array();
			json_t *loc = json_object(), *phys = json_object(), *art = json_object();
			char text[2048], sc[16];

			if (json_object_get(seen, h->id) == NULL) {
				json_t *rule = json_object(), *sd = json_object(), *props = json_object();

				json_object_set_new(rule, "id", jstr(h->id));
				json_object_set_new(sd, "text", jstr(h->summary[0] ? h->summary : h->id));
				json_object_set_new(rule, "shortDescription", sd);
				if (h->url != NULL)
					json_object_set_new(rule, "helpUri", jstr(h->url));
				if (h->score >= 0) {
					snprintf(sc, sizeof sc, "%.1f", h->score);
					json_object_set_new(props, "security-severity", json_string(sc));
				}
				json_object_set_new(props, "tags", json_pack("[s]", "security"));
				json_object_set_new(rule, "properties", props);
				json_object_set_new(seen, h->id, json_integer((json_int_t)json_array_size(rules)));
				json_array_append_new(rules, rule);
			}
			snprintf(text, sizeof text, "%s %s is affected by %s (%s)%s%s", p->name, pkg_version(p), h->id,
			         sev_name(h), p->fix ? "; fixed in " : "", p->fix ? p->fix : "");
			json_object_set_new(res, "ruleId", jstr(h->id));
			json_object_set_new(res, "ruleIndex", json_integer(json_integer_value(json_object_get(seen, h->id))));
			json_object_set_new(res, "level", json_string(sarif_level(h)));
			json_object_set_new(msg, "text", jstr(text));
			json_object_set_new(res, "message", msg);
			json_object_set_new(art, "uri", jstr(p->req->source ? p->req->source : "requirements"));
			json_object_set_new(phys, "artifactLocation", art);
			if (p->req->line > 0)
				json_object_set_new(phys, "region", json_pack("{s:i}", "startLine", (int)p->req->line));
			json_object_set_new(loc, "physicalLocation", phys);
			json_array_append_new(locs, loc);
			json_object_set_new(res, "locations", locs);
			if (h->ignored)
				json_object_set_new(res, "suppressions",
				                    json_pack("[{s:s,s:o}]", "kind", "external", "justification",
				                              jstr(h->ignore_reason)));
			json_array_append_new(results, res);
		}
	}
	json_decref(seen);
	json_object_set_new(drv, "rules", rules);
	json_object_set_new(tool, "driver", drv);
	json_object_set_new(run, "tool", tool);
	json_object_set_new(run, "results", results);
	json_array_append_new(runs, run);
	json_object_set_new(root, "runs", runs);
	return root;
}

/* ------------------------------------------------------------ CycloneDX */

static char *purl_of(const struct bw_audit_pkg *p, char *buf, size_t n)
{
	/* purl spec, pypi type: name normalized, version as published */
	if (p->req->version != NULL)
		snprintf(buf, n, "pkg:pypi/%s@%s", p->name, p->req->version);
	else
		snprintf(buf, n, "pkg:pypi/%s", p->name);
	return buf;
}

static json_t *report_cyclonedx(const struct bw_audit_result *r)
{
	json_t *root = json_object(), *meta = json_object(), *tools = json_object();
	json_t *comps = json_array(), *vulns = json_array(), *seen = json_object();
	size_t i, j, k;
	char purl[1024];

	json_object_set_new(root, "bomFormat", json_string("CycloneDX"));
	json_object_set_new(root, "specVersion", json_string("1.6"));
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(tools, "components",
	                    json_pack("[{s:s,s:s,s:s}]", "type", "application", "name", "bulwark", "version",
	                              bw_version()));
	json_object_set_new(meta, "tools", tools);
	json_object_set_new(root, "metadata", meta);
	for (i = 0; i < r->n_pkgs; i++) {
		const struct bw_audit_pkg *p = &r->pkgs[i];
		json_t *c;

		if (p->name[0] == '\0')
			continue;
		purl_of(p, purl, sizeof purl);
		if (json_object_get(seen, purl) != NULL)
			continue;
		json_object_set_new(seen, purl, json_true());
		c = json_object();
		json_object_set_new(c, "type", json_string("library"));
		json_object_set_new(c, "bom-ref", jstr(purl));
		json_object_set_new(c, "name", jstr(p->name));
		if (p->req->version != NULL)
			json_object_set_new(c, "version", jstr(p->req->version));
		json_object_set_new(c, "purl", jstr(purl));
		json_array_append_new(comps, c);
	}
	json_decref(seen);
	for (i = 0; i < r->n_pkgs; i++) {
		const struct bw_audit_pkg *p = &r->pkgs[i];

		for (j = 0; j < p->n_hits; j++) {
			const struct bw_audit_hit *h = &p->hits[j];
			json_t *v = json_object(), *src = json_object(), *refs = json_array();
			json_t *aff = json_array(), *a = json_object(), *vers = json_array();
			char url[512];

			json_object_set_new(v, "id", jstr(h->id));
			snprintf(url, sizeof url, "https://osv.dev/vulnerability/%s", h->id);
			json_object_set_new(src, "name", json_string("OSV"));
			json_object_set_new(src, "url", jstr(url));
			json_object_set_new(v, "source", src);
			for (k = 0; k < h->n_aliases; k++)
				json_array_append_new(refs, json_pack("{s:o,s:{s:s}}", "id", jstr(h->aliases[k]), "source",
				                                      "name",
				                                      strncmp(h->aliases[k], "CVE-", 4) == 0 ? "NVD"
				                                      : strncmp(h->aliases[k], "GHSA-", 5) == 0 ? "GitHub"
				                                                                                : "OSV"));
			if (json_array_size(refs) > 0)
				json_object_set_new(v, "references", refs);
			else
				json_decref(refs);
			if (h->severity_known) {
				json_t *rt = json_object();

				if (h->score >= 0)
					json_object_set_new(rt, "score", json_real(h->score));
				json_object_set_new(rt, "severity", json_string(bw_severity_str(h->severity)));
				if (h->vector != NULL && strncmp(h->vector, "CVSS:3.1/", 9) == 0)
					json_object_set_new(rt, "method", json_string("CVSSv31"));
				else if (h->vector != NULL && strncmp(h->vector, "CVSS:3.0/", 9) == 0)
					json_object_set_new(rt, "method", json_string("CVSSv3"));
				else
					json_object_set_new(rt, "method", json_string("other"));
				if (h->vector != NULL)
					json_object_set_new(rt, "vector", jstr(h->vector));
				json_object_set_new(v, "ratings", json_pack("[o]", rt));
			}
			if (h->summary[0] != '\0')
				json_object_set_new(v, "description", jstr(h->summary));
			if (p->fix != NULL) {
				char rec[512];

				snprintf(rec, sizeof rec, "Upgrade %s to %s or later", p->name, p->fix);
				json_object_set_new(v, "recommendation", jstr(rec));
			}
			if (h->ignored)
				json_object_set_new(v, "analysis",
				                    json_pack("{s:s,s:o}", "state", "not_affected", "detail",
				                              jstr(h->ignore_reason)));
			json_object_set_new(a, "ref", jstr(purl_of(p, purl, sizeof purl)));
			if (p->req->version != NULL) {
				json_array_append_new(vers, json_pack("{s:o,s:s}", "version", jstr(p->req->version),
				                                      "status", "affected"));
			} else {
				for (k = 0; k < h->n_allowed; k++)
					json_array_append_new(vers, json_pack("{s:o,s:s}", "version", jstr(h->allowed[k]),
					                                      "status", "affected"));
			}
			for (k = 0; k < h->n_fixed; k++)
				json_array_append_new(vers, json_pack("{s:o,s:s}", "version", jstr(h->fixed[k]),
				                                      "status", "unaffected"));
			if (json_array_size(vers) > 0)
				json_object_set_new(a, "versions", vers);
			else
				json_decref(vers);
			json_array_append_new(aff, a);
			json_object_set_new(v, "affects", aff);
			json_array_append_new(vulns, v);
		}
	}
	json_object_set_new(root, "components", comps);
	json_object_set_new(root, "vulnerabilities", vulns);
	return root;
}

/* ------------------------------------------------------------ text */

/* s left-aligned in a column of width w and the space after it, as "%-*s " prints it */
static enum bw_err put_col(struct bw_buf *b, const char *s, size_t w)
{
	static const char spaces[] = "                                ";
	size_t n = strlen(s);
	enum bw_err e = bw_buf_append(b, s, n);
	size_t pad = n < w ? w - n : 0;

	while (e == BW_OK && pad > 0) {
		size_t k = pad < sizeof spaces - 1 ? pad : sizeof spaces - 1;

		e = bw_buf_append(b, spaces, k);
		pad -= k;
	}
	return e == BW_OK ? bw_buf_append(b, " ", 1) : e;
}

static enum bw_err report_text(const struct bw_audit_result *r, struct bw_buf *b)
{
	size_t i, j, n_ignored = 0;
	enum bw_err e = BW_OK;

	if (r->n_hits > 0 || r->n_vulnerable > 0)
		e = bw_buf_printf(b, "%-28s %-14s %-20s %-9s %-12s %s\n", "PACKAGE", "VERSION", "ADVISORY",
		                  "SEVERITY", "FIX", "MATCHED BY");
	for (i = 0; i < r->n_pkgs && e == BW_OK; i++) {
		const struct bw_audit_pkg *p = &r->pkgs[i];

		for (j = 0; j < p->n_hits && e == BW_OK; j++) {
			const struct bw_audit_hit *h = &p->hits[j];

			if (h->ignored) {
				n_ignored++;
				continue;
			}
			/* one line per hit: columns written directly (printf was most of the report's time) */
			e = put_col(b, p->name, 28);
			if (e == BW_OK)
				e = put_col(b, pkg_version(p), 14);
			if (e == BW_OK)
				e = put_col(b, h->id, 20);
			if (e == BW_OK)
				e = put_col(b, sev_name(h), 9);
			if (e == BW_OK)
				e = put_col(b, p->fix ? p->fix : "-", 12);
			if (e == BW_OK)
				e = bw_buf_puts(b, h->via_versions && h->via_ranges ? "versions+ranges\n"
				                   : h->via_versions                ? "versions\n"
				                   : h->via_ranges                  ? "ranges\n"
				                                                    : "\n");
			if (e == BW_OK && h->n_allowed > 0) {
				size_t k;

				e = bw_buf_printf(b, "    range allows affected version%s:", h->n_allowed > 1 ? "s" : "");
				for (k = 0; k < h->n_allowed && k < 12 && e == BW_OK; k++)
					e = bw_buf_printf(b, " %s", h->allowed[k]);
				if (e == BW_OK && h->n_allowed > 12)
					e = bw_buf_printf(b, " ... (%zu in all)", h->n_allowed);
				if (e == BW_OK)
					e = bw_buf_puts(b, "\n");
			}
		}
	}
	for (i = 0; i < r->n_pkgs && e == BW_OK; i++) {
		const struct bw_audit_pkg *p = &r->pkgs[i];
		const char *note = p->note != NULL ? p->note : p->req->note;
		char src[4200];

		if (note != NULL && (p->req->version == NULL || !p->version_valid || p->n_hits > 0 ||
		                     p->name[0] == '\0'))
			e = bw_buf_printf(b, "note: %s (%s): %s\n", p->req->name ? p->req->name : "?",
			                  source_of(p->req, src, sizeof src), note);
		for (j = 0; j < p->n_hits && e == BW_OK; j++)
			if (p->hits[j].ignore_expired && !p->hits[j].ignored)
				e = bw_buf_printf(b, "note: the --ignore for %s has expired\n", p->hits[j].id);
	}
	if (e == BW_OK)
		e = bw_buf_printf(b, "%zu package%s checked: %zu vulnerable, %zu advisor%s apply%s",
		                  r->n_pkgs, r->n_pkgs == 1 ? "" : "s", r->n_vulnerable, r->n_hits,
		                  r->n_hits == 1 ? "y" : "ies", r->n_hits == 1 ? "s" : "");
	if (e == BW_OK && n_ignored > 0)
		e = bw_buf_printf(b, ", %zu ignored", n_ignored);
	if (e == BW_OK && r->n_unparsable > 0)
		e = bw_buf_printf(b, ", %zu not PEP 440", r->n_unparsable);
	if (e == BW_OK)
		e = bw_buf_puts(b, "\n");
	return e;
}

/* ------------------------------------------------------------ public */

enum bw_err bw_audit_report(const struct bw_audit_result *r, enum bw_audit_format fmt, char **out,
                            size_t *len)
{
	json_t *doc = NULL;
	struct bw_buf b;
	enum bw_err e = BW_OK;

	if (out == NULL)
		return BW_ERR_ARG;
	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (r == NULL)
		return BW_ERR_ARG;
	bw_buf_init(&b, REPORT_MAX);
	switch (fmt) {
	case BW_AUDIT_TEXT:
		e = report_text(r, &b);
		break;
	case BW_AUDIT_JSON:
		doc = report_json(r);
		break;
	case BW_AUDIT_SARIF:
		doc = report_sarif(r);
		break;
	case BW_AUDIT_CYCLONEDX:
		doc = report_cyclonedx(r);
		break;
	default:
		return BW_ERR_ARG;
	}
	if (fmt != BW_AUDIT_TEXT) {
		const size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(3);
		size_t need;

		if (doc == NULL)
			return BW_ERR_NOMEM;
		/* dump straight into our capped buffer (no jansson-owned string to free) */
		need = json_dumpb(doc, NULL, 0, flags);
		if (need == 0) {
			json_decref(doc);
			return BW_ERR_NOMEM;
		}
		e = bw_buf_reserve(&b, need + 1);
		if (e == BW_OK) {
			b.len = json_dumpb(doc, (char *)b.data, need, flags);
			e = bw_buf_putc(&b, '\n');
		}
		json_decref(doc);
	}
	if (e != BW_OK) {
		bw_buf_release(&b);
		return e;
	}
	if (b.data == NULL && (e = bw_buf_reserve(&b, 1)) != BW_OK)
		return e;
	b.data[b.len] = 0;
	{
		size_t l;

		*out = (char *)bw_buf_take(&b, &l);
		if (len != NULL)
			*len = l;
	}
	return BW_OK;
}

void bw_audit_str_free(char *s)
{
	bw_free(s);
}
