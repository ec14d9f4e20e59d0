/*
 * tree.c - JSON (jansson) and YAML (libyaml) documents into struct bw_tnode.
 *
 * Both builders share one explicit-stack builder: a container's children are
 * gathered on a temporary vector and copied into the arena when it closes,
 * so depth is bounded by BW_TREE_MAX_DEPTH and nothing recurses on input.
 * Must not: resolve YAML aliases or tags (an alias is refused: OSV never uses
 * them and they are the classic expansion bomb), or keep jansson objects alive
 * past the call.
 */
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "audit/tree.h"
#include "core/alloc.h"

struct frame {
	struct bw_tnode *node;
	size_t start;
};

struct builder {
	struct bw_arena *a;
	struct bw_tnode **tmp;
	size_t tmp_n, tmp_cap;
	struct frame stack[BW_TREE_MAX_DEPTH];
	size_t depth;
	size_t n_nodes;
	struct bw_tnode *root;
};

static void b_init(struct builder *b, struct bw_arena *a)
{
	memset(b, 0, sizeof *b);
	b->a = a;
}

static void b_release(struct builder *b)
{
	bw_free(b->tmp);
	b->tmp = NULL;
}

static enum bw_err b_append(struct builder *b, struct bw_tnode *n)
{
	if (b->depth == 0) {
		if (b->root != NULL)
			return BW_ERR_MALFORMED; /* a second document */
		b->root = n;
		return BW_OK;
	}
	if (b->tmp_n == b->tmp_cap) {
		size_t cap = b->tmp_cap ? b->tmp_cap * 2 : 256;
		struct bw_tnode **t = bw_reallocarray(b->tmp, cap, sizeof *t);

		if (t == NULL)
			return BW_ERR_NOMEM;
		b->tmp = t;
		b->tmp_cap = cap;
	}
	b->tmp[b->tmp_n++] = n;
	return BW_OK;
}

static struct bw_tnode *b_new(struct builder *b, enum bw_tnode_type t, uint32_t line)
{
	struct bw_tnode *n;

	if (++b->n_nodes > BW_TREE_MAX_NODES)
		return NULL;
	n = bw_arena_alloc(b->a, sizeof *n);
	if (n == NULL)
		return NULL;
	n->type = t;
	n->str = "";
	n->line = line;
	return n;
}

static enum bw_err b_scalar(struct builder *b, enum bw_tnode_type t, const char *s, size_t len,
                            uint32_t line)
{
	struct bw_tnode *n = b_new(b, t, line);

	if (n == NULL)
		return b->n_nodes > BW_TREE_MAX_NODES ? BW_ERR_LIMIT : BW_ERR_NOMEM;
	n->str = bw_arena_strndup(b->a, s, len);
	if (n->str == NULL)
		return BW_ERR_NOMEM;
	n->len = len;
	return b_append(b, n);
}

static enum bw_err b_open(struct builder *b, enum bw_tnode_type t, uint32_t line)
{
	struct bw_tnode *n;

	if (b->depth == BW_TREE_MAX_DEPTH)
		return BW_ERR_LIMIT;
	n = b_new(b, t, line);
	if (n == NULL)
		return b->n_nodes > BW_TREE_MAX_NODES ? BW_ERR_LIMIT : BW_ERR_NOMEM;
	b->stack[b->depth].node = n;
	b->stack[b->depth].start = b->tmp_n;
	b->depth++;
	return BW_OK;
}

static enum bw_err b_close(struct builder *b)
{
	struct frame *f;
	size_t cnt;

	if (b->depth == 0)
		return BW_ERR_INTERNAL;
	f = &b->stack[--b->depth];
	cnt = b->tmp_n - f->start;
	if (f->node->type == BW_T_MAP && cnt % 2 != 0)
		return BW_ERR_MALFORMED;
	if (cnt > 0) {
		f->node->kids = bw_arena_array(b->a, cnt, sizeof *f->node->kids);
		if (f->node->kids == NULL)
			return BW_ERR_NOMEM;
		memcpy(f->node->kids, b->tmp + f->start, cnt * sizeof *f->node->kids);
	}
	f->node->n = f->node->type == BW_T_MAP ? cnt / 2 : cnt;
	b->tmp_n = f->start;
	return b_append(b, f->node);
}

/* ---------------------------------------------------------------- YAML */

static uint32_t line_of(const yaml_event_t *ev)
{
	return ev->start_mark.line + 1 > UINT32_MAX ? UINT32_MAX : (uint32_t)(ev->start_mark.line + 1);
}

enum bw_err bw_tree_parse_yaml(struct bw_arena *a, const uint8_t *p, size_t n, struct bw_tnode **out,
                               struct bw_diag *diag)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct builder b;
	enum bw_err err = BW_OK;
	int done = 0, docs = 0;

	*out = NULL;
	b_init(&b, a);
	if (!yaml_parser_initialize(&parser))
		return BW_ERR_NOMEM;
	yaml_parser_set_input_string(&parser, p, n);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			err = bw_diag_set(diag, BW_ERR_MALFORMED, parser.problem_mark.index,
			                  "YAML: %s (line %zu)", parser.problem ? parser.problem : "syntax error",
			                  parser.problem_mark.line + 1);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				err = bw_diag_set(diag, BW_ERR_MALFORMED, ev.start_mark.index,
				                  "YAML: more than one document");
			break;
		case YAML_MAPPING_START_EVENT:
			err = b_open(&b, BW_T_MAP, line_of(&ev));
			break;
		case YAML_SEQUENCE_START_EVENT:
			err = b_open(&b, BW_T_SEQ, line_of(&ev));
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			err = b_close(&b);
			break;
		case YAML_SCALAR_EVENT: {
			/* Plain null/~ and booleans are kept as text: OSV fields are strings;
			 * extractors look at the text. An empty plain scalar is null. */
			enum bw_tnode_type t = BW_T_STR;

			if (ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev.data.scalar.length == 0)
				t = BW_T_NULL;
			err = b_scalar(&b, t, (const char *)ev.data.scalar.value, ev.data.scalar.length,
			               line_of(&ev));
			break;
		}
		case YAML_ALIAS_EVENT:
			err = bw_diag_set(diag, BW_ERR_UNSUPPORTED, ev.start_mark.index,
			                  "YAML: aliases are not accepted in advisories");
			break;
		default:
			break;
		}
		if (err == BW_ERR_LIMIT)
			bw_diag_set(diag, err, ev.start_mark.index, "YAML: nesting or node count over the limit");
		yaml_event_delete(&ev);
		if (err != BW_OK)
			break;
	}
	yaml_parser_delete(&parser);
	if (err == BW_OK && b.root == NULL)
		err = bw_diag_set(diag, BW_ERR_MALFORMED, 0, "YAML: empty document");
	if (err == BW_OK)
		*out = b.root;
	b_release(&b);
	return err;
}

/* ---------------------------------------------------------------- JSON */

struct jframe {
	json_t *v;
	void *iter;   /* objects */
	size_t idx;   /* arrays */
};

static enum bw_err json_scalar(struct builder *b, json_t *v)
{
	char num[64];

	switch (json_typeof(v)) {
	case JSON_STRING:
		return b_scalar(b, BW_T_STR, json_string_value(v), json_string_length(v), 0);
	case JSON_INTEGER:
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return b_scalar(b, BW_T_NUM, num, strlen(num), 0);
	case JSON_REAL:
		snprintf(num, sizeof num, "%.17g", json_real_value(v));
		return b_scalar(b, BW_T_NUM, num, strlen(num), 0);
	case JSON_TRUE:
		return b_scalar(b, BW_T_BOOL, "true", 4, 0);
	case JSON_FALSE:
		return b_scalar(b, BW_T_BOOL, "false", 5, 0);
	default:
		return b_scalar(b, BW_T_NULL, "", 0, 0);
	}
}

enum bw_err bw_tree_parse_json(struct bw_arena *a, const uint8_t *p, size_t n, struct bw_tnode **out,
                               struct bw_diag *diag)
{
	json_error_t jerr;
	json_t *root;
	struct builder b;
	struct jframe st[BW_TREE_MAX_DEPTH];
	size_t depth = 0;
	enum bw_err err = BW_OK;

	*out = NULL;
	/* jansson bounds its own nesting (JSON_PARSER_MAX_DEPTH); we bound ours below */
	root = json_loadb((const char *)p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return bw_diag_set(diag, BW_ERR_MALFORMED, (uint64_t)jerr.position, "JSON: %s (line %d)",
		                   jerr.text, jerr.line);
	b_init(&b, a);
	if (!json_is_object(root) && !json_is_array(root)) {
		err = json_scalar(&b, root);
		goto out;
	}
	err = b_open(&b, json_is_object(root) ? BW_T_MAP : BW_T_SEQ, 0);
	if (err != BW_OK)
		goto out;
	st[0].v = root;
	st[0].iter = json_is_object(root) ? json_object_iter(root) : NULL;
	st[0].idx = 0;
	depth = 1;
	while (depth > 0 && err == BW_OK) {
		struct jframe *f = &st[depth - 1];
		json_t *child;

		if (json_is_object(f->v)) {
			if (f->iter == NULL) {
				err = b_close(&b);
				depth--;
				continue;
			}
			{
				const char *k = json_object_iter_key(f->iter);

				err = b_scalar(&b, BW_T_STR, k, strlen(k), 0);
			}
			child = json_object_iter_value(f->iter);
			f->iter = json_object_iter_next(f->v, f->iter);
		} else {
			if (f->idx >= json_array_size(f->v)) {
				err = b_close(&b);
				depth--;
				continue;
			}
			child = json_array_get(f->v, f->idx++);
		}
		if (err != BW_OK)
			break;
		if (json_is_object(child) || json_is_array(child)) {
			if (depth == BW_TREE_MAX_DEPTH) {
				err = BW_ERR_LIMIT;
				break;
			}
			err = b_open(&b, json_is_object(child) ? BW_T_MAP : BW_T_SEQ, 0);
			st[depth].v = child;
			st[depth].iter = json_is_object(child) ? json_object_iter(child) : NULL;
			st[depth].idx = 0;
			depth++;
		} else {
			err = json_scalar(&b, child);
		}
	}
out:
	if (err == BW_ERR_LIMIT)
		bw_diag_set(diag, err, BW_NO_OFFSET, "JSON: nesting or node count over the limit");
	else if (err != BW_OK)
		bw_diag_set(diag, err, BW_NO_OFFSET, "JSON: cannot build the document tree");
	json_decref(root);
	if (err == BW_OK)
		*out = b.root;
	b_release(&b);
	return err;
}

/* ---------------------------------------------------------------- access */

struct bw_tnode *bw_tree_get(const struct bw_tnode *m, const char *k)
{
	size_t i, kl;

	if (m == NULL || m->type != BW_T_MAP || k == NULL)
		return NULL;
	kl = strlen(k);
	for (i = 0; i < m->n; i++) {
		const struct bw_tnode *key = m->kids[2 * i];

		if (key->len == kl && memcmp(key->str, k, kl) == 0)
			return m->kids[2 * i + 1];
	}
	return NULL;
}

const char *bw_tree_str(const struct bw_tnode *n)
{
	if (n == NULL)
		return NULL;
	if (n->type == BW_T_STR || n->type == BW_T_NUM || n->type == BW_T_BOOL)
		return n->str;
	return NULL;
}

const char *bw_tree_get_str(const struct bw_tnode *m, const char *k)
{
	return bw_tree_str(bw_tree_get(m, k));
}
