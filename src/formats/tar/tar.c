/*
 * tar.c - tar reader (POSIX.1-2001 pax, ustar, GNU long names, v7).
 *
 * Follows CPython's tarfile (Lib/tarfile.py), the reader torch.load uses for
 * legacy tar checkpoints: 512-byte headers, checksum accepted as the unsigned
 * or signed byte sum, numbers in octal or GNU base-256, pax 'x' records
 * (path, linkpath, size) overriding the next header, 'g' records applying to
 * all later ones, GNU 'L'/'K' long names, end at the first all-zero block.
 * Differences that let one reader see what another misses are findings: a bad
 * checksum (tarfile stops there; we go on), a pax size that disagrees with the
 * header, duplicate names (tarfile's getmember() takes the last), content
 * after the end-of-archive blocks, traversal names and escaping links.
 * Must not: recurse, trust a size before checking it against the input,
 * keep more than one pending long name / pax set at a time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "formats/tar/tar.h"

#define BLK 512u
#define NAME_MAX_LEN 65536u   /* longest path accepted from pax/GNU records */
#define PAX_MAX (1u << 20)    /* largest pax/GNU long-name record parsed */

static int all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* tarfile.nti: base-256 when the top bit of the first byte is set, else octal. */
static int number(const uint8_t *f, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		if (f[0] == 0xff)
			return 0; /* negative */
		for (i = 1; i < n; i++) {
			if (v >> 56)
				return 0;
			v = (v << 8) | f[i];
		}
		if (f[0] & 0x7f) {
			if (n >= 8 || (v >> (8 * (n - 1))) != 0)
				return 0;
			v |= (uint64_t)(f[0] & 0x7f) << (8 * (n - 1));
		}
		*out = v;
		return 1;
	}
	while (i < n && (f[i] == ' ' || f[i] == 0))
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return 0;
		v = (v << 3) | (uint64_t)(f[i] - '0');
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != 0)
			return 0;
	*out = v;
	return 1;
}

static int checksum_ok(const uint8_t *h)
{
	uint64_t want;
	long su = 0, ss = 0;
	size_t i;

	if (!number(h + 148, 8, &want))
		return 0;
	for (i = 0; i < BLK; i++) {
		uint8_t c = (i >= 148 && i < 156) ? ' ' : h[i];

		su += c;
		ss += (signed char)c;
	}
	return (uint64_t)su == want || (ss >= 0 && (uint64_t)ss == want);
}

int bw_tar_detect(const uint8_t *data, size_t len)
{
	if (data == NULL || len < BLK)
		return 0;
	if (memcmp(data + 257, "ustar", 5) == 0)
		return checksum_ok(data) ? 90 : 60;
	/* v7 tar: only the checksum and a plausible name tell. */
	if (data[0] != 0 && checksum_ok(data) && memchr(data, 0, 100) != NULL)
		return 50;
	return 0;
}

struct tctx {
	const struct bw_fmt_sink *sink;
	struct bw_buf longname, longlink, paxpath, gpaxpath;
	int have_longname, have_paxpath, have_gpaxpath, have_paxsize, have_gpaxsize;
	uint64_t paxsize, gpaxsize;
	/* names seen, for duplicate detection (hash of name -> small open table) */
	uint64_t *hashes;
	size_t n_hashes, cap_hashes;
	int torch[4];
};

static void findf(struct tctx *t, const char *rule, uint64_t off, const char *fmt, ...) BW_PRINTF(4, 5);
static void findf(struct tctx *t, const char *rule, uint64_t off, const char *fmt, ...)
{
	char m[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	t->sink->finding(t->sink->user, rule, off, m);
}

static void stopf(struct tctx *t, enum bw_err why, uint64_t off, const char *fmt, ...) BW_PRINTF(4, 5);
static void stopf(struct tctx *t, enum bw_err why, uint64_t off, const char *fmt, ...)
{
	char m[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	t->sink->incomplete(t->sink->user, why, off, m);
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

/* Parse pax records "LEN key=value\n" (POSIX pax, extended header records). */
static enum bw_err pax(struct tctx *t, const uint8_t *d, size_t n, uint64_t off, int global)
{
	size_t i = 0;
	struct bw_buf *path = global ? &t->gpaxpath : &t->paxpath;

	while (i < n) {
		size_t rec = 0, j = i, k, eq;

		if (d[i] == 0)
			break; /* NUL padding */
		while (j < n && d[j] >= '0' && d[j] <= '9' && rec < PAX_MAX)
			rec = rec * 10 + (size_t)(d[j++] - '0');
		if (j >= n || d[j] != ' ' || rec <= j - i + 1 || rec > n - i || d[i + rec - 1] != '\n') {
			findf(t, "tar.header-malformed", off + i, "malformed pax record");
			return BW_OK;
		}
		k = j + 1;
		for (eq = k; eq < i + rec - 1 && d[eq] != '='; eq++)
			;
		if (eq < i + rec - 1) {
			const char *key = (const char *)d + k;
			size_t klen = eq - k, vlen = i + rec - 1 - (eq + 1);
			const uint8_t *val = d + eq + 1;

			if (klen == 4 && memcmp(key, "path", 4) == 0) {
				path->len = 0;
				if (bw_buf_append(path, val, vlen) != BW_OK) {
					findf(t, "tar.header-malformed", off + i, "pax path longer than %u bytes",
					      NAME_MAX_LEN);
				} else if (global) {
					t->have_gpaxpath = 1;
				} else {
					t->have_paxpath = 1;
				}
			} else if (klen == 4 && memcmp(key, "size", 4) == 0) {
				uint64_t v = 0;
				size_t q;
				int ok = vlen > 0 && vlen < 20;

				for (q = 0; ok && q < vlen; q++) {
					if (val[q] < '0' || val[q] > '9')
						ok = 0;
					else
						v = v * 10 + (uint64_t)(val[q] - '0');
				}
				if (!ok) {
					findf(t, "tar.header-malformed", off + i, "pax size is not a number");
				} else if (global) {
					t->gpaxsize = v;
					t->have_gpaxsize = 1;
				} else {
					t->paxsize = v;
					t->have_paxsize = 1;
				}
			} else if (klen >= 10 && memcmp(key, "GNU.sparse", 10) == 0) {
				stopf(t, BW_ERR_UNSUPPORTED, off + i, "GNU sparse files are not read");
			}
		}
		i += rec;
	}
	return BW_OK;
}

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h;
}

/*
 * 1 when the name's hash was seen before (open addressing, load <= 1/2;
 * a false positive needs a 64-bit collision).
 */
static int seen_before(struct tctx *t, const char *name, enum bw_err *err)
{
	uint64_t h = fnv(name) | 1; /* 0 marks an empty slot */
	size_t i, mask;

	if ((t->n_hashes + 1) * 2 > t->cap_hashes) {
		size_t nc = t->cap_hashes ? t->cap_hashes * 2 : 64, k;
		uint64_t *nh = bw_calloc(nc, sizeof *nh);

		if (nh == NULL) {
			*err = BW_ERR_NOMEM;
			return 0;
		}
		for (k = 0; k < t->cap_hashes; k++) {
			if (t->hashes[k] == 0)
				continue;
			for (i = (size_t)t->hashes[k] & (nc - 1); nh[i] != 0; i = (i + 1) & (nc - 1))
				;
			nh[i] = t->hashes[k];
		}
		bw_free(t->hashes);
		t->hashes = nh;
		t->cap_hashes = nc;
	}
	mask = t->cap_hashes - 1;
	for (i = (size_t)h & mask; t->hashes[i] != 0; i = (i + 1) & mask)
		if (t->hashes[i] == h)
			return 1;
	t->hashes[i] = h;
	t->n_hashes++;
	return 0;
}

enum bw_err bw_tar_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink)
{
	struct tctx t;
	struct bw_buf name;
	size_t pos = 0;
	uint32_t members = 0;
	enum bw_err ret = BW_OK;
	int ended = 0;

	if (sink == NULL || (data == NULL && len > 0))
		return BW_ERR_ARG;
	memset(&t, 0, sizeof t);
	t.sink = sink;
	bw_buf_init(&t.longname, NAME_MAX_LEN);
	bw_buf_init(&t.longlink, NAME_MAX_LEN);
	bw_buf_init(&t.paxpath, NAME_MAX_LEN);
	bw_buf_init(&t.gpaxpath, NAME_MAX_LEN);
	bw_buf_init(&name, NAME_MAX_LEN + 256);

	while (pos < len) {
		const uint8_t *h = data + pos;
		uint64_t size, hsize = 0, dsize;
		uint8_t type;
		int hsize_ok;
		size_t dstart;

		if (len - pos < BLK) {
			stopf(&t, BW_ERR_TRUNCATED, pos, "tar header cut short (%zu bytes)", len - pos);
			break;
		}
		if (all_zero(h, BLK)) {
			ended = 1;
			break;
		}
		if (!checksum_ok(h)) {
			if (pos == 0 && memcmp(h + 257, "ustar", 5) != 0) {
				stopf(&t, BW_ERR_MALFORMED, 0, "not a tar archive (bad header checksum)");
				break;
			}
			findf(&t, "tar.bad-checksum", pos + 148,
			      "header checksum is wrong: Python's tarfile stops reading here, other tools go on");
		}
		type = h[156];
		if (type == 'X') /* Solaris extended header: tarfile reads it as pax */
			type = 'x';
		hsize_ok = number(h + 124, 12, &hsize);
		size = hsize;
		if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
			if (!hsize_ok || hsize > PAX_MAX) {
				stopf(&t, hsize_ok ? BW_ERR_LIMIT : BW_ERR_MALFORMED, pos + 124,
				      "extended header of size %llu not read", (unsigned long long)hsize);
				break;
			}
		} else {
			if (t.have_paxsize)
				size = t.paxsize;
			else if (t.have_gpaxsize)
				size = t.gpaxsize;
			if ((t.have_paxsize || t.have_gpaxsize) && hsize_ok && hsize != 0 && hsize != size)
				findf(&t, "tar.size-mismatch", pos + 124,
				      "pax size %llu overrides header size %llu: readers that ignore pax see "
				      "different members",
				      (unsigned long long)size, (unsigned long long)hsize);
			if (!hsize_ok && !t.have_paxsize && !t.have_gpaxsize) {
				stopf(&t, BW_ERR_MALFORMED, pos + 124, "header size field is not a number");
				break;
			}
		}
		/* Types without data: links, devices, directories, fifos (tarfile: no data). */
		dsize = (type == '1' || type == '2' || type == '3' || type == '4' || type == '5' ||
		         type == '6')
			        ? 0
			        : size;
		dstart = pos + BLK;
		if (dsize > len - dstart) {
			stopf(&t, BW_ERR_TRUNCATED, dstart, "member data (%llu bytes) runs past the end",
			      (unsigned long long)dsize);
			dsize = len - dstart;
			ended = -1;
		}
		if (type == 'x' || type == 'g') {
			ret = pax(&t, data + dstart, (size_t)dsize, dstart, type == 'g');
			if (ret != BW_OK)
				goto out;
		} else if (type == 'L' || type == 'K') {
			struct bw_buf *b = type == 'L' ? &t.longname : &t.longlink;
			size_t n = (size_t)dsize;

			while (n > 0 && data[dstart + n - 1] == 0)
				n--;
			b->len = 0;
			if (bw_buf_append(b, data + dstart, n) != BW_OK)
				findf(&t, "tar.header-malformed", pos, "GNU long name over %u bytes", NAME_MAX_LEN);
			else if (type == 'L')
				t.have_longname = 1;
		} else {
			char *nm;
			enum bw_err e = BW_OK;

			/* name: pax path > GNU long name > ustar prefix "/" name */
			name.len = 0;
			if (t.have_paxpath || t.have_gpaxpath) {
				const struct bw_buf *p = t.have_paxpath ? &t.paxpath : &t.gpaxpath;

				e = bw_buf_append(&name, p->data, p->len);
			} else if (t.have_longname) {
				e = bw_buf_append(&name, t.longname.data, t.longname.len);
			} else {
				size_t nl = strnlen((const char *)h, 100);

				if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345] != 0) {
					e = bw_buf_append(&name, h + 345, strnlen((const char *)h + 345, 155));
					if (e == BW_OK)
						e = bw_buf_putc(&name, '/');
				}
				if (e == BW_OK)
					e = bw_buf_append(&name, h, nl);
			}
			if (e == BW_OK)
				e = bw_buf_putc(&name, 0);
			if (e == BW_ERR_NOMEM) {
				ret = e;
				goto out;
			}
			nm = name.data != NULL ? (char *)name.data : (char *)"";
			if (e != BW_OK)
				nm = (char *)"<tar name too long>";
			if (bad_path(nm))
				findf(&t, "tar.path-traversal", pos, "member \"%.200s\" escapes the extraction directory",
				      nm);
			if (type == '1' || type == '2') {
				char link[101];

				memcpy(link, h + 157, 100);
				link[100] = 0;
				if (bad_path(t.longlink.len ? (const char *)t.longlink.data : link))
					findf(&t, "tar.link-escape", pos, "%s \"%.100s\" points outside the archive: %.100s",
					      type == '1' ? "hard link" : "symlink", nm,
					      t.longlink.len ? (const char *)t.longlink.data : link);
			}
			if (type == 'S') {
				stopf(&t, BW_ERR_UNSUPPORTED, pos, "GNU sparse member \"%.200s\" not read", nm);
			} else if (strchr("123456", type) == NULL || type == 0) {
				/* regular, contiguous, and every type tarfile does not know
				 * (it extracts those as regular files) */
				e = BW_OK;
				if (seen_before(&t, nm, &e))
					findf(&t, "tar.duplicate-name", pos,
					      "\"%.200s\" appears more than once: tarfile's getmember() returns the last",
					      nm);
				if (e == BW_ERR_NOMEM) {
					ret = e;
					goto out;
				}
				if (++members > sink->lim->max_members) {
					stopf(&t, BW_ERR_LIMIT, pos, "more than %u members: the rest is not scanned",
					      sink->lim->max_members);
					break;
				}
				if (strcmp(nm, "sys_info") == 0) t.torch[0] = 1;
				if (strcmp(nm, "pickle") == 0) t.torch[1] = 1;
				if (strcmp(nm, "storages") == 0) t.torch[2] = 1;
				if (strcmp(nm, "tensors") == 0) t.torch[3] = 1;
				ret = sink->member(sink->user, nm, data + dstart, (size_t)dsize, dstart);
				if (ret == BW_ERR_NOMEM)
					goto out;
				ret = BW_OK;
			}
			t.have_longname = 0;
			t.have_paxpath = 0;
			t.have_paxsize = 0;
			t.longlink.len = 0;
		}
		if (ended < 0)
			break;
		/* data is padded to a whole block */
		if (dsize > len - dstart - 0 || (dsize + BLK - 1) / BLK * BLK > len - dstart) {
			pos = len;
			break;
		}
		pos = dstart + (size_t)((dsize + BLK - 1) / BLK * BLK);
	}
	if (ended == 1) {
		size_t k;

		for (k = pos; k < len && data[k] == 0; k++)
			;
		if (k < len) {
			findf(&t, "tar.trailing-data", k,
			      "%zu bytes of content after the end-of-archive marker: tarfile never reads them",
			      len - k);
			ret = sink->member(sink->user, "<tar trailing>", data + k, len - k, k);
			if (ret != BW_ERR_NOMEM)
				ret = BW_OK;
		}
	}
	if (sink->format != NULL)
		sink->format(sink->user, (t.torch[1] && t.torch[2] && t.torch[3]) ? "pytorch-tar" : "tar");
out:
	bw_buf_release(&name);
	bw_buf_release(&t.longname);
	bw_buf_release(&t.longlink);
	bw_buf_release(&t.paxpath);
	bw_buf_release(&t.gpaxpath);
	bw_free(t.hashes);
	return ret;
}
