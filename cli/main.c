/* main.c — `moescope <command>`: finds the command in the generated table and runs it. */
#include "cli.h"

#include "msutil.h"

#include <stdlib.h>
#include <string.h>

#define MS_COMMAND(n) extern const ms_command ms_cmd_##n;
#include "commands.inc"
#undef MS_COMMAND

static const ms_command *const commands[] = {
#define MS_COMMAND(n) &ms_cmd_##n,
#include "commands.inc"
#undef MS_COMMAND
    NULL};

static int by_order(const void *a, const void *b) {
    const ms_command *x = *(const ms_command *const *)a, *y = *(const ms_command *const *)b;
    return x->order != y->order ? (x->order > y->order) - (x->order < y->order)
                                : strcmp(x->name, y->name);
}

static void print_help(FILE *f) {
    size_t n = sizeof commands / sizeof commands[0] - 1;
    const ms_command **sorted = malloc(sizeof *sorted * (n + 1));
    fputs("usage: moescope [-q|-v] <command> [options]\n\n"
          "Records which experts a Mixture-of-Experts model's router picks for every token\n"
          "and turns the decisions into routing statistics and figures.\n\ncommands:\n",
          f);
    if (sorted) {
        memcpy(sorted, commands, sizeof *sorted * n);
        qsort(sorted, n, sizeof *sorted, by_order);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "  %-12s %s\n", sorted[i]->name, sorted[i]->summary);
        free(sorted);
    }
    fputs("\n'moescope <command> --help' describes a command; docs/ has the manual.\n"
          "Exit status: 0 success, 1 runtime failure, 2 bad input or usage.\n",
          f);
}

/* Results go to stdout; a command that succeeded has not succeeded if they were lost (a full
 * disk, `> /dev/full`): stdout is flushed and checked here once for every command. */
static int finish(int status) {
    char err[256];
    if (status == MS_EXIT_OK && ms_stdout_check(err, sizeof err)) {
        ms_error("%s", err);
        return MS_EXIT_RUNTIME;
    }
    return status;
}

static int run_main(int argc, char **argv) {
    int i = 1;
    if (argc > 0 && argv[0] && argv[0][0]) ms_program = argv[0];
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            printf("moescope %s\n", MOESCOPE_VERSION);
            return MS_EXIT_OK;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(stdout);
            return MS_EXIT_OK;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            ms_verbosity = 0;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            ms_verbosity++;
        } else {
            ms_error("unknown option '%s' (see 'moescope --help')", a);
            return MS_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_help(stderr);
        return MS_EXIT_USAGE;
    }
    const char *name = argv[i];
    int help = 0;
    if (!strcmp(name, "help")) {
        if (i + 1 >= argc) {
            print_help(stdout);
            return MS_EXIT_OK;
        }
        name = argv[++i];
        help = 1;
    }
    for (const ms_command *const *c = commands; *c; c++) {
        if (strcmp((*c)->name, name) != 0) continue;
        if (help) {
            fputs((*c)->usage, stdout);
            return MS_EXIT_OK;
        }
        return (*c)->run(argc - i, argv + i);
    }
    ms_error("unknown command '%s' (see 'moescope --help')", name);
    return MS_EXIT_USAGE;
}

int main(int argc, char **argv) {
    return finish(run_main(argc, argv));
}
