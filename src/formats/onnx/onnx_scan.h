/*
 * formats/onnx/onnx_scan.h - ONNX model checks for the scanner.
 *
 * Contract: src/formats/fmt.h. Reads ModelProto -> GraphProto / FunctionProto /
 * TrainingInfoProto -> NodeProto / TensorProto with the protobuf wire reader
 * (formats/protobuf) and reports: external data paths that leave the model's
 * folder, operators from domains no standard runtime provides, tensor sizes
 * that disagree with their data, and graph nesting past the limit. Field
 * numbers: onnx/onnx.proto (IR version 10). The tensor engine's ONNX import is
 * a different module (src/formats/protobuf/). Thread-safe (no global state).
 */
#ifndef BW_FORMATS_ONNX_SCAN_H
#define BW_FORMATS_ONNX_SCAN_H

#include "formats/fmt.h"

#define BW_ONNX_MAX_DEPTH 64u           /* nested graphs (If/Loop/Scan bodies, functions) */
#define BW_ONNX_MAX_GRAPHS 100000u      /* graphs and functions queued in one model */
#define BW_ONNX_MAX_FUNCS 4096u         /* local functions remembered for domain checks */

int bw_onnx_detect(const uint8_t *data, size_t len);
enum bw_err bw_onnx_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);

/*
 * 1 when an external-data location (len bytes, not NUL-terminated) could
 * resolve outside the model's folder: absolute (/x, \x, C:), home (~), a URL
 * scheme, a ".." component, or an embedded NUL. Exposed for tests.
 */
int bw_onnx_path_escapes(const uint8_t *p, size_t len);

#endif
