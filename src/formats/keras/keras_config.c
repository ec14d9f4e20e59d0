/*
 * formats/keras/keras_config.c - find code the Keras deserialiser would run.
 *
 * What keras.saving.deserialize_keras_object (Keras 3, serialization_lib.py)
 * and tf.keras' legacy layer deserialisation do with a config:
 *   - {"module": M, "class_name": C, "config": ..., "registered_name": R}:
 *     M is imported (importlib) and C looked up in it; for C == "function" the
 *     function named by "config" is fetched. Outside keras/tensorflow this is an
 *     arbitrary import (CVE-2025-1550; the fix limits M to keras modules).
 *   - class_name "Lambda": the layer's "function" is marshalled bytecode
 *     (base64, Keras 2: a string or [code, defaults, closure]; Keras 3: a
 *     {"class_name": "__lambda__", "config": {"code": ...}} object) that is
 *     unmarshalled and run when the model is called (CVE-2024-3660), or a
 *     named function ("function_type": "function") in "module".
 *   - keras.utils.get_file referenced as a function downloads to an arbitrary
 *     path at load time and keras.config.enable_unsafe_deserialization turns the
 *     safe_mode check off from inside the file (CVE-2025-8747, CVE-2025-9906).
 *   - TorchModuleWrapper.from_config calls torch.load(weights_only=False) on
 *     the base64 "module" blob: a pickle, handed back as a member.
 * Every object of the tree is visited once through an explicit stack of
 * depth <= BW_KERAS_MAX_DEPTH. Must not: recurse, evaluate, or unmarshal.
 */
#include "formats/keras/keras_config.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

struct kc_item {
	json_t *v;
	unsigned depth;
};

struct kc_ctx {
	const struct bw_fmt_sink *sink;
	json_t *handled[64]; /* __lambda__ objects already reported through their Lambda layer */
	size_t n_handled;
	enum bw_err ret;
};

int bw_keras_config_detect(const uint8_t *data, size_t len)
{
	size_t i = 0;
	int score;

	if (data == NULL)
		return 0;
	if (len >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf)
		i = 3; /* UTF-8 BOM */
	while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t'))
		i++;
	if (i >= len || data[i] != '{')
		return 0;
	if (memmem(data, len, "\"class_name\"", 12) == NULL || memmem(data, len, "\"config\"", 8) == NULL)
		return 0;
	score = 60;
	if (memmem(data, len, "\"keras_version\"", 15) != NULL || memmem(data, len, "\"module\": \"keras", 16) != NULL ||
	    memmem(data, len, "\"module\":\"keras", 15) != NULL || memmem(data, len, "\"backend\"", 9) != NULL)
		score = 90;
	return score;
}

/* Decode base64 (standard alphabet; newlines and padding tolerated) into out (bw_malloc'd). */
static enum bw_err kc_b64(const char *s, size_t n, uint8_t **out, size_t *out_len)
{
	uint8_t *o;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i, k = 0;

	*out = NULL;
	*out_len = 0;
	o = bw_malloc(n / 4 * 3 + 4);
	if (o == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		char ch = s[i];
		int v;

		if (ch >= 'A' && ch <= 'Z')
			v = ch - 'A';
		else if (ch >= 'a' && ch <= 'z')
			v = ch - 'a' + 26;
		else if (ch >= '0' && ch <= '9')
			v = ch - '0' + 52;
		else if (ch == '+' || ch == '-')
			v = 62;
		else if (ch == '/' || ch == '_')
			v = 63;
		else if (ch == '=' || ch == '\n' || ch == '\r' || ch == ' ')
			continue;
		else {
			bw_free(o);
			return BW_ERR_MALFORMED;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[k++] = (uint8_t)(acc >> bits);
		}
	}
	*out = o;
	*out_len = k;
	return BW_OK;
}

/*
 * Names in marshalled code (Python marshal.c: TYPE_SHORT_ASCII 'z'/'Z' with a
 * one-byte length, TYPE_ASCII 'a'/'A', TYPE_UNICODE 'u', TYPE_INTERNED 't'
 * with four bytes; bit 0x80 is FLAG_REF). Collects identifier-like strings
 * into out, comma separated, without evaluating anything.
 */
static void kc_marshal_names(const uint8_t *b, size_t n, char *out, size_t out_len)
{
	size_t i = 0, w = 0;

	out[0] = '\0';
	while (i < n) {
		uint8_t t = b[i] & 0x7f;
		size_t l = 0, h = 0, j;
		int ident = 1;

		if ((t == 'z' || t == 'Z') && i + 1 < n) {
			l = b[i + 1];
			h = 2;
		} else if ((t == 'a' || t == 'A' || t == 'u' || t == 't') && i + 4 < n) {
			l = (size_t)b[i + 1] | (size_t)b[i + 2] << 8 | (size_t)b[i + 3] << 16 | (size_t)b[i + 4] << 24;
			h = 5;
		}
		if (h == 0 || l == 0 || l > 64 || l > n - i - h) {
			i++;
			continue;
		}
		for (j = 0; j < l; j++) {
			uint8_t ch = b[i + h + j];

			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == '.' ||
			      (j > 0 && ch >= '0' && ch <= '9')))
				ident = 0;
		}
		if (ident && w + l + 3 < out_len) {
			if (w > 0) {
				out[w++] = ',';
				out[w++] = ' ';
			}
			memcpy(out + w, b + i + h, l);
			w += l;
			out[w] = '\0';
		}
		i += ident ? h + l : 1;
	}
}

static int kc_is_keras_module(const char *m)
{
	static const char *const ok[] = {"keras", "tensorflow", "tf_keras", "keras_hub", "keras_nlp", "keras_cv"};
	size_t i, l;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		l = strlen(ok[i]);
		if (strncmp(m, ok[i], l) == 0 && (m[l] == '\0' || m[l] == '.'))
			return 1;
	}
	return 0;
}

/* Report marshalled lambda code (base64 text in code_b64). */
static void kc_lambda_code(struct kc_ctx *c, const char *layer, const char *module, const char *code_b64,
                           size_t code_len)
{
	uint8_t *code = NULL;
	size_t n = 0;
	char names[400], lb[96], mb[96];
	struct bw_fmt_call call;
	enum bw_err e;

	bw_fmt_clips(layer, lb, sizeof lb);
	bw_fmt_clips(module != NULL ? module : "__main__", mb, sizeof mb);
	names[0] = '\0';
	e = code_b64 != NULL ? kc_b64(code_b64, code_len, &code, &n) : BW_ERR_MALFORMED;
	if (e == BW_ERR_NOMEM) {
		c->ret = e;
		return;
	}
	if (e == BW_OK) {
		kc_marshal_names(code, n, names, sizeof names);
		bw_fmt_finding(c->sink, "keras.lambda", BW_NO_OFFSET,
		        "Lambda layer \"%s\" carries marshalled Python bytecode (%zu bytes) that runs when the model is called%s%s",
		        lb, n, names[0] ? "; code names: " : "", names);
	} else if (code_b64 != NULL) {
		/* not base64: Python source text (hand-made or older writers) */
		char src[240];

		bw_fmt_clips(code_b64, src, sizeof src);
		bw_fmt_finding(c->sink, "keras.lambda", BW_NO_OFFSET, "Lambda layer \"%s\" carries Python code that runs when the model is called: %s",
		        lb, src);
	} else {
		bw_fmt_finding(c->sink, "keras.lambda", BW_NO_OFFSET, "Lambda layer \"%s\" runs a function that cannot be shown", lb);
	}
	memset(&call, 0, sizeof call);
	call.module = mb;
	call.name = "<lambda>";
	call.bytes_arg = code;
	call.bytes_arg_len = n;
	call.offset = BW_NO_OFFSET;
	call.how = "Lambda";
	c->sink->call(c->sink->user, &call);
	bw_free(code);
}

static void kc_lambda_layer(struct kc_ctx *c, json_t *layer)
{
	json_t *cfg = json_object_get(layer, "config");
	json_t *fn = json_object_get(cfg, "function");
	const char *name = json_string_value(json_object_get(cfg, "name"));
	const char *ftype = json_string_value(json_object_get(cfg, "function_type"));
	const char *module = json_string_value(json_object_get(cfg, "module"));
	char lb[96], fb[96], mb[96];

	if (name == NULL)
		name = json_string_value(json_object_get(layer, "name"));
	if (name == NULL)
		name = "?";
	if (json_is_object(fn)) {
		/* Keras 3: a serialised function ({"class_name": "__lambda__", ...} or a module function) */
		json_t *fc = json_object_get(fn, "config");
		const char *fcls = json_string_value(json_object_get(fn, "class_name"));

		if (fcls != NULL && strcmp(fcls, "__lambda__") == 0) {
			json_t *code = json_object_get(fc, "code");

			if (!json_is_string(code))
				code = json_object_get(fc, "value");
			if (json_is_array(code))
				code = json_array_get(code, 0);
			if (c->n_handled < sizeof c->handled / sizeof c->handled[0])
				c->handled[c->n_handled++] = fn;
			kc_lambda_code(c, name, module, json_string_value(code), json_string_length(code));
			return;
		}
		/* a named function: the module/class_name walk reports the import */
		bw_fmt_clips(name, lb, sizeof lb);
		bw_fmt_finding(c->sink, "keras.lambda", BW_NO_OFFSET, "Lambda layer \"%s\" calls a deserialised function when the model runs", lb);
		return;
	}
	if (ftype != NULL && strcmp(ftype, "function") == 0 && json_is_string(fn)) {
		/* Keras 2 named function: module.function is imported at load time */
		bw_fmt_clips(name, lb, sizeof lb);
		bw_fmt_clips(json_string_value(fn), fb, sizeof fb);
		bw_fmt_clips(module != NULL ? module : "__main__", mb, sizeof mb);
		bw_fmt_finding(c->sink, "keras.lambda", BW_NO_OFFSET, "Lambda layer \"%s\" calls %s.%s when the model runs", lb, mb, fb);
		c->sink->import(c->sink->user, mb, fb, mb, fb, BW_NO_OFFSET, "Lambda");
		return;
	}
	if (json_is_array(fn))
		fn = json_array_get(fn, 0);
	kc_lambda_code(c, name, module, json_string_value(fn), json_string_length(fn));
}

static void kc_torch_wrapper(struct kc_ctx *c, json_t *layer)
{
	json_t *cfg = json_object_get(layer, "config");
	json_t *blob = json_object_get(cfg, "module");
	const char *name = json_string_value(json_object_get(cfg, "name"));
	char lb[96], mname[160];
	uint8_t *bytes = NULL;
	size_t n = 0;
	enum bw_err e;

	bw_fmt_clips(name != NULL ? name : "?", lb, sizeof lb);
	bw_fmt_finding(c->sink, "keras.torch-module-wrapper", BW_NO_OFFSET,
	        "TorchModuleWrapper layer \"%s\": loading calls torch.load(weights_only=False) on an embedded pickle", lb);
	if (!json_is_string(blob))
		return;
	e = kc_b64(json_string_value(blob), json_string_length(blob), &bytes, &n);
	if (e == BW_ERR_NOMEM) {
		c->ret = e;
		return;
	}
	if (e != BW_OK) {
		c->sink->incomplete(c->sink->user, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                    "keras: TorchModuleWrapper module blob is not base64");
		return;
	}
	snprintf(mname, sizeof mname, "TorchModuleWrapper/%s", lb);
	e = c->sink->member(c->sink->user, mname, bytes, n, BW_NO_OFFSET);
	if (e == BW_ERR_NOMEM)
		c->ret = e;
	bw_free(bytes);
}

/* Names inside keras itself that are dangerous to reference from a config. */
static const char *kc_gadget(const char *s)
{
	size_t l = strlen(s);

	if (strstr(s, "enable_unsafe_deserialization") != NULL)
		return "enable_unsafe_deserialization (turns safe_mode off from inside the file)";
	if (strcmp(s, "get_file") == 0 || (l > 9 && strcmp(s + l - 9, ".get_file") == 0))
		return "get_file (downloads a URL to a local path at load time)";
	if (strcmp(s, "load_model") == 0 || (l > 11 && strcmp(s + l - 11, ".load_model") == 0))
		return "load_model (loads another model from a path named in the file)";
	return NULL;
}

static void kc_object(struct kc_ctx *c, json_t *o)
{
	const char *cls = json_string_value(json_object_get(o, "class_name"));
	json_t *cfg = json_object_get(o, "config");
	static const char *const modkeys[] = {"module", "fn_module"};
	size_t i, k;
	char mb[160], nb[160];

	if (cls != NULL && strcmp(cls, "Lambda") == 0)
		kc_lambda_layer(c, o);
	if (cls != NULL && strcmp(cls, "__lambda__") == 0) {
		int seen = 0;

		for (k = 0; k < c->n_handled; k++)
			seen |= c->handled[k] == o;
		if (!seen) {
			json_t *code = json_object_get(cfg, "code");

			if (!json_is_string(code))
				code = json_object_get(cfg, "value");
			if (json_is_array(code))
				code = json_array_get(code, 0);
			kc_lambda_code(c, "(function argument)", NULL, json_string_value(code), json_string_length(code));
		}
	}
	if (cls != NULL && strcmp(cls, "TorchModuleWrapper") == 0)
		kc_torch_wrapper(c, o);
	if (cls == NULL || strcmp(cls, "__lambda__") == 0)
		return;
	for (i = 0; i < sizeof modkeys / sizeof modkeys[0]; i++) {
		const char *m = json_string_value(json_object_get(o, modkeys[i]));
		const char *name = cls;
		const char *g;

		if (m == NULL)
			continue;
		if (strcmp(cls, "function") == 0 && json_is_string(cfg))
			name = json_string_value(cfg);
		bw_fmt_clips(m, mb, sizeof mb);
		bw_fmt_clips(name, nb, sizeof nb);
		g = kc_gadget(nb);
		if (g != NULL)
			bw_fmt_finding(c->sink, "keras.unsafe-function", BW_NO_OFFSET, "config references %s.%s: %s", mb, nb, g);
		if (!kc_is_keras_module(m)) {
			bw_fmt_finding(c->sink, "keras.external-module", BW_NO_OFFSET,
			        "\"%s\": \"%s\" with class_name \"%s\": Keras imports a module outside keras/tensorflow",
			        modkeys[i], mb, nb);
			c->sink->import(c->sink->user, mb, nb, mb, nb, BW_NO_OFFSET, modkeys[i]);
		}
	}
	{
		const char *rn = json_string_value(json_object_get(o, "registered_name"));

		if (rn != NULL && kc_gadget(rn) != NULL) {
			bw_fmt_clips(rn, nb, sizeof nb);
			bw_fmt_finding(c->sink, "keras.unsafe-function", BW_NO_OFFSET, "registered_name \"%s\": %s", nb, kc_gadget(rn));
		}
	}
}

enum bw_err bw_keras_config_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	if (sink->format != NULL)
		sink->format(sink->user, "keras-config");
	return bw_keras_config_walk(data, len, sink);
}

enum bw_err bw_keras_config_walk(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	struct kc_ctx c;
	struct kc_item *st = NULL;
	size_t n_st = 0, cap_st = 0, visited = 0;
	json_t *root = NULL;
	json_error_t jerr;
	unsigned max_depth = BW_KERAS_MAX_DEPTH;
	int depth_hit = 0;

	memset(&c, 0, sizeof c);
	c.sink = sink;
	c.ret = BW_OK;
	if (sink->lim->max_nesting != 0 && sink->lim->max_nesting < max_depth)
		max_depth = sink->lim->max_nesting;
	if (len > BW_KERAS_MAX_JSON || (sink->lim->mem_budget != 0 && len > sink->lim->mem_budget / 8)) {
		sink->incomplete(sink->user, BW_ERR_LIMIT, 0, "keras: configuration JSON is larger than the scan limit");
		goto out;
	}
	root = json_loadb((const char *)data, len, 0, &jerr);
	if (root == NULL) {
		char m[240];

		snprintf(m, sizeof m, "keras: configuration is not valid JSON: %s", jerr.text);
		sink->incomplete(sink->user, BW_ERR_MALFORMED, (uint64_t)jerr.position, m);
		goto out;
	}
	cap_st = 64;
	st = bw_calloc(cap_st, sizeof *st);
	if (st == NULL) {
		c.ret = BW_ERR_NOMEM;
		goto out;
	}
	st[n_st].v = root;
	st[n_st++].depth = 0;
	while (n_st > 0 && c.ret == BW_OK) {
		struct kc_item it = st[--n_st];
		json_t *child;
		const char *k;
		size_t i, need;

		if (++visited > BW_KERAS_MAX_NODES) {
			sink->incomplete(sink->user, BW_ERR_LIMIT, BW_NO_OFFSET, "keras: configuration has too many values");
			break;
		}
		if (json_is_object(it.v))
			kc_object(&c, it.v);
		else if (json_is_string(it.v) && kc_gadget(json_string_value(it.v)) != NULL &&
		         strchr(json_string_value(it.v), '.') != NULL) {
			char sb[160];

			bw_fmt_clips(json_string_value(it.v), sb, sizeof sb);
			bw_fmt_finding(c.sink, "keras.unsafe-function", BW_NO_OFFSET, "string \"%s\": %s", sb, kc_gadget(sb));
		}
		if (!json_is_object(it.v) && !json_is_array(it.v))
			continue;
		if (it.depth >= max_depth) {
			depth_hit = 1;
			continue;
		}
		need = json_is_object(it.v) ? json_object_size(it.v) : json_array_size(it.v);
		if (n_st + need > cap_st) {
			size_t nc = cap_st;
			struct kc_item *ns;

			while (nc < n_st + need)
				nc *= 2;
			ns = bw_reallocarray(st, nc, sizeof *st);
			if (ns == NULL) {
				c.ret = BW_ERR_NOMEM;
				break;
			}
			st = ns;
			cap_st = nc;
		}
		if (json_is_object(it.v)) {
			json_object_foreach(it.v, k, child) {
				st[n_st].v = child;
				st[n_st++].depth = it.depth + 1;
			}
		} else {
			json_array_foreach(it.v, i, child) {
				st[n_st].v = child;
				st[n_st++].depth = it.depth + 1;
			}
		}
	}
	if (depth_hit)
		sink->incomplete(sink->user, BW_ERR_LIMIT, BW_NO_OFFSET, "keras: configuration nested deeper than the scan limit");
out:
	bw_free(st);
	json_decref(root);
	return c.ret;
}
