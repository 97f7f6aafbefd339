/* test_gpstr.c — pl_gpstr against gnuplot itself: hand-picked and pseudo-random names (bytes
 * drawn mostly from what gnuplot or a shell could interpret: ` @ $ \ ' " # ; { } newline, tab,
 * ESC, invalid UTF-8) are written as gnuplot string expressions, in plain assignments, in an
 * array initialiser inside a do-for block (as the figure scripts do) and as a label; gnuplot
 * prints them back. Every printed string must equal the name as figures show it
 * (ms_text_safe, computed separately), gnuplot must succeed, and no command in a name may run
 * (the work directory holds only the files written here). Also ms_utf8_fix_take.
 *
 * usage: test_gpstr WORKDIR [GNUPLOT]   (exit 77: gnuplot missing, skipped) */
#include "msutil.h"
#include "plots_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../mstest.h"

enum { N_RANDOM = 400, MAX_LEN = 24 };

static const char *fixed_names[] = {
    "",
    "'",
    "''",
    "'''",
    "'a",
    "a'",
    "a''b",
    "it's",
    "\"",
    "\"\"",
    "x`touch PWNED_A`y",
    "`touch PWNED_B`",
    "$(touch PWNED_C)",
    "@foo",
    "@",
    "a@b @c",
    "\\",
    "\\\\",
    "a\\'b",
    "\\n\\t\\\"",
    "# not a comment",
    "a; print 'PWNED'; b",
    "line1\nline2",
    "tab\there",
    "\x1b[2J",
    "bad \xff\xfe",
    "cut \xe2\x82",
    "C1 \xc2\x9b",
    "del \x7f",
    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
    "{}^_&<>|",
    "'`touch PWNED_D`'",
    "\"`touch PWNED_E`\"",
    "''`touch PWNED_F`''",
};

/* Bytes gnuplot, a shell or a terminal could interpret, and some ordinary ones. */
static const char alphabet[] = "'''\"\"``@@$\\\\#;{}()[]\n\t\x1b\xff\xc3\xa9\xe2\x82 aZ.,=";

static uint32_t rng = 12345;
static uint32_t next_rand(void) {
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

static int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void test_fix_take(void) {
    CHECK(ms_utf8_fix_take(NULL) == NULL, "NULL in, NULL out");
    char *s = strdup("caf\xc3\xa9");
    char *t = ms_utf8_fix_take(s);
    CHECK(t == s && !strcmp(t, "caf\xc3\xa9"), "valid text is returned as is");
    free(t);
    t = ms_utf8_fix_take(strdup("{\"n\":\"a\xff\"}"));
    CHECK(t && !strcmp(t, "{\"n\":\"a\xef\xbf\xbd\"}"), "invalid byte becomes U+FFFD: %s",
          t ? t : "(null)");
    free(t);
    t = ms_utf8_fix_take(strdup("\"\xe2\x82\""));
    CHECK(t && !strcmp(t, "\"\xef\xbf\xbd\xef\xbf\xbd\""), "a cut sequence keeps the quote: %s",
          t ? t : "(null)");
    free(t);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_gpstr WORKDIR [GNUPLOT]\n");
        return 2;
    }
    test_fix_take();
    const char *dir = argv[1], *gnuplot = argc > 2 ? argv[2] : NULL;
    char err[512];
    if (ms_plot_gnuplot_check(gnuplot, err, sizeof err)) {
        fprintf(stderr, "skipped: %s\n", err);
        return failures ? 1 : 77;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (strchr(dir, '\'') || system(cmd) != 0) {
        fprintf(stderr, "%s: cannot create the work directory\n", dir);
        return 1;
    }

    int n_fixed = (int)(sizeof fixed_names / sizeof fixed_names[0]), n = n_fixed + N_RANDOM;
    char **names = calloc((size_t)n, sizeof *names);
    for (int i = 0; i < n; i++) {
        if (i < n_fixed) {
            names[i] = strdup(fixed_names[i]);
            continue;
        }
        int len = 1 + (int)(next_rand() % MAX_LEN);
        names[i] = malloc((size_t)len + 1);
        for (int j = 0; j < len; j++)
            names[i][j] = alphabet[next_rand() % (sizeof alphabet - 1)];
        names[i][len] = 0;
    }

    /* The script: every name three ways, each printed on its own line. */
    pl_buf gp = {0};
    pl_puts(&gp, "set print \"-\"\nfoo = \"MACRO\"\n");
    for (int i = 0; i < n; i++) {
        pl_puts(&gp, "s = ");
        pl_gpstr(&gp, names[i]);
        pl_puts(&gp, "\nprint s\n");
    }
    pl_puts(&gp, "do for [r=1:1] {\n");
    pl_printf(&gp, "array dom[%d] = [", n);
    for (int i = 0; i < n; i++) {
        if (i) pl_puts(&gp, ", ");
        pl_gpstr(&gp, names[i]);
    }
    pl_printf(&gp, "]\ndo for [d=1:%d] { print dom[d] }\n}\n", n);
    for (int i = 0; i < n; i++) {
        pl_printf(&gp, "set label %d ", i + 1);
        pl_gpstr(&gp, names[i]);
        pl_puts(&gp, " at 0,0\n");
    }
    pl_puts(&gp, "set terminal svg noenhanced\nset output \"labels.svg\"\nplot 1 notitle\n");
    CHECK(!gp.oom, "script: out of memory");
    if (pl_write_file(dir, "names.gp", &gp, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    pl_buf_free(&gp);
    snprintf(cmd, sizeof cmd, "cd '%s' && %s names.gp > out.txt 2> err.txt", dir,
             gnuplot ? gnuplot
                     : (getenv("MOESCOPE_GNUPLOT") ? getenv("MOESCOPE_GNUPLOT") : "gnuplot"));
    int rc = system(cmd);
    CHECK(rc == 0, "gnuplot failed (see %s/err.txt)", dir);

    /* Expected: each name as shown, once per way of writing it (labels are drawn, not
     * printed). */
    char path[4096];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "%s: %s", path, strerror(errno));
    size_t cap = 4 * MAX_LEN + 64;
    char *want = malloc(cap * 8), *line = malloc(cap * 8);
    for (int pass = 0; f && pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            ms_text_safe(names[i], want, cap * 8);
            if (!fgets(line, (int)(cap * 8), f)) {
                CHECK(0, "pass %d: output ends before name %d", pass, i);
                break;
            }
            size_t l = strlen(line);
            if (l && line[l - 1] == '\n') line[--l] = 0;
            CHECK(!strcmp(line, want), "pass %d name %d: gnuplot printed \"%s\", expected \"%s\"",
                  pass, i, line, want);
        }
    if (f) fclose(f);
    /* names.gp, out.txt, err.txt, labels.svg: nothing else (no command ran). */
    int entries = dir_entries(dir);
    CHECK(entries == 4, "%s holds %d entries, expected 4 (did a name run a command?)", dir,
          entries);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(want);
    free(line);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok: %d names through gnuplot\n", n);
    return 0;
}
