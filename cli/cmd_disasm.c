/*
 * cmd_disasm.c - `bulwark disasm`: opcode listing of every pickle stream in a
 * file (like pickletools.dis, but decoded as CPython's C unpickler reads it),
 * followed by the imports, calls and findings the symbolic machine reports.
 * Uses the internal pickle API (formats/pickle/pickle.h; src/ is on the
 * include path of the CLI). Never executes anything from the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/pickle/pickle.h"

const char disasm_help[] =
	"usage: bulwark disasm [--format text|json] FILE\n"
	"\n"
	"Print the opcodes (offset, name, argument) of every pickle stream in FILE, then the\n"
	"imports and calls the unpickler would perform and any anomaly found. Nothing is loaded\n"
	"or executed. Arguments are decoded as CPython's C unpickler decodes them.\n"
	"\n"
	"  --format text|json   output format (default text); json gives one object with\n"
	"                       \"ops\", \"imports\", \"calls\", \"findings\", \"formats\", \"incomplete\"\n"
	"\n"
	"exit codes: 0 decoded, 2 usage error, 3 file unreadable or a stream is broken\n"
	"(everything decoded before the break is printed).\n";

#define DISASM_MAX_FILE ((size_t)1 << 34)

struct dis {
	int json;
	FILE *out;       /* ops go straight here */
	FILE *ev;        /* imports/calls/findings, printed after the ops */
	char *ev_buf;
	size_t ev_len;
	int n_ops, n_imp, n_call, n_find, n_fmt;
	FILE *imp, *call, *find, *fmt; /* json: one memstream per array */
	char *imp_b, *call_b, *find_b, *fmt_b;
	size_t imp_l, call_l, find_l, fmt_l;
	int incomplete;
	char inc_msg[512];
	unsigned long long inc_off;
	const char *inc_why;
	unsigned last_stream;
	int any_op;
};

static void json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");

	fputc('"', f);
	for (; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void json_opt_str(FILE *f, const char *s)
{
	if (s == NULL)
		fputs("null", f);
	else
		json_str(f, s);
}

static void hex(FILE *f, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

static void text_quoted(FILE *f, const uint8_t *p, size_t n, size_t cap)
{
	size_t i;

	fputc('\'', f);
	for (i = 0; i < n && i < cap; i++) {
		if (p[i] == '\\' || p[i] == '\'')
			fprintf(f, "\\%c", p[i]);
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			fprintf(f, "\\x%02x", p[i]);
		else
			fputc(p[i], f);
	}
	fputc('\'', f);
	if (n > cap)
		fprintf(f, "... (%zu bytes)", n);
}

static void on_op(void *user, const struct bw_pickle_op *op)
{
	struct dis *d = user;
	FILE *f = d->out;

	if (d->json) {
		fprintf(f, "%s\n{\"stream\":%u,\"offset\":%llu,\"op\":\"%s\",\"arg\":", d->n_ops ? "," : "",
		        op->stream, (unsigned long long)op->offset, op->name);
		switch (op->arg_kind) {
		case BW_PICKLE_ARG_NONE:
			fputs("null", f);
			break;
		case BW_PICKLE_ARG_INT:
			fputs("{\"int\":", f);
			json_str(f, op->text);
			fputc('}', f);
			break;
		case BW_PICKLE_ARG_BOOL:
			fprintf(f, "{\"bool\":%s}", strcmp(op->text, "True") == 0 ? "true" : "false");
			break;
		case BW_PICKLE_ARG_FLOAT:
			fputs("{\"float\":", f);
			json_str(f, op->text);
			fputc('}', f);
			break;
		case BW_PICKLE_ARG_STR:
			fputs("{\"str\":\"", f);
			hex(f, op->data, op->data_len);
			fputs("\"}", f);
			break;
		case BW_PICKLE_ARG_BYTES:
			fputs("{\"bytes\":\"", f);
			hex(f, op->data, op->data_len);
			fputs("\"}", f);
			break;
		}
		fputc('}', f);
	} else {
		if (!d->any_op || op->stream != d->last_stream)
			fprintf(f, "%s-- stream %u --\n", d->any_op ? "\n" : "", op->stream);
		fprintf(f, "%8llu: %-18s", (unsigned long long)op->offset, op->name);
		switch (op->arg_kind) {
		case BW_PICKLE_ARG_NONE:
			break;
		case BW_PICKLE_ARG_INT:
		case BW_PICKLE_ARG_BOOL:
		case BW_PICKLE_ARG_FLOAT:
			fprintf(f, " %s", op->text);
			break;
		case BW_PICKLE_ARG_STR:
			fputc(' ', f);
			text_quoted(f, op->data, op->data_len, 200);
			break;
		case BW_PICKLE_ARG_BYTES:
			fputs(" b", f);
			text_quoted(f, op->data, op->data_len, 200);
			break;
		}
		fputc('\n', f);
	}
	d->any_op = 1;
	d->last_stream = op->stream;
	d->n_ops++;
}

static void on_finding(void *user, const char *rule, uint64_t offset, const char *msg)
{
	struct dis *d = user;

	if (d->json) {
		fprintf(d->find, "%s{\"rule\":", d->n_find ? "," : "");
		json_str(d->find, rule);
		fprintf(d->find, ",\"offset\":%llu,\"message\":", (unsigned long long)offset);
		json_str(d->find, msg);
		fputc('}', d->find);
	} else {
		fprintf(d->find, "  %-28s @%llu  %s\n", rule, (unsigned long long)offset, msg);
	}
	d->n_find++;
}

static void on_import(void *user, const char *module, const char *name, const char *orig_module,
                      const char *orig_name, uint64_t offset, const char *how)
{
	struct dis *d = user;

	if (d->json) {
		fprintf(d->imp, "%s{\"module\":", d->n_imp ? "," : "");
		json_str(d->imp, module);
		fputs(",\"name\":", d->imp);
		json_str(d->imp, name);
		fputs(",\"orig_module\":", d->imp);
		json_str(d->imp, orig_module);
		fputs(",\"orig_name\":", d->imp);
		json_str(d->imp, orig_name);
		fprintf(d->imp, ",\"offset\":%llu,\"how\":", (unsigned long long)offset);
		json_str(d->imp, how);
		fputc('}', d->imp);
	} else {
		fprintf(d->imp, "  %-12s %s%s%s  @%llu", how, module, name[0] ? "." : "", name,
		        (unsigned long long)offset);
		if (strcmp(module, orig_module) != 0 || strcmp(name, orig_name) != 0)
			fprintf(d->imp, "  (written as %s.%s)", orig_module, orig_name);
		fputc('\n', d->imp);
	}
	d->n_imp++;
}

static void on_call(void *user, const struct bw_fmt_call *c)
{
	struct dis *d = user;

	if (d->json) {
		fprintf(d->call, "%s{\"module\":", d->n_call ? "," : "");
		json_str(d->call, c->module);
		fputs(",\"name\":", d->call);
		json_str(d->call, c->name);
		fputs(",\"args\":", d->call);
		json_opt_str(d->call, c->args);
		fprintf(d->call, ",\"offset\":%llu,\"how\":", (unsigned long long)c->offset);
		json_str(d->call, c->how);
		fprintf(d->call, ",\"bytes_arg_len\":%zu}", c->bytes_arg != NULL ? c->bytes_arg_len : 0);
	} else {
		fprintf(d->call, "  %-12s %s.%s%s  @%llu\n", c->how, c->module, c->name,
		        c->args != NULL ? c->args : "(<not constant>)", (unsigned long long)c->offset);
	}
	d->n_call++;
}

static enum bw_err on_member(void *user, const char *name, const uint8_t *data, size_t len,
                             uint64_t offset)
{
	(void)user;
	(void)name;
	(void)data;
	(void)len;
	(void)offset;
	return BW_OK;
}

static void on_incomplete(void *user, enum bw_err why, uint64_t offset, const char *msg)
{
	struct dis *d = user;

	if (d->incomplete)
		return;
	d->incomplete = 1;
	d->inc_why = bw_err_str(why);
	d->inc_off = (unsigned long long)offset;
	snprintf(d->inc_msg, sizeof d->inc_msg, "%s", msg);
}

static void on_format(void *user, const char *format)
{
	struct dis *d = user;

	if (d->json) {
		fprintf(d->fmt, "%s", d->n_fmt ? "," : "");
		json_str(d->fmt, format);
	} else {
		fprintf(d->fmt, "  %s\n", format);
	}
	d->n_fmt++;
}

static int read_file(const char *path, uint8_t **out, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0;

	*out = NULL;
	*out_len = 0;
	if (f == NULL)
		return -1;
	for (;;) {
		size_t n;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			uint8_t *nb;

			if (ncap > DISASM_MAX_FILE || (nb = realloc(buf, ncap)) == NULL) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
			cap = ncap;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	*out = buf;
	*out_len = len;
	return 0;
}

static void dump(FILE *out, FILE *s, char **b, size_t *l)
{
	fflush(s);
	fclose(s);
	if (*l > 0)
		fwrite(*b, 1, *l, out);
	free(*b);
}

int cmd_disasm(int argc, char **argv)
{
	const char *path = NULL;
	struct dis d;
	struct bw_limits lim;
	struct bw_fmt_sink sink;
	struct bw_pickle_trace trace;
	uint8_t *data = NULL;
	size_t len = 0;
	enum bw_err e;
	int i, fmt = BW_OUT_TEXT;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
			fmt = cli_parse_format(argv[++i], 0);
			if (fmt < 0) {
				cli_err("disasm", "unknown format '%s' (text or json)", argv[i]);
				return BW_EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(disasm_help, stdout);
			return BW_EXIT_OK;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			cli_err("disasm", "unknown option '%s'", argv[i]);
			return BW_EXIT_USAGE;
		} else if (path == NULL) {
			path = argv[i];
		} else {
			cli_err("disasm", "one FILE only");
			return BW_EXIT_USAGE;
		}
	}
	if (path == NULL) {
		fputs(disasm_help, stderr);
		return BW_EXIT_USAGE;
	}
	if (read_file(path, &data, &len) != 0) {
		cli_err("disasm", "cannot read %s", path);
		return BW_EXIT_INCOMPLETE;
	}
	memset(&d, 0, sizeof d);
	d.json = fmt == BW_OUT_JSON;
	d.out = stdout;
	d.imp = open_memstream(&d.imp_b, &d.imp_l);
	d.call = open_memstream(&d.call_b, &d.call_l);
	d.find = open_memstream(&d.find_b, &d.find_l);
	d.fmt = open_memstream(&d.fmt_b, &d.fmt_l);
	if (d.imp == NULL || d.call == NULL || d.find == NULL || d.fmt == NULL) {
		cli_err("disasm", "out of memory");
		free(data);
		return BW_EXIT_INCOMPLETE;
	}
	/* zero limits: the pickle machine applies its documented defaults (docs/pickle.md) */
	memset(&lim, 0, sizeof lim);
	memset(&sink, 0, sizeof sink);
	sink.user = &d;
	sink.finding = on_finding;
	sink.import = on_import;
	sink.call = on_call;
	sink.member = on_member;
	sink.incomplete = on_incomplete;
	sink.format = on_format;
	sink.lim = &lim;
	trace.user = &d;
	trace.op = on_op;

	if (d.json)
		fputs("{\"file\":", stdout), json_str(stdout, path), fputs(",\"ops\":[", stdout);
	e = bw_pickle_scan_trace(data, len, &sink, &trace);
	if (d.json) {
		fputs("\n],\"formats\":[", stdout);
		dump(stdout, d.fmt, &d.fmt_b, &d.fmt_l);
		fputs("],\"imports\":[", stdout);
		dump(stdout, d.imp, &d.imp_b, &d.imp_l);
		fputs("],\"calls\":[", stdout);
		dump(stdout, d.call, &d.call_b, &d.call_l);
		fputs("],\"findings\":[", stdout);
		dump(stdout, d.find, &d.find_b, &d.find_l);
		fputs("],\"incomplete\":", stdout);
		if (d.incomplete) {
			fputs("{\"why\":", stdout);
			json_str(stdout, d.inc_why);
			printf(",\"offset\":%llu,\"message\":", d.inc_off);
			json_str(stdout, d.inc_msg);
			fputs("}", stdout);
		} else {
			fputs("null", stdout);
		}
		fputs("}\n", stdout);
	} else {
		if (d.n_fmt) {
			fputs("\nformat:\n", stdout);
		}
		dump(stdout, d.fmt, &d.fmt_b, &d.fmt_l);
		printf("\nimports (%d):\n", d.n_imp);
		dump(stdout, d.imp, &d.imp_b, &d.imp_l);
		printf("\ncalls (%d):\n", d.n_call);
		dump(stdout, d.call, &d.call_b, &d.call_l);
		printf("\nfindings (%d):\n", d.n_find);
		dump(stdout, d.find, &d.find_b, &d.find_l);
		if (d.incomplete)
			printf("\nINCOMPLETE (%s) at offset %llu: %s\n", d.inc_why, d.inc_off, d.inc_msg);
	}
	free(data);
	if (e != BW_OK) {
		cli_err("disasm", "%s", bw_err_str(e));
		return BW_EXIT_INCOMPLETE;
	}
	return d.incomplete ? BW_EXIT_INCOMPLETE : BW_EXIT_OK;
}
