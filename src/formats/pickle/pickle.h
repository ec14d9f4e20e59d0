/*
 * formats/pickle/pickle.h - the symbolic pickle machine.
 *
 * Decodes Python pickle streams (protocols 0-5) the way CPython's C unpickler
 * (Modules/_pickle.c) reads them, WITHOUT executing anything: values are
 * symbolic (constants, references to imported globals, results of calls,
 * unknowns), and every import and call the loader would perform is reported
 * through the format sink (formats/fmt.h). Where pickletools or the pure
 * Python unpickler read the bytes differently, the machine follows the C
 * unpickler and reports the difference as a finding. docs/pickle.md lists
 * every check, differential and bound.
 *
 * Must not: import, evaluate or call anything from the input; recurse on
 * attacker-controlled depth; allocate outside the per-scan arena.
 * Thread safety: every function is reentrant (no global state).
 */
#ifndef BW_FORMATS_PICKLE_H
#define BW_FORMATS_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "formats/fmt.h"

/*
 * Confidence (0..100) that data is a pickle: a bounded trial decode (first
 * 64 KiB / 10000 opcodes, no sink output). 95 for a stream starting with
 * PROTO 2..5 that decodes cleanly to STOP or to its first import; 60 for any
 * other stream that does; 0 otherwise. data may be NULL when len is 0.
 */
int bw_pickle_detect(const uint8_t *data, size_t len);

/*
 * Decode every pickle stream in data and report imports, calls, findings and
 * incompleteness through sink (formats/fmt.h contract). Recognises PyTorch's
 * legacy format and joblib files (sink->format). Bounds come from sink->lim.
 * Returns BW_OK when everything was reported (even if incomplete() was
 * called), BW_ERR_NOMEM when an allocation failed, BW_ERR_ARG for NULL sink.
 */
BW_MUST_CHECK enum bw_err bw_pickle_scan(const uint8_t *data, size_t len,
                                         const struct bw_fmt_sink *sink);

/* ---- disassembly (internal API used by `bulwark disasm` and tests) ---- */

enum bw_pickle_arg_kind {
	BW_PICKLE_ARG_NONE = 0, /* opcode without argument */
	BW_PICKLE_ARG_INT,      /* text: decimal integer (possibly huge) */
	BW_PICKLE_ARG_BOOL,     /* text: "True" / "False" (INT 00 / 01 as pickletools reads it) */
	BW_PICKLE_ARG_FLOAT,    /* text: %.17g of the value ("nan", "inf", "-inf") */
	BW_PICKLE_ARG_STR,      /* data: UTF-8 (surrogates kept as in CESU/surrogatepass) */
	BW_PICKLE_ARG_BYTES     /* data: raw bytes */
};

/* One decoded opcode. Pointers valid only during the callback. */
struct bw_pickle_op {
	unsigned stream;      /* index of the pickle stream in the input (0-based) */
	uint64_t offset;      /* absolute offset of the opcode byte */
	uint8_t code;         /* opcode byte */
	const char *name;     /* pickletools name ("SHORT_BINUNICODE") */
	unsigned proto;       /* protocol that introduced the opcode */
	enum bw_pickle_arg_kind arg_kind;
	const char *text;     /* INT/BOOL/FLOAT: NUL-terminated text; else NULL */
	const uint8_t *data;  /* STR/BYTES argument bytes; else NULL */
	size_t data_len;
};

/*
 * Observer of the decoding: op() is called for every opcode decoded (before
 * it is executed symbolically), in stream order. user is passed through.
 */
struct bw_pickle_trace {
	void *user;
	void (*op)(void *user, const struct bw_pickle_op *op);
};

/*
 * bw_pickle_scan with an optional trace (NULL: same as bw_pickle_scan).
 * Same returns as bw_pickle_scan.
 */
BW_MUST_CHECK enum bw_err bw_pickle_scan_trace(const uint8_t *data, size_t len,
                                               const struct bw_fmt_sink *sink,
                                               const struct bw_pickle_trace *trace);

#endif
