/*
 * check.c - read a CycloneDX JSON document back and validate it against the
 * official JSON schema of its specVersion (bulwark sbom --check).
 *
 * A JSON Schema draft-07 validator for the keywords the CycloneDX 1.5/1.6
 * schemas use (json-schema.org draft-07 validation, sections 6.1-6.7 and 7):
 * type, enum, const, properties, additionalProperties, required, items
 * (schema or tuple) with additionalItems, minItems, maxItems, uniqueItems,
 * minLength, maxLength (in code points), minimum, maximum, pattern (POSIX ERE:
 * every pattern in these schemas is one), format (date-time per RFC 3339
 * 5.6, uri per RFC 3986 3.1 scheme, idn-email, iri-reference), allOf, anyOf,
 * oneOf, not, if/then/else, and $ref (local JSON pointers, and the sibling
 * files spdx.schema.json and jsf-0.82.schema.json). Unknown keywords are
 * annotations and ignored, as draft-07 says.
 * Must not: fetch any schema from the network, or recurse deeper than
 * CHECK_MAX_DEPTH (the document is untrusted).
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bulwark/sbom.h"
#include "core/alloc.h"

#define CHECK_MAX_DEPTH 200
#define CHECK_MAX_DOC ((size_t)256 << 20)
#define CHECK_MAX_SCHEMAS 8
#define CHECK_MAX_REGEX 64

struct schema_file {
	char name[64];
	json_t *doc;
};

struct vctx {
	const char *dir;
	struct schema_file files[CHECK_MAX_SCHEMAS];
	size_t n_files;
	struct {
		const char *pattern;
		regex_t re;
		int ok;
	} re[CHECK_MAX_REGEX];
	size_t n_re;
	int quiet;          /* >0 inside anyOf/oneOf/not trials: do not record errors */
	size_t n_errors;
	char first_error[256];
	enum bw_err fatal;  /* a schema problem (not a document problem) */
};

static void verr(struct vctx *c, const char *path, const char *what)
{
	if (c->quiet > 0)
		return;
	if (c->n_errors++ == 0)
		snprintf(c->first_error, sizeof c->first_error, "%s: %s", path[0] ? path : "/", what);
}

static json_t *load_schema(struct vctx *c, const char *name)
{
	char path[4096];
	json_error_t jerr;
	size_t i;

	for (i = 0; i < c->n_files; i++)
		if (strcmp(c->files[i].name, name) == 0)
			return c->files[i].doc;
	if (c->n_files == CHECK_MAX_SCHEMAS || strlen(name) >= sizeof c->files[0].name || strchr(name, '/') != NULL)
		return NULL;
	snprintf(path, sizeof path, "%s/%s", c->dir, name);
	c->files[c->n_files].doc = json_load_file(path, 0, &jerr);
	if (c->files[c->n_files].doc == NULL)
		return NULL;
	strcpy(c->files[c->n_files].name, name);
	return c->files[c->n_files++].doc;
}

/* RFC 6901 JSON pointer ("/definitions/x") inside doc. */
static json_t *pointer(json_t *doc, const char *p)
{
	char tok[256];

	while (doc != NULL && *p == '/') {
		size_t n = 0;

		p++;
		while (*p != '\0' && *p != '/' && n + 1 < sizeof tok) {
			if (p[0] == '~' && p[1] == '1') {
				tok[n++] = '/';
				p += 2;
			} else if (p[0] == '~' && p[1] == '0') {
				tok[n++] = '~';
				p += 2;
			} else {
				tok[n++] = *p++;
			}
		}
		tok[n] = '\0';
		doc = json_is_array(doc) ? json_array_get(doc, (size_t)strtoul(tok, NULL, 10)) : json_object_get(doc, tok);
	}
	return doc;
}

/* Resolve $ref relative to the schema file it appears in (*root is updated). */
static json_t *resolve(struct vctx *c, const char *ref, json_t **root)
{
	const char *hash = strchr(ref, '#');
	char file[64];

	if (hash != ref) {
		size_t n = hash != NULL ? (size_t)(hash - ref) : strlen(ref);

		if (n >= sizeof file)
			return NULL;
		memcpy(file, ref, n);
		file[n] = '\0';
		/* absolute ids of the sibling schemas map to their file names */
		if (strrchr(file, '/') != NULL)
			memmove(file, strrchr(file, '/') + 1, strlen(strrchr(file, '/') + 1) + 1);
		*root = load_schema(c, file);
		if (*root == NULL)
			return NULL;
	}
	return hash != NULL ? pointer(*root, hash + 1) : *root;
}

static int utf8_len(const char *s, size_t n)
{
	size_t i;
	int cps = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			cps++;
	return cps;
}

static int digits(const char *s, int n)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* RFC 3339 section 5.6 date-time */
static int is_datetime(const char *s)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, se;
	size_t n = strlen(s), i = 19;

	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
	    s[16] != ':')
		return 0;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	se = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    se < 0 || se > 60)
		return 0;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 0;
	if (s[i] == '.') {
		i++;
		if (s[i] < '0' || s[i] > '9')
			return 0;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if ((s[i] == 'Z' || s[i] == 'z') && s[i + 1] == '\0')
		return 1;
	if ((s[i] == '+' || s[i] == '-') && strlen(s + i) == 6 && s[i + 3] == ':') {
		int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);

		return oh >= 0 && oh <= 23 && om >= 0 && om <= 59;
	}
	return 0;
}

static int is_uri(const char *s)
{
	size_t i = 0;

	/* RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
	       s[i] == '+' || s[i] == '-' || s[i] == '.')
		i++;
	if (s[i] != ':')
		return 0;
	for (; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == '"' || s[i] == '<' || s[i] == '>' || s[i] == '\\')
			return 0;
	return 1;
}

static int format_ok(const char *fmt, const char *s)
{
	size_t i;

	if (strcmp(fmt, "date-time") == 0)
		return is_datetime(s);
	if (strcmp(fmt, "uri") == 0)
		return is_uri(s);
	if (strcmp(fmt, "idn-email") == 0 || strcmp(fmt, "email") == 0) {
		const char *at = strchr(s, '@');

		return at != NULL && at != s && at[1] != '\0' && strchr(at + 1, '@') == NULL;
	}
	if (strcmp(fmt, "iri-reference") == 0 || strcmp(fmt, "uri-reference") == 0) {
		for (i = 0; s[i] != '\0'; i++)
			if ((unsigned char)s[i] < ' ' || s[i] == ' ' || s[i] == '"' || s[i] == '<' || s[i] == '>' ||
			    s[i] == '\\' || s[i] == '{' || s[i] == '}' || s[i] == '|' || s[i] == '^' || s[i] == '`')
				return 0;
		return 1;
	}
	return 1; /* unknown formats are annotations */
}

static int pattern_ok(struct vctx *c, const char *pat, const char *s)
{
	size_t i;

	for (i = 0; i < c->n_re; i++)
		if (c->re[i].pattern == pat)
			break;
	if (i == c->n_re) {
		if (c->n_re == CHECK_MAX_REGEX) {
			c->fatal = BW_ERR_LIMIT;
			return 0;
		}
		c->re[i].pattern = pat;
		c->re[i].ok = regcomp(&c->re[i].re, pat, REG_EXTENDED | REG_NOSUB) == 0;
		c->n_re++;
	}
	if (!c->re[i].ok) {
		c->fatal = BW_ERR_UNSUPPORTED;
		return 0;
	}
	return regexec(&c->re[i].re, s, 0, NULL, 0) == 0;
}

static int type_ok(const char *t, const json_t *v)
{
	if (strcmp(t, "object") == 0)
		return json_is_object(v);
	if (strcmp(t, "array") == 0)
		return json_is_array(v);
	if (strcmp(t, "string") == 0)
		return json_is_string(v);
	if (strcmp(t, "boolean") == 0)
		return json_is_boolean(v);
	if (strcmp(t, "null") == 0)
		return json_is_null(v);
	if (strcmp(t, "number") == 0)
		return json_is_number(v);
	if (strcmp(t, "integer") == 0)
		return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v));
	return 0;
}

static double num(const json_t *v)
{
	return json_number_value(v);
}

static int validate(struct vctx *c, json_t *root, json_t *s, json_t *v, int depth, char *path, size_t plen);

static int sub(struct vctx *c, json_t *root, json_t *s, json_t *v, int depth, char *path, size_t plen,
               const char *seg)
{
	size_t l = strlen(path);
	int r;

	snprintf(path + l, plen - l, "/%s", seg);
	r = validate(c, root, s, v, depth + 1, path, plen);
	path[l] = '\0';
	return r;
}

static int validate(struct vctx *c, json_t *root, json_t *s, json_t *v, int depth, char *path, size_t plen)
{
	json_t *k, *ref;
	int ok = 1;

	if (c->fatal != BW_OK)
		return 0;
	if (depth > CHECK_MAX_DEPTH) {
		c->fatal = BW_ERR_LIMIT;
		return 0;
	}
	if (json_is_true(s))
		return 1;
	if (json_is_false(s)) {
		verr(c, path, "no value is allowed here");
		return 0;
	}
	if (!json_is_object(s))
		return 1;
	/* draft-07 section 8.3: $ref makes its siblings ignored */
	if ((ref = json_object_get(s, "$ref")) != NULL && json_is_string(ref)) {
		json_t *r2 = root, *t = resolve(c, json_string_value(ref), &r2);

		if (t == NULL) {
			c->fatal = BW_ERR_NOTFOUND;
			return 0;
		}
		return validate(c, r2, t, v, depth + 1, path, plen);
	}
	if ((k = json_object_get(s, "type")) != NULL) {
		int m = 0;

		if (json_is_string(k)) {
			m = type_ok(json_string_value(k), v);
		} else if (json_is_array(k)) {
			size_t i;

			for (i = 0; i < json_array_size(k) && !m; i++)
				m = json_is_string(json_array_get(k, i)) && type_ok(json_string_value(json_array_get(k, i)), v);
		}
		if (!m) {
			verr(c, path, "wrong type");
			return 0;
		}
	}
	if ((k = json_object_get(s, "enum")) != NULL && json_is_array(k)) {
		size_t i;
		int m = 0;

		for (i = 0; i < json_array_size(k) && !m; i++)
			m = json_equal(json_array_get(k, i), v);
		if (!m) {
			verr(c, path, json_is_string(v) ? "value not in the allowed list" : "value not allowed");
			ok = 0;
		}
	}
	if ((k = json_object_get(s, "const")) != NULL && !json_equal(k, v)) {
		verr(c, path, "value differs from the constant");
		ok = 0;
	}
	if (json_is_string(v)) {
		const char *str = json_string_value(v);
		int cps = utf8_len(str, json_string_length(v));

		if ((k = json_object_get(s, "minLength")) != NULL && cps < num(k)) {
			verr(c, path, "string too short");
			ok = 0;
		}
		if ((k = json_object_get(s, "maxLength")) != NULL && cps > num(k)) {
			verr(c, path, "string too long");
			ok = 0;
		}
		if ((k = json_object_get(s, "pattern")) != NULL && json_is_string(k) &&
		    !pattern_ok(c, json_string_value(k), str)) {
			verr(c, path, "string does not match the pattern");
			ok = 0;
		}
		if ((k = json_object_get(s, "format")) != NULL && json_is_string(k) &&
		    !format_ok(json_string_value(k), str)) {
			verr(c, path, "string is not a valid format");
			ok = 0;
		}
	}
	if (json_is_number(v)) {
		if ((k = json_object_get(s, "minimum")) != NULL && num(v) < num(k)) {
			verr(c, path, "number below the minimum");
			ok = 0;
		}
		if ((k = json_object_get(s, "maximum")) != NULL && num(v) > num(k)) {
			verr(c, path, "number above the maximum");
			ok = 0;
		}
	}
	if (json_is_object(v)) {
		json_t *props = json_object_get(s, "properties"), *addl = json_object_get(s, "additionalProperties");
		json_t *req = json_object_get(s, "required"), *pv;
		const char *key;
		size_t i;

		json_object_foreach(v, key, pv) {
			json_t *ps = props != NULL ? json_object_get(props, key) : NULL;

			if (ps != NULL) {
				if (!sub(c, root, ps, pv, depth, path, plen, key))
					ok = 0;
			} else if (addl != NULL) {
				if (json_is_false(addl)) {
					char msg[160];

					snprintf(msg, sizeof msg, "property \"%.100s\" is not allowed", key);
					verr(c, path, msg);
					ok = 0;
				} else if (!sub(c, root, addl, pv, depth, path, plen, key)) {
					ok = 0;
				}
			}
		}
		for (i = 0; req != NULL && i < json_array_size(req); i++) {
			const char *rk = json_string_value(json_array_get(req, i));

			if (rk != NULL && json_object_get(v, rk) == NULL) {
				char msg[160];

				snprintf(msg, sizeof msg, "required property \"%.100s\" is missing", rk);
				verr(c, path, msg);
				ok = 0;
			}
		}
	}
	if (json_is_array(v)) {
		json_t *items = json_object_get(s, "items"), *addi = json_object_get(s, "additionalItems");
		size_t i, j, n = json_array_size(v);
		char seg[24];

		if ((k = json_object_get(s, "minItems")) != NULL && (double)n < num(k)) {
			verr(c, path, "too few items");
			ok = 0;
		}
		if ((k = json_object_get(s, "maxItems")) != NULL && (double)n > num(k)) {
			verr(c, path, "too many items");
			ok = 0;
		}
		for (i = 0; items != NULL && i < n; i++) {
			json_t *is = items;

			if (json_is_array(items)) {
				if (i < json_array_size(items))
					is = json_array_get(items, i);
				else if (addi != NULL)
					is = addi;
				else
					break;
			}
			snprintf(seg, sizeof seg, "%zu", i);
			if (!sub(c, root, is, json_array_get(v, i), depth, path, plen, seg))
				ok = 0;
		}
		if (json_is_true(json_object_get(s, "uniqueItems")))
			for (i = 0; i < n && ok; i++)
				for (j = i + 1; j < n; j++)
					if (json_equal(json_array_get(v, i), json_array_get(v, j))) {
						verr(c, path, "items are not unique");
						ok = 0;
						break;
					}
	}
	if ((k = json_object_get(s, "allOf")) != NULL && json_is_array(k)) {
		size_t i;

		for (i = 0; i < json_array_size(k); i++)
			if (!validate(c, root, json_array_get(k, i), v, depth + 1, path, plen))
				ok = 0;
	}
	if ((k = json_object_get(s, "anyOf")) != NULL && json_is_array(k)) {
		size_t i;
		int m = 0;

		c->quiet++;
		for (i = 0; i < json_array_size(k) && !m; i++)
			m = validate(c, root, json_array_get(k, i), v, depth + 1, path, plen);
		c->quiet--;
		if (!m) {
			verr(c, path, "matches none of anyOf");
			ok = 0;
		}
	}
	if ((k = json_object_get(s, "oneOf")) != NULL && json_is_array(k)) {
		size_t i;
		int m = 0;

		c->quiet++;
		for (i = 0; i < json_array_size(k); i++)
			m += validate(c, root, json_array_get(k, i), v, depth + 1, path, plen);
		c->quiet--;
		if (m != 1) {
			verr(c, path, m == 0 ? "matches none of oneOf" : "matches more than one of oneOf");
			ok = 0;
		}
	}
	if ((k = json_object_get(s, "not")) != NULL) {
		int m;

		c->quiet++;
		m = validate(c, root, k, v, depth + 1, path, plen);
		c->quiet--;
		if (m) {
			verr(c, path, "matches a schema it must not");
			ok = 0;
		}
	}
	if ((k = json_object_get(s, "if")) != NULL) {
		int m;
		json_t *br;

		c->quiet++;
		m = validate(c, root, k, v, depth + 1, path, plen);
		c->quiet--;
		br = json_object_get(s, m ? "then" : "else");
		if (br != NULL && !validate(c, root, br, v, depth + 1, path, plen))
			ok = 0;
	}
	return ok && c->fatal == BW_OK;
}

static size_t count_components(json_t *doc)
{
	json_t *stack[CHECK_MAX_DEPTH];
	size_t d = 0, n = 0, i;
	json_t *mc = json_object_get(json_object_get(doc, "metadata"), "component");

	if (json_is_object(mc))
		n++;
	if (json_is_array(json_object_get(doc, "components")))
		stack[d++] = json_object_get(doc, "components");
	if (json_is_object(mc) && json_is_array(json_object_get(mc, "components")))
		stack[d++] = json_object_get(mc, "components");
	while (d > 0) {
		json_t *arr = stack[--d];

		for (i = 0; i < json_array_size(arr); i++) {
			json_t *sub2 = json_object_get(json_array_get(arr, i), "components");

			n++;
			if (json_is_array(sub2) && d < CHECK_MAX_DEPTH)
				stack[d++] = sub2;
		}
	}
	return n;
}

enum bw_err bw_sbom_check(const char *path, const char *schema_dir, struct bw_sbom_info *info, struct bw_diag *diag)
{
	struct vctx *c = NULL;
	json_t *doc = NULL, *schema;
	json_error_t jerr;
	const char *sv;
	char name[64], jpath[1024] = "";
	enum bw_err e = BW_OK;
	size_t i;

	if (info == NULL || path == NULL || schema_dir == NULL)
		return BW_ERR_ARG;
	memset(info, 0, sizeof *info);
	doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL)
		return bw_diag_set(diag, BW_ERR_MALFORMED, (uint64_t)jerr.position, "not JSON: %s (line %d)", jerr.text,
		                   jerr.line);
	if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "bomFormat")) ||
	    strcmp(json_string_value(json_object_get(doc, "bomFormat")), "CycloneDX") != 0 ||
	    !json_is_string(json_object_get(doc, "specVersion"))) {
		e = bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "not a CycloneDX document (bomFormat/specVersion)");
		goto out;
	}
	sv = json_string_value(json_object_get(doc, "specVersion"));
	snprintf(info->spec_version, sizeof info->spec_version, "%s", sv);
	if (strcmp(sv, "1.5") != 0 && strcmp(sv, "1.6") != 0 && strcmp(sv, "1.7") != 0) {
		e = bw_diag_set(diag, BW_ERR_UNSUPPORTED, BW_NO_OFFSET, "CycloneDX %s is not checked (1.5, 1.6, 1.7)", sv);
		goto out;
	}
	c = bw_calloc(1, sizeof *c);
	if (c == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	c->dir = schema_dir;
	snprintf(name, sizeof name, "bom-%s.schema.json", sv);
	schema = load_schema(c, name);
	if (schema == NULL) {
		e = bw_diag_set(diag, BW_ERR_NOTFOUND, BW_NO_OFFSET, "cannot read %s/%s", schema_dir, name);
		goto out;
	}
	(void)validate(c, schema, schema, doc, 0, jpath, sizeof jpath);
	if (c->fatal != BW_OK) {
		e = bw_diag_set(diag, c->fatal, BW_NO_OFFSET,
		                c->fatal == BW_ERR_LIMIT ? "document nested too deeply to check"
		                                         : "a schema reference or pattern could not be used");
		goto out;
	}
	info->n_errors = c->n_errors;
	snprintf(info->first_error, sizeof info->first_error, "%s", c->first_error);
	info->n_components = count_components(doc);
out:
	if (c != NULL) {
		for (i = 0; i < c->n_files; i++)
			json_decref(c->files[i].doc);
		for (i = 0; i < c->n_re; i++)
			if (c->re[i].ok)
				regfree(&c->re[i].re);
		bw_free(c);
	}
	json_decref(doc);
	return e;
}
