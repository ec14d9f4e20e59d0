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

int bw_npy_detect(const uint8_t *data, size_t len);
BW_MUST_CHECK enum bw_err bw_npy_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);

#endif
