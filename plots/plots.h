/* plots.h — figures and reports from routing-analysis results.
 *
 * Input is the analysis result as JSON text (the schema of `moescope analyze --json`,
 * docs/ANALYSIS.md), so figures can be redrawn from a saved analysis without the route
 * store. The coloured-token views (Mixtral Fig. 8) read token ids and routing from a route
 * store (probes.h) and token text from a tokenizer (engine.h).
 *
 * Figures are drawn by gnuplot, run as an external program: for every figure the .gp script
 * and its .dat files are written next to the images, so `cd DIR && gnuplot fig7.gp` redraws
 * it (and `gnuplot -e 'formats="pdf"' fig7.gp` adds a PDF). docs/PLOTS.md lists the files.
 *
 * Errors as in engine.h: 0, MS_ERR_INPUT or MS_ERR_RUNTIME with "<file>: <problem>" in err.
 * The library never prints. */
#ifndef MS_PLOTS_H
#define MS_PLOTS_H

#include "probes.h"

struct ms_analysis_opts; /* analysis.h */

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------
 * Analysis result.
 */
typedef struct ms_plot_analysis ms_plot_analysis;

/* Parses analysis JSON text (len bytes); `what` names its source in messages. */
int ms_plot_analysis_parse(ms_plot_analysis **out, const char *json, size_t len, const char *what,
                           char *err, size_t errlen);
void ms_plot_analysis_free(ms_plot_analysis *a);
/* Reads an analysis: a JSON file written by `moescope analyze --json`, or a route store
 * (HDF5), which is analysed with ms_analysis_run (ao may be NULL for the defaults).
 * Sets *is_store to 1 when path was a route store (may be NULL). */
int ms_plot_analysis_load(ms_plot_analysis **out, const char *path,
                          const struct ms_analysis_opts *ao, int *is_store, char *err,
                          size_t errlen);
/* Layers analysed (model layer indices, owned by a). */
int ms_plot_analysis_layers(const ms_plot_analysis *a, const int **layers);
/* ---------------------------------------------------------------------------------------
 * gnuplot figures.
 */
enum { MS_PLOT_PNG = 1, MS_PLOT_SVG = 2, MS_PLOT_PDF = 4 };
/* "png,svg,pdf" (any subset, comma-separated) -> MS_PLOT_* bits; MS_ERR_INPUT if unknown. */
int ms_plot_formats_parse(const char *s, int *formats, char *err, size_t errlen);

typedef struct ms_plot_opts {
    const char *out_dir; /* created if missing */
    const char *gnuplot; /* program; NULL: $MOESCOPE_GNUPLOT, else "gnuplot" on PATH */
    int formats;         /* MS_PLOT_* bits; 0: PNG and SVG */
    const int *layers;   /* panels of Fig. 7/9 and co-activation (model layers); NULL: 0, 15
                            and 31 when analysed, else the first, middle and last analysed */
    int n_layers;
} ms_plot_opts;

/* One figure written (or, without gnuplot, only its script and data). */
typedef struct ms_plot_figure {
    char name[64];     /* file stem: "fig7_expert_share", "heatmap_share_arxiv", ... */
    char title[160];   /* human title */
    char caption[512]; /* what it shows, one paragraph (plain text) */
    int formats;       /* MS_PLOT_* bits of the images that exist */
} ms_plot_figure;

typedef struct ms_plot_result {
    int n_figures;
    ms_plot_figure *figures; /* [n_figures], malloc'ed */
    int gnuplot_ok;          /* 0: images were not drawn; why is in `why` */
    char why[512];
} ms_plot_result;

void ms_plot_result_free(ms_plot_result *r);

/* Checks that gnuplot runs and has the pngcairo/svg terminals. On failure returns
 * MS_ERR_RUNTIME and err says what is missing and how to install it. */
int ms_plot_gnuplot_check(const char *gnuplot, char *err, size_t errlen);

/* Writes scripts + data for every figure and runs gnuplot on them. If gnuplot is missing the
 * scripts and data are still written, res->gnuplot_ok is 0 and the call returns 0; other
 * gnuplot failures return MS_ERR_RUNTIME. */
int ms_plot_figures(const ms_plot_analysis *a, const ms_plot_opts *o, ms_plot_result *res,
                    char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------
 * Coloured tokens (Mixtral Fig. 8): each token coloured by its first-choice expert.
 */
typedef struct ms_token_view_opts {
    const int *layers; /* model layers to show (must be stored); NULL: first/middle/last */
    int n_layers;
    const int64_t *docs; /* documents (rows of /documents); NULL with n_docs 0: document 0 */
    int n_docs;
    int64_t max_tokens;      /* per document; 0: 2000 */
    const ms_tokenizer *tok; /* NULL: tokens are shown as their ids ("#1234") */
} ms_token_view_opts;

/* The tokenizer for a route store's token text. `model` (may be NULL) is a .gguf file, a
 * tokenizer.json or a Hugging Face folder; without it, the model files recorded in the
 * store's "model" attribute are tried (a tokenizer.json first, then a .gguf), as recorded and
 * then relative to the store's folder. The tokenizer's vocabulary size must match the
 * store's. On failure *out is NULL and note says why (views then show token ids); returns 0
 * when found, MS_ERR_INPUT otherwise (also when an explicit `model` cannot be used). */
int ms_plot_tokenizer_open(ms_tokenizer **out, ms_routes *r, const char *routes_path,
                           const char *model, char *note, size_t notelen);

/* A self-contained HTML page (inline CSS, no script needed; hover titles give token, id,
 * experts and weights) or, with fragment != 0, a <section> for embedding (the report).
 * *html is malloc'ed. */
int ms_token_view_html(ms_routes *r, const ms_token_view_opts *o, int fragment, char **html,
                       char *err, size_t errlen);
/* Terminal text for one layer (o->layers[0]) and one document (o->docs[0]): 24-bit ANSI
 * background colours when color != 0, else "text[e]" after each token; a legend first.
 * *text is malloc'ed. */
int ms_token_view_ansi(ms_routes *r, const ms_token_view_opts *o, int color, char **text, char *err,
                       size_t errlen);

/* ---------------------------------------------------------------------------------------
 * Report: DIR/index.html with every figure, the Table 5 comparison with the Mixtral paper,
 * summary statistics, provenance, and coloured-token samples. Self-contained: opens from
 * disk, no server, no network (no external scripts, styles or fonts).
 */
typedef struct ms_report_opts {
    ms_plot_opts plot;          /* out_dir, gnuplot, formats, panel layers */
    ms_routes *routes;          /* NULL: no coloured-token section */
    ms_token_view_opts tokens;  /* docs/layers of the coloured-token section */
    const char *tokenizer_note; /* shown when tokens are ids only (why), may be NULL */
    const char *command_line;   /* of the report itself (provenance), may be NULL */
} ms_report_opts;

/* Writes the figures (ms_plot_figures), DIR/analysis.json and DIR/index.html. Without
 * gnuplot the page is still written and says why it has no figures (res->gnuplot_ok 0). */
int ms_report_write(const ms_plot_analysis *a, const ms_report_opts *o, ms_plot_result *res,
                    char *err, size_t errlen);

/* The Mixtral paper's Table 5 (arXiv 2401.04088, Table 5): repetition of first choice and of
 * first-or-second choice at layers 0, 15, 31, in percent, for 8 subsets of The Pile. */
typedef struct ms_table5_row {
    const char *subset;
    double first[3], either[3]; /* layers 0, 15, 31 */
} ms_table5_row;
extern const ms_table5_row ms_mixtral_table5[8];

#endif
