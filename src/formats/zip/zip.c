/*
 * zip.c - the zip reader of zip.h: EOCD search, ZIP64, central directory,
 * local headers, structural anomaly checks, capped extraction.
 *
 * Section numbers cite PKWARE's APPNOTE.TXT 6.3.10. The reading rules follow
 * miniz as PyTorchStreamReader uses it (see zip.h); where Python's zipfile
 * reads differently the difference is reported, never silently resolved.
 * Must not: trust any size or offset before checking it against the input,
 * recurse, allocate per entry outside the arena, or decode past a cap.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <isa-l/crc.h>

#include "core/alloc.h"
#include "core/reader.h"
#include "core/codec.h"
#include "formats/zip/zip.h"

#define SIG_LOCAL  0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD   0x06054b50u
#define SIG_Z64LOC 0x07064b50u
#define SIG_Z64EOCD 0x06064b50u
#define EOCD_LEN   22u
#define Z64LOC_LEN 20u
#define Z64EOCD_LEN 56u
#define CEN_LEN    46u
#define LOC_LEN    30u
/* miniz gives up searching ~64 KiB (the largest comment) before the end. */
#define EOCD_WINDOW (65535u + EOCD_LEN)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
}

static void anomaly(const struct bw_zip_opts *o, const char *rule, uint64_t off, const char *fmt, ...)
	BW_PRINTF(4, 5);
static void anomaly(const struct bw_zip_opts *o, const char *rule, uint64_t off, const char *fmt, ...)
{
	char m[256];
	va_list ap;

	if (o->anomaly == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	o->anomaly(o->user, rule, off, m);
}

static void incomplete(const struct bw_zip_opts *o, enum bw_err why, uint64_t off, const char *fmt,
                       ...) BW_PRINTF(4, 5);
static void incomplete(const struct bw_zip_opts *o, enum bw_err why, uint64_t off, const char *fmt, ...)
{
	char m[256];
	va_list ap;

	if (o->incomplete == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	o->incomplete(o->user, why, off, m);
}

/* Printable, bounded copy of a name for messages. */
static void shown(char *dst, size_t cap, const char *s, size_t n)
{
	size_t i, j = 0;

	for (i = 0; i < n && j + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f) {
			dst[j++] = (char)c;
		} else {
			snprintf(dst + j, cap - j, "\\x%02x", c);
			j += 4;
		}
	}
	if (i < n && j + 4 < cap) {
		memcpy(dst + j, "...", 3);
		j += 3;
	}
	dst[j] = 0;
}

/* Last EOCD signature with a full record after it, within the search window. */
static int find_eocd(const uint8_t *d, size_t len, size_t *pos)
{
	size_t i, lo;

	if (len < EOCD_LEN)
		return 0;
	lo = len - EOCD_LEN > EOCD_WINDOW ? len - EOCD_LEN - EOCD_WINDOW : 0;
	for (i = len - EOCD_LEN + 1; i-- > lo;) {
		if (le32(d + i) == SIG_EOCD) {
			*pos = i;
			return 1;
		}
	}
	return 0;
}

/* ZIP64 extended information extra field (APPNOTE 4.5.3), central or local. */
static void zip64_extra(const uint8_t *ex, size_t ex_len, uint64_t *usz, uint64_t *csz, uint64_t *lho,
                        int want_lho)
{
	struct bw_reader r;

	bw_rd_init(&r, ex, ex_len, 0);
	while (bw_rd_left(&r) >= 4) {
		uint16_t id = bw_rd_u16le(&r), n = bw_rd_u16le(&r);
		struct bw_reader f;

		bw_rd_sub(&r, n, &f);
		if (!bw_rd_ok(&r))
			return;
		if (id != 0x0001)
			continue;
		if (*usz == 0xffffffffu && bw_rd_left(&f) >= 8)
			*usz = bw_rd_u64le(&f);
		if (*csz == 0xffffffffu && bw_rd_left(&f) >= 8)
			*csz = bw_rd_u64le(&f);
		if (want_lho && *lho == 0xffffffffu && bw_rd_left(&f) >= 8)
			*lho = bw_rd_u64le(&f);
		return;
	}
}

static int has_traversal(const char *s, size_t n)
{
	size_t i, seg = 0;

	if (n == 0)
		return 0;
	if (s[0] == '/' || s[0] == '\\')
		return 1;
	if (n >= 2 && s[1] == ':' && ((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
		return 1;
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '/' || s[i] == '\\') {
			if (i - seg == 2 && s[seg] == '.' && s[seg + 1] == '.')
				return 1;
			seg = i + 1;
		}
	}
	return 0;
}

/* Read the local header of e; fill data_offset; report differences. */
static void read_local(struct bw_zip *z, struct bw_zip_entry *e, const struct bw_zip_opts *o)
{
	const uint8_t *d = z->data, *lh;
	uint16_t lflags, lmethod, lnlen, lxlen;
	uint32_t lcrc;
	uint64_t lcsz, lusz, dummy = 0, end;
	char nm[96];

	shown(nm, sizeof nm, e->name, e->name_len);
	if (e->lho > z->len || z->len - e->lho < LOC_LEN || le32(d + e->lho) != SIG_LOCAL) {
		incomplete(o, BW_ERR_MALFORMED, e->lho, "no local header for \"%s\" at its offset", nm);
		return;
	}
	lh = d + e->lho;
	lflags = le16(lh + 6);
	lmethod = le16(lh + 8);
	lcrc = le32(lh + 14);
	lcsz = le32(lh + 18);
	lusz = le32(lh + 22);
	lnlen = le16(lh + 26);
	lxlen = le16(lh + 28);
	if (z->len - e->lho - LOC_LEN < (uint64_t)lnlen + lxlen) {
		incomplete(o, BW_ERR_TRUNCATED, e->lho, "local header of \"%s\" runs past the end", nm);
		return;
	}
	e->local_ok = 1;
	e->data_offset = e->lho + LOC_LEN + lnlen + lxlen;
	if (__builtin_add_overflow(e->data_offset, e->comp_size, &end) || end > z->len) {
		e->data_end = z->len;
		e->data_complete = 0;
	} else {
		e->data_end = end;
		e->data_complete = 1;
	}
	/* Python's zipfile refuses a local name that differs; miniz never compares. */
	if (lnlen != e->name_len || memcmp(lh + LOC_LEN, e->name, lnlen) != 0) {
		char ln[96];

		shown(ln, sizeof ln, (const char *)lh + LOC_LEN, lnlen);
		anomaly(o, "zip.name-mismatch", e->lho,
		        "local header names \"%s\" but the central directory (what PyTorch uses) names \"%s\"",
		        ln, nm);
	}
	zip64_extra(lh + LOC_LEN + lnlen, lxlen, &lusz, &lcsz, &dummy, 0);
	if (lmethod != e->method || (lflags & BW_ZIP_FLAG_ENCRYPTED) != (e->flags & BW_ZIP_FLAG_ENCRYPTED))
		anomaly(o, "zip.header-mismatch", e->lho,
		        "\"%s\": local header method %u flags 0x%04x, central method %u flags 0x%04x", nm,
		        lmethod, lflags, e->method, e->flags);
	/* With a data descriptor (bit 3) the local fields may be zero (APPNOTE 4.4.4). */
	if (!(lflags & BW_ZIP_FLAG_DESCRIPTOR) &&
	    (lcrc != e->crc32 || lcsz != e->comp_size || lusz != e->uncomp_size))
		anomaly(o, "zip.size-mismatch", e->lho,
		        "\"%s\": local header says crc %08x size %llu/%llu, central says crc %08x size %llu/%llu",
		        nm, lcrc, (unsigned long long)lcsz, (unsigned long long)lusz, e->crc32,
		        (unsigned long long)e->comp_size, (unsigned long long)e->uncomp_size);
}

static int cmp_lho(const void *a, const void *b)
{
	const struct bw_zip_entry *x = *(const struct bw_zip_entry *const *)a;
	const struct bw_zip_entry *y = *(const struct bw_zip_entry *const *)b;

	return x->lho < y->lho ? -1 : x->lho > y->lho ? 1 : (x < y ? -1 : x > y);
}

static int name_cmp_ci(const struct bw_zip_entry *x, const struct bw_zip_entry *y)
{
	size_t i, n = x->name_len < y->name_len ? x->name_len : y->name_len;

	for (i = 0; i < n; i++) {
		int a = (unsigned char)x->name[i], b = (unsigned char)y->name[i];

		if (a >= 'A' && a <= 'Z')
			a += 32;
		if (b >= 'A' && b <= 'Z')
			b += 32;
		if (a != b)
			return a - b;
	}
	return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

static int cmp_name(const void *a, const void *b)
{
	const struct bw_zip_entry *x = *(const struct bw_zip_entry *const *)a;
	const struct bw_zip_entry *y = *(const struct bw_zip_entry *const *)b;
	int c = name_cmp_ci(x, y);

	return c != 0 ? c : (x < y ? -1 : x > y);
}

/* Overlapping entries, entries inside the central directory, duplicate names. */
static enum bw_err cross_checks(struct bw_zip *z, const struct bw_zip_opts *o)
{
	struct bw_zip_entry **v;
	size_t i, n = z->n_entries;
	uint64_t cd_end = z->cd_offset + z->cd_size;
	char a[96], b[96];

	if (n == 0)
		return BW_OK;
	v = bw_calloc(n, sizeof *v);
	if (v == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < n; i++)
		v[i] = &z->entries[i];
	qsort(v, n, sizeof *v, cmp_lho);
	z->prefix_len = v[0]->lho < z->cd_offset ? v[0]->lho : z->cd_offset;
	for (i = 0; i < n; i++) {
		struct bw_zip_entry *e = v[i];
		uint64_t e_end = e->local_ok ? e->data_end : e->lho > z->len ? e->lho : e->lho + LOC_LEN;

		shown(a, sizeof a, e->name, e->name_len);
		if (i + 1 < n && v[i + 1]->lho < e_end) {
			shown(b, sizeof b, v[i + 1]->name, v[i + 1]->name_len);
			anomaly(o, "zip.overlap", v[i + 1]->lho,
			        "\"%s\" (local header at %llu) lies inside the data of \"%s\" (%llu..%llu)", b,
			        (unsigned long long)v[i + 1]->lho, a, (unsigned long long)e->lho,
			        (unsigned long long)e_end);
		}
		if (e->lho < cd_end && e_end > z->cd_offset)
			anomaly(o, "zip.overlap", e->lho, "\"%s\" overlaps the central directory", a);
	}
	/* Duplicates: miniz looks names up case-insensitively, zipfile keeps the last. */
	qsort(v, n, sizeof *v, cmp_name);
	for (i = 0; i + 1 < n; i++) {
		if (name_cmp_ci(v[i], v[i + 1]) != 0)
			continue;
		shown(a, sizeof a, v[i + 1]->name, v[i + 1]->name_len);
		if (v[i]->name_len == v[i + 1]->name_len &&
		    memcmp(v[i]->name, v[i + 1]->name, v[i]->name_len) == 0)
			anomaly(o, "zip.duplicate-name", v[i + 1]->cd_pos,
			        "\"%s\" appears more than once: loaders disagree on which one they read", a);
		else
			anomaly(o, "zip.duplicate-name", v[i + 1]->cd_pos,
			        "\"%s\" differs from another name only by case: PyTorch's lookup ignores case", a);
	}
	bw_free(v);
	return BW_OK;
}

/*
 * Other EOCD signatures after the central directory (in a gap, the comment or
 * trailing bytes): a reader that searches differently (from the front, or
 * rejecting a record whose comment does not reach the end) picks another one.
 * Signatures inside member data are an archive's own business (a stored
 * nested zip) and are not looked at.
 */
static void extra_eocds(const struct bw_zip *z, const struct bw_zip_opts *o)
{
	const uint8_t *d = z->data;
	size_t i, lo = (size_t)(z->cd_offset + z->cd_size);

	for (i = lo; i + 4 <= z->len; i++) {
		if (i == z->eocd_offset || le32(d + i) != SIG_EOCD)
			continue;
		anomaly(o, "zip.multiple-eocd", i,
		        "another end-of-central-directory record at %zu (the one at %llu is used)", i,
		        (unsigned long long)z->eocd_offset);
		return;
	}
}

void bw_zip_close(struct bw_zip *z)
{
	if (z == NULL)
		return;
	bw_free(z->entries);
	z->entries = NULL;
	z->n_entries = 0;
	bw_arena_release(&z->arena);
}

enum bw_err bw_zip_open(struct bw_zip *z, const uint8_t *d, size_t len, const struct bw_zip_opts *o,
                        struct bw_diag *diag)
{
	size_t eocd, cap = 0;
	uint64_t cd_off, cd_size, count, disk, cd_disk, this_disk_count, comment_len, cd_end, pos;
	uint64_t cd_anchor;
	uint32_t max_entries;
	enum bw_err err = BW_OK;
	const uint8_t *p;

	bw_diag_clear(diag);
	if (z == NULL || o == NULL || (d == NULL && len > 0))
		return BW_ERR_ARG;
	memset(z, 0, sizeof *z);
	bw_arena_init(&z->arena, o->mem_budget > SIZE_MAX ? 0 : (size_t)o->mem_budget);
	z->data = d;
	z->len = len;
	max_entries = o->max_entries == 0 ? 1000000u : o->max_entries;

	if (!find_eocd(d, len, &eocd))
		return bw_diag_set(diag, BW_ERR_MALFORMED, len,
		                   "no end of central directory record in the last 64 KiB");
	p = d + eocd;
	z->eocd_offset = eocd;
	disk = le16(p + 4);
	cd_disk = le16(p + 6);
	this_disk_count = le16(p + 8);
	count = le16(p + 10);
	cd_size = le32(p + 12);
	cd_off = le32(p + 16);
	comment_len = le16(p + 20);
	cd_anchor = eocd;

	/* ZIP64 locator immediately before the EOCD (APPNOTE 4.3.15). */
	if (eocd >= Z64LOC_LEN && le32(d + eocd - Z64LOC_LEN) == SIG_Z64LOC) {
		const uint8_t *l = d + eocd - Z64LOC_LEN;
		uint64_t z64 = le64(l + 8);
		uint32_t ndisks = le32(l + 16);

		if (ndisks > 1)
			return bw_diag_set(diag, BW_ERR_UNSUPPORTED, eocd - Z64LOC_LEN,
			                   "split archive over %u disks", ndisks);
		/* miniz follows the locator's offset; zipfile reads right before the locator */
		if (z64 > len || len - z64 < Z64EOCD_LEN || le32(d + z64) != SIG_Z64EOCD) {
			z64 = eocd - Z64LOC_LEN >= Z64EOCD_LEN ? eocd - Z64LOC_LEN - Z64EOCD_LEN : 0;
			if (le32(d + z64) != SIG_Z64EOCD)
				return bw_diag_set(diag, BW_ERR_MALFORMED, eocd - Z64LOC_LEN,
				                   "ZIP64 locator points to no ZIP64 end record");
			anomaly(o, "zip.header-mismatch", eocd - Z64LOC_LEN,
			        "ZIP64 locator offset is wrong; the record right before it is used");
		}
		p = d + z64;
		z->zip64 = 1;
		disk = le32(p + 16);
		cd_disk = le32(p + 20);
		this_disk_count = le64(p + 24);
		count = le64(p + 32);
		cd_size = le64(p + 40);
		cd_off = le64(p + 48);
		cd_anchor = z64;
	}
	if (disk != 0 || cd_disk != 0 || this_disk_count != count)
		return bw_diag_set(diag, BW_ERR_UNSUPPORTED, eocd,
		                   "split archive (disk %llu, central directory on disk %llu)",
		                   (unsigned long long)disk, (unsigned long long)cd_disk);
	z->declared_count = count;
	z->end = eocd + EOCD_LEN + comment_len;
	if (z->end < len)
		anomaly(o, "zip.trailing-data", z->end, "%llu bytes after the end of the archive",
		        (unsigned long long)(len - z->end));
	else if (z->end > len)
		anomaly(o, "zip.comment-length", eocd + 20,
		        "archive comment declares %llu bytes but only %llu follow",
		        (unsigned long long)comment_len, (unsigned long long)(len - eocd - EOCD_LEN));

	/* Where is the central directory? As written (miniz), or shifted (zipfile's concat). */
	if (cd_off > cd_anchor || cd_anchor - cd_off < cd_size)
		cd_end = UINT64_MAX;
	else
		cd_end = cd_off + cd_size;
	if (cd_end != UINT64_MAX && (count == 0 || (cd_off + 4 <= len && le32(d + cd_off) == SIG_CENTRAL))) {
		if (cd_end < cd_anchor)
			anomaly(o, "zip.cd-gap", cd_end,
			        "%llu bytes between the central directory and its end record: Python's zipfile "
			        "misplaces the directory, PyTorch does not",
			        (unsigned long long)(cd_anchor - cd_end));
	} else if (cd_anchor >= cd_size && cd_anchor - cd_size > cd_off &&
	           le32(d + (cd_anchor - cd_size)) == SIG_CENTRAL) {
		z->shift = cd_anchor - cd_size - cd_off;
		cd_off += z->shift;
		anomaly(o, "zip.prefix-data", 0,
		        "%llu bytes were prepended without fixing offsets: Python's zipfile reads this "
		        "archive, PyTorch's reader does not",
		        (unsigned long long)z->shift);
	} else {
		return bw_diag_set(diag, BW_ERR_MALFORMED, eocd,
		                   "central directory offset %llu size %llu does not lead to a directory",
		                   (unsigned long long)cd_off, (unsigned long long)cd_size);
	}
	z->cd_offset = cd_off;
	z->cd_size = cd_size;
	cd_end = cd_off + cd_size;

	/* Walk by count (miniz) and by size (zipfile): return what either would see. */
	pos = cd_off;
	for (;;) {
		struct bw_zip_entry *e;
		const uint8_t *c;
		uint64_t nlen, xlen, clen, usz, csz, lho;
		int in_count = z->n_entries < count;
		char *nm;

		if (!in_count && pos >= cd_end)
			break;
		if (pos > len || len - pos < CEN_LEN || le32(d + pos) != SIG_CENTRAL) {
			if (in_count) {
				z->truncated_cd = 1;
				incomplete(o, pos + 4 > len ? BW_ERR_TRUNCATED : BW_ERR_MALFORMED, pos,
				           "central directory ends after %zu of %llu entries", z->n_entries,
				           (unsigned long long)count);
			}
			break;
		}
		if (z->n_entries >= max_entries) {
			z->truncated_cd = 1;
			incomplete(o, BW_ERR_LIMIT, pos, "more than %u entries: the rest is not scanned",
			           max_entries);
			break;
		}
		c = d + pos;
		nlen = le16(c + 28);
		xlen = le16(c + 30);
		clen = le16(c + 32);
		if (len - pos - CEN_LEN < nlen + xlen + clen) {
			z->truncated_cd = 1;
			incomplete(o, BW_ERR_TRUNCATED, pos, "central directory record runs past the end");
			break;
		}
		if (z->n_entries == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct bw_zip_entry *ne = bw_reallocarray(z->entries, ncap, sizeof *ne);

			if (ne == NULL) {
				err = BW_ERR_NOMEM;
				goto out;
			}
			z->entries = ne;
			cap = ncap;
		}
		nm = bw_arena_strndup(&z->arena, (const char *)c + CEN_LEN, (size_t)nlen);
		if (nm == NULL) {
			err = BW_ERR_NOMEM;
			goto out;
		}
		/* strndup stops at a NUL: keep the bytes, but the C string ends there */
		e = &z->entries[z->n_entries];
		memset(e, 0, sizeof *e);
		if (memchr(c + CEN_LEN, 0, (size_t)nlen) != NULL) {
			char *full = bw_arena_alloc(&z->arena, (size_t)nlen + 1);

			if (full == NULL) {
				err = BW_ERR_NOMEM;
				goto out;
			}
			memcpy(full, c + CEN_LEN, (size_t)nlen);
			nm = full;
		}
		e->name = nm;
		e->name_len = (size_t)nlen;
		e->flags = le16(c + 8);
		e->method = le16(c + 10);
		e->crc32 = le32(c + 16);
		csz = le32(c + 20);
		usz = le32(c + 24);
		lho = le32(c + 42);
		zip64_extra(c + CEN_LEN + nlen, (size_t)xlen, &usz, &csz, &lho, 1);
		e->comp_size = csz;
		e->uncomp_size = usz;
		if (__builtin_add_overflow(lho, z->shift, &e->lho))
			e->lho = UINT64_MAX;
		e->cd_pos = pos;
		e->in_count = in_count;
		z->n_entries++;
		pos += CEN_LEN + nlen + xlen + clen;
		{
			char sn[96];

			shown(sn, sizeof sn, e->name, e->name_len);
			if (memchr(e->name, 0, e->name_len) != NULL)
				anomaly(o, "zip.name-nul", e->cd_pos,
				        "name \"%s\" contains a NUL byte: some readers cut the name there", sn);
			if (has_traversal(e->name, e->name_len))
				anomaly(o, "zip.path-traversal", e->cd_pos,
				        "name \"%s\" escapes the extraction directory", sn);
			if (e->flags & BW_ZIP_FLAG_MASKED_CD)
				anomaly(o, "zip.header-mismatch", e->cd_pos,
				        "\"%s\" uses a masked central directory: PyTorch refuses it", sn);
			/* traditional PKWARE encryption prepends a 12-byte header (APPNOTE 6.1.3) */
			if (e->method == BW_ZIP_STORED && e->comp_size != e->uncomp_size &&
			    !((e->flags & BW_ZIP_FLAG_ENCRYPTED) && e->comp_size == e->uncomp_size + 12))
				anomaly(o, "zip.size-mismatch", e->cd_pos,
				        "stored entry \"%s\" declares %llu compressed and %llu uncompressed bytes",
				        sn, (unsigned long long)e->comp_size,
				        (unsigned long long)e->uncomp_size);
		}
		read_local(z, e, o);
	}
	if (z->n_entries != count || (!z->truncated_cd && pos != cd_end))
		anomaly(o, "zip.count-mismatch", z->eocd_offset,
		        "end record declares %llu entries in %llu bytes; the directory holds %zu entries in "
		        "%llu bytes: PyTorch (by count) and zipfile (by size) see different members",
		        (unsigned long long)count, (unsigned long long)cd_size, z->n_entries,
		        (unsigned long long)(pos - cd_off));
	err = cross_checks(z, o);
	if (err != BW_OK)
		goto out;
	if (z->n_entries == 0)
		z->prefix_len = z->cd_offset;
	if (z->shift == 0 && z->prefix_len > 0)
		anomaly(o, "zip.prefix-data", 0,
		        "%llu bytes before the first zip record: torch.load treats a file that does not "
		        "start with a local header as a legacy pickle",
		        (unsigned long long)z->prefix_len);
	extra_eocds(z, o);
out:
	if (err == BW_ERR_NOMEM || z->arena.over_budget) {
		bw_zip_close(z);
		return bw_diag_set(diag, BW_ERR_NOMEM, BW_NO_OFFSET, "out of memory reading the directory");
	}
	return err;
}

long bw_zip_find(const struct bw_zip *z, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < z->n_entries; i++)
		if (z->entries[i].name_len == n && memcmp(z->entries[i].name, name, n) == 0)
			return (long)i;
	return -1;
}

/*
 * CRC-32 (APPNOTE 4.4.7: the gzip/IEEE reflected polynomial) of a member's
 * bytes. ISA-L's folding implementation: every stored tensor of a model zip
 * goes through here, and zlib's table-driven crc32 ran at about a quarter of
 * the speed of reading the file.
 */
static uint32_t crc_of(const uint8_t *p, size_t n)
{
	return crc32_gzip_refl(0, p, (uint64_t)n);
}

static enum bw_err extract(const struct bw_zip *z, size_t i, uint64_t max_out, uint32_t max_ratio,
                           struct bw_zip_data *out, int honor_flags)
{
	const struct bw_zip_entry *e;
	enum bw_codec codec;
	struct bw_buf b;
	struct bw_codec_out r;
	uint64_t cap;
	size_t avail;
	int ratio_bound;
	enum bw_err err;

	if (out == NULL)
		return BW_ERR_ARG;
	memset(out, 0, sizeof *out);
	if (z == NULL || i >= z->n_entries)
		return BW_ERR_ARG;
	e = &z->entries[i];
	if (honor_flags && (e->flags & (BW_ZIP_FLAG_ENCRYPTED | BW_ZIP_FLAG_STRONG_ENC | BW_ZIP_FLAG_MASKED_CD)))
		return BW_ERR_UNSUPPORTED;
	if (!e->local_ok)
		return BW_ERR_MALFORMED;
	avail = (size_t)(e->data_end - e->data_offset);
	switch (e->method) {
	case BW_ZIP_STORED:
		out->data = z->data + e->data_offset;
		out->len = avail;
		if (avail > max_out) {
			out->len = (size_t)max_out;
			return BW_ERR_LIMIT;
		}
		out->crc_ok = crc_of(out->data, out->len) == e->crc32;
		return e->data_complete ? BW_OK : BW_ERR_TRUNCATED;
	case BW_ZIP_DEFLATE: codec = BW_CODEC_DEFLATE_RAW; break;
	case BW_ZIP_BZIP2: codec = BW_CODEC_BZIP2; break;
	case BW_ZIP_LZMA: codec = BW_CODEC_LZMA_ZIP; break;
	case BW_ZIP_ZSTD: codec = BW_CODEC_ZSTD; break;
	case BW_ZIP_XZ: codec = BW_CODEC_XZ; break;
	default: return BW_ERR_UNSUPPORTED;
	}
	cap = bw_codec_cap(max_out, max_ratio, e->comp_size, &ratio_bound);
	bw_buf_init(&b, cap >= SIZE_MAX / 2 ? 0 : (size_t)cap);
	err = bw_codec_decode(codec, z->data + e->data_offset, avail, cap, e->uncomp_size, &b, &r);
	out->owned = b.data;
	out->data = b.data != NULL ? b.data : (const uint8_t *)"";
	out->len = b.len;
	if (err == BW_ERR_LIMIT)
		out->ratio_limited = ratio_bound;
	if (err == BW_OK && !e->data_complete)
		err = BW_ERR_TRUNCATED;
	out->crc_ok = crc_of(out->data, out->len) == e->crc32;
	return err;
}

enum bw_err bw_zip_extract(const struct bw_zip *z, size_t i, uint64_t max_out, uint32_t max_ratio,
                           struct bw_zip_data *out)
{
	return extract(z, i, max_out, max_ratio, out, 1);
}

enum bw_err bw_zip_extract_as_loader(const struct bw_zip *z, size_t i, uint64_t max_out,
                                     uint32_t max_ratio, struct bw_zip_data *out)
{
	return extract(z, i, max_out, max_ratio, out, 0);
}
