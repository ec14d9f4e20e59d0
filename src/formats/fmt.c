/*
 * formats/fmt.c - small helpers shared by the format parsers (see fmt.h):
 * formatted findings and printable clipped copies of untrusted strings.
 * Must not know any format.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "formats/fmt.h"

void bw_fmt_finding(const struct bw_fmt_sink *s, const char *rule, uint64_t off, const char *fmt, ...)
{
	char msg[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	s->finding(s->user, rule, off, msg);
}

void bw_fmt_clip(const void *s, size_t n, char *out, size_t out_len)
{
	const unsigned char *p = s;
	size_t i;

	if (n > out_len - 1)
		n = out_len - 1;
	for (i = 0; i < n; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	out[n] = '\0';
}

void bw_fmt_clips(const char *s, char *out, size_t out_len)
{
	bw_fmt_clip(s, s != NULL ? strlen(s) : 0, out, out_len);
}
