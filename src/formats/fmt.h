/*
 * formats/fmt.h - the contract between format parsers and the scan engine.
 *
 * A format parser reads untrusted bytes and reports what it sees through a
 * struct bw_fmt_sink that the scan engine (src/scan) implements. Parsers never
 * decide severities or verdicts: they name anomalies by rule id (the scan
 * engine maps the id to a severity, reason and reference from rules/NAME.rules),
 * report every import/call of code they find, hand container members back for
 * content-based dispatch, and say when they could not finish.
 *
 * Layering: formats include only core/ and this header; never each other and
 * never scan/. Containers call sink->member(); the scan engine detects the
 * member's format by content and calls the right parser, with depth + 1.
 *
 * Lifetime: every pointer passed to a sink callback is valid only during the
 * call; the sink copies what it keeps. Callbacks may be called from the
 * parser's thread only.
 */
#ifndef BW_FORMATS_FMT_H
#define BW_FORMATS_FMT_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"
#include "bulwark/scan.h"

/* A call of code the input would make when loaded (pickle REDUCE, Keras Lambda, ...). */
struct bw_fmt_call {
	const char *module;   /* resolved module of the callable ("os") */
	const char *name;     /* qualified name inside it ("system", "Bdb.run") */
	const char *args;     /* printable repr of constant arguments, NULL if not constant */
	const uint8_t *bytes_arg; /* first bytes/str constant argument (nested loaders), or NULL */
	size_t bytes_arg_len;
	uint64_t offset;      /* byte offset of the opcode/record that makes the call */
	const char *how;      /* "REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD", "Lambda", ... */
};

struct bw_fmt_sink {
	void *user;
	/*
	 * An anomaly or threat named by rule id ("zip.crc-mismatch"). msg is one
	 * line of detail for the user; offset is absolute in the input or BW_NO_OFFSET.
	 */
	void (*finding)(void *user, const char *rule, uint64_t offset, const char *msg);
	/*
	 * An import the loader would perform. module/name resolved as the loader
	 * resolves them (Python 2 names mapped); orig_module/orig_name as written
	 * in the file (same pointers when nothing was mapped). how: opcode or record.
	 */
	void (*import)(void *user, const char *module, const char *name, const char *orig_module,
	               const char *orig_name, uint64_t offset, const char *how);
	/* A call of an imported callable (see struct bw_fmt_call). */
	void (*call)(void *user, const struct bw_fmt_call *c);
	/*
	 * A member of a container, handed back for detection and scanning. name is
	 * the member's path inside the container. Returns BW_OK or an error the
	 * container should propagate (BW_ERR_NOMEM); a member that is malformed is
	 * not an error of the container.
	 */
	enum bw_err (*member)(void *user, const char *name, const uint8_t *data, size_t len,
	                      uint64_t offset);
	/*
	 * The parser could not read everything: why (BW_ERR_TRUNCATED, _MALFORMED,
	 * _LIMIT, _UNSUPPORTED), where, and a message. The file will never be
	 * reported clean. Parsers keep reporting what they saw before the stop.
	 */
	void (*incomplete)(void *user, enum bw_err why, uint64_t offset, const char *msg);
	/*
	 * Optional (may be NULL): the parser identified a more precise format for
	 * the input ("pytorch-zip", "pytorch-legacy", "joblib", "numpy-npz").
	 */
	void (*format)(void *user, const char *format);

	const struct bw_limits *lim; /* never NULL */
	unsigned depth;              /* container nesting depth of this input (0 = file) */
};

/*
 * A detection score below BW_DETECT_WEAK_MAX is a weak claim ("these bytes
 * start like X but do not parse as X"): the engine uses it for whole files,
 * so a broken file of that format is reported as not fully scanned, but
 * never for container members (raw tensor storages look like anything).
 */
#define BW_DETECT_WEAK 25
#define BW_DETECT_WEAK_MAX 30

/*
 * Every format exports:
 *   int         bw_<fmt>_detect(const uint8_t *data, size_t len);  0..100 confidence
 *   enum bw_err bw_<fmt>_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);
 * scan returns BW_OK when it reported everything through the sink (even if it
 * reported incomplete), or BW_ERR_NOMEM when it had to stop for memory.
 * Registered in src/scan/registry.c.
 */

/*
 * Helpers every parser may use (src/formats/fmt.c).
 * bw_fmt_finding: format the message (cut at 700 bytes) and report it through s.
 * bw_fmt_clip: a printable, NUL-terminated copy of n bytes of s for messages
 * (bytes outside 0x20..0x7e become '?'; cut to out_len - 1). out_len >= 1.
 */
void bw_fmt_finding(const struct bw_fmt_sink *s, const char *rule, uint64_t off, const char *fmt, ...)
	BW_PRINTF(4, 5);
void bw_fmt_clip(const void *s, size_t n, char *out, size_t out_len);
/* The same for a NUL-terminated string; NULL gives "". */
void bw_fmt_clips(const char *s, char *out, size_t out_len);

#endif
