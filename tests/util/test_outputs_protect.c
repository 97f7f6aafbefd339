/* test_outputs_protect.c — util/ output guards added for issue 14 item 2: an input registered
 * with ms_protect_input() is refused by ms_outfile_open() under every spelling (same path,
 * ./path, hard link, symlink) and stays intact, other outputs are still written; and
 * ms_stdout_check() reports why a large write to a full stdout failed (ENOSPC, not a
 * generic EIO). Run in a scratch directory given as argv[1]. */
#include "msutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../mstest.h"

static void put(const char *path, const char *text) {
    mstest_put(path, text, strlen(text));
}

static int same_text(const char *path, const char *text) {
    char buf[256];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strcmp(buf, text) == 0;
}

/* 1 when ms_outfile_open refuses path with MS_ERR_INPUT and a message naming the input. */
static int refused(const char *path) {
    ms_outfile o;
    char err[512] = "";
    int rc = ms_outfile_open(&o, path, err, sizeof err);
    if (rc == 0) {
        fputs("overwritten\n", o.f);
        ms_outfile_commit(&o, err, sizeof err);
        return 0;
    }
    return rc == MS_ERR_INPUT && strstr(err, "same file as the input in.dat") != NULL &&
           strncmp(err, path, strlen(path)) == 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_outputs_protect DIR\n");
        return 2;
    }
    mkdir(argv[1], 0777);
    if (chdir(argv[1]) != 0) {
        perror(argv[1]);
        return 1;
    }
    unlink("in.dat"), unlink("hard.dat"), unlink("sym.dat"), unlink("other.dat");
    put("in.dat", "input\n");
    CHECK_TRUE(link("in.dat", "hard.dat") == 0);
    CHECK_TRUE(symlink("in.dat", "sym.dat") == 0);

    /* before registration the guard does not apply (ms_check_output is the explicit check) */
    char err[512];
    CHECK_TRUE(ms_check_protected("hard.dat", err, sizeof err) == 0);

    CHECK_TRUE(ms_protect_input("in.dat") == 0);
    CHECK_TRUE(ms_protect_input("in.dat") == 0);  /* twice is harmless */
    CHECK_TRUE(ms_protect_input("missing") == 0); /* ignored */
    CHECK_TRUE(ms_protect_input("-") == 0);       /* stdout is never an input */
    CHECK_TRUE(refused("in.dat"));
    CHECK_TRUE(refused("./in.dat"));
    CHECK_TRUE(refused("hard.dat"));
    CHECK_TRUE(refused("sym.dat"));
    CHECK_TRUE(same_text("in.dat", "input\n"));
    struct stat st;
    CHECK_TRUE(lstat("sym.dat", &st) == 0 && S_ISLNK(st.st_mode));
    CHECK_TRUE(ms_check_protected("hard.dat", err, sizeof err) == MS_ERR_INPUT);

    /* another output is written, and replaces an existing file atomically */
    put("other.dat", "old\n");
    ms_outfile o;
    CHECK_TRUE(ms_outfile_open(&o, "other.dat", err, sizeof err) == 0);
    if (o.f) {
        CHECK_TRUE(same_text("other.dat", "old\n")); /* untouched until commit */
        fputs("new\n", o.f);
        CHECK_TRUE(ms_outfile_commit(&o, err, sizeof err) == 0);
    }
    CHECK_TRUE(same_text("other.dat", "new\n"));

    /* a large write to a full stdout: the reason survives to the check */
    if (access("/dev/full", W_OK) == 0) {
        fflush(stdout);
        int saved = dup(1);
        int full = open("/dev/full", O_WRONLY);
        CHECK_TRUE(saved >= 0 && full >= 0 && dup2(full, 1) == 1);
        static char big[1 << 16];
        memset(big, 'x', sizeof big);
        fwrite(big, 1, sizeof big, stdout); /* fails at once: errno is gone by the check */
        errno = 0;
        char e2[256] = "";
        int rc = ms_stdout_check(e2, sizeof e2);
        clearerr(stdout);
        fflush(stdout);
        dup2(saved, 1);
        close(saved), close(full);
        CHECK_TRUE(rc == MS_ERR_RUNTIME);
        CHECK_TRUE(strcmp(e2, "stdout: write failed: No space left on device") == 0);
        if (strcmp(e2, "stdout: write failed: No space left on device") != 0)
            fprintf(stderr, "got: %s\n", e2);
    }
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("outputs protect: all checks passed\n");
    return failures != 0;
}
