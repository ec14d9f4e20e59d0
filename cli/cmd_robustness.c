#include "cli.h"
const char robustness_help[] = "x\n";
int cmd_robustness(int argc, char **argv) { (void)argc; (void)argv; return 2; }
