/* cli.h — what every `moescope` subcommand shares: the command record, error and message
 * conventions, option parsing helpers and the progress line.
 *
 * Conventions (docs/CLI.md):
 *   - errors are one line on stderr: "moescope: error: <file>: <problem>";
 *   - exit status 0 success, 1 runtime failure, 2 bad input or usage (MS_EXIT_*);
 *   - -q silences informational messages, -v adds detail; progress goes to stderr only when
 *     stderr is a terminal and -q is not given. Results go to stdout. */
#ifndef MS_CLI_H
#define MS_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

enum { MS_EXIT_OK = 0, MS_EXIT_RUNTIME = 1, MS_EXIT_USAGE = 2 };

typedef struct ms_command {
    const char *name;    /* as typed: "make-model" */
    const char *summary; /* one line for `moescope --help` */
    const char *usage;   /* full text for `moescope <name> --help` (starts with "usage:") */
    int (*run)(int argc, char **argv); /* argv[0] is the command name; returns an exit status */
    int order;                         /* position in `moescope --help` (lower first) */
} ms_command;

/* How the user invoked moescope (argv[0] of main), for hints such as "try: ./build/moescope". */
extern const char *ms_program;

/* 0 quiet (-q), 1 normal, 2 verbose (-v, repeatable). */
extern int ms_verbosity;

/* "moescope: error: ..." + newline on stderr; always printed, even with -q. */
void ms_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the error and a hint to run `moescope <cmd> --help`; returns MS_EXIT_USAGE. */
int ms_usage_error(const ms_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Informational (verbosity >= 1) and detail (>= 2) messages on stderr. */
void ms_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ms_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Text from files (a domain name, a path) in a table on a terminal: ms_text_safe'd (no escape
 * sequences or line breaks), then cut or space-padded to `width` characters (0: as is). */
void ms_print_text(FILE *f, const char *s, int width);

/* Option parsing shared by all commands. Call ms_opt_begin() before the getopt_long loop;
 * every command's long options should end with MS_COMMON_LONG_OPTS and its short string
 * start with MS_COMMON_SHORT_OPTS. Inside the loop, first call
 *     int r = ms_opt_common(cmd, c, argv); if (r >= 0) return r; if (r == -1) continue;
 * which handles -h/--help (prints usage, returns 0), -q, -v, and unknown options or missing
 * arguments (one-line error, returns 2). It returns -2 for options it does not own. */
#define MS_COMMON_SHORT_OPTS ":hqv"
#define MS_COMMON_LONG_OPTS                                                                        \
    {"help", no_argument, 0, 'h'}, {"quiet", no_argument, 0, 'q'},                                 \
        {"verbose", no_argument, 0, 'v'}, {                                                        \
        0, 0, 0, 0                                                                                 \
    }
void ms_opt_begin(void);
int ms_opt_common(const ms_command *cmd, int c, char **argv);

/* Strict number parsing for option values: the whole string must be a number within
 * [min, max]. Return 0 on success, else print a usage error naming `what` and return 2. */
int ms_parse_long(const ms_command *cmd, const char *what, const char *s, long min, long max,
                  long *out);
int ms_parse_double(const ms_command *cmd, const char *what, const char *s, double min, double max,
                    double *out);
/* Lists of non-negative indices such as "3,5,9" (documents). *out is malloc'ed. Returns 0,
 * or 2 after a usage error naming `what`, or 1 when out of memory. */
int ms_parse_index_list(const ms_command *cmd, const char *what, const char *s, int64_t **out,
                        int *n);
/* Layer lists: "all", "0,15,31", "0-3,7", "first,middle,last" (resolved against n_layer).
 * *out is malloc'ed, sorted, without duplicates. Returns 0, or 2 after a usage error. */
int ms_parse_layers(const ms_command *cmd, const char *s, int n_layer, int **out, int *n_out);
typedef struct ms_model ms_model; /* engine.h */
/* ms_parse_layers over a model's layers, keeping those that route: "all" skips dense MLP
 * layers; naming one is a usage error ("layer N is a dense MLP layer: it has no router"). */
int ms_parse_model_layers(const ms_command *cmd, const char *s, int n_layer, const ms_model *m,
                          int (*routes)(const ms_model *, int), int **out, int *n_out);

/* Reads a whole file into a NUL-terminated malloc'ed buffer. Returns 0, 2 when the file
 * cannot be opened or is a directory, 1 on a read error or out of memory (the message
 * printed names the file). */
int ms_read_file(const char *path, char **out, size_t *len);

/* The text of commands that take `--file F | TEXT`: reads F, or copies the one positional
 * argument at argv[optind]. Usage errors (both, neither, extra arguments) return 2; *text is
 * malloc'ed and NUL-terminated. */
int ms_input_text(const ms_command *cmd, const char *file, int argc, char **argv, char **text,
                  size_t *len);

/* Outputs (docs/CLI.md, "Outputs"). ms_cli_check_output() refuses an output that is one of the
 * inputs by device and inode (so ./x, a hard link or a symlink count; NULL inputs and a NULL
 * out are skipped): prints one error and returns MS_EXIT_USAGE, else 0. It also registers the
 * inputs (ms_protect_input), so every file the command later writes through ms_outfile (CSV
 * tables, figures, report files) is refused when it is one of them. ms_cli_write_file() writes len
 * bytes to path ("-" = stdout) under a temporary name renamed into place, so the old file survives
 * a failed write; returns 0, MS_EXIT_USAGE when the file cannot be created (missing directory, no
 * permission) or MS_EXIT_RUNTIME when the write fails, after printing one error. */
int ms_cli_check_output(const char *out, const char *const *inputs, int n_inputs);
int ms_cli_write_file(const char *path, const void *data, size_t len);

/* Progress line on stderr, redrawn at most ~5 times a second, shown only when stderr is a
 * terminal and verbosity >= 1. Totals may be 0 when unknown (then no ETA). */
typedef struct ms_progress {
    const char *what;
    int64_t total_docs, total_tokens;
    int64_t docs, tokens;
    double t_start, t_last;
    int enabled, drawn;
} ms_progress;
void ms_progress_begin(ms_progress *p, const char *what, int64_t total_docs, int64_t total_tokens);
void ms_progress_update(ms_progress *p, int64_t docs, int64_t tokens);
/* Clears the line; prints a summary line (docs, tokens, seconds, tokens/s) when verbosity>=1. */
void ms_progress_end(ms_progress *p);
double ms_now(void); /* monotonic seconds */

#endif
