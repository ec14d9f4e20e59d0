/*
 * archive_fmt.c - 7z and other archive kinds through libarchive, read from
 * memory. Members are decoded under the caps of sink->lim (total output,
 * ratio of output to the whole archive's size, member count) and handed back;
 * encrypted members make the scan incomplete.
 * Must not: let libarchive touch the file system (read-only from memory, no
 * disk extraction), enable libarchive's zip/tar/filter readers (ours read those
 * as the loaders do), or hand back more than the cap.
 * Known gap: libarchive runs in-process and allocates with its own malloc
 * (docs/containers.md).
 */
#include <archive.h>
#include <archive_entry.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "formats/archive/archive_fmt.h"
#include "formats/compress/codec.h"

enum akind { A_NONE, A_7Z, A_RAR, A_CAB, A_ISO, A_CPIO, A_XAR, A_AR };

static enum akind kind_of(const uint8_t *d, size_t len)
{
	if (len >= 6 && memcmp(d, "7z\xbc\xaf\x27\x1c", 6) == 0)
		return A_7Z;
	if (len >= 7 && memcmp(d, "Rar!\x1a\x07", 6) == 0 && (d[6] == 0 || d[6] == 1))
		return A_RAR;
	if (len >= 8 && memcmp(d, "MSCF\0\0\0\0", 8) == 0)
		return A_CAB;
	if (len >= 0x8006 && memcmp(d + 0x8001, "CD001", 5) == 0)
		return A_ISO;
	if (len >= 6 && (memcmp(d, "070701", 6) == 0 || memcmp(d, "070702", 6) == 0 ||
	                 memcmp(d, "070707", 6) == 0))
		return A_CPIO;
	if (len >= 4 && memcmp(d, "xar!", 4) == 0)
		return A_XAR;
	if (len >= 8 && memcmp(d, "!<arch>\n", 8) == 0)
		return A_AR;
	return A_NONE;
}

int bw_archive_detect(const uint8_t *data, size_t len)
{
	if (data == NULL)
		return 0;
	switch (kind_of(data, len)) {
	case A_7Z: case A_RAR: return 90;
	case A_CAB: return 85;
	case A_ISO: case A_CPIO: case A_XAR: return 80;
	case A_AR: return 70;
	case A_NONE: break;
	}
	return 0;
}

static const char *kind_name(enum akind k)
{
	static const char *const n[] = {"archive", "7z", "rar", "cab", "iso9660", "cpio", "xar", "ar"};

	return n[k];
}

static void stopf(const struct bw_fmt_sink *s, enum bw_err why, uint64_t off, const char *fmt, ...)
	BW_PRINTF(4, 5);
static void stopf(const struct bw_fmt_sink *s, enum bw_err why, uint64_t off, const char *fmt, ...)
{
	char m[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	s->incomplete(s->user, why, off, m);
}

static void findf(const struct bw_fmt_sink *s, const char *rule, uint64_t off, const char *fmt, ...)
	BW_PRINTF(4, 5);
static void findf(const struct bw_fmt_sink *s, const char *rule, uint64_t off, const char *fmt, ...)
{
	char m[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	s->finding(s->user, rule, off, m);
}

static int bad_path(const char *s)
{
	const char *p = s;

	if (s[0] == '/' || s[0] == '\\')
		return 1;
	while (*p) {
		const char *q = p;

		while (*q && *q != '/' && *q != '\\')
			q++;
		if (q - p == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p = *q ? q + 1 : q;
	}
	return 0;
}

static int says_encrypted(const char *msg)
{
	return msg != NULL && (strstr(msg, "ncrypt") != NULL || strstr(msg, "assphrase") != NULL);
}

enum bw_err bw_archive_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	struct archive *a = NULL;
	struct archive_entry *ent;
	enum akind k;
	uint64_t total_left, cap;
	uint32_t members = 0;
	int ratio_bound, r;
	enum bw_err ret = BW_OK;
	uint8_t chunk[16384];

	if (sink == NULL || (data == NULL && len > 0))
		return BW_ERR_ARG;
	k = kind_of(data, len);
	if (k == A_NONE) {
		stopf(sink, BW_ERR_MALFORMED, 0, "not an archive kind read through libarchive");
		return BW_OK;
	}
	if (sink->format != NULL)
		sink->format(sink->user, kind_name(k));
	a = archive_read_new();
	if (a == NULL)
		return BW_ERR_NOMEM;
	switch (k) {
	case A_7Z: archive_read_support_format_7zip(a); break;
	case A_RAR: archive_read_support_format_rar(a); archive_read_support_format_rar5(a); break;
	case A_CAB: archive_read_support_format_cab(a); break;
	case A_ISO: archive_read_support_format_iso9660(a); break;
	case A_CPIO: archive_read_support_format_cpio(a); break;
	case A_XAR: archive_read_support_format_xar(a); break;
	case A_AR: archive_read_support_format_ar(a); break;
	case A_NONE: break;
	}
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		stopf(sink, BW_ERR_MALFORMED, 0, "%s: %s", kind_name(k), archive_error_string(a));
		goto out;
	}
	total_left = sink->lim->max_total_unpacked;
	for (;;) {
		struct bw_buf b;
		const char *name;
		char nbuf[64];
		la_ssize_t got;
		int stopped = 0;
		enum bw_err e = BW_OK;

		r = archive_read_next_header(a, &ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			const char *msg = archive_error_string(a);

			stopf(sink, says_encrypted(msg) ? BW_ERR_UNSUPPORTED : BW_ERR_MALFORMED, BW_NO_OFFSET,
			      "%s: %s", kind_name(k), msg != NULL ? msg : "cannot read the next entry");
			break;
		}
		if (++members > sink->lim->max_members) {
			stopf(sink, BW_ERR_LIMIT, BW_NO_OFFSET, "more than %u members: the rest is not scanned",
			      sink->lim->max_members);
			break;
		}
		name = archive_entry_pathname(ent);
		if (name == NULL) {
			snprintf(nbuf, sizeof nbuf, "<member %u>", members);
			name = nbuf;
		}
		if (bad_path(name))
			findf(sink, "archive.path-traversal", BW_NO_OFFSET,
			      "member \"%.200s\" escapes the extraction directory", name);
		if (archive_entry_filetype(ent) != AE_IFREG)
			continue;
		if (archive_entry_is_encrypted(ent)) {
			stopf(sink, BW_ERR_UNSUPPORTED, BW_NO_OFFSET, "\"%.200s\" is encrypted and cannot be scanned",
			      name);
			continue;
		}
		/* 7z/RAR solid blocks have no per-member compressed size: bound by the archive's. */
		cap = bw_codec_cap(total_left, sink->lim->max_ratio, len, &ratio_bound);
		bw_buf_init(&b, cap >= SIZE_MAX / 2 ? 0 : (size_t)cap);
		while ((got = archive_read_data(a, chunk, sizeof chunk)) > 0) {
			size_t room = (size_t)(cap - b.len);

			if ((size_t)got > room) {
				e = bw_buf_append(&b, chunk, room);
				if (e == BW_OK)
					e = BW_ERR_LIMIT;
				break;
			}
			e = bw_buf_append(&b, chunk, (size_t)got);
			if (e != BW_OK)
				break;
		}
		if (e == BW_ERR_NOMEM) {
			bw_buf_release(&b);
			ret = e;
			goto out;
		}
		if (e == BW_ERR_LIMIT) {
			if (ratio_bound)
				findf(sink, "archive.bomb", BW_NO_OFFSET,
				      "\"%.200s\" expands past %u times the archive's %zu bytes", name,
				      sink->lim->max_ratio, len);
			stopf(sink, BW_ERR_LIMIT, BW_NO_OFFSET,
			      "\"%.200s\": output cap reached after %zu bytes; the rest is not scanned", name, b.len);
			stopped = 1;
		} else if (got < 0) {
			const char *msg = archive_error_string(a);

			stopf(sink, says_encrypted(msg) ? BW_ERR_UNSUPPORTED : BW_ERR_MALFORMED, BW_NO_OFFSET,
			      "\"%.200s\": %s", name, msg != NULL ? msg : "data cannot be read");
			stopped = got == ARCHIVE_FATAL ? 2 : 1;
		}
		total_left -= b.len <= total_left ? b.len : total_left;
		if (b.len > 0 || !stopped)
			ret = sink->member(sink->user, name, b.data != NULL ? b.data : (const uint8_t *)"", b.len,
			                   BW_NO_OFFSET);
		bw_buf_release(&b);
		if (ret == BW_ERR_NOMEM)
			goto out;
		ret = BW_OK;
		if (stopped == 2 || total_left == 0)
			break;
	}
out:
	archive_read_free(a);
	return ret;
}
