/*
 * core/json.h - small helpers over jansson shared by every report writer.
 */
#ifndef BW_CORE_JSON_H
#define BW_CORE_JSON_H

#include <jansson.h>

#include "bulwark/error.h"

/*
 * Serialise root (indent 2, key order preserved, ASCII output) into a new
 * string ending in a newline, allocated with bw_malloc. Consumes root.
 */
BW_MUST_CHECK enum bw_err bw_json_dump(json_t *root, char **out);
/*
 * A JSON string for text that may not be valid UTF-8 (names from hostile
 * files): invalid bytes become "\xNN". NULL gives JSON null.
 */
json_t *bw_json_text(const char *s);
/* Whether array arr (not NULL) holds the string s; linear (meant for short lists). */
int bw_json_array_has_str(const json_t *arr, const char *s);

#endif
