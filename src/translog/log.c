/*
 * log.c - the audit log: record files, crash recovery, signed checkpoints,
 * verification and proofs (see bulwark/translog.h, docs/audit-log.md).
 *
 * Files in the log directory:
 *   origin       one line naming the log ("bulwark.audit/<random hex>")
 *   entries      records: u32 LE length, u32 LE CRC-32 of the payload, payload
 *   checkpoints  records of the same framing; payload = a signed note
 *   LOCK         flock()ed by the one writer
 * An append writes the entry record and fsyncs, then the checkpoint record and
 * fsyncs: an append is complete once its checkpoint is durable. A crash leaves
 * at most one torn record at the end of one file; the next writer cuts it off
 * (and an entry written without its checkpoint is sealed by the next append).
 * A bad record anywhere else is tampering or corruption, never "repaired".
 *
 * Checkpoint note (C2SP signed-note layout, ECDSA P-256 signature over the
 * body): "<origin>\n<size>\n<base64 root>\n\n— <key id> <base64 DER signature>\n"
 * where key id is the hex of the first 4 bytes of SHA-256(public key DER).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "bulwark/translog.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/reader.h"
#include "crypto/crypto.h"
#include "crypto/merkle.h"

#define REC_MAX ((uint32_t)16 << 20)
#define LOG_MAX_FILE ((size_t)1 << 40)
#define NOTE_MAX 4096
#define ORIGIN_MAX 128

struct bw_tlog_key {
	struct bw_pkey *k;
	int priv;
	char id[9];
};

struct rec {
	uint64_t off;     /* of the payload in the file */
	uint32_t len;
};

struct bw_tlog {
	char *dir;
	char origin[ORIGIN_MAX];
	int lock_fd;
	int writable;
	struct bw_file_map emap, cmap;
	struct rec *entries;
	size_t n_entries, cap_entries;
	struct bw_mhash *leaves;
	struct rec *cps;
	size_t n_cps, cap_cps;
	uint8_t **extra;   /* entries appended through this handle (not in emap) */
	size_t *extra_len;
	size_t n_extra;
	char *latest_note; /* latest checkpoint text appended through this handle */
	int test_crash;    /* BW_TLOG_TEST_CRASH: see crash_point() */
};

/* ---- keys ---- */

static enum bw_err key_id(const struct bw_pkey *k, char out[9])
{
	uint8_t *der = NULL, h[BW_SHA256_LEN];
	size_t n = 0;
	enum bw_err e = bw_pkey_public_der(k, &der, &n);

	if (e == BW_OK)
		e = bw_sha256(der, n, h);
	bw_free(der);
	if (e == BW_OK)
		bw_hex_encode(h, 4, out);
	return e;
}

enum bw_err bw_tlog_key_load(const char *path, int private_key, const char *pass,
                             struct bw_tlog_key **out, struct bw_diag *diag)
{
	struct bw_file_map m;
	struct bw_tlog_key *k;
	enum bw_err e;

	*out = NULL;
	e = bw_file_map(path, 1 << 20, &m, diag);
	if (e != BW_OK)
		return e;
	k = bw_calloc(1, sizeof *k);
	if (k == NULL) {
		bw_file_unmap(&m);
		return BW_ERR_NOMEM;
	}
	k->priv = private_key;
	e = private_key ? bw_pkey_load_private_pem(m.data, m.len, pass, &k->k, diag)
	                : bw_pkey_load_public_pem(m.data, m.len, &k->k, diag);
	bw_file_unmap(&m);
	if (e == BW_OK)
		e = key_id(k->k, k->id);
	if (e != BW_OK) {
		bw_tlog_key_free(k);
		return e;
	}
	*out = k;
	return BW_OK;
}

void bw_tlog_key_free(struct bw_tlog_key *k)
{
	if (k == NULL)
		return;
	bw_pkey_free(k->k);
	bw_free(k);
}

/* ---- files ---- */

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = bw_malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/*
 * Parse the records of a file. A torn last record (too short, or a CRC
 * mismatch in the final record) sets *torn_at to its offset; any other bad
 * record is BW_ERR_MALFORMED (tampering or corruption).
 */
static enum bw_err parse_records(const struct bw_file_map *m, const char *what, struct rec **v,
                                 size_t *n, size_t *cap, uint64_t *torn_at, struct bw_diag *diag)
{
	struct bw_reader rd;
	uint64_t start;
	uint32_t len, crc;
	const uint8_t *p;

	*torn_at = UINT64_MAX;
	bw_rd_init(&rd, m->data, m->len, 0);
	while (bw_rd_left(&rd) > 0) {
		start = bw_rd_off(&rd);
		if (bw_rd_left(&rd) < 8) {
			*torn_at = start; /* a header cut short: only a crash leaves one, at the end */
			return BW_OK;
		}
		len = bw_rd_u32le(&rd);
		crc = bw_rd_u32le(&rd);
		if (len > REC_MAX)
			return bw_diag_set(diag, BW_ERR_MALFORMED, start,
			                   "%s: record at byte %llu declares %u bytes (over the limit)", what,
			                   (unsigned long long)start, len);
		if (len > bw_rd_left(&rd)) {
			*torn_at = start; /* payload cut short */
			return BW_OK;
		}
		p = bw_rd_bytes(&rd, len);
		if ((uint32_t)crc32(0L, p, len) != crc) {
			if (bw_rd_left(&rd) == 0) {
				*torn_at = start;
				return BW_OK;
			}
			return bw_diag_set(diag, BW_ERR_MALFORMED, start,
			                   "%s: record %zu at byte %llu fails its checksum (edited or corrupted)",
			                   what, *n, (unsigned long long)start);
		}
		if (*n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 64;
			struct rec *nv = bw_reallocarray(*v, ncap, sizeof *nv);
			if (nv == NULL)
				return BW_ERR_NOMEM;
			*v = nv;
			*cap = ncap;
		}
		(*v)[*n].off = start + 8;
		(*v)[*n].len = len;
		(*n)++;
	}
	return BW_OK;
}

static enum bw_err load_file(struct bw_tlog *log, const char *name, struct bw_file_map *m,
                             struct rec **v, size_t *n, size_t *cap, uint64_t *repaired,
                             struct bw_diag *diag)
{
	char *path = join(log->dir, name);
	uint64_t torn;
	enum bw_err e;

	if (path == NULL)
		return BW_ERR_NOMEM;
	e = bw_file_map(path, LOG_MAX_FILE, m, diag);
	if (e == BW_OK)
		e = parse_records(m, name, v, n, cap, &torn, diag);
	if (e == BW_OK && torn != UINT64_MAX) {
		if (!log->writable) {
			/* readers report the torn tail but never modify the log */
			*repaired += m->len - torn;
		} else {
			*repaired += m->len - torn;
			bw_file_unmap(m);
			if (truncate(path, (off_t)torn) != 0)
				e = bw_diag_set(diag, BW_ERR_IO, torn, "%s: cutting a torn record: %s", path,
				                strerror(errno));
			else
				e = bw_file_map(path, LOG_MAX_FILE, m, diag);
		}
	}
	bw_free(path);
	return e;
}

static enum bw_err write_file_new(const char *dir, const char *name, const void *p, size_t n,
                                  struct bw_diag *diag)
{
	char *path = join(dir, name);
	enum bw_err e;

	if (path == NULL)
		return BW_ERR_NOMEM;
	e = bw_file_write_atomic(path, p, n, 0, diag);
	bw_free(path);
	return e;
}

static enum bw_err create_log(const char *dir, struct bw_diag *diag)
{
	uint8_t rnd[16];
	char hex[33], origin[ORIGIN_MAX];
	enum bw_err e;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "%s: mkdir: %s", dir, strerror(errno));
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "getrandom: %s", strerror(errno));
	bw_hex_encode(rnd, sizeof rnd, hex);
	snprintf(origin, sizeof origin, "bulwark.audit/%s\n", hex);
	e = write_file_new(dir, "origin", origin, strlen(origin), diag);
	if (e == BW_OK)
		e = write_file_new(dir, "entries", "", 0, diag);
	if (e == BW_OK)
		e = write_file_new(dir, "checkpoints", "", 0, diag);
	return e;
}

void bw_tlog_close(struct bw_tlog *log)
{
	size_t i;

	if (log == NULL)
		return;
	bw_file_unmap(&log->emap);
	bw_file_unmap(&log->cmap);
	bw_free(log->entries);
	bw_free(log->leaves);
	bw_free(log->cps);
	for (i = 0; i < log->n_extra; i++)
		bw_free(log->extra[i]);
	bw_free(log->extra);
	bw_free(log->extra_len);
	bw_free(log->latest_note);
	if (log->lock_fd >= 0)
		close(log->lock_fd);
	bw_free(log->dir);
	bw_free(log);
}

enum bw_err bw_tlog_open(const char *dir, int create, int writable, uint64_t *repaired_bytes,
                         struct bw_tlog **out, struct bw_diag *diag)
{
	struct bw_tlog *log;
	struct bw_file_map om;
	char *path = NULL;
	uint64_t repaired = 0;
	struct stat st;
	enum bw_err e = BW_OK;
	size_t i, olen;
	const char *crash = getenv("BW_TLOG_TEST_CRASH");

	*out = NULL;
	if (repaired_bytes)
		*repaired_bytes = 0;
	if (stat(dir, &st) != 0) {
		if (!create)
			return bw_diag_set(diag, BW_ERR_NOTFOUND, BW_NO_OFFSET, "%s: no audit log here", dir);
		e = create_log(dir, diag);
		if (e != BW_OK)
			return e;
	}
	log = bw_calloc(1, sizeof *log);
	if (log == NULL)
		return BW_ERR_NOMEM;
	log->lock_fd = -1;
	log->writable = writable;
	log->test_crash = crash ? atoi(crash) : 0;
	log->dir = bw_strdup(dir);
	if (log->dir == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	path = join(dir, "origin");
	if (path == NULL || (e = bw_file_map(path, ORIGIN_MAX, &om, diag)) != BW_OK) {
		if (path != NULL && e == BW_ERR_NOTFOUND && create) {
			bw_free(path);
			path = NULL;
			e = create_log(dir, diag);
			if (e == BW_OK) {
				path = join(dir, "origin");
				e = path ? bw_file_map(path, ORIGIN_MAX, &om, diag) : BW_ERR_NOMEM;
			}
		}
		if (e != BW_OK)
			goto out;
	}
	olen = om.len;
	while (olen > 0 && (om.data[olen - 1] == '\n' || om.data[olen - 1] == '\r'))
		olen--;
	if (olen == 0 || olen >= ORIGIN_MAX || memchr(om.data, '\n', olen) != NULL) {
		bw_file_unmap(&om);
		e = bw_diag_set(diag, BW_ERR_MALFORMED, 0, "%s: malformed origin file", dir);
		goto out;
	}
	memcpy(log->origin, om.data, olen);
	bw_file_unmap(&om);
	if (writable) {
		bw_free(path);
		path = join(dir, "LOCK");
		if (path == NULL) {
			e = BW_ERR_NOMEM;
			goto out;
		}
		log->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (log->lock_fd < 0 || flock(log->lock_fd, LOCK_EX | LOCK_NB) != 0) {
			e = bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET,
			                "%s: another writer holds the audit log (or LOCK cannot be opened): %s",
			                dir, strerror(errno));
			goto out;
		}
	}
	e = load_file(log, "entries", &log->emap, &log->entries, &log->n_entries, &log->cap_entries,
	              &repaired, diag);
	if (e == BW_OK)
		e = load_file(log, "checkpoints", &log->cmap, &log->cps, &log->n_cps, &log->cap_cps,
		              &repaired, diag);
	if (e != BW_OK)
		goto out;
	log->leaves = bw_calloc(log->n_entries + 1, sizeof *log->leaves);
	if (log->leaves == NULL) {
		e = BW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < log->n_entries && e == BW_OK; i++)
		e = bw_merkle_leaf_hash(log->emap.data + log->entries[i].off, log->entries[i].len,
		                        &log->leaves[i]);
out:
	bw_free(path);
	if (e != BW_OK) {
		bw_tlog_close(log);
		return e;
	}
	if (repaired_bytes)
		*repaired_bytes = repaired;
	*out = log;
	return BW_OK;
}

uint64_t bw_tlog_size(const struct bw_tlog *log)
{
	return log->n_entries;
}

/* ---- notes ---- */

static enum bw_err note_body(const char *origin, uint64_t size, const struct bw_mhash *root, char *out,
                             size_t outlen)
{
	char b64[64];

	bw_b64_encode(root->b, BW_MERKLE_HASH, b64);
	if ((size_t)snprintf(out, outlen, "%s\n%llu\n%s\n", origin, (unsigned long long)size, b64) >=
	    outlen)
		return BW_ERR_LIMIT;
	return BW_OK;
}

static enum bw_err make_note(const struct bw_tlog *log, uint64_t size, const struct bw_mhash *root,
                             const struct bw_tlog_key *key, char **out, size_t *outlen)
{
	char body[NOTE_MAX];
	uint8_t *sig = NULL;
	size_t sig_len = 0, blen, n;
	char *b64, *note;
	enum bw_err e;

	e = note_body(log->origin, size, root, body, sizeof body);
	if (e != BW_OK)
		return e;
	blen = strlen(body);
	e = bw_pkey_sign(key->k, BW_HASH_SHA256, (const uint8_t *)body, blen, &sig, &sig_len);
	if (e != BW_OK)
		return e;
	b64 = bw_malloc(bw_b64_enc_len(sig_len));
	if (b64 == NULL) {
		bw_free(sig);
		return BW_ERR_NOMEM;
	}
	bw_b64_encode(sig, sig_len, b64);
	bw_free(sig);
	n = blen + strlen(b64) + 64;
	note = bw_malloc(n);
	if (note == NULL) {
		bw_free(b64);
		return BW_ERR_NOMEM;
	}
	snprintf(note, n, "%s\n\xe2\x80\x94 %s %s\n", body, key->id, b64);
	bw_free(b64);
	*out = note;
	*outlen = strlen(note);
	return BW_OK;
}

struct note {
	char origin[ORIGIN_MAX];
	uint64_t size;
	struct bw_mhash root;
	char key_id[9];
	uint8_t *sig;
	size_t sig_len;
	size_t body_len;
};

/* Parse a signed note strictly. */
static enum bw_err parse_note(const char *text, size_t len, struct note *n, struct bw_diag *diag)
{
	const char *p = text, *end = text + len, *nl;
	char line[NOTE_MAX];
	char *endp;
	uint8_t *root = NULL;
	size_t rlen = 0;
	int i;
	enum bw_err e;

	memset(n, 0, sizeof *n);
	for (i = 0; i < 3; i++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL || (size_t)(nl - p) >= sizeof line)
			return bw_diag_set(diag, BW_ERR_MALFORMED, (uint64_t)(p - text),
			                   "checkpoint: line %d missing or too long", i + 1);
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		if (i == 0) {
			if (strlen(line) >= sizeof n->origin || line[0] == '\0')
				return bw_diag_set(diag, BW_ERR_MALFORMED, 0, "checkpoint: bad origin line");
			strcpy(n->origin, line);
		} else if (i == 1) {
			if (line[0] < '0' || line[0] > '9' || (line[0] == '0' && line[1] != '\0'))
				return bw_diag_set(diag, BW_ERR_MALFORMED, 0, "checkpoint: bad size line");
			errno = 0;
			n->size = strtoull(line, &endp, 10);
			if (errno != 0 || *endp != '\0')
				return bw_diag_set(diag, BW_ERR_MALFORMED, 0, "checkpoint: bad size line");
		} else {
			e = bw_b64_decode(line, strlen(line), &root, &rlen);
			if (e != BW_OK || rlen != BW_MERKLE_HASH) {
				bw_free(root);
				return bw_diag_set(diag, BW_ERR_MALFORMED, 0, "checkpoint: bad root hash line");
			}
			memcpy(n->root.b, root, BW_MERKLE_HASH);
			bw_free(root);
		}
		p = nl + 1;
	}
	n->body_len = (size_t)(p - text);
	/* blank line, then "— <keyid> <sig>\n" */
	if (end - p < 5 || p[0] != '\n' || memcmp(p + 1, "\xe2\x80\x94 ", 4) != 0)
		return bw_diag_set(diag, BW_ERR_MALFORMED, n->body_len, "checkpoint: no signature line");
	p += 5;
	nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == NULL || nl + 1 != end || (size_t)(nl - p) >= sizeof line)
		return bw_diag_set(diag, BW_ERR_MALFORMED, n->body_len, "checkpoint: bad signature line");
	memcpy(line, p, (size_t)(nl - p));
	line[nl - p] = '\0';
	if (strlen(line) < 10 || line[8] != ' ')
		return bw_diag_set(diag, BW_ERR_MALFORMED, n->body_len, "checkpoint: bad key id");
	memcpy(n->key_id, line, 8);
	n->key_id[8] = '\0';
	e = bw_b64_decode(line + 9, strlen(line + 9), &n->sig, &n->sig_len);
	if (e != BW_OK)
		return bw_diag_set(diag, BW_ERR_MALFORMED, n->body_len, "checkpoint: signature not base64");
	return BW_OK;
}

static enum bw_err check_note_sig(const struct note *n, const char *text,
                                  const struct bw_tlog_key *key)
{
	if (strcmp(n->key_id, key->id) != 0)
		return BW_ERR_VERIFY;
	return bw_pkey_verify(key->k, BW_HASH_SHA256, (const uint8_t *)text, n->body_len, n->sig,
	                      n->sig_len);
}

/* ---- append ---- */

static enum bw_err append_record(const char *dir, const char *name, const void *p, uint32_t len,
                                 int crash, int phase, struct bw_diag *diag)
{
	char *path = join(dir, name);
	uint8_t hdr[8];
	uint32_t crc = (uint32_t)crc32(0L, p, len);
	ssize_t w;
	size_t done = 0, total = 8 + (size_t)len, stop = total;
	uint8_t *buf;
	int fd, i;

	if (path == NULL)
		return BW_ERR_NOMEM;
	for (i = 0; i < 4; i++) {
		hdr[i] = (uint8_t)(len >> (8 * i));
		hdr[4 + i] = (uint8_t)(crc >> (8 * i));
	}
	buf = bw_malloc(total);
	if (buf == NULL) {
		bw_free(path);
		return BW_ERR_NOMEM;
	}
	memcpy(buf, hdr, 8);
	memcpy(buf + 8, p, len);
	/* Test hook (docs/audit-log.md): die after writing part of this record. */
	if (crash > 0 && crash / 1000 == phase)
		stop = (size_t)(crash % 1000) < total ? (size_t)(crash % 1000) : total;
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	bw_free(path);
	if (fd < 0) {
		bw_free(buf);
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "%s: open: %s", name, strerror(errno));
	}
	while (done < stop) {
		w = write(fd, buf + done, stop - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int saved = errno;
			close(fd);
			bw_free(buf);
			return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "%s: write: %s", name, strerror(saved));
		}
		done += (size_t)w;
	}
	if (stop < total) {
		fsync(fd);
		_exit(137); /* simulated crash mid-record */
	}
	bw_free(buf);
	if (fsync(fd) != 0 || close(fd) != 0)
		return bw_diag_set(diag, BW_ERR_IO, BW_NO_OFFSET, "%s: sync: %s", name, strerror(errno));
	return BW_OK;
}

enum bw_err bw_tlog_append(struct bw_tlog *log, const void *entry, size_t len,
                           const struct bw_tlog_key *key, uint64_t *index, struct bw_diag *diag)
{
	struct bw_mhash root, *nl;
	char *note = NULL;
	size_t note_len;
	uint8_t *copy;
	enum bw_err e;

	if (!log->writable || key == NULL || !key->priv)
		return bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET,
		                   "appending needs the log opened for writing and its private key");
	if (len > REC_MAX)
		return bw_diag_set(diag, BW_ERR_LIMIT, BW_NO_OFFSET, "entry over %u bytes", REC_MAX);
	nl = bw_reallocarray(log->leaves, log->n_entries + 2, sizeof *nl);
	if (nl == NULL)
		return BW_ERR_NOMEM;
	log->leaves = nl;
	e = bw_merkle_leaf_hash(entry, len, &log->leaves[log->n_entries]);
	if (e == BW_OK)
		e = bw_merkle_root(log->leaves, log->n_entries + 1, &root);
	if (e == BW_OK)
		e = make_note(log, log->n_entries + 1, &root, key, &note, &note_len);
	if (e != BW_OK)
		return e;
	/* entry first, then the checkpoint that seals it (crash safety: file header comment) */
	e = append_record(log->dir, "entries", entry, (uint32_t)len, log->test_crash, 1, diag);
	if (e == BW_OK)
		e = append_record(log->dir, "checkpoints", note, (uint32_t)note_len, log->test_crash, 2, diag);
	if (e != BW_OK) {
		bw_free(note);
		return e;
	}
	copy = bw_malloc(len + 1);
	if (copy != NULL) {
		uint8_t **ne = bw_reallocarray(log->extra, log->n_extra + 1, sizeof *ne);
		size_t *nlen = bw_reallocarray(log->extra_len, log->n_extra + 1, sizeof *nlen);
		if (ne != NULL)
			log->extra = ne;
		if (nlen != NULL)
			log->extra_len = nlen;
		if (ne != NULL && nlen != NULL) {
			memcpy(copy, entry, len);
			log->extra[log->n_extra] = copy;
			log->extra_len[log->n_extra] = len;
			log->n_extra++;
		} else {
			bw_free(copy);
		}
	}
	*index = log->n_entries;
	log->n_entries++;
	bw_free(log->latest_note);
	log->latest_note = note;
	return BW_OK;
}

enum bw_err bw_tlog_entry(struct bw_tlog *log, uint64_t index, const uint8_t **data, size_t *len)
{
	size_t on_disk = log->n_entries - log->n_extra;

	if (index >= log->n_entries)
		return BW_ERR_NOTFOUND;
	if (index < on_disk) {
		*data = log->emap.data + log->entries[index].off;
		*len = log->entries[index].len;
	} else {
		*data = log->extra[index - on_disk];
		*len = log->extra_len[index - on_disk];
	}
	return BW_OK;
}

/* ---- verification ---- */

enum bw_err bw_tlog_verify(struct bw_tlog *log, const struct bw_tlog_key *key,
                           struct bw_tlog_report *rep, struct bw_diag *diag)
{
	struct note n;
	struct bw_mhash root;
	uint64_t prev_size = 0;
	size_t i;
	enum bw_err e;

	(void)diag;
	memset(rep, 0, sizeof *rep);
	rep->entries = log->n_entries;
	rep->checkpoints = log->n_cps;
	rep->ok = 1;
	for (i = 0; i < log->n_cps; i++) {
		const char *text = (const char *)log->cmap.data + log->cps[i].off;
		struct bw_diag nd;

		bw_diag_clear(&nd);
		e = parse_note(text, log->cps[i].len, &n, &nd);
		if (e != BW_OK) {
			rep->ok = 0;
			snprintf(rep->problem, sizeof rep->problem, "checkpoint %zu is malformed: %s", i, nd.what);
			rep->bad_from = prev_size;
			rep->bad_to = log->n_entries;
			bw_free(n.sig);
			return BW_OK;
		}
		if (strcmp(n.origin, log->origin) != 0) {
			rep->ok = 0;
			snprintf(rep->problem, sizeof rep->problem,
			         "checkpoint %zu belongs to another log (%s)", i, n.origin);
		} else if (check_note_sig(&n, text, key) != BW_OK) {
			rep->ok = 0;
			snprintf(rep->problem, sizeof rep->problem,
			         "checkpoint %zu (size %llu) has no valid signature by key %s", i,
			         (unsigned long long)n.size, key->id);
		} else if (n.size < prev_size) {
			rep->ok = 0;
			snprintf(rep->problem, sizeof rep->problem,
			         "checkpoint %zu shrinks the log from %llu to %llu entries", i,
			         (unsigned long long)prev_size, (unsigned long long)n.size);
		} else if (n.size > log->n_entries) {
			rep->ok = 0;
			snprintf(rep->problem, sizeof rep->problem,
			         "checkpoint %zu commits to %llu entries but the log holds %llu: entries "
			         "were removed", i, (unsigned long long)n.size,
			         (unsigned long long)log->n_entries);
		} else if ((e = bw_merkle_root(log->leaves, n.size, &root)) != BW_OK) {
			bw_free(n.sig);
			return e;
		} else if (memcmp(root.b, n.root.b, BW_MERKLE_HASH) != 0) {
			rep->ok = 0;
			snprintf(rep->problem, sizeof rep->problem,
			         "the entries no longer match checkpoint %zu (size %llu): an entry before "
			         "index %llu was edited, removed, reordered or inserted", i,
			         (unsigned long long)n.size, (unsigned long long)n.size);
		}
		bw_free(n.sig);
		if (!rep->ok) {
			rep->bad_from = prev_size;
			rep->bad_to = n.size > log->n_entries ? log->n_entries : n.size;
			return BW_OK;
		}
		prev_size = n.size;
	}
	rep->latest_size = prev_size;
	rep->unsealed = log->n_entries - prev_size;
	return BW_OK;
}

/* ---- proofs ---- */

static enum bw_err latest_note(struct bw_tlog *log, const char **text, size_t *len)
{
	if (log->latest_note != NULL) {
		*text = log->latest_note;
		*len = strlen(log->latest_note);
		return BW_OK;
	}
	if (log->n_cps == 0)
		return BW_ERR_NOTFOUND;
	*text = (const char *)log->cmap.data + log->cps[log->n_cps - 1].off;
	*len = log->cps[log->n_cps - 1].len;
	return BW_OK;
}

enum bw_err bw_tlog_checkpoint_text(struct bw_tlog *log, char **text, struct bw_diag *diag)
{
	const char *t;
	size_t n;

	if (latest_note(log, &t, &n) != BW_OK)
		return bw_diag_set(diag, BW_ERR_NOTFOUND, BW_NO_OFFSET, "the log has no checkpoint yet");
	*text = bw_strndup(t, n);
	return *text ? BW_OK : BW_ERR_NOMEM;
}

static json_t *b64_json(const uint8_t *p, size_t n)
{
	char buf[128];

	bw_b64_encode(p, n, buf);
	return json_string(buf);
}

enum bw_err bw_tlog_inclusion_json(struct bw_tlog *log, uint64_t index, char **json,
                                   struct bw_diag *diag)
{
	const char *text;
	size_t tlen, count, i;
	struct note n;
	struct bw_mhash proof[BW_MERKLE_MAX_PROOF];
	json_t *root, *arr;
	enum bw_err e;
	char *note_copy;

	*json = NULL;
	if (latest_note(log, &text, &tlen) != BW_OK)
		return bw_diag_set(diag, BW_ERR_NOTFOUND, BW_NO_OFFSET, "the log has no checkpoint yet");
	e = parse_note(text, tlen, &n, diag);
	if (e != BW_OK)
		return e;
	bw_free(n.sig);
	if (index >= n.size)
		return bw_diag_set(diag, BW_ERR_NOTFOUND, BW_NO_OFFSET,
		                   "entry %llu is not covered by the latest checkpoint (size %llu)",
		                   (unsigned long long)index, (unsigned long long)n.size);
	e = bw_merkle_inclusion_proof(log->leaves, n.size, index, proof, &count);
	if (e != BW_OK)
		return e;
	arr = json_array();
	for (i = 0; i < count; i++)
		json_array_append_new(arr, b64_json(proof[i].b, BW_MERKLE_HASH));
	note_copy = bw_strndup(text, tlen);
	root = json_pack("{s:I,s:I,s:o,s:o,s:o,s:s}", "leafIdx", (json_int_t)index, "treeSize",
	                 (json_int_t)n.size, "root", b64_json(n.root.b, BW_MERKLE_HASH), "leafHash",
	                 b64_json(log->leaves[index].b, BW_MERKLE_HASH), "proof", arr, "checkpoint",
	                 note_copy ? note_copy : "");
	bw_free(note_copy);
	return bw_json_dump(root, json);
}

enum bw_err bw_tlog_consistency_json(struct bw_tlog *log, uint64_t old_size, char **json,
                                     struct bw_diag *diag)
{
	const char *text;
	size_t tlen, count, i;
	struct note n;
	struct bw_mhash proof[BW_MERKLE_MAX_PROOF], r1;
	json_t *arr;
	enum bw_err e;

	*json = NULL;
	if (latest_note(log, &text, &tlen) != BW_OK)
		return bw_diag_set(diag, BW_ERR_NOTFOUND, BW_NO_OFFSET, "the log has no checkpoint yet");
	e = parse_note(text, tlen, &n, diag);
	if (e != BW_OK)
		return e;
	bw_free(n.sig);
	if (old_size > n.size)
		return bw_diag_set(diag, BW_ERR_ARG, BW_NO_OFFSET,
		                   "size %llu is beyond the latest checkpoint (size %llu)",
		                   (unsigned long long)old_size, (unsigned long long)n.size);
	e = bw_merkle_consistency_proof(log->leaves, old_size, n.size, proof, &count);
	if (e == BW_OK)
		e = bw_merkle_root(log->leaves, old_size, &r1);
	if (e != BW_OK)
		return e;
	arr = json_array();
	for (i = 0; i < count; i++)
		json_array_append_new(arr, b64_json(proof[i].b, BW_MERKLE_HASH));
	return bw_json_dump(json_pack("{s:I,s:I,s:o,s:o,s:o}", "size1", (json_int_t)old_size, "size2",
	                              (json_int_t)n.size, "root1", b64_json(r1.b, BW_MERKLE_HASH), "root2",
	                              b64_json(n.root.b, BW_MERKLE_HASH), "proof", arr),
	                    json);
}

static int get_hash(json_t *o, const char *key, struct bw_mhash *out)
{
	json_t *v = json_object_get(o, key);
	uint8_t *d = NULL;
	size_t n = 0;

	if (!json_is_string(v) ||
	    bw_b64_decode(json_string_value(v), json_string_length(v), &d, &n) != BW_OK ||
	    n != BW_MERKLE_HASH) {
		bw_free(d);
		return -1;
	}
	memcpy(out->b, d, BW_MERKLE_HASH);
	bw_free(d);
	return 0;
}

static int get_proof(json_t *arr, struct bw_mhash *proof, size_t *count)
{
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) > BW_MERKLE_MAX_PROOF)
		return -1;
	*count = json_array_size(arr);
	for (i = 0; i < *count; i++) {
		json_t *tmp = json_pack("{s:O}", "h", json_array_get(arr, i));
		int bad = tmp == NULL || get_hash(tmp, "h", &proof[i]) != 0;
		json_decref(tmp);
		if (bad)
			return -1;
	}
	return 0;
}

enum bw_err bw_tlog_verify_consistency_json(const char *text, size_t len, struct bw_diag *diag)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *s1, *s2;
	struct bw_mhash r1, r2, proof[BW_MERKLE_MAX_PROOF];
	size_t count;
	enum bw_err e;

	if (root == NULL)
		return bw_diag_set(diag, BW_ERR_MALFORMED, (uint64_t)jerr.position, "proof: %s", jerr.text);
	s1 = json_object_get(root, "size1");
	s2 = json_object_get(root, "size2");
	if (!json_is_integer(s1) || !json_is_integer(s2) || json_integer_value(s1) < 0 ||
	    json_integer_value(s2) < 0 || get_hash(root, "root1", &r1) != 0 ||
	    get_hash(root, "root2", &r2) != 0 || get_proof(json_object_get(root, "proof"), proof, &count) != 0) {
		json_decref(root);
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                   "proof: needs size1, size2, root1, root2 and proof (base64 hashes)");
	}
	e = bw_merkle_verify_consistency((uint64_t)json_integer_value(s1),
	                                 (uint64_t)json_integer_value(s2), &r1, &r2, proof, count);
	json_decref(root);
	if (e == BW_ERR_VERIFY)
		(void)bw_diag_set(diag, e, BW_NO_OFFSET, "the later tree does not extend the earlier one");
	return e;
}

enum bw_err bw_tlog_verify_inclusion_json(const char *text, size_t len, struct bw_diag *diag)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *arr, *idx, *size;
	struct bw_mhash rh, lh, proof[BW_MERKLE_MAX_PROOF];
	size_t count;
	enum bw_err e;

	if (root == NULL)
		return bw_diag_set(diag, BW_ERR_MALFORMED, (uint64_t)jerr.position, "proof: %s", jerr.text);
	idx = json_object_get(root, "leafIdx");
	size = json_object_get(root, "treeSize");
	arr = json_object_get(root, "proof");
	if (!json_is_integer(idx) || !json_is_integer(size) || json_integer_value(idx) < 0 ||
	    json_integer_value(size) < 0 || get_hash(root, "root", &rh) != 0 ||
	    get_hash(root, "leafHash", &lh) != 0) {
		json_decref(root);
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                   "proof: needs leafIdx, treeSize, root, leafHash and proof");
	}
	if (get_proof(arr, proof, &count) != 0) {
		json_decref(root);
		return bw_diag_set(diag, BW_ERR_MALFORMED, BW_NO_OFFSET,
		                   "proof: every proof hash must be base64 of 32 bytes");
	}
	e = bw_merkle_verify_inclusion((uint64_t)json_integer_value(idx),
	                               (uint64_t)json_integer_value(size), &lh, proof, count, &rh);
	json_decref(root);
	if (e == BW_ERR_VERIFY)
		(void)bw_diag_set(diag, e, BW_NO_OFFSET, "the proof does not lead to the root");
	return e;
}

enum bw_err bw_tlog_check_checkpoint(struct bw_tlog *log, const struct bw_tlog_key *key,
                                     const char *text, size_t len, struct bw_diag *diag)
{
	struct note n;
	struct bw_mhash root;
	enum bw_err e;

	e = parse_note(text, len, &n, diag);
	if (e != BW_OK)
		return e;
	if (strcmp(n.origin, log->origin) != 0)
		e = bw_diag_set(diag, BW_ERR_VERIFY, BW_NO_OFFSET, "the checkpoint is of another log (%s)",
		                n.origin);
	else if (check_note_sig(&n, text, key) != BW_OK)
		e = bw_diag_set(diag, BW_ERR_VERIFY, BW_NO_OFFSET, "the checkpoint's signature is not valid");
	else if (n.size > log->n_entries)
		e = bw_diag_set(diag, BW_ERR_VERIFY, BW_NO_OFFSET,
		                "the checkpoint commits to %llu entries; the log now holds %llu: entries "
		                "were removed", (unsigned long long)n.size,
		                (unsigned long long)log->n_entries);
	else if ((e = bw_merkle_root(log->leaves, n.size, &root)) == BW_OK &&
	         memcmp(root.b, n.root.b, BW_MERKLE_HASH) != 0)
		e = bw_diag_set(diag, BW_ERR_VERIFY, BW_NO_OFFSET,
		                "the log's first %llu entries no longer have the root this checkpoint "
		                "signed: the log was rewritten", (unsigned long long)n.size);
	bw_free(n.sig);
	return e;
}

enum bw_err bw_tlog_file_digest(const char *path, char hex[65], struct bw_diag *diag)
{
	struct bw_file_map m;
	uint8_t d[BW_SHA256_LEN];
	enum bw_err e;

	e = bw_file_map(path, LOG_MAX_FILE, &m, diag);
	if (e != BW_OK)
		return e;
	e = bw_sha256(m.data, m.len, d);
	bw_file_unmap(&m);
	if (e == BW_OK)
		bw_hex_encode(d, sizeof d, hex);
	return e;
}
