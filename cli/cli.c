/* cli.c — messages, option helpers and the progress line shared by all subcommands. */
#include "cli.h"
#include "msutil.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int ms_verbosity = 1;
const char *ms_program = "moescope";

/* Messages carry names from files (GGUF keys, domain names, paths): the formatted text goes
 * through ms_text_safe once here, so every message is one line of valid UTF-8 without control
 * characters or escape sequences, whatever the names hold. */
static void vmsg_parts(const char *prefix, const char *fmt, va_list ap, const char *suffix) {
    char raw[4096], safe[4 * sizeof raw];
    vsnprintf(raw, sizeof raw, fmt, ap);
    ms_text_safe(raw, safe, sizeof safe);
    fprintf(stderr, "moescope: %s%s%s\n", prefix, safe, suffix);
}

static void vmsg(const char *prefix, const char *fmt, va_list ap) {
    vmsg_parts(prefix, fmt, ap, "");
}

void ms_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg("error: ", fmt, ap);
    va_end(ap);
}

int ms_usage_error(const ms_command *cmd, const char *fmt, ...) {
    char prefix[128], suffix[128];
    const char *name = cmd ? cmd->name : "moescope";
    snprintf(prefix, sizeof prefix, "error: %s: ", name);
    if (cmd)
        snprintf(suffix, sizeof suffix, " (see 'moescope %s --help')", name);
    else
        snprintf(suffix, sizeof suffix, " (see 'moescope --help')");
    va_list ap;
    va_start(ap, fmt);
    vmsg_parts(prefix, fmt, ap, suffix);
    va_end(ap);
    return MS_EXIT_USAGE;
}

void ms_info(const char *fmt, ...) {
    if (ms_verbosity < 1) return;
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
}

void ms_debug(const char *fmt, ...) {
    if (ms_verbosity < 2) return;
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
}

void ms_print_text(FILE *f, const char *s, int width) {
    size_t n = strlen(s ? s : "");
    char *t = malloc(4 * n + 8);
    if (!t) return;
    ms_text_safe(s ? s : "", t, 4 * n + 8);
    if (width > 0) {
        /* width counts characters, not bytes: cut on a character boundary */
        int chars = 0;
        size_t i = 0;
        for (; t[i] && chars < width; i++)
            if (((unsigned char)t[i + 1] & 0xC0) != 0x80) chars++;
        t[i] = 0;
        fputs(t, f);
        for (; chars < width; chars++)
            fputc(' ', f);
    } else {
        fputs(t, f);
    }
    free(t);
}

void ms_opt_begin(void) {
    optind = 0; /* glibc: 0 fully re-initialises getopt (commands may run one after another) */
    opterr = 0;
}

int ms_opt_common(const ms_command *cmd, int c, char **argv) {
    switch (c) {
    case 'h':
        fputs(cmd->usage, stdout);
        return MS_EXIT_OK;
    case 'q':
        ms_verbosity = 0;
        return -1;
    case 'v':
        ms_verbosity++;
        return -1;
    case '?':
        if (optopt) return ms_usage_error(cmd, "unknown option '-%c'", optopt);
        return ms_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
    case ':':
        if (optopt) return ms_usage_error(cmd, "option '-%c' needs a value", optopt);
        return ms_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    default:
        return -2;
    }
}

int ms_parse_long(const ms_command *cmd, const char *what, const char *s, long min, long max,
                  long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max)
        return ms_usage_error(cmd, "%s: '%s' is not a whole number in [%ld, %ld]", what, s, min,
                              max);
    *out = v;
    return 0;
}

int ms_parse_double(const ms_command *cmd, const char *what, const char *s, double min, double max,
                    double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < min || v > max)
        return ms_usage_error(cmd, "%s: '%s' is not a number in [%g, %g]", what, s, min, max);
    *out = v;
    return 0;
}

int ms_parse_index_list(const ms_command *cmd, const char *what, const char *s, int64_t **out,
                        int *n) {
    int cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    int64_t *v = malloc((size_t)cap * sizeof *v);
    char *dup = strdup(s), *save = NULL;
    *out = NULL;
    *n = 0;
    if (!v || !dup) {
        free(v);
        free(dup);
        ms_error("out of memory");
        return MS_EXIT_RUNTIME;
    }
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long x;
        if (ms_parse_long(cmd, what, tok, 0, 2000000000L, &x)) {
            free(dup);
            free(v);
            *n = 0;
            return MS_EXIT_USAGE;
        }
        v[(*n)++] = x;
    }
    free(dup);
    if (*n == 0) {
        free(v);
        return ms_usage_error(cmd, "%s: empty list", what);
    }
    *out = v;
    return 0;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* --layers on a model: "all" means the layers that route (a dense MLP layer has no router);
 * a dense layer asked for by number or name is a usage error naming it. */
int ms_parse_model_layers(const ms_command *cmd, const char *s, int n_layer, const ms_model *m,
                          int (*routes)(const ms_model *, int), int **out, int *n_out) {
    int rc = ms_parse_layers(cmd, s, n_layer, out, n_out);
    if (rc) return rc;
    int all = strcmp(s, "all") == 0, n = 0;
    for (int i = 0; i < *n_out; i++) {
        int l = (*out)[i];
        if (routes(m, l))
            (*out)[n++] = l;
        else if (!all) {
            free(*out);
            *out = NULL;
            *n_out = 0;
            return ms_usage_error(cmd, "--layers: layer %d is a dense MLP layer: it has no router",
                                  l);
        }
    }
    *n_out = n;
    if (n == 0) {
        free(*out);
        *out = NULL;
        return ms_usage_error(cmd, "--layers: the model has no layer with a router");
    }
    return 0;
}

int ms_parse_layers(const ms_command *cmd, const char *s, int n_layer, int **out, int *n_out) {
    *out = NULL;
    *n_out = 0;
    if (n_layer <= 0) return ms_usage_error(cmd, "--layers: the model has no layers");
    int *v = malloc(sizeof(int) * ((size_t)n_layer + 1));
    if (!v) return ms_usage_error(cmd, "out of memory");
    int n = 0;
    if (strcmp(s, "all") == 0) {
        for (int i = 0; i < n_layer; i++)
            v[n++] = i;
    } else {
        char *copy = strdup(s);
        if (!copy) {
            free(v);
            return ms_usage_error(cmd, "out of memory");
        }
        char *save = NULL;
        int bad = 0;
        for (char *tok = strtok_r(copy, ",", &save); tok && !bad;
             tok = strtok_r(NULL, ",", &save)) {
            long a, b;
            char *end;
            if (strcmp(tok, "first") == 0)
                a = b = 0;
            else if (strcmp(tok, "middle") == 0)
                a = b = n_layer / 2;
            else if (strcmp(tok, "last") == 0)
                a = b = n_layer - 1;
            else {
                if (!isdigit((unsigned char)tok[0])) {
                    bad = 1;
                    break;
                }
                a = strtol(tok, &end, 10);
                b = a;
                if (*end == '-') {
                    if (!isdigit((unsigned char)end[1])) {
                        bad = 1;
                        break;
                    }
                    b = strtol(end + 1, &end, 10);
                }
                if (*end || b < a) {
                    bad = 1;
                    break;
                }
            }
            if (a < 0 || b >= n_layer) {
                ms_usage_error(cmd, "--layers: '%s' is outside 0..%d", tok, n_layer - 1);
                free(copy); /* tok points into copy */
                free(v);
                return MS_EXIT_USAGE;
            }
            for (long i = a; i <= b; i++) {
                int seen = 0;
                for (int j = 0; j < n; j++)
                    seen |= v[j] == i;
                if (!seen) v[n++] = (int)i;
            }
        }
        free(copy);
        if (bad || n == 0) {
            free(v);
            return ms_usage_error(cmd, "--layers: '%s' is not 'all' or a list like 0,15,31 or 0-3",
                                  s);
        }
    }
    qsort(v, (size_t)n, sizeof(int), cmp_int);
    *out = v;
    *n_out = n;
    return 0;
}

int ms_read_file(const char *path, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        ms_error("%s: %s", path, strerror(errno));
        return MS_EXIT_USAGE;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int failed = ferror(f), e = errno;
    fclose(f);
    if (!buf || failed) {
        /* a directory is the user's mistake; a failing disk or no memory is not */
        int usage = buf && e == EISDIR;
        free(buf);
        ms_error("%s: %s", path, !buf ? "out of memory" : usage ? strerror(e) : "read error");
        return usage ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int ms_input_text(const ms_command *cmd, const char *file, int argc, char **argv, char **text,
                  size_t *len) {
    *text = NULL;
    *len = 0;
    if (file && optind < argc) return ms_usage_error(cmd, "give --file F or TEXT, not both");
    if (!file && optind >= argc) return ms_usage_error(cmd, "missing TEXT (or --file F)");
    if (optind + 1 < argc) return ms_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    if (file) return ms_read_file(file, text, len);
    *text = strdup(argv[optind]);
    if (!*text) {
        ms_error("out of memory");
        return MS_EXIT_RUNTIME;
    }
    *len = strlen(*text);
    return 0;
}

double ms_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ms_progress_begin(ms_progress *p, const char *what, int64_t total_docs, int64_t total_tokens) {
    memset(p, 0, sizeof *p);
    p->what = what;
    p->total_docs = total_docs;
    p->total_tokens = total_tokens;
    p->t_start = p->t_last = ms_now();
    p->enabled = ms_verbosity >= 1 && isatty(STDERR_FILENO);
}

static void fmt_secs(char *buf, size_t n, double s) {
    if (s < 0 || !isfinite(s))
        snprintf(buf, n, "?");
    else if (s < 60)
        snprintf(buf, n, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

void ms_progress_update(ms_progress *p, int64_t docs, int64_t tokens) {
    p->docs = docs;
    p->tokens = tokens;
    if (!p->enabled) return;
    double now = ms_now();
    if (p->drawn && now - p->t_last < 0.2) return;
    p->t_last = now;
    double el = now - p->t_start, rate = el > 0 ? (double)tokens / el : 0;
    char eta[32] = "";
    if (p->total_tokens > 0 && rate > 0) {
        char t[24];
        fmt_secs(t, sizeof t, (double)(p->total_tokens - tokens) / rate);
        snprintf(eta, sizeof eta, ", ETA %s", t);
    } else if (p->total_docs > 0 && docs > 0) {
        char t[24];
        fmt_secs(t, sizeof t, el * (double)(p->total_docs - docs) / (double)docs);
        snprintf(eta, sizeof eta, ", ETA %s", t);
    }
    char dtot[32] = "";
    if (p->total_docs > 0) snprintf(dtot, sizeof dtot, "/%lld", (long long)p->total_docs);
    fprintf(stderr, "\r\033[K%s: %lld%s documents, %lld tokens, %.0f tokens/s%s", p->what,
            (long long)docs, dtot, (long long)tokens, rate, eta);
    fflush(stderr);
    p->drawn = 1;
}

void ms_progress_end(ms_progress *p) {
    if (p->enabled && p->drawn) fprintf(stderr, "\r\033[K");
    double el = ms_now() - p->t_start;
    if (ms_verbosity >= 1)
        fprintf(stderr, "moescope: %s: %lld documents, %lld tokens in %.1f s (%.0f tokens/s)\n",
                p->what, (long long)p->docs, (long long)p->tokens, el,
                el > 0 ? (double)p->tokens / el : 0.0);
}

int ms_cli_check_output(const char *out, const char *const *inputs, int n_inputs) {
    char err[1024];
    for (int i = 0; i < n_inputs; i++)
        if (ms_protect_input(inputs[i])) {
            ms_error("%s: out of memory", inputs[i]);
            return MS_EXIT_RUNTIME;
        }
    if (!ms_check_output(out, inputs, n_inputs, err, sizeof err)) return 0;
    ms_error("%s", err);
    return MS_EXIT_USAGE;
}

int ms_cli_write_file(const char *path, const void *data, size_t len) {
    char err[1024];
    ms_outfile o;
    int rc = ms_outfile_open(&o, path, err, sizeof err);
    if (!rc) {
        if (len) fwrite(data, 1, len, o.f); /* a short write sets the error flag commit checks */
        rc = ms_outfile_commit(&o, err, sizeof err);
    }
    if (!rc) return MS_EXIT_OK;
    ms_error("%s", err);
    return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
}
