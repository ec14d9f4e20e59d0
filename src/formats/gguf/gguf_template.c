/*
 * formats/gguf/gguf_template.c - static inspection of Jinja chat templates.
 *
 * A chat template is rendered by Jinja2 when a GGUF model is served. Jinja's
 * sandbox blocks attribute names starting with '_' only when the application
 * uses SandboxedEnvironment; llama-cpp-python < 0.2.72 did not (CVE-2024-34359,
 * GHSA-56xg-wfcc-g829), and template gadgets reach os/subprocess through object
 * internals: `().__class__.__base__.__subclasses__()`, `cycler.__init__.__globals__`,
 * `lipsum.__globals__['os'].popen(...)`, `self._TemplateReference__context`,
 * `|attr('\x5f\x5fclass\x5f\x5f')`, `request.application.__globals__` (Flask).
 * Honest templates never need any of these: they loop over messages, test
 * roles, use namespace(), raise_exception(), tojson and string slicing.
 *
 * We tokenise only the Jinja parts ({{ ... }}, {% ... %}; text and {# #}
 * comments are inert) and report the first of:
 *   - an identifier containing "__" (dunders, name-mangled privates),
 *   - the attr filter (attribute access by computed name),
 *   - an escaped underscore in a string literal (\x5f, \u005f, \137, \N{LOW LINE}),
 *     a string of only underscores ('__') or '_' * n (dunder names built in pieces),
 *   - a gadget root or a process/eval name used as code: cycler, joiner, lipsum,
 *     url_for, get_flashed_messages, request, config, self, popen, subprocess,
 *     import_module, eval, exec, getattr, globals, builtins, mro, subclasses,
 *     func_globals, f_globals, gi_frame, tb_frame, f_back, os. / .system(,
 *   - a {% include/import/extends/from %} statement (loads a template by name).
 * Role names inside string literals ('system') are not code and are skipped.
 * Must not: evaluate anything, allocate, or read past n.
 */
#include <string.h>

#include "formats/gguf/gguf.h"

static int tp_idstart(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int tp_idchar(char c)
{
	return tp_idstart(c) || (c >= '0' && c <= '9');
}

static int tp_ideq(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(s, w, n) == 0;
}

/* Gadget roots and names that only an escape attempt uses as code. */
static const char *const tp_names[] = {
	"cycler",      "joiner",   "lipsum",       "url_for",  "get_flashed_messages",
	"request",     "config",   "self",         "popen",    "subprocess",
	"import_module", "eval",   "exec",         "getattr",  "globals",
	"builtins",    "mro",      "subclasses",   "func_globals", "f_globals",
	"gi_frame",    "tb_frame", "f_back",       "system_call",
};

/* Escaped underscore spellings inside a string literal. */
static const char *const tp_escapes[] = {
	"\\x5f", "\\x5F", "\\u005f", "\\u005F", "\\U0000005f", "\\U0000005F", "\\137", "\\N{LOW LINE}",
};

static int tp_block(const char *t, size_t s, size_t e, size_t *hit, const char **why)
{
	size_t i = s, j, k;

	while (i < e) {
		char c = t[i];

		if (c == '\'' || c == '"') {
			/* string literal: look for dunders and escaped underscores only */
			j = i + 1;
			while (j < e && t[j] != c) {
				if (t[j] == '\\') {
					for (k = 0; k < sizeof tp_escapes / sizeof tp_escapes[0]; k++) {
						size_t l = strlen(tp_escapes[k]);

						if (j + l <= e && memcmp(t + j, tp_escapes[k], l) == 0) {
							*hit = j;
							*why = "escaped underscore in a string (obfuscated dunder name)";
							return 1;
						}
					}
					j++;
				} else if (t[j] == '_' && j + 1 < e && t[j + 1] == '_' && j + 2 < e &&
				           tp_idchar(t[j + 2])) {
					*hit = j;
					*why = "dunder name in a string (attribute lookup by name)";
					return 1;
				}
				if (j < e)
					j++;
			}
			/* '__' or '_' * 2: building a dunder name out of pieces */
			if (j < e && j > i + 1) {
				size_t q = i + 1, u = 0;

				while (q < j && t[q] == '_')
					q++, u++;
				if (q == j && u >= 2) {
					*hit = i;
					*why = "underscore-only string (building a dunder name)";
					return 1;
				}
				if (q == j && u == 1) {
					q = j + 1;
					while (q < e && (t[q] == ' ' || t[q] == '\t'))
						q++;
					if (q < e && t[q] == '*') {
						*hit = i;
						*why = "repeated underscore string (building a dunder name)";
						return 1;
					}
				}
			}
			i = j + 1;
			continue;
		}
		if (tp_idstart(c) && (i == s || !tp_idchar(t[i - 1]))) {
			const char *id = t + i;
			size_t n;

			j = i;
			while (j < e && tp_idchar(t[j]))
				j++;
			n = j - i;
			if (n >= 3 && memmem(id, n, "__", 2) != NULL) {
				*hit = i;
				*why = "dunder or name-mangled attribute (Python object internals)";
				return 1;
			}
			for (k = 0; k < sizeof tp_names / sizeof tp_names[0]; k++) {
				if (tp_ideq(id, n, tp_names[k])) {
					*hit = i;
					*why = "sandbox-escape gadget name used as code";
					return 1;
				}
			}
			if (tp_ideq(id, n, "os") && j < e && t[j] == '.') {
				*hit = i;
				*why = "os module attribute";
				return 1;
			}
			if (tp_ideq(id, n, "system") && i > s && t[i - 1] == '.' && j < e && t[j] == '(') {
				*hit = i;
				*why = "system() call";
				return 1;
			}
			if (tp_ideq(id, n, "attr")) {
				/* the attr filter: '|' then optional blanks then attr */
				k = i;
				while (k > s && (t[k - 1] == ' ' || t[k - 1] == '\t' || t[k - 1] == '\n'))
					k--;
				if (k > s && t[k - 1] == '|') {
					*hit = i;
					*why = "attr filter (attribute access by computed name)";
					return 1;
				}
			}
			i = j;
			continue;
		}
		i++;
	}
	return 0;
}

/* A {% %} statement whose keyword loads another template. Chat templates are one
 * self-contained string: renderers give them no loader, so honest ones never do this. */
static int tp_loads_template(const char *t, size_t s, size_t e)
{
	static const char *const kw[] = {"include", "import", "extends", "from"};
	size_t i = s, j, k;

	while (i < e && (t[i] == '-' || t[i] == '+' || t[i] == ' ' || t[i] == '\t' || t[i] == '\n' ||
	                 t[i] == '\r'))
		i++;
	j = i;
	while (j < e && tp_idchar(t[j]))
		j++;
	for (k = 0; k < sizeof kw / sizeof kw[0]; k++)
		if (tp_ideq(t + i, j - i, kw[k]))
			return 1;
	return 0;
}

int bw_gguf_template_ssti(const char *tpl, size_t n, size_t *hit_off, const char **why)
{
	size_t i = 0, e;
	const char *close;

	*hit_off = 0;
	*why = NULL;
	while (i + 1 < n) {
		if (tpl[i] == '{' && (tpl[i + 1] == '{' || tpl[i + 1] == '%' || tpl[i + 1] == '#')) {
			const char *end;

			close = tpl[i + 1] == '{' ? "}}" : tpl[i + 1] == '%' ? "%}" : "#}";
			end = memmem(tpl + i + 2, n - i - 2, close, 2);
			e = end != NULL ? (size_t)(end - tpl) : n;
			if (tpl[i + 1] == '%' && tp_loads_template(tpl, i + 2, e)) {
				*hit_off = i;
				*why = "template statement loading another template (include/import/extends/from): "
				       "the renderer's loader reads it, from the file system with a FileSystemLoader";
				return 1;
			}
			if (tpl[i + 1] != '#' && tp_block(tpl, i + 2, e, hit_off, why))
				return 1;
			i = end != NULL ? e + 2 : n;
			continue;
		}
		i++;
	}
	return 0;
}
