/* test_store.c — the route store writer, reader and collector on synthetic routing data.
 *
 *   test_store write OUT.h5 PREFIX   write a store in several batches (with a resume in the
 *                                    middle), read it back with ms_routes_*, and dump the
 *                                    expected arrays to PREFIX.* for the independent h5py check
 *   test_store crash DIR             kill -9 a writer child at several moments, resume, and
 *                                    check the result equals an uninterrupted store
 *   test_store errors DIR            bad options, unwritable paths, a full "disk"
 *                                    (RLIMIT_FSIZE), mismatching resumes, corrupt inputs
 *   test_store collector             the router hook on hand-made events
 *
 * Documents are a pure function of their index (gen_doc), so any subset can be compared. */
#include "probes.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../mstest.h"

#define L_      3
#define E_      8
#define K_      2
#define WINDOW_ 64
#define MAXTOK_ 300

static const int layers_[L_] = {0, 2, 5};
static const char *const domains_[3] = {"alpha", "Beta (b)", "gamma ünï"};

static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

typedef struct doc {
    int64_t n;
    int domain;
    char source[64];
    int32_t tok[MAXTOK_], pos[MAXTOK_];
    int32_t ids[MAXTOK_ * L_ * K_];
    float w[MAXTOK_ * L_ * K_];
    float lg[MAXTOK_ * L_ * E_];
} doc;

static void gen_doc(int64_t d, doc *o) {
    uint64_t s = mix((uint64_t)d * 7919u + 1);
    o->n = (int64_t)(s % 200); /* 0..199 tokens: empty documents happen */
    o->domain = (int)(d % 3);
    snprintf(o->source, sizeof o->source, "corpus/file%lld.jsonl:%lld", (long long)(d % 5),
             (long long)d + 1);
    for (int64_t t = 0; t < o->n; t++) {
        s = mix(s);
        o->tok[t] = (int32_t)(s % 32000);
        o->pos[t] = (int32_t)(t % WINDOW_);
        for (int l = 0; l < L_; l++) {
            s = mix(s);
            int a = (int)(s % E_), b = (int)((s >> 8) % (E_ - 1));
            if (b >= a) b++;
            o->ids[(t * L_ + l) * K_ + 0] = a;
            o->ids[(t * L_ + l) * K_ + 1] = b;
            float w0 = 0.5f + (float)((s >> 16) % 1000) / 2000.0f;
            o->w[(t * L_ + l) * K_ + 0] = w0;
            o->w[(t * L_ + l) * K_ + 1] = 1.0f - w0;
            for (int e = 0; e < E_; e++) {
                s = mix(s);
                o->lg[(t * L_ + l) * E_ + e] = (float)((int64_t)(s % 20001) - 10000) / 1000.0f;
            }
        }
    }
}

static ms_store_create_opts opts_for(const char *path, int resume, int logits) {
    ms_store_create_opts o;
    memset(&o, 0, sizeof o);
    o.path = path;
    o.layers = layers_;
    o.n_layers = L_;
    o.n_expert = E_;
    o.k = K_;
    o.with_logits = logits;
    o.domains = domains_;
    o.n_domains = 3;
    o.model_json = "{\"arch\":\"mixtral\",\"n_layer\":6}";
    o.tokenizer_json = "{\"kind\":\"spm\"}";
    o.manifest_json = "{\"name\":\"synthetic\"}";
    o.command_line = "test_store write";
    o.resume = resume;
    return o;
}

/* Appends documents [d0, d1), flushing every `batch` documents. Returns 0 or the error. */
static int write_docs(ms_store *s, int64_t d0, int64_t d1, int batch, int logits, char *err,
                      size_t errlen) {
    static doc D;
    for (int64_t d = d0; d < d1; d++) {
        gen_doc(d, &D);
        int rc = ms_store_append(s, D.domain, D.source, D.tok, D.pos, D.n, D.ids, D.w,
                                 logits ? D.lg : NULL, err, errlen);
        if (rc) return rc;
        if ((d + 1 - d0) % batch == 0 && (rc = ms_store_flush(s, err, errlen))) return rc;
    }
    return 0;
}

/* Compares a store read through ms_routes_* with documents [0, nd). */
static void verify(const char *path, int64_t nd, int logits) {
    char err[512];
    ms_routes *r = NULL;
    int rc = ms_routes_open(&r, path, err, sizeof err);
    CHECK(rc == 0, "open %s: %s", path, err);
    if (rc) return;
    const ms_routes_info *in = ms_routes_info_get(r);
    CHECK(in->n_documents == nd, "n_documents %lld, want %lld", (long long)in->n_documents,
          (long long)nd);
    CHECK(in->n_layers == L_ && in->k == K_ && in->n_expert == E_ && in->n_domains == 3,
          "shape info");
    CHECK(in->has_logits == logits, "has_logits");
    for (int i = 0; i < L_ && i < in->n_layers; i++)
        CHECK(in->layers[i] == layers_[i], "layer");
    for (int i = 0; i < 3 && i < in->n_domains; i++)
        CHECK(strcmp(in->domains[i], domains_[i]) == 0, "domain %d: %s", i, in->domains[i]);
    CHECK(strstr(in->model_json, "mixtral") != NULL, "model attr");
    CHECK(strncmp(in->tool_version, "moescope ", 9) == 0, "tool_version %s", in->tool_version);
    CHECK(strlen(in->created) == 20, "created %s", in->created);
    static doc D;
    static int32_t tok[MAXTOK_], dc[MAXTOK_], pos[MAXTOK_], ids[MAXTOK_ * L_ * K_];
    static float w[MAXTOK_ * L_ * K_], lg[MAXTOK_ * L_ * E_];
    int64_t t = 0;
    for (int64_t d = 0; d < nd && d < in->n_documents; d++) {
        gen_doc(d, &D);
        int dom;
        int64_t first, n;
        const char *src;
        CHECK(ms_routes_document(r, d, &dom, &first, &n, &src) == 0, "document %lld", (long long)d);
        CHECK(dom == D.domain && first == t && n == D.n && strcmp(src, D.source) == 0,
              "document %lld table", (long long)d);
        rc = ms_routes_read(r, first, n, tok, dc, pos, ids, w, logits ? lg : NULL, err, sizeof err);
        CHECK(rc == 0, "read: %s", err);
        for (int64_t i = 0; i < n; i++) {
            if (tok[i] != D.tok[i] || pos[i] != D.pos[i] || dc[i] != (int32_t)d) {
                CHECK(0, "doc %lld token %lld differs", (long long)d, (long long)i);
                break;
            }
        }
        CHECK(memcmp(ids, D.ids, sizeof(int32_t) * (size_t)(n * L_ * K_)) == 0, "ids doc %lld",
              (long long)d);
        CHECK(memcmp(w, D.w, sizeof(float) * (size_t)(n * L_ * K_)) == 0, "weights doc %lld",
              (long long)d);
        if (logits)
            CHECK(memcmp(lg, D.lg, sizeof(float) * (size_t)(n * L_ * E_)) == 0, "logits doc %lld",
                  (long long)d);
        t += n;
    }
    CHECK(in->n_tokens == t, "n_tokens %lld, want %lld", (long long)in->n_tokens, (long long)t);
    /* Out-of-range reads are refused. */
    CHECK(ms_routes_read(r, t, 1, tok, NULL, NULL, NULL, NULL, NULL, err, sizeof err) ==
              MS_ERR_INPUT,
          "read past the end");
    CHECK(ms_routes_document(r, nd, NULL, NULL, NULL, NULL) == MS_ERR_INPUT, "doc past end");
    ms_routes_close(r);
}

static void dump(const char *prefix, const char *what, const void *p, size_t n, FILE **fs) {
    (void)prefix;
    (void)what;
    fwrite(p, 1, n, *fs);
}

/* Expected arrays for the h5py check: PREFIX.{tok,doc,pos,ids,w,lg,docs} raw little-endian. */
static void write_expect(const char *prefix, int64_t nd) {
    static const char *const ext[6] = {"tok", "doc", "pos", "ids", "w", "lg"};
    FILE *f[6], *fd;
    char name[512];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, ext[i]);
        f[i] = fopen(name, "wb");
        if (!f[i]) {
            CHECK(0, "cannot write %s", name);
            return;
        }
    }
    snprintf(name, sizeof name, "%s.docs", prefix);
    fd = fopen(name, "w");
    static doc D;
    for (int64_t d = 0; d < nd; d++) {
        gen_doc(d, &D);
        int32_t dd[MAXTOK_];
        for (int64_t i = 0; i < D.n; i++)
            dd[i] = (int32_t)d;
        size_t n = (size_t)D.n;
        dump(prefix, "tok", D.tok, 4 * n, &f[0]);
        dump(prefix, "doc", dd, 4 * n, &f[1]);
        dump(prefix, "pos", D.pos, 4 * n, &f[2]);
        dump(prefix, "ids", D.ids, 4 * n * L_ * K_, &f[3]);
        dump(prefix, "w", D.w, 4 * n * L_ * K_, &f[4]);
        dump(prefix, "lg", D.lg, 4 * n * L_ * E_, &f[5]);
        fprintf(fd, "%d\t%lld\t%s\n", D.domain, (long long)D.n, D.source);
    }
    for (int i = 0; i < 6; i++)
        fclose(f[i]);
    fclose(fd);
}

static int cmd_write(const char *path, const char *prefix) {
    char err[512];
    ms_store *s = NULL;
    /* First session: 23 documents in batches of 5, then close. */
    ms_store_create_opts o = opts_for(path, 0, 1);
    int rc = ms_store_create(&s, &o, err, sizeof err);
    CHECK(rc == 0, "create: %s", err);
    if (rc) return 1;
    rc = write_docs(s, 0, 23, 5, 1, err, sizeof err);
    CHECK(rc == 0, "write: %s", err);
    CHECK(ms_store_n_documents(s) == 23, "count");
    rc = ms_store_close(s, err, sizeof err);
    CHECK(rc == 0, "close: %s", err);
    verify(path, 23, 1);
    /* Second session: resume and add 17 more. */
    o = opts_for(path, 1, 1);
    rc = ms_store_create(&s, &o, err, sizeof err);
    CHECK(rc == 0, "resume: %s", err);
    if (rc) return 1;
    CHECK(ms_store_n_documents(s) == 23, "resumed count %lld", (long long)ms_store_n_documents(s));
    rc = write_docs(s, 23, 40, 4, 1, err, sizeof err);
    CHECK(rc == 0, "write: %s", err);
    rc = ms_store_close(s, err, sizeof err);
    CHECK(rc == 0, "close: %s", err);
    verify(path, 40, 1);
    write_expect(prefix, 40);
    /* A store without logits. */
    char p2[512];
    snprintf(p2, sizeof p2, "%s.nologits.h5", prefix);
    o = opts_for(p2, 0, 0);
    rc = ms_store_create(&s, &o, err, sizeof err);
    CHECK(rc == 0, "create: %s", err);
    if (!rc) {
        CHECK(write_docs(s, 0, 10, 3, 0, err, sizeof err) == 0, "write: %s", err);
        CHECK(ms_store_close(s, err, sizeof err) == 0, "close: %s", err);
        verify(p2, 10, 0);
    }
    return failures ? 1 : 0;
}

/* Writer child for the crash test: writes documents [0, 60) in batches of 3, reporting each
 * committed batch on the pipe, optionally pausing so the parent can kill it at any moment. */
static void crash_child(const char *path, int fd, int resume) {
    char err[512];
    ms_store *s = NULL;
    ms_store_create_opts o = opts_for(path, resume, 1);
    if (ms_store_create(&s, &o, err, sizeof err)) _exit(3);
    static doc D;
    for (int64_t d = ms_store_n_documents(s); d < 60; d++) {
        gen_doc(d, &D);
        if (ms_store_append(s, D.domain, D.source, D.tok, D.pos, D.n, D.ids, D.w, D.lg, err,
                            sizeof err))
            _exit(4);
        if ((d + 1) % 3 == 0) {
            if (ms_store_flush(s, err, sizeof err)) _exit(5);
            char c = 'b';
            if (fd >= 0 && write(fd, &c, 1) != 1) _exit(6);
        }
    }
    if (ms_store_close(s, err, sizeof err)) _exit(7);
    _exit(0);
}

static int cmd_crash(const char *dir) {
    /* Kill after 1..N committed batches plus a varying delay (0..~3 ms) so the kill lands in
     * different phases: buffering, writing rows, between the flushes, writing the commit. */
    for (int trial = 0; trial < 6; trial++) {
        char path[512];
        snprintf(path, sizeof path, "%s/crash%d.h5", dir, trial);
        unlink(path);
        int p[2];
        if (pipe(p)) return 1;
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            crash_child(path, p[1], 0);
        }
        close(p[1]);
        int want = 1 + trial % 5, got = 0;
        char c;
        while (got < want && read(p[0], &c, 1) == 1)
            got++;
        usleep((useconds_t)(trial * 250));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        close(p[0]);
        /* The killed store opens and holds only whole, committed documents. */
        char err[512];
        ms_routes *r = NULL;
        int rc = ms_routes_open(&r, path, err, sizeof err);
        CHECK(rc == 0, "trial %d: open after kill: %s", trial, err);
        int64_t nd = 0;
        if (!rc) {
            nd = ms_routes_info_get(r)->n_documents;
            ms_routes_close(r);
            CHECK(nd >= 3 * got && nd % 3 == 0, "trial %d: %lld documents after %d batches", trial,
                  (long long)nd, got);
            verify(path, nd, 1);
        }
        /* Resume to the end in a child (same code path as a new process). */
        pid = fork();
        if (pid == 0) crash_child(path, -1, 1);
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "trial %d: resume child status %d", trial, st);
        verify(path, 60, 1);
        fprintf(stderr, "trial %d: killed after %d batches, %lld documents kept, resumed\n", trial,
                got, (long long)nd);
    }
    return failures ? 1 : 0;
}

static int cmd_errors(const char *dir) {
    char err[512], path[512];
    ms_store *s = NULL;
    /* Unwritable location. */
    snprintf(path, sizeof path, "%s/no-such-dir/x.h5", dir);
    ms_store_create_opts o = opts_for(path, 0, 0);
    int rc = ms_store_create(&s, &o, err, sizeof err);
    CHECK(rc == MS_ERR_RUNTIME && s == NULL && strstr(err, path) == err, "unwritable: %d %s", rc,
          err);
    fprintf(stderr, "unwritable: %s\n", err);
    /* Invalid options. */
    snprintf(path, sizeof path, "%s/e1.h5", dir);
    o = opts_for(path, 0, 0);
    o.k = 9;
    CHECK(ms_store_create(&s, &o, err, sizeof err) == MS_ERR_INPUT, "k > E accepted");
    /* Bad documents. */
    o = opts_for(path, 0, 0);
    rc = ms_store_create(&s, &o, err, sizeof err);
    CHECK(rc == 0, "create: %s", err);
    if (rc) return 1;
    int32_t tok[1] = {5}, pos[1] = {0}, ids[L_ * K_] = {0, 1, 2, 3, 4, 8};
    float w[L_ * K_] = {0};
    rc = ms_store_append(s, 0, "x", tok, pos, 1, ids, w, NULL, err, sizeof err);
    CHECK(rc == MS_ERR_INPUT && strstr(err, "expert id 8"), "bad id: %s", err);
    ids[5] = 7;
    CHECK(ms_store_append(s, 3, "x", tok, pos, 1, ids, w, NULL, err, sizeof err) == MS_ERR_INPUT,
          "bad domain accepted");
    CHECK(ms_store_append(s, 2, "x", tok, pos, 1, ids, w, NULL, err, sizeof err) == 0, "append");
    CHECK(ms_store_close(s, err, sizeof err) == 0, "close: %s", err);
    ms_routes *r = NULL;
    rc = ms_routes_open(&r, path, err, sizeof err);
    CHECK(rc == 0 && ms_routes_info_get(r)->n_documents == 1, "one document: %s", err);
    ms_routes_close(r);
    /* Resume with different settings. */
    o = opts_for(path, 1, 1);
    rc = ms_store_create(&s, &o, err, sizeof err);
    CHECK(rc == MS_ERR_INPUT && strstr(err, "--logits"), "logits mismatch: %s", err);
    static const int other[L_] = {0, 2, 4};
    o = opts_for(path, 1, 0);
    o.layers = other;
    rc = ms_store_create(&s, &o, err, sizeof err);
    CHECK(rc == MS_ERR_INPUT && strstr(err, "layers"), "layers mismatch: %s", err);
    /* Not a store. */
    snprintf(path, sizeof path, "%s/not.h5", dir);
    FILE *f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    r = NULL;
    rc = ms_routes_open(&r, path, err, sizeof err);
    CHECK(rc == MS_ERR_INPUT && r == NULL && strstr(err, "not an HDF5"), "not hdf5: %s", err);
    o = opts_for(path, 1, 0);
    rc = ms_store_create(&s, &o, err, sizeof err);
    CHECK(rc != 0 && s == NULL, "resume of a non-store accepted");
    snprintf(path, sizeof path, "%s/missing.h5", dir);
    rc = ms_routes_open(&r, path, err, sizeof err);
    CHECK(rc == MS_ERR_INPUT && strstr(err, "missing.h5"), "missing: %s", err);

    /* A full disk: limit the file size, write until a flush fails; the committed documents
     * stay readable. Run in a child so the limit does not leak. */
    snprintf(path, sizeof path, "%s/full.h5", dir);
    unlink(path);
    int p[2];
    if (pipe(p)) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {8 << 20, 8 << 20};
        setrlimit(RLIMIT_FSIZE, &rl);
        o = opts_for(path, 0, 1);
        if (ms_store_create(&s, &o, err, sizeof err)) _exit(3);
        rc = write_docs(s, 0, 100000, 4, 1, err, sizeof err);
        int64_t committed = ms_store_n_documents(s);
        (void)committed;
        char e2[512];
        ms_store_close(s, e2, sizeof e2);
        dprintf(p[1], "%d %s", rc, err);
        _exit(0);
    }
    close(p[1]);
    char msg[600] = {0};
    ssize_t m = read(p[0], msg, sizeof msg - 1);
    (void)m;
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    fprintf(stderr, "full disk: %s\n", msg);
    CHECK(msg[0] == '1' && strstr(msg, "full.h5: no space left"), "full disk error: %s", msg);
    rc = ms_routes_open(&r, path, err, sizeof err);
    CHECK(rc == 0, "open after full disk: %s", err);
    if (!rc) {
        int64_t nd = ms_routes_info_get(r)->n_documents;
        ms_routes_close(r);
        CHECK(nd > 0 && nd % 4 == 0, "documents kept after full disk: %lld", (long long)nd);
        verify(path, nd, 1);
        /* The documents kept resume cleanly once there is room. */
        o = opts_for(path, 1, 1);
        rc = ms_store_create(&s, &o, err, sizeof err);
        CHECK(rc == 0 && ms_store_n_documents(s) == nd, "resume after full disk: %s", err);
        if (!rc) {
            CHECK(write_docs(s, nd, nd + 5, 2, 1, err, sizeof err) == 0, "write: %s", err);
            CHECK(ms_store_close(s, err, sizeof err) == 0, "close: %s", err);
            verify(path, nd + 5, 1);
        }
    }
    return failures ? 1 : 0;
}

static int cmd_collector(void) {
    char err[256];
    ms_route_collector c;
    static const int lay[2] = {1, 3};
    CHECK(ms_collector_init(&c, lay, 2, 4, 2, 5, 1, err, sizeof err) == 0, "init: %s", err);
    ms_collector_begin(&c);
    /* 3 tokens, E=4, k=2: layer l, token t chooses (t+l)%4 then (t+l+1)%4. */
    for (int layer = 0; layer < 5; layer++) {
        int32_t ids[6];
        float w[6], lg[12];
        for (int t = 0; t < 3; t++) {
            ids[t * 2] = (t + layer) % 4;
            ids[t * 2 + 1] = (t + layer + 1) % 4;
            w[t * 2] = 0.75f;
            w[t * 2 + 1] = 0.25f;
            for (int e = 0; e < 4; e++)
                lg[t * 4 + e] = (float)(100 * layer + 10 * t + e);
        }
        ms_route_event ev = {layer, 3, 0, 4, 2, lg, ids, w, NULL};
        CHECK(ms_collector_hook(&c, &ev) == 0, "hook layer %d: %s", layer, c.err);
    }
    CHECK(c.seen_mask_count == 2 && c.n_tokens == 3, "seen %llu, n %lld",
          (unsigned long long)c.seen_mask_count, (long long)c.n_tokens);
    for (int t = 0; t < 3; t++)
        for (int s = 0; s < 2; s++) {
            int layer = lay[s];
            CHECK(c.ids[(t * 2 + s) * 2] == (t + layer) % 4, "ids t%d s%d", t, s);
            CHECK(c.ids[(t * 2 + s) * 2 + 1] == (t + layer + 1) % 4, "ids t%d s%d", t, s);
            CHECK(c.weights[(t * 2 + s) * 2] == 0.75f, "w");
            for (int e = 0; e < 4; e++)
                CHECK(c.logits[(t * 2 + s) * 4 + e] == (float)(100 * layer + 10 * t + e), "logits");
        }
    /* Too many tokens, or a different k, stop the pass with a message. */
    ms_collector_begin(&c);
    int32_t ids[12] = {0};
    float w[12] = {0}, lg[24] = {0};
    ms_route_event big = {1, 6, 0, 4, 2, lg, ids, w, NULL};
    CHECK(ms_collector_hook(&c, &big) != 0 && c.err[0], "oversized window accepted");
    ms_collector_begin(&c);
    ms_route_event k3 = {3, 2, 0, 4, 3, lg, ids, w, NULL};
    CHECK(ms_collector_hook(&c, &k3) != 0 && strstr(c.err, "k=3"), "k mismatch: %s", c.err);
    ms_collector_free(&c);
    static const int unsorted[2] = {3, 1};
    CHECK(ms_collector_init(&c, unsorted, 2, 4, 2, 5, 0, err, sizeof err) == MS_ERR_INPUT,
          "unsorted layers accepted");
    return failures ? 1 : 0;
}

/* Stores built by hand with h5py (handmade.py): the documented example opens, the corrupt
 * variants are refused with a message naming the problem. */
static int cmd_handmade(const char *dir) {
    char err[512], path[512];
    static const char *const ok[2] = {"tiny.h5", "tiny_fixed.h5"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, ok[i]);
        ms_routes *r = NULL;
        int rc = ms_routes_open(&r, path, err, sizeof err);
        CHECK(rc == 0, "%s: %s", ok[i], err);
        if (rc) continue;
        const ms_routes_info *in = ms_routes_info_get(r);
        CHECK(in->n_documents == 1 && in->n_tokens == 3 && in->n_layers == 1 &&
                  in->layers[0] == 7 && in->k == 2 && in->n_expert == 4 && !in->has_logits &&
                  in->n_domains == 1 && !strcmp(in->domains[0], "ArXiv"),
              "%s: info", ok[i]);
        int32_t tok[3], ids[6];
        float w[6];
        rc = ms_routes_read(r, 0, 3, tok, NULL, NULL, ids, w, NULL, err, sizeof err);
        CHECK(rc == 0 && tok[1] == 415 && tok[2] == 2936, "%s: tokens", ok[i]);
        CHECK(ids[0] == 0 && ids[1] == 1 && ids[3] == 2 && ids[4] == 2 && w[5] == 0.5f, "%s: ids",
              ok[i]);
        const char *src = NULL;
        CHECK(ms_routes_document(r, 0, NULL, NULL, NULL, &src) == 0 && src && !src[0], "%s: source",
              ok[i]);
        ms_routes_close(r);
    }
    static const char *const badf[4] = {"bad_ids.h5", "bad_docs.h5", "bad_domain.h5",
                                        "bad_ndocs.h5"};
    static const char *const badm[4] = {"outside [0, 4)", "do not continue", "out of range",
                                        "n_documents"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, badf[i]);
        ms_routes *r = NULL;
        int rc = ms_routes_open(&r, path, err, sizeof err);
        if (rc == 0) { /* expert ids are checked when read */
            int32_t ids[6];
            rc = ms_routes_read(r, 0, 3, NULL, NULL, NULL, ids, NULL, NULL, err, sizeof err);
            ms_routes_close(r);
        }
        CHECK(rc == MS_ERR_INPUT && strstr(err, badm[i]) && strstr(err, badf[i]), "%s: rc %d: %s",
              badf[i], rc, err);
        fprintf(stderr, "%s: %s\n", badf[i], err);
    }
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "handmade")) return cmd_handmade(argv[2]);
    if (argc >= 4 && !strcmp(argv[1], "write")) return cmd_write(argv[2], argv[3]);
    if (argc >= 3 && !strcmp(argv[1], "crash")) return cmd_crash(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "errors")) return cmd_errors(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "collector")) return cmd_collector();
    fprintf(stderr, "usage: test_store write OUT.h5 PREFIX | crash DIR | errors DIR | collector\n");
    return 2;
}
