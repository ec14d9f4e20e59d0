/*
 * tensor/tensor_data.c - datasets for training and evaluation: IDX files
 * (http://yann.lecun.com/exdb/mnist/ "FILE FORMATS": big-endian magic
 * 0x000008TT with TT the dimension count, then one big-endian uint32 per
 * dimension, then the data; 0x08 = unsigned byte), gzip-compressed or not,
 * and NumPy .npy arrays (format version 1.0-3.0: magic "\x93NUMPY", a
 * little-endian header length, a Python dict literal with descr,
 * fortran_order and shape).
 * Must not: trust a dimension before checking it against the bytes present
 * and BW_DATA_MAX_ITEMS; decompression output is capped at DATA_MAX_BYTES.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "core/alloc.h"
#include "core/reader.h"
#include "tensor/tensor_int.h"

#define DATA_MAX_BYTES ((size_t)2 << 30)
#define DATA_MAX_SIDE 4096
#define NPY_MAX_HEADER 65536

/* Whole file, gunzipped when it is gzip (zlib's gzread passes plain files through). */
static enum bw_err read_all(const char *path, unsigned char **out, size_t *len, struct bw_diag *d)
{
	gzFile f;
	unsigned char *buf = NULL, *nb;
	size_t cap = 0, n = 0;
	int r;

	*out = NULL;
	*len = 0;
	f = gzopen(path, "rb");
	if (f == NULL)
		return bw_diag_set(d, BW_ERR_IO, BW_NO_OFFSET, "cannot open %.200s", path);
	for (;;) {
		if (n == cap) {
			size_t ncap = cap == 0 ? (size_t)1 << 20 : cap * 2;

			if (cap >= DATA_MAX_BYTES) {
				gzclose(f);
				bw_free(buf);
				return bw_diag_set(d, BW_ERR_LIMIT, BW_NO_OFFSET, "%.200s is over %zu bytes",
				                   path, DATA_MAX_BYTES);
			}
			nb = bw_reallocarray(buf, ncap, 1);
			if (nb == NULL) {
				gzclose(f);
				bw_free(buf);
				return BW_ERR_NOMEM;
			}
			buf = nb;
			cap = ncap;
		}
		r = gzread(f, buf + n, (unsigned)((cap - n) > (1u << 30) ? (1u << 30) : (cap - n)));
		if (r < 0) {
			gzclose(f);
			bw_free(buf);
			return bw_diag_set(d, BW_ERR_MALFORMED, (uint64_t)n, "%.200s: gzip stream is corrupt",
			                   path);
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	gzclose(f);
	*out = buf;
	*len = n;
	return BW_OK;
}

void bw_data_release(struct bw_dataset *ds)
{
	if (ds == NULL)
		return;
	bw_free(ds->x);
	bw_free(ds->y);
	memset(ds, 0, sizeof *ds);
}

static void count_classes(struct bw_dataset *ds)
{
	int i, mx = 0;

	for (i = 0; i < ds->n; i++)
		if (ds->y[i] + 1 > mx)
			mx = ds->y[i] + 1;
	ds->n_classes = mx < 2 ? 2 : mx;
}

enum bw_err bw_data_load_idx(const char *images, const char *labels, struct bw_dataset *out,
                             struct bw_diag *d)
{
	unsigned char *ib = NULL, *lb = NULL;
	size_t il = 0, ll = 0;
	struct bw_reader r;
	uint32_t magic, n, h, w, nl;
	const uint8_t *px, *lp;
	enum bw_err err;
	size_t i, per;

	memset(out, 0, sizeof *out);
	err = read_all(images, &ib, &il, d);
	if (err != BW_OK)
		goto out;
	err = read_all(labels, &lb, &ll, d);
	if (err != BW_OK)
		goto out;
	bw_rd_init(&r, ib, il, 0);
	magic = bw_rd_u32be(&r);
	if (magic == 0x00000802u) { /* (n, d) vectors: treat as (n, 1, d) */
		n = bw_rd_u32be(&r);
		h = 1;
		w = bw_rd_u32be(&r);
	} else {
		n = bw_rd_u32be(&r);
		h = bw_rd_u32be(&r);
		w = bw_rd_u32be(&r);
	}
	if (!bw_rd_ok(&r)) {
		err = bw_diag_set(d, BW_ERR_TRUNCATED, 0, "IDX image header is truncated");
		goto out;
	}
	if (magic != 0x00000803u && magic != 0x00000802u) {
		err = bw_diag_set(d, BW_ERR_MALFORMED, 0, "IDX images: magic 0x%08x is not uint8 images",
		                  magic);
		goto out;
	}
	if (n == 0 || n > BW_DATA_MAX_ITEMS || h == 0 || w == 0 || h > DATA_MAX_SIDE || w > DATA_MAX_SIDE) {
		err = bw_diag_set(d, BW_ERR_LIMIT, 4, "IDX images: %u x %u x %u over the limits", n, h, w);
		goto out;
	}
	per = (size_t)h * w;
	px = bw_rd_bytes(&r, (size_t)n * per);
	if (px == NULL) {
		err = bw_diag_set(d, BW_ERR_TRUNCATED, bw_rd_off(&r), "IDX images: data is truncated");
		goto out;
	}
	if (bw_rd_left(&r) != 0) {
		err = bw_diag_set(d, BW_ERR_MALFORMED, bw_rd_off(&r), "IDX images: trailing bytes");
		goto out;
	}
	bw_rd_init(&r, lb, ll, 0);
	magic = bw_rd_u32be(&r);
	nl = bw_rd_u32be(&r);
	if (!bw_rd_ok(&r) || magic != 0x00000801u) {
		err = bw_diag_set(d, BW_ERR_MALFORMED, 0, "IDX labels: bad header");
		goto out;
	}
	if (nl != n) {
		err = bw_diag_set(d, BW_ERR_MALFORMED, 4, "IDX labels: %u labels for %u images", nl, n);
		goto out;
	}
	lp = bw_rd_bytes(&r, n);
	if (lp == NULL || bw_rd_left(&r) != 0) {
		err = bw_diag_set(d, BW_ERR_MALFORMED, 8, "IDX labels: wrong data length");
		goto out;
	}
	out->x = bw_calloc((size_t)n * per, sizeof(float));
	out->y = bw_calloc(n, sizeof(int32_t));
	if (out->x == NULL || out->y == NULL) {
		err = BW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < (size_t)n * per; i++)
		out->x[i] = (float)px[i] * (1.0f / 255.0f);
	for (i = 0; i < n; i++)
		out->y[i] = lp[i];
	out->n = (int)n;
	out->c = 1;
	out->h = (int)h;
	out->w = (int)w;
	count_classes(out);
out:
	bw_free(ib);
	bw_free(lb);
	if (err != BW_OK)
		bw_data_release(out);
	return err;
}

/* ---- .npy ---- */

enum npy_type { NPY_U8, NPY_F32, NPY_I32, NPY_I64, NPY_F64 };

struct npy {
	enum npy_type type;
	int ndim;
	long long shape[BW_T_MAXDIM];
	long long count;
	const uint8_t *data;
};

/* Value of key in the header dict: pointer just after "'key':" and spaces. */
static const char *npy_key(const char *h, size_t hl, const char *key)
{
	size_t kl = strlen(key), i;

	for (i = 0; i + kl + 3 <= hl; i++)
		if (h[i] == '\'' && memcmp(h + i + 1, key, kl) == 0 && h[i + 1 + kl] == '\'') {
			i += kl + 2;
			while (i < hl && (h[i] == ' ' || h[i] == ':'))
				i++;
			return i < hl ? h + i : NULL;
		}
	return NULL;
}

static enum bw_err npy_parse(const uint8_t *b, size_t len, struct npy *o, struct bw_diag *d)
{
	struct bw_reader r;
	const uint8_t *magic, *hb;
	char h[NPY_MAX_HEADER + 1];
	const char *v, *end;
	uint8_t major;
	size_t hl, esz;
	long long cnt = 1;

	memset(o, 0, sizeof *o);
	bw_rd_init(&r, b, len, 0);
	magic = bw_rd_bytes(&r, 6);
	if (magic == NULL || memcmp(magic, "\x93NUMPY", 6) != 0)
		return bw_diag_set(d, BW_ERR_MALFORMED, 0, ".npy: bad magic");
	major = bw_rd_u8(&r);
	(void)bw_rd_u8(&r);
	if (major == 1)
		hl = bw_rd_u16le(&r);
	else if (major == 2 || major == 3)
		hl = bw_rd_u32le(&r);
	else
		return bw_diag_set(d, BW_ERR_UNSUPPORTED, 6, ".npy: version %u", major);
	if (hl > NPY_MAX_HEADER)
		return bw_diag_set(d, BW_ERR_LIMIT, 8, ".npy: header over %d bytes", NPY_MAX_HEADER);
	hb = bw_rd_bytes(&r, hl);
	if (hb == NULL)
		return bw_diag_set(d, BW_ERR_TRUNCATED, 8, ".npy: header is truncated");
	memcpy(h, hb, hl);
	h[hl] = '\0';
	v = npy_key(h, hl, "descr");
	if (v == NULL)
		return bw_diag_set(d, BW_ERR_MALFORMED, 10, ".npy: no descr");
	if (strncmp(v, "'|u1'", 5) == 0 || strncmp(v, "'<u1'", 5) == 0) {
		o->type = NPY_U8; esz = 1;
	} else if (strncmp(v, "'<f4'", 5) == 0) {
		o->type = NPY_F32; esz = 4;
	} else if (strncmp(v, "'<f8'", 5) == 0) {
		o->type = NPY_F64; esz = 8;
	} else if (strncmp(v, "'<i4'", 5) == 0) {
		o->type = NPY_I32; esz = 4;
	} else if (strncmp(v, "'<i8'", 5) == 0) {
		o->type = NPY_I64; esz = 8;
	} else {
		return bw_diag_set(d, BW_ERR_UNSUPPORTED, 10, ".npy: dtype %.8s (u1, f4, f8, i4, i8 only)", v);
	}
	v = npy_key(h, hl, "fortran_order");
	if (v == NULL || strncmp(v, "False", 5) != 0)
		return bw_diag_set(d, BW_ERR_UNSUPPORTED, 10, ".npy: only C order");
	v = npy_key(h, hl, "shape");
	if (v == NULL || *v != '(')
		return bw_diag_set(d, BW_ERR_MALFORMED, 10, ".npy: no shape");
	v++;
	for (;;) {
		long long x;
		char *e;

		while (*v == ' ' || *v == ',')
			v++;
		if (*v == ')')
			break;
		if (*v < '0' || *v > '9' || o->ndim >= BW_T_MAXDIM)
			return bw_diag_set(d, BW_ERR_MALFORMED, 10, ".npy: bad shape (at most %d dims)",
			                   BW_T_MAXDIM);
		x = strtoll(v, &e, 10);
		if (x < 0 || x > BW_T_MAX_NUMEL)
			return bw_diag_set(d, BW_ERR_LIMIT, 10, ".npy: dimension over the limit");
		o->shape[o->ndim++] = x;
		cnt *= x;
		if (cnt > (long long)BW_T_MAX_NUMEL * 4)
			return bw_diag_set(d, BW_ERR_LIMIT, 10, ".npy: too many elements");
		v = e;
	}
	end = v;
	(void)end;
	if (o->ndim == 0)
		return bw_diag_set(d, BW_ERR_UNSUPPORTED, 10, ".npy: scalar arrays are not datasets");
	o->count = cnt;
	o->data = bw_rd_bytes(&r, (size_t)cnt * esz);
	if (o->data == NULL)
		return bw_diag_set(d, BW_ERR_TRUNCATED, bw_rd_off(&r), ".npy: data is truncated");
	if (bw_rd_left(&r) != 0)
		return bw_diag_set(d, BW_ERR_MALFORMED, bw_rd_off(&r), ".npy: trailing bytes");
	return BW_OK;
}

static double npy_get(const struct npy *a, long long i)
{
	const uint8_t *p;
	uint64_t u = 0;
	int k;

	switch (a->type) {
	case NPY_U8:
		return a->data[i];
	case NPY_F32: {
		float f;

		memcpy(&f, a->data + i * 4, 4);
		return f;
	}
	case NPY_F64: {
		double f;

		memcpy(&f, a->data + i * 8, 8);
		return f;
	}
	case NPY_I32: {
		int32_t v;

		memcpy(&v, a->data + i * 4, 4);
		return v;
	}
	case NPY_I64:
		p = a->data + i * 8;
		for (k = 7; k >= 0; k--)
			u = (u << 8) | p[k];
		return (double)(int64_t)u;
	}
	return 0.0;
}

enum bw_err bw_data_load_npy(const char *images, const char *labels, struct bw_dataset *out,
                             struct bw_diag *d)
{
	unsigned char *ib = NULL, *lb = NULL;
	size_t il = 0, ll = 0;
	struct npy xi, yi;
	enum bw_err err;
	long long i;

	memset(out, 0, sizeof *out);
	err = read_all(images, &ib, &il, d);
	if (err != BW_OK)
		goto out;
	err = read_all(labels, &lb, &ll, d);
	if (err != BW_OK)
		goto out;
	err = npy_parse(ib, il, &xi, d);
	if (err != BW_OK)
		goto out;
	err = npy_parse(lb, ll, &yi, d);
	if (err != BW_OK)
		goto out;
	if ((xi.ndim != 3 && xi.ndim != 4) || yi.ndim != 1 || yi.shape[0] != xi.shape[0] ||
	    xi.shape[0] < 1 || xi.shape[0] > BW_DATA_MAX_ITEMS || xi.count > BW_T_MAX_NUMEL * 4LL) {
		err = bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                  ".npy: images must be (n,h,w) or (n,c,h,w) and labels (n)");
		goto out;
	}
	if (yi.type == NPY_F32 || yi.type == NPY_F64) {
		err = bw_diag_set(d, BW_ERR_UNSUPPORTED, BW_NO_OFFSET, ".npy: labels must be integers");
		goto out;
	}
	out->n = (int)xi.shape[0];
	out->c = xi.ndim == 4 ? (int)xi.shape[1] : 1;
	out->h = (int)xi.shape[xi.ndim - 2];
	out->w = (int)xi.shape[xi.ndim - 1];
	if (out->c < 1 || out->c > 64 || out->h < 1 || out->w < 1 || out->h > DATA_MAX_SIDE ||
	    out->w > DATA_MAX_SIDE) {
		err = bw_diag_set(d, BW_ERR_LIMIT, BW_NO_OFFSET, ".npy: image shape over the limits");
		goto out;
	}
	out->x = bw_calloc((size_t)xi.count, sizeof(float));
	out->y = bw_calloc((size_t)out->n, sizeof(int32_t));
	if (out->x == NULL || out->y == NULL) {
		err = BW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < xi.count; i++)
		out->x[i] = (float)(xi.type == NPY_U8 ? npy_get(&xi, i) / 255.0 : npy_get(&xi, i));
	for (i = 0; i < out->n; i++) {
		double v = npy_get(&yi, i);

		if (v < 0 || v > 1000000) {
			err = bw_diag_set(d, BW_ERR_MALFORMED, BW_NO_OFFSET, ".npy: label %lld out of range", i);
			goto out;
		}
		out->y[i] = (int32_t)v;
	}
	count_classes(out);
out:
	bw_free(ib);
	bw_free(lb);
	if (err != BW_OK)
		bw_data_release(out);
	return err;
}

enum bw_err bw_data_fashion_mnist(int train, struct bw_dataset *out, struct bw_diag *d)
{
	const char *dir = getenv("BW_FASHION_MNIST");
	char ip[4096], lp[4096];
	FILE *f;

	if (dir == NULL || dir[0] == '\0')
		dir = "/usr/share/datasets/fashion-mnist";
	snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir, train ? "train" : "t10k");
	snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir, train ? "train" : "t10k");
	f = fopen(ip, "rb");
	if (f == NULL) {
		memset(out, 0, sizeof *out);
		return bw_diag_set(d, BW_ERR_NOTFOUND, BW_NO_OFFSET,
		                   "Fashion-MNIST not found at %.200s (install dataset-fashion-mnist)", dir);
	}
	fclose(f);
	return bw_data_load_idx(ip, lp, out, d);
}

enum bw_err bw_data_load_spec(const char *spec, int train, struct bw_dataset *out,
                              struct bw_diag *d)
{
	char a[4096];
	const char *comma;
	size_t l;

	memset(out, 0, sizeof *out);
	if (spec == NULL)
		return BW_ERR_ARG;
	if (strcmp(spec, "fashion-mnist") == 0)
		return bw_data_fashion_mnist(train, out, d);
	if (strncmp(spec, "idx:", 4) != 0 && strncmp(spec, "npy:", 4) != 0)
		return bw_diag_set(d, BW_ERR_ARG, BW_NO_OFFSET,
		                   "dataset must be fashion-mnist, idx:IMAGES,LABELS or npy:IMAGES,LABELS");
	comma = strchr(spec + 4, ',');
	if (comma == NULL || (l = (size_t)(comma - (spec + 4))) == 0 || l >= sizeof a || comma[1] == '\0')
		return bw_diag_set(d, BW_ERR_ARG, BW_NO_OFFSET, "expected %.4sIMAGES,LABELS", spec);
	memcpy(a, spec + 4, l);
	a[l] = '\0';
	if (spec[0] == 'i')
		return bw_data_load_idx(a, comma + 1, out, d);
	return bw_data_load_npy(a, comma + 1, out, d);
}
