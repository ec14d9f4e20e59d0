/*
 * convert_tar.c - bulwark convert for PyTorch's legacy tar checkpoints
 * (torch.save of torch 0.1-0.3; torch 1.x still reads them in legacy_load).
 *
 * Layout (torch/serialization.py, legacy_load, tar branch), all little-endian:
 *   "storages": pickle(count), then count times: pickle((key, location,
 *               storage_type)), i64 element count, the elements; then
 *               pickle([(view_key, root_key, offset, numel), ...]): storages
 *               that are element ranges of an earlier one;
 *   "tensors":  pickle(count), then count times: pickle((key, storage_key,
 *               tensor_type)), i32 ndim, 4 ignored bytes, ndim i64 sizes,
 *               ndim i64 strides, i64 storage offset (elements, relative to
 *               the storage, which may be a view);
 *   "pickle":   the object, whose persistent ids are tensor/storage keys;
 *   "sys_info": a pickle legacy_load never reads (nor do we).
 * The archive is read by the scanner's tar reader (formats/tar) as tarfile
 * reads it; any anomaly it reports refuses the conversion. Record pickles go
 * through the restricted evaluator (type classes only) and the object pickle
 * through the restricted unpickler with persistent ids resolved here.
 * Must not: execute anything, trust a count or size before checking it
 * against the member's bytes, or recurse.
 */
#include <stdio.h>
#include <string.h>

#include "convert/convert_internal.h"
#include "core/alloc.h"
#include "core/reader.h"
#include "formats/tar/tar.h"

#define TAR_MAX_OBJECTS 1000000u /* storages + views + tensors */

enum { M_PICKLE, M_STORAGES, M_TENSORS, M__COUNT };
static const char *const member_names[M__COUNT] = {"pickle", "storages", "tensors"};

struct tar_members {
	const uint8_t *base;
	size_t off[M__COUNT], len[M__COUNT];
	int have[M__COUNT];
	enum bw_err err;
	struct bw_diag *diag;
};

static void t_finding(void *user, const char *rule, uint64_t offset, const char *msg)
{
	struct tar_members *t = user;

	if (t->err == BW_OK)
		t->err = bw_diag_set(t->diag, BW_ERR_MALFORMED, offset,
		                     "tar archive: %.90s (%s, byte %llu)", msg, rule,
		                     (unsigned long long)offset);
}

static void t_incomplete(void *user, enum bw_err why, uint64_t offset, const char *msg)
{
	struct tar_members *t = user;

	if (t->err == BW_OK)
		t->err = bw_diag_set(t->diag, why, offset, "tar archive: %.100s (byte %llu)", msg,
		                     (unsigned long long)offset);
}

static void t_import(void *user, const char *module, const char *name, const char *om,
                     const char *on, uint64_t offset, const char *how)
{
	(void)user, (void)module, (void)name, (void)om, (void)on, (void)offset, (void)how;
}

static void t_call(void *user, const struct bw_fmt_call *c)
{
	(void)user, (void)c;
}

static enum bw_err t_member(void *user, const char *name, const uint8_t *data, size_t len,
                            uint64_t offset)
{
	struct tar_members *t = user;
	int i;

	(void)data;
	for (i = 0; i < M__COUNT; i++) {
		if (strcmp(name, member_names[i]) == 0) {
			t->off[i] = (size_t)offset;
			t->len[i] = len;
			t->have[i] = 1;
		}
	}
	return BW_OK;
}

static enum bw_err tar_members(const uint8_t *data, size_t len, struct tar_members *t,
                               struct bw_diag *diag)
{
	struct bw_fmt_sink sink;
	struct bw_limits lim;
	enum bw_err e;

	memset(t, 0, sizeof *t);
	memset(&sink, 0, sizeof sink);
	memset(&lim, 0, sizeof lim);
	lim.max_members = 10000;
	t->base = data;
	t->diag = diag;
	sink.user = t;
	sink.finding = t_finding;
	sink.import = t_import;
	sink.call = t_call;
	sink.member = t_member;
	sink.incomplete = t_incomplete;
	sink.lim = &lim;
	e = bw_tar_scan(data, len, &sink);
	if (e != BW_OK)
		return bw_diag_set(diag, e, BW_NO_OFFSET, "tar archive cannot be read");
	return t->err;
}

int bw_convert_is_torch_tar(const uint8_t *data, size_t len)
{
	struct tar_members t;

	if (bw_tar_detect(data, len) == 0)
		return 0;
	/* a broken archive still counts when its members say what it is */
	(void)tar_members(data, len, &t, NULL);
	return t.have[M_PICKLE] && t.have[M_STORAGES] && t.have[M_TENSORS];
}

/* ---- the objects: storages, storage views and tensors, by int key ---- */

struct obj {
	int64_t key;
	int is_tensor;
	enum bw_dtype dtype;
	size_t blob;           /* storage: index into the blob table */
	struct bw_rtensor t;   /* tensor */
};

struct objs {
	struct bw_arena *a;
	struct obj *v;
	size_t n, cap;
	size_t *slots;          /* open addressing: index + 1 of the latest object with a key */
	size_t n_slots;
	struct bw_convert_blobs blobs;
	size_t blobs_cap;
	char (*blob_keys)[48];      /* "<tar key>#<blob index>" */
};

static size_t slot_of(const struct objs *o, int64_t key)
{
	uint64_t h = (uint64_t)key * 0x9e3779b97f4a7c15ull;
	size_t i = (size_t)(h >> 20) & (o->n_slots - 1);

	while (o->slots[i] != 0 && o->v[o->slots[i] - 1].key != key)
		i = (i + 1) & (o->n_slots - 1);
	return i;
}

static const struct obj *obj_find(const struct objs *o, int64_t key)
{
	size_t i;

	if (o->n_slots == 0)
		return NULL;
	i = slot_of(o, key);
	return o->slots[i] ? &o->v[o->slots[i] - 1] : NULL;
}

/* Add an object; a later one with the same key replaces it (a Python dict). */
static struct obj *obj_add(struct objs *o, int64_t key)
{
	size_t i;

	if (o->n == TAR_MAX_OBJECTS)
		return NULL;
	if (o->n == o->cap) {
		size_t ncap = o->cap ? o->cap * 2 : 64;
		struct obj *nv = bw_arena_array(o->a, ncap, sizeof *nv);

		if (nv == NULL)
			return NULL;
		if (o->n)
			memcpy(nv, o->v, o->n * sizeof *nv);
		o->v = nv;
		o->cap = ncap;
	}
	if ((o->n + 1) * 2 > o->n_slots) {
		size_t ns = o->n_slots ? o->n_slots * 2 : 128, k;
		size_t *old = o->slots, old_n = o->n_slots;

		o->slots = bw_arena_array(o->a, ns, sizeof *o->slots);
		if (o->slots == NULL)
			return NULL;
		o->n_slots = ns;
		for (k = 0; k < old_n; k++)
			if (old[k] != 0)
				o->slots[slot_of(o, o->v[old[k] - 1].key)] = old[k];
	}
	memset(&o->v[o->n], 0, sizeof o->v[o->n]);
	o->v[o->n].key = key;
	i = slot_of(o, key);
	o->slots[i] = ++o->n;
	return &o->v[o->n - 1];
}

static int blob_add(struct objs *o, int64_t key, const uint8_t *data, size_t len, size_t *idx)
{
	size_t k;

	if (o->blobs.n == o->blobs_cap) {
		size_t ncap = o->blobs_cap ? o->blobs_cap * 2 : 64;
		struct bw_convert_blob *nv = bw_arena_array(o->a, ncap, sizeof *nv);
		char (*nk)[48] = bw_arena_array(o->a, ncap, sizeof *nk);

		if (nv == NULL || nk == NULL)
			return -1;
		if (o->blobs.n) {
			memcpy(nv, o->blobs.v, o->blobs.n * sizeof *nv);
			memcpy(nk, o->blob_keys, o->blobs.n * sizeof *nk);
		}
		o->blobs.v = nv;
		o->blob_keys = nk;
		o->blobs_cap = ncap;
		/* the keys moved: re-point every blob at its key */
		for (k = 0; k < o->blobs.n; k++)
			o->blobs.v[k].key = o->blob_keys[k];
	}
	*idx = o->blobs.n++;
	snprintf(o->blob_keys[*idx], sizeof o->blob_keys[*idx], "%lld#%zu", (long long)key, *idx);
	o->blobs.v[*idx].key = o->blob_keys[*idx];
	o->blobs.v[*idx].data = data;
	o->blobs.v[*idx].len = len;
	return 0;
}

/* The writer asks by blob key "<tar key>#<index>": answer without a search. */
static const uint8_t *tar_storage(void *user, const char *key, enum bw_dtype dtype, size_t *len,
                                  struct bw_diag *diag)
{
	struct objs *o = user;
	size_t i = 0;
	const char *p = strrchr(key, '#');

	(void)dtype;
	if (p != NULL)
		for (p++; *p >= '0' && *p <= '9' && i < o->blobs.n; p++)
			i = i * 10 + (size_t)(*p - '0');
	if (p == NULL || *p != '\0' || i >= o->blobs.n) {
		(void)bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET, "no storage '%s'", key);
		return NULL;
	}
	*len = o->blobs.v[i].len;
	return o->blobs.v[i].data;
}

static const struct bw_rtensor *tar_lookup(void *user, int64_t key, int *is_storage)
{
	const struct obj *x = obj_find(user, key);

	*is_storage = x != NULL && !x->is_tensor;
	return x != NULL && x->is_tensor ? &x->t : NULL;
}

/* ---- reading the members ---- */

struct mreader {
	struct bw_reader rd;    /* over the member, offsets absolute in the file */
	const char *member;
	struct bw_arena *a;
	struct bw_diag *diag;
};

static enum bw_err record(struct mreader *m, const struct bw_rvalue **v)
{
	struct bw_diag d;
	size_t used;
	uint64_t at = bw_rd_off(&m->rd);
	enum bw_err e;

	bw_diag_clear(&d);
	e = bw_restricted_record(m->rd.p + m->rd.pos, bw_rd_left(&m->rd), m->a, v, &used, &d);
	if (e != BW_OK)
		return bw_diag_set(m->diag, e, at, "in '%s' at byte %llu: %.120s", m->member,
		                   (unsigned long long)at, d.what);
	bw_rd_skip(&m->rd, used);
	return BW_OK;
}

static enum bw_err bad(struct mreader *m, uint64_t at, const char *what)
{
	return bw_diag_set(m->diag, BW_ERR_MALFORMED, at, "member '%s': %s (byte %llu)", m->member,
	                   what, (unsigned long long)at);
}

/* A record that must be a count: an int in [0, max]. */
static enum bw_err count(struct mreader *m, uint64_t max, uint64_t *n)
{
	const struct bw_rvalue *v;
	uint64_t at = bw_rd_off(&m->rd);
	enum bw_err e = record(m, &v);

	if (e != BW_OK)
		return e;
	if (v->kind != BW_RV_INT || v->i < 0 || (uint64_t)v->i > max)
		return bad(m, at, "the count is not an int within what the member can hold");
	*n = (uint64_t)v->i;
	return BW_OK;
}

static enum bw_err read_storages(struct mreader *m, struct objs *o)
{
	const struct bw_rvalue *v, *views;
	uint64_t n = 0, i, numel, at;
	size_t elem, blob;
	struct obj *x;
	const uint8_t *p;
	enum bw_err e;

	/* a record plus an 8-byte count take at least 10 bytes */
	if ((e = count(m, bw_rd_left(&m->rd) / 10, &n)) != BW_OK)
		return e;
	for (i = 0; i < n; i++) {
		at = bw_rd_off(&m->rd);
		if ((e = record(m, &v)) != BW_OK)
			return e;
		if (v->kind != BW_RV_SEQ || v->n != 3 || v->items[0].kind != BW_RV_INT ||
		    v->items[2].kind != BW_RV_STORAGE_TYPE)
			return bad(m, at, "storage record is not (int key, location, storage type)");
		elem = bw_dtype_size(v->items[2].dtype);
		numel = bw_rd_u64le(&m->rd);
		if (!bw_rd_ok(&m->rd) || numel > bw_rd_left(&m->rd) / elem)
			return bw_diag_set(m->diag, BW_ERR_TRUNCATED, at,
			                   "member 'storages': storage %lld declares more bytes than the "
			                   "member holds (byte %llu)", (long long)v->items[0].i,
			                   (unsigned long long)at);
		p = bw_rd_bytes(&m->rd, (size_t)numel * elem);
		x = obj_add(o, v->items[0].i);
		if (x == NULL || blob_add(o, v->items[0].i, p, (size_t)numel * elem, &blob) != 0)
			return bw_diag_set(m->diag, BW_ERR_LIMIT, at, "member 'storages': more than %u "
			                   "objects, or out of memory", TAR_MAX_OBJECTS);
		x->dtype = v->items[2].dtype;
		x->blob = blob;
	}
	at = bw_rd_off(&m->rd);
	if ((e = record(m, &views)) != BW_OK)
		return e;
	if (views->kind != BW_RV_SEQ)
		return bad(m, at, "the storage view list is not a list");
	for (i = 0; i < views->n; i++) {
		const struct bw_rvalue *w = &views->items[i];
		const struct obj *root;
		const struct bw_convert_blob *rb;
		uint64_t off_b, len_b;
		int64_t root_key;
		enum bw_dtype dt;

		if (w->kind != BW_RV_SEQ || w->n != 4 || w->items[0].kind != BW_RV_INT ||
		    w->items[1].kind != BW_RV_INT || w->items[2].kind != BW_RV_INT ||
		    w->items[3].kind != BW_RV_INT || w->items[2].i < 0 || w->items[3].i < 0)
			return bad(m, at, "a storage view is not (key, root key, offset, numel)");
		root_key = w->items[1].i;
		root = obj_find(o, root_key);
		if (root == NULL || root->is_tensor)
			return bad(m, at, "a storage view names a root storage that does not exist");
		dt = root->dtype;
		rb = &o->blobs.v[root->blob];
		elem = bw_dtype_size(dt);
		/* the view must lie inside its root (slicing would clamp; we refuse) */
		if ((uint64_t)w->items[2].i > rb->len / elem ||
		    (uint64_t)w->items[3].i > rb->len / elem - (uint64_t)w->items[2].i)
			return bad(m, at, "a storage view reaches past the end of its root storage");
		off_b = (uint64_t)w->items[2].i * elem;
		len_b = (uint64_t)w->items[3].i * elem;
		p = rb->data + off_b;
		x = obj_add(o, w->items[0].i);
		if (x == NULL || blob_add(o, w->items[0].i, p, (size_t)len_b, &blob) != 0)
			return bw_diag_set(m->diag, BW_ERR_LIMIT, at, "member 'storages': more than %u "
			                   "objects, or out of memory", TAR_MAX_OBJECTS);
		x->dtype = dt;
		x->blob = blob;
	}
	return BW_OK;
}

static enum bw_err read_tensors(struct mreader *m, struct objs *o)
{
	const struct bw_rvalue *v;
	const struct obj *st;
	uint64_t n = 0, i, at;
	uint32_t ndim, d;
	int64_t x;
	struct obj *t;
	struct bw_rtensor rt;
	enum bw_err e;

	/* a record plus ndim and offset take at least 18 bytes */
	if ((e = count(m, bw_rd_left(&m->rd) / 18, &n)) != BW_OK)
		return e;
	for (i = 0; i < n; i++) {
		at = bw_rd_off(&m->rd);
		if ((e = record(m, &v)) != BW_OK)
			return e;
		if (v->kind != BW_RV_SEQ || v->n != 3 || v->items[0].kind != BW_RV_INT ||
		    v->items[1].kind != BW_RV_INT)
			return bad(m, at, "tensor record is not (int key, storage key, tensor type)");
		st = obj_find(o, v->items[1].i);
		if (st == NULL || st->is_tensor)
			return bad(m, at, "a tensor names a storage that does not exist");
		memset(&rt, 0, sizeof rt);
		rt.dtype = st->dtype;
		rt.storage_key = o->blobs.v[st->blob].key;
		rt.storage_numel = o->blobs.v[st->blob].len / bw_dtype_size(st->dtype);
		ndim = bw_rd_u32le(&m->rd);
		bw_rd_skip(&m->rd, 4); /* the high half of what old versions wrote as 8 bytes */
		if (bw_rd_ok(&m->rd) && ndim > BW_MAX_DIMS)
			return bw_diag_set(m->diag, BW_ERR_UNSUPPORTED, at,
			                   "member 'tensors': a tensor with %d dimensions (byte %llu)",
			                   (int32_t)ndim, (unsigned long long)at);
		rt.ndim = bw_rd_ok(&m->rd) ? ndim : 0;
		for (d = 0; d < rt.ndim; d++) {
			x = (int64_t)bw_rd_u64le(&m->rd);
			if (x < 0)
				return bad(m, at, "a tensor size is negative");
			rt.shape[d] = (uint64_t)x;
		}
		for (d = 0; d < rt.ndim; d++) {
			x = (int64_t)bw_rd_u64le(&m->rd);
			if (x < 0)
				return bw_diag_set(m->diag, BW_ERR_UNSUPPORTED, at,
				                   "member 'tensors': a negative stride (byte %llu)",
				                   (unsigned long long)at);
			rt.stride[d] = x;
		}
		x = (int64_t)bw_rd_u64le(&m->rd);
		if (!bw_rd_ok(&m->rd))
			return bw_diag_set(m->diag, BW_ERR_TRUNCATED, at,
			                   "member 'tensors': tensor record cut short (byte %llu)",
			                   (unsigned long long)at);
		if (x < 0)
			return bad(m, at, "a tensor storage offset is negative");
		rt.offset = (uint64_t)x;
		t = obj_add(o, v->items[0].i);
		if (t == NULL)
			return bw_diag_set(m->diag, BW_ERR_LIMIT, at, "member 'tensors': more than %u "
			                   "objects, or out of memory", TAR_MAX_OBJECTS);
		t->is_tensor = 1;
		t->dtype = rt.dtype;
		t->t = rt;
	}
	return BW_OK;
}

enum bw_err bw_convert_tar(const uint8_t *data, size_t len, struct bw_arena *a,
                           struct bw_rresult *r, struct bw_buf *out, struct bw_diag *diag)
{
	struct tar_members tm;
	struct objs o;
	struct mreader m;
	struct bw_rpids pids;
	struct bw_convert_source cs;
	struct bw_diag d;
	size_t used;
	enum bw_err e;
	int i;

	memset(r, 0, sizeof *r);
	memset(&o, 0, sizeof o);
	o.a = a;
	e = tar_members(data, len, &tm, diag);
	if (e != BW_OK)
		return e;
	for (i = 0; i < M__COUNT; i++)
		if (!tm.have[i])
			return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
			                   "tar checkpoint without a '%s' member", member_names[i]);
	/* legacy_load's order: storages, tensors, then the object pickle */
	memset(&m, 0, sizeof m);
	m.a = a;
	m.diag = diag;
	m.member = "storages";
	bw_rd_init(&m.rd, data + tm.off[M_STORAGES], tm.len[M_STORAGES], tm.off[M_STORAGES]);
	if ((e = read_storages(&m, &o)) != BW_OK)
		return e;
	m.member = "tensors";
	bw_rd_init(&m.rd, data + tm.off[M_TENSORS], tm.len[M_TENSORS], tm.off[M_TENSORS]);
	if ((e = read_tensors(&m, &o)) != BW_OK)
		return e;
	pids.user = &o;
	pids.lookup = tar_lookup;
	bw_diag_clear(&d);
	e = bw_restricted_load_pids(data + tm.off[M_PICKLE], tm.len[M_PICKLE], a, &pids, r, &used, &d);
	if (e != BW_OK)
		return bw_diag_set(diag, e, d.offset == BW_NO_OFFSET ? d.offset : tm.off[M_PICKLE] + d.offset,
		                   "in 'pickle' (from byte %zu): %.120s", tm.off[M_PICKLE], d.what);
	cs.user = &o;
	cs.storage = tar_storage;
	return bw_convert_write(r, &cs, out, diag);
}
