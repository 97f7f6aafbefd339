/* test_util.c — util/: inputs that are not regular files are refused without blocking, the
 * same file is recognised under other spellings and links, outputs are written under a
 * temporary name and renamed (or left untouched on abort), text is made safe for terminals
 * and JSON. Run in a scratch directory given as argv[1]. */
#include "msutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../mstest.h"

static void put(const char *path, const char *text) {
    mstest_put(path, text, strlen(text));
}
static char *get(const char *path) {
    static char buf[256];
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_inputs(void) {
    char err[256];
    int fd, st;
    unlink("fifo");
    CHECK_TRUE(mkfifo("fifo", 0600) == 0);
    alarm(5); /* a blocking open would hang: fail the test instead */
    CHECK_TRUE(ms_open_regular("fifo", &fd, NULL, err, sizeof err) == MS_ERR_INPUT);
    CHECK_TRUE(strstr(err, "fifo: is a named pipe (FIFO)") != NULL);
    CHECK_TRUE(ms_fopen_regular("/dev/zero", &st, err, sizeof err) == NULL && st == MS_ERR_INPUT);
    CHECK_TRUE(strstr(err, "character device") != NULL);
    CHECK_TRUE(ms_fopen_regular(".", &st, err, sizeof err) == NULL && st == MS_ERR_INPUT);
    CHECK_TRUE(ms_fopen_regular("no-such-file", &st, err, sizeof err) == NULL &&
               st == MS_ERR_INPUT);
    CHECK_TRUE(strstr(err, "no-such-file: No such file") != NULL);
    alarm(0);
    put("in.txt", "hello");
    struct stat sb;
    CHECK_TRUE(ms_open_regular("in.txt", &fd, &sb, err, sizeof err) == 0 && sb.st_size == 5);
    char b[8] = {0};
    CHECK_TRUE(read(fd, b, sizeof b) == 5 && strcmp(b, "hello") == 0); /* blocking mode again */
    close(fd);
}

static void test_same_file(void) {
    char err[256];
    put("a.txt", "a");
    unlink("hard.txt");
    unlink("sym.txt");
    CHECK_TRUE(link("a.txt", "hard.txt") == 0);
    CHECK_TRUE(symlink("a.txt", "sym.txt") == 0);
    CHECK_TRUE(ms_same_file("a.txt", "./a.txt"));
    CHECK_TRUE(ms_same_file("a.txt", "hard.txt"));
    CHECK_TRUE(ms_same_file("sym.txt", "a.txt"));
    CHECK_TRUE(!ms_same_file("a.txt", "in.txt"));
    CHECK_TRUE(!ms_same_file("a.txt", "missing.txt"));
    const char *ins[] = {"in.txt", NULL, "./hard.txt"};
    CHECK_TRUE(ms_check_output("a.txt", ins, 3, err, sizeof err) == MS_ERR_INPUT);
    CHECK_TRUE(strstr(err, "a.txt: is the same file as the input ./hard.txt") != NULL);
    CHECK_TRUE(ms_check_output("new.txt", ins, 3, err, sizeof err) == 0);
    CHECK_TRUE(ms_check_output("-", ins, 3, err, sizeof err) == 0);
}

static void test_outfile(void) {
    char err[256];
    ms_outfile o;
    put("out.txt", "old");
    CHECK_TRUE(ms_outfile_open(&o, "out.txt", err, sizeof err) == 0);
    fputs("new", o.f);
    CHECK_TRUE(strcmp(get("out.txt"), "old") == 0); /* untouched until commit */
    CHECK_TRUE(ms_outfile_commit(&o, err, sizeof err) == 0);
    CHECK_TRUE(strcmp(get("out.txt"), "new") == 0);
    CHECK_TRUE(ms_outfile_open(&o, "out.txt", err, sizeof err) == 0);
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", o.tmp);
    fputs("partial", o.f);
    ms_outfile_abort(&o);
    CHECK_TRUE(strcmp(get("out.txt"), "new") == 0);
    CHECK_TRUE(access(tmp, F_OK) != 0); /* no temporary left behind */
    CHECK_TRUE(ms_outfile_open(&o, "no-such-dir/out.txt", err, sizeof err) == MS_ERR_INPUT);
    CHECK_TRUE(strstr(err, "no-such-dir/out.txt: cannot create") != NULL);
    CHECK_TRUE(ms_outfile_open(&o, "fifo", err, sizeof err) == MS_ERR_INPUT);
    /* Temporaries left by crashed runs that had this process's pid (pids are reused): their
     * names are skipped, and the files are left alone. */
    char stale[64][64];
    for (int i = 0; i < 64; i++) {
        snprintf(stale[i], sizeof stale[i], ".out.txt.tmp.%ld.%d", (long)getpid(), i);
        put(stale[i], "stale");
    }
    CHECK_TRUE(ms_outfile_open(&o, "out.txt", err, sizeof err) == 0);
    fputs("after", o.f);
    CHECK_TRUE(ms_outfile_commit(&o, err, sizeof err) == 0);
    CHECK_TRUE(strcmp(get("out.txt"), "after") == 0);
    for (int i = 0; i < 64; i++) {
        const char *t = get(stale[i]);
        CHECK_TRUE(t && strcmp(t, "stale") == 0);
        unlink(stale[i]);
    }
    put("out.txt", "new");
    if (access("/dev/full", W_OK) == 0) { /* a full disk: the commit fails, the target stays */
        FILE *full = fopen("/dev/full", "wb");
        CHECK_TRUE(ms_outfile_open(&o, "out.txt", err, sizeof err) == 0);
        fclose(o.f);
        o.f = full;
        fputs("x", full);
        CHECK_TRUE(ms_outfile_commit(&o, err, sizeof err) == MS_ERR_RUNTIME);
        CHECK_TRUE(strstr(err, "out.txt: write failed: No space left on device") != NULL);
        CHECK_TRUE(strcmp(get("out.txt"), "new") == 0);
    }
}

static void test_text(void) {
    char buf[64];
    CHECK_TRUE(strcmp(ms_text_safe("caf\xc3\xa9 ok", buf, sizeof buf), "caf\xc3\xa9 ok") == 0);
    CHECK_TRUE(strcmp(ms_text_safe("a\x1b[31mb\nc", buf, sizeof buf), "a\\x1b[31mb\\x0ac") == 0);
    CHECK_TRUE(strcmp(ms_text_safe("\xc2\x9b"
                                   "2J",
                                   buf, sizeof buf),
                      "\\xc2\\x9b2J") == 0);
    CHECK_TRUE(strcmp(ms_text_safe("bad\xff\xfe", buf, sizeof buf), "bad\\xff\\xfe") == 0);
    CHECK_TRUE(strcmp(ms_text_safe("\x7f", buf, sizeof buf), "\\x7f") == 0);
    char small[8];
    CHECK_TRUE(strcmp(ms_text_safe("abcdefghij", small, sizeof small), "abcd...") == 0);
    CHECK_TRUE(strcmp(ms_text_safe("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", small, sizeof small),
                      "\xc3\xa9\xc3\xa9...") == 0);
    char *f = ms_utf8_fix("a\xff"
                          "b\xc3\xa9\xe2\x82",
                          7);
    CHECK_TRUE(f && strcmp(f, "a\xef\xbf\xbd"
                              "b\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd") == 0);
    free(f);
    f = ms_utf8_fix("x\0y", 3);
    CHECK_TRUE(f && strcmp(f, "xy") == 0);
    free(f);
    CHECK_TRUE(ms_utf8_valid_prefix("ok\xed\xa0\x80", 5) == 2); /* surrogate */
    CHECK_TRUE(ms_utf8_valid_prefix("\xc0\xaf", 2) == 0);       /* overlong */
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_util DIR\n");
        return 2;
    }
    mkdir(argv[1], 0700);
    if (chdir(argv[1]) != 0) {
        perror(argv[1]);
        return 1;
    }
    test_inputs();
    test_same_file();
    test_outfile();
    test_text();
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    return failures ? 1 : 0;
}
