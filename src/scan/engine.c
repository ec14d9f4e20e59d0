/*
 * engine.c - the scan engine: one file in, one struct bw_scan_result out.
 *
 * It maps the file, detects its format by content (scan/registry), runs the
 * parser with a sink that (1) applies the rules to every import and call,
 * (2) recurses into container members and constant byte arguments of calls
 * (nested pickles), bounded by depth, and (3) records anything that could not
 * be scanned. It never executes, imports or writes anything.
 *
 * Memory: everything of one scan lives in the result's arena (budget from
 * limits.mem_budget); findings are deduplicated per (location, name, rule)
 * and capped so a hostile file cannot make the report unbounded.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/fileio.h"
#include "scan/engine.h"
#include "scan/registry.h"
#include "scan/rules.h"

#define MAX_FINDINGS 2000u
#define DEDUP_BUCKETS 4096u
#define LOC_SEP "!/"

struct dedup {
	struct dedup *next;
	size_t finding; /* index into findings */
	const char *key;
};

struct scan_ctx {
	const struct bw_scan_opts *o;
	const struct bw_rules *rules;
	struct bw_arena *arena;
	struct bw_finding *findings;
	size_t n_findings, cap_findings;
	size_t dropped_findings;
	struct bw_scan_member *members;
	size_t n_members, cap_members;
	struct dedup *buckets[DEDUP_BUCKETS];
	int incomplete;
	const char *inc_reason, *inc_location;
	uint64_t inc_offset;
	size_t n_incomplete;
	int nomem;
	int pickle_based;
	const char *path;        /* the scanned file's name ("" for bytes without one) */
};

struct frame {
	struct scan_ctx *ctx;
	const char *location;
	size_t member;
	struct bw_fmt_sink sink;
	int primary;             /* sets the member's format */
	int incomplete;          /* this reading stopped early: held until dispatch decides */
	uint64_t inc_offset;
	const char *inc_msg;
};

/* A second reading is tried when another format claims the bytes at least this strongly. */
#define POLYGLOT_MIN_SCORE 60
#define MAX_CANDIDATES 8

void bw_limits_default(struct bw_limits *lim)
{
	lim->max_file_size = (uint64_t)256 << 30;
	lim->max_total_unpacked = (uint64_t)8 << 30;
	lim->max_ratio = 1000;
	lim->max_depth = 8;
	lim->max_members = 100000;
	lim->max_pickle_ops = 500000000;
	lim->max_pickle_stack = 10000000;
	lim->max_pickle_memo = 10000000;
	lim->max_string = (uint64_t)1 << 30;
	lim->max_nesting = 10000;
	lim->mem_budget = (uint64_t)4 << 30;
}

void bw_scan_opts_default(struct bw_scan_opts *o)
{
	o->rules = NULL;
	bw_limits_default(&o->limits);
}

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static int is_pickle_family(const char *fmt)
{
	static const char *const fam[] = {"pickle", "pytorch-legacy", "pytorch-zip", "pytorch-tar",
	                                  "joblib", "numpy-object"};
	size_t i;

	for (i = 0; i < sizeof fam / sizeof fam[0]; i++)
		if (strcmp(fmt, fam[i]) == 0)
			return 1;
	return 0;
}

/* Append a finding (NULL when capped or out of memory). */
static struct bw_finding *add_finding(struct scan_ctx *c, const struct bw_rule *r,
                                      const char *location, uint64_t offset, const char *message)
{
	struct bw_finding *f;

	if (c->n_findings >= MAX_FINDINGS) {
		c->dropped_findings++;
		return NULL;
	}
	if (c->n_findings == c->cap_findings) {
		size_t ncap = c->cap_findings ? c->cap_findings * 2 : 16;
		struct bw_finding *n = bw_arena_array(c->arena, ncap, sizeof *n);
		if (n == NULL) {
			c->nomem = 1;
			return NULL;
		}
		if (c->n_findings)
			memcpy(n, c->findings, c->n_findings * sizeof *n);
		c->findings = n;
		c->cap_findings = ncap;
	}
	f = &c->findings[c->n_findings++];
	f->rule = r->id;
	f->severity = r->severity;
	f->reason = r->reason;
	f->reference = r->reference;
	f->location = location;
	f->offset = offset;
	f->message = message != NULL ? message : "";
	f->callable = NULL;
	f->args = NULL;
	return f;
}

/* Find or create the finding keyed by (location, callable name). */
static struct bw_finding *finding_for_name(struct scan_ctx *c, const struct bw_rule *r,
                                           const char *location, const char *fullname,
                                           uint64_t offset, int *created)
{
	char *key = bw_arena_printf(c->arena, "%s\n%s", location, fullname);
	struct dedup *d;
	struct bw_finding *f;
	uint32_t b;

	*created = 0;
	if (key == NULL) {
		c->nomem = 1;
		return NULL;
	}
	b = hash_str(key) % DEDUP_BUCKETS;
	for (d = c->buckets[b]; d != NULL; d = d->next)
		if (strcmp(d->key, key) == 0)
			return &c->findings[d->finding];
	f = add_finding(c, r, location, offset, NULL);
	if (f == NULL)
		return NULL;
	d = bw_arena_alloc(c->arena, sizeof *d);
	if (d == NULL) {
		c->nomem = 1;
		return f;
	}
	d->key = key;
	d->finding = (size_t)(f - c->findings);
	d->next = c->buckets[b];
	c->buckets[b] = d;
	f->callable = bw_arena_strdup(c->arena, fullname);
	*created = 1;
	return f;
}

static const struct bw_rule *anomaly_rule(struct scan_ctx *c, const char *id, struct bw_rule *tmp)
{
	const struct bw_rule *r = bw_rules_anomaly(c->rules, id);

	if (r != NULL)
		return r;
	/* A parser named an anomaly that no rule file defines: never drop it. */
	tmp->kind = BW_RULE_ANOMALY;
	tmp->pattern = id;
	tmp->id = bw_arena_strdup(c->arena, id);
	tmp->severity = BW_SEV_MEDIUM;
	tmp->reason = "anomaly without a registered rule (treated as medium)";
	tmp->reference = NULL;
	if (tmp->id == NULL)
		tmp->id = "anomaly.unregistered";
	return tmp;
}

static void sink_finding(void *user, const char *rule, uint64_t offset, const char *msg)
{
	struct frame *fr = user;
	struct scan_ctx *c = fr->ctx;
	struct bw_rule tmp;
	const struct bw_rule *r = anomaly_rule(c, rule, &tmp);
	char *key;
	struct dedup *d;
	uint32_t b;
	struct bw_finding *f;

	/* One finding per (location, anomaly, offset): parsers may report a repeat. */
	key = bw_arena_printf(c->arena, "%s\n#%s@%llu", fr->location, rule, (unsigned long long)offset);
	if (key == NULL) {
		c->nomem = 1;
		return;
	}
	b = hash_str(key) % DEDUP_BUCKETS;
	for (d = c->buckets[b]; d != NULL; d = d->next)
		if (strcmp(d->key, key) == 0)
			return;
	f = add_finding(c, r, fr->location, offset, bw_arena_strdup(c->arena, msg ? msg : ""));
	if (f == NULL)
		return;
	d = bw_arena_alloc(c->arena, sizeof *d);
	if (d != NULL) {
		d->key = key;
		d->finding = (size_t)(f - c->findings);
		d->next = c->buckets[b];
		c->buckets[b] = d;
	}
}

static const struct bw_rule *callable_rule(struct scan_ctx *c, const char *fullname)
{
	const struct bw_rule *r = bw_rules_match_callable(c->rules, fullname);

	return r != NULL ? r : bw_rules_unknown(c->rules);
}

static int is_dunder(const char *s, size_t n)
{
	return n > 4 && s[0] == '_' && s[1] == '_' && s[n - 1] == '_' && s[n - 2] == '_';
}

/*
 * The rule for an import of `name` from `module`. A dotted name is an
 * attribute walk (protocol 4 find_class): "pathlib" + "os.system" reaches
 * os.system, "builtins" + "print.__self__.exec" reaches exec. So every
 * suffix of the name that starts at a dot is matched too, and the most
 * severe deny wins over whatever the full name matched (allow included).
 * *dunder is set when the walk passes through a __dunder__ attribute.
 */
static const struct bw_rule *classify(struct scan_ctx *c, const char *module, const char *name,
                                      const char *full, int *dunder)
{
	const struct bw_rule *r = callable_rule(c, full), *s;
	const char *p, *comp;
	char *tail;

	*dunder = 0;
	(void)module;
	if (name == NULL || strchr(name, '.') == NULL)
		return r;
	for (comp = name; comp != NULL; comp = p ? p + 1 : NULL) {
		p = strchr(comp, '.');
		if (is_dunder(comp, p ? (size_t)(p - comp) : strlen(comp)))
			*dunder = 1;
		if (comp == name)
			continue;
		s = bw_rules_match_callable(c->rules, comp);
		if (s != NULL && s->kind == BW_RULE_DENY &&
		    (r->kind != BW_RULE_DENY || s->severity > r->severity))
			r = s;
	}
	/* "builtins" + "print.__self__.exec": after a dunder hop the last part is what runs. */
	if (*dunder) {
		tail = strrchr(name, '.');
		tail = tail ? bw_arena_printf(c->arena, "%s.%s", module, tail + 1) : NULL;
		if (tail != NULL) {
			s = bw_rules_match_callable(c->rules, tail);
			if (s != NULL && s->kind == BW_RULE_DENY &&
			    (r->kind != BW_RULE_DENY || s->severity > r->severity))
				r = s;
		}
	}
	return r;
}

static void dunder_finding(struct scan_ctx *c, const char *location, const char *full,
                           uint64_t offset)
{
	struct bw_rule tmp;
	const struct bw_rule *r = anomaly_rule(c, "import.dunder-walk", &tmp);
	struct bw_finding *f;
	char *key = bw_arena_printf(c->arena, "%s\n%s#dunder", location, full);
	int created;

	if (key == NULL)
		return;
	f = finding_for_name(c, r, location, key, offset, &created);
	if (f != NULL && created) {
		f->callable = bw_arena_strdup(c->arena, full);
		f->message = bw_arena_printf(c->arena, "imports %s: an attribute walk through a "
		                             "__dunder__ attribute reaches objects the module does not export", full);
		if (f->message == NULL)
			f->message = "";
	}
}

static char *join_name(struct bw_arena *a, const char *module, const char *name)
{
	if (module == NULL || *module == '\0')
		return bw_arena_strdup(a, name ? name : "?");
	if (name == NULL || *name == '\0')
		return bw_arena_strdup(a, module);
	return bw_arena_printf(a, "%s.%s", module, name);
}

static void sink_import(void *user, const char *module, const char *name, const char *orig_module,
                        const char *orig_name, uint64_t offset, const char *how)
{
	struct frame *fr = user;
	struct scan_ctx *c = fr->ctx;
	char *full = join_name(c->arena, module, name);
	const struct bw_rule *r;
	struct bw_finding *f;
	int created, dunder;

	if (full == NULL) {
		c->nomem = 1;
		return;
	}
	r = classify(c, module, name, full, &dunder);
	if (dunder)
		dunder_finding(c, fr->location, full, offset);
	if (r->kind == BW_RULE_ALLOW)
		return;
	f = finding_for_name(c, r, fr->location, full, offset, &created);
	if (f == NULL || !created)
		return;
	if (orig_module != NULL && orig_name != NULL &&
	    (strcmp(orig_module, module) != 0 || strcmp(orig_name, name) != 0))
		f->message = bw_arena_printf(c->arena, "imports %s (written as %s.%s, via %s)", full,
		                             orig_module, orig_name, how ? how : "?");
	else
		f->message = bw_arena_printf(c->arena, "imports %s (via %s)", full, how ? how : "?");
	if (f->message == NULL)
		f->message = "";
}

static void dispatch(struct scan_ctx *c, const char *location, const uint8_t *data, size_t len,
                     unsigned depth, int only_if_detected);

static void sink_call(void *user, const struct bw_fmt_call *call)
{
	struct frame *fr = user;
	struct scan_ctx *c = fr->ctx;
	char *full = join_name(c->arena, call->module, call->name);
	const struct bw_rule *r;
	struct bw_finding *f;
	int created, dunder;

	if (full == NULL) {
		c->nomem = 1;
		return;
	}
	r = classify(c, call->module, call->name, full, &dunder);
	if (dunder)
		dunder_finding(c, fr->location, full, call->offset);
	if (r->kind != BW_RULE_ALLOW) {
		f = finding_for_name(c, r, fr->location, full, call->offset, &created);
		if (f != NULL && (created || f->args == NULL)) {
			if (call->args != NULL)
				f->args = bw_arena_strdup(c->arena, call->args);
			f->message = bw_arena_printf(c->arena, "calls %s%s (via %s)", full,
			                             call->args ? call->args : "(...)",
			                             call->how ? call->how : "?");
			if (f->message == NULL)
				f->message = "";
		}
	}
	/* A constant bytes argument may itself be a model (pickle.loads(b"...")): scan it. */
	if (call->bytes_arg != NULL && call->bytes_arg_len > 0) {
		char *loc = bw_arena_printf(c->arena, "%s%s<argument of %s>", fr->location,
		                            *fr->location ? LOC_SEP : "", full);
		if (loc != NULL)
			dispatch(c, loc, call->bytes_arg, call->bytes_arg_len, fr->sink.depth + 1, 1);
	}
}

static enum bw_err sink_member(void *user, const char *name, const uint8_t *data, size_t len,
                               uint64_t offset)
{
	struct frame *fr = user;
	struct scan_ctx *c = fr->ctx;
	char *loc;

	(void)offset;
	loc = bw_arena_printf(c->arena, "%s%s%s", fr->location, *fr->location ? LOC_SEP : "", name);
	if (loc == NULL)
		return BW_ERR_NOMEM;
	dispatch(c, loc, data, len, fr->sink.depth + 1, 0);
	return c->nomem ? BW_ERR_NOMEM : BW_OK;
}

static void mark_incomplete(struct scan_ctx *c, const char *location, uint64_t offset,
                            const char *msg)
{
	c->n_incomplete++;
	if (c->incomplete)
		return;
	c->incomplete = 1;
	c->inc_location = location;
	c->inc_offset = offset;
	c->inc_reason = bw_arena_strdup(c->arena, msg);
	if (c->inc_reason == NULL)
		c->inc_reason = "not fully scanned";
}

static void sink_incomplete(void *user, enum bw_err why, uint64_t offset, const char *msg)
{
	struct frame *fr = user;
	const char *m = msg;

	if (m == NULL || *m == '\0')
		m = bw_err_str(why);
	if (fr->incomplete)
		return;
	/* held in the frame: dispatch decides whether another reading covers it */
	fr->incomplete = 1;
	fr->inc_offset = offset;
	fr->inc_msg = bw_arena_strdup(fr->ctx->arena, m);
	if (fr->inc_msg == NULL)
		fr->inc_msg = "not fully scanned";
}

static void sink_format(void *user, const char *format)
{
	struct frame *fr = user;
	struct scan_ctx *c = fr->ctx;
	const char *f;

	if (!fr->primary)
		return;
	f = bw_arena_strdup(c->arena, format);
	if (f != NULL)
		c->members[fr->member].format = f;
}

static int add_member(struct scan_ctx *c, const char *location, const char *format, uint64_t size,
                      size_t *idx)
{
	if (c->n_members == c->cap_members) {
		size_t ncap = c->cap_members ? c->cap_members * 2 : 8;
		struct bw_scan_member *n = bw_arena_array(c->arena, ncap, sizeof *n);
		if (n == NULL) {
			c->nomem = 1;
			return -1;
		}
		if (c->n_members)
			memcpy(n, c->members, c->n_members * sizeof *n);
		c->members = n;
		c->cap_members = ncap;
	}
	c->members[c->n_members].location = location;
	c->members[c->n_members].format = format;
	c->members[c->n_members].size = size;
	*idx = c->n_members++;
	return 0;
}

static void note(struct scan_ctx *c, const char *id, const char *location, uint64_t offset,
                 const char *msg)
{
	struct bw_rule tmp;

	(void)add_finding(c, anomaly_rule(c, id, &tmp), location, offset, msg);
}

static void run_reading(struct scan_ctx *c, struct frame *fr, const struct bw_format *fmt,
                        const char *location, size_t idx, unsigned depth, int primary,
                        const uint8_t *data, size_t len)
{
	enum bw_err e;

	memset(fr, 0, sizeof *fr);
	fr->ctx = c;
	fr->location = location;
	fr->member = idx;
	fr->primary = primary;
	fr->sink.user = fr;
	fr->sink.finding = sink_finding;
	fr->sink.import = sink_import;
	fr->sink.call = sink_call;
	fr->sink.member = sink_member;
	fr->sink.incomplete = sink_incomplete;
	fr->sink.format = sink_format;
	fr->sink.lim = &c->o->limits;
	fr->sink.depth = depth;
	e = fmt->scan(data, len, &fr->sink);
	if (e == BW_ERR_NOMEM)
		c->nomem = 1;
	else if (e != BW_OK && !fr->incomplete) {
		fr->incomplete = 1;
		fr->inc_offset = BW_NO_OFFSET;
		fr->inc_msg = bw_err_str(e);
	}
}

/*
 * The model format a file or member name promises, or NULL. Only names whose
 * loaders read one format: a file so named that no format claims is truncated
 * or disguised, and is reported rather than passed as plain data. (".bin" is
 * not here: ONNX external data and raw tensor blobs use it.)
 */
static const char *name_promises_format(const char *name)
{
	static const char *const ext[] = {".safetensors", ".gguf", ".onnx", ".keras", ".h5", ".hdf5",
	                                  ".pkl", ".pickle", ".joblib", ".npy", ".npz", ".pt", ".pth",
	                                  ".ckpt"};
	const char *base = strrchr(name, '/');
	size_t i, n, e;

	base = base != NULL ? base + 1 : name;
	n = strlen(base);
	if (strcmp(base, "saved_model.pb") == 0 || strcmp(base, "keras_metadata.pb") == 0)
		return "TensorFlow SavedModel protobuf";
	for (i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		e = strlen(ext[i]);
		if (n > e && strcasecmp(base + n - e, ext[i]) == 0)
			return ext[i];
	}
	return NULL;
}

/*
 * Scan bytes under the format that claims them most strongly, and under every
 * other format that claims them strongly too: different loaders pick
 * different readings of a polyglot (torch.load sees the zip, pickle.load the
 * pickle), so each reading's findings count. A reading that stops early makes
 * the member incomplete unless another strong reading covers the bytes fully.
 */
static void dispatch(struct scan_ctx *c, const char *location, const uint8_t *data, size_t len,
                     unsigned depth, int only_if_detected)
{
	struct bw_candidate cand[MAX_CANDIDATES];
	struct frame fr, alt;
	size_t n, i, idx, before;
	int covered = 0;
	char *msg;

	if (c->nomem)
		return;
	n = bw_registry_candidates(data, len, cand, MAX_CANDIDATES);
	/* weak claims (fmt.h) count for whole files only */
	while (n > 0 && depth > 0 && cand[n - 1].score < BW_DETECT_WEAK_MAX)
		n--;
	if (n == 0 && only_if_detected)
		return;
	if (depth > c->o->limits.max_depth) {
		note(c, "scan.depth-limit", location, BW_NO_OFFSET,
		     "containers nested deeper than the limit; inner content not scanned");
		mark_incomplete(c, location, BW_NO_OFFSET, "nesting deeper than the depth limit");
		return;
	}
	if (c->n_members >= c->o->limits.max_members) {
		if (c->n_members == c->o->limits.max_members)
			note(c, "scan.member-limit", location, BW_NO_OFFSET, "too many members; rest not scanned");
		mark_incomplete(c, location, BW_NO_OFFSET, "more members than the member limit");
		return;
	}
	if (add_member(c, location, n ? cand[0].fmt->name : "data", len, &idx) != 0)
		return;
	if (n == 0) {
		const char *name = depth == 0 ? c->path : location;
		const char *want = name != NULL ? name_promises_format(name) : NULL;

		if (want != NULL) {
			msg = bw_arena_printf(c->arena, "named like a %s file, but no format bulwark reads "
			                      "claims its bytes (truncated or disguised); not scanned", want);
			note(c, "format.unrecognized", location, BW_NO_OFFSET, msg ? msg : "");
			mark_incomplete(c, location, BW_NO_OFFSET, "no format claims the bytes of a file named like a model");
		}
		return;
	}
	run_reading(c, &fr, cand[0].fmt, location, idx, depth, 1, data, len);
	for (i = 1; i < n && !c->nomem; i++) {
		if (cand[i].score < POLYGLOT_MIN_SCORE)
			break;
		before = c->n_findings;
		run_reading(c, &alt, cand[i].fmt, location, idx, depth, 0, data, len);
		if (!alt.incomplete) {
			covered = 1;
			if (fr.incomplete) {
				/* the strongest claim was wrong: this reading is the format */
				c->members[idx].format = cand[i].fmt->name;
				msg = bw_arena_printf(c->arena, "read as %s after the %s reading failed (%s)",
				                      cand[i].fmt->name, cand[0].fmt->name, fr.inc_msg);
				note(c, "format.ambiguous", location, fr.inc_offset, msg ? msg : "");
			}
		}
		if (c->n_findings > before) {
			msg = bw_arena_printf(c->arena, "the bytes also parse as %s; findings of that reading "
			                      "are included", cand[i].fmt->name);
			note(c, "format.polyglot", location, BW_NO_OFFSET, msg ? msg : "");
		}
	}
	if (fr.incomplete && !covered)
		mark_incomplete(c, location, fr.inc_offset, fr.inc_msg);
	if (is_pickle_family(c->members[idx].format))
		c->pickle_based = 1;
}

static struct bw_scan_result *result_new(const char *path)
{
	struct bw_scan_result *r = bw_calloc(1, sizeof *r);
	struct bw_arena *a = bw_calloc(1, sizeof *a);

	if (r == NULL || a == NULL) {
		bw_free(r);
		bw_free(a);
		return NULL;
	}
	bw_arena_init(a, 0);
	r->priv_ = a;
	r->path = bw_arena_strdup(a, path);
	r->format = "unknown";
	r->incomplete_location = "";
	r->incomplete_offset = BW_NO_OFFSET;
	if (r->path == NULL) {
		bw_scan_result_free(r);
		return NULL;
	}
	return r;
}

void bw_scan_result_free(struct bw_scan_result *r)
{
	if (r == NULL)
		return;
	if (r->priv_ != NULL) {
		bw_arena_release(r->priv_);
		bw_free(r->priv_);
	}
	bw_free(r);
}


/* Compute the verdict from findings and incompleteness (docs/ARCHITECTURE.md). */
void bw_result_finish(struct bw_scan_result *r)
{
	size_t i;
	int any_low = 0;

	r->max_severity = BW_SEV_INFO;
	for (i = 0; i < r->n_findings; i++) {
		if (r->findings[i].severity > r->max_severity)
			r->max_severity = r->findings[i].severity;
		if (r->findings[i].severity >= BW_SEV_LOW)
			any_low = 1;
	}
	if (r->incomplete && (r->n_findings == 0 || r->max_severity < BW_SEV_HIGH))
		r->verdict = BW_VERDICT_INCOMPLETE;
	else if (any_low)
		r->verdict = BW_VERDICT_FINDINGS;
	else if (r->incomplete)
		r->verdict = BW_VERDICT_INCOMPLETE;
	else
		r->verdict = BW_VERDICT_CLEAN;
}

static enum bw_err scan_bytes(const struct bw_scan_opts *o, struct bw_scan_result *r,
                              const uint8_t *data, size_t len)
{
	struct scan_ctx *c;
	struct bw_arena *a = r->priv_;
	struct bw_diag diag;
	struct bw_finding *sorted;
	enum bw_err e;

	c = bw_calloc(1, sizeof *c);
	if (c == NULL)
		return BW_ERR_NOMEM;
	bw_scan_workers_init();
	c->o = o;
	c->arena = a;
	a->budget = (size_t)(o->limits.mem_budget > SIZE_MAX ? SIZE_MAX : o->limits.mem_budget);
	c->rules = o->rules;
	if (c->rules == NULL) {
		bw_diag_clear(&diag);
		e = bw_rules_builtin(&c->rules, &diag);
		if (e != BW_OK) {
			bw_free(c);
			return e;
		}
	}
	r->size = len;
	c->path = r->path != NULL ? r->path : "";
	dispatch(c, "", data, len, 0, 0);
	if (c->pickle_based)
		note(c, "format.pickle-based", "", BW_NO_OFFSET,
		     "pickle-based format: loading it can run code; convert to safetensors");
	if (c->dropped_findings > 0) {
		mark_incomplete(c, "", BW_NO_OFFSET, "too many findings; the rest were not recorded");
	}
	if (c->nomem || a->over_budget)
		mark_incomplete(c, "", BW_NO_OFFSET,
		                a->over_budget ? "memory budget of the scan exhausted"
		                               : "out of memory during the scan");
	if (c->n_members > 0)
		r->format = c->members[0].format;
	r->members = c->members;
	r->n_members = c->n_members;
	if (c->n_findings > 0) {
		/* Most severe first; copy so the dedup indices above stay valid while scanning. */
		sorted = bw_arena_array(a, c->n_findings, sizeof *sorted);
		if (sorted != NULL) {
			size_t i, k = 0;
			int s;
			/* stable: by severity, then in the order the file revealed them */
			for (s = BW_SEV__COUNT - 1; s >= 0; s--)
				for (i = 0; i < c->n_findings; i++)
					if ((int)c->findings[i].severity == s)
						sorted[k++] = c->findings[i];
			c->findings = sorted;
		}
	}
	r->findings = c->findings;
	r->n_findings = c->n_findings;
	r->incomplete = c->incomplete;
	if (c->incomplete) {
		r->incomplete_reason = c->inc_reason;
		r->incomplete_location = c->inc_location;
		r->incomplete_offset = c->inc_offset;
	}
	bw_result_finish(r);
	bw_free(c);
	return BW_OK;
}

enum bw_err bw_scan_mem(const struct bw_scan_opts *o, const char *name, const uint8_t *data,
                        size_t len, struct bw_scan_result **out)
{
	struct bw_scan_result *r;
	enum bw_err e;

	if (out == NULL)
		return BW_ERR_ARG;
	*out = NULL;
	if (o == NULL || name == NULL || (data == NULL && len > 0))
		return BW_ERR_ARG;
	r = result_new(name);
	if (r == NULL)
		return BW_ERR_NOMEM;
	e = scan_bytes(o, r, data, len);
	if (e != BW_OK) {
		bw_scan_result_free(r);
		return e;
	}
	*out = r;
	return BW_OK;
}

void bw_result_set_error(struct bw_scan_result *r, enum bw_err err, uint64_t offset,
                         const char *msg)
{
	struct bw_arena *a = r->priv_;

	r->error = err;
	r->incomplete = 1;
	r->incomplete_offset = offset;
	r->incomplete_reason = bw_arena_strdup(a, msg);
	if (r->incomplete_reason == NULL)
		r->incomplete_reason = bw_err_str(err);
	bw_result_finish(r);
}

enum bw_err bw_result_new_error(const char *path, enum bw_err err, const char *msg,
                                struct bw_scan_result **out)
{
	struct bw_scan_result *r = result_new(path);

	*out = r;
	if (r == NULL)
		return BW_ERR_NOMEM;
	bw_result_set_error(r, err, BW_NO_OFFSET, msg);
	return BW_OK;
}

enum bw_err bw_result_new_note(const char *path, const struct bw_scan_opts *o, const char *rule,
                               const char *msg, int incomplete, struct bw_scan_result **out)
{
	struct bw_scan_result *r = result_new(path);
	struct bw_arena *a;
	struct bw_finding *f;
	const struct bw_rules *rs = o->rules;
	const struct bw_rule *rule_def;
	struct bw_diag diag;

	*out = NULL;
	if (r == NULL)
		return BW_ERR_NOMEM;
	a = r->priv_;
	if (rs == NULL && bw_rules_builtin(&rs, &diag) != BW_OK) {
		bw_scan_result_free(r);
		return BW_ERR_INTERNAL;
	}
	rule_def = bw_rules_anomaly(rs, rule);
	f = bw_arena_alloc(a, sizeof *f);
	if (f == NULL) {
		bw_scan_result_free(r);
		return BW_ERR_NOMEM;
	}
	f->rule = rule;
	f->severity = rule_def ? rule_def->severity : BW_SEV_MEDIUM;
	f->reason = rule_def ? rule_def->reason : "";
	f->reference = rule_def ? rule_def->reference : NULL;
	f->location = "";
	f->offset = BW_NO_OFFSET;
	f->message = bw_arena_strdup(a, msg);
	if (f->message == NULL)
		f->message = "";
	r->findings = f;
	r->n_findings = 1;
	r->incomplete = incomplete;
	if (incomplete)
		r->incomplete_reason = f->message;
	bw_result_finish(r);
	*out = r;
	return BW_OK;
}

enum bw_err bw_scan_file(const struct bw_scan_opts *o, const char *path,
                         struct bw_scan_result **out)
{
	return bw_scan_file_buf(o, path, NULL, out);
}

/*
 * Files whose every byte a parser reads (bw_file_load reads them rather than
 * mapping them, see core/fileio.h): a pickle stream that starts with its
 * protocol, and the compressed streams joblib writes (gzip, bzip2, xz). Not
 * PyTorch's legacy format (its magic-number pickle first): its tensor bytes
 * follow the pickles and are never read, as are the raw arrays of a joblib
 * file whose first object is a NumPy array. A hint for speed only;
 * detection stays with the formats.
 */
int bw_scan_reads_whole(const uint8_t *h, size_t n)
{
	static const uint8_t legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
	                                 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
	static const char joblib_array[] = "NumpyArrayWrapper";
	size_t i;

	if (n >= 2 && h[0] == 0x80 && h[1] <= 5) {
		if (n >= sizeof legacy && memcmp(h, legacy, sizeof legacy) == 0)
			return 0;
		for (i = 0; i + sizeof joblib_array - 1 <= n; i++)
			if (memcmp(h + i, joblib_array, sizeof joblib_array - 1) == 0)
				return 0;
		return 1;
	}
	if (n >= 2 && h[0] == 0x1f && h[1] == 0x8b)
		return 1;
	if (n >= 3 && memcmp(h, "BZh", 3) == 0)
		return 1;
	return n >= 6 && memcmp(h, "\xfd" "7zXZ\0", 6) == 0;
}

enum bw_err bw_scan_file_buf(const struct bw_scan_opts *o, const char *path, struct bw_read_buf *rb,
                             struct bw_scan_result **out)
{
	struct bw_scan_result *r;
	struct bw_file_map m;
	struct bw_diag diag;
	enum bw_err e;

	if (out == NULL)
		return BW_ERR_ARG;
	*out = NULL;
	if (o == NULL || path == NULL)
		return BW_ERR_ARG;
	r = result_new(path);
	if (r == NULL)
		return BW_ERR_NOMEM;
	bw_diag_clear(&diag);
	e = bw_file_load(path, (size_t)(o->limits.max_file_size > SIZE_MAX ? SIZE_MAX
	                                                                    : o->limits.max_file_size),
	                 rb, bw_scan_reads_whole, &m, &diag);
	if (e != BW_OK) {
		bw_result_set_error(r, e, BW_NO_OFFSET, diag.what);
		*out = r;
		return BW_OK;
	}
	e = scan_bytes(o, r, m.data, m.len);
	bw_file_unmap(&m);
	if (e != BW_OK) {
		bw_scan_result_free(r);
		return e;
	}
	*out = r;
	return BW_OK;
}
