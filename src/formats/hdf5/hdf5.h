/*
 * formats/hdf5/hdf5.h - HDF5 files (legacy Keras .h5 models), read by libhdf5
 * ONLY inside a confined helper process.
 *
 * libhdf5 is a large C parser that was not written for hostile input, so it
 * never runs in the scanning process. A helper process (the bulwark binary
 * re-executed as `bulwark __hdf5-helper FD`, or a fork for tests) receives a
 * file image over a socket, opens it from memory with libhdf5's core driver
 * (it cannot open files: seccomp), reads the root group's string attributes
 * (model_config, training_config, keras_version, backend, ...) and sends them
 * back as JSON. The helper has an address-space limit and an allow-list
 * seccomp filter; the parent enforces a time limit per file and treats a
 * crash or timeout as a finding. The model_config JSON is handed back to the
 * scan engine as a member, where the Keras config scanner checks it.
 *
 * State: one helper per process, shared by all threads (requests are
 * serialised by a mutex).
 */
#ifndef BW_FORMATS_HDF5_H
#define BW_FORMATS_HDF5_H

#include "formats/fmt.h"

int bw_hdf5_detect(const uint8_t *data, size_t len);
enum bw_err bw_hdf5_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);

/*
 * Start the helper by executing `exe __hdf5-helper FD` (exe: usually
 * "/proc/self/exe"). Must be called before the process enters its sandbox
 * (it starts a process). BW_OK, BW_ERR_IO (could not start), BW_ERR_ARG.
 */
BW_MUST_CHECK enum bw_err bw_hdf5_helper_start(const char *exe, struct bw_diag *diag);
/* Start the helper with fork() (single-threaded callers: tests, fuzzers). */
BW_MUST_CHECK enum bw_err bw_hdf5_helper_start_fork(struct bw_diag *diag);
/* Stop the helper (idempotent). */
void bw_hdf5_helper_stop(void);
/* The helper's main loop on socket fd; returns the process exit code. */
int bw_hdf5_helper_main(int fd);

#endif
