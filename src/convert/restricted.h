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
	BW_DT_U8, BW_DT_BOOL, BW_DT_U16, BW_DT_U32, BW_DT_U64, BW_DT__COUNT
};

/* safetensors dtype name ("F32") and element size in bytes. */
const char *bw_dtype_name(enum bw_dtype t);
size_t bw_dtype_size(enum bw_dtype t);

#define BW_MAX_DIMS 32 /* numpy's NPY_MAXDIMS before 2.0 */

struct bw_rtensor {
	const char *name;
	enum bw_dtype dtype;
	const char *storage_key;  /* key of the storage in the archive (data/<key>) */
	uint64_t storage_numel;   /* elements the persistent id declares (0: unknown) */
	uint64_t offset;          /* storage offset, in elements */
	unsigned ndim;
	uint64_t shape[BW_MAX_DIMS];
	int64_t stride[BW_MAX_DIMS];
	int byteswap;             /* elements are stored big-endian: swap them when writing */
};

struct bw_rresult {
	struct bw_rtensor *tensors;
	size_t n_tensors;
	size_t n_other_leaves;   /* ints, strings, ... that safetensors cannot hold */
	const char **storage_keys; /* legacy format: the storage key list (5th pickle), else NULL */
	size_t n_storage_keys;
	const char *st_format;     /* safetensors __metadata__ "format" (NULL: "pt") */
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

/*
 * The legacy tar format (torch/serialization.py, legacy_load): the "pickle"
 * member names tensors and storages by persistent id (the int key, or its
 * decimal string) that the "tensors" and "storages" members defined. lookup
 * returns the tensor for key, or NULL when the key is unknown; *is_storage is
 * set to 1 when key names a storage (kept as an opaque, non-tensor value).
 */
struct bw_rpids {
	void *user;
	const struct bw_rtensor *(*lookup)(void *user, int64_t key, int *is_storage);
};

/* bw_restricted_load with persistent ids resolved through pids (not NULL). */
BW_MUST_CHECK enum bw_err bw_restricted_load_pids(const uint8_t *data, size_t len,
                                                  struct bw_arena *arena,
                                                  const struct bw_rpids *pids,
                                                  struct bw_rresult *out, size_t *consumed,
                                                  struct bw_diag *diag);

/* A plain value of a tar record pickle (counts, record tuples, view lists). */
enum bw_rvkind {
	BW_RV_NONE, BW_RV_INT, BW_RV_STR, BW_RV_STORAGE_TYPE, BW_RV_TENSOR_TYPE, BW_RV_SEQ,
	BW_RV_OTHER
};

struct bw_rvalue {
	enum bw_rvkind kind;
	int64_t i;                      /* INT */
	const char *s;                  /* STR; "module.name" of the *_TYPE kinds */
	enum bw_dtype dtype;            /* STORAGE_TYPE, TENSOR_TYPE */
	const struct bw_rvalue *items;  /* SEQ (tuple or list), n items */
	size_t n;
};

/*
 * Evaluate one record pickle of the tar format's "storages"/"tensors"
 * members: plain values plus the storage and tensor type classes
 * (torch[.cuda].FloatStorage, torch[.cuda].FloatTensor, ...); any other
 * import or any call is refused. *out (arena memory) gets the value, nested
 * at most 4 levels (deeper parts become BW_RV_OTHER). Errors as
 * bw_restricted_load.
 */
BW_MUST_CHECK enum bw_err bw_restricted_record(const uint8_t *data, size_t len,
                                               struct bw_arena *arena,
                                               const struct bw_rvalue **out, size_t *consumed,
                                               struct bw_diag *diag);

#endif
