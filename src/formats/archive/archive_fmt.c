/*
 * archive_fmt.c - 7z and other archive kinds through libarchive, read from
 * memory. Members are decoded under the caps of sink->lim (total output,
 * ratio of output to the whole archive's size, member count) and handed back;
 * encrypted members make the scan incomplete.
 *
 * libarchive is a third-party parser of hostile data: it runs only in a
 * confined worker child (core/worker.h: rlimits, seccomp allow-list, time
 * limit; started before bulwark scan sandboxes itself), and its reply is a
 * list of small frames the scanner validates (bounded lengths, finding codes
 * instead of rule names). A child that dies (a libarchive crash, a memory or
 * CPU limit) is a finding and makes the scan incomplete.
 * Must not: let libarchive touch the file system, enable libarchive's
 * zip/tar/filter readers (ours read those as the loaders do), hand back more
 * than the cap, or trust anything the child says beyond its framing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "formats/archive/archive_fmt.h"
#include "core/codec.h"
#include "core/larchive.h"
#include "core/worker.h"

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

enum bw_err bw_archive_scan_inproc(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
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
	if (bw_larchive_load() != 0) {
		stopf(sink, BW_ERR_UNSUPPORTED, 0, "%s: %s", kind_name(k), bw_larchive_error());
		return BW_OK;
	}
	a = bw_la.archive_read_new();
	if (a == NULL)
		return BW_ERR_NOMEM;
	switch (k) {
	case A_7Z: bw_la.archive_read_support_format_7zip(a); break;
	case A_RAR: bw_la.archive_read_support_format_rar(a); bw_la.archive_read_support_format_rar5(a); break;
	case A_CAB: bw_la.archive_read_support_format_cab(a); break;
	case A_ISO: bw_la.archive_read_support_format_iso9660(a); break;
	case A_CPIO: bw_la.archive_read_support_format_cpio(a); break;
	case A_XAR: bw_la.archive_read_support_format_xar(a); break;
	case A_AR: bw_la.archive_read_support_format_ar(a); break;
	case A_NONE: break;
	}
	if (bw_la.archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		stopf(sink, BW_ERR_MALFORMED, 0, "%s: %s", kind_name(k), bw_la.archive_error_string(a));
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

		r = bw_la.archive_read_next_header(a, &ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			const char *msg = bw_la.archive_error_string(a);

			stopf(sink, says_encrypted(msg) ? BW_ERR_UNSUPPORTED : BW_ERR_MALFORMED, BW_NO_OFFSET,
			      "%s: %s", kind_name(k), msg != NULL ? msg : "cannot read the next entry");
			break;
		}
		if (++members > sink->lim->max_members) {
			stopf(sink, BW_ERR_LIMIT, BW_NO_OFFSET, "more than %u members: the rest is not scanned",
			      sink->lim->max_members);
			break;
		}
		name = bw_la.archive_entry_pathname(ent);
		if (name == NULL) {
			snprintf(nbuf, sizeof nbuf, "<member %u>", members);
			name = nbuf;
		}
		if (bad_path(name))
			findf(sink, "archive.path-traversal", BW_NO_OFFSET,
			      "member \"%.200s\" escapes the extraction directory", name);
		/* 7z entries written on Windows carry no Unix file type (0): they are files to an
		 * extractor (py7zr, 7z), so they are scanned; only directories, links and devices
		 * are skipped */
		if (bw_la.archive_entry_filetype(ent) != AE_IFREG && bw_la.archive_entry_filetype(ent) != 0)
			continue;
		if (bw_la.archive_entry_is_encrypted(ent)) {
			stopf(sink, BW_ERR_UNSUPPORTED, BW_NO_OFFSET, "\"%.200s\" is encrypted and cannot be scanned",
			      name);
			continue;
		}
		/* 7z/RAR solid blocks have no per-member compressed size: bound by the archive's. */
		cap = bw_codec_cap(total_left, sink->lim->max_ratio, len, &ratio_bound);
		bw_buf_init(&b, cap >= SIZE_MAX / 2 ? 0 : (size_t)cap);
		while ((got = bw_la.archive_read_data(a, chunk, sizeof chunk)) > 0) {
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
			const char *msg = bw_la.archive_error_string(a);

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
	bw_la.archive_read_free(a);
	return ret;
}

/* ---- the confined worker (core/worker.h) ---- */

/*
 * Request: u64 max_total_unpacked, u32 max_ratio, u32 max_members,
 * u32 max_depth, u32 depth, then the archive bytes.
 * Reply: frames (type, code, why, offset, string length, data length, string,
 * data), ending with an 'E' frame. The scanner validates every frame: bounded
 * lengths, finding codes rather than rule names, known types only.
 */
struct frame {
	uint8_t type; /* 'F' finding, 'I' incomplete, 'M' member, 'T' format, 'E' end */
	uint8_t code; /* finding: 1 path traversal, 2 bomb */
	uint16_t pad;
	uint32_t why;
	uint64_t off;
	uint32_t slen;
	uint32_t pad2;
	uint64_t dlen;
};

#define STR_MAX 4096u
#define REQ_HDR 24u
/* Wall-clock bound on one confined read (a child blocked forever is killed). */
#define WALL_MS (120 * 1000)

struct wchild {
	struct bw_buf *out;
	int broken; /* the reply outgrew the worker's cap */
};

static void send_frame(struct wchild *c, uint8_t type, uint8_t code, uint32_t why, uint64_t off,
                       const char *str, const uint8_t *data, size_t dlen)
{
	struct frame f;
	size_t sl = str != NULL ? strlen(str) : 0;

	if (c->broken)
		return;
	if (sl > STR_MAX)
		sl = STR_MAX;
	memset(&f, 0, sizeof f);
	f.type = type;
	f.code = code;
	f.why = why;
	f.off = off;
	f.slen = (uint32_t)sl;
	f.dlen = dlen;
	if (bw_buf_append(c->out, &f, sizeof f) != BW_OK || (sl > 0 && bw_buf_append(c->out, str, sl) != BW_OK) ||
	    (dlen > 0 && bw_buf_append(c->out, data, dlen) != BW_OK))
		c->broken = 1;
}

static void ch_finding(void *u, const char *rule, uint64_t off, const char *msg)
{
	uint8_t code = strcmp(rule, "archive.path-traversal") == 0 ? 1 : strcmp(rule, "archive.bomb") == 0 ? 2 : 0;

	send_frame(u, 'F', code, 0, off, msg, NULL, 0);
}

static void ch_incomplete(void *u, enum bw_err why, uint64_t off, const char *msg)
{
	send_frame(u, 'I', 0, (uint32_t)why, off, msg, NULL, 0);
}

static enum bw_err ch_member(void *u, const char *name, const uint8_t *data, size_t len, uint64_t off)
{
	struct wchild *c = u;

	send_frame(c, 'M', 0, 0, off, name, data, len);
	return c->broken ? BW_ERR_NOMEM : BW_OK;
}

static void ch_format(void *u, const char *f)
{
	send_frame(u, 'T', 0, 0, 0, f, NULL, 0);
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = (v << 8) | p[n];
	return v;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int bw_archive_worker(const uint8_t *req, size_t len, struct bw_buf *reply)
{
	struct wchild c = {reply, 0};
	struct bw_fmt_sink s;
	struct bw_limits lim;

	if (len < REQ_HDR)
		return 1;
	bw_limits_default(&lim);
	lim.max_total_unpacked = get_le(req, 8);
	lim.max_ratio = (uint32_t)get_le(req + 8, 4);
	lim.max_members = (uint32_t)get_le(req + 12, 4);
	lim.max_depth = (uint32_t)get_le(req + 16, 4);
	memset(&s, 0, sizeof s);
	s.user = &c;
	s.finding = ch_finding;
	s.incomplete = ch_incomplete;
	s.member = ch_member;
	s.format = ch_format;
	s.lim = &lim;
	s.depth = (unsigned)get_le(req + 20, 4);
	if (bw_archive_scan_inproc(req + REQ_HDR, len - REQ_HDR, &s) != BW_OK || c.broken) {
		reply->len = 0;
		if (bw_buf_puts(reply, "the archive's contents are larger than the confined reader's reply "
		                "limit") != BW_OK)
			reply->len = 0;
		return 1;
	}
	send_frame(&c, 'E', 0, 0, 0, NULL, NULL, 0);
	return c.broken ? 1 : 0;
}

/* ---- the scanner side ---- */

enum bw_err bw_archive_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	uint8_t *req, *reply = NULL;
	size_t reply_len = 0, pos = 0;
	enum bw_worker_status st;
	enum bw_err ret = BW_OK;
	char str[STR_MAX + 1];
	int saw_end = 0, protocol_error = 0;

	if (sink == NULL || (data == NULL && len > 0))
		return BW_ERR_ARG;
	if (kind_of(data, len) == A_NONE) {
		stopf(sink, BW_ERR_MALFORMED, 0, "not an archive kind read through libarchive");
		return BW_OK;
	}
	if (len > SIZE_MAX - REQ_HDR)
		return BW_ERR_LIMIT;
	req = bw_malloc(len + REQ_HDR);
	if (req == NULL)
		return BW_ERR_NOMEM;
	put_le(req, sink->lim->max_total_unpacked, 8);
	put_le(req + 8, sink->lim->max_ratio, 4);
	put_le(req + 12, sink->lim->max_members, 4);
	put_le(req + 16, sink->lim->max_depth, 4);
	put_le(req + 20, sink->depth, 4);
	if (len)
		memcpy(req + REQ_HDR, data, len);
	st = bw_worker_call(BW_WORKER_ARCHIVE, req, len + REQ_HDR, WALL_MS, &reply, &reply_len);
	bw_free(req);
	switch (st) {
	case BW_WORKER_UNAVAILABLE:
		stopf(sink, BW_ERR_UNSUPPORTED, BW_NO_OFFSET,
		      "archives of this kind are read only by a confined worker, and none could be started");
		return BW_OK;
	case BW_WORKER_CRASHED:
		findf(sink, "archive.worker-crashed", BW_NO_OFFSET,
		      "the confined archive reader crashed or hit its memory, CPU or system-call limit");
		stopf(sink, BW_ERR_LIMIT, BW_NO_OFFSET, "the confined archive reader did not finish");
		return BW_OK;
	case BW_WORKER_TIMEOUT:
		findf(sink, "archive.worker-timeout", BW_NO_OFFSET,
		      "the confined archive reader ran longer than %d seconds and was stopped", WALL_MS / 1000);
		stopf(sink, BW_ERR_LIMIT, BW_NO_OFFSET, "the confined archive reader timed out");
		return BW_OK;
	case BW_WORKER_REFUSED:
		stopf(sink, BW_ERR_LIMIT, BW_NO_OFFSET, "%s", reply ? (const char *)reply : "archive not read");
		bw_free(reply);
		return BW_OK;
	case BW_WORKER_OK:
		break;
	}
	while (pos < reply_len && ret == BW_OK && !protocol_error && !saw_end) {
		struct frame f;
		const uint8_t *dp;

		if (reply_len - pos < sizeof f) {
			protocol_error = 1;
			break;
		}
		memcpy(&f, reply + pos, sizeof f);
		pos += sizeof f;
		if (f.slen > STR_MAX || f.slen > reply_len - pos || (f.type != 'M' && f.dlen != 0) ||
		    f.dlen > reply_len - pos - f.slen) {
			protocol_error = 1;
			break;
		}
		memcpy(str, reply + pos, f.slen);
		str[f.slen] = '\0';
		pos += f.slen;
		dp = reply + pos;
		pos += (size_t)f.dlen;
		if (strlen(str) != f.slen) { /* an embedded NUL: not something our worker sends */
			protocol_error = 1;
			break;
		}
		switch (f.type) {
		case 'F':
			if (f.code == 1 || f.code == 2)
				sink->finding(sink->user, f.code == 1 ? "archive.path-traversal" : "archive.bomb",
				              f.off, str);
			else
				protocol_error = 1;
			break;
		case 'I':
			if (f.why != BW_ERR_TRUNCATED && f.why != BW_ERR_MALFORMED && f.why != BW_ERR_LIMIT &&
			    f.why != BW_ERR_UNSUPPORTED)
				f.why = BW_ERR_MALFORMED;
			sink->incomplete(sink->user, (enum bw_err)f.why, f.off, str);
			break;
		case 'M':
			ret = sink->member(sink->user, str, f.dlen ? dp : (const uint8_t *)"", (size_t)f.dlen,
			                   f.off);
			if (ret != BW_ERR_NOMEM)
				ret = BW_OK;
			break;
		case 'T':
			if (sink->format != NULL && f.slen > 0 && f.slen < 16)
				sink->format(sink->user, str);
			break;
		case 'E':
			saw_end = 1;
			break;
		default:
			protocol_error = 1;
		}
	}
	bw_free(reply);
	if (ret == BW_OK && (protocol_error || !saw_end))
		stopf(sink, BW_ERR_MALFORMED, BW_NO_OFFSET,
		      "the confined archive reader's reply was %s", protocol_error ? "malformed" : "cut short");
	return ret;
}
