/*
 * formats/hdf5/hdf5.h - HDF5 files (legacy Keras .h5 models), read by libhdf5
 * ONLY inside a confined worker process.
 *
 * libhdf5 is a large C parser that was not written for hostile input, so it
 * never runs in the scanning process: each file goes to a fresh confined
 * child (core/worker.h: rlimits, seccomp allow-list, time limit) that opens
 * the image from memory with libhdf5's core driver (it cannot open files),
 * reads the root group's scalar string attributes (model_config,
 * training_config, keras_version, backend, ...) and replies with them. A
 * crash or timeout is a finding. The model_config JSON is handed back to the
 * scan engine as a member, where the Keras config scanner checks it.
 */
#ifndef BW_FORMATS_HDF5_H
#define BW_FORMATS_HDF5_H

#include "core/buf.h"
#include "formats/fmt.h"

#define BW_WORKER_HDF5 1u

int bw_hdf5_detect(const uint8_t *data, size_t len);
enum bw_err bw_hdf5_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);
/* Read a worker reply (what bw_hdf5_worker produced) into members; for the fuzzer. */
enum bw_err bw_hdf5_reply_scan(const uint8_t *reply, size_t reply_len, const struct bw_fmt_sink *sink);

/*
 * Load libhdf5 (dlopen, once per process). Called by the process that forks
 * the confined children before it forks (or by the child before confining
 * itself). 0 when loaded, -1 when the library is missing or incomplete.
 */
int bw_hdf5_preload(void);

/* The worker side: runs inside a confined child (core/worker.h), never in the scanner. */
int bw_hdf5_worker(const uint8_t *data, size_t len, struct bw_buf *reply);

#endif
