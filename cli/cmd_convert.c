/*
 * cmd_convert.c - `bulwark convert`: rewrite a pickle-based checkpoint or a
 * NumPy file as safetensors without running it.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "bulwark/convert.h"
#include "cli.h"

const char convert_help[] =
	"usage: bulwark convert MODEL -o OUT.safetensors\n"
	"\n"
	"Convert a PyTorch checkpoint or NumPy file to safetensors without running any of it.\n"
	"Pickles are read with a restricted interpretation that accepts only what rebuilds\n"
	"tensors (storages, torch._utils rebuild functions, dicts, OrderedDicts, lists, tuples,\n"
	"numbers, strings); anything else refuses the conversion and is named. Tensors are\n"
	"named by their path in the checkpoint (model.fc.weight); other values are counted\n"
	"and left out; tensors sharing a storage are each written as their own copy.\n"
	"The input kind is recognised by content:\n"
	"  PyTorch zip      the torch.save default\n"
	"  PyTorch legacy   _use_new_zipfile_serialization=False\n"
	"  PyTorch tar      torch.save of torch 0.1-0.3 (members sys_info, pickle, storages,\n"
	"                   tensors); storage views, offsets and strides are resolved\n"
	"  NumPy .npy       one tensor named \"array\"\n"
	"  NumPy .npz       one tensor per member, named after it without \".npy\"\n"
	"NumPy dtypes: float16/32/64, int8-64, uint8-64, bool; Fortran-ordered arrays are\n"
	"written row-major and big-endian ones byte-swapped. Object arrays (a pickle) are\n"
	"refused; complex, string, datetime, void and structured dtypes are unsupported.\n"
	"\n"
	"options:\n"
	"  -o, --output FILE    where to write the safetensors file (required)\n"
	"  -f, --format FMT     text (default) or json summary on stdout\n"
	"\n"
	"exit codes: 0 converted, 1 refused (the file holds something outside the\n"
	"tensor-rebuilding subset: an import, a call, an object array), 2 usage error,\n"
	"3 unreadable, malformed, truncated or unsupported input (e.g. a complex dtype).\n"
	"Nothing is written unless the conversion succeeds.\n";

int cmd_convert(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	struct bw_convert_report rep;
	struct bw_diag diag;
	enum bw_err e;
	int c, fmt = BW_OUT_TEXT;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'f':
			fmt = cli_parse_format(optarg, 0);
			if (fmt < 0) {
				cli_err("convert", "unknown format '%s' (text, json)", optarg);
				return BW_EXIT_USAGE;
			}
			break;
		case 'h':
			return cli_help("convert");
		default:
			fprintf(stderr, "see: bulwark help convert\n");
			return BW_EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || out == NULL) {
		cli_err("convert", "give one MODEL and -o OUT.safetensors (see: bulwark help convert)");
		return BW_EXIT_USAGE;
	}
	bw_diag_clear(&diag);
	e = bw_convert_file(argv[optind], out, &rep, &diag);
	if (e != BW_OK) {
		cli_err("convert", "%s: %s", argv[optind], diag.what[0] ? diag.what : bw_err_str(e));
		if (e == BW_ERR_UNSUPPORTED && strstr(diag.what, "refusing") != NULL)
			return BW_EXIT_FINDINGS;
		return e == BW_ERR_ARG ? BW_EXIT_USAGE : BW_EXIT_INCOMPLETE;
	}
	if (fmt == BW_OUT_JSON) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "input", argv[optind], "input_format",
		                      rep.input_format, "output", out, "tensors", (json_int_t)rep.n_tensors,
		                      "other_values_left_out", (json_int_t)rep.n_other_leaves, "bytes",
		                      (json_int_t)rep.bytes_written);
		char *s = j ? json_dumps(j, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) : NULL;
		if (s == NULL) {
			cli_err("convert", "converted, but the summary could not be rendered");
			json_decref(j);
			return BW_EXIT_INCOMPLETE;
		}
		puts(s);
		free(s);
		json_decref(j);
	} else
		printf("%s (%s) -> %s: %zu tensors, %llu bytes; %zu non-tensor values left out\n",
		       argv[optind], rep.input_format, out, rep.n_tensors,
		       (unsigned long long)rep.bytes_written, rep.n_other_leaves);
	return BW_EXIT_OK;
}
