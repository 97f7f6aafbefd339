/* test_model_split_files.c — the engine's list of model files for a split GGUF set, as a
 * command uses it to refuse an output that would overwrite the model: every part (named by any
 * spelling, or a hard link to it) is refused by ms_model_check_output, other paths are not.
 *
 * usage: test_model_split_files MODEL N_PARTS REFUSED... -- ACCEPTED...
 * Exit 0 when ms_model_split_parts is N_PARTS, ms_model_n_files lists N_PARTS files, each
 * REFUSED path is refused (MS_ERR_INPUT, one line naming it) and each ACCEPTED path is not. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: test_model_split_files MODEL N_PARTS REFUSED... -- ACCEPTED...\n");
        return 2;
    }
    char err[1024];
    ms_model *m = NULL;
    ms_model_opts o = {.path = argv[1]};
    if (ms_model_open(&m, &o, err, sizeof err)) {
        fprintf(stderr, "FAIL: open %s: %s\n", argv[1], err);
        return 1;
    }
    int fails = 0, want = atoi(argv[2]);
    if (ms_model_split_parts(m) != want || ms_model_n_files(m) != want) {
        fprintf(stderr, "FAIL: %d parts, %d files; expected %d\n", ms_model_split_parts(m),
                ms_model_n_files(m), want);
        fails++;
    }
    int accepted = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            accepted = 1;
            continue;
        }
        err[0] = 0;
        int rc = ms_model_check_output(m, argv[i], err, sizeof err);
        if (accepted && rc != 0) {
            fprintf(stderr, "FAIL: %s refused: %s\n", argv[i], err);
            fails++;
        } else if (!accepted &&
                   (rc != MS_ERR_INPUT || !strstr(err, argv[i]) || strchr(err, '\n'))) {
            fprintf(stderr, "FAIL: %s not refused (rc %d, '%s')\n", argv[i], rc, err);
            fails++;
        }
    }
    ms_model_close(m);
    if (!fails) printf("ok: %d parts; outputs checked against every part\n", want);
    return fails ? 1 : 0;
}
