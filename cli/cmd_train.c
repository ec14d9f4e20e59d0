/*
 * cmd_train.c - bulwark train: train a built-in architecture on a dataset
 * with the tensor engine and save it as safetensors + architecture JSON.
 * Progress (loss, accuracy, images/s) goes to stderr; the summary to stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bulwark/adv.h"
#include "bulwark/tensor.h"
#include "cli.h"

const char train_help[] =
	"usage: bulwark train --arch ARCH --data DATA [options] -o MODEL.safetensors\n"
	"\n"
	"Train a model with bulwark's tensor engine (OpenBLAS, both cores) and save it as\n"
	"safetensors with its architecture JSON in the header metadata.\n"
	"\n"
	"  --arch NAME         madry-cnn, lenet, mlp, resnet-mini\n"
	"  --data DATA         fashion-mnist (Debian package dataset-fashion-mnist),\n"
	"                      idx:IMAGES,LABELS (IDX, .gz allowed) or npy:IMAGES,LABELS\n"
	"  --test-data DATA    evaluated after each epoch (default: the fashion-mnist test\n"
	"                      split when --data is fashion-mnist, otherwise none;\n"
	"                      'none' skips it)\n"
	"  --epochs N          default 5\n"
	"  --batch N           default 128\n"
	"  --optim sgd|adam    default adam\n"
	"  --lr X              default 1e-3 (adam), 0.01 (sgd)\n"
	"  --momentum X        SGD momentum, default 0.9\n"
	"  --weight-decay X    L2 weight decay, default 0\n"
	"  --schedule S        const, step (x0.1 every --step-every epochs), cosine\n"
	"  --step-every N      default 1\n"
	"  --seed N            initialisation, shuffling and dropout (default 1)\n"
	"  --limit N           use only the first N training images\n"
	"  --threads N         engine threads (default: all cores)\n"
	"  --format text|json  summary format on stdout\n"
	"  -o, --output FILE   where to save the model (required)\n"
	"\n"
	"Adversarial training (docs/adversarial.md):\n"
	"  --adversarial KIND  pgd: Madry et al. 2018, train on L-inf PGD examples (random\n"
	"                      start, --adv-steps steps of 2.5*eps/steps); fgsm-rs: Wong et al.\n"
	"                      2020, one FGSM step of 1.25*eps from a uniform random start\n"
	"  --adv-eps X         radius (default 0.1)\n"
	"  --adv-steps N       PGD steps during training (default 10)\n"
	"  --adv-alpha X       step size (default: as above)\n"
	"  --checkpoint FILE   save the model to FILE and progress to FILE.state.json after\n"
	"                      every epoch\n"
	"  --resume            continue from --checkpoint FILE at the epoch after the last one\n"
	"                      completed (model weights restored; optimiser moments restart)\n"
	"\n"
	"exit: 0 trained and saved, 2 usage, 3 data or model could not be read/written\n";

struct progress {
	int epoch, epochs, tty;
	double t0, last;
};

static void on_progress(void *ctx, int done, int total, double loss, double acc)
{
	struct progress *p = ctx;
	double t = cli_now_s(), el = t - p->t0;
	char bar[31];
	int i, fill = total > 0 ? (int)(30.0 * done / total) : 30;

	if (!p->tty || (t - p->last < 0.2 && done < total))
		return;
	p->last = t;
	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
	bar[30] = '\0';
	fprintf(stderr, "\repoch %d/%d [%s] %d/%d loss %.4f acc %5.2f%% %6.0f img/s", p->epoch,
	        p->epochs, bar, done, total, loss, 100.0 * acc, el > 0 ? done / el : 0.0);
	fflush(stderr);
}

/* Checkpoint progress: {"epochs_done":N,"epochs":M} next to the checkpoint. */
static int write_state(const char *path, int done, int epochs)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f, "{\"epochs_done\":%d,\"epochs\":%d}\n", done, epochs);
	return fclose(f) == 0 ? 0 : -1;
}

static int read_state(const char *path, int *done)
{
	FILE *f = fopen(path, "r");
	int r;

	if (f == NULL)
		return -1;
	r = fscanf(f, "{\"epochs_done\":%d", done);
	fclose(f);
	return r == 1 && *done >= 0 && *done <= 10000 ? 0 : -1;
}

static double accuracy(struct bw_model *m, struct bw_graph *g, const struct bw_dataset *ds,
                       int32_t *pred, enum bw_err *err)
{
	int i, ok = 0;

	*err = bw_model_predict(m, g, ds, ds->n, 256, pred, NULL, NULL);
	if (*err != BW_OK)
		return 0.0;
	for (i = 0; i < ds->n; i++)
		ok += pred[i] == ds->y[i];
	return (double)ok / ds->n;
}

int cmd_train(int argc, char **argv)
{
	static const struct option opts[] = {
		{"arch", required_argument, NULL, 'a'}, {"data", required_argument, NULL, 'd'},
		{"test-data", required_argument, NULL, 'T'}, {"epochs", required_argument, NULL, 'e'},
		{"batch", required_argument, NULL, 'b'}, {"optim", required_argument, NULL, 'O'},
		{"lr", required_argument, NULL, 'l'}, {"momentum", required_argument, NULL, 'M'},
		{"weight-decay", required_argument, NULL, 'w'},
		{"schedule", required_argument, NULL, 'S'}, {"step-every", required_argument, NULL, 'E'},
		{"seed", required_argument, NULL, 's'}, {"limit", required_argument, NULL, 'L'},
		{"threads", required_argument, NULL, 't'}, {"format", required_argument, NULL, 'f'},
		{"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
		{"adversarial", required_argument, NULL, 'X'}, {"adv-eps", required_argument, NULL, 'P'},
		{"adv-steps", required_argument, NULL, 'Q'}, {"adv-alpha", required_argument, NULL, 'U'},
		{"checkpoint", required_argument, NULL, 'C'}, {"resume", no_argument, NULL, 'R'},
		{NULL, 0, NULL, 0}};
	const char *arch = NULL, *data = NULL, *test = NULL, *outp = NULL, *optim = "adam";
	const char *sched = "const";
	int epochs = 5, batch = 128, seed = 1, limit = 0, threads = 0, fmt = BW_OUT_TEXT, c, ep;
	int step_every = 1;
	float lr = -1.0f, mom = 0.9f, wd = 0.0f;
	struct bw_dataset tr = {0}, te = {0};
	struct bw_model *m = NULL;
	struct bw_graph *g = NULL;
	struct bw_optim *o = NULL;
	struct bw_optim_cfg cfg;
	struct bw_diag d;
	struct progress pr;
	enum bw_err err;
	int32_t *pred = NULL;
	int rc = BW_EXIT_INCOMPLETE;
	double loss = 0, acc = 0, tacc = -1.0, t_start, t_train = 0.0, c_train = 0.0;
	long long images = 0;
	const char *adv = NULL, *ckpt = NULL;
	float adv_eps = 0.1f, adv_alpha = -1.0f;
	int adv_steps = 10, resume = 0, ep0 = 0;
	struct bw_adv_cfg acfg;
	struct bw_adv *av = NULL;
	char ckst[4096];

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': arch = optarg; break;
		case 'd': data = optarg; break;
		case 'T': test = optarg; break;
		case 'o': outp = optarg; break;
		case 'O': optim = optarg; break;
		case 'S': sched = optarg; break;
		case 'e':
			if (cli_parse_int(optarg, 1, 10000, &epochs)) goto usage;
			break;
		case 'b':
			if (cli_parse_int(optarg, 2, 65536, &batch)) goto usage;
			break;
		case 's':
			if (cli_parse_int(optarg, 0, 2147483647, &seed)) goto usage;
			break;
		case 'L':
			if (cli_parse_int(optarg, 2, 100000000, &limit)) goto usage;
			break;
		case 't':
			if (cli_parse_int(optarg, 1, 256, &threads)) goto usage;
			break;
		case 'E':
			if (cli_parse_int(optarg, 1, 10000, &step_every)) goto usage;
			break;
		case 'l':
			if (cli_parse_float(optarg, &lr) || lr <= 0.0f) goto usage;
			break;
		case 'M':
			if (cli_parse_float(optarg, &mom)) goto usage;
			break;
		case 'w':
			if (cli_parse_float(optarg, &wd)) goto usage;
			break;
		case 'f':
			fmt = cli_parse_format(optarg, 0);
			if (fmt < 0) goto usage;
			break;
		case 'X': adv = optarg; break;
		case 'C': ckpt = optarg; break;
		case 'R': resume = 1; break;
		case 'P':
			if (cli_parse_float(optarg, &adv_eps) || adv_eps > 1.0f) goto usage;
			break;
		case 'Q':
			if (cli_parse_int(optarg, 1, 10000, &adv_steps)) goto usage;
			break;
		case 'U':
			if (cli_parse_float(optarg, &adv_alpha)) goto usage;
			break;
		case 'h':
			fputs(train_help, stdout);
			return BW_EXIT_OK;
		default:
			goto usage;
		}
	}
	if (optind != argc || arch == NULL || data == NULL || outp == NULL ||
	    (strcmp(optim, "sgd") != 0 && strcmp(optim, "adam") != 0) ||
	    (strcmp(sched, "const") != 0 && strcmp(sched, "step") != 0 && strcmp(sched, "cosine") != 0))
		goto usage;
	if ((adv != NULL && strcmp(adv, "pgd") != 0 && strcmp(adv, "fgsm-rs") != 0) ||
	    (resume && ckpt == NULL))
		goto usage;
	if (ckpt != NULL && snprintf(ckst, sizeof ckst, "%s.state.json", ckpt) >= (int)sizeof ckst)
		goto usage;
	if (test == NULL && strcmp(data, "fashion-mnist") == 0)
		test = "fashion-mnist";
	if (test != NULL && strcmp(test, "none") == 0)
		test = NULL;
	bw_tensor_set_threads(threads);
	bw_diag_clear(&d);
	err = bw_data_load_spec(data, 1, &tr, &d);
	if (err == BW_ERR_ARG) {
		cli_err("train", "%s", d.what);
		rc = BW_EXIT_USAGE;
		goto out;
	}
	if (err != BW_OK) {
		cli_err("train", "%s: %s (%s)", data, d.what[0] ? d.what : "cannot load", bw_err_str(err));
		goto out;
	}
	if (test != NULL) {
		bw_diag_clear(&d);
		err = bw_data_load_spec(test, 0, &te, &d);
		if (err != BW_OK) {
			cli_err("train", "%s: %s (%s)", test, d.what[0] ? d.what : "cannot load", bw_err_str(err));
			goto out;
		}
		if (te.c != tr.c || te.h != tr.h || te.w != tr.w) {
			cli_err("train", "test images are %dx%dx%d, training images %dx%dx%d", te.c, te.h,
			        te.w, tr.c, tr.h, tr.w);
			goto out;
		}
	}
	if (resume && read_state(ckst, &ep0) == 0) {
		err = bw_model_load(ckpt, &m, &d);
		if (err != BW_OK) {
			cli_err("train", "cannot resume from %s: %s (%s)", ckpt, d.what, bw_err_str(err));
			goto out;
		}
		fprintf(stderr, "resuming from %s after epoch %d\n", ckpt, ep0);
	} else {
		if (resume)
			fprintf(stderr, "no checkpoint state in %s: starting from epoch 1\n", ckst);
		err = bw_model_builtin(arch, tr.c, tr.h, tr.w,
		                       te.n_classes > tr.n_classes ? te.n_classes : tr.n_classes,
		                       (uint64_t)seed, &m);
	}
	if (err == BW_ERR_NOTFOUND) {
		cli_err("train", "unknown architecture '%s' (madry-cnn, lenet, mlp, resnet-mini)", arch);
		rc = BW_EXIT_USAGE;
		goto out;
	}
	if (err != BW_OK) {
		cli_err("train", "cannot build %s for %dx%dx%d images: %s", arch, tr.c, tr.h, tr.w,
		        bw_err_str(err));
		goto out;
	}
	bw_optim_cfg_default(&cfg, strcmp(optim, "sgd") == 0 ? BW_OPTIM_SGD : BW_OPTIM_ADAM);
	if (lr > 0.0f)
		cfg.lr = lr;
	cfg.momentum = mom;
	cfg.weight_decay = wd;
	cfg.sched = strcmp(sched, "step") == 0 ? BW_LR_STEP :
	            strcmp(sched, "cosine") == 0 ? BW_LR_COSINE : BW_LR_CONST;
	cfg.step_every = step_every;
	cfg.total_epochs = epochs;
	if ((err = bw_optim_new(m, &cfg, &o)) != BW_OK || (err = bw_graph_new((uint64_t)seed, &g)) != BW_OK) {
		cli_err("train", "cannot set up training: %s", bw_err_str(err));
		goto out;
	}
	if (adv != NULL) {
		if (strcmp(adv, "fgsm-rs") == 0) {
			bw_adv_cfg_fgsm_rs(&acfg, adv_eps);
		} else {
			bw_adv_cfg_default(&acfg, BW_ADV_PGD, BW_ADV_LINF, adv_eps);
			acfg.steps = adv_steps;
			acfg.alpha = 2.5f * adv_eps / (float)adv_steps;
		}
		if (adv_alpha >= 0.0f)
			acfg.alpha = adv_alpha;
		acfg.seed = (uint64_t)seed;
		err = bw_adv_new(batch, tr.c, tr.h, tr.w,
		                 te.n_classes > tr.n_classes ? te.n_classes : tr.n_classes, &av);
		if (err != BW_OK) {
			cli_err("train", "cannot set up adversarial training: %s", bw_err_str(err));
			goto out;
		}
	}
	pred = calloc((size_t)(te.n > 0 ? te.n : 1), sizeof *pred);
	if (pred == NULL)
		goto out;
	pr.tty = isatty(2);
	pr.epochs = epochs;
	t_start = cli_now_s();
	for (ep = ep0; ep < epochs; ep++) {
		double t0, c0 = cli_cpu_s();

		pr.epoch = ep + 1;
		pr.t0 = pr.last = t0 = cli_now_s();
		bw_optim_epoch(o, ep);
		if (av != NULL)
			err = bw_adv_train_epoch(m, o, g, av, &acfg, &tr, limit, batch,
			                         (uint64_t)seed * 1000003u + (uint64_t)ep, on_progress, &pr,
			                         &loss, &acc);
		else
			err = bw_train_epoch(m, o, g, &tr, limit, batch,
			                     (uint64_t)seed * 1000003u + (uint64_t)ep, on_progress, &pr,
			                     &loss, &acc);
		if (err != BW_OK) {
			if (pr.tty)
				fputc('\n', stderr);
			cli_err("train", "epoch %d failed: %s", ep + 1, bw_err_str(err));
			goto out;
		}
		t_train += cli_now_s() - t0;
		c_train += cli_cpu_s() - c0;
		images += limit > 0 && limit < tr.n ? limit : tr.n;
		if (pr.tty)
			fputc('\n', stderr);
		if (te.n > 0) {
			tacc = accuracy(m, g, &te, pred, &err);
			if (err != BW_OK) {
				cli_err("train", "evaluation failed: %s", bw_err_str(err));
				goto out;
			}
		}
		{
			char tbuf[48] = "";
			double el = cli_now_s() - t0;

			if (te.n > 0)
				snprintf(tbuf, sizeof tbuf, " test acc %.2f%%", 100.0 * tacc);
			fprintf(stderr, "epoch %d/%d: loss %.4f train acc %.2f%%%s, %.0f img/s, lr %g\n",
			        ep + 1, epochs, loss, 100.0 * acc, tbuf,
			        (limit > 0 && limit < tr.n ? limit : tr.n) / (el > 0 ? el : 1.0),
			        (double)bw_optim_lr(o));
		}
		if (ckpt != NULL && (bw_model_save(m, ckpt) != BW_OK || write_state(ckst, ep + 1, epochs) != 0)) {
			cli_err("train", "cannot write checkpoint %s", ckpt);
			goto out;
		}
	}
	err = bw_model_save(m, outp);
	if (err != BW_OK) {
		cli_err("train", "cannot write %s: %s", outp, bw_err_str(err));
		goto out;
	}
	if (fmt == BW_OUT_JSON)
		printf("{\"arch\":\"%s\",\"adversarial\":\"%s\",\"adv_eps\":%g,\"epochs\":%d,"
		       "\"train_loss\":%.6f,\"train_accuracy\":%.6f,"
		       "\"test_accuracy\":%.6f,\"images_per_second\":%.1f,\"train_seconds\":%.3f,"
		       "\"train_cpu_seconds\":%.3f,\"seconds\":%.2f,"
		       "\"blas_core\":\"%s\",\"conv_backend\":\"%s\",\"output\":\"%s\"}\n",
		       arch, adv != NULL ? adv : "none", adv != NULL ? (double)adv_eps : 0.0, epochs, loss,
		       acc, te.n > 0 ? tacc : -1.0,
		       t_train > 0 ? (double)images / t_train : 0.0, t_train, c_train, cli_now_s() - t_start,
		       bw_tensor_blas_core(), bw_tensor_conv_backend(), outp);
	else if (te.n > 0)
		printf("trained %s for %d epochs: loss %.4f, train accuracy %.2f%%, test accuracy "
		       "%.2f%%, %.0f images/s; saved %s\n",
		       arch, epochs, loss, 100.0 * acc, 100.0 * tacc,
		       t_train > 0 ? (double)images / t_train : 0.0, outp);
	else
		printf("trained %s for %d epochs: loss %.4f, train accuracy %.2f%%, %.0f images/s; "
		       "saved %s\n",
		       arch, epochs, loss, 100.0 * acc, t_train > 0 ? (double)images / t_train : 0.0, outp);
	rc = BW_EXIT_OK;
	goto out;
usage:
	fputs(train_help, stderr);
	rc = BW_EXIT_USAGE;
out:
	free(pred);
	bw_adv_free(av);
	bw_optim_free(o);
	bw_graph_free(g);
	bw_model_free(m);
	bw_data_release(&tr);
	bw_data_release(&te);
	return rc;
}
