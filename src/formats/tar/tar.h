/*
 * formats/tar/tar.h - POSIX ustar, pax and GNU tar archives, read the way
 * Python's tarfile reads them (torch.load's legacy tar format goes through
 * tarfile), with every divergence from other readers reported.
 */
#ifndef BW_FORMATS_TAR_TAR_H
#define BW_FORMATS_TAR_TAR_H

#include "formats/fmt.h"

int bw_tar_detect(const uint8_t *data, size_t len);
BW_MUST_CHECK enum bw_err bw_tar_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);

#endif
