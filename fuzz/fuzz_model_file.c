/*
 * fuzz_model_file.c - the readers of bulwark's own training files, which
 * `bulwark attack/robustness/train --resume` open and which may come from
 * anywhere: model safetensors (bw_model_load) and optimiser state
 * (bw_optim_load, into an Adam optimiser of a small MLP for 1x4x4 images with
 * 2 classes, the model the seeds were written for). Also the SGD kind, so the
 * kind check and the one-buffer path are reached.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bulwark/tensor.h"
#include "fuzz_tmpfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bw_model *m;
	static struct bw_optim *adam, *sgd;
	struct bw_optim_cfg c;
	struct bw_model *lm = NULL;
	struct bw_diag d;
	char path[64];

	if (m == NULL) {
		if (bw_model_builtin("mlp", 1, 4, 4, 2, 1, &m) != BW_OK)
			abort();
		bw_optim_cfg_default(&c, BW_OPTIM_ADAM);
		if (bw_optim_new(m, &c, &adam) != BW_OK)
			abort();
	}
	if (fuzz_write_tmp("model-file", "", data, size, path, sizeof path) != 0)
		return 0;
	bw_diag_clear(&d);
	if (bw_model_load(path, &lm, &d) == BW_OK && bw_model_n_params(lm) < 1)
		abort(); /* a loaded model always has its parameters */
	bw_model_free(lm);
	bw_diag_clear(&d);
	if (bw_optim_load(adam, path, &d) == BW_OK && bw_optim_steps(adam) < 0)
		abort();
	/* The SGD optimiser shares the model's buffers; make it only for this call. */
	bw_optim_cfg_default(&c, BW_OPTIM_SGD);
	if (bw_optim_new(m, &c, &sgd) == BW_OK) {
		bw_diag_clear(&d);
		if (bw_optim_load(sgd, path, &d) == BW_OK && bw_optim_steps(sgd) < 0)
			abort();
		bw_optim_free(sgd);
		sgd = NULL;
	}
	unlink(path);
	return 0;
}
