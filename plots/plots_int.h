/* plots_int.h — what the plots/ sources share privately: the parsed analysis result (the one
 * place that knows the JSON schema of docs/ANALYSIS.md is data.c), a growable string
 * buffer, escaping for HTML and gnuplot strings, palettes, and running gnuplot. */
#ifndef MS_PLOTS_INT_H
#define MS_PLOTS_INT_H

#include "plots.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* A growable NUL-terminated string; on allocation failure `oom` is set and appends stop. */
typedef struct pl_buf {
    char *s;
    size_t len, cap;
    int oom;
} pl_buf;

void pl_buf_free(pl_buf *b);
void pl_puts(pl_buf *b, const char *s);
void pl_putn(pl_buf *b, const char *s, size_t n);
void pl_printf(pl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text escaped for HTML element content and attribute values. */
void pl_html(pl_buf *b, const char *s);
/* s as one line of printable valid UTF-8 (ms_text_safe: controls and bad bytes as \xNN). */
void pl_safe(pl_buf *b, const char *s);
/* pl_safe(s) as a gnuplot double-quoted literal that no pass of gnuplot evaluates: ` @ ' " \
 * # $ ; { } as octal escapes ("a\140b"). */
void pl_gpstr(pl_buf *b, const char *s);
/* Writes the buffer to dir/name; returns 0 or MS_ERR_RUNTIME with a message. */
int pl_write_file(const char *dir, const char *name, const pl_buf *b, char *err, size_t errlen);
/* Creates dir (and missing parents). */
int pl_mkdir_p(const char *dir, char *err, size_t errlen);
/* A file-name-safe lower-case slug of s ("Wikipedia (en)" -> "wikipedia_en"). */
void pl_slug(const char *s, char *out, size_t cap);
void pl_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Colours as 0xRRGGBB. Categorical: Okabe–Ito for n <= 8, then Paul Tol's "muted" and a
 * golden-angle hue walk beyond that. Sequential: viridis at t in [0, 1]. */
uint32_t pl_cat_color(int i, int n);
uint32_t pl_viridis(double t);
/* 1 if black text reads better than white on this background. */
int pl_dark_text_on(uint32_t rgb);
/* Gnuplot `set palette defined (...)` for viridis. */
const char *pl_viridis_gp(void);

/* Runs `gnuplot script` inside dir (script is a file name relative to dir). stderr of gnuplot
 * goes to dir/<script>.log; on failure its last line is in err. */
int pl_gnuplot_run(const char *gnuplot, const char *dir, const char *script, char *err,
                   size_t errlen);

/* ---------------------------------------------------------------------------------------
 * The analysis result, as the renderers need it. Arrays are row-major with the shapes given;
 * shares and repetition rates are fractions in [0, 1]. Missing parts are NULL.
 */
struct ms_plot_analysis {
    int n_layers; /* analysed layers */
    int *layers;  /* [n_layers] model layer index of each slot */
    int n_expert, k;
    int n_domains;
    char **domains;      /* [n_domains] */
    int64_t *dom_tokens; /* [n_domains] tokens per domain (of the first analysed layer) */
    int64_t *dom_docs;   /* [n_domains] documents per domain */
    int64_t n_tokens, n_documents;
    double *either;       /* (n_domains, n_layers, n_expert) Fig. 7 share, sums to 1 per layer */
    double *first;        /* (n_domains, n_layers, n_expert) Fig. 9 first-choice share */
    double *second;       /* (n_domains, n_layers, n_expert) Fig. 9 second choice; NULL if k=1 */
    double *rep_first;    /* (n_domains, n_layers) Table 5 / Fig. 10: first choice repeated */
    double *rep_topk;     /* (n_domains, n_layers) top-k sets intersect */
    double *rep_first_ci; /* (n_domains, n_layers, 2) 95% interval, NaN when absent */
    double *rep_topk_ci;  /* (n_domains, n_layers, 2) */
    double base_share, base_first, base_topk; /* uniform 1/E and the random baselines */
    int unranked;      /* the analysis says "rank_order": "not rank" (imported ids, docs/IMPORT.md):
                          first, second, rep_first and base_first are NaN and every figure or table
                          of them says "unavailable (expert ids not in rank order)" */
    double *coact;     /* (n_layers, n_expert, n_expert) N(ei,ej)/N(ei), all domains */
    char *routes_path; /* store.path; NULL when unknown */
    char *command_line; /* of the analysis; NULL when unknown */
    char *json;         /* the analysis JSON as given (copied into reports) */
    void *root;         /* its cJSON tree (summary tables and provenance are read from it) */
};

/* Index helpers. */
static inline size_t pl_dle(const ms_plot_analysis *a, int d, int l, int e) {
    return ((size_t)d * (size_t)a->n_layers + (size_t)l) * (size_t)a->n_expert + (size_t)e;
}
static inline size_t pl_dl(const ms_plot_analysis *a, int d, int l) {
    return (size_t)d * (size_t)a->n_layers + (size_t)l;
}

/* Slot of model layer `layer`, or -1. */
int pl_slot(const ms_plot_analysis *a, int layer);
/* Slots of the panels to draw: the requested model layers that were analysed, else layers
 * 0/15/31 when all are present, else first/middle/last slot. *slots malloc'ed. */
int pl_panel_slots(const ms_plot_analysis *a, const int *layers, int n_layers, int **slots,
                   int *n_slots, char *err, size_t errlen);

#endif
