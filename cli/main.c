/*
 * main.c - the bulwark command: dispatches to one cmd_<name>() per subcommand
 * (table in commands.def) and owns --help / --version.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

struct cmd {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
	const char *help;
};

static const struct cmd commands[] = {
#define BW_CMD(name, fn, summary) {#name, fn, summary, name##_help},
#include "commands.def"
#undef BW_CMD
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const struct cmd *find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: bulwark <command> [options] [args]\n\n"
	           "bulwark secures machine-learning model files: it scans them without loading them,\n"
	           "and (as its parts land) signs, inventories, gates and tests them.\n\ncommands:\n");
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-12s %s\n", "help", "show help for a command (bulwark help scan)");
	fprintf(f, "\noptions: --help, --version\n"
	           "exit codes: 0 ok/clean, 1 findings or failed verification, 2 usage error,\n"
	           "            3 input not fully processed. See `man bulwark`.\n");
}

int cli_parse_format(const char *s, int allow_sarif)
{
	if (strcmp(s, "text") == 0)
		return BW_OUT_TEXT;
	if (strcmp(s, "json") == 0)
		return BW_OUT_JSON;
	if (allow_sarif && strcmp(s, "sarif") == 0)
		return BW_OUT_SARIF;
	return -1;
}

void cli_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bulwark %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_help(const char *name)
{
	const struct cmd *c = find_cmd(name);

	if (c == NULL) {
		fprintf(stderr, "bulwark: no such command '%s'\n", name);
		return BW_EXIT_USAGE;
	}
	fputs(c->help, stdout);
	return BW_EXIT_OK;
}

int cli_use_color(FILE *f)
{
	const char *nc = getenv("NO_COLOR");

	if (nc != NULL && nc[0] != '\0')
		return 0;
	return isatty(fileno(f));
}

int main(int argc, char **argv)
{
	const struct cmd *c;

	if (argc < 2) {
		usage(stderr);
		return BW_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return BW_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("bulwark %s\n", bw_version());
		return BW_EXIT_OK;
	}
	if (strcmp(argv[1], "help") == 0) {
		if (argc < 3) {
			usage(stdout);
			return BW_EXIT_OK;
		}
		return cli_help(argv[2]);
	}
	c = find_cmd(argv[1]);
	if (c == NULL) {
		fprintf(stderr, "bulwark: unknown command '%s' (see bulwark --help)\n", argv[1]);
		return BW_EXIT_USAGE;
	}
	return c->fn(argc - 1, argv + 1);
}
