/*
 * hdf5.c - HDF5 through a confined worker (see formats/hdf5/hdf5.h).
 *
 * Scanner side: detection by the superblock signature, one worker call per
 * file, and handing the attributes back as members.
 * Worker side (bw_hdf5_worker, inside the confined child of core/worker.c):
 * libhdf5 on the in-memory image. Its ok reply: u32 count, then per
 * attribute: u32 name length, name, u64 value length, value (the bytes of a
 * scalar string attribute); an error reply is a message.
 *
 * libhdf5 is not linked: it is loaded with dlopen (soname from the build,
 * BW_HDF5_SONAME) only by the process that forks the confined children (the
 * worker service, on its first HDF5 request; or the child itself for a direct
 * fork), before the seccomp filter. The scanner never maps it, and every other
 * bulwark process is spared its ~35 dependent libraries at start-up
 * (docs/containers.md). hdf5.h supplies the types; calls go through h5.
 */
#include <dlfcn.h>
#include <hdf5.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/reader.h"
#include "core/worker.h"
#include "formats/hdf5/hdf5.h"

#define HDF5_MAX_IMAGE ((uint64_t)2 << 30)      /* larger files: incomplete */
#define HDF5_MAX_ATTR ((size_t)64 << 20)
#define HDF5_MAX_ATTRS 4096u
#define HDF5_TIMEOUT_MS 60000

static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};


int bw_hdf5_detect(const uint8_t *data, size_t len)
{
	size_t off;

	/* The superblock sits at 0, 512, 1024, 2048, ... (HDF5 spec, "Format Signature"). */
	for (off = 0; off + sizeof sig <= len && off <= (1u << 20); off = off ? off * 2 : 512)
		if (memcmp(data + off, sig, sizeof sig) == 0)
			return 90;
	return 0;
}

/* ---- worker side ---- */

/* The libhdf5 functions used here, resolved by dlsym (types from hdf5.h). */
#define H5_FNS(X) \
	X(H5open) \
	X(H5Eset_auto2) \
	X(H5Pcreate) \
	X(H5Pset_fapl_core) \
	X(H5Pset_file_image) \
	X(H5Pset_file_image_callbacks) \
	X(H5Fopen) \
	X(H5Fclose) \
	X(H5Pclose) \
	X(H5Aiterate2) \
	X(H5Aopen) \
	X(H5Aget_type) \
	X(H5Aget_space) \
	X(H5Tget_class) \
	X(H5Sget_simple_extent_npoints) \
	X(H5Tcopy) \
	X(H5Tset_cset) \
	X(H5Tget_cset) \
	X(H5Tis_variable_str) \
	X(H5Tset_size) \
	X(H5Tset_strpad) \
	X(H5Aread) \
	X(H5Tget_size) \
	X(H5free_memory) \
	X(H5Tclose) \
	X(H5Sclose) \
	X(H5Aclose)

static struct {
#define X(f) __typeof__(&f) f;
	H5_FNS(X)
#undef X
	hid_t *c_s1_g;      /* H5T_C_S1_g, what the H5T_C_S1 macro reads */
	hid_t *fapl_cls_g;  /* H5P_CLS_FILE_ACCESS_ID_g, what H5P_FILE_ACCESS reads */
	const char *err;    /* why loading failed, NULL when loaded */
} h5;

/* H5F_ACC_RDONLY's value: the macro also calls H5check()/H5open() by their linked names. */
#define BW_H5F_ACC_RDONLY 0x0000u

static pthread_once_t h5_once = PTHREAD_ONCE_INIT;

static void h5_load(void)
{
	void *lib = dlopen(BW_HDF5_SONAME, RTLD_NOW | RTLD_LOCAL);
	void *sym;

	h5.err = "libhdf5 (" BW_HDF5_SONAME ") could not be loaded";
	if (lib == NULL)
		return;
#define X(f)                                   \
	if ((sym = dlsym(lib, #f)) == NULL)    \
		return;                        \
	memcpy(&h5.f, &sym, sizeof sym);
	H5_FNS(X)
#undef X
	h5.c_s1_g = dlsym(lib, "H5T_C_S1_g");
	h5.fapl_cls_g = dlsym(lib, "H5P_CLS_FILE_ACCESS_ID_g");
	if (h5.c_s1_g == NULL || h5.fapl_cls_g == NULL)
		return;
	/* Initialise the library here, before the worker service forks its children:
	 * H5open registers every type, property class and driver (about two thirds of
	 * a child's own CPU time on a small file when each child did it). No input is
	 * involved; the children inherit the initialised state. */
	h5.err = "libhdf5 could not start";
	if (h5.H5open() < 0 || h5.H5Eset_auto2(H5E_DEFAULT, NULL, NULL) < 0)
		return;
	h5.err = NULL; /* the handle stays open for the life of the process */
}

int bw_hdf5_preload(void)
{
	pthread_once(&h5_once, h5_load);
	return h5.err == NULL ? 0 : -1;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* An error reply; if even the message does not fit, an empty reply still says "refused". */
static int refuse(struct bw_buf *reply, const char *msg)
{
	reply->len = 0;
	if (bw_buf_puts(reply, msg) != BW_OK)
		reply->len = 0;
	return 1;
}

struct attr_walk {
	struct bw_buf *out;
	uint32_t count;
	int failed;
};

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *user)
{
	struct attr_walk *w = user;
	hid_t attr = -1, type = -1, mem = -1, space = -1;
	char *value = NULL, *vl = NULL;
	size_t vlen = 0, sz;
	uint8_t hdr[8];

	(void)info;
	if (w->count >= HDF5_MAX_ATTRS)
		return 1;
	attr = h5.H5Aopen(loc, name, H5P_DEFAULT);
	if (attr < 0)
		goto out;
	type = h5.H5Aget_type(attr);
	space = h5.H5Aget_space(attr);
	if (type < 0 || space < 0 || h5.H5Tget_class(type) != H5T_STRING ||
	    h5.H5Sget_simple_extent_npoints(space) != 1)
		goto out; /* only scalar strings carry configurations */
	mem = h5.H5Tcopy(*h5.c_s1_g);
	/* read in the file's character set: a mismatch makes libhdf5 refuse the conversion */
	if (mem < 0 || h5.H5Tset_cset(mem, h5.H5Tget_cset(type)) < 0)
		goto out;
	if (h5.H5Tis_variable_str(type) > 0) {
		if (h5.H5Tset_size(mem, H5T_VARIABLE) < 0 || h5.H5Aread(attr, mem, &vl) < 0 || vl == NULL)
			goto out;
		vlen = strnlen(vl, HDF5_MAX_ATTR);
		value = vl;
	} else {
		sz = h5.H5Tget_size(type);
		/* NULLPAD, not H5T_C_S1's NULLTERM: converting into a NULLTERM buffer of the same
		 * size makes libhdf5 overwrite the last byte with the terminator. Keras 2 writes
		 * model_config as bytes (h5py: fixed-length, NULLPAD), so its closing brace was lost. */
		if (sz == 0 || sz > HDF5_MAX_ATTR || h5.H5Tset_size(mem, sz) < 0 ||
		    h5.H5Tset_strpad(mem, H5T_STR_NULLPAD) < 0)
			goto out;
		value = bw_malloc(sz + 1);
		if (value == NULL || h5.H5Aread(attr, mem, value) < 0)
			goto out;
		value[sz] = '\0';
		vlen = strnlen(value, sz);
	}
	put_u32(hdr, (uint32_t)strlen(name));
	if (bw_buf_append(w->out, hdr, 4) != BW_OK || bw_buf_puts(w->out, name) != BW_OK)
		w->failed = 1;
	put_u64(hdr, vlen);
	if (bw_buf_append(w->out, hdr, 8) != BW_OK || bw_buf_append(w->out, value, vlen) != BW_OK)
		w->failed = 1;
	w->count++;
out:
	if (vl != NULL)
		h5.H5free_memory(vl);
	else
		bw_free(value);
	if (mem >= 0)
		h5.H5Tclose(mem);
	if (space >= 0)
		h5.H5Sclose(space);
	if (type >= 0)
		h5.H5Tclose(type);
	if (attr >= 0)
		h5.H5Aclose(attr);
	return w->failed ? -1 : 0;
}

/*
 * File image callbacks that let libhdf5 read the request bytes in place (what
 * H5LTopen_file_image's H5LT_FILE_IMAGE_DONT_COPY does, without libhdf5_hl).
 * By default H5Pset_file_image and the core driver each copy the whole image:
 * two fresh buffers the size of the file, faulted in page by page, for a
 * reader that then looks at a few kilobytes of headers and attributes. The
 * file is opened read-only, so the image is never written or resized.
 */
struct img_ref {
	void *p;
	size_t len;
};

static void *img_malloc(size_t size, H5FD_file_image_op_t op, void *u)
{
	struct img_ref *r = u;

	(void)op;
	return size == r->len ? r->p : NULL;
}

static void *img_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op, void *u)
{
	(void)op, (void)u;
	if (dest != src)
		memcpy(dest, src, size);
	return dest;
}

static void *img_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *u)
{
	(void)ptr, (void)size, (void)op, (void)u;
	return NULL; /* read-only: growing the image is refused */
}

static herr_t img_free(void *ptr, H5FD_file_image_op_t op, void *u)
{
	(void)ptr, (void)op, (void)u;
	return 0;
}

static void *img_udata_copy(void *u)
{
	return u;
}

static herr_t img_udata_free(void *u)
{
	(void)u;
	return 0;
}

/* Open an image and collect the root group's string attributes into out. */
static int child_read(const void *img, size_t len, struct bw_buf *out, char *err, size_t errlen)
{
	hid_t fapl, f = -1;
	struct attr_walk w = {out, 0, 0};
	uint8_t cnt[4] = {0};
	int rc = -1;

	struct img_ref ref = {(void *)(uintptr_t)img, len};
	H5FD_file_image_callbacks_t cb = {img_malloc, img_memcpy, img_realloc, img_free,
	                                  img_udata_copy, img_udata_free, &ref};

	fapl = h5.H5Pcreate(*h5.fapl_cls_g);
	if (fapl < 0 || h5.H5Pset_fapl_core(fapl, 1 << 20, 0) < 0 ||
	    h5.H5Pset_file_image_callbacks(fapl, &cb) < 0 ||
	    h5.H5Pset_file_image(fapl, (void *)(uintptr_t)img, len) < 0) {
		snprintf(err, errlen, "libhdf5 refused the file image");
		goto out;
	}
	f = h5.H5Fopen("bulwark-image.h5", BW_H5F_ACC_RDONLY, fapl);
	if (f < 0) {
		snprintf(err, errlen, "libhdf5 could not open the file (malformed or unsupported HDF5)");
		goto out;
	}
	if (bw_buf_append(out, cnt, 4) != BW_OK)
		goto out;
	if (h5.H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, attr_cb, &w) < 0 || w.failed) {
		snprintf(err, errlen, "libhdf5 could not read the root attributes");
		goto out;
	}
	put_u32(out->data, w.count);
	rc = 0;
out:
	if (f >= 0)
		h5.H5Fclose(f);
	if (fapl >= 0)
		h5.H5Pclose(fapl);
	return rc;
}

int bw_hdf5_worker(const uint8_t *data, size_t len, struct bw_buf *reply)
{
	char err[256];

	/* in the confined child: libhdf5 may try to open plugin paths; those calls fail (EPERM) */
	if (bw_hdf5_preload() != 0)
		return refuse(reply, h5.err);
	if (h5.H5open() < 0 || h5.H5Eset_auto2(H5E_DEFAULT, NULL, NULL) < 0)
		return refuse(reply, "libhdf5 could not start");
	err[0] = '\0';
	if (child_read(data, len, reply, err, sizeof err) != 0)
		return refuse(reply, err[0] ? err : "libhdf5 could not read the file");
	return 0;
}

static int is_config_attr(const char *name, size_t n)
{
	static const char *const names[] = {"model_config", "training_config"};
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i]) == n && memcmp(names[i], name, n) == 0)
			return 1;
	return 0;
}

/*
 * The confined child's reply: u32 count, then per attribute u32 name length,
 * name, u64 value length, value. Read with the bounded reader like any input
 * (a subverted child could send anything); each value goes back as member
 * "<attribute NAME>". Separate so fuzz/fuzz_hdf5.c can feed it directly.
 */
enum bw_err bw_hdf5_reply_scan(const uint8_t *reply, size_t reply_len, const struct bw_fmt_sink *sink)
{
	struct bw_reader rd;
	uint32_t count, i, nlen;
	uint64_t vlen;
	const uint8_t *name, *value;
	char member[160];
	int keras = 0;
	enum bw_err e = BW_OK;

	bw_rd_init(&rd, reply, reply_len, 0);
	count = bw_rd_u32le(&rd);
	for (i = 0; i < count && bw_rd_ok(&rd) && e == BW_OK; i++) {
		nlen = bw_rd_u32le(&rd);
		name = bw_rd_bytes(&rd, nlen);
		vlen = bw_rd_u64le(&rd);
		value = bw_rd_bytes(&rd, (size_t)(vlen > SIZE_MAX ? SIZE_MAX : vlen));
		if (!bw_rd_ok(&rd))
			break;
		if (is_config_attr((const char *)name, nlen))
			keras = 1;
		snprintf(member, sizeof member, "<attribute %.*s>", (int)(nlen > 100 ? 100 : nlen),
		         (const char *)name);
		e = sink->member(sink->user, member, value, (size_t)vlen, BW_NO_OFFSET);
	}
	if (!bw_rd_ok(&rd))
		sink->incomplete(sink->user, BW_ERR_INTERNAL, BW_NO_OFFSET,
		                 "the HDF5 worker's reply was malformed");
	if (sink->format != NULL)
		sink->format(sink->user, keras ? "keras-h5" : "hdf5");
	return e;
}

enum bw_err bw_hdf5_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	uint8_t *reply = NULL;
	size_t reply_len = 0;
	enum bw_err e;

	if ((uint64_t)len > HDF5_MAX_IMAGE) {
		sink->incomplete(sink->user, BW_ERR_LIMIT, BW_NO_OFFSET,
		                 "HDF5 file larger than the confined reader's 2 GiB limit; not read");
		return BW_OK;
	}
	switch (bw_worker_call(BW_WORKER_HDF5, data, len, HDF5_TIMEOUT_MS, &reply, &reply_len)) {
	case BW_WORKER_UNAVAILABLE:
		sink->incomplete(sink->user, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
		                 "HDF5 is read only by a confined worker process, and none could be started");
		return BW_OK;
	case BW_WORKER_CRASHED:
		sink->finding(sink->user, "hdf5.worker-crashed", BW_NO_OFFSET,
		              "the confined HDF5 reader crashed on this file");
		sink->incomplete(sink->user, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                 "the confined HDF5 reader crashed; the file was not read");
		return BW_OK;
	case BW_WORKER_TIMEOUT:
		sink->finding(sink->user, "hdf5.worker-timeout", BW_NO_OFFSET,
		              "the confined HDF5 reader ran past its time limit on this file");
		sink->incomplete(sink->user, BW_ERR_LIMIT, BW_NO_OFFSET, "HDF5 reader timed out");
		return BW_OK;
	case BW_WORKER_REFUSED:
		sink->incomplete(sink->user, BW_ERR_MALFORMED, BW_NO_OFFSET, (const char *)reply);
		bw_free(reply);
		return BW_OK;
	case BW_WORKER_OK:
		break;
	}
	e = bw_hdf5_reply_scan(reply, reply_len, sink);
	bw_free(reply);
	return e;
}
