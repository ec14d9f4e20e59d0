/*
 * formats/savedmodel/savedmodel.h - TensorFlow SavedModel graph checks.
 *
 * Contract: src/formats/fmt.h. Two inputs of a SavedModel directory:
 *   saved_model.pb  (tensorflow/core/protobuf/saved_model.proto SavedModel)
 *     every NodeDef.op of every MetaGraphDef's GraphDef and of every
 *     FunctionDef in its library is matched against a table of operations
 *     that touch files, run Python or talk to the network; each hit is a
 *     finding whose rule id names the class (savedmodel.op-python, ...).
 *   keras_metadata.pb (keras/protobuf/saved_metadata.proto SavedMetadata)
 *     each SavedObject's metadata JSON is handed back as a member
 *     "keras_metadata/<node_path>" so the Keras configuration checks run on it.
 * Uses the protobuf wire reader (formats/protobuf). Thread-safe.
 */
#ifndef BW_FORMATS_SAVEDMODEL_H
#define BW_FORMATS_SAVEDMODEL_H

#include "formats/fmt.h"

#define BW_SM_MAX_NODES ((uint64_t)1 << 24) /* NodeDefs examined in one file */

int bw_savedmodel_detect(const uint8_t *data, size_t len);
enum bw_err bw_savedmodel_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);

int bw_keras_metadata_pb_detect(const uint8_t *data, size_t len);
enum bw_err bw_keras_metadata_pb_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);

/*
 * Rule id for a TensorFlow op name (n bytes, not NUL-terminated), or NULL
 * when the op is not in the table. *why gets a one-line reason. For tests.
 */
const char *bw_savedmodel_op_rule(const uint8_t *op, size_t n, const char **why);

#endif
