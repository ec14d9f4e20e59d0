/*
 * fuzz_protobuf.c - the shared protobuf wire-format reader: the generic
 * walker over arbitrary bytes, then a flat pass that decodes every field with
 * each typed helper, checking the reader's invariants (windows stay inside
 * the input, the sticky error is set exactly when bw_pb_next fails).
 */
#include <stdint.h>
#include <stdlib.h>

#include "formats/protobuf/protobuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_pb_walk_stats st;
	struct bw_reader r;
	struct bw_pb_field f;
	int64_t ints[64];
	float fl[64];
	size_t n, len;
	int k;

	if (bw_pb_walk(data, size, 0, &st) == BW_OK && st.fields > size)
		abort(); /* every field takes at least one byte */
	bw_rd_init(&r, data, size, 0);
	while ((k = bw_pb_next(&r, &f)) == 1) {
		const uint8_t *p = bw_pb_bytes(&f, &len);

		if (p != NULL && len > 0 && (p < data || p + len > data + size))
			abort();
		n = 0;
		(void)bw_pb_ints(&f, ints, 64, &n);
		if (n > 64)
			abort();
		n = 0;
		(void)bw_pb_floats(&f, fl, 64, &n);
		if (n > 64)
			abort();
		(void)bw_pb_packed_fixed32_count(&f);
	}
	if ((k < 0) != (r.err != BW_OK))
		abort();
	return 0;
}
