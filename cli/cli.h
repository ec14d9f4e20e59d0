/*
 * cli/cli.h - shared helpers of the bulwark command line. Only cli/ prints and
 * chooses exit codes; the library never does.
 */
#ifndef BW_CLI_H
#define BW_CLI_H

#include <stdio.h>

#include "bulwark/bulwark.h"

/* Exit codes, the same for every subcommand (README.md "Exit codes"). */
enum bw_exit {
	BW_EXIT_OK = 0,        /* clean / verified / success */
	BW_EXIT_FINDINGS = 1,  /* findings at or above the threshold / verification failed */
	BW_EXIT_USAGE = 2,     /* usage error */
	BW_EXIT_INCOMPLETE = 3 /* something could not be fully processed (unreadable input) */
};

enum bw_out_format { BW_OUT_TEXT, BW_OUT_JSON, BW_OUT_SARIF };

/* Parse "text|json|sarif"; -1 if unknown. allow_sarif 0 refuses sarif. */
int cli_parse_format(const char *s, int allow_sarif);
/* Print "bulwark <cmd>: message" on stderr. */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the help text of a subcommand (defined in each cmd_<name>.c as <name>_help). */
int cli_help(const char *cmd);
/* 1 when colour may be used on this stream (a terminal, NO_COLOR unset). */
int cli_use_color(FILE *f);

/* Decimal int in [lo, hi]; -1 when not a whole number in range. */
int cli_parse_int(const char *s, int lo, int hi, int *out);
/* Finite float in [0, 1e6]; -1 otherwise. */
int cli_parse_float(const char *s, float *out);
/* Monotonic wall clock, and CPU seconds of the whole process (all threads). */
double cli_now_s(void);
double cli_cpu_s(void);
/* Fashion-MNIST class names, by label. */
extern const char *const cli_fmnist_names[10];

/*
 * Append entry (a JSON object, consumed; "schema" and "time" are added) to
 * the audit log in dir, signed with the private key at key_path
 * ($BULWARK_KEY_PASSPHRASE for an encrypted key). 0, or -1 after printing why.
 */
struct json_t;
int cli_audit_append(const char *cmd, const char *dir, const char *key_path, struct json_t *entry);
/* [{"path", "sha256"}] for each regular file among paths (folders: path only). */
struct json_t *cli_audit_inputs(const char *const *paths, size_t n);

/* Signing commands (defined across cmd_hash.c, cmd_sign.c): read a small file
 * whole, hashing progress on a terminal, the shared hashing options, exit
 * codes for library errors, file names made safe for a terminal, passphrases. */
struct bw_hash_opts;
int cli_sign_read_file(const char *cmd, const char *path, size_t max, unsigned char **out, size_t *len);
void cli_sign_progress(void *ctx, uint64_t done, uint64_t total);
void cli_sign_progress_done(void);
int cli_sign_hash_opt(const char *cmd, int argc, char **argv, int *i, struct bw_hash_opts *o,
                      const char **ign, size_t *n_ign, size_t max_ign, const char *model);
int cli_sign_exit_for(enum bw_err err);
void cli_sign_put_name(FILE *f, const char *s);
int cli_sign_passphrase(const char *cmd, const char *env, const char *prompt, int confirm, char *buf, size_t n);

#define BW_CMD(name, fn, summary) int fn(int argc, char **argv); extern const char name##_help[];
#include "commands.def"
#undef BW_CMD

#endif
