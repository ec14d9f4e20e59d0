/*
 * zip_scan.c - the "zip" format of the scan engine: opens the archive with
 * the reader of zip.h, reports its anomalies, names the flavour (PyTorch,
 * NumPy npz, Keras v3) and hands EVERY member back under its central
 * directory name (the name PyTorch looks up), plus any bytes before or after
 * the archive as "<zip prefix>" / "<zip trailing>" (torch.load reads a file
 * that does not start with "PK\3\4" as a legacy pickle).
 * Must not: decide by file name what a member is (the engine detects by
 * content), decode past sink->lim, stop at the first anomaly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "formats/zip/zip.h"

#define SIG_CENTRAL 0x02014b50u

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

int bw_zip_detect(const uint8_t *data, size_t len)
{
	size_t i, lo;

	if (data == NULL || len < 4)
		return 0;
	if (memcmp(data, "PK\3\4", 4) == 0)
		return 90;
	if (len < 22)
		return 0;
	if (memcmp(data, "PK\5\6", 4) == 0)
		return 50;
	/* An archive behind prepended bytes: an EOCD whose directory is where it says. */
	lo = len - 22 > 65535 + 22 ? len - 22 - 65535 - 22 : 0;
	for (i = len - 22 + 1; i > lo;) {
		uint64_t cd_size, cd_off;
		const uint8_t *p;

		/*
		 * Last 'P' at or below i - 1 first (memrchr is vectorised): detect runs on every
		 * member, and a byte-by-byte signature test over 64 KiB of each stored tensor was
		 * a seventh of a scan of a model folder.
		 */
		p = memrchr(data + lo, 'P', i - lo);
		if (p == NULL)
			break;
		i = (size_t)(p - data);
		if (rd32(data + i) != 0x06054b50u)
			continue;
		cd_size = rd32(data + i + 12);
		cd_off = rd32(data + i + 16);
		if (cd_off + 4 <= i && rd32(data + cd_off) == SIG_CENTRAL)
			return 60;
		if (cd_size + 4 <= i && rd32(data + i - cd_size) == SIG_CENTRAL)
			return 60;
		return 0;
	}
	return 0;
}

struct ctx {
	const struct bw_fmt_sink *sink;
};

static void on_anomaly(void *user, const char *rule, uint64_t off, const char *msg)
{
	const struct bw_fmt_sink *s = ((struct ctx *)user)->sink;

	s->finding(s->user, rule, off, msg);
}

static void on_incomplete(void *user, enum bw_err why, uint64_t off, const char *msg)
{
	const struct bw_fmt_sink *s = ((struct ctx *)user)->sink;

	s->incomplete(s->user, why, off, msg);
}

static void say(const struct bw_fmt_sink *s, const char *rule, uint64_t off, const char *fmt, ...)
	BW_PRINTF(4, 5);
static void say(const struct bw_fmt_sink *s, const char *rule, uint64_t off, const char *fmt, ...)
{
	char m[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	s->finding(s->user, rule, off, m);
}

static void stop(const struct bw_fmt_sink *s, enum bw_err why, uint64_t off, const char *fmt, ...)
	BW_PRINTF(4, 5);
static void stop(const struct bw_fmt_sink *s, enum bw_err why, uint64_t off, const char *fmt, ...)
{
	char m[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	s->incomplete(s->user, why, off, m);
}

static int is_dir(const struct bw_zip_entry *e)
{
	return e->name_len > 0 && e->name[e->name_len - 1] == '/' && e->uncomp_size == 0 &&
	       e->comp_size == 0;
}

static int ends_with(const struct bw_zip_entry *e, const char *suf)
{
	size_t n = strlen(suf);

	return e->name_len >= n && memcmp(e->name + e->name_len - n, suf, n) == 0;
}

/* The flavour a loader would take this archive for. */
static const char *flavour(const struct bw_zip *z)
{
	static const char *const torch_records[] = {"data.pkl", "version", ".data/version", "byteorder",
	                                            "constants.pkl"};
	const struct bw_zip_entry *first;
	const char *slash;
	char key[512];
	size_t i, plen, n_npy = 0, n_files = 0;

	if (z->n_entries == 0)
		return "zip";
	/* PyTorchStreamReader: archive_name is the first entry's top-level folder. */
	first = &z->entries[0];
	slash = memchr(first->name, '/', first->name_len);
	if (slash != NULL && (plen = (size_t)(slash - first->name)) + 20 < sizeof key) {
		for (i = 0; i < sizeof torch_records / sizeof torch_records[0]; i++) {
			snprintf(key, sizeof key, "%.*s/%s", (int)plen, first->name, torch_records[i]);
			if (bw_zip_find(z, key) >= 0)
				return "pytorch-zip";
		}
	}
	if (bw_zip_find(z, "config.json") >= 0 && bw_zip_find(z, "metadata.json") >= 0 &&
	    bw_zip_find(z, "model.weights.h5") >= 0)
		return "keras";
	for (i = 0; i < z->n_entries; i++) {
		if (is_dir(&z->entries[i]))
			continue;
		n_files++;
		n_npy += ends_with(&z->entries[i], ".npy") ? 1u : 0u;
	}
	if (n_files > 0 && n_npy == n_files)
		return "numpy-npz";
	return "zip";
}

enum bw_err bw_zip_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	struct bw_zip z;
	struct bw_zip_opts o;
	struct bw_diag diag;
	struct ctx c;
	uint64_t total_left;
	size_t i;
	enum bw_err err, ret = BW_OK;

	if (sink == NULL || (data == NULL && len > 0))
		return BW_ERR_ARG;
	c.sink = sink;
	memset(&o, 0, sizeof o);
	o.max_entries = sink->lim->max_members;
	o.mem_budget = sink->lim->mem_budget;
	o.user = &c;
	o.anomaly = on_anomaly;
	o.incomplete = on_incomplete;
	err = bw_zip_open(&z, data, len, &o, &diag);
	if (err == BW_ERR_NOMEM)
		return err;
	if (err != BW_OK) {
		sink->incomplete(sink->user, err, diag.offset, diag.what);
		return BW_OK;
	}
	if (sink->format != NULL)
		sink->format(sink->user, flavour(&z));

	if (z.prefix_len > 0) {
		ret = sink->member(sink->user, "<zip prefix>", data, (size_t)z.prefix_len, 0);
		if (ret == BW_ERR_NOMEM)
			goto out;
		ret = BW_OK;
	}
	total_left = sink->lim->max_total_unpacked;
	for (i = 0; i < z.n_entries; i++) {
		const struct bw_zip_entry *e = &z.entries[i];
		struct bw_zip_data zd;
		char shown[128];

		snprintf(shown, sizeof shown, "%.100s", e->name);
		if (is_dir(e))
			continue;
		/* stored data is a slice of the input, not decoded: only decoded bytes count */
		err = bw_zip_extract(&z, i, e->method == BW_ZIP_STORED ? UINT64_MAX : total_left,
		                     sink->lim->max_ratio, &zd);
		switch (err) {
		case BW_OK:
			if (!zd.crc_ok)
				say(sink, "zip.crc-mismatch", e->cd_pos,
				    "\"%s\": CRC-32 of the data is not the recorded %08x: PyTorch loads it, "
				    "Python's zipfile refuses it",
				    shown, e->crc32);
			if (zd.len != e->uncomp_size)
				say(sink, "zip.size-mismatch", e->data_offset,
				    "\"%s\": %zu bytes of data, %llu declared", shown, zd.len,
				    (unsigned long long)e->uncomp_size);
			break;
		case BW_ERR_NOMEM:
			ret = err;
			goto out;
		case BW_ERR_LIMIT:
			if (zd.ratio_limited)
				say(sink, "zip.bomb", e->data_offset,
				    "\"%s\" expands more than %u times its %llu compressed bytes", shown,
				    sink->lim->max_ratio, (unsigned long long)e->comp_size);
			stop(sink, BW_ERR_LIMIT, e->data_offset,
			     "\"%s\": output cap reached after %zu bytes; the rest is not scanned", shown, zd.len);
			break;
		case BW_ERR_UNSUPPORTED:
			if (!(e->flags & (BW_ZIP_FLAG_ENCRYPTED | BW_ZIP_FLAG_STRONG_ENC | BW_ZIP_FLAG_MASKED_CD))) {
				stop(sink, err, e->cd_pos, "\"%s\" cannot be scanned: unsupported compression method",
				     shown);
				continue;
			}
			/*
			 * PyTorch's reader ignores the encryption flags and loads the bytes as plain
			 * (CVE-2025-1945). Read them that way: when the CRC then matches, the flag was a
			 * lie told to blind scanners; when it does not, the member may really be
			 * encrypted, so the scan is incomplete - and the plain reading is scanned anyway.
			 */
			err = bw_zip_extract_as_loader(&z, i, e->method == BW_ZIP_STORED ? UINT64_MAX : total_left,
			                               sink->lim->max_ratio, &zd);
			if (err == BW_ERR_NOMEM) {
				ret = err;
				goto out;
			}
			if ((err == BW_OK || err == BW_ERR_LIMIT) && zd.crc_ok) {
				say(sink, "zip.encryption-flag", e->cd_pos,
				    "\"%s\" is flagged encrypted (flags %04x) but holds plain data: PyTorch "
				    "ignores the flag and loads it; scanners that honour it skip it",
				    shown, e->flags);
			} else {
				stop(sink, BW_ERR_UNSUPPORTED, e->cd_pos,
				     "\"%s\" cannot be fully scanned: it is encrypted (its plain reading is "
				     "scanned too, as PyTorch would load it)", shown);
				if (zd.len == 0) {
					bw_free(zd.owned);
					continue;
				}
			}
			break;
		default:
			stop(sink, err, e->local_ok ? e->data_offset : e->lho, "\"%s\": data %s", shown,
			     err == BW_ERR_TRUNCATED ? "ends early" : "is corrupt or missing");
			if (zd.len == 0) {
				bw_free(zd.owned);
				continue;
			}
			break;
		}
		if (e->method != BW_ZIP_STORED)
			total_left -= zd.len <= total_left ? zd.len : total_left;
		ret = sink->member(sink->user, e->name, zd.data, zd.len, e->data_offset);
		bw_free(zd.owned);
		if (ret == BW_ERR_NOMEM)
			goto out;
		ret = BW_OK;
	}
	if (z.end < len) {
		ret = sink->member(sink->user, "<zip trailing>", data + z.end, (size_t)(len - z.end), z.end);
		if (ret != BW_ERR_NOMEM)
			ret = BW_OK;
	}
out:
	bw_zip_close(&z);
	return ret;
}
