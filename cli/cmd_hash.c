/*
 * cmd_hash.c - bulwark hash: the OMS manifest of a model (every file's or
 * shard's SHA-256, as model_signing serializes it), hashed on all cores.
 * Also holds the small helpers the signing commands share (file reading,
 * hashing options, progress bar), declared in each user with a prototype.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "bulwark/sign.h"

const char hash_help[] =
	"usage: bulwark hash [options] MODEL_DIR_OR_FILE\n"
	"\n"
	"Print the OpenSSF Model Signing (OMS v1.0) manifest of a model: the SHA-256 of\n"
	"every file (or every shard of every file), with the root digest a signature's\n"
	"in-toto subject carries. Files are hashed in parallel on all cores.\n"
	"\n"
	"options:\n"
	"  --method files|shards   serialization method (default files)\n"
	"  --shard-size N          shard size in bytes (default 1000000000)\n"
	"  --ignore-paths PATH     exclude PATH (relative to the model, or MODEL/PATH); repeatable\n"
	"  --no-default-ignores    do not exclude .git .gitattributes .github .gitignore\n"
	"  --allow-symlinks        follow symbolic links to files (default: error)\n"
	"  --signature PATH        also exclude this signature file (default MODEL/model.sig)\n"
	"  --order spec|python     resource order: byte-wise (OMS spec, Go; default) or\n"
	"                          path components (model_signing); the root digest follows it\n"
	"  --model-name NAME       subject name (default: the model's basename)\n"
	"  --single-file-name basename|dot\n"
	"                          resource name of a single-file model: its basename (OMS\n"
	"                          spec, Go; default) or \".\" (what model_signing 1.x verifies)\n"
	"  --threads N             hashing threads (default: online CPUs)\n"
	"  --statement             print the in-toto statement that `sign` would sign\n"
	"  --format text|json      output format (default text)\n"
	"exit codes: 0 ok, 2 usage, 3 a file could not be read\n";

/* A file name on a terminal line: control bytes as \xNN so a hostile name
 * cannot forge output lines or terminal escapes. */
void cli_sign_put_name(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '\\')
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static int g_progress_shown;

int cli_sign_exit_for(enum bw_err err)
{
	switch (err) {
	case BW_OK:
		return BW_EXIT_OK;
	case BW_ERR_VERIFY:
		return BW_EXIT_FINDINGS;
	case BW_ERR_ARG:
		return BW_EXIT_USAGE;
	default:
		return BW_EXIT_INCOMPLETE;
	}
}

int cli_sign_read_file(const char *cmd, const char *path, size_t max, unsigned char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t cap = 0, n = 0;

	*out = NULL;
	*len = 0;
	if (f == NULL) {
		cli_err(cmd, "%s: %s", path, strerror(errno));
		return BW_EXIT_INCOMPLETE;
	}
	for (;;) {
		size_t got;

		if (n == cap) {
			unsigned char *nb;

			if (cap >= max) {
				cli_err(cmd, "%s: larger than %zu bytes", path, max);
				goto fail;
			}
			/* Grow by copy + wipe, never realloc: the old block may
			 * hold key bytes and must not be freed uncleared. */
			nb = malloc((cap ? cap * 2 : 4096) + 1);
			if (nb == NULL) {
				cli_err(cmd, "out of memory");
				goto fail;
			}
			if (buf != NULL) {
				memcpy(nb, buf, n);
				bw_sign_wipe(buf, cap);
				free(buf);
			}
			buf = nb;
			cap = cap ? cap * 2 : 4096;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		cli_err(cmd, "%s: read error", path);
		goto fail;
	}
	fclose(f);
	if (buf == NULL && (buf = malloc(1)) == NULL)
		return BW_EXIT_INCOMPLETE;
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return BW_EXIT_OK;
fail:
	if (buf != NULL) {
		bw_sign_wipe(buf, cap); /* may hold a private key */
		free(buf);
	}
	fclose(f);
	return BW_EXIT_INCOMPLETE;
}

void cli_sign_progress(void *ctx, uint64_t done, uint64_t total)
{
	static time_t last;
	time_t now = time(NULL);
	int pct;

	(void)ctx;
	if (total < (256u << 20) || (now == last && done < total))
		return;
	last = now;
	pct = (int)(done * 100 / (total ? total : 1));
	fprintf(stderr, "\rhashing [%-40.*s] %3d%% %llu/%llu MB", pct * 40 / 100,
	        "########################################", pct, (unsigned long long)(done >> 20),
	        (unsigned long long)(total >> 20));
	g_progress_shown = 1;
}

void cli_sign_progress_done(void)
{
	if (g_progress_shown)
		fputc('\n', stderr);
	g_progress_shown = 0;
}

/* Strip "MODEL/" from an ignore path given relative to the working folder. */
static const char *rel_to_model(const char *p, const char *model)
{
	size_t n = strlen(model);

	while (n > 1 && model[n - 1] == '/')
		n--;
	if (strncmp(p, model, n) == 0 && p[n] == '/')
		return p + n + 1;
	return p;
}

/* Parse one hashing option at argv[*i]; 1 when consumed, 0 when not ours,
 * -1 on a usage error. */
int cli_sign_hash_opt(const char *cmd, int argc, char **argv, int *i, struct bw_hash_opts *o,
                      const char **ign, size_t *n_ign, size_t max_ign, const char *model)
{
	const char *a = argv[*i];
	const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;

	if (strcmp(a, "--allow-symlinks") == 0) {
		o->allow_symlinks = 1;
		return 1;
	}
	if (strcmp(a, "--no-default-ignores") == 0) {
		o->no_default_ignores = 1;
		return 1;
	}
	if (strcmp(a, "--single-file-name") == 0 && v != NULL) {
		(*i)++;
		if (strcmp(v, "dot") == 0 || strcmp(v, "basename") == 0) {
			o->single_file_dot = v[0] == 'd';
			return 1;
		}
		cli_err(cmd, "--single-file-name must be basename or dot");
		return -1;
	}
	if (strcmp(a, "--method") != 0 && strcmp(a, "--shard-size") != 0 && strcmp(a, "--ignore-paths") != 0 &&
	    strcmp(a, "--threads") != 0 && strcmp(a, "--order") != 0 && strcmp(a, "--model-name") != 0)
		return 0;
	if (v == NULL) {
		cli_err(cmd, "%s needs a value", a);
		return -1;
	}
	(*i)++;
	if (strcmp(a, "--method") == 0) {
		if (strcmp(v, "files") == 0)
			o->method = BW_SER_FILES;
		else if (strcmp(v, "shards") == 0)
			o->method = BW_SER_SHARDS;
		else {
			cli_err(cmd, "--method must be files or shards");
			return -1;
		}
	} else if (strcmp(a, "--shard-size") == 0) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(v, &end, 10);
		if (errno != 0 || *end != '\0' || n == 0 || v[0] == '-') {
			cli_err(cmd, "--shard-size must be a positive integer");
			return -1;
		}
		o->shard_size = n;
	} else if (strcmp(a, "--ignore-paths") == 0) {
		if (*n_ign == max_ign) {
			cli_err(cmd, "too many --ignore-paths");
			return -1;
		}
		ign[(*n_ign)++] = model ? rel_to_model(v, model) : v;
	} else if (strcmp(a, "--threads") == 0) {
		int t = atoi(v);

		if (t < 1 || t > 64) {
			cli_err(cmd, "--threads must be 1..64");
			return -1;
		}
		o->threads = (unsigned)t;
	} else if (strcmp(a, "--order") == 0) {
		if (strcmp(v, "spec") == 0)
			o->order = BW_ORDER_SPEC;
		else if (strcmp(v, "python") == 0)
			o->order = BW_ORDER_PYTHON;
		else {
			cli_err(cmd, "--order must be spec or python");
			return -1;
		}
	} else {
		o->model_name = v;
	}
	return 1;
}

/* The model operand is needed to resolve --ignore-paths; find it first. */
static const char *find_model(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (a[0] != '-')
			return a;
		if (strcmp(a, "--allow-symlinks") == 0 || strcmp(a, "--no-default-ignores") == 0 ||
		    strcmp(a, "--statement") == 0 || strcmp(a, "--ignore-unsigned-files") == 0)
			continue;
		i++; /* option with a value */
	}
	return NULL;
}

#define MAX_IGN 256

int cmd_hash(int argc, char **argv)
{
	struct bw_hash_opts o;
	const char *ign[MAX_IGN];
	size_t n_ign = 0, i;
	const char *model = NULL, *sig = NULL;
	int fmt = BW_OUT_TEXT, statement = 0, k, r;
	struct bw_manifest *m = NULL;
	struct bw_diag diag;
	enum bw_err err;
	char defsig[4096], hex[65];
	const char *pre = find_model(argc, argv);

	bw_hash_opts_init(&o);
	for (k = 1; k < argc; k++) {
		r = cli_sign_hash_opt("hash", argc, argv, &k, &o, ign, &n_ign, MAX_IGN, pre);
		if (r < 0)
			return BW_EXIT_USAGE;
		if (r > 0)
			continue;
		if (strcmp(argv[k], "--format") == 0 && k + 1 < argc) {
			fmt = cli_parse_format(argv[++k], 0);
			if (fmt < 0) {
				cli_err("hash", "--format must be text or json");
				return BW_EXIT_USAGE;
			}
		} else if (strcmp(argv[k], "--signature") == 0 && k + 1 < argc) {
			sig = argv[++k];
		} else if (strcmp(argv[k], "--statement") == 0) {
			statement = 1;
		} else if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
			fputs(hash_help, stdout);
			return BW_EXIT_OK;
		} else if (argv[k][0] == '-') {
			cli_err("hash", "unknown option %s (see bulwark help hash)", argv[k]);
			return BW_EXIT_USAGE;
		} else if (model == NULL) {
			model = argv[k];
		} else {
			cli_err("hash", "only one model path is accepted");
			return BW_EXIT_USAGE;
		}
	}
	if (model == NULL) {
		fputs(hash_help, stderr);
		return BW_EXIT_USAGE;
	}
	if (sig == NULL) {
		snprintf(defsig, sizeof defsig, "%s/model.sig", model);
		sig = defsig;
	}
	o.ignore_paths = ign;
	o.n_ignore_paths = n_ign;
	if (isatty(2))
		o.progress = cli_sign_progress;
	bw_diag_clear(&diag);
	err = bw_manifest_build(model, sig, &o, &m, &diag);
	cli_sign_progress_done();
	if (err != BW_OK) {
		cli_err("hash", "%s", diag.what[0] ? diag.what : bw_err_str(err));
		return err == BW_ERR_ARG ? BW_EXIT_USAGE : BW_EXIT_INCOMPLETE;
	}
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", m->root[i]);
	if (statement) {
		char *st = NULL;
		size_t sl = 0;

		if (bw_manifest_statement(m, &st, &sl) != BW_OK) {
			cli_err("hash", "out of memory");
			bw_manifest_free(m);
			return BW_EXIT_INCOMPLETE;
		}
		fwrite(st, 1, sl, stdout);
		fputc('\n', stdout);
		bw_sign_free(st);
	} else if (fmt == BW_OUT_JSON) {
		json_t *res = json_array(), *ig = json_array(), *doc;
		char *txt;

		for (i = 0; i < m->n_items; i++) {
			char d[65];
			size_t b;

			for (b = 0; b < 32; b++)
				snprintf(d + 2 * b, 3, "%02x", m->items[i].digest[b]);
			json_array_append_new(res, json_pack("{s:s, s:s, s:s}", "name", m->items[i].name, "algorithm",
			                                     m->items[i].algorithm, "digest", d));
		}
		for (i = 0; i < m->n_ignore_paths; i++)
			json_array_append_new(ig, json_string(m->ignore_paths[i]));
		doc = json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:b, s:o}, s:I, s:I, s:o}", "model", m->model_name,
		                "root_digest", "sha256", hex, "serialization", "method",
		                m->method == BW_SER_SHARDS ? "shards" : "files", "hash_type", "sha256",
		                "allow_symlinks", m->allow_symlinks, "ignore_paths", ig,
		                "files", (json_int_t)m->n_files, "bytes", (json_int_t)m->total_bytes, "resources", res);
		if (doc != NULL && m->method == BW_SER_SHARDS)
			json_object_set_new(json_object_get(doc, "serialization"), "shard_size",
			                    json_integer((json_int_t)m->shard_size));
		txt = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
		if (txt != NULL) {
			puts(txt);
			free(txt);
		}
		json_decref(doc);
	} else {
		for (i = 0; i < m->n_items; i++) {
			char d[65];
			size_t b;

			for (b = 0; b < 32; b++)
				snprintf(d + 2 * b, 3, "%02x", m->items[i].digest[b]);
			printf("%s  ", d);
			cli_sign_put_name(stdout, m->items[i].name);
			fputc('\n', stdout);
		}
		printf("# root sha256:%s  model=%s  method=%s  files=%zu  resources=%zu  bytes=%llu\n", hex,
		       m->model_name, m->method == BW_SER_SHARDS ? "shards" : "files", m->n_files, m->n_items,
		       (unsigned long long)m->total_bytes);
	}
	bw_manifest_free(m);
	return BW_EXIT_OK;
}
