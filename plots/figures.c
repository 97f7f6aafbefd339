/* figures.c — the gnuplot figures of a routing analysis: Mixtral Fig. 7 (expert share per
 * domain at chosen layers), Fig. 9 (either / first / second choice), Fig. 10 (repetition per
 * layer with random baselines), per-domain layer × expert share heatmaps and OLMoE Eq. 6
 * co-activation heatmaps. For each figure NAME it writes NAME.dat (commented columns) and
 * NAME.gp (a script that redraws every requested format from the .dat), then runs gnuplot in
 * the output directory. Styling: DejaVu Sans, Okabe–Ito bars, viridis heatmaps, `noenhanced`
 * text so domain names print verbatim. Names from files reach the scripts only through
 * pl_gpstr (literals with every character gnuplot could evaluate octal-escaped) and the .dat
 * comments only through pl_safe (one line); the scripts name their files with fixed relative names,
 * run in the output directory, so no path from the user is ever in a script. */
#include "plots_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FONT "DejaVu Sans"

typedef struct fig_ctx {
    const ms_plot_analysis *a;
    const ms_plot_opts *o;
    int formats;
    int *slots; /* [n_slots] panel layer slots */
    int n_slots;
    ms_plot_result *res;
    char *err;
    size_t errlen;
} fig_ctx;

static void put_num(pl_buf *b, double v) {
    if (isnan(v))
        pl_puts(b, " NaN");
    else
        pl_printf(b, " %.6g", v);
}

static void formats_string(int formats, char *out, size_t cap) {
    snprintf(out, cap, "%s%s%s", formats & MS_PLOT_PNG ? "png " : "",
             formats & MS_PLOT_SVG ? "svg " : "", formats & MS_PLOT_PDF ? "pdf " : "");
    size_t n = strlen(out);
    if (n) out[n - 1] = 0;
}

/* Script header: the formats loop that the figure body runs inside. Sizes are pixels for PNG
 * and SVG; PDF gets the same aspect at 100 px per inch. */
static void gp_begin(fig_ctx *c, pl_buf *b, const char *name, const char *what, int w, int h) {
    char fm[32];
    formats_string(c->formats, fm, sizeof fm);
    pl_printf(b,
              "# %s.gp — %s\n"
              "# Written by moescope " MOESCOPE_VERSION " from %s.dat; redraw with\n"
              "#   gnuplot %s.gp                          (formats below)\n"
              "#   gnuplot -e 'formats=\"pdf\"' %s.gp       (any of png svg pdf)\n"
              "if (!exists(\"formats\")) formats = \"%s\"\n"
              "W = %d; H = %d\n"
              "do for [fmt in formats] {\n"
              "if (fmt eq \"png\") { set terminal pngcairo size W,H font \"" FONT
              ",15\" noenhanced linewidth 1.5 background rgb \"white\" }\n"
              "if (fmt eq \"svg\") { set terminal svg size W,H font \"" FONT
              ",15\" noenhanced linewidth 1.5 background rgb \"white\" }\n"
              "if (fmt eq \"pdf\") { set terminal pdfcairo size W/100.0,H/100.0 font \"" FONT
              ",11\" noenhanced linewidth 1.5 }\n"
              "set output \"%s.\".fmt\n"
              "reset\n"
              "set border 3 lc rgb \"#444444\"\n"
              "set tics nomirror out scale 0.6 textcolor rgb \"#222222\"\n"
              "set grid ytics lc rgb \"#e0e0e0\" lw 1 dt 1\n"
              "set grid noxtics\n",
              name, what, name, name, name, fm, w, h, name);
}

static void gp_end(pl_buf *b) {
    pl_puts(b, "unset output\n}\n");
}

static void gp_array_str(pl_buf *b, const char *name, char *const *v, int n) {
    pl_printf(b, "array %s[%d] = [", name, n);
    for (int i = 0; i < n; i++) {
        if (i) pl_puts(b, ", ");
        pl_gpstr(b, v[i]);
    }
    pl_puts(b, "]\n");
}

static void gp_domain_colors(pl_buf *b, int n) {
    pl_printf(b, "array col[%d] = [", n);
    for (int i = 0; i < n; i++)
        pl_printf(b, "%s\"#%06X\"", i ? ", " : "", pl_cat_color(i, n));
    pl_puts(b, "]\n");
}

/* Records the figure; checks which image files gnuplot produced. */
static int add_figure(fig_ctx *c, const char *name, const char *title, const char *caption) {
    ms_plot_result *r = c->res;
    ms_plot_figure *f = realloc(r->figures, (size_t)(r->n_figures + 1) * sizeof *f);
    if (!f) {
        pl_err(c->err, c->errlen, "plots: out of memory");
        return MS_ERR_RUNTIME;
    }
    r->figures = f;
    f = &r->figures[r->n_figures++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->title, sizeof f->title, "%s", title);
    snprintf(f->caption, sizeof f->caption, "%s", caption);
    return 0;
}

/* Writes NAME.dat and NAME.gp, runs gnuplot when available, records the figure. */
static int emit(fig_ctx *c, const char *name, pl_buf *dat, pl_buf *gp, const char *title,
                const char *caption) {
    char fn[96];
    int rc;
    snprintf(fn, sizeof fn, "%s.dat", name);
    if ((rc = pl_write_file(c->o->out_dir, fn, dat, c->err, c->errlen))) return rc;
    snprintf(fn, sizeof fn, "%s.gp", name);
    if ((rc = pl_write_file(c->o->out_dir, fn, gp, c->err, c->errlen))) return rc;
    if ((rc = add_figure(c, name, title, caption))) return rc;
    if (!c->res->gnuplot_ok) return 0;
    if ((rc = pl_gnuplot_run(c->o->gnuplot, c->o->out_dir, fn, c->err, c->errlen))) return rc;
    c->res->figures[c->res->n_figures - 1].formats = c->formats;
    return 0;
}

/* xtic label for expert e: every expert up to 16, then every 4th / 8th. */
static int expert_tic_step(int E) {
    return E <= 16 ? 1 : E <= 32 ? 4 : E <= 64 ? 8 : 16;
}

/* Above this many experts (OLMoE's 64, Qwen3-MoE's 128) clustered bars would be a wall:
 * Figs. 7 and 9 draw each panel as a domain x expert heatmap instead (same .dat files). */
#define BARS_MAX_E 32

/* A clustered bar chart panel body: experts on x, one bar per domain, dashed uniform line
 * (a domain x expert heatmap row per domain when E > BARS_MAX_E). Expects arrays dom[] and
 * col[] and variables ND, uniform in the script. */
static void gp_bars(pl_buf *b, const char *name, int index, int E) {
    if (E > BARS_MAX_E) {
        pl_printf(b,
                  "plot for [d=1:ND] \"%s.dat\" index %d using 1:(d):(0.5):(0.5):(column(d+1)) "
                  "with boxxyerror fs solid 1.0 noborder lc palette notitle\n",
                  name, index);
        return;
    }
    pl_printf(b,
              "plot for [d=1:ND] \"%s.dat\" index %d using (column(d+1)):xtic(int($1) %% %d == 0 ? "
              "stringcolumn(1) : \"\") lc rgb col[d] title dom[d], \\\n"
              "     uniform with lines dt (8,6) lw 1.3 lc rgb \"#333333\" title \"uniform 1/E\"\n",
              name, index, expert_tic_step(E));
}

/* Pixels the legend needs at the 14 pt key font: sample, gap, longest name (UTF-8
 * characters, ~11 px each), padding. */
static int key_px(const ms_plot_analysis *a) {
    size_t longest = 16; /* "uniform 1/E", "random baseline" */
    for (int d = 0; d < a->n_domains; d++) {
        pl_buf shown = {0}; /* as the legend shows it: control bytes as \xNN */
        pl_safe(&shown, a->domains[d]);
        size_t n = 0;
        for (const char *p = shown.s ? shown.s : ""; *p; p++)
            if (((unsigned char)*p & 0xC0) != 0x80) n++;
        pl_buf_free(&shown);
        if (n > longest) longest = n;
    }
    if (longest > 60) longest = 60;
    return 90 + (int)(11.5 * (double)longest);
}

/* Legend in the key_px() columns on the right, drawn as screen-positioned objects and labels
 * (gnuplot's own key wraps into columns when it thinks the panel is too short). Entries:
 * one per domain (a bar swatch, or a line sample when `lines`), then a dashed line for
 * `extra` (the uniform share or random baseline). Call before the first panel's plot and
 * gp_legend_clear() after it. */
enum { LEGEND_ROW = 26 };
static int legend_px(const ms_plot_analysis *a) {
    return (a->n_domains + 1) * LEGEND_ROW + 20;
}
static void gp_legend(pl_buf *b, const ms_plot_analysis *a, int w, int h, int keyw, int top_px,
                      int lines, const char *extra) {
    double x0 = 1.0 - (double)(keyw - 20) / w, sw = 26.0 / w, tx = x0 + 36.0 / w;
    pl_puts(b, "unset key\n");
    for (int i = 0; i <= a->n_domains; i++) {
        double y = 1.0 - (top_px + 14.0 + (double)i * LEGEND_ROW) / h;
        int tag = 100 + i;
        if (i == a->n_domains)
            pl_printf(b,
                      "set arrow %d from screen %.5f, screen %.5f to screen %.5f, screen %.5f "
                      "nohead dt (8,6) lw 1.5 lc rgb \"#333333\" front\n",
                      tag, x0, y, x0 + sw, y);
        else if (lines)
            pl_printf(b,
                      "set arrow %d from screen %.5f, screen %.5f to screen %.5f, screen %.5f "
                      "nohead lw 2.5 lc rgb col[%d] front\n",
                      tag, x0, y, x0 + sw, y, i + 1);
        else
            pl_printf(b,
                      "set object %d rectangle from screen %.5f, screen %.5f to screen %.5f, "
                      "screen %.5f fc rgb col[%d] fs solid 1.0 border lc rgb \"#303030\" "
                      "front\n",
                      tag, x0, y - 8.0 / h, x0 + sw * 0.8, y + 8.0 / h, i + 1);
        pl_printf(b, "set label %d ", tag);
        if (i == a->n_domains)
            pl_gpstr(b, extra);
        else
            pl_printf(b, "dom[%d]", i + 1);
        pl_printf(b, " at screen %.5f, screen %.5f left font \"" FONT ",14\" front\n", tx, y);
    }
}
static void gp_legend_clear(pl_buf *b) {
    pl_puts(b, "unset object\nunset label\nunset arrow\n");
}

/* Left margin of Figs. 7 and 9: 110 px, or room for the domain names that label the
 * heatmap rows (at most ~40 characters of the 14 pt tick font). */
static int left_px(const ms_plot_analysis *a) {
    if (a->n_expert <= BARS_MAX_E) return 110;
    int px = key_px(a) - 40;
    return px < 110 ? 110 : px > 520 ? 520 : px;
}

/* Bars: experts on x, one bar per domain. yr is the common y maximum of all panels. With more
 * than BARS_MAX_E experts: a heatmap, experts on x, domains on y, share as colour (0..yr),
 * the colour bar where the legend would be (w, h, keyw: the figure's pixel layout). */
static void gp_bar_style(pl_buf *b, const ms_plot_analysis *a, double yr, int w, int h, int keyw) {
    pl_printf(b, "ND = %d; E = %d; uniform = %.8g\n", a->n_domains, a->n_expert, a->base_share);
    gp_array_str(b, "dom", a->domains, a->n_domains);
    gp_domain_colors(b, a->n_domains);
    if (a->n_expert > BARS_MAX_E) {
        pl_puts(b, pl_viridis_gp());
        pl_printf(b,
                  "set cbrange [0:%.6g]\nset cbtics format \"%%.3f\"\n"
                  "set colorbox user origin screen %.4f, screen %.4f size screen %.4f, screen "
                  "%.4f\n"
                  "set cblabel \"share (uniform 1/E = %.3g)\" offset 1,0\n"
                  "set xrange [-0.5:E-0.5]\nset yrange [0.5:ND+0.5]\n"
                  "set ytics (\"\" 1)\nset for [d=1:ND] ytics add (dom[d] d)\n"
                  "set xtics %d\nset tics scale 0\nset grid noytics\n",
                  yr, 1.0 - (double)(keyw - 20) / w, 75.0 / h, 22.0 / w, 1.0 - 175.0 / h,
                  a->base_share, expert_tic_step(a->n_expert));
        return;
    }
    pl_printf(b,
              "set style data histogram\n"
              "set style histogram clustered gap 1.4\n"
              "set style fill solid 1.0 %s\n"
              "set boxwidth 0.92\n"
              "set xrange [-0.6:E-0.4]\n"
              "set yrange [0:%.6g]\n"
              "set ytics format \"%%.2f\"\n"
              "set xtics scale 0\n",
              a->n_expert * a->n_domains <= 160 ? "border rgb \"#303030\"" : "noborder", yr);
}

/* A y maximum that leaves headroom above the tallest bar of the panels drawn. */
static double bars_ymax(fig_ctx *c, int n_src, const double *const *src) {
    const ms_plot_analysis *a = c->a;
    double m = a->base_share;
    for (int s = 0; s < n_src; s++) {
        if (!src[s]) continue;
        for (int i = 0; i < c->n_slots; i++)
            for (int d = 0; d < a->n_domains; d++)
                for (int e = 0; e < a->n_expert; e++) {
                    double v = src[s][pl_dle(a, d, c->slots[i], e)];
                    if (v > m) m = v;
                }
    }
    return m * 1.08;
}

/* ---------------------------------------------------------------------------------------
 * Fig. 7: share of assignments per expert, one panel per chosen layer.
 */
static int fig7(fig_ctx *c) {
    const ms_plot_analysis *a = c->a;
    const char *name = "fig7_expert_share";
    pl_buf dat = {0}, gp = {0};
    pl_printf(&dat,
              "# Mixtral Fig. 7: proportion of assignments (either choice) to each expert, per "
              "domain.\n# One block per layer (gnuplot index 0, 1, ...). Columns: expert, then "
              "one per domain:\n#");
    for (int d = 0; d < a->n_domains; d++) {
        pl_printf(&dat, " [%d] ", d + 2);
        pl_safe(&dat, a->domains[d]);
    }
    pl_puts(&dat, "\n");
    for (int i = 0; i < c->n_slots; i++) {
        int l = c->slots[i];
        pl_printf(&dat, "%s# layer %d\n", i ? "\n\n" : "", a->layers[l]);
        for (int e = 0; e < a->n_expert; e++) {
            pl_printf(&dat, "%d", e);
            for (int d = 0; d < a->n_domains; d++)
                put_num(&dat, a->either[pl_dle(a, d, l, e)]);
            pl_puts(&dat, "\n");
        }
    }
    /* Pixel layout: 110 left, 100 top (title), 300 per panel, 100 between panels, 75
     * bottom. */
    int n = c->n_slots, keyw = key_px(a), pw = 1250, lm = left_px(a), w = lm + pw + 20 + keyw;
    int h = 100 + 300 * n + 100 * (n - 1) + 75;
    if (h < 100 + legend_px(a)) h = 100 + legend_px(a);
    const double *src[1] = {a->either};
    gp_begin(c, &gp, name, "Mixtral Fig. 7: expert share per domain", w, h);
    gp_bar_style(&gp, a, bars_ymax(c, 1, src), w, h, keyw);
    pl_printf(&gp,
              "set multiplot layout %d,1 margins %.4f,%.4f,%.4f,%.4f spacing 0,%.4f "
              "title \"Proportion of tokens assigned to each expert (either choice)\" "
              "font \"" FONT ",18\"\n",
              n, (double)lm / w, (double)(lm + pw) / w, 75.0 / h, 1.0 - 100.0 / h, 100.0 / h);
    for (int i = 0; i < n; i++) {
        pl_printf(&gp, "set title \"Layer %d\" font \"" FONT ",16\"\n", a->layers[c->slots[i]]);
        pl_printf(&gp, "set ylabel \"%s\"\n", a->n_expert > BARS_MAX_E ? "domain" : "share");
        if (i == n - 1) pl_puts(&gp, "set xlabel \"expert\"\n");
        if (i == 0 && a->n_expert <= BARS_MAX_E)
            gp_legend(&gp, a, w, h, keyw, 100, 0, "uniform 1/E");
        if (i == 1 && a->n_expert <= BARS_MAX_E) gp_legend_clear(&gp);
        gp_bars(&gp, name, i, a->n_expert);
    }
    pl_puts(&gp, "unset multiplot\n");
    gp_end(&gp);
    char cap[512];
    snprintf(cap, sizeof cap,
             "Share of the k·N expert assignments (first and second choice together) that "
             "each expert receives, per domain; %s of one domain sum to 1 in each panel. "
             "%s uniform share 1/E = %.3g. Compare with Mixtral Fig. 7.",
             a->n_expert > BARS_MAX_E ? "the cells of a row (a heatmap: more than 32 experts)"
                                      : "bars",
             a->n_expert > BARS_MAX_E ? "Colour scale from 0;" : "Dashed:", a->base_share);
    int rc = emit(c, name, &dat, &gp, "Expert share per domain (Mixtral Fig. 7)", cap);
    pl_buf_free(&dat);
    pl_buf_free(&gp);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Fig. 9: either / first / second choice, rows = chosen layers.
 */
static int fig9(fig_ctx *c) {
    const ms_plot_analysis *a = c->a;
    const char *name = "fig9_choice_breakdown";
    int nc = a->unranked ? 1 : a->second ? 3 : 2; /* unranked: either choice only */
    static const char *choice[3] = {"either choice", "first choice", "second choice"};
    pl_buf dat = {0}, gp = {0};
    pl_printf(&dat,
              "# Mixtral Fig. 9: share per expert and domain by choice rank.\n"
              "# Block %d*i + j (gnuplot index) = layer panel i, j = 0 either choice "
              "(share of k*N assignments),\n# 1 first choice, 2 second choice (shares of N "
              "tokens). Columns: expert, then one per domain:\n#",
              nc);
    for (int d = 0; d < a->n_domains; d++) {
        pl_printf(&dat, " [%d] ", d + 2);
        pl_safe(&dat, a->domains[d]);
    }
    pl_puts(&dat, "\n");
    int blk = 0;
    for (int i = 0; i < c->n_slots; i++) {
        int l = c->slots[i];
        for (int j = 0; j < nc; j++) {
            const double *src = j == 0 ? a->either : j == 1 ? a->first : a->second;
            pl_printf(&dat, "%s# layer %d, %s\n", blk++ ? "\n\n" : "", a->layers[l], choice[j]);
            for (int e = 0; e < a->n_expert; e++) {
                pl_printf(&dat, "%d", e);
                for (int d = 0; d < a->n_domains; d++)
                    put_num(&dat, src[pl_dle(a, d, l, e)]);
                pl_puts(&dat, "\n");
            }
        }
    }
    /* Pixel layout: columns of 520 px with 30 px between, 90 left; rows of 280 px with
     * 80 px between, 80 top, 75 bottom. One y range, labelled on the left column only. */
    int n = c->n_slots, keyw = key_px(a), cw = 520, pw = nc * cw + (nc - 1) * 30;
    int lm = left_px(a), w = lm + pw + 20 + keyw, h = 100 + 280 * n + 100 * (n - 1) + 75;
    if (h < 100 + legend_px(a)) h = 100 + legend_px(a);
    const double *src[3] = {a->either, a->first, a->second};
    gp_begin(c, &gp, name, "Mixtral Fig. 9: either / first / second choice", w, h);
    gp_bar_style(&gp, a, bars_ymax(c, nc, src), w, h, keyw);
    pl_printf(&gp,
              "set multiplot layout %d,%d margins %.4f,%.4f,%.4f,%.4f spacing %.4f,%.4f "
              "title \"Proportion of tokens per expert by choice rank\" font \"" FONT ",18\"\n",
              n, nc, (double)lm / w, (double)(lm + pw) / w, 75.0 / h, 1.0 - 100.0 / h, 30.0 / w,
              100.0 / h);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < nc; j++) {
            pl_printf(&gp, "set title \"Layer %d — %s\" font \"" FONT ",16\"\n",
                      a->layers[c->slots[i]], choice[j]);
            if (a->n_expert > BARS_MAX_E) /* heatmap rows: domain names on the left column */
                pl_puts(&gp, j == 0 ? "set ylabel \"domain\"\nset ytics (\"\" 1)\n"
                                      "set for [d=1:ND] ytics add (dom[d] d)\n"
                                    : "unset ylabel\nset ytics (\"\" 1)\n");
            else if (j == 0)
                pl_puts(&gp, "set ylabel \"share\"\nset ytics format \"%.2f\"\n");
            else
                pl_puts(&gp, "unset ylabel\nset ytics format \"\"\n");
            if (i == n - 1) pl_puts(&gp, "set xlabel \"expert\"\n");
            if (i == 0 && j == 0 && a->n_expert <= BARS_MAX_E)
                gp_legend(&gp, a, w, h, keyw, 100, 0, "uniform 1/E");
            if (i == 0 && j == 1 && a->n_expert <= BARS_MAX_E) gp_legend_clear(&gp);
            gp_bars(&gp, name, i * nc + j, a->n_expert);
        }
    }
    pl_puts(&gp, "unset multiplot\n");
    gp_end(&gp);
    const char *cap =
        a->unranked
            ? "Either choice (as Fig. 7). First- and second-choice shares: unavailable (expert "
              "ids not in rank order: the store was imported from an engine that does not "
              "keep the router's order, docs/IMPORT.md). Dashed: uniform 1/E."
            : "Left: either choice (as Fig. 7). Middle: the first-choice expert's share of "
              "tokens. Right: the second-choice expert's share. Dashed: uniform 1/E. Compare "
              "with Mixtral Fig. 9.";
    int rc = emit(c, name, &dat, &gp, "First / second choice breakdown (Mixtral Fig. 9)", cap);
    pl_buf_free(&dat);
    pl_buf_free(&gp);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Fig. 10: repetition per layer, every analysed layer, with the random baselines.
 */
static int fig10(fig_ctx *c) {
    const ms_plot_analysis *a = c->a;
    const char *name = "fig10_repetition";
    pl_buf dat = {0}, gp = {0};
    int has_ci = 0;
    for (size_t i = 0; i < 2 * (size_t)a->n_domains * (size_t)a->n_layers; i++)
        if (!isnan(a->rep_first_ci[i]) || !isnan(a->rep_topk_ci[i])) has_ci = 1;
    pl_puts(&dat, "# Mixtral Fig. 10 / Table 5: consecutive tokens routed to the same expert, "
                  "in percent.\n# One block per domain (gnuplot index = domain order). "
                  "Columns: [1] layer, [2] first choice repeated,\n# [3,4] its 95% interval, "
                  "[5] top-k sets intersect, [6,7] its 95% interval (NaN: none).\n");
    for (int d = 0; d < a->n_domains; d++) {
        pl_printf(&dat, "%s# ", d ? "\n\n" : "");
        pl_safe(&dat, a->domains[d]);
        pl_puts(&dat, "\n");
        for (int l = 0; l < a->n_layers; l++) {
            size_t i = pl_dl(a, d, l);
            pl_printf(&dat, "%d", a->layers[l]);
            put_num(&dat, 100 * a->rep_first[i]);
            put_num(&dat, 100 * a->rep_first_ci[2 * i]);
            put_num(&dat, 100 * a->rep_first_ci[2 * i + 1]);
            put_num(&dat, 100 * a->rep_topk[i]);
            put_num(&dat, 100 * a->rep_topk_ci[2 * i]);
            put_num(&dat, 100 * a->rep_topk_ci[2 * i + 1]);
            pl_puts(&dat, "\n");
        }
    }
    int keyw = key_px(a), cw = 640, w = 110 + 2 * cw + 80 + 20 + keyw, h = 660;
    if (h < 110 + legend_px(a)) h = 110 + legend_px(a);
    gp_begin(c, &gp, name, "Mixtral Fig. 10: repetition per layer", w, h);
    pl_printf(&gp, "ND = %d\n", a->n_domains);
    gp_array_str(&gp, "dom", a->domains, a->n_domains);
    gp_domain_colors(&gp, a->n_domains);
    pl_printf(&gp, "base1 = %.8g; basek = %.8g\n", a->unranked ? -1.0 : 100 * a->base_first,
              100 * a->base_topk);
    int lmax = a->layers[a->n_layers - 1], lmin = a->layers[0];
    pl_printf(&gp,
              "set xrange [%g:%g]\n"
              "set xlabel \"layer\"\n"
              "set ylabel \"repeated assignments (%%)\"\n"
              "set grid xtics ytics lc rgb \"#e0e0e0\"\n"
              "set style fill transparent solid 0.18 noborder\n"
              "set multiplot layout 1,2 margins %.4f,%.4f,%.4f,%.4f spacing %.4f,0 "
              "title \"Proportion of consecutive tokens with the same expert\" font \"" FONT
              ",18\"\n",
              lmin == lmax ? lmin - 0.5 : (double)lmin, lmin == lmax ? lmax + 0.5 : (double)lmax,
              110.0 / w, (110.0 + 2 * cw + 80) / w, 85.0 / h, 1.0 - 110.0 / h, 80.0 / w);
    static const char *panel[2] = {"First choice", "First or second choice (top-k sets meet)"};
    /* Unranked: the first panel keeps its place (so the figure's layout is the same) and
     * says why it is empty. */
    for (int p = 0; p < 2; p++) {
        int col = p == 0 ? 2 : 5;
        pl_printf(&gp, "set title \"%s\" font \"" FONT ",15\"\n",
                  p == 0      ? panel[0]
                  : a->k == 2 ? panel[1]
                              : "Top-k sets intersect");
        if (p == 0) gp_legend(&gp, a, w, h, keyw, 110, 1, "random baseline");
        if (p == 1) {
            gp_legend_clear(&gp);
            pl_puts(&gp, "unset ylabel\n");
        }
        if (p == 0 && a->unranked) { /* no first choice: say so instead of plotting */
            pl_puts(&gp, "set label 99 \"unavailable\\n(expert ids not in rank order)\" at "
                         "graph 0.5, 0.5 center font \"" FONT ",16\"\n"
                         "set yrange [0:100]\nplot -1 notitle\n"
                         "unset label 99\nset autoscale y\n");
            continue;
        }
        pl_puts(&gp, "plot ");
        if (has_ci)
            pl_printf(&gp,
                      "for [d=1:ND] \"%s.dat\" index (d-1) using 1:%d:%d with filledcurves "
                      "lc rgb col[d] notitle, \\\n     ",
                      name, col + 1, col + 2);
        pl_printf(&gp,
                  "for [d=1:ND] \"%s.dat\" index (d-1) using 1:%d with linespoints lw 2 pt 7 "
                  "ps 0.6 lc rgb col[d] title dom[d], \\\n"
                  "     %s with lines dt (8,6) lw 1.5 lc rgb \"#333333\" title "
                  "\"random baseline\"\n",
                  name, col, p == 0 ? "base1" : "basek");
    }
    pl_puts(&gp, "unset multiplot\n");
    gp_end(&gp);
    char cap[512];
    snprintf(cap, sizeof cap,
             "Percentage of consecutive token pairs (same document and window) whose first "
             "choice is the same expert (left) and whose top-k sets intersect (right), at every "
             "analysed layer.%s Dashed: random baselines %.1f%% and %.1f%%. Compare with "
             "Mixtral Fig. 10 and Table 5.",
             has_ci ? " Bands: 95% bootstrap intervals over documents." : "", 100 * a->base_first,
             100 * a->base_topk);
    int rc = emit(c, name, &dat, &gp, "Repetition per layer (Mixtral Fig. 10)", cap);
    pl_buf_free(&dat);
    pl_buf_free(&gp);
    return rc;
}

/* Layer tics for heatmaps whose y is the slot index: at most ~16 labelled. */
static void gp_layer_tics(pl_buf *b, const ms_plot_analysis *a, const char *axis) {
    int step = a->n_layers <= 12 ? 1 : (a->n_layers + 7) / 8;
    pl_printf(b, "set %stics (", axis);
    for (int l = 0; l < a->n_layers; l += step)
        pl_printf(b, "%s\"%d\" %d", l ? ", " : "", a->layers[l], l);
    pl_puts(b, ")\n");
}

/* ---------------------------------------------------------------------------------------
 * Heatmaps of expert share per layer × expert, one panel per domain (shared colour scale).
 */
static int heat_share(fig_ctx *c) {
    const ms_plot_analysis *a = c->a;
    const char *name = "heatmap_share";
    pl_buf dat = {0}, gp = {0};
    double vmax = 0, vmin = 1;
    pl_puts(&dat, "# Share of assignments (either choice) per layer x expert, one block per "
                  "domain (gnuplot index = domain order).\n# Columns: [1] expert, [2] layer "
                  "slot (row of the heatmap), [3] model layer, [4] share.\n");
    for (int d = 0; d < a->n_domains; d++) {
        pl_printf(&dat, "%s# ", d ? "\n\n" : "");
        pl_safe(&dat, a->domains[d]);
        pl_puts(&dat, "\n");
        for (int l = 0; l < a->n_layers; l++) {
            for (int e = 0; e < a->n_expert; e++) {
                double v = a->either[pl_dle(a, d, l, e)];
                if (v > vmax) vmax = v;
                if (v < vmin) vmin = v;
                pl_printf(&dat, "%d %d %d", e, l, a->layers[l]);
                put_num(&dat, v);
                pl_puts(&dat, "\n");
            }
            pl_puts(&dat, "\n"); /* scan lines separated by blank lines (image grid) */
        }
    }
    /* Pixel layout: panels pw x ph, 80 left, 60 between columns, 210 right (colour bar),
     * 90 top, 130 between rows, 75 bottom. */
    int D = a->n_domains, cols = D < 4 ? D : 4, rows = (D + cols - 1) / cols;
    int pw = a->n_expert <= 16 ? 300 : 520, ph = a->n_layers <= 8 ? 240 : 440;
    int w = 80 + cols * pw + (cols - 1) * 60 + 210, h = 90 + rows * ph + (rows - 1) * 130 + 75;
    gp_begin(c, &gp, name, "expert share heatmaps (layer x expert) per domain", w, h);
    pl_printf(&gp, "ND = %d\n", D);
    gp_array_str(&gp, "dom", a->domains, D);
    pl_puts(&gp, pl_viridis_gp());
    pl_printf(&gp,
              "set cbrange [%.6g:%.6g]\n"
              "set cbtics format \"%%.2f\"\n"
              "set colorbox user origin screen %.4f, screen %.4f size screen %.4f, screen "
              "%.4f\n"
              "set cblabel \"share of assignments (uniform %.3g)\" offset 1,0\n"
              "set xrange [-0.5:%d.5]\nset yrange [-0.5:%d.5]\n"
              "set xlabel \"expert\"\n"
              "set grid noytics\nset border 15\nset tics scale 0\n"
              "set xtics %d\n",
              vmin < vmax ? vmin : 0, vmax > vmin ? vmax : 1, 1.0 - 185.0 / w, 75.0 / h, 22.0 / w,
              1.0 - 165.0 / h, a->base_share, a->n_expert - 1, a->n_layers - 1,
              expert_tic_step(a->n_expert));
    gp_layer_tics(&gp, a, "y");
    pl_printf(&gp,
              "set multiplot layout %d,%d margins %.4f,%.4f,%.4f,%.4f spacing %.4f,%.4f "
              "title \"Expert share per layer and domain\" font \"" FONT ",18\"\n",
              rows, cols, 80.0 / w, 1.0 - 210.0 / w, 75.0 / h, 1.0 - 90.0 / h, 60.0 / w, 130.0 / h);
    pl_printf(&gp,
              "do for [d=1:ND] {\n"
              "  set title dom[d] font \"" FONT ",16\"\n"
              "  if ((d - 1) %% %d == 0) { set ylabel \"layer\" } else { unset ylabel }\n"
              "  if (d > 1) { unset colorbox }\n"
              "  plot \"heatmap_share.dat\" index (d-1) using 1:2:4 with image notitle\n"
              "}\n"
              "unset multiplot\n",
              cols);
    gp_end(&gp);
    char cap[512];
    snprintf(cap, sizeof cap,
             "For each domain, the share of assignments each expert receives (colour) at "
             "every analysed layer (rows). Shared colour scale, viridis; uniform share is "
             "%.3g. Rows that look alike across domains mean routing ignores the domain.",
             a->base_share);
    int rc = emit(c, name, &dat, &gp, "Expert share per layer, each domain", cap);
    pl_buf_free(&dat);
    pl_buf_free(&gp);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Co-activation heatmaps (OLMoE Eq. 6), one panel per chosen layer.
 */
static int heat_coact(fig_ctx *c) {
    const ms_plot_analysis *a = c->a;
    const char *name = "heatmap_coactivation";
    int E = a->n_expert;
    pl_buf dat = {0}, gp = {0};
    double vmax = 0;
    pl_puts(&dat, "# OLMoE Eq. 6 co-activation N(ei, ej) / N(ei), all domains pooled; one "
                  "block per layer panel.\n# Columns: [1] expert j (x), [2] expert i (y, "
                  "\"given\"), [3] ratio (NaN on the diagonal).\n");
    for (int i = 0; i < c->n_slots; i++) {
        int l = c->slots[i];
        pl_printf(&dat, "%s# layer %d\n", i ? "\n\n" : "", a->layers[l]);
        for (int r = 0; r < E; r++) {
            for (int q = 0; q < E; q++) {
                double v = a->coact[((size_t)l * (size_t)E + (size_t)r) * (size_t)E + (size_t)q];
                if (r != q && v > vmax) vmax = v;
                pl_printf(&dat, "%d %d", q, r);
                put_num(&dat, r == q ? NAN : v);
                pl_puts(&dat, "\n");
            }
            pl_puts(&dat, "\n");
        }
    }
    int n = c->n_slots, pw = E <= 16 ? 430 : 560, w = n * pw + 160, h = pw + 110;
    gp_begin(c, &gp, name, "OLMoE Eq. 6 co-activation heatmaps", w, h);
    pl_puts(&gp, pl_viridis_gp());
    pl_printf(&gp,
              "set cbrange [0:%.6g]\n"
              "set cbtics format \"%%.2f\"\n"
              "set colorbox user origin screen %.4f, screen %.4f size screen %.4f, screen "
              "%.4f\n"
              "set cblabel \"N(i, j) / N(i)\"\n"
              "set xrange [-0.5:%d.5]\nset yrange [%d.5:-0.5]\n"
              "set xlabel \"co-activated expert j\"\nset ylabel \"expert i\"\n"
              "set grid noytics\nset border 15\nset tics scale 0\nset xtics %d\n"
              "set ytics %d\nset size ratio -1\nset object 1 rectangle from graph 0,0 to "
              "graph 1,1 behind fc rgb \"#f2f2f2\" fs solid noborder\n",
              vmax > 0 ? vmax : 1, 1.0 - 110.0 / w, 90.0 / h, 18.0 / w, 1.0 - 180.0 / h, E - 1,
              E - 1, expert_tic_step(E), expert_tic_step(E));
    pl_printf(&gp,
              "set multiplot layout 1,%d margins %.4f,%.4f,%.4f,%.4f spacing %.4f,0 "
              "title \"Expert co-activation (OLMoE Eq. 6), all domains\" font \"" FONT ",18\"\n",
              n, 70.0 / w, 1.0 - 150.0 / w, 70.0 / h, 1.0 - 80.0 / h, 60.0 / w);
    for (int i = 0; i < n; i++) {
        pl_printf(&gp, "set title \"Layer %d\" font \"" FONT ",15\"\n", a->layers[c->slots[i]]);
        if (i == 1) pl_puts(&gp, "unset colorbox\nunset ylabel\n");
        pl_printf(&gp, "plot \"%s.dat\" index %d using 1:2:3 with image notitle", name, i);
        if (E <= 10)
            pl_printf(&gp,
                      ", \\\n     \"\" index %d using 1:2:(strcol(3) eq \"NaN\" ? \"\" : "
                      "sprintf(\"%%.2f\", $3)):($3 > %.6g ? 0x111111 : 0xffffff) with labels tc "
                      "rgb variable "
                      "font \"" FONT ",11\" notitle",
                      i, 0.6 * (vmax > 0 ? vmax : 1));
        pl_puts(&gp, "\n");
    }
    pl_puts(&gp, "unset multiplot\n");
    gp_end(&gp);
    const char *cap = "Row i, column j: of the tokens routed to expert i (in their top-k), "
                      "the fraction also routed to expert j — N(e_i, e_j) / N(e_i), OLMoE "
                      "Eq. 6, over all domains. Diagonal left blank.";
    int rc = emit(c, name, &dat, &gp, "Expert co-activation (OLMoE Eq. 6)", cap);
    pl_buf_free(&dat);
    pl_buf_free(&gp);
    return rc;
}

void ms_plot_result_free(ms_plot_result *r) {
    if (!r) return;
    free(r->figures);
    memset(r, 0, sizeof *r);
}

int ms_plot_figures(const ms_plot_analysis *a, const ms_plot_opts *o, ms_plot_result *res,
                    char *err, size_t errlen) {
    memset(res, 0, sizeof *res);
    if (!o || !o->out_dir) {
        pl_err(err, errlen, "plots: no output directory");
        return MS_ERR_INPUT;
    }
    int rc = pl_mkdir_p(o->out_dir, err, errlen);
    if (rc) return rc;
    fig_ctx c = {a,   o,     o->formats ? o->formats : MS_PLOT_PNG | MS_PLOT_SVG, NULL, 0, res,
                 err, errlen};
    if ((rc = pl_panel_slots(a, o->layers, o->n_layers, &c.slots, &c.n_slots, err, errlen)))
        return rc;
    char why[512];
    res->gnuplot_ok = ms_plot_gnuplot_check(o->gnuplot, why, sizeof why) == 0;
    if (!res->gnuplot_ok) snprintf(res->why, sizeof res->why, "%s", why);
    int (*figs[])(fig_ctx *) = {fig7, fig9, fig10, heat_share, heat_coact};
    for (size_t i = 0; i < sizeof figs / sizeof figs[0] && !rc; i++)
        rc = figs[i](&c);
    free(c.slots);
    if (rc) ms_plot_result_free(res);
    return rc;
}
