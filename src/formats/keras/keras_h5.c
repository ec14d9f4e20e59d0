/*
 * formats/keras/keras_h5.c - read the Keras configuration attributes of an
 * HDF5 model file (model.save("x.h5")) without libhdf5.
 *
 * Keras (2.x and tf.keras) stores the architecture as the root group
 * attributes "model_config" and "training_config": JSON text, written by h5py
 * as a variable-length string (data in a global heap collection) or a
 * fixed-length string. We read only what reaches those attributes, from the
 * HDF5 File Format Specification 3.0:
 *   II.A  superblock versions 0-3 (signature at 0, 512, 1024, ... for user blocks)
 *   IV.A.1 object header v1 (messages 8-byte aligned) and IV.A.1.b v2 ("OHDR",
 *          continuation blocks "OCHK"); continuation message 0x0010
 *   IV.A.2.m attribute message 0x000C (versions 1-3)
 *   IV.A.2.d datatype: class 3 fixed string, class 9 variable-length string
 *   IV.A.2.b dataspace versions 1-2 (scalar or one-dimensional of one element)
 *   III.E  global heap collection ("GCOL") for variable-length data
 * The JSON found is handed to bw_keras_config_scan (same module). Anything
 * else (dense attribute storage 0x0015, shared or committed datatypes,
 * datasets, weights) is out of scope: reported as incomplete when it hides
 * the attributes we look for. The general HDF5 reader (libhdf5 in a sandboxed
 * child) is the hdf5 module's job. Checksums are not verified (not needed to
 * locate the bytes; a tampered checksum changes nothing we report).
 * Must not: follow more than BW_H5_MAX_CONT continuation blocks, trust an
 * address or size before checking it against the file, or allocate.
 */
#include "formats/keras/keras_config.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/reader.h"

#define BW_H5_MAX_CONT 64u     /* continuation blocks followed in one object header */
#define BW_H5_MAX_MSGS 4096u   /* messages examined in one object header */

static const uint8_t h5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

struct h5_ctx {
	const uint8_t *data;
	size_t len;
	uint64_t base;     /* base address: addresses in the file are relative to it */
	unsigned so, sl;   /* size of offsets, size of lengths */
	const struct bw_fmt_sink *sink;
	int found;
	enum bw_err ret;
	int unsupported;   /* saw a structure we do not read (dense attributes, shared types) */
};

/* Little-endian unsigned of n bytes (1..8). */
static uint64_t h5_un(struct bw_reader *r, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)bw_rd_u8(r) << (8 * i);
	return v;
}

/* Find the superblock: at 0 or at 512 * 2^k inside the file (spec II.A). */
static long h5_find_sig(const uint8_t *d, size_t len)
{
	size_t off = 0;

	for (;;) {
		if (off + 8 > len)
			return -1;
		if (memcmp(d + off, h5_sig, 8) == 0)
			return (long)off;
		off = off == 0 ? 512 : off * 2;
		if (off > ((size_t)1 << 30))
			return -1;
	}
}

int bw_keras_h5_detect(const uint8_t *data, size_t len)
{
	long s;

	if (data == NULL)
		return 0;
	s = h5_find_sig(data, len);
	if (s < 0)
		return 0;
	/* an HDF5 file that names a Keras model configuration attribute */
	return memmem(data, len, "model_config", 12) != NULL ? 85 : 0;
}

/* Reader positioned at a file address (relative to the base); empty+error if outside. */
static void h5_at(const struct h5_ctx *c, uint64_t addr, uint64_t n, struct bw_reader *r)
{
	uint64_t abs;

	if (bw_add_ovf64(addr, c->base, &abs) || abs > c->len || n > c->len - abs) {
		bw_rd_init(r, NULL, 0, abs);
		bw_rd_fail(r, BW_ERR_TRUNCATED);
		return;
	}
	bw_rd_init(r, c->data + abs, (size_t)n, abs);
}

/* Read variable-length data from a global heap collection (spec III.E). */
static const uint8_t *h5_gheap(const struct h5_ctx *c, uint64_t coll, uint32_t index, size_t *n)
{
	struct bw_reader r;
	uint64_t csize;

	*n = 0;
	h5_at(c, coll, 8 + 8 + c->sl, &r);
	if (!bw_rd_ok(&r) || memcmp(bw_rd_bytes(&r, 4), "GCOL", 4) != 0)
		return NULL;
	bw_rd_skip(&r, 4); /* version, reserved */
	csize = h5_un(&r, c->sl);
	h5_at(c, coll, csize, &r);
	bw_rd_skip(&r, 8 + c->sl);
	while (bw_rd_ok(&r) && bw_rd_left(&r) >= 8 + c->sl) {
		uint32_t idx = bw_rd_u16le(&r);
		uint64_t osz;

		bw_rd_skip(&r, 6); /* reference count, reserved */
		osz = h5_un(&r, c->sl);
		if (idx == 0)
			break; /* free space: end of the objects */
		if (osz > bw_rd_left(&r))
			return NULL;
		if (idx == index) {
			*n = (size_t)osz;
			return bw_rd_bytes(&r, (size_t)osz);
		}
		bw_rd_skip(&r, (size_t)((osz + 7) & ~(uint64_t)7));
	}
	return NULL;
}

static void h5_config(struct h5_ctx *c, const char *name, const uint8_t *json, size_t n)
{
	enum bw_err e;

	/* fixed-length strings are NUL- or space-padded */
	while (n > 0 && (json[n - 1] == '\0' || json[n - 1] == ' '))
		n--;
	c->found++;
	(void)name;
	e = bw_keras_config_walk(json, n, c->sink);
	if (e == BW_ERR_NOMEM)
		c->ret = e;
}

/* One attribute message (spec IV.A.2.m). */
static void h5_attribute(struct h5_ctx *c, struct bw_reader m)
{
	unsigned ver = bw_rd_u8(&m), flags, name_len, dt_len, ds_len, cls, dtver;
	const uint8_t *name, *dt;
	struct bw_reader dtr, dsr;
	uint64_t n_el = 1, size;
	char nb[32];

	flags = bw_rd_u8(&m);
	name_len = bw_rd_u16le(&m);
	dt_len = bw_rd_u16le(&m);
	ds_len = bw_rd_u16le(&m);
	if (ver == 3)
		bw_rd_skip(&m, 1); /* name character set */
	if (!bw_rd_ok(&m) || ver < 1 || ver > 3)
		return;
	name = bw_rd_bytes(&m, ver == 1 ? (name_len + 7u) & ~7u : name_len);
	if (name == NULL || name_len == 0)
		return;
	if (!(name_len == 13 && memcmp(name, "model_config", 12) == 0) &&
	    !(name_len == 16 && memcmp(name, "training_config", 15) == 0))
		return;
	memcpy(nb, name, name_len - 1);
	nb[name_len - 1] = '\0';
	if (flags & 3) {
		c->unsupported = 1; /* shared/committed datatype or dataspace */
		return;
	}
	bw_rd_sub(&m, ver == 1 ? (dt_len + 7u) & ~7u : dt_len, &dtr);
	bw_rd_sub(&m, ver == 1 ? (ds_len + 7u) & ~7u : ds_len, &dsr);
	/* dataspace: version, rank, flags, (v1: reserved 5 | v2: type), dims */
	{
		unsigned dsv = bw_rd_u8(&dsr), rank = bw_rd_u8(&dsr), i;

		bw_rd_skip(&dsr, dsv == 1 ? 6 : 2);
		for (i = 0; i < rank; i++)
			n_el *= h5_un(&dsr, c->sl);
		if (!bw_rd_ok(&dsr) || n_el != 1 || rank > 1) {
			c->unsupported = 1;
			return;
		}
	}
	dt = bw_rd_bytes(&dtr, 8);
	if (dt == NULL) {
		c->unsupported = 1;
		return;
	}
	cls = dt[0] & 0x0f;
	dtver = dt[0] >> 4;
	size = (uint64_t)dt[4] | (uint64_t)dt[5] << 8 | (uint64_t)dt[6] << 16 | (uint64_t)dt[7] << 24;
	(void)dtver;
	if (cls == 3) {
		/* fixed-length string: the data is the text */
		const uint8_t *s = size <= bw_rd_left(&m) ? bw_rd_bytes(&m, (size_t)size) : NULL;

		if (s == NULL) {
			c->unsupported = 1;
			return;
		}
		h5_config(c, nb, s, (size_t)size);
	} else if (cls == 9 && (dt[1] & 0x0f) == 1) {
		/* variable-length string: length u32, global heap id (collection address, index u32) */
		uint32_t slen = bw_rd_u32le(&m);
		uint64_t coll = h5_un(&m, c->so);
		uint32_t idx = bw_rd_u32le(&m);
		size_t n;
		const uint8_t *s;

		if (!bw_rd_ok(&m)) {
			c->unsupported = 1;
			return;
		}
		s = h5_gheap(c, coll, idx, &n);
		if (s == NULL || slen > n) {
			c->sink->incomplete(c->sink->user, BW_ERR_MALFORMED, m.base,
			                    "keras-h5: configuration string not found in the global heap");
			return;
		}
		h5_config(c, nb, s, slen);
	} else {
		c->unsupported = 1;
	}
}

/*
 * Walk the messages of the root group's object header (v1 or v2) and its
 * continuation blocks, breadth-first through a fixed array (no recursion).
 */
static void h5_object(struct h5_ctx *c, uint64_t addr)
{
	struct {
		uint64_t addr, len;
	} cont[BW_H5_MAX_CONT];
	unsigned n_cont = 0, i, n_msgs = 0, v2 = 0, v2flags = 0;
	struct bw_reader r;

	h5_at(c, addr, 16, &r);
	if (!bw_rd_ok(&r)) {
		c->sink->incomplete(c->sink->user, BW_ERR_TRUNCATED, addr, "keras-h5: root object header outside the file");
		return;
	}
	if (memcmp(r.p, "OHDR", 4) == 0) {
		uint64_t chunk;
		unsigned w;

		h5_at(c, addr, c->len - (size_t)(addr + c->base), &r);
		bw_rd_skip(&r, 4);
		v2 = bw_rd_u8(&r) == 2;
		v2flags = bw_rd_u8(&r);
		if (v2flags & 0x20)
			bw_rd_skip(&r, 16); /* times */
		if (v2flags & 0x10)
			bw_rd_skip(&r, 4); /* attribute phase change */
		w = 1u << (v2flags & 3);
		chunk = h5_un(&r, w);
		if (!v2 || !bw_rd_ok(&r)) {
			c->sink->incomplete(c->sink->user, BW_ERR_MALFORMED, addr, "keras-h5: bad v2 object header");
			return;
		}
		cont[n_cont].addr = addr + (uint64_t)r.pos;
		cont[n_cont++].len = chunk;
	} else {
		uint64_t hsize;

		if (bw_rd_u8(&r) != 1) {
			c->sink->incomplete(c->sink->user, BW_ERR_UNSUPPORTED, addr, "keras-h5: unknown object header version");
			return;
		}
		bw_rd_skip(&r, 1 + 2 + 4);
		hsize = bw_rd_u32le(&r);
		cont[n_cont].addr = addr + 16;
		cont[n_cont++].len = hsize;
	}
	for (i = 0; i < n_cont && c->ret == BW_OK; i++) {
		struct bw_reader b;

		h5_at(c, cont[i].addr, cont[i].len, &b);
		if (i > 0 && v2) {
			if (bw_rd_left(&b) < 4 || memcmp(b.p, "OCHK", 4) != 0) {
				c->sink->incomplete(c->sink->user, BW_ERR_MALFORMED, b.base, "keras-h5: bad continuation block");
				return;
			}
			bw_rd_skip(&b, 4);
		}
		while (bw_rd_ok(&b) && bw_rd_left(&b) >= (v2 ? 4u + 4u : 8u)) {
			unsigned type, flags;
			uint64_t size;
			struct bw_reader m;

			if (++n_msgs > BW_H5_MAX_MSGS) {
				c->sink->incomplete(c->sink->user, BW_ERR_LIMIT, b.base, "keras-h5: too many header messages");
				return;
			}
			if (v2) {
				type = bw_rd_u8(&b);
				size = bw_rd_u16le(&b);
				flags = bw_rd_u8(&b);
				if (v2flags & 0x04)
					bw_rd_skip(&b, 2);
			} else {
				type = bw_rd_u16le(&b);
				size = bw_rd_u16le(&b);
				flags = bw_rd_u8(&b);
				bw_rd_skip(&b, 3);
			}
			if (!bw_rd_ok(&b) || size > bw_rd_left(&b))
				break;
			bw_rd_sub(&b, (size_t)size, &m);
			if (!v2 && (size & 7) != 0)
				bw_rd_skip(&b, (size_t)(8 - (size & 7)) <= bw_rd_left(&b) ? (size_t)(8 - (size & 7)) : 0);
			if (type == 0x0010) {
				uint64_t ca = h5_un(&m, c->so), cl = h5_un(&m, c->sl);

				if (!bw_rd_ok(&m))
					continue;
				if (n_cont == BW_H5_MAX_CONT) {
					c->sink->incomplete(c->sink->user, BW_ERR_LIMIT, m.base,
					                    "keras-h5: too many object header continuations");
					return;
				}
				cont[n_cont].addr = ca;
				cont[n_cont++].len = v2 && cl >= 4 ? cl - 4 : cl; /* v2 blocks end with a checksum */
			} else if (type == 0x000C && !(flags & 2)) {
				h5_attribute(c, m);
			} else if (type == 0x000C || type == 0x0015) {
				c->unsupported = 1; /* shared attribute or dense attribute storage */
			}
		}
	}
}

enum bw_err bw_keras_h5_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	struct h5_ctx c;
	struct bw_reader r;
	long sb = h5_find_sig(data, len);
	unsigned ver;
	uint64_t root;

	memset(&c, 0, sizeof c);
	c.data = data;
	c.len = len;
	c.sink = sink;
	if (sink->format != NULL)
		sink->format(sink->user, "keras-h5");
	if (sb < 0) {
		sink->incomplete(sink->user, BW_ERR_MALFORMED, 0, "keras-h5: no HDF5 signature");
		return BW_OK;
	}
	bw_rd_init(&r, data + sb, len - (size_t)sb, (uint64_t)sb);
	bw_rd_skip(&r, 8);
	ver = bw_rd_u8(&r);
	if (ver <= 1) {
		bw_rd_skip(&r, 4); /* free-space, root table, reserved, shared header versions */
		c.so = bw_rd_u8(&r);
		c.sl = bw_rd_u8(&r);
		bw_rd_skip(&r, 1 + 2 + 2 + 4 + (ver == 1 ? 4 : 0));
	} else if (ver <= 3) {
		c.so = bw_rd_u8(&r);
		c.sl = bw_rd_u8(&r);
		bw_rd_skip(&r, 1);
	} else {
		sink->incomplete(sink->user, BW_ERR_UNSUPPORTED, (uint64_t)sb + 8, "keras-h5: unknown superblock version");
		return BW_OK;
	}
	if (!bw_rd_ok(&r) || (c.so != 2 && c.so != 4 && c.so != 8) || (c.sl != 2 && c.sl != 4 && c.sl != 8)) {
		sink->incomplete(sink->user, BW_ERR_MALFORMED, (uint64_t)sb, "keras-h5: bad superblock");
		return BW_OK;
	}
	c.base = h5_un(&r, c.so);
	if (ver <= 1) {
		h5_un(&r, c.so); /* free-space info */
		h5_un(&r, c.so); /* end of file */
		h5_un(&r, c.so); /* driver info */
		h5_un(&r, c.so); /* root symbol table entry: link name offset */
		root = h5_un(&r, c.so);
	} else {
		h5_un(&r, c.so); /* superblock extension */
		h5_un(&r, c.so); /* end of file */
		root = h5_un(&r, c.so);
	}
	if (!bw_rd_ok(&r)) {
		sink->incomplete(sink->user, BW_ERR_TRUNCATED, (uint64_t)sb, "keras-h5: superblock cut short");
		return BW_OK;
	}
	h5_object(&c, root);
	if (c.ret == BW_OK && c.found == 0)
		sink->incomplete(sink->user, c.unsupported ? BW_ERR_UNSUPPORTED : BW_ERR_MALFORMED, BW_NO_OFFSET,
		                 c.unsupported ? "keras-h5: model_config is stored in a way this reader does not support"
		                               : "keras-h5: no model_config attribute on the root group");
	return c.ret;
}
