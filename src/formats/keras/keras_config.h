/*
 * formats/keras/keras_config.h - checks on a Keras model configuration JSON.
 *
 * Input: the config.json member of a .keras zip (handed back by the zip
 * parser), the model_config attribute of a Keras HDF5 file once extracted, or
 * one layer's metadata JSON from a TF SavedModel keras_metadata.pb. The
 * configuration is what keras.saving deserialises: a Lambda layer carries
 * marshalled Python bytecode, `module`/`class_name` pairs make Keras import
 * modules, TorchModuleWrapper carries a torch.save() pickle.
 * Contract: src/formats/fmt.h. Walks the JSON tree with an explicit, bounded
 * stack. Thread-safe (no global state besides jansson's).
 */
#ifndef BW_FORMATS_KERAS_CONFIG_H
#define BW_FORMATS_KERAS_CONFIG_H

#include "formats/fmt.h"

#define BW_KERAS_MAX_JSON ((size_t)256 << 20) /* largest config document we parse */
#define BW_KERAS_MAX_DEPTH 512u               /* JSON nesting we walk */
#define BW_KERAS_MAX_NODES ((size_t)1 << 24)  /* JSON values we visit */

int bw_keras_config_detect(const uint8_t *data, size_t len);
enum bw_err bw_keras_config_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);

/* The checks of bw_keras_config_scan without reporting a format. */
enum bw_err bw_keras_config_walk(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);


#endif
