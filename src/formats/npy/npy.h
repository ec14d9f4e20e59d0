/*
 * formats/npy/npy.h - NumPy .npy arrays (format versions 1.0, 2.0, 3.0).
 *
 * The header is a Python dict literal; it is parsed by a small literal parser
 * (never evaluated). Object arrays (dtype 'O' anywhere in descr) store a
 * pickle after the header: it is handed back as the member
 * "<object array pickle>" and the format is named "numpy-object".
 */
#ifndef BW_FORMATS_NPY_NPY_H
#define BW_FORMATS_NPY_NPY_H

#include "formats/fmt.h"

/* The parsed header of a .npy file (internal API: the scanner and bulwark convert). */
#define BW_NPY_MAX_DIMS 64
struct bw_npy_header {
	unsigned major;          /* format version 1, 2 or 3 */
	size_t header_offset;    /* where the dict text starts */
	size_t data_offset;      /* where the array data starts */
	int newline_end;         /* 1 when the header ends in '\n' as numpy writes it */
	int fortran_order;
	unsigned ndim;           /* dimensions (may exceed BW_NPY_MAX_DIMS: only that many kept) */
	uint64_t shape[BW_NPY_MAX_DIMS];
	uint64_t count;          /* product of the shape (1 for a 0-d array) */
	int count_overflow;      /* the product does not fit 64 bits */
	uint64_t itemsize;       /* bytes per element (whole record for structured dtypes) */
	int has_object;          /* 'O' anywhere in descr: the data is a pickle */
	int structured;          /* descr is a field list */
	char byteorder;          /* simple descr: '<', '>', '|', '=', '!' or 0 when absent */
	char kind;               /* simple descr: the type kind ('f', 'i', 'u', 'b', '?', 'c', ...) */
	int size_given;          /* simple descr: the kind was followed by a size */
	char descr[48];          /* descr as written (cut to fit), for messages */
};

/*
 * Parse the magic, version and header dict of data[0..len) without touching
 * the array data. h is cleared first. Returns BW_OK, BW_ERR_MALFORMED (not
 * .npy, broken literal, missing key), BW_ERR_UNSUPPORTED (unknown version or
 * dtype string), BW_ERR_TRUNCATED, BW_ERR_LIMIT (header over 1 MiB),
 * BW_ERR_ARG; diag (may be NULL) gets the check and offset. Does not allocate.
 */
BW_MUST_CHECK enum bw_err bw_npy_header_parse(const uint8_t *data, size_t len,
                                              struct bw_npy_header *h, struct bw_diag *diag);

int bw_npy_detect(const uint8_t *data, size_t len);
BW_MUST_CHECK enum bw_err bw_npy_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);

#endif
