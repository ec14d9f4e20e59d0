/*
 * fuzz_onnx_import.c - ONNX import of arbitrary bytes; when a model comes
 * out, its architecture JSON is produced and re-read, and if its input is
 * small it is run forward and backward once, so shape checks of every
 * operation see fuzzed attributes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/tensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_model *m = NULL, *m2 = NULL;
	struct bw_graph *g = NULL;
	struct bw_tensor *x, *y;
	struct bw_diag d;
	char *js = NULL;
	int c, h, w, shape[4], i;

	if (bw_onnx_import(data, size, &m, &d) != BW_OK)
		return 0;
	if (bw_model_arch_json(m, &js) == BW_OK) {
		if (bw_model_from_arch(js, strlen(js), &m2, NULL) != BW_OK)
			abort(); /* what we write we must read back */
		bw_model_free(m2);
		bw_tensor_free_str(js);
	}
	bw_model_input_shape(m, &c, &h, &w);
	if (c < 1 || h < 1 || w < 1 || (long)c * h * w > 4096)
		goto out;
	shape[0] = 2; shape[1] = c; shape[2] = h; shape[3] = w;
	if (bw_graph_new(1, &g) != BW_OK || bw_graph_tensor(g, 4, shape, 1, &x) != BW_OK)
		goto out;
	for (i = 0; i < x->numel; i++)
		x->data[i] = (float)(i % 7) * 0.1f;
	bw_model_set_requires_grad(m, 1);
	if (bw_model_forward(m, g, 1, &x, 1, &y) == BW_OK)
		if (bw_graph_backward(g, y, NULL) != BW_OK)
			goto out;
out:
	bw_graph_free(g);
	bw_model_free(m);
	return 0;
}
