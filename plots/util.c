/* util.c — the small machinery under the renderers: a string buffer, HTML and gnuplot
 * escaping, file writing, colour palettes (Okabe–Ito, Paul Tol, viridis) and running gnuplot
 * as a child process with its stderr captured into a log next to the script. */
#include "msutil.h"
#include "plots_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void pl_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void pl_buf_free(pl_buf *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}

static int buf_reserve(pl_buf *b, size_t extra) {
    if (b->oom) return -1;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void pl_putn(pl_buf *b, const char *s, size_t n) {
    if (buf_reserve(b, n)) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void pl_puts(pl_buf *b, const char *s) {
    pl_putn(b, s, strlen(s));
}

void pl_printf(pl_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        pl_putn(b, tmp, (size_t)n);
        return;
    }
    if (buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Invalid UTF-8 (a name or token text from a file) is shown as U+FFFD, so pages are valid
 * UTF-8 whatever the store holds. */
void pl_html(pl_buf *b, const char *s) {
    size_t n = strlen(s);
    char *fixed = NULL;
    if (ms_utf8_valid_prefix(s, n) != n) {
        if (!(fixed = ms_utf8_fix(s, n))) {
            b->oom = 1;
            return;
        }
        s = fixed;
    }
    for (; *s; s++) {
        switch (*s) {
        case '&':
            pl_puts(b, "&amp;");
            break;
        case '<':
            pl_puts(b, "&lt;");
            break;
        case '>':
            pl_puts(b, "&gt;");
            break;
        case '"':
            pl_puts(b, "&quot;");
            break;
        case '\'':
            pl_puts(b, "&#39;");
            break;
        default:
            pl_putn(b, s, 1);
        }
    }
    free(fixed);
}

/* Names as they are shown in figures and in the comment lines of .dat files: ms_text_safe
 * (control characters, DEL, C1 controls and invalid UTF-8 shown as \xNN), so a newline or
 * tab in a domain name cannot end a comment line or a gnuplot command, and cairo/pango only
 * ever see valid UTF-8. The name itself stays intact in JSON, CSV and HDF5. */
void pl_safe(pl_buf *b, const char *s) {
    size_t n = strlen(s);
    if (n > (SIZE_MAX - 8) / 4) {
        b->oom = 1;
        return;
    }
    size_t cap = 4 * n + 8; /* every byte at most "\xNN" */
    char *t = malloc(cap);
    if (!t) {
        b->oom = 1;
        return;
    }
    pl_puts(b, ms_text_safe(s, t, cap));
    free(t);
}

/* Strings from files reach gnuplot scripts as double-quoted literals in which every ASCII byte
 * that any of gnuplot's passes over a command line looks at is an octal escape: ` @ ' " \ #
 * $ ; { } and control characters (so "a`b" is written "a\140b"). Checked with Debian's
 * gnuplot 5.4.4: back-quoted text is run as a shell command on the command line and inside
 * double-quoted strings; @name macros are expanded by a pass that only guesses where strings
 * are (it flips its "inside quotes" state at every ' and at every " independently, so a quote
 * in a name can expose the rest of the line); a doubled quote inside single quotes is
 * misparsed next to another quote. Those passes run on the raw line, where the escaped name
 * holds none of these characters; gnuplot decodes \ooo only when it evaluates the constant,
 * and the result is text, never read again as commands (terminals run `noenhanced`). The text
 * is pl_safe() first (one line, valid UTF-8); UTF-8 bytes >= 0x80 are kept as they are (no
 * ASCII byte is ever part of a multi-byte character). */
void pl_gpstr(pl_buf *b, const char *s) {
    pl_buf t = {0};
    pl_safe(&t, s);
    if (t.oom) {
        b->oom = 1;
        pl_buf_free(&t);
        return;
    }
    pl_putn(b, "\"", 1);
    for (const char *p = t.s ? t.s : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7F || strchr("`@'\"\\#$;{}", c))
            pl_printf(b, "\\%03o", c);
        else
            pl_putn(b, p, 1);
    }
    pl_putn(b, "\"", 1);
    pl_buf_free(&t);
}

int pl_mkdir_p(const char *dir, char *err, size_t errlen) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) {
        pl_err(err, errlen, "%s: output directory name is empty or too long", dir);
        return MS_ERR_INPUT;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != 0) continue;
        char c = path[i];
        path[i] = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            int e = errno; /* no permission, a file in the way: the user's path is bad input */
            pl_err(err, errlen, "%s: cannot create directory: %s", path, strerror(e));
            return e == ENOSPC || e == EIO || e == EDQUOT ? MS_ERR_RUNTIME : MS_ERR_INPUT;
        }
        path[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        pl_err(err, errlen, "%s: not a directory", dir);
        return MS_ERR_INPUT;
    }
    return 0;
}

int pl_write_file(const char *dir, const char *name, const pl_buf *b, char *err, size_t errlen) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        pl_err(err, errlen, "%s: path too long", dir);
        return MS_ERR_INPUT;
    }
    if (b->oom) {
        pl_err(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    /* temporary name + rename; refuses a registered input (ms_protect_input) */
    ms_outfile o;
    int rc = ms_outfile_open(&o, path, err, errlen);
    if (rc) return rc;
    if (b->len) fwrite(b->s, 1, b->len, o.f); /* a short write sets the flag commit checks */
    return ms_outfile_commit(&o, err, errlen);
}

void pl_slug(const char *s, char *out, size_t cap) {
    size_t o = 0;
    int sep = 0;
    for (; *s && o + 2 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (sep && o) out[o++] = '_';
            out[o++] = (char)c;
            sep = 0;
        } else if (c >= 'A' && c <= 'Z') {
            if (sep && o) out[o++] = '_';
            out[o++] = (char)(c - 'A' + 'a');
            sep = 0;
        } else {
            sep = 1;
        }
    }
    if (o == 0 && cap > 2) out[o++] = 'x';
    out[o] = 0;
}

/* ---------------------------------------------------------------------------------------
 * Palettes.
 */

/* Okabe & Ito (2008), "Color Universal Design", ordered so the first colours are the most
 * distinct on white (yellow and black last). */
static const uint32_t okabe_ito[8] = {0x0072B2, 0xE69F00, 0x009E73, 0xD55E00,
                                      0x56B4E9, 0xCC79A7, 0xF0E442, 0x000000};
/* Paul Tol's "muted" qualitative scheme (personal.sron.nl/~pault), plus pale grey. */
static const uint32_t tol_muted[10] = {0x332288, 0x88CCEE, 0x44AA99, 0x117733, 0x999933,
                                       0xDDCC77, 0xCC6677, 0x882255, 0xAA4499, 0xDDDDDD};

static uint32_t hsv(double h, double s, double v) {
    double c = v * s, hp = h * 6.0, x = c * (1.0 - fabs(fmod(hp, 2.0) - 1.0)), m = v - c;
    double r = 0, g = 0, bl = 0;
    switch ((int)hp % 6) {
    case 0:
        r = c, g = x;
        break;
    case 1:
        r = x, g = c;
        break;
    case 2:
        g = c, bl = x;
        break;
    case 3:
        g = x, bl = c;
        break;
    case 4:
        r = x, bl = c;
        break;
    default:
        r = c, bl = x;
        break;
    }
    uint32_t R = (uint32_t)((r + m) * 255.0 + 0.5), G = (uint32_t)((g + m) * 255.0 + 0.5),
             B = (uint32_t)((bl + m) * 255.0 + 0.5);
    return R << 16 | G << 8 | B;
}

uint32_t pl_cat_color(int i, int n) {
    if (i < 0) i = 0;
    if (n <= 8) return okabe_ito[i % 8];
    if (n <= 10) return tol_muted[i % 10];
    /* Many categories cannot all be told apart; a golden-angle hue walk with alternating
     * value keeps neighbours distinct, and hover text names the category. */
    double h = (double)i * 0.38196601125;
    h -= (int)h;
    return hsv(h, 0.55 + 0.25 * (i % 2), 0.95 - 0.25 * ((i / 2) % 2));
}

/* matplotlib's viridis (van der Walt & Smith) sampled at 0, 0.1, ..., 1. */
static const uint32_t viridis11[11] = {0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c,
                                       0x22a884, 0x44bf70, 0x7ad151, 0xbddf26, 0xfde725};

uint32_t pl_viridis(double t) {
    if (!(t > 0)) t = 0;
    if (t > 1) t = 1;
    double x = t * 10.0;
    int i = (int)x;
    if (i >= 10) return viridis11[10];
    double f = x - i;
    uint32_t a = viridis11[i], b = viridis11[i + 1], out = 0;
    for (int sh = 16; sh >= 0; sh -= 8) {
        double ca = (a >> sh) & 255, cb = (b >> sh) & 255;
        out |= (uint32_t)(ca + (cb - ca) * f + 0.5) << sh;
    }
    return out;
}

const char *pl_viridis_gp(void) {
    return "set palette defined (0 '#440154', 1 '#482475', 2 '#414487', 3 '#355f8d', "
           "4 '#2a788e', 5 '#21918c', 6 '#22a884', 7 '#44bf70', 8 '#7ad151', 9 '#bddf26', "
           "10 '#fde725')\n";
}

int pl_dark_text_on(uint32_t rgb) {
    /* WCAG relative luminance, then whichever of black/white has the higher contrast. */
    double c[3];
    for (int i = 0; i < 3; i++) {
        double v = ((rgb >> (16 - 8 * i)) & 255) / 255.0;
        c[i] = v <= 0.03928 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
    }
    double lum = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    return (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05);
}

/* ---------------------------------------------------------------------------------------
 * gnuplot.
 */

/* Runs argv in dir with stdout to /dev/null and stderr to logpath; returns the exit status,
 * 127 when the program could not be started, -1 when fork failed. */
static int run_child(char *const argv[], const char *dir, const char *logpath) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int nul = open("/dev/null", O_RDWR);
        if (fd >= 0) dup2(fd, 2);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
        }
        if (dir && chdir(dir) != 0) _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Last non-empty line of a log file (gnuplot's error message). */
static void last_line(const char *path, char *out, size_t cap) {
    out[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = 0;
        if (n) snprintf(out, cap, "%s", line);
    }
    fclose(f);
}

static const char *gnuplot_program(const char *gnuplot) {
    if (gnuplot && *gnuplot) return gnuplot;
    const char *env = getenv("MOESCOPE_GNUPLOT");
    if (env && *env) return env;
    return "gnuplot";
}

#define INSTALL_HINT                                                                               \
    "install it with `apt-get install gnuplot-nox` (Debian/Ubuntu), `dnf install gnuplot` "        \
    "or `brew install gnuplot`"

int ms_plot_gnuplot_check(const char *gnuplot, char *err, size_t errlen) {
    const char *prog = gnuplot_program(gnuplot);
    char tmpl[] = "/tmp/moescope-gnuplot-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        pl_err(err, errlen, "/tmp: cannot create a temporary file: %s", strerror(errno));
        return MS_ERR_RUNTIME;
    }
    close(fd);
    char *argv[] = {(char *)prog, "-e", "set terminal pngcairo; set terminal svg", NULL};
    int rc = run_child(argv, NULL, tmpl);
    char line[512];
    last_line(tmpl, line, sizeof line);
    unlink(tmpl);
    if (rc == 127) {
        pl_err(err, errlen, "%s: gnuplot not found, so no figures were drawn; " INSTALL_HINT, prog);
        return MS_ERR_RUNTIME;
    }
    if (rc != 0) {
        pl_err(err, errlen, "%s: gnuplot lacks the pngcairo or svg terminal (%s); " INSTALL_HINT,
               prog, line[0] ? line : "exit status non-zero");
        return MS_ERR_RUNTIME;
    }
    return 0;
}

int pl_gnuplot_run(const char *gnuplot, const char *dir, const char *script, char *err,
                   size_t errlen) {
    const char *prog = gnuplot_program(gnuplot);
    char logpath[4096];
    if (snprintf(logpath, sizeof logpath, "%s/%s.log", dir, script) >= (int)sizeof logpath) {
        pl_err(err, errlen, "%s: path too long", dir);
        return MS_ERR_INPUT;
    }
    /* gnuplot writes SCRIPT-STEM.{png,svg,pdf} and the log itself: none may be an input */
    const char *dot = strrchr(script, '.');
    int stem = dot ? (int)(dot - script) : (int)strlen(script);
    static const char *const ext[] = {"png", "svg", "pdf"};
    for (int i = 0; i < 4; i++) {
        char img[4096];
        if (i < 3) snprintf(img, sizeof img, "%s/%.*s.%s", dir, stem, script, ext[i]);
        int rc = ms_check_protected(i < 3 ? img : logpath, err, errlen);
        if (rc) return rc;
    }
    char *argv[] = {(char *)prog, (char *)script, NULL};
    int rc = run_child(argv, dir, logpath);
    if (rc == 0) {
        unlink(logpath); /* keep logs only of failures */
        return 0;
    }
    char line[512];
    last_line(logpath, line, sizeof line);
    if (rc == 127)
        pl_err(err, errlen, "%s: gnuplot not found; " INSTALL_HINT, prog);
    else
        pl_err(err, errlen, "%s/%s: gnuplot failed: %s (log: %s)", dir, script,
               line[0] ? line : "no message", logpath);
    return MS_ERR_RUNTIME;
}
