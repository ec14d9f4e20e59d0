/*
 * formats/pbwire/pbwire.h - a small bounded reader for the protobuf wire format.
 *
 * Reads one field at a time from a struct bw_reader window (core/reader.h):
 * the tag (field number + wire type, protobuf encoding guide "Message
 * Structure"), then the value: varint (wire type 0), fixed64 (1), a
 * length-delimited payload (2) returned as its own sub-window, or fixed32 (5).
 * Groups (3, 4) are deprecated and reported as BW_ERR_UNSUPPORTED.
 * It knows no schema and never recurses: callers descend into a payload by
 * reading its sub-window, and they bound their own depth.
 * Never allocates. Borrowed bytes only. Not thread-safe per reader.
 * The scan-side ONNX/TF parsers (onnx/, savedmodel/) use it; src/formats/protobuf/
 * (tensor engine import) has its own reader until the two are unified.
 */
#ifndef BW_FORMATS_PBWIRE_H
#define BW_FORMATS_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "core/reader.h"

enum bw_pbw_wire {
	BW_PBW_VARINT = 0,
	BW_PBW_I64 = 1,
	BW_PBW_LEN = 2,
	BW_PBW_SGROUP = 3,
	BW_PBW_EGROUP = 4,
	BW_PBW_I32 = 5
};

/* Largest field number protobuf allows (2^29 - 1). */
#define BW_PBW_MAX_FIELD 536870911u

struct bw_pbw_field {
	uint32_t num;          /* field number, 1..BW_PBW_MAX_FIELD */
	enum bw_pbw_wire wire; /* wire type */
	uint64_t v;            /* value of VARINT, I64, I32 fields */
	struct bw_reader sub;  /* payload window of LEN fields (absolute offsets kept) */
	uint64_t off;          /* absolute offset of the tag */
};

/*
 * Read the next field of r into f. Returns 1 when a field was read, 0 at the
 * clean end of the window, -1 on error (r->err says why: BW_ERR_TRUNCATED,
 * BW_ERR_MALFORMED for field number 0 / bad wire type / overlong varint,
 * BW_ERR_UNSUPPORTED for groups). r and f must not be NULL.
 */
int bw_pbw_next(struct bw_reader *r, struct bw_pbw_field *f);

/*
 * Check that a whole window parses as a sequence of well-formed fields
 * (one level, payloads not entered). Returns the number of fields, or -1.
 * Does not modify w (works on a copy). Used by format detection.
 */
long bw_pbw_validate(const struct bw_reader *w);

/*
 * Copy a LEN payload into out (NUL-terminated, truncated to out_len - 1
 * bytes; non-printable bytes become '?'). Returns 1 when it fitted whole,
 * 0 when it was cut. out_len must be >= 1.
 */
int bw_pbw_str(const struct bw_pbw_field *f, char *out, size_t out_len);

/* 1 when the LEN payload equals the NUL-terminated string s exactly. */
int bw_pbw_streq(const struct bw_pbw_field *f, const char *s);

/*
 * Iterate a packed repeated varint payload (or a single VARINT field):
 * returns 1 and sets *v for each element, 0 at the end, -1 on error.
 * it must be initialised with bw_pbw_packed_init from the field.
 */
struct bw_pbw_packed {
	struct bw_reader r;
	int single;     /* 1: f was a plain VARINT field, value pending */
	uint64_t value;
};
void bw_pbw_packed_init(struct bw_pbw_packed *it, const struct bw_pbw_field *f);
int bw_pbw_packed_next(struct bw_pbw_packed *it, uint64_t *v);

#endif
