/*
 * cmd_attack.c - bulwark attack: craft adversarial examples against a model
 * (bulwark safetensors or ONNX) with FGSM, PGD (L-inf, L2) or Carlini-Wagner
 * L2, and write them as .npy with per-example results and a summary.
 * Progress goes to stderr; the summary to stdout (text or JSON).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bulwark/adv.h"
#include "bulwark/tensor.h"
#include "cli.h"

const char attack_help[] =
	"usage: bulwark attack MODEL [--data DATA] [--attack fgsm|pgd|cw] [options] [-o DIR]\n"
	"\n"
	"Craft adversarial examples against MODEL (a bulwark .safetensors file or an ONNX\n"
	"model exported by PyTorch; white-box: the attack uses the model's gradients).\n"
	"Images stay in [0,1]. Defaults follow the papers (docs/adversarial.md).\n"
	"\n"
	"  --data DATA         fashion-mnist (test split, default), idx:IMAGES,LABELS or\n"
	"                      npy:IMAGES,LABELS\n"
	"  --limit N           attack only the first N images (default 1000)\n"
	"  --attack A          fgsm, pgd (default) or cw\n"
	"  --norm linf|l2      PGD ball (default linf); FGSM is L-inf, CW is L2\n"
	"  --eps X             radius of the ball (default 0.1)\n"
	"  --alpha X           PGD step (default 2.5*eps/steps)\n"
	"  --steps N           PGD steps (default 40)\n"
	"  --restarts N        PGD restarts, worst case per image kept (default 1)\n"
	"  --no-random-start   PGD starts at the image instead of a uniform point in the ball\n"
	"  --target K          targeted attack: push every image towards class K\n"
	"  --cw-iters N        CW Adam steps per binary-search step (default 1000)\n"
	"  --cw-search N       CW binary-search steps over c (default 9)\n"
	"  --cw-c X            CW initial c (default 1e-3)\n"
	"  --cw-lr X           CW Adam learning rate (default 0.01)\n"
	"  --kappa X           CW confidence (default 0)\n"
	"  --cw-no-abort       CW runs every iteration of a search step (default: stop when\n"
	"                      the loss has not fallen over a tenth of them, as the reference)\n"
	"  --batch N           images per batch (default 100)\n"
	"  --seed N            random starts (default 1)\n"
	"  --threads N         engine threads (default: all cores)\n"
	"  -o, --output DIR    write adv.npy (float32 n,c,h,w), results.csv (one line per\n"
	"                      image), summary.json and grid.svg (first 8 images) into DIR\n"
	"  --fail-under P      exit 1 when accuracy under attack is below P percent\n"
	"  --format text|json  summary format on stdout\n"
	"\n"
	"exit: 0 done, 1 accuracy under attack below --fail-under, 2 usage, 3 model or data\n"
	"could not be read or outputs not written\n";

struct prog {
	int tty;
	double t0, last;
};

static void on_progress(void *ctx, int done, int total)
{
	struct prog *p = ctx;
	double t = cli_now_s();

	if (!p->tty || (t - p->last < 0.2 && done < total))
		return;
	p->last = t;
	fprintf(stderr, "\rattack: %d/%d images, %.0f img/s", done, total,
	        t > p->t0 ? done / (t - p->t0) : 0.0);
	if (done == total)
		fputc('\n', stderr);
	fflush(stderr);
}

static int join(char *buf, size_t n, const char *dir, const char *name)
{
	int r = snprintf(buf, n, "%s/%s", dir, name);

	return r < 0 || (size_t)r >= n ? -1 : 0;
}

int cmd_attack(int argc, char **argv)
{
	static const struct option opts[] = {
		{"data", required_argument, NULL, 'd'}, {"limit", required_argument, NULL, 'L'},
		{"attack", required_argument, NULL, 'A'}, {"norm", required_argument, NULL, 'N'},
		{"eps", required_argument, NULL, 'e'}, {"alpha", required_argument, NULL, 'a'},
		{"steps", required_argument, NULL, 'S'}, {"restarts", required_argument, NULL, 'R'},
		{"no-random-start", no_argument, NULL, 'Z'}, {"target", required_argument, NULL, 'T'},
		{"cw-iters", required_argument, NULL, 'I'}, {"cw-search", required_argument, NULL, 'B'},
		{"cw-c", required_argument, NULL, 'C'}, {"cw-lr", required_argument, NULL, 'r'},
		{"kappa", required_argument, NULL, 'k'}, {"batch", required_argument, NULL, 'b'},
		{"cw-no-abort", no_argument, NULL, 'W'},
		{"seed", required_argument, NULL, 's'}, {"threads", required_argument, NULL, 't'},
		{"output", required_argument, NULL, 'o'}, {"fail-under", required_argument, NULL, 'F'},
		{"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *data = "fashion-mnist", *outdir = NULL, *attack = "pgd", *norm = "linf";
	int limit = 1000, batch = 100, seed = 1, threads = 0, fmt = BW_OUT_TEXT, c, n, i, target = -1;
	int steps = -1, restarts = 1, no_rs = 0, cw_iters = -1, cw_search = -1, cw_no_abort = 0;
	float eps = 0.1f, alpha = -1.0f, cw_c = -1.0f, cw_lr = -1.0f, kappa = 0.0f, fail_under = -1.0f;
	struct bw_adv_cfg cfg;
	struct bw_adv_out res = {0};
	struct bw_dataset ds = {0};
	struct bw_model *m = NULL;
	struct bw_graph *g = NULL;
	struct bw_diag d;
	struct prog pr;
	enum bw_adv_attack ak;
	enum bw_err err;
	int32_t *targets = NULL;
	const char *model_p;
	int rc = BW_EXIT_INCOMPLETE, clean_ok = 0, adv_ok = 0, succ = 0;
	double secs, l2sum = 0.0, lisum = 0.0;
	FILE *f = NULL;
	char path[4096];

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'A': attack = optarg; break;
		case 'N': norm = optarg; break;
		case 'o': outdir = optarg; break;
		case 'Z': no_rs = 1; break;
		case 'W': cw_no_abort = 1; break;
		case 'L': if (cli_parse_int(optarg, 1, 100000000, &limit)) goto usage; break;
		case 'S': if (cli_parse_int(optarg, 0, 100000, &steps)) goto usage; break;
		case 'R': if (cli_parse_int(optarg, 1, 1000, &restarts)) goto usage; break;
		case 'T': if (cli_parse_int(optarg, 0, 99999, &target)) goto usage; break;
		case 'I': if (cli_parse_int(optarg, 1, 1000000, &cw_iters)) goto usage; break;
		case 'B': if (cli_parse_int(optarg, 1, 100, &cw_search)) goto usage; break;
		case 'b': if (cli_parse_int(optarg, 1, 65536, &batch)) goto usage; break;
		case 's': if (cli_parse_int(optarg, 0, 2147483647, &seed)) goto usage; break;
		case 't': if (cli_parse_int(optarg, 1, 256, &threads)) goto usage; break;
		case 'e': if (cli_parse_float(optarg, &eps)) goto usage; break;
		case 'a': if (cli_parse_float(optarg, &alpha)) goto usage; break;
		case 'C': if (cli_parse_float(optarg, &cw_c) || cw_c <= 0.0f) goto usage; break;
		case 'r': if (cli_parse_float(optarg, &cw_lr) || cw_lr <= 0.0f) goto usage; break;
		case 'k': if (cli_parse_float(optarg, &kappa)) goto usage; break;
		case 'F': if (cli_parse_float(optarg, &fail_under) || fail_under > 100.0f) goto usage; break;
		case 'f':
			fmt = cli_parse_format(optarg, 0);
			if (fmt < 0) goto usage;
			break;
		case 'h':
			fputs(attack_help, stdout);
			return BW_EXIT_OK;
		default:
			goto usage;
		}
	}
	ak = bw_adv_attack_from_name(attack);
	if (optind != argc - 1 || ak == 0 || (strcmp(norm, "linf") != 0 && strcmp(norm, "l2") != 0))
		goto usage;
	if (ak == BW_ADV_FGSM && strcmp(norm, "l2") == 0) {
		cli_err("attack", "FGSM is an L-inf attack; use --attack pgd --norm l2 for L2");
		goto usage;
	}
	model_p = argv[optind];
	bw_adv_cfg_default(&cfg, ak, strcmp(norm, "l2") == 0 ? BW_ADV_L2 : BW_ADV_LINF, eps);
	if (steps >= 0) {
		cfg.steps = steps;
		cfg.alpha = steps > 0 ? 2.5f * eps / (float)steps : 0.0f;
	}
	if (alpha >= 0.0f)
		cfg.alpha = alpha;
	cfg.restarts = restarts;
	if (no_rs)
		cfg.random_start = 0;
	cfg.seed = (uint64_t)seed;
	if (cw_iters > 0) cfg.cw_iters = cw_iters;
	if (cw_search > 0) cfg.cw_search = cw_search;
	if (cw_c > 0.0f) cfg.cw_c0 = cw_c;
	if (cw_lr > 0.0f) cfg.cw_lr = cw_lr;
	cfg.cw_kappa = kappa;
	if (cw_no_abort)
		cfg.cw_abort_early = 0;
	cfg.targeted = target >= 0;
	if (bw_adv_cfg_check(&cfg) != BW_OK)
		goto usage;
	bw_tensor_set_threads(threads);
	bw_diag_clear(&d);
	err = bw_model_open(model_p, &m, &d);
	if (err != BW_OK) {
		cli_err("attack", "%s: %s (%s)", model_p, d.what[0] ? d.what : "cannot load", bw_err_str(err));
		goto out;
	}
	bw_diag_clear(&d);
	err = bw_data_load_spec(data, 0, &ds, &d);
	if (err == BW_ERR_ARG) {
		cli_err("attack", "%s", d.what);
		rc = BW_EXIT_USAGE;
		goto out;
	}
	if (err != BW_OK) {
		cli_err("attack", "%s: %s (%s)", data, d.what[0] ? d.what : "cannot load", bw_err_str(err));
		goto out;
	}
	n = limit < ds.n ? limit : ds.n;
	if (target >= 0 && target >= (ds.n_classes > 0 ? ds.n_classes : 1)) {
		cli_err("attack", "--target %d: the data has %d classes", target, ds.n_classes);
		rc = BW_EXIT_USAGE;
		goto out;
	}
	if ((err = bw_graph_new((uint64_t)seed, &g)) != BW_OK)
		goto out;
	res.x_adv = calloc((size_t)n * (size_t)ds.c * (size_t)ds.h * (size_t)ds.w, sizeof(float));
	res.pred_clean = calloc((size_t)n, sizeof(int32_t));
	res.pred_adv = calloc((size_t)n, sizeof(int32_t));
	res.linf = calloc((size_t)n, sizeof(float));
	res.l2 = calloc((size_t)n, sizeof(float));
	if (target >= 0)
		targets = calloc((size_t)n, sizeof(int32_t));
	if (res.x_adv == NULL || res.pred_clean == NULL || res.pred_adv == NULL || res.linf == NULL ||
	    res.l2 == NULL || (target >= 0 && targets == NULL)) {
		cli_err("attack", "out of memory for %d images", n);
		goto out;
	}
	for (i = 0; targets != NULL && i < n; i++)
		targets[i] = target;
	pr.tty = isatty(2);
	pr.t0 = pr.last = cli_now_s();
	err = bw_adv_run(m, g, &ds, n, batch, &cfg, targets, &res, on_progress, &pr);
	secs = cli_now_s() - pr.t0;
	if (err != BW_OK) {
		cli_err("attack", "%s on %s failed: %s (does the model take %dx%dx%d images and output "
		        "logits?)", attack, model_p, bw_err_str(err), ds.c, ds.h, ds.w);
		goto out;
	}
	for (i = 0; i < n; i++) {
		clean_ok += res.pred_clean[i] == ds.y[i];
		adv_ok += res.pred_adv[i] == ds.y[i];
		succ += targets != NULL ? res.pred_adv[i] == target : res.pred_adv[i] != ds.y[i];
		l2sum += res.l2[i];
		lisum += res.linf[i];
	}
	if (outdir != NULL) {
		int shape[4] = {n, ds.c, ds.h, ds.w};
		const char *const *names = strcmp(data, "fashion-mnist") == 0 ? cli_fmnist_names : NULL;

		if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
			cli_err("attack", "cannot create %s: %s", outdir, strerror(errno));
			goto out;
		}
		if (join(path, sizeof path, outdir, "adv.npy") != 0 ||
		    bw_adv_write_npy_f32(path, res.x_adv, 4, shape) != BW_OK) {
			cli_err("attack", "cannot write %s", path);
			goto out;
		}
		if (join(path, sizeof path, outdir, "results.csv") != 0 || (f = fopen(path, "w")) == NULL) {
			cli_err("attack", "cannot write %s", path);
			goto out;
		}
		fputs("index,label,pred_clean,pred_adv,success,linf,l2\n", f);
		for (i = 0; i < n; i++)
			fprintf(f, "%d,%d,%d,%d,%d,%.6f,%.6f\n", i, (int)ds.y[i], (int)res.pred_clean[i],
			        (int)res.pred_adv[i],
			        targets != NULL ? res.pred_adv[i] == target : res.pred_adv[i] != ds.y[i],
			        (double)res.linf[i], (double)res.l2[i]);
		if (fclose(f) != 0) {
			f = NULL;
			cli_err("attack", "cannot write %s", path);
			goto out;
		}
		f = NULL;
		if (join(path, sizeof path, outdir, "grid.svg") != 0 ||
		    bw_adv_write_grid_svg(path, n < 8 ? n : 8, ds.c, ds.h, ds.w, ds.x, res.x_adv, ds.y,
		                          res.pred_clean, res.pred_adv, names, 10) != BW_OK) {
			cli_err("attack", "cannot write %s", path);
			goto out;
		}
	}
	{
		char js[1024];
		int len = snprintf(js, sizeof js,
			"{\"model\":\"%s\",\"attack\":\"%s\",\"norm\":\"%s\",\"eps\":%g,\"alpha\":%g,"
			"\"steps\":%d,\"restarts\":%d,\"random_start\":%s,\"targeted\":%s,\"target\":%d,"
			"\"seed\":%d,\"images\":%d,\"clean_accuracy\":%.6f,\"adversarial_accuracy\":%.6f,"
			"\"success_rate\":%.6f,\"mean_linf\":%.6f,\"mean_l2\":%.6f,\"cw_steps\":%lld,"
			"\"cw_abort_early\":%s,\"seconds\":%.3f}",
			model_p, bw_adv_attack_name(ak), cfg.norm == BW_ADV_L2 ? "l2" : "linf",
			(double)cfg.eps, (double)cfg.alpha, ak == BW_ADV_PGD ? cfg.steps : ak == BW_ADV_FGSM ? 1 : cfg.cw_iters,
			cfg.restarts, cfg.random_start && ak == BW_ADV_PGD ? "true" : "false",
			cfg.targeted ? "true" : "false", target, seed, n, (double)clean_ok / n,
			(double)adv_ok / n, (double)succ / n, lisum / n, l2sum / n, res.cw_steps,
			ak == BW_ADV_CW && cfg.cw_abort_early ? "true" : "false", secs);

		if (len < 0 || (size_t)len >= sizeof js || strchr(model_p, '"') != NULL ||
		    strchr(model_p, '\\') != NULL) {
			/* a path with quotes would need escaping: print it without the model field */
			len = snprintf(js, sizeof js, "{\"images\":%d,\"clean_accuracy\":%.6f,"
			               "\"adversarial_accuracy\":%.6f,\"success_rate\":%.6f}", n,
			               (double)clean_ok / n, (double)adv_ok / n, (double)succ / n);
		}
		if (outdir != NULL) {
			if (join(path, sizeof path, outdir, "summary.json") != 0 ||
			    (f = fopen(path, "w")) == NULL) {
				cli_err("attack", "cannot write %s", path);
				goto out;
			}
			fprintf(f, "%s\n", js);
			if (fclose(f) != 0) {
				f = NULL;
				cli_err("attack", "cannot write %s", path);
				goto out;
			}
			f = NULL;
		}
		if (fmt == BW_OUT_JSON)
			printf("%s\n", js);
		else
			printf("%s (%s, eps %g) on %d images of %s: accuracy %.2f%% -> %.2f%%, attack "
			       "success %.2f%%, mean L-inf %.4f, mean L2 %.4f, %.1f s%s%s\n",
			       bw_adv_attack_name(ak), cfg.norm == BW_ADV_L2 ? "L2" : "L-inf", (double)cfg.eps,
			       n, model_p, 100.0 * clean_ok / n, 100.0 * adv_ok / n, 100.0 * succ / n,
			       lisum / n, l2sum / n, secs, outdir != NULL ? "; wrote " : "",
			       outdir != NULL ? outdir : "");
	}
	rc = fail_under >= 0.0f && 100.0 * adv_ok / n < (double)fail_under ? BW_EXIT_FINDINGS
	                                                                    : BW_EXIT_OK;
	goto out;
usage:
	fputs(attack_help, stderr);
	rc = BW_EXIT_USAGE;
out:
	if (f != NULL)
		fclose(f);
	free(res.x_adv);
	free(res.pred_clean);
	free(res.pred_adv);
	free(res.linf);
	free(res.l2);
	free(targets);
	bw_graph_free(g);
	bw_model_free(m);
	bw_data_release(&ds);
	return rc;
}
