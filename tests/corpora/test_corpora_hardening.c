/* test_corpora_hardening.c — corpus inputs that used to block or silently lose text (issue 14,
 * items 6 and 7): FIFOs and devices as sources (a .txt, .jsonl, .jsonl.zst, a manifest, an
 * entry of a folder) are refused at once with exit status 2 and a line naming them; JSONL lines
 * holding two values (or records separated by a lone CR) and texts holding \u0000 or a NUL byte
 * are errors naming file:line; CRLF still works; zstd files with skippable frames (pzstd's
 * output, a hand-built one in the middle) read in full and a truncated skippable frame is a
 * clear error. Every blocking case runs under alarm(): a hang fails the test.
 * usage: test_corpora_hardening DIR */
#include "corpora.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "../mstest.h"

static const char *dir;

static char *pth(const char *name) {
    return mstest_path(dir, name);
}

static void put(const char *name, const void *data, size_t n) {
    mstest_put(pth(name), data, n);
}

static void puts_(const char *name, const char *s) {
    put(name, s, strlen(s));
}

static void mkfifo_(const char *name) {
    unlink(pth(name));
    if (mkfifo(pth(name), 0600) != 0) {
        fprintf(stderr, "mkfifo %s: %s\n", pth(name), strerror(errno));
        exit(1);
    }
}

static void symlink_(const char *target, const char *name) {
    unlink(pth(name));
    if (symlink(target, pth(name)) != 0) {
        fprintf(stderr, "symlink %s: %s\n", pth(name), strerror(errno));
        exit(1);
    }
}

/* zstd frame of data (level 3) appended to buf at *n (capacity checked by the caller). */
static size_t zframe(unsigned char *out, size_t cap, const char *data) {
    size_t z = ZSTD_compress(out, cap, data, strlen(data), 3);
    if (ZSTD_isError(z)) exit(1);
    return z;
}

/* A skippable frame: magic 0x184D2A5X, 4-byte little-endian size, then size bytes (claimed
 * size `claim`, but only `have` bytes written, to build a truncated one). */
static size_t skippable(unsigned char *out, int x, uint32_t claim, uint32_t have) {
    out[0] = (unsigned char)(0x50 | x);
    out[1] = 0x2A;
    out[2] = 0x4D;
    out[3] = 0x18;
    for (int i = 0; i < 4; i++)
        out[4 + i] = (unsigned char)(claim >> (8 * i));
    for (uint32_t i = 0; i < have; i++)
        out[8 + i] = (unsigned char)(i * 7 + 1);
    return 8 + have;
}

typedef struct got {
    int n;
    char text[64][128];
    char source[64][256];
    int rc;
    int64_t skipped;
    char err[512];
} got;

static void on_alarm(int sig) {
    (void)sig;
    static const char m[] = "FAIL: a corpus read blocked (alarm fired)\n";
    if (write(2, m, sizeof m - 1)) {
    }
    _exit(1);
}

static void read_all(got *g, const char *manifest, const char *const *files, int nf, int skip) {
    memset(g, 0, sizeof *g);
    ms_corpus_opts o = {manifest, files, nf, "text", skip};
    ms_corpus *c = NULL;
    alarm(10);
    g->rc = ms_corpus_open(&c, &o, g->err, sizeof g->err);
    if (g->rc) {
        alarm(0);
        CHECK(c == NULL, "handle on failure");
        CHECK(!strchr(g->err, '\n'), "one line: %s", g->err);
        return;
    }
    ms_doc d;
    int r;
    while ((r = ms_corpus_next(c, &d, g->err, sizeof g->err)) == 1) {
        CHECK(strlen(d.text) == d.len, "len %zu vs strlen %zu", d.len, strlen(d.text));
        if (g->n < 64) {
            snprintf(g->text[g->n], sizeof g->text[0], "%s", d.text);
            snprintf(g->source[g->n], sizeof g->source[0], "%s", d.source);
        }
        g->n++;
    }
    alarm(0);
    g->rc = r < 0 ? -r : 0;
    g->skipped = ms_corpus_n_skipped(c);
    ms_corpus_close(c);
}

static void read_one(got *g, const char *name, int skip) {
    const char *f[1] = {pth(name)};
    read_all(g, NULL, f, 1, skip);
}

/* ---- a) FIFOs and devices ---- */

static void test_fifos(void) {
    got g;
    static const char *const names[] = {"p.txt", "p.jsonl", "p.jsonl.zst", "p.ndjson"};
    for (int i = 0; i < 4; i++) {
        mkfifo_(names[i]);
        read_one(&g, names[i], 0);
        CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, names[i]) && strstr(g.err, "FIFO"),
              "fifo %s: rc %d: %s", names[i], g.rc, g.err);
        read_one(&g, names[i], 1); /* skip_bad does not make a FIFO readable */
        CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "FIFO"), "fifo %s skip: %s", names[i], g.err);
    }
    /* A FIFO as the manifest. */
    mkfifo_("pm.json");
    read_all(&g, pth("pm.json"), NULL, 0, 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "pm.json") && strstr(g.err, "FIFO"), "manifest: %s",
          g.err);
    /* A FIFO named by a manifest. */
    puts_("m_fifo.json", "{\"domains\": [{\"name\": \"x\", \"sources\": [\"p.jsonl\"]}]}");
    read_all(&g, pth("m_fifo.json"), NULL, 0, 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "p.jsonl: is a named pipe") &&
              strstr(g.err, "domain \"x\""),
          "manifest source: %s", g.err);
    /* A FIFO inside a folder of text files: refused by name, not skipped. */
    mkdir(pth("fold"), 0700);
    puts_("fold/a.txt", "alpha");
    puts_("fold/c.txt", "gamma");
    mkfifo_("fold/b.txt");
    read_one(&g, "fold", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "fold/b.txt") && strstr(g.err, "FIFO"),
          "folder: rc %d: %s", g.rc, g.err);
    /* A hidden FIFO is skipped like every hidden file; the folder then reads. */
    unlink(pth("fold/b.txt"));
    mkfifo_("fold/.hidden");
    read_one(&g, "fold", 0);
    CHECK(g.rc == 0 && g.n == 2 && !strcmp(g.text[0], "alpha") && !strcmp(g.text[1], "gamma"),
          "folder hidden fifo: rc %d n %d: %s", g.rc, g.n, g.err);
    /* Symbolic links: a loop (two links to ".": 2^32 paths before the depth limit) and two
     * links to one folder are refused at once; links to a file and to an outside folder are
     * followed. */
    mkdir(pth("loop"), 0700);
    puts_("loop/x.txt", "x");
    symlink_(".", "loop/a");
    symlink_(".", "loop/b");
    read_one(&g, "loop", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "loop/a: a folder reached twice"), "loop: %s",
          g.err);
    mkdir(pth("twice"), 0700);
    mkdir(pth("twice/sub"), 0700);
    puts_("twice/sub/y.txt", "y");
    symlink_("sub", "twice/link");
    read_one(&g, "twice", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "twice/sub: a folder reached twice"), "twice: %s",
          g.err);
    mkdir(pth("links"), 0700);
    symlink_("../fold/a.txt", "links/f.txt");
    symlink_("../twice/sub", "links/d");
    read_one(&g, "links", 0);
    CHECK(g.rc == 0 && g.n == 2 && !strcmp(g.text[0], "y") && !strcmp(g.text[1], "alpha"),
          "links: rc %d n %d: %s", g.rc, g.n, g.err);
    /* Devices: /dev/zero would be read without end, /dev/null is not a document either. */
    const char *dev[2] = {"/dev/zero", "/dev/null"};
    for (int i = 0; i < 2; i++) {
        read_all(&g, NULL, &dev[i], 1, 0);
        CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, dev[i]) && strstr(g.err, "device"), "%s: %s",
              dev[i], g.err);
    }
    /* Missing file: input error naming it. */
    read_one(&g, "no-such.jsonl", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "no-such.jsonl"), "missing: %s", g.err);
    read_all(&g, pth("no-such-manifest.json"), NULL, 0, 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "no-such-manifest.json: No such file"),
          "missing manifest: %s", g.err);
}

/* ---- d) read errors are runtime failures (1), not bad input (2) ----
 * /proc/self/mem is a regular file whose first page is unmapped: read() fails with EIO. */
static void test_read_errors(void) {
    got g;
    static const char *const names[] = {"mem.txt", "mem.jsonl", "mem.jsonl.zst"};
    for (int i = 0; i < 3; i++) {
        symlink_("/proc/self/mem", names[i]);
        read_one(&g, names[i], 0);
        CHECK(g.rc == MS_ERR_RUNTIME && strstr(g.err, names[i]) &&
                  strstr(g.err, "Input/output error"),
              "%s: rc %d: %s", names[i], g.rc, g.err);
        read_one(&g, names[i], 1); /* skip_bad skips bad records, not failing disks */
        CHECK(g.rc == MS_ERR_RUNTIME, "%s skip: rc %d: %s", names[i], g.rc, g.err);
    }
    symlink_("/proc/self/mem", "mem.json");
    read_all(&g, pth("mem.json"), NULL, 0, 0);
    CHECK(g.rc == MS_ERR_RUNTIME && strstr(g.err, "mem.json: read error"), "manifest: rc %d: %s",
          g.rc, g.err);
    puts_("m_mem.json", "{\"domains\": [{\"name\": \"m\", \"sources\": \"mem.jsonl\", "
                        "\"docs\": 2}]}");
    read_all(&g, pth("m_mem.json"), NULL, 0, 1);
    CHECK(g.rc == MS_ERR_RUNTIME && strstr(g.err, "mem.jsonl"), "sampled: rc %d: %s", g.rc, g.err);
}

/* ---- b) JSONL lines ---- */

static void test_jsonl_lines(void) {
    got g;
    /* Two objects on one line: an error naming file:line, never a lost record. */
    puts_("two.jsonl",
          "{\"text\": \"one\"}\n{\"text\": \"a\"}{\"text\": \"b\"}\n{\"text\": \"z\"}\n");
    read_one(&g, "two.jsonl", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "two.jsonl:2: two JSON values on one line"),
          "two: rc %d: %s", g.rc, g.err);
    read_one(&g, "two.jsonl", 1);
    CHECK(g.rc == 0 && g.n == 2 && g.skipped == 1 && !strcmp(g.text[1], "z"),
          "two skip: rc %d n %d skipped %lld", g.rc, g.n, (long long)g.skipped);
    /* Anything after the object, even a number. */
    puts_("trail.jsonl", "{\"text\": \"one\"} 5\n");
    read_one(&g, "trail.jsonl", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "trail.jsonl:1: two JSON values"), "trail: %s",
          g.err);
    puts_("comma.jsonl", "{\"text\": \"one\"}, {\"text\": \"two\"}\n");
    read_one(&g, "comma.jsonl", 0);
    CHECK(g.rc == MS_ERR_INPUT &&
              strstr(g.err, "comma.jsonl:1: text after the JSON object (at byte 15)"),
          "comma: %s", g.err);
    /* Trailing blanks are fine. */
    puts_("blanks.jsonl", "{\"text\": \"one\"}  \t \n  {\"text\": \"two\"}\n");
    read_one(&g, "blanks.jsonl", 0);
    CHECK(g.rc == 0 && g.n == 2 && !strcmp(g.text[1], "two"), "blanks: %s", g.err);
    /* CR-only line ends: one line holding three records, an error that says why. */
    puts_("cr.jsonl", "{\"text\": \"a\"}\r{\"text\": \"b\"}\r{\"text\": \"c\"}\r");
    read_one(&g, "cr.jsonl", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "cr.jsonl:1: two JSON values") &&
              strstr(g.err, "\\r"),
          "cr: %s", g.err);
    /* CRLF keeps working, with no "\r" left in the text. */
    puts_("crlf.jsonl", "{\"text\": \"a\"}\r\n{\"text\": \"b\\r\"}\r\n\r\n{\"text\": \"c\"}");
    read_one(&g, "crlf.jsonl", 0);
    CHECK(g.rc == 0 && g.n == 3 && !strcmp(g.text[0], "a") && !strcmp(g.text[1], "b\r") &&
              !strcmp(g.text[2], "c") && strstr(g.source[2], "crlf.jsonl:4"),
          "crlf: rc %d n %d: %s", g.rc, g.n, g.err);
    /* \u0000 in the text: an error naming file:line (the text would be cut there). */
    puts_("nul.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"before\\u0000after\"}\n");
    read_one(&g, "nul.jsonl", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "nul.jsonl:2:") && strstr(g.err, "U+0000") &&
              strstr(g.err, "byte 6"),
          "nul: %s", g.err);
    read_one(&g, "nul.jsonl", 1);
    CHECK(g.rc == 0 && g.n == 1 && g.skipped == 1, "nul skip: n %d", g.n);
    /* An escaped backslash before "u0000" is text, kept whole; \u0000 outside the text field
     * does not matter; a genuine U+10FFFF (the marker) without \u0000 is kept. */
    puts_("nul_ok.jsonl", "{\"text\": \"a\\\\u0000b\"}\n"
                          "{\"text\": \"keep\", \"other\": \"x\\u0000y\"}\n"
                          "{\"text\": \"hi \\uDBFF\\uDFFF \xF4\x8F\xBF\xBF!\"}\n");
    read_one(&g, "nul_ok.jsonl", 0);
    CHECK(g.rc == 0 && g.n == 3 && !strcmp(g.text[0], "a\\u0000b") && !strcmp(g.text[1], "keep") &&
              !strcmp(g.text[2], "hi \xF4\x8F\xBF\xBF \xF4\x8F\xBF\xBF!"),
          "nul_ok: rc %d n %d: %s / %s", g.rc, g.n, g.err, g.text[0]);
    /* \u0000 in another Pile set's record does not stop a domain that does not select it. */
    puts_("pile.jsonl", "{\"text\": \"arx\", \"meta\": {\"pile_set_name\": \"ArXiv\"}}\n"
                        "{\"text\": \"g\\u0000h\", \"meta\": {\"pile_set_name\": \"Github\"}}\n");
    puts_("m_pile.json", "{\"domains\": [{\"name\": \"A\", \"sources\": \"pile.jsonl\", "
                         "\"pile_set_name\": \"ArXiv\"}, {\"name\": \"S\", \"sources\": "
                         "\"pile.jsonl\", \"pile_set_name\": \"ArXiv\", \"docs\": 5}]}");
    read_all(&g, pth("m_pile.json"), NULL, 0, 0);
    CHECK(g.rc == 0 && g.n == 2 && !strcmp(g.text[0], "arx"), "pile: rc %d n %d: %s", g.rc, g.n,
          g.err);
    puts_("m_pile2.json", "{\"domains\": [{\"name\": \"G\", \"sources\": \"pile.jsonl\", "
                          "\"pile_set_name\": \"Github\", \"docs\": 5}]}");
    read_all(&g, pth("m_pile2.json"), NULL, 0, 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "pile.jsonl:2:") && strstr(g.err, "U+0000"),
          "pile sampled nul: %s", g.err);
    /* A raw NUL byte in a JSONL line, and in a text file. */
    static const char rawnul[] = "{\"text\": \"a\"}\n{\"text\": \"b\0c\"}\n";
    put("rawnul.jsonl", rawnul, sizeof rawnul - 1);
    read_one(&g, "rawnul.jsonl", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "rawnul.jsonl:2: malformed JSON line") &&
              strstr(g.err, "NUL byte"),
          "rawnul: %s", g.err);
    static const char rawnul_txt[] = "line one\nline\0two\n";
    put("rawnul.txt", rawnul_txt, sizeof rawnul_txt - 1);
    read_one(&g, "rawnul.txt", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "rawnul.txt:2:") && strstr(g.err, "NUL byte"),
          "rawnul.txt: %s", g.err);
    /* Invalid UTF-8 is still refused (raw bytes; a lone surrogate escape is malformed). */
    puts_("bad8.jsonl", "{\"text\": \"caf\xe9\"}\n");
    read_one(&g, "bad8.jsonl", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "bad8.jsonl:1: invalid UTF-8"), "utf8: %s", g.err);
    puts_("surr.jsonl", "{\"text\": \"x\\uD800y\"}\n");
    read_one(&g, "surr.jsonl", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "surr.jsonl:1:"), "surrogate: %s", g.err);
    /* The manifest: one JSON value, no \u0000 in names. */
    puts_("doc.jsonl", "{\"text\": \"d\"}\n");
    puts_("m_two.json", "{\"domains\": [{\"name\": \"x\", \"sources\": \"doc.jsonl\"}]}\n{}\n");
    read_all(&g, pth("m_two.json"), NULL, 0, 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "m_two.json:2: malformed JSON"), "m_two: %s",
          g.err);
    puts_("m_nul.json", "{\"domains\": [{\"name\": \"x\\u0000y\", \"sources\": \"doc.jsonl\"}]}");
    read_all(&g, pth("m_nul.json"), NULL, 0, 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "m_nul.json:") && strstr(g.err, "U+0000"),
          "m_nul: %s", g.err);
    /* A key given twice (cJSON would take the first, Python's json the last). */
    puts_("m_dup.json", "{\"domains\": [{\"name\": \"x\", \"sources\": \"doc.jsonl\", "
                        "\"docs\": 1, \"docs\": 0}]}");
    read_all(&g, pth("m_dup.json"), NULL, 0, 0);
    CHECK(g.rc == MS_ERR_INPUT &&
              strstr(g.err, "m_dup.json: domains[0]: key \"docs\" appears twice"),
          "m_dup: %s", g.err);
    puts_("m_dup2.json", "{\"seed\": 1, \"domains\": [{\"name\": \"x\", \"sources\": "
                         "\"doc.jsonl\"}], \"seed\": 2}");
    read_all(&g, pth("m_dup2.json"), NULL, 0, 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "m_dup2.json: key \"seed\" appears twice"),
          "m_dup2: %s", g.err);
    /* A control character in a domain name stays out of the error line. */
    puts_("m_ctl.json", "{\"domains\": [{\"name\": \"x\\u001b[2Jy\\n\", \"sources\": \"nope\"}]}");
    read_all(&g, pth("m_ctl.json"), NULL, 0, 0);
    CHECK(g.rc == MS_ERR_INPUT && !strchr(g.err, '\x1b') && !strchr(g.err, '\n') &&
              strstr(g.err, "nope"),
          "m_ctl: %s", g.err);
}

/* ---- c) zstd skippable frames ---- */

static void test_skippable(void) {
    got g;
    unsigned char buf[4096];
    size_t n = 0;
    n += skippable(buf + n, 0, 12, 12);
    n += zframe(buf + n, sizeof buf - n, "{\"text\": \"f1\"}\n{\"text\": \"f2\"}\n");
    n += skippable(buf + n, 0xF, 3, 3);
    n += skippable(buf + n, 7, 0, 0);
    n += zframe(buf + n, sizeof buf - n, "{\"text\": \"f3\"}\n");
    n += skippable(buf + n, 1, 5, 5);
    put("skip.jsonl.zst", buf, n);
    read_one(&g, "skip.jsonl.zst", 0);
    CHECK(g.rc == 0 && g.n == 3 && !strcmp(g.text[0], "f1") && !strcmp(g.text[2], "f3"),
          "skippable: rc %d n %d: %s", g.rc, g.n, g.err);
    /* Without a .zst name: found by its magic (the skippable one). */
    put("skip_noext.jsonl", buf, n);
    read_one(&g, "skip_noext.jsonl", 0);
    CHECK(g.rc == 0 && g.n == 3, "skippable by magic: rc %d n %d: %s", g.rc, g.n, g.err);
    /* Truncated skippable frame at the end, and alone at the start. */
    size_t m = n - 13; /* drop the last skippable frame */
    m += skippable(buf + m, 2, 100, 10);
    put("skip_trunc.jsonl.zst", buf, m);
    read_one(&g, "skip_trunc.jsonl.zst", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "skip_trunc.jsonl.zst: truncated zstd frame"),
          "truncated skippable: rc %d: %s", g.rc, g.err);
    n = skippable(buf, 0, 64, 4);
    put("skip_head.jsonl.zst", buf, n);
    read_one(&g, "skip_head.jsonl.zst", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "skip_head.jsonl.zst: truncated zstd frame"),
          "truncated head: rc %d: %s", g.rc, g.err);
    put("skip_magic.jsonl.zst", buf, 6); /* the header itself cut */
    read_one(&g, "skip_magic.jsonl.zst", 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "skip_magic.jsonl.zst:"), "cut header: %s", g.err);
    /* Real pzstd output (Debian's zstd package): starts with a skippable frame. */
    FILE *f = fopen(pth("pz.jsonl"), "wb");
    if (!f) exit(1);
    for (int i = 0; i < 3000; i++)
        fprintf(f, "{\"text\": \"document %d of the pzstd test, padded to be longer\"}\n", i);
    fclose(f);
    unlink(pth("pz.jsonl.zst"));
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "pzstd -q -p 2 -o '%s' '%s' </dev/null", pth("pz.jsonl.zst"),
             pth("pz.jsonl"));
    int st = system(cmd);
    CHECK(st == 0, "pzstd failed (exit %d): is Debian's zstd package installed?", st);
    if (st == 0) {
        unsigned char hd[4] = {0};
        f = fopen(pth("pz.jsonl.zst"), "rb");
        CHECK(f && fread(hd, 1, 4, f) == 4 && hd[0] == 0x50 && hd[3] == 0x18,
              "pzstd output does not start with a skippable frame");
        if (f) fclose(f);
        read_one(&g, "pz.jsonl.zst", 0);
        CHECK(g.rc == 0 && g.n == 3000 &&
                  !strcmp(g.text[0], "document 0 of the pzstd test, "
                                     "padded to be longer"),
              "pzstd: rc %d n %d: %s", g.rc, g.n, g.err);
        /* Two pzstd files concatenated: both read. */
        snprintf(cmd, sizeof cmd, "cat '%s' '%s' > '%s'", pth("pz.jsonl.zst"), pth("pz.jsonl.zst"),
                 pth("pz2.jsonl.zst"));
        CHECK(system(cmd) == 0, "cat");
        read_one(&g, "pz2.jsonl.zst", 0);
        CHECK(g.rc == 0 && g.n == 6000, "pzstd x2: rc %d n %d: %s", g.rc, g.n, g.err);
        /* The same in a sampled manifest. */
        puts_("m_pz.json", "{\"seed\": 2, \"domains\": [{\"name\": \"p\", \"sources\": "
                           "\"pz2.jsonl.zst\", \"docs\": 10}]}");
        read_all(&g, pth("m_pz.json"), NULL, 0, 0);
        CHECK(g.rc == 0 && g.n == 10, "pzstd sampled: rc %d n %d: %s", g.rc, g.n, g.err);
    }
}

/* ---- outputs checked against the corpus' files (for capture --out) ---- */

static void test_check_output(void) {
    char err[512];
    mkdir(pth("co"), 0700);
    puts_("co/a.jsonl", "{\"text\": \"a\"}\n");
    puts_("co/b.txt", "b");
    puts_("co/m.json", "{\"domains\": [{\"name\": \"x\", \"sources\": \"a.jsonl\"}, {\"name\": "
                       "\"y\", \"sources\": [\"b.txt\", \"a.jsonl\"], \"docs\": 1}]}");
    puts_("co/other.h5", "not a corpus file");
    unlink(pth("co/hard.jsonl"));
    if (link(pth("co/a.jsonl"), pth("co/hard.jsonl")) != 0) exit(1);
    ms_corpus_opts o = {pth("co/m.json"), NULL, 0, "text", 0};
    ms_corpus *c = NULL;
    int rc = ms_corpus_open(&c, &o, err, sizeof err);
    CHECK(rc == 0, "open: %s", err);
    if (rc) return;
    CHECK(ms_corpus_n_files(c) == 4 && !strcmp(ms_corpus_file(c, 0), pth("co/m.json")) &&
              strstr(ms_corpus_file(c, 2), "co/b.txt") && ms_corpus_file(c, 4) == NULL &&
              ms_corpus_file(c, -1) == NULL,
          "file list: %d", ms_corpus_n_files(c));
    static const char *const same[] = {"co/m.json", "co/./a.jsonl", "co/../co/b.txt",
                                       "co/hard.jsonl"};
    for (int i = 0; i < 4; i++) {
        err[0] = '\0';
        rc = ms_corpus_check_output(c, pth(same[i]), err, sizeof err);
        CHECK(rc == MS_ERR_INPUT && strstr(err, same[i]) && strstr(err, "refusing to overwrite"),
              "same %s: rc %d: %s", same[i], rc, err);
    }
    CHECK(ms_corpus_check_output(c, pth("co/other.h5"), err, sizeof err) == 0, "other: %s", err);
    CHECK(ms_corpus_check_output(c, pth("co/none.h5"), err, sizeof err) == 0, "none: %s", err);
    CHECK(ms_corpus_check_output(c, "-", err, sizeof err) == 0, "stdout: %s", err);
    ms_corpus_close(c);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    mkdir(dir, 0700);
    signal(SIGALRM, on_alarm);
    test_fifos();
    test_jsonl_lines();
    test_read_errors();
    test_skippable();
    test_check_output();
    return mstest_result("corpora hardening: all checks passed");
}
