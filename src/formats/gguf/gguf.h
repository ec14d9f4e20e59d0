/*
 * formats/gguf/gguf.h - GGUF (llama.cpp model file) structural checks and
 * chat-template inspection (scan side).
 *
 * Contract: src/formats/fmt.h. Reads the header, every metadata key/value
 * (nested arrays through an explicit bounded stack), and every tensor info,
 * following ggml/docs/gguf.md (versions 1-3). tokenizer.chat_template* values
 * are Jinja templates that llama-cpp-python and others render: a template that
 * walks Python object internals escapes the Jinja sandbox (CVE-2024-34359).
 * Never loads tensor data. Thread-safe (no global state).
 */
#ifndef BW_FORMATS_GGUF_H
#define BW_FORMATS_GGUF_H

#include "formats/fmt.h"

#define BW_GGUF_MAX_KV ((uint64_t)1 << 16)       /* metadata entries */
#define BW_GGUF_MAX_TENSORS ((uint64_t)1 << 20)  /* tensor infos */
#define BW_GGUF_MAX_ARRAY_DEPTH 8u               /* nested arrays */
#define BW_GGUF_MAX_KEY 65535u                   /* one key, bytes */
#define BW_GGUF_MAX_DIMS 4u                      /* GGML_MAX_DIMS */
#define BW_GGUF_MAX_NAME 64u                     /* GGML_MAX_NAME, including NUL */

int bw_gguf_detect(const uint8_t *data, size_t len);
enum bw_err bw_gguf_scan(const uint8_t *data, size_t len, const struct bw_fmt_sink *sink);

/*
 * Inspect one Jinja template (not NUL-terminated) for sandbox escapes.
 * Returns 1 and fills *hit_off (byte offset in tpl) and why (a static string)
 * for the first escape found, 0 when none. Exposed for tests and for other
 * formats that carry chat templates (tokenizer_config.json).
 */
int bw_gguf_template_ssti(const char *tpl, size_t n, size_t *hit_off, const char **why);

#endif
