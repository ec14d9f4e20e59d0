/*
 * cmd_eval.c - bulwark eval: accuracy and confusion matrix of a model
 * (bulwark safetensors or ONNX) on a dataset, optionally under a PGD attack,
 * and dumps of logits and loss gradients for differential testing.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bulwark/tensor.h"
#include "cli.h"

const char eval_help[] =
	"usage: bulwark eval MODEL [--data DATA] [options]\n"
	"\n"
	"Evaluate MODEL (a bulwark .safetensors file or an ONNX model exported by PyTorch)\n"
	"on a dataset: accuracy and confusion matrix.\n"
	"\n"
	"  --data DATA         fashion-mnist (test split, default), idx:IMAGES,LABELS or\n"
	"                      npy:IMAGES,LABELS\n"
	"  --limit N           only the first N images\n"
	"  --batch N           default 256\n"
	"  --pgd-steps N       also attack every image with L-inf PGD: N steps ...\n"
	"  --eps X             ... in a ball of radius X (default 0.1) ...\n"
	"  --alpha X           ... with step X (default 2.5*eps/steps) ...\n"
	"  --random-start      ... from a seeded random point in the ball\n"
	"  --seed N            seed of the random start (default 1)\n"
	"  --logits FILE       write the logits as a float32 .npy (n, classes)\n"
	"  --input-grad FILE   write d(mean cross-entropy)/d(input) over the first N\n"
	"                      images (one batch) as float32 .npy\n"
	"  --param-grads FILE  write the parameter gradients of the same loss (safetensors)\n"
	"  --train-mode        compute those gradients in training mode (batch-norm batch\n"
	"                      statistics, active dropout)\n"
	"  --threads N         engine threads (default: all cores)\n"
	"  --format text|json\n"
	"\n"
	"exit: 0 evaluated, 2 usage, 3 model or data could not be read\n";

/* Write a C-order float32 .npy (format 1.0). */
static int write_npy(const char *path, const float *p, int rows, int cols, int ndim4,
                     const int *shape4)
{
	char hdr[256];
	int hl, total;
	FILE *f;
	size_t n;

	if (ndim4)
		hl = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d, %d, %d), }",
		              shape4[0], shape4[1], shape4[2], shape4[3]);
	else
		hl = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }",
		              rows, cols);
	total = ((10 + hl + 1 + 63) / 64) * 64;
	while (10 + hl < total - 1)
		hdr[hl++] = ' ';
	hdr[hl++] = '\n';
	f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	n = ndim4 ? (size_t)shape4[0] * (size_t)shape4[1] * (size_t)shape4[2] * (size_t)shape4[3]
	          : (size_t)rows * (size_t)cols;
	fwrite("\x93NUMPY\x01\x00", 1, 8, f);
	fputc(hl & 0xff, f);
	fputc((hl >> 8) & 0xff, f);
	fwrite(hdr, 1, (size_t)hl, f);
	fwrite(p, sizeof(float), n, f);
	return fclose(f) == 0 ? 0 : -1;
}

int cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {
		{"data", required_argument, NULL, 'd'}, {"limit", required_argument, NULL, 'L'},
		{"batch", required_argument, NULL, 'b'}, {"pgd-steps", required_argument, NULL, 'P'},
		{"eps", required_argument, NULL, 'e'}, {"alpha", required_argument, NULL, 'a'},
		{"random-start", no_argument, NULL, 'r'}, {"seed", required_argument, NULL, 's'},
		{"logits", required_argument, NULL, 'l'}, {"input-grad", required_argument, NULL, 'g'},
		{"param-grads", required_argument, NULL, 'G'}, {"threads", required_argument, NULL, 't'},
		{"train-mode", no_argument, NULL, 'M'},
		{"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *data = "fashion-mnist", *model_p, *logits_p = NULL, *ig_p = NULL, *pg_p = NULL;
	int limit = 0, batch = 256, steps = -1, rs = 0, seed = 1, threads = 0, fmt = BW_OUT_TEXT;
	int train_mode = 0;
	int c, n, i, j, k = 0, ok = 0, ok_adv = 0;
	float eps = 0.1f, alpha = -1.0f, loss = 0.0f;
	struct bw_dataset ds = {0};
	struct bw_model *m = NULL;
	struct bw_graph *g = NULL;
	struct bw_diag d;
	enum bw_err err;
	int32_t *pred = NULL, *padv = NULL;
	float *logits = NULL, *ig = NULL;
	long long *conf = NULL;
	int rc = BW_EXIT_INCOMPLETE;
	struct timespec t0, t1;
	double secs = 0.0, pgd_secs = 0.0, cpu = 0.0, pgd_cpu = 0.0, c0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'l': logits_p = optarg; break;
		case 'g': ig_p = optarg; break;
		case 'G': pg_p = optarg; break;
		case 'r': rs = 1; break;
		case 'M': train_mode = 1; break;
		case 'L':
			if (cli_parse_int(optarg, 1, 100000000, &limit)) goto usage;
			break;
		case 'b':
			if (cli_parse_int(optarg, 1, 65536, &batch)) goto usage;
			break;
		case 'P':
			if (cli_parse_int(optarg, 0, 100000, &steps)) goto usage;
			break;
		case 's':
			if (cli_parse_int(optarg, 0, 2147483647, &seed)) goto usage;
			break;
		case 't':
			if (cli_parse_int(optarg, 1, 256, &threads)) goto usage;
			break;
		case 'e':
			if (cli_parse_float(optarg, &eps)) goto usage;
			break;
		case 'a':
			if (cli_parse_float(optarg, &alpha)) goto usage;
			break;
		case 'f':
			fmt = cli_parse_format(optarg, 0);
			if (fmt < 0) goto usage;
			break;
		case 'h':
			fputs(eval_help, stdout);
			return BW_EXIT_OK;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	model_p = argv[optind];
	bw_tensor_set_threads(threads);
	bw_diag_clear(&d);
	err = bw_model_open(model_p, &m, &d);
	if (err != BW_OK) {
		cli_err("eval", "%s: %s (%s)", model_p, d.what[0] ? d.what : "cannot load", bw_err_str(err));
		goto out;
	}
	bw_diag_clear(&d);
	err = bw_data_load_spec(data, 0, &ds, &d);
	if (err == BW_ERR_ARG) {
		cli_err("eval", "%s", d.what);
		rc = BW_EXIT_USAGE;
		goto out;
	}
	if (err != BW_OK) {
		cli_err("eval", "%s: %s (%s)", data, d.what[0] ? d.what : "cannot load", bw_err_str(err));
		goto out;
	}
	n = limit > 0 && limit < ds.n ? limit : ds.n;
	if ((err = bw_graph_new((uint64_t)seed, &g)) != BW_OK)
		goto out;
	pred = calloc((size_t)n, sizeof *pred);
	padv = calloc((size_t)n, sizeof *padv);
	if (pred == NULL || padv == NULL)
		goto out;
	/* logits need the class count: run the first batch once to learn it */
	err = bw_model_predict(m, g, &ds, n < batch ? n : batch, batch, pred, NULL, &k);
	if (err != BW_OK || k < 1 || k > 100000) {
		cli_err("eval", "%s does not accept %dx%dx%d images: %s", model_p, ds.c, ds.h, ds.w,
		        bw_err_str(err));
		goto out;
	}
	logits = calloc((size_t)n * (size_t)k, sizeof *logits);
	if (logits == NULL)
		goto out;
	c0 = cli_cpu_s();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = bw_model_predict(m, g, &ds, n, batch, pred, logits, &k);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cpu = cli_cpu_s() - c0;
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	if (err != BW_OK) {
		cli_err("eval", "inference failed: %s", bw_err_str(err));
		goto out;
	}
	if (steps >= 0) {
		if (alpha < 0.0f)
			alpha = steps > 0 ? 2.5f * eps / (float)steps : 0.0f;
		c0 = cli_cpu_s();
		clock_gettime(CLOCK_MONOTONIC, &t0);
		err = bw_model_pgd(m, g, &ds, n, batch, eps, alpha, steps, rs, (uint64_t)seed, padv);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		pgd_cpu = cli_cpu_s() - c0;
		pgd_secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
		if (err != BW_OK) {
			cli_err("eval", "PGD failed: %s", bw_err_str(err));
			goto out;
		}
	}
	if (ig_p != NULL || pg_p != NULL) {
		size_t per = (size_t)ds.c * (size_t)ds.h * (size_t)ds.w;

		ig = calloc((size_t)n * per, sizeof *ig);
		if (ig == NULL)
			goto out;
		err = bw_model_loss_grads(m, g, &ds, n, train_mode, &loss, ig);
		if (err != BW_OK) {
			cli_err("eval", "gradient computation failed: %s", bw_err_str(err));
			goto out;
		}
		if (ig_p != NULL) {
			int sh[4] = {n, ds.c, ds.h, ds.w};

			if (write_npy(ig_p, ig, 0, 0, 1, sh) != 0) {
				cli_err("eval", "cannot write %s", ig_p);
				goto out;
			}
		}
		if (pg_p != NULL && (err = bw_model_save_grads(m, pg_p)) != BW_OK) {
			cli_err("eval", "cannot write %s: %s", pg_p, bw_err_str(err));
			goto out;
		}
	}
	if (logits_p != NULL && write_npy(logits_p, logits, n, k, 0, NULL) != 0) {
		cli_err("eval", "cannot write %s", logits_p);
		goto out;
	}
	conf = calloc((size_t)k * (size_t)k, sizeof *conf);
	if (conf == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		ok += pred[i] == ds.y[i];
		ok_adv += padv[i] == ds.y[i];
		if (ds.y[i] < k)
			conf[(size_t)ds.y[i] * (size_t)k + (size_t)pred[i]]++;
	}
	if (fmt == BW_OUT_JSON) {
		printf("{\"model\":\"%s\",\"images\":%d,\"classes\":%d,\"accuracy\":%.6f,"
		       "\"images_per_second\":%.1f,\"seconds\":%.3f,\"cpu_seconds\":%.3f",
		       model_p, n, k, (double)ok / n, secs > 0 ? n / secs : 0.0, secs, cpu);
		if (steps >= 0)
			printf(",\"pgd\":{\"steps\":%d,\"eps\":%g,\"alpha\":%g,\"accuracy\":%.6f,"
			       "\"seconds\":%.3f,\"cpu_seconds\":%.3f}",
			       steps, (double)eps, (double)alpha, (double)ok_adv / n, pgd_secs, pgd_cpu);
		if (ig_p != NULL || pg_p != NULL)
			printf(",\"loss\":%.8g", (double)loss);
		printf(",\"confusion\":[");
		for (i = 0; i < k; i++) {
			printf("%s[", i ? "," : "");
			for (j = 0; j < k; j++)
				printf("%s%lld", j ? "," : "", conf[(size_t)i * (size_t)k + (size_t)j]);
			printf("]");
		}
		printf("]}\n");
	} else {
		printf("model %s: %d images, accuracy %.2f%% (%d correct), %.0f images/s\n", model_p, n,
		       100.0 * ok / n, ok, secs > 0 ? n / secs : 0.0);
		if (steps >= 0)
			printf("PGD L-inf eps %g, %d steps of %g%s: accuracy %.2f%% (%.1f s)\n", (double)eps,
			       steps, (double)alpha, rs ? ", random start" : "", 100.0 * ok_adv / n, pgd_secs);
		if (ig_p != NULL || pg_p != NULL)
			printf("mean cross-entropy over %d images: %.8g\n", n, (double)loss);
		if (k <= 20) {
			printf("confusion (rows: true class, columns: predicted)\n     ");
			for (j = 0; j < k; j++)
				printf(" %6d", j);
			printf("\n");
			for (i = 0; i < k; i++) {
				printf("%4d ", i);
				for (j = 0; j < k; j++)
					printf(" %6lld", conf[(size_t)i * (size_t)k + (size_t)j]);
				printf("\n");
			}
		}
	}
	rc = BW_EXIT_OK;
	goto out;
usage:
	fputs(eval_help, stderr);
	rc = BW_EXIT_USAGE;
out:
	free(conf);
	free(pred);
	free(padv);
	free(logits);
	free(ig);
	bw_graph_free(g);
	bw_model_free(m);
	bw_data_release(&ds);
	return rc;
}
