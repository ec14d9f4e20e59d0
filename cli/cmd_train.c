/*
 * cmd_train.c - bulwark train: train a built-in architecture on a dataset
 * with the tensor engine and save it as safetensors + architecture JSON.
 * Progress (loss, accuracy, images/s) goes to stderr; the summary to stdout.
 * --checkpoint keeps three files per epoch (model, optimiser state, progress
 * JSON binding the two by SHA-256) so --resume continues exactly; the
 * progress JSON is untrusted input on resume and read with a size cap.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bulwark/adv.h"
#include "bulwark/tensor.h"
#include "bulwark/translog.h"
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
	"\n"
	"Checkpoints (any training):\n"
	"  --checkpoint FILE   after every epoch save the model to FILE, the optimiser state\n"
	"                      (Adam moments and step count, SGD momentum) to\n"
	"                      FILE.optim.safetensors, and the progress to FILE.state.json\n"
	"  --resume            continue from --checkpoint FILE after the last finished epoch,\n"
	"                      exactly: with the same options and --threads the final model\n"
	"                      is byte-identical to an uninterrupted run (no state file: start\n"
	"                      at epoch 1)\n"
	"\n"
	"exit: 0 trained and saved, 2 usage, 3 data, model or checkpoint could not be\n"
	"read/written, or the checkpoint does not fit this run (other architecture or\n"
	"optimiser, files that do not belong together)\n";

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

/*
 * The options that decide the training trajectory, recorded in the checkpoint so a
 * resume can say which ones changed (the result then differs from one run).
 */
struct run_cfg {
	const char *arch, *optim, *sched, *adv;
	double lr, mom, wd, adv_eps, adv_alpha;
	int step_every, batch, seed, limit, threads, adv_steps, n_train;
};

static json_t *run_cfg_json(const struct run_cfg *r)
{
	return json_pack("{s:s,s:s,s:f,s:f,s:f,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:s,s:f,s:i,s:f}",
	                 "arch", r->arch, "optim", r->optim, "lr", r->lr, "momentum", r->mom,
	                 "weight_decay", r->wd, "schedule", r->sched, "step_every", r->step_every,
	                 "batch", r->batch, "seed", r->seed, "limit", r->limit, "train_images",
	                 r->n_train, "threads", r->threads, "adversarial", r->adv != NULL ? r->adv : "none",
	                 "adv_eps", r->adv_eps, "adv_steps", r->adv_steps, "adv_alpha", r->adv_alpha);
}

/* Paths of the checkpoint's companion files. */
struct ckpt {
	const char *model;
	char optim[4096], state[4096], tmp[4096];
};

#define STATE_MAX_BYTES 65536
#define CKPT_FORMAT "bulwark-train-checkpoint"

/*
 * FILE.state.json, written last and atomically (temporary file, fsync, rename): the epoch
 * count, the optimiser's step count and the graph's generator state, the SHA-256
 * of the model and optimiser files it belongs to, and the run's options.
 */
static int write_state(const struct ckpt *ck, int done, int epochs, long long step, uint64_t rng,
                       const struct run_cfg *rc)
{
	char mh[65], oh[65], rs[17];
	struct bw_diag d;
	json_t *j;
	FILE *f;
	int r;

	bw_diag_clear(&d);
	if (bw_tlog_file_digest(ck->model, mh, &d) != BW_OK ||
	    bw_tlog_file_digest(ck->optim, oh, &d) != BW_OK)
		return -1;
	snprintf(rs, sizeof rs, "%016llx", (unsigned long long)rng);
	j = json_pack("{s:s,s:i,s:i,s:i,s:I,s:s,s:s,s:s,s:o}", "format", CKPT_FORMAT, "version", 2,
	              "epochs_done", done, "epochs", epochs, "optim_step", (json_int_t)step,
	              "graph_rng", rs, "model_sha256", mh, "optim_sha256", oh, "settings",
	              run_cfg_json(rc));
	if (j == NULL)
		return -1;
	f = fopen(ck->tmp, "w");
	if (f == NULL) {
		json_decref(j);
		return -1;
	}
	r = json_dumpf(j, f, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (fputc('\n', f) == EOF)
		r = -1;
	/* on disk before the rename: a crash never leaves a state file that names lost bytes */
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		r = -1;
	if (fclose(f) != 0 || r != 0 || rename(ck->tmp, ck->state) != 0) {
		remove(ck->tmp);
		return -1;
	}
	return 0;
}

struct resume {
	int done, epochs;
	long long step;
	uint64_t rng;
	char model_sha[65], optim_sha[65];
	json_t *settings;
};

static int is_hex(const char *s, size_t n)
{
	size_t i;

	if (s == NULL || strlen(s) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/*
 * Read FILE.state.json (untrusted: at most STATE_MAX_BYTES, every field checked).
 * 1 when it does not exist, 0 when read into *rs, -1 after printing why not.
 */
static int read_state(const struct ckpt *ck, struct resume *rs)
{
	char *buf = NULL;
	size_t n;
	json_t *j = NULL, *v;
	json_error_t je;
	const char *why = NULL;
	FILE *f = fopen(ck->state, "rb");
	json_int_t step;
	int r = -1;

	memset(rs, 0, sizeof *rs);
	if (f == NULL && errno == ENOENT)
		return 1;
	if (f == NULL) {
		cli_err("train", "cannot read %s: %s", ck->state, strerror(errno));
		return -1;
	}
	buf = malloc(STATE_MAX_BYTES + 1);
	if (buf == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, STATE_MAX_BYTES + 1, f);
	fclose(f);
	if (n > STATE_MAX_BYTES) {
		why = "over 64 KiB";
		goto out;
	}
	j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		cli_err("train", "checkpoint state %s: byte %d: %s", ck->state, je.position, je.text);
		goto out_quiet;
	}
	if (!json_is_object(j)) {
		why = "not a JSON object";
		goto out;
	}
	if (json_object_get(j, "format") == NULL && json_object_get(j, "epochs_done") != NULL) {
		why = "written by an older bulwark without the optimiser state, so it cannot resume "
		      "exactly; remove it to train from epoch 1";
		goto out;
	}
	v = json_object_get(j, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v), CKPT_FORMAT) != 0 ||
	    json_integer_value(json_object_get(j, "version")) != 2) {
		why = "not a bulwark training checkpoint (format " CKPT_FORMAT ", version 2)";
		goto out;
	}
	v = json_object_get(j, "epochs_done");
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 10000) {
		why = "epochs_done is not an integer in [0, 10000]";
		goto out;
	}
	rs->done = (int)json_integer_value(v);
	v = json_object_get(j, "epochs");
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 10000) {
		why = "epochs is not an integer in [1, 10000]";
		goto out;
	}
	rs->epochs = (int)json_integer_value(v);
	v = json_object_get(j, "optim_step");
	step = json_integer_value(v);
	if (!json_is_integer(v) || step < 0 || step > 1000000000000000LL) {
		why = "optim_step is not an integer in [0, 1e15]";
		goto out;
	}
	rs->step = (long long)step;
	v = json_object_get(j, "graph_rng");
	if (!is_hex(json_string_value(v), 16)) {
		why = "graph_rng is not 16 hex digits";
		goto out;
	}
	rs->rng = strtoull(json_string_value(v), NULL, 16);
	if (!is_hex(json_string_value(json_object_get(j, "model_sha256")), 64) ||
	    !is_hex(json_string_value(json_object_get(j, "optim_sha256")), 64)) {
		why = "model_sha256 or optim_sha256 is not a SHA-256 in hex";
		goto out;
	}
	memcpy(rs->model_sha, json_string_value(json_object_get(j, "model_sha256")), 65);
	memcpy(rs->optim_sha, json_string_value(json_object_get(j, "optim_sha256")), 65);
	v = json_object_get(j, "settings");
	if (!json_is_object(v) || !json_is_string(json_object_get(v, "arch")) ||
	    !json_is_string(json_object_get(v, "optim"))) {
		why = "settings (arch, optim) missing";
		goto out;
	}
	rs->settings = json_incref(v);
	r = 0;
out:
	if (why != NULL)
		cli_err("train", "checkpoint state %s: %s", ck->state, why);
out_quiet:
	json_decref(j);
	free(buf);
	return r;
}

/*
 * Options of this run that differ from the checkpoint's: a note each (the run goes
 * on, as a user may mean to change the learning rate, but it is no longer one run).
 */
static void note_changes(const struct resume *rs, const struct run_cfg *now, int epochs)
{
	const json_t *was = rs->settings;
	json_t *cur = run_cfg_json(now);
	const char *key;
	json_t *v;

	json_object_foreach(cur, key, v) {
		const json_t *o = json_object_get(was, key);

		if (strcmp(key, "arch") == 0 || strcmp(key, "optim") == 0)
			continue; /* refused before: they decide what the state means */
		if (o == NULL || !json_equal(o, v)) {
			char *a = o != NULL ? json_dumps(o, JSON_ENCODE_ANY) : NULL, *b = json_dumps(v, JSON_ENCODE_ANY);

			fprintf(stderr,
			        "bulwark train: note: %s was %s in the checkpoint and is %s now; the "
			        "result will differ from an uninterrupted run\n",
			        key, a != NULL ? a : "absent", b != NULL ? b : "?");
			free(a);
			free(b);
		}
	}
	json_decref(cur);
	if (strcmp(now->sched, "cosine") == 0 && rs->epochs != epochs)
		fprintf(stderr,
		        "bulwark train: note: the cosine schedule spans --epochs, %d in the checkpoint "
		        "and %d now; the result will differ from an uninterrupted run\n",
		        rs->epochs, epochs);
}

/* The model and optimiser files are the ones the state was written with. */
static int check_digests(const struct ckpt *ck, const struct resume *rs)
{
	char h[65];
	struct bw_diag d;
	const char *paths[2] = {ck->model, ck->optim}, *want[2] = {rs->model_sha, rs->optim_sha};
	int i;

	for (i = 0; i < 2; i++) {
		bw_diag_clear(&d);
		if (bw_tlog_file_digest(paths[i], h, &d) != BW_OK) {
			cli_err("train", "cannot resume: %s: %s", paths[i], d.what);
			return -1;
		}
		if (strcmp(h, want[i]) != 0) {
			cli_err("train",
			        "cannot resume: %s is not the file %s was written with (SHA-256 differs); "
			        "the checkpoint was changed or its writing was interrupted",
			        paths[i], ck->state);
			return -1;
		}
	}
	return 0;
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
	struct ckpt ck;
	struct resume rsm;
	struct run_cfg rcfg;
	int have_state = 0;

	memset(&ck, 0, sizeof ck);
	memset(&acfg, 0, sizeof acfg);
	memset(&rsm, 0, sizeof rsm);
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
	if (ckpt != NULL) {
		ck.model = ckpt;
		if (snprintf(ck.optim, sizeof ck.optim, "%s.optim.safetensors", ckpt) >= (int)sizeof ck.optim ||
		    snprintf(ck.state, sizeof ck.state, "%s.state.json", ckpt) >= (int)sizeof ck.state ||
		    snprintf(ck.tmp, sizeof ck.tmp, "%s.state.json.tmp", ckpt) >= (int)sizeof ck.tmp)
			goto usage;
	}
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
	if (resume) {
		int r = read_state(&ck, &rsm);

		if (r < 0)
			goto out;
		have_state = r == 0;
	}
	if (have_state) {
		const char *was_arch = json_string_value(json_object_get(rsm.settings, "arch"));
		const char *was_optim = json_string_value(json_object_get(rsm.settings, "optim"));

		/* The optimiser state only means something for the same parameters and update rule. */
		if (strcmp(was_arch, arch) != 0 || strcmp(was_optim, optim) != 0) {
			cli_err("train", "cannot resume: %s was trained as --arch %.64s --optim %.16s, this run "
			        "asks for --arch %s --optim %s", ckpt, was_arch, was_optim, arch, optim);
			goto out;
		}
		if (check_digests(&ck, &rsm) != 0)
			goto out;
		ep0 = rsm.done;
		bw_diag_clear(&d);
		err = bw_model_load(ckpt, &m, &d);
		if (err != BW_OK) {
			cli_err("train", "cannot resume from %s: %s (%s)", ckpt, d.what, bw_err_str(err));
			goto out;
		}
	} else {
		if (resume)
			fprintf(stderr, "no checkpoint state in %s: starting from epoch 1\n", ck.state);
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
	rcfg.arch = arch;
	rcfg.optim = optim;
	rcfg.sched = sched;
	rcfg.adv = adv;
	rcfg.lr = (double)cfg.lr;
	rcfg.mom = (double)cfg.momentum;
	rcfg.wd = (double)cfg.weight_decay;
	rcfg.step_every = step_every;
	rcfg.batch = batch;
	rcfg.seed = seed;
	rcfg.limit = limit;
	rcfg.threads = threads;
	rcfg.n_train = limit > 0 && limit < tr.n ? limit : tr.n;
	rcfg.adv_eps = adv != NULL ? (double)acfg.eps : 0.0;
	rcfg.adv_steps = adv != NULL ? acfg.steps : 0;
	rcfg.adv_alpha = adv != NULL ? (double)acfg.alpha : 0.0;
	if (have_state) {
		bw_diag_clear(&d);
		err = bw_optim_load(o, ck.optim, &d);
		if (err != BW_OK) {
			cli_err("train", "cannot resume: %s: %s (%s)", ck.optim, d.what, bw_err_str(err));
			goto out;
		}
		if (bw_optim_steps(o) != rsm.step) {
			cli_err("train", "cannot resume: %s holds step %lld, %s says %lld", ck.optim,
			        bw_optim_steps(o), ck.state, rsm.step);
			goto out;
		}
		bw_graph_set_rng_state(g, rsm.rng);
		note_changes(&rsm, &rcfg, epochs);
		fprintf(stderr, "resuming from %s after epoch %d (optimiser step %lld)\n", ckpt, ep0,
		        rsm.step);
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
		if (ckpt != NULL && (bw_model_save(m, ckpt) != BW_OK || bw_optim_save(o, ck.optim) != BW_OK ||
		                     write_state(&ck, ep + 1, epochs, bw_optim_steps(o),
		                                 bw_graph_rng_state(g), &rcfg) != 0)) {
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
		       "\"train_cpu_seconds\":%.3f,\"seconds\":%.2f,\"resumed_after_epoch\":%d,"
		       "\"optimizer_steps\":%lld,\"blas_core\":\"%s\",\"conv_backend\":\"%s\",\"output\":\"%s\"}\n",
		       arch, adv != NULL ? adv : "none", adv != NULL ? (double)adv_eps : 0.0, epochs, loss,
		       acc, te.n > 0 ? tacc : -1.0,
		       t_train > 0 ? (double)images / t_train : 0.0, t_train, c_train, cli_now_s() - t_start,
		       have_state ? ep0 : 0, bw_optim_steps(o), bw_tensor_blas_core(), bw_tensor_conv_backend(),
		       outp);
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
	json_decref(rsm.settings);
	free(pred);
	bw_adv_free(av);
	bw_optim_free(o);
	bw_graph_free(g);
	bw_model_free(m);
	bw_data_release(&tr);
	bw_data_release(&te);
	return rc;
}
