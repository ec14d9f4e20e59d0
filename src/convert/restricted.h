/*
 * convert/restricted.h - a restricted unpickler for PyTorch checkpoints.
 *
 * Unlike the scanner's symbolic pickle machine, this one evaluates - but only
 * the tensor-rebuilding subset: containers (dict, OrderedDict, list, tuple),
 * scalars and strings, storages named by persistent ids, and the rebuild
 * functions torch._utils._rebuild_tensor(_v2) / _rebuild_parameter(_with_state).
 * Any other import, call or opcode stops the conversion with a message that
 * names it. Nothing from the file is ever executed.
 *
 * The result is a flat list of tensors named by their path in the object
 * ("model.conv1.weight", "optimizer.state.0.exp_avg"); non-tensor leaves are
 * counted, not converted.
 */
#ifndef BW_CONVERT_RESTRICTED_H
#define BW_CONVERT_RESTRICTED_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/error.h"
#include "core/arena.h"

enum bw_dtype {
	BW_DT_F64, BW_DT_F32, BW_DT_F16, BW_DT_BF16, BW_DT_I64, BW_DT_I32, BW_DT_I16, BW_DT_I8,
	BW_DT_U8, BW_DT_BOOL, BW_DT__COUNT
};

/* safetensors dtype name ("F32") and element size in bytes. */
const char *bw_dtype_name(enum bw_dtype t);
size_t bw_dtype_size(enum bw_dtype t);

#define BW_MAX_DIMS 16

struct bw_rtensor {
	const char *name;
	enum bw_dtype dtype;
	const char *storage_key;  /* key of the storage in the archive (data/<key>) */
	uint64_t storage_numel;   /* elements the persistent id declares (0: unknown) */
	uint64_t offset;          /* storage offset, in elements */
	unsigned ndim;
	uint64_t shape[BW_MAX_DIMS];
	int64_t stride[BW_MAX_DIMS];
};

struct bw_rresult {
	struct bw_rtensor *tensors;
	size_t n_tensors;
	size_t n_other_leaves;   /* ints, strings, ... that safetensors cannot hold */
	const char **storage_keys; /* legacy format: the storage key list (5th pickle), else NULL */
	size_t n_storage_keys;
};

/*
 * Evaluate one pickle (starting at data[0]) under the restricted rules.
 * *consumed is set to the bytes up to and including STOP. Allocations come
 * from arena. Errors: BW_ERR_UNSUPPORTED (something outside the subset:
 * diag->what names it), BW_ERR_MALFORMED/_TRUNCATED (broken stream, with
 * offset), BW_ERR_LIMIT, BW_ERR_NOMEM.
 */
BW_MUST_CHECK enum bw_err bw_restricted_load(const uint8_t *data, size_t len, struct bw_arena *arena,
                                             struct bw_rresult *out, size_t *consumed,
                                             struct bw_diag *diag);

/*
 * Evaluate a pickle whose result must be a list of strings (the legacy
 * format's storage keys, or its magic/protocol/sys_info records when
 * want_keys is 0: then only plain values are accepted and ignored).
 */
BW_MUST_CHECK enum bw_err bw_restricted_plain(const uint8_t *data, size_t len,
                                              struct bw_arena *arena, int want_keys,
                                              struct bw_rresult *out, size_t *consumed,
                                              struct bw_diag *diag);

#endif
