/*
 * formats/pickle/pk_text.h - argument decoders of the pickle machine that
 * follow CPython's C unpickler (see pk_text.c). Each returns 0 on success,
 * -1 when the C unpickler would raise (malformed argument), -2 when the arena
 * budget is exhausted.
 */
#ifndef BW_FORMATS_PICKLE_PK_TEXT_H
#define BW_FORMATS_PICKLE_PK_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

/* Integers wider than this many bytes print as "<N-byte int>" (no decimal). */
#define PK_BIGINT_MAX_BYTES 4096

struct pk_int {
	int64_t v;        /* when !big */
	int big;          /* did not fit int64: text holds the value */
	const char *text; /* decimal (or the literal for non-decimal bases) */
	int is_bool;      /* INT: a 2-character 0/1 line reads as a bool */
};

/*
 * All line parsers see the line as the C unpickler does: as a C string, up to
 * its first NUL byte (so "12\0junk" reads 12; pickletools rejects it).
 * INT line (without '\n'). *differs = 1 when pickletools/pickle.py read it differently.
 */
int pk_parse_int_line(struct bw_arena *a, const uint8_t *line, size_t n, struct pk_int *r,
                      int *differs);
/* LONG line (without '\n', trailing 'L' allowed). */
int pk_parse_long_line(struct bw_arena *a, const uint8_t *line, size_t n, struct pk_int *r);
/* GET/PUT line: PyLong_FromString(s, NULL, 10). */
int pk_parse_dec_line(struct bw_arena *a, const uint8_t *line, size_t n, struct pk_int *r);
/* FLOAT line (without '\n'). */
int pk_parse_float_line(struct bw_arena *a, const uint8_t *line, size_t n, double *out);
/* PyBytes_DecodeEscape of the STRING body (quotes stripped). */
int pk_decode_escape(struct bw_arena *a, const uint8_t *s, size_t n, uint8_t **out, size_t *out_len);
/* raw-unicode-escape of the UNICODE line, to UTF-8 (surrogates encoded as 3 bytes). */
int pk_decode_raw_unicode_escape(struct bw_arena *a, const uint8_t *s, size_t n, uint8_t **out,
                                 size_t *out_len);
/* LONG1/LONG4 little-endian two's complement bytes. */
int pk_decode_long_bytes(struct bw_arena *a, const uint8_t *p, size_t n, struct pk_int *r);

#endif
