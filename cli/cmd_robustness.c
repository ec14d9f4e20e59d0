/*
 * cmd_robustness.c - bulwark robustness: accuracy of a model (and optionally
 * its adversarially trained version) under FGSM and PGD across a range of
 * eps, written as JSON, a Markdown model-card section, an SVG plot of
 * accuracy against eps and an SVG grid of original and adversarial images.
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
#include "bulwark/version.h"
#include "cli.h"

const char robustness_help[] =
	"usage: bulwark robustness MODEL [--hardened MODEL2] [--data DATA] [options] [-o DIR]\n"
	"\n"
	"Accuracy of MODEL (and of its adversarially trained version MODEL2) under white-box\n"
	"L-inf FGSM and PGD attacks for each eps, with a report an owner can act on.\n"
	"\n"
	"  --hardened FILE     the hardened model to compare (e.g. bulwark train --adversarial pgd)\n"
	"  --data DATA         fashion-mnist (test split, default), idx:IMAGES,LABELS or\n"
	"                      npy:IMAGES,LABELS\n"
	"  --limit N           first N images (default 1000)\n"
	"  --eps LIST          comma-separated radii (default 0,0.025,0.05,0.075,0.1,0.15,0.2)\n"
	"  --steps N           PGD steps (default 20; step 2.5*eps/steps, random start)\n"
	"  --restarts N        PGD restarts (default 1)\n"
	"  --headline X        eps the summary and the image grid use (default 0.1)\n"
	"  --batch N           default 100\n"
	"  --seed N            PGD random starts (default 1)\n"
	"  --threads N         engine threads (default: all cores)\n"
	"  -o, --output DIR    write robustness.json, robustness.md (model-card section),\n"
	"                      robustness.svg (accuracy against eps) and grid.svg into DIR\n"
	"  --fail-under P      exit 1 when the (hardened, if given) model's PGD accuracy at\n"
	"                      the headline eps is below P percent\n"
	"  --format text|json  summary on stdout\n"
	"\n"
	"exit: 0 done, 1 below --fail-under, 2 usage, 3 model or data could not be read or\n"
	"outputs not written\n";

#define MAX_EPS 32

struct mres {
	const char *path, *name;
	double fgsm[MAX_EPS], pgd[MAX_EPS], clean;
};

static int parse_eps_list(const char *s, double *eps, int *n)
{
	char *e;
	double v;

	*n = 0;
	while (*s != '\0') {
		errno = 0;
		v = strtod(s, &e);
		if (errno != 0 || e == s || !(v >= 0.0) || v > 1.0 || *n >= MAX_EPS)
			return -1;
		if (*n > 0 && !(v > eps[*n - 1]))
			return -1; /* increasing, so the plot and the table read left to right */
		eps[(*n)++] = v;
		if (*e == ',')
			e++;
		else if (*e != '\0')
			return -1;
		s = e;
	}
	return *n > 0 ? 0 : -1;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned)(unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void write_json(FILE *f, const char *data, int n, int steps, int restarts, int seed,
                       const double *eps, int ne, int nm, const struct mres *r, double secs)
{
	int i, j;

	fputs("{\"tool\":\"bulwark robustness\",\"data\":", f);
	json_str(f, data);
	fprintf(f, ",\"images\":%d,\"threat_model\":\"white-box, L-inf, inputs in [0,1]\","
	           "\"fgsm\":{\"steps\":1,\"step\":\"eps\"},\"pgd\":{\"steps\":%d,\"alpha\":\"2.5*eps/steps\",\"random_start\":true,"
	           "\"restarts\":%d,\"seed\":%d},\"models\":[", n, steps, restarts, seed);
	for (i = 0; i < nm; i++) {
		fprintf(f, "%s{\"name\":\"%s\",\"path\":", i ? "," : "", r[i].name);
		json_str(f, r[i].path);
		fprintf(f, ",\"clean_accuracy\":%.6f,\"results\":[", r[i].clean);
		for (j = 0; j < ne; j++)
			fprintf(f, "%s{\"eps\":%g,\"fgsm_accuracy\":%.6f,\"pgd_accuracy\":%.6f}", j ? "," : "",
			        eps[j], r[i].fgsm[j], r[i].pgd[j]);
		fputs("]}", f);
	}
	fprintf(f, "],\"seconds\":%.2f}\n", secs);
}

static int headline_index(const double *eps, int ne, double h)
{
	int j, b = 0;

	for (j = 1; j < ne; j++)
		if (fabs(eps[j] - h) < fabs(eps[b] - h))
			b = j;
	return b;
}

static void write_md(FILE *f, const char *data, int n, int steps, const double *eps, int ne,
                     int nm, const struct mres *r, int hi)
{
	int i, j;
	double e = eps[hi];

	fputs("## Adversarial robustness\n\n", f);
	fprintf(f, "Measured with `bulwark robustness` (bulwark %d.%d.%d) on %d images of `%s`. "
	           "Threat model: a white-box attacker who knows the weights and may change every "
	           "input pixel by at most eps (a fraction of the pixel range [0,1], the L-inf norm). "
	           "Attacks: FGSM (one gradient-sign step, Goodfellow et al. 2015) and PGD-%d (%d steps "
	           "of 2.5*eps/%d from a random start in the eps-ball, Madry et al. 2018).\n\n",
	        BW_VERSION_MAJOR, BW_VERSION_MINOR, BW_VERSION_PATCH, n, data, steps, steps, steps);
	fputs("| eps |", f);
	for (i = 0; i < nm; i++)
		fprintf(f, " %s: FGSM | %s: PGD-%d |", r[i].name, r[i].name, steps);
	fputs("\n|---|", f);
	for (i = 0; i < nm; i++)
		fputs("---|---|", f);
	fputc('\n', f);
	for (j = 0; j < ne; j++) {
		fprintf(f, "| %g%s |", eps[j], eps[j] == 0.0 ? " (clean)" : "");
		for (i = 0; i < nm; i++)
			fprintf(f, " %.1f%% | %.1f%% |", 100 * r[i].fgsm[j], 100 * r[i].pgd[j]);
		fputc('\n', f);
	}
	fprintf(f, "\n**What this means.** At eps %g, an attacker who can change each pixel by up to "
	           "%.0f%% of its range turns %.1f%% of `%s`'s correct answers into wrong ones "
	           "(accuracy %.1f%% clean, %.1f%% under PGD).",
	        e, 100 * e, r[0].clean > 0 ? 100 * (r[0].clean - r[0].pgd[hi]) / r[0].clean : 0.0,
	        r[0].path, 100 * r[0].clean, 100 * r[0].pgd[hi]);
	if (nm > 1) {
		double gain = 100 * (r[1].pgd[hi] - r[0].pgd[hi]), cost = 100 * (r[0].clean - r[1].clean);

		fprintf(f, " The hardened model `%s` keeps %.1f%% under the same attack (%+.1f points) "
		           "and its clean accuracy is %.1f%% (%s%.1f points).\n\n",
		        r[1].path, 100 * r[1].pgd[hi], gain, 100 * r[1].clean, cost >= 0 ? "-" : "+",
		        fabs(cost));
		fputs("**Recommendation.** ", f);
		if (gain >= 20.0 && cost <= 10.0)
			fprintf(f, "Where inputs may be manipulated, deploy the hardened model: it trades "
			           "%.1f points of clean accuracy for %.1f points under attack.\n\n",
			        cost, gain);
		else if (gain > 0.0)
			fprintf(f, "The hardened model gains %.1f points under attack for %.1f points of clean "
			           "accuracy; weigh this against how exposed the model is to crafted inputs.\n\n",
			        gain, cost);
		else
			fputs("The hardened model is not more robust at this eps; do not rely on it.\n\n", f);
	} else {
		fputs("\n\n**Recommendation.** If inputs can be manipulated by an adversary, harden the "
		      "model (`bulwark train --adversarial pgd`) and compare with `--hardened`.\n\n", f);
	}
	fputs("**Limits.** Accuracy under these attacks is an upper bound on robustness: stronger or "
	      "adaptive attacks (more steps, restarts, other norms, transfer from other models) can "
	      "lower it, and it is no certified guarantee. It says nothing about natural distribution "
	      "shift.\n", f);
}

static int join(char *buf, size_t n, const char *dir, const char *name)
{
	int r = snprintf(buf, n, "%s/%s", dir, name);

	return r < 0 || (size_t)r >= n ? -1 : 0;
}

int cmd_robustness(int argc, char **argv)
{
	static const struct option opts[] = {
		{"hardened", required_argument, NULL, 'H'}, {"data", required_argument, NULL, 'd'},
		{"limit", required_argument, NULL, 'L'}, {"eps", required_argument, NULL, 'e'},
		{"steps", required_argument, NULL, 'S'}, {"restarts", required_argument, NULL, 'R'},
		{"headline", required_argument, NULL, 'x'}, {"batch", required_argument, NULL, 'b'},
		{"seed", required_argument, NULL, 's'}, {"threads", required_argument, NULL, 't'},
		{"output", required_argument, NULL, 'o'}, {"fail-under", required_argument, NULL, 'F'},
		{"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *data = "fashion-mnist", *outdir = NULL, *hard = NULL;
	int limit = 1000, batch = 100, seed = 1, threads = 0, fmt = BW_OUT_TEXT, c, n = 0, i, j, k;
	int steps = 20, restarts = 1, ne = 0, nm, hi;
	float headline = 0.1f, fail_under = -1.0f;
	double eps[MAX_EPS] = {0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2};
	struct mres r[2];
	struct bw_dataset ds = {0};
	struct bw_model *m[2] = {NULL, NULL};
	struct bw_graph *g = NULL;
	struct bw_diag d;
	enum bw_err err;
	struct bw_adv_out res = {0};
	float *grid_x = NULL;
	int32_t *grid_p = NULL, *grid_pc = NULL;
	int rc = BW_EXIT_INCOMPLETE, tty = isatty(2);
	double t0 = cli_now_s();
	FILE *f = NULL;
	char path[4096];

	ne = 7;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'H': hard = optarg; break;
		case 'd': data = optarg; break;
		case 'o': outdir = optarg; break;
		case 'e': if (parse_eps_list(optarg, eps, &ne)) goto usage; break;
		case 'L': if (cli_parse_int(optarg, 1, 100000000, &limit)) goto usage; break;
		case 'S': if (cli_parse_int(optarg, 1, 100000, &steps)) goto usage; break;
		case 'R': if (cli_parse_int(optarg, 1, 1000, &restarts)) goto usage; break;
		case 'b': if (cli_parse_int(optarg, 1, 65536, &batch)) goto usage; break;
		case 's': if (cli_parse_int(optarg, 0, 2147483647, &seed)) goto usage; break;
		case 't': if (cli_parse_int(optarg, 1, 256, &threads)) goto usage; break;
		case 'x': if (cli_parse_float(optarg, &headline) || headline > 1.0f) goto usage; break;
		case 'F': if (cli_parse_float(optarg, &fail_under) || fail_under > 100.0f) goto usage; break;
		case 'f':
			fmt = cli_parse_format(optarg, 0);
			if (fmt < 0) goto usage;
			break;
		case 'h':
			fputs(robustness_help, stdout);
			return BW_EXIT_OK;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	memset(r, 0, sizeof r);
	r[0].path = argv[optind];
	r[0].name = "model";
	r[1].path = hard;
	r[1].name = "hardened";
	nm = hard != NULL ? 2 : 1;
	hi = headline_index(eps, ne, headline);
	bw_tensor_set_threads(threads);
	for (i = 0; i < nm; i++) {
		bw_diag_clear(&d);
		err = bw_model_open(r[i].path, &m[i], &d);
		if (err != BW_OK) {
			cli_err("robustness", "%s: %s (%s)", r[i].path, d.what[0] ? d.what : "cannot load",
			        bw_err_str(err));
			goto out;
		}
	}
	bw_diag_clear(&d);
	err = bw_data_load_spec(data, 0, &ds, &d);
	if (err == BW_ERR_ARG) {
		cli_err("robustness", "%s", d.what);
		rc = BW_EXIT_USAGE;
		goto out;
	}
	if (err != BW_OK) {
		cli_err("robustness", "%s: %s (%s)", data, d.what[0] ? d.what : "cannot load",
		        bw_err_str(err));
		goto out;
	}
	n = limit < ds.n ? limit : ds.n;
	if ((err = bw_graph_new((uint64_t)seed, &g)) != BW_OK)
		goto out;
	res.pred_clean = calloc((size_t)n, sizeof(int32_t));
	res.pred_adv = calloc((size_t)n, sizeof(int32_t));
	res.x_adv = calloc((size_t)n * (size_t)ds.c * (size_t)ds.h * (size_t)ds.w, sizeof(float));
	grid_p = calloc((size_t)n, sizeof(int32_t));
	grid_pc = calloc((size_t)n, sizeof(int32_t));
	grid_x = calloc((size_t)(n < 8 ? n : 8) * (size_t)ds.c * (size_t)ds.h * (size_t)ds.w,
	                sizeof(float));
	if (res.pred_clean == NULL || res.pred_adv == NULL || res.x_adv == NULL || grid_p == NULL ||
	    grid_pc == NULL || grid_x == NULL) {
		cli_err("robustness", "out of memory for %d images", n);
		goto out;
	}
	for (i = 0; i < nm; i++) {
		for (j = 0; j < ne; j++) {
			for (k = 0; k < 2; k++) {
				struct bw_adv_cfg cfg;
				int ok = 0, e;

				bw_adv_cfg_default(&cfg, k == 0 ? BW_ADV_FGSM : BW_ADV_PGD, BW_ADV_LINF,
				                   (float)eps[j]);
				cfg.steps = steps;
				cfg.alpha = 2.5f * (float)eps[j] / (float)steps;
				cfg.restarts = restarts;
				cfg.seed = (uint64_t)seed;
				if (eps[j] == 0.0 && k == 1) { /* eps 0: both are the clean accuracy */
					r[i].pgd[j] = r[i].fgsm[j];
					continue;
				}
				err = bw_adv_run(m[i], g, &ds, n, batch, &cfg, NULL, &res, NULL, NULL);
				if (err != BW_OK) {
					cli_err("robustness", "attack on %s failed: %s (does it take %dx%dx%d images "
					        "and output logits?)", r[i].path, bw_err_str(err), ds.c, ds.h, ds.w);
					goto out;
				}
				for (e = 0; e < n; e++)
					ok += res.pred_adv[e] == ds.y[e];
				if (k == 0)
					r[i].fgsm[j] = (double)ok / n;
				else
					r[i].pgd[j] = (double)ok / n;
				if (j == 0 && k == 0) {
					int okc = 0;

					for (e = 0; e < n; e++)
						okc += res.pred_clean[e] == ds.y[e];
					r[i].clean = (double)okc / n;
				}
				if (i == 0 && j == hi && k == 1) { /* keep the headline PGD examples for the grid */
					memcpy(grid_x, res.x_adv, sizeof(float) * (size_t)(n < 8 ? n : 8) *
					       (size_t)ds.c * (size_t)ds.h * (size_t)ds.w);
					memcpy(grid_p, res.pred_adv, sizeof(int32_t) * (size_t)n);
					memcpy(grid_pc, res.pred_clean, sizeof(int32_t) * (size_t)n);
				}
				if (tty)
					fprintf(stderr, "\r%s: %s eps %g: %.2f%%          ", r[i].name,
					        k == 0 ? "FGSM" : "PGD", eps[j], 100.0 * ok / n);
			}
		}
	}
	if (tty)
		fputc('\n', stderr);
	if (outdir != NULL) {
		struct bw_adv_series s[4];
		const char *lab[4] = {"model, FGSM", "model, PGD", "hardened, FGSM", "hardened, PGD"};

		if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
			cli_err("robustness", "cannot create %s: %s", outdir, strerror(errno));
			goto out;
		}
		if (join(path, sizeof path, outdir, "robustness.json") != 0 || (f = fopen(path, "w")) == NULL)
			goto io;
		write_json(f, data, n, steps, restarts, seed, eps, ne, nm, r, cli_now_s() - t0);
		k = fclose(f);
		f = NULL;
		if (k != 0)
			goto io;
		if (join(path, sizeof path, outdir, "robustness.md") != 0 || (f = fopen(path, "w")) == NULL)
			goto io;
		write_md(f, data, n, steps, eps, ne, nm, r, hi);
		k = fclose(f);
		f = NULL;
		if (k != 0)
			goto io;
		for (i = 0; i < 2 * nm; i++) {
			s[i].label = lab[i];
			s[i].n = ne;
			s[i].eps = eps;
			s[i].acc = (i & 1) ? r[i / 2].pgd : r[i / 2].fgsm;
			s[i].dashed = !(i & 1);
		}
		if (join(path, sizeof path, outdir, "robustness.svg") != 0 ||
		    bw_adv_write_plot_svg(path, "Accuracy under white-box L-inf attacks", 2 * nm, s) != BW_OK)
			goto io;
		if (join(path, sizeof path, outdir, "grid.svg") != 0 ||
		    bw_adv_write_grid_svg(path, n < 8 ? n : 8, ds.c, ds.h, ds.w, ds.x, grid_x, ds.y,
		                          grid_pc, grid_p,
		                          strcmp(data, "fashion-mnist") == 0 ? cli_fmnist_names : NULL,
		                          10) != BW_OK)
			goto io;
	}
	if (fmt == BW_OUT_JSON) {
		write_json(stdout, data, n, steps, restarts, seed, eps, ne, nm, r, cli_now_s() - t0);
	} else {
		printf("%-10s", "eps");
		for (i = 0; i < nm; i++)
			printf("  %8s FGSM  %8s PGD-%-3d", r[i].name, r[i].name, steps);
		putchar('\n');
		for (j = 0; j < ne; j++) {
			printf("%-10g", eps[j]);
			for (i = 0; i < nm; i++)
				printf("  %12.2f%%  %14.2f%%", 100 * r[i].fgsm[j], 100 * r[i].pgd[j]);
			putchar('\n');
		}
		if (outdir != NULL)
			printf("wrote %s/robustness.{json,md,svg} and %s/grid.svg\n", outdir, outdir);
	}
	rc = fail_under >= 0.0f && 100.0 * r[nm - 1].pgd[hi] < (double)fail_under ? BW_EXIT_FINDINGS
	                                                                           : BW_EXIT_OK;
	goto out;
io:
	cli_err("robustness", "cannot write %s", path);
	goto out;
usage:
	fputs(robustness_help, stderr);
	rc = BW_EXIT_USAGE;
out:
	if (f != NULL)
		fclose(f);
	free(res.pred_clean);
	free(res.pred_adv);
	free(res.x_adv);
	free(grid_x);
	free(grid_p);
	free(grid_pc);
	bw_graph_free(g);
	bw_model_free(m[0]);
	bw_model_free(m[1]);
	bw_data_release(&ds);
	return rc;
}
