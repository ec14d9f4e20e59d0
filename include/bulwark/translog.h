/*
 * bulwark/translog.h - the tamper-evident audit log.
 *
 * An append-only Merkle tree log in the style of Certificate Transparency
 * (RFC 9162): every entry is a leaf; after every append the log writes a
 * checkpoint (origin, size, root hash) signed with the log's ECDSA key. Any
 * edited, removed, reordered or inserted entry changes the roots the signed
 * checkpoints commit to, so bw_tlog_verify finds it; inclusion proofs show an
 * entry is in the log, consistency proofs that a later log extends an earlier
 * checkpoint. Appends are crash-safe: a record torn by a crash is detected by
 * its length and CRC and cut off when the log is next opened for writing;
 * nothing appended before is touched. Layout and formats: docs/audit-log.md.
 *
 * Not thread-safe per handle; one writer per log directory (a lock file
 * enforces it).
 */
#ifndef BULWARK_TRANSLOG_H
#define BULWARK_TRANSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"

struct bw_tlog;
struct bw_tlog_key; /* a signing or verifying key (see bw_tlog_key_load) */

/*
 * Load the log's key: a private key PEM for appending (pass: passphrase or
 * NULL), or a public key PEM for verifying. Free with bw_tlog_key_free.
 */
BW_MUST_CHECK enum bw_err bw_tlog_key_load(const char *path, int private_key, const char *pass,
                                           struct bw_tlog_key **out, struct bw_diag *diag);
void bw_tlog_key_free(struct bw_tlog_key *k);

/*
 * Open the log in dir. create: make the directory and files when missing.
 * writable: take the writer lock and repair a torn tail (*repaired_bytes says
 * how many bytes of an interrupted append were cut; may be NULL).
 */
BW_MUST_CHECK enum bw_err bw_tlog_open(const char *dir, int create, int writable,
                                       uint64_t *repaired_bytes, struct bw_tlog **out,
                                       struct bw_diag *diag);
void bw_tlog_close(struct bw_tlog *log);
uint64_t bw_tlog_size(const struct bw_tlog *log);

/*
 * Append one entry (any bytes; bulwark writes JSON) and a new checkpoint
 * signed with key. *index receives the entry's index. Durable (fsync) when it
 * returns BW_OK.
 */
BW_MUST_CHECK enum bw_err bw_tlog_append(struct bw_tlog *log, const void *entry, size_t len,
                                         const struct bw_tlog_key *key, uint64_t *index,
                                         struct bw_diag *diag);

struct bw_tlog_report {
	uint64_t entries;
	uint64_t checkpoints;
	uint64_t latest_size;       /* size of the latest valid checkpoint */
	uint64_t unsealed;          /* entries after the latest checkpoint */
	int ok;                     /* 1 when everything verified */
	uint64_t bad_from, bad_to;  /* when not ok: entries [bad_from, bad_to) hold the change */
	char problem[256];          /* when not ok: what failed */
};

/*
 * Verify every record's integrity, every checkpoint's signature with key, and
 * that every checkpoint's root matches the entries. BW_OK with report->ok
 * set when the log is intact; BW_OK with ok == 0 and the problem described
 * when it is not; an error only when the log cannot be read at all.
 */
BW_MUST_CHECK enum bw_err bw_tlog_verify(struct bw_tlog *log, const struct bw_tlog_key *key,
                                         struct bw_tlog_report *report, struct bw_diag *diag);

/*
 * Inclusion proof of entry index against the latest checkpoint, as JSON
 * {"leafIdx", "treeSize", "root", "leafHash", "proof": [...], "checkpoint"}
 * (hashes base64). *json is bw_malloc'd.
 */
BW_MUST_CHECK enum bw_err bw_tlog_inclusion_json(struct bw_tlog *log, uint64_t index, char **json,
                                                 struct bw_diag *diag);
/* Verify such a proof document, standalone (no log needed). BW_OK or BW_ERR_VERIFY. */
BW_MUST_CHECK enum bw_err bw_tlog_verify_inclusion_json(const char *json, size_t len,
                                                        struct bw_diag *diag);
/*
 * Consistency proof from the tree of the first old_size entries to the
 * latest checkpoint, as JSON {"size1", "size2", "root1", "root2", "proof"}.
 */
BW_MUST_CHECK enum bw_err bw_tlog_consistency_json(struct bw_tlog *log, uint64_t old_size,
                                                   char **json, struct bw_diag *diag);
/* Verify such a document standalone. BW_OK or BW_ERR_VERIFY. */
BW_MUST_CHECK enum bw_err bw_tlog_verify_consistency_json(const char *json, size_t len,
                                                          struct bw_diag *diag);
/*
 * Consistency of the current log with an earlier checkpoint (its text, as
 * written by bw_tlog_checkpoint_text): the checkpoint's signature, and that
 * the log's first `size` entries still have that root. BW_OK or BW_ERR_VERIFY.
 */
BW_MUST_CHECK enum bw_err bw_tlog_check_checkpoint(struct bw_tlog *log, const struct bw_tlog_key *key,
                                                   const char *text, size_t len,
                                                   struct bw_diag *diag);
/* The latest checkpoint as text (signed note), bw_malloc'd. */
BW_MUST_CHECK enum bw_err bw_tlog_checkpoint_text(struct bw_tlog *log, char **text,
                                                  struct bw_diag *diag);
/*
 * Lowercase hex SHA-256 of a file's bytes (to bind an entry to the files it
 * speaks of). BW_OK, BW_ERR_IO / BW_ERR_NOTFOUND.
 */
BW_MUST_CHECK enum bw_err bw_tlog_file_digest(const char *path, char hex[65], struct bw_diag *diag);

/* Entry bytes at index (borrowed until the log is closed). */
BW_MUST_CHECK enum bw_err bw_tlog_entry(struct bw_tlog *log, uint64_t index, const uint8_t **data,
                                        size_t *len);

#endif
