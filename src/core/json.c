/*
 * json.c - jansson helpers: dumping into bw_malloc memory, and strings from
 * untrusted bytes that jansson would otherwise refuse (invalid UTF-8).
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"

#define JSON_TEXT_MAX ((size_t)1 << 30)

enum bw_err bw_json_dump(json_t *root, char **out)
{
	char *s;
	size_t n;

	*out = NULL;
	if (root == NULL)
		return BW_ERR_NOMEM;
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(root);
	if (s == NULL)
		return BW_ERR_NOMEM;
	n = strlen(s);
	*out = bw_malloc(n + 2);
	if (*out != NULL) {
		memcpy(*out, s, n);
		(*out)[n] = '\n';
		(*out)[n + 1] = '\0';
	}
	free(s); /* allocated by jansson's allocator (malloc) */
	return *out ? BW_OK : BW_ERR_NOMEM;
}

json_t *bw_json_text(const char *s)
{
	json_t *j;
	struct bw_buf b;
	const unsigned char *p;

	if (s == NULL)
		return json_null();
	j = json_string(s);
	if (j != NULL)
		return j;
	bw_buf_init(&b, JSON_TEXT_MAX);
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x80 ? bw_buf_putc(&b, *p) != BW_OK
		              : bw_buf_printf(&b, "\\x%02x", *p) != BW_OK)
			break;
	}
	j = json_string(b.data ? (const char *)b.data : "");
	bw_buf_release(&b);
	return j;
}

int bw_json_array_has_str(const json_t *arr, const char *s)
{
	size_t i;

	for (i = 0; i < json_array_size(arr); i++) {
		const char *v = json_string_value(json_array_get(arr, i));

		if (v != NULL && strcmp(v, s) == 0)
			return 1;
	}
	return 0;
}
