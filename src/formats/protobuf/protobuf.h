/*
 * formats/protobuf/protobuf.h - a small bounded reader of the protocol
 * buffers wire format (https://protobuf.dev/programming-guides/encoding/),
 * the only one in the project: the ONNX importer of the tensor engine and the
 * ONNX/TensorFlow SavedModel scanners all read through it.
 *
 * It decodes one message level at a time: bw_pb_next() returns the next field
 * (number, wire type, scalar value, or a sub-reader over a length-delimited
 * payload). Nested messages are read by calling bw_pb_next() on that
 * sub-reader, so callers recurse only as deep as their schema goes; the
 * generic walker bw_pb_walk() uses an explicit stack with a depth limit.
 *
 * Must not: allocate, read outside the reader's window, or accept groups
 * (wire types 3/4, deprecated and unused by ONNX/TF), field number 0 or a
 * field number above 2^29-1. Thread-safe per reader. All errors are sticky in
 * the reader (core/reader.h) and carry the absolute offset.
 */
#ifndef BW_FORMATS_PROTOBUF_H
#define BW_FORMATS_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/reader.h"

enum bw_pb_wire {
	BW_PB_VARINT = 0,
	BW_PB_I64 = 1,
	BW_PB_LEN = 2,
	BW_PB_I32 = 5
};

#define BW_PB_MAX_FIELD ((uint32_t)0x1fffffff)

struct bw_pb_field {
	uint32_t num;
	enum bw_pb_wire wire;
	uint64_t v;            /* VARINT, I64, I32 values (raw bits for fixed types) */
	struct bw_reader sub;  /* LEN: a window over exactly the payload */
	uint64_t off;          /* absolute offset of the tag */
};

/*
 * Read the next field of the message in r. Returns 1 when *f holds a field,
 * 0 at the clean end of the window, -1 on error (r->err: BW_ERR_TRUNCATED,
 * BW_ERR_MALFORMED for a bad tag or varint, BW_ERR_UNSUPPORTED for groups).
 */
int bw_pb_next(struct bw_reader *r, struct bw_pb_field *f);

/* Payload of a LEN field as bytes (borrowed); NULL with *len 0 otherwise. */
const uint8_t *bw_pb_bytes(const struct bw_pb_field *f, size_t *len);

/*
 * Append the values of a repeated integer field, packed (LEN) or not
 * (VARINT), to out[*n..max). Returns 0, or -1 when the payload is malformed
 * or more than max values would be stored. Values are int64 two's complement
 * (int32 fields are sign-extended by the encoder, so this is exact for both).
 */
int bw_pb_ints(const struct bw_pb_field *f, int64_t *out, size_t max, size_t *n);
/* Same for repeated float (I32 or packed LEN). */
int bw_pb_floats(const struct bw_pb_field *f, float *out, size_t max, size_t *n);
/* Number of values in a packed float/fixed32 payload, -1 if its length is not a multiple of 4. */
long bw_pb_packed_fixed32_count(const struct bw_pb_field *f);

/*
 * Check that a whole window parses as a sequence of well-formed fields
 * (one level, payloads not entered). Returns the number of fields, or -1.
 * Does not modify w (works on a copy). Used by format detection.
 */
long bw_pb_validate(const struct bw_reader *w);

/*
 * Copy a LEN payload into out (NUL-terminated, truncated to out_len - 1
 * bytes; non-printable bytes become '?'). Returns 1 when it fitted whole,
 * 0 when it was cut. out_len must be >= 1.
 */
int bw_pb_str(const struct bw_pb_field *f, char *out, size_t out_len);

/* 1 when the LEN payload equals the NUL-terminated string s exactly. */
int bw_pb_streq(const struct bw_pb_field *f, const char *s);

/*
 * Iterate a packed repeated varint payload (or a single VARINT field)
 * without storing it: returns 1 and sets *v for each element, 0 at the end,
 * -1 on error. Initialise with bw_pb_packed_init from the field.
 */
struct bw_pb_packed {
	struct bw_reader r;
	int single;     /* 1: f was a plain VARINT field, value pending */
	uint64_t value;
};
void bw_pb_packed_init(struct bw_pb_packed *it, const struct bw_pb_field *f);
int bw_pb_packed_next(struct bw_pb_packed *it, uint64_t *v);

/* A float stored in an I32 field. */
float bw_pb_float(const struct bw_pb_field *f);

struct bw_pb_walk_stats {
	uint64_t fields;      /* fields seen at every level */
	uint64_t messages;    /* LEN payloads that parsed as messages */
	int max_depth_seen;
};

/*
 * Walk every field of a message, descending into each LEN payload that
 * parses completely as a message (a heuristic: bytes and strings usually
 * do not), to at most max_depth levels, with an explicit stack. Used by the
 * fuzz target and by scanners that want a structural sanity check.
 * Returns BW_OK or the error of the top-level message (nested payloads that
 * do not parse are treated as bytes, not errors).
 */
enum bw_err bw_pb_walk(const void *p, size_t len, int max_depth,
                       struct bw_pb_walk_stats *st) BW_MUST_CHECK;

#endif
