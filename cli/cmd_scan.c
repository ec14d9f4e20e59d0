/* cmd_scan.c - bulwark scan (being written; see issue 2). */
#include "cli.h"

const char scan_help[] = "usage: bulwark scan [options] PATH...\n";

int cmd_scan(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_err("scan", "the scan engine is not built yet");
	return BW_EXIT_USAGE;
}
