/* report.c — `moescope report`: DIR/index.html, one self-contained page with every figure,
 * the Table 5 comparison against the Mixtral paper, summary statistics, provenance and the
 * coloured-token samples. Inline CSS only, no script, no external fonts or links: the page
 * works opened from disk and offline. Figures are referenced by relative file name and only
 * when gnuplot produced them; otherwise the page says why and how to get them. */
#include "plots_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const cJSON *jget(const cJSON *o, const char *k) {
    return o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = jget(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = jget(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* results[slot].domains[d] (d == -1: results[slot].all). */
static const cJSON *dom_entry(const ms_plot_analysis *a, int slot, int d) {
    const cJSON *res = cJSON_GetArrayItem(jget(a->root, "results"), slot);
    if (d < 0) return jget(res, "all");
    return cJSON_GetArrayItem(jget(res, "domains"), d);
}

static void put_pct(pl_buf *b, double v) {
    if (isnan(v))
        pl_puts(b, "&ndash;");
    else
        pl_printf(b, "%.1f", 100 * v);
}

static void put_ci_pct(pl_buf *b, const double *ci) {
    if (!isnan(ci[0]) && !isnan(ci[1]))
        pl_printf(b, "<small> [%.1f, %.1f]</small>", 100 * ci[0], 100 * ci[1]);
}

/* Lower-case alphanumerics only: "Gutenberg (PG-19)" -> "gutenbergpg19". */
static void norm_name(const char *s, char *out, size_t cap) {
    size_t o = 0;
    for (; *s && o + 1 < cap; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out[o++] = c;
    }
    out[o] = 0;
}

/* The paper's row for one of our domain names (exact after normalising, or the paper's
 * name a prefix of ours: "Gutenberg (PG-19)" matches "Gutenberg"), else NULL. */
static const ms_table5_row *paper_row(const char *domain) {
    char a[128], b[128];
    norm_name(domain, a, sizeof a);
    for (int i = 0; i < 8; i++) {
        norm_name(ms_mixtral_table5[i].subset, b, sizeof b);
        if (!strcmp(a, b) || (b[0] && !strncmp(a, b, strlen(b)))) return &ms_mixtral_table5[i];
    }
    return NULL;
}

static void table5(pl_buf *b, const ms_plot_analysis *a, const int *slots, int n) {
    /* The paper reports layers 0, 15, 31; our columns are the panel layers. */
    int paper_idx[16];
    for (int i = 0; i < n && i < 16; i++) {
        int l = a->layers[slots[i]];
        paper_idx[i] = l == 0 ? 0 : l == 15 ? 1 : l == 31 ? 2 : -1;
    }
    pl_puts(b, "<table class=\"num\">\n<thead><tr><th rowspan=\"2\">domain</th>"
               "<th colspan=\"");
    pl_printf(b,
              "%d\">first choice repeated (%%)</th><th colspan=\"%d\">first or second "
              "choice repeated (%%)</th></tr>\n<tr>",
              2 * n, 2 * n);
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < n; i++)
            pl_printf(b, "<th>layer %d</th><th class=\"paper\">paper</th>", a->layers[slots[i]]);
    pl_puts(b, "</tr></thead>\n<tbody>\n");
    int any_match = 0;
    for (int d = 0; d < a->n_domains; d++) {
        const ms_table5_row *pr = paper_row(a->domains[d]);
        any_match |= pr != NULL;
        pl_puts(b, "<tr><th>");
        pl_html(b, a->domains[d]);
        if (pr && strcmp(pr->subset, a->domains[d])) {
            pl_puts(b, " <small>(paper: ");
            pl_html(b, pr->subset);
            pl_puts(b, ")</small>");
        }
        pl_puts(b, "</th>");
        for (int m = 0; m < 2; m++) {
            for (int i = 0; i < n; i++) {
                size_t k = pl_dl(a, d, slots[i]);
                pl_puts(b, "<td>");
                if (m == 0 && a->unranked) {
                    pl_puts(b, "unavailable");
                } else {
                    put_pct(b, m == 0 ? a->rep_first[k] : a->rep_topk[k]);
                    put_ci_pct(b, m == 0 ? &a->rep_first_ci[2 * k] : &a->rep_topk_ci[2 * k]);
                }
                pl_puts(b, "</td><td class=\"paper\">");
                if (pr && paper_idx[i] >= 0)
                    pl_printf(b, "%.1f",
                              m == 0 ? pr->first[paper_idx[i]] : pr->either[paper_idx[i]]);
                else
                    pl_puts(b, "&ndash;");
                pl_puts(b, "</td>");
            }
        }
        pl_puts(b, "</tr>\n");
    }
    pl_puts(b, "<tr class=\"base\"><th>random baseline</th>");
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < n; i++)
            if (m == 0 && a->unranked)
                pl_puts(b, "<td>unavailable</td><td class=\"paper\">12.5</td>");
            else
                pl_printf(b, "<td>%.1f</td><td class=\"paper\">%s</td>",
                          100 * (m == 0 ? a->base_first : a->base_topk), m == 0 ? "12.5" : "46.4");
    pl_puts(b, "</tr>\n</tbody></table>\n");
    pl_puts(b, "<p class=\"note\">Consecutive token pairs inside one document and window "
               "whose first-choice expert is the same (left) or whose top-k sets intersect "
               "(right), in percent; brackets: 95% bootstrap interval over documents. "
               "<span class=\"paper\">Grey columns</span>: Mixtral 8x7B on The Pile "
               "validation set, layers 0/15/31 (Jiang et al., <i>Mixtral of Experts</i>, "
               "arXiv:2401.04088, Table 5; paper baselines are for E&nbsp;=&nbsp;8, "
               "k&nbsp;=&nbsp;2).");
    if (!any_match)
        pl_puts(b, " None of this corpus's domain names match the paper's subsets, so only "
                   "its baselines are comparable.");
    if (a->unranked)
        pl_puts(b, " First choice: unavailable (expert ids not in rank order: this store was "
                   "imported from an engine that does not keep the router's order, see "
                   "docs/IMPORT.md).");
    pl_puts(b, "</p>\n");
    /* The paper's whole table, for subsets this corpus does not have. */
    pl_puts(b, "<details><summary>The paper's Table 5 (all subsets)</summary>\n"
               "<table class=\"num\"><thead><tr><th>subset</th><th>1st L0</th><th>1st "
               "L15</th><th>1st L31</th><th>1st/2nd L0</th><th>1st/2nd L15</th><th>1st/2nd "
               "L31</th></tr></thead><tbody>\n");
    for (int i = 0; i < 8; i++) {
        const ms_table5_row *r = &ms_mixtral_table5[i];
        pl_puts(b, "<tr><th>");
        pl_html(b, r->subset);
        pl_printf(b,
                  "</th><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td>"
                  "<td>%.1f</td></tr>\n",
                  r->first[0], r->first[1], r->first[2], r->either[0], r->either[1], r->either[2]);
    }
    pl_puts(b, "</tbody></table></details>\n");
}

static void summary(pl_buf *b, const ms_plot_analysis *a, const int *slots, int n) {
    pl_printf(b,
              "<p>%lld tokens in %lld documents, %d domains; E&nbsp;=&nbsp;%d experts, "
              "top-%d routing; %d layers analysed (%d",
              (long long)a->n_tokens, (long long)a->n_documents, a->n_domains, a->n_expert, a->k,
              a->n_layers, a->layers[0]);
    if (a->n_layers > 1) pl_printf(b, "&ndash;%d", a->layers[a->n_layers - 1]);
    pl_puts(b, ").</p>\n");
    for (int i = 0; i < n; i++) {
        int s = slots[i];
        pl_printf(b,
                  "<h3>Layer %d</h3>\n<table class=\"num\"><thead><tr><th>domain</th>"
                  "<th>documents</th><th>tokens</th><th>entropy (bits)</th>"
                  "<th>entropy / log<sub>2</sub>E</th><th>max load / mean</th>"
                  "<th>load CV</th><th>most used expert</th></tr></thead><tbody>\n",
                  a->layers[s]);
        for (int d = -1; d < a->n_domains; d++) {
            const cJSON *e = dom_entry(a, s, d);
            if (!e) continue;
            pl_printf(b, "<tr%s><th>", d < 0 ? " class=\"base\"" : "");
            pl_html(b, d < 0 ? "all domains" : a->domains[d]);
            pl_printf(b,
                      "</th><td>%.0f</td><td>%.0f</td><td>%.3f</td><td>%.3f</td>"
                      "<td>%.3f</td><td>%.3f</td>",
                      jnum(e, "n_documents"), jnum(e, "n_tokens"), jnum(e, "entropy_bits"),
                      jnum(e, "entropy_normalized"), jnum(e, "load_max_over_mean"),
                      jnum(e, "load_cv"));
            const cJSON *sh = jget(e, "share");
            int best = -1;
            double bv = -1;
            for (int x = 0; x < cJSON_GetArraySize(sh); x++) {
                const cJSON *v = cJSON_GetArrayItem(sh, x);
                if (cJSON_IsNumber(v) && v->valuedouble > bv) bv = v->valuedouble, best = x;
            }
            if (best >= 0)
                pl_printf(b, "<td>%d (%.1f%%)</td></tr>\n", best, 100 * bv);
            else
                pl_puts(b, "<td>&ndash;</td></tr>\n");
        }
        pl_puts(b, "</tbody></table>\n");
        const cJSON *res = cJSON_GetArrayItem(jget(a->root, "results"), s);
        const cJSON *dv = jget(res, "domain_divergence");
        const cJSON *chi = jget(dv, "chi_square");
        if (chi) {
            double pv = jnum(chi, "p_value");
            char pbuf[32];
            if (pv == 0)
                snprintf(pbuf, sizeof pbuf, "&lt; 1e-300"); /* underflows a double */
            else
                snprintf(pbuf, sizeof pbuf, "= %.3g", pv);
            pl_printf(b,
                      "<p class=\"note\">Domains &times; experts independence of the first "
                      "choice: &chi;<sup>2</sup> = %.1f, %.0f degrees of freedom, p %s "
                      "(tokens treated as independent, so p is optimistic).",
                      jnum(chi, "statistic"), jnum(chi, "dof"), pbuf);
        }
        const cJSON *js = jget(dv, "js_divergence_bits");
        double jmax = 0;
        int ja = -1, jb = -1;
        for (int x = 0; x < a->n_domains; x++)
            for (int y = x + 1; y < a->n_domains; y++) {
                const cJSON *v = cJSON_GetArrayItem(cJSON_GetArrayItem(js, x), y);
                if (cJSON_IsNumber(v) && v->valuedouble > jmax)
                    jmax = v->valuedouble, ja = x, jb = y;
            }
        if (ja >= 0) {
            pl_printf(b,
                      " Largest Jensen&ndash;Shannon divergence between domains' expert "
                      "shares: %.4f bits (",
                      jmax);
            pl_html(b, a->domains[ja]);
            pl_puts(b, " vs ");
            pl_html(b, a->domains[jb]);
            pl_puts(b, ").");
        }
        if (chi || ja >= 0) pl_puts(b, "</p>\n");
    }
}

static void kv_row(pl_buf *b, const char *k, const char *v) {
    if (!v || !*v) return;
    pl_puts(b, "<tr><th>");
    pl_html(b, k);
    pl_puts(b, "</th><td>");
    pl_html(b, v);
    pl_puts(b, "</td></tr>\n");
}

static void provenance(pl_buf *b, const ms_plot_analysis *a, const ms_report_opts *o) {
    const cJSON *store = jget(a->root, "store");
    const cJSON *model = jget(store, "model");
    const cJSON *hp = jget(model, "hparams");
    const cJSON *params = jget(model, "params");
    char tmp[512];
    pl_puts(b, "<table class=\"kv\">\n");
    kv_row(b, "route store", jstr(store, "path"));
    kv_row(b, "model", jstr(model, "name"));
    if (model) {
        snprintf(tmp, sizeof tmp, "%s (%s), %.0f layers, d_model %.0f, %.0f experts, top-%.0f",
                 jstr(model, "arch") ? jstr(model, "arch") : "?",
                 jstr(model, "format") ? jstr(model, "format") : "?", jnum(hp, "n_layer"),
                 jnum(hp, "d_model"), jnum(hp, "n_expert"), jnum(hp, "n_expert_used"));
        if (hp) kv_row(b, "architecture", tmp);
        if (params) {
            snprintf(tmp, sizeof tmp, "%.4g total, %.4g active per token", jnum(params, "total"),
                     jnum(params, "active"));
            kv_row(b, "parameters", tmp);
        }
        const cJSON *files = jget(model, "files"), *f;
        cJSON_ArrayForEach(f, files) {
            snprintf(tmp, sizeof tmp, "%s (%.0f bytes)", jstr(f, "path") ? jstr(f, "path") : "?",
                     jnum(f, "size"));
            kv_row(b, "model file", tmp);
        }
    }
    const cJSON *tok = jget(store, "tokenizer");
    if (tok) {
        snprintf(tmp, sizeof tmp, "%s, %.0f tokens", jstr(tok, "kind") ? jstr(tok, "kind") : "?",
                 jnum(tok, "n_vocab"));
        kv_row(b, "tokenizer", tmp);
    }
    kv_row(b, "capture command", jstr(store, "command_line"));
    kv_row(b, "captured", jstr(store, "created"));
    kv_row(b, "captured by", jstr(store, "tool_version"));
    kv_row(b, "analysis command", a->command_line);
    kv_row(b, "report command", o->command_line);
    kv_row(b, "report by", "moescope " MOESCOPE_VERSION);
    time_t now = time(NULL);
    struct tm tmv;
    if (gmtime_r(&now, &tmv)) {
        strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
        kv_row(b, "report written", tmp);
    }
    pl_puts(b, "</table>\n");
    const cJSON *man = jget(store, "manifest");
    if (man) {
        char *s = cJSON_Print(man);
        if (s) {
            size_t n = strlen(s);
            pl_puts(b, "<details><summary>Corpus manifest</summary><pre>");
            if (n > 20000) s[20000] = 0;
            pl_html(b, s);
            if (n > 20000) pl_puts(b, "\n…");
            pl_puts(b, "</pre></details>\n");
            free(s);
        }
    }
}

static const char *CSS =
    "body{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;color:#1e1e1e;margin:0;"
    "background:#fff;line-height:1.45}\n"
    "header{background:#0b3954;color:#fff;padding:1.2em 2em}\n"
    "header h1{margin:0;font-size:1.6em}header p{margin:.3em 0 0;opacity:.9}\n"
    "nav{padding:.6em 2em;background:#eef3f7;border-bottom:1px solid #d5dee6;"
    "position:sticky;top:0}\nnav a{margin-right:1.2em;color:#0b3954}\n"
    "main{padding:0 2em 3em;max-width:110em}\n"
    "h2{border-bottom:2px solid #0b3954;padding-bottom:.2em;margin-top:1.8em}\n"
    "figure{margin:1.5em 0 2.5em}figure img{max-width:100%;height:auto;border:1px solid "
    "#e3e3e3}\nfigcaption{max-width:60em;margin-top:.4em}\n"
    "figcaption .files{font-size:.85em;color:#555}\n"
    "table{border-collapse:collapse;margin:.6em 0}\nth,td{padding:.25em .6em;"
    "border-bottom:1px solid #e2e2e2;text-align:left}\n"
    "table.num td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "thead th{background:#f3f6f8;border-bottom:2px solid #c9d3db}\n"
    ".paper{background:#f1f1f1;color:#555}\ntr.base{font-style:italic}\n"
    "table.kv th{white-space:nowrap;vertical-align:top}\ntable.kv td{font-family:"
    "'DejaVu Sans Mono',monospace;font-size:.9em;word-break:break-all}\n"
    ".note{font-size:.9em;color:#444;max-width:60em}\n"
    ".warn{background:#fff4e5;border-left:5px solid #e69f00;padding:.8em 1em;max-width:60em}\n"
    "pre{background:#f7f7f7;padding:.8em;overflow:auto;max-height:30em}\n"
    "small{color:#666}\n";

int ms_report_write(const ms_plot_analysis *a, const ms_report_opts *o, ms_plot_result *res,
                    char *err, size_t errlen) {
    memset(res, 0, sizeof *res);
    const char *dir = o->plot.out_dir;
    int rc = ms_plot_figures(a, &o->plot, res, err, errlen);
    if (rc) return rc;
    pl_buf js = {0};
    pl_puts(&js, a->json);
    rc = pl_write_file(dir, "analysis.json", &js, err, errlen);
    pl_buf_free(&js);
    if (rc) return rc;

    int *slots = NULL, n_slots = 0;
    if ((rc = pl_panel_slots(a, o->plot.layers, o->plot.n_layers, &slots, &n_slots, err, errlen)))
        return rc;
    char *tokens_html = NULL;
    char tok_err[512] = "";
    if (o->routes) {
        if ((rc = ms_token_view_html(o->routes, &o->tokens, 1, &tokens_html, tok_err,
                                     sizeof tok_err))) {
            /* The page is still useful without this section; say why it is missing. */
            tokens_html = NULL;
        }
    }

    const cJSON *store = jget(a->root, "store");
    const char *model_name = jstr(jget(store, "model"), "name");
    pl_buf b = {0};
    pl_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
                "<title>moescope routing report");
    if (model_name) {
        pl_puts(&b, " &mdash; ");
        pl_html(&b, model_name);
    }
    pl_printf(&b,
              "</title>\n<style>\n%s</style>\n</head><body>\n<header><h1>Expert routing "
              "report</h1><p>",
              CSS);
    pl_html(&b, model_name ? model_name : "(model unknown)");
    pl_printf(&b,
              " &middot; %lld tokens &middot; %lld documents &middot; %d domains &middot; "
              "%d experts, top-%d</p></header>\n",
              (long long)a->n_tokens, (long long)a->n_documents, a->n_domains, a->n_expert, a->k);
    pl_puts(&b, "<nav><a href=\"#figures\">Figures</a><a href=\"#table5\">Repetition "
                "(Table 5)</a><a href=\"#summary\">Summary</a><a href=\"#tokens\">Tokens</a>"
                "<a href=\"#provenance\">Provenance</a><a href=\"analysis.json\">analysis.json"
                "</a></nav>\n<main>\n");

    pl_puts(&b, "<h2 id=\"figures\">Figures</h2>\n");
    if (!res->gnuplot_ok) {
        pl_puts(&b, "<p class=\"warn\"><b>No figures in this report:</b> ");
        pl_html(&b, res->why);
        pl_puts(&b, ". The analysis below is complete, and the gnuplot scripts and data of "
                    "every figure are in this folder: once gnuplot is installed, run "
                    "<code>moescope report</code> again, or <code>gnuplot NAME.gp</code> here "
                    "for each figure.</p>\n");
    }
    for (int i = 0; i < res->n_figures; i++) {
        const ms_plot_figure *f = &res->figures[i];
        pl_printf(&b, "<figure id=\"%s\">\n", f->name);
        if (f->formats & MS_PLOT_PNG) {
            pl_printf(&b, "<img src=\"%s.png\" alt=\"", f->name);
            pl_html(&b, f->title);
            pl_puts(&b, "\">\n");
        } else if (f->formats & MS_PLOT_SVG) {
            pl_printf(&b, "<img src=\"%s.svg\" alt=\"", f->name);
            pl_html(&b, f->title);
            pl_puts(&b, "\">\n");
        }
        pl_puts(&b, "<figcaption><b>");
        pl_html(&b, f->title);
        pl_puts(&b, ".</b> ");
        pl_html(&b, f->caption);
        pl_puts(&b, "<br><span class=\"files\">");
        static const char *ext[3] = {"png", "svg", "pdf"};
        for (int x = 0; x < 3; x++)
            if (f->formats & (1 << x))
                pl_printf(&b, "<a href=\"%s.%s\">%s</a> &middot; ", f->name, ext[x], ext[x]);
        pl_printf(&b,
                  "<a href=\"%s.gp\">gnuplot script</a> &middot; <a href=\"%s.dat\">data"
                  "</a></span></figcaption>\n</figure>\n",
                  f->name, f->name);
    }

    pl_puts(&b, "<h2 id=\"table5\">Repetition of expert assignments (Mixtral Table 5)</h2>\n");
    table5(&b, a, slots, n_slots);
    pl_puts(&b, "<h2 id=\"summary\">Summary statistics</h2>\n");
    summary(&b, a, slots, n_slots);

    pl_puts(&b, "<h2 id=\"tokens\">Tokens coloured by first-choice expert (Mixtral Fig. 8)"
                "</h2>\n");
    if (tokens_html) {
        if (o->tokenizer_note) {
            pl_puts(&b, "<p class=\"note\">");
            pl_html(&b, o->tokenizer_note);
            pl_puts(&b, "</p>\n");
        }
        pl_puts(&b, "<p class=\"note\">Each token's background is the colour of its "
                    "first-choice expert at that layer; hover for the token id and every "
                    "chosen expert with its router weight.</p>\n");
        pl_puts(&b, tokens_html);
    } else if (o->routes) {
        pl_puts(&b, "<p class=\"warn\">Token view not drawn: ");
        pl_html(&b, tok_err);
        pl_puts(&b, "</p>\n");
    } else {
        pl_puts(&b, "<p class=\"note\">Not drawn: this report was made from an analysis "
                    "JSON without its route store (run <code>moescope report routes.h5</code> "
                    "for the token view).</p>\n");
    }
    free(tokens_html);

    pl_puts(&b, "<h2 id=\"provenance\">Provenance</h2>\n");
    provenance(&b, a, o);
    pl_puts(&b, "</main>\n</body></html>\n");
    free(slots);
    rc = pl_write_file(dir, "index.html", &b, err, errlen);
    pl_buf_free(&b);
    if (rc) ms_plot_result_free(res);
    return rc;
}
