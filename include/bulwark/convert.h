/*
 * bulwark/convert.h - the safe way out: rewrite a pickle-based checkpoint
 * (PyTorch zip, legacy or tar format) or a NumPy .npy/.npz file as
 * safetensors without running any of it.
 *
 * The input is read with a restricted interpretation that accepts only the
 * tensor-rebuilding subset of pickle (storages, rebuild functions, dicts,
 * OrderedDicts, lists, tuples, scalars); anything else - an unknown import, a
 * call of anything but the rebuild functions, an unusual opcode - refuses the
 * conversion with a message naming it. Tensors are named by their path in the
 * checkpoint ("model.fc.weight"); other values are counted, not converted.
 * NumPy arrays become tensors of the same dtype (Fortran order and big-endian
 * data rewritten as row-major little-endian); object arrays are refused.
 * Thread-safe (no shared state).
 */
#ifndef BULWARK_CONVERT_H
#define BULWARK_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"

struct bw_convert_report {
	/* "pytorch-zip", "pytorch-legacy", "pytorch-tar", "numpy", "numpy-npz" (static string) */
	const char *input_format;
	size_t n_tensors;
	size_t n_other_leaves;     /* non-tensor values left out */
	uint64_t bytes_written;
};

/*
 * Convert the checkpoint at in_path into a safetensors file at out_path
 * (written atomically: a temporary file renamed into place). Errors:
 * BW_ERR_UNSUPPORTED (outside the subset - diag->what then contains
 * "refusing to convert" - or an input kind or dtype not supported),
 * BW_ERR_MALFORMED / _TRUNCATED (diag names the member and byte offset),
 * BW_ERR_IO, BW_ERR_LIMIT, BW_ERR_NOMEM.
 */
BW_MUST_CHECK enum bw_err bw_convert_file(const char *in_path, const char *out_path,
                                          struct bw_convert_report *rep, struct bw_diag *diag);

#endif
