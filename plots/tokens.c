/* tokens.c — Mixtral Fig. 8 views: the text of a document with every token coloured by its
 * first-choice expert at chosen layers, as HTML (a page or a report section; hover titles
 * give the token, its id, the k experts and weights) and as 24-bit ANSI terminal text.
 * Reads token ids and routing straight from the route store, one document at a time
 * (memory: max_tokens × layers × k). */
#include "msutil.h"
#include "plots_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One document's rows, read once and shared by every layer drawn. */
typedef struct doc_rows {
    int64_t doc, first, n, n_total; /* n shown of n_total */
    int domain;
    const char *source;
    int32_t *tok;  /* [n] */
    char *text;    /* detokenized text of the n tokens (NULL without a tokenizer) */
    int64_t *offs; /* [n + 1] token t is text[offs[t], offs[t+1]) */
    int32_t *ids;  /* (n, L, k) */
    float *w;      /* (n, L, k) */
} doc_rows;

static void doc_free(doc_rows *d) {
    free(d->text);
    free(d->offs);
    free(d->tok);
    free(d->ids);
    free(d->w);
    memset(d, 0, sizeof *d);
}

static int doc_read(ms_routes *r, int64_t doc, int64_t max_tokens, doc_rows *d, char *err,
                    size_t errlen) {
    const ms_routes_info *in = ms_routes_info_get(r);
    memset(d, 0, sizeof *d);
    if (in->n_documents == 0) {
        pl_err(err, errlen, "the store holds no documents");
        return MS_ERR_INPUT;
    }
    if (doc < 0 || doc >= in->n_documents) {
        pl_err(err, errlen, "document %lld: the store has %lld documents (0..%lld)", (long long)doc,
               (long long)in->n_documents, (long long)in->n_documents - 1);
        return MS_ERR_INPUT;
    }
    int64_t first, n;
    if (ms_routes_document(r, doc, &d->domain, &first, &n, &d->source)) {
        pl_err(err, errlen, "document %lld: cannot read its table row", (long long)doc);
        return MS_ERR_RUNTIME;
    }
    d->doc = doc;
    d->first = first;
    d->n_total = n;
    d->n = n < max_tokens ? n : max_tokens;
    size_t per = (size_t)in->n_layers * (size_t)in->k;
    size_t rows = d->n > 0 ? (size_t)d->n : 1;
    d->tok = malloc(rows * sizeof *d->tok);
    d->ids = malloc(rows * per * sizeof *d->ids);
    d->w = malloc(rows * per * sizeof *d->w);
    if (!d->tok || !d->ids || !d->w) {
        doc_free(d);
        pl_err(err, errlen, "document %lld: out of memory", (long long)doc);
        return MS_ERR_RUNTIME;
    }
    if (d->n > 0) {
        int rc =
            ms_routes_read(r, first, d->n, d->tok, NULL, NULL, d->ids, d->w, NULL, err, errlen);
        if (rc) {
            doc_free(d);
            return rc;
        }
    }
    return 0;
}

/* Token texts from the tokenizer: a character split over byte tokens belongs to the token
 * that completes it. Ids outside the vocabulary are shown as "#id" (token_text). */
static int doc_spans(const ms_token_view_opts *o, doc_rows *d, char *err, size_t errlen) {
    if (!o->tok) return 0;
    int nv = ms_tokenizer_n_vocab(o->tok);
    for (int64_t t = 0; t < d->n; t++)
        if (d->tok[t] < 0 || d->tok[t] >= nv) return 0; /* wrong vocabulary: ids only */
    d->offs = malloc(((size_t)d->n + 1) * sizeof *d->offs);
    if (d->offs) d->text = ms_detokenize_spans(o->tok, d->tok, d->n, 1, d->offs);
    if (!d->offs || !d->text) {
        pl_err(err, errlen, "document %lld: out of memory", (long long)d->doc);
        return MS_ERR_RUNTIME;
    }
    return 0;
}

/* Slots of the requested model layers (default: first, middle, last stored). */
static int view_slots(const ms_routes_info *in, const ms_token_view_opts *o, int *slots, int cap,
                      int *n, char *err, size_t errlen) {
    *n = 0;
    if (o->layers && o->n_layers > 0) {
        for (int i = 0; i < o->n_layers && *n < cap; i++) {
            int s = -1;
            for (int j = 0; j < in->n_layers; j++)
                if (in->layers[j] == o->layers[i]) s = j;
            if (s < 0) {
                char list[256] = "";
                size_t used = 0;
                for (int j = 0; j < in->n_layers && used + 16 < sizeof list; j++)
                    used += (size_t)snprintf(list + used, sizeof list - used, "%s%d", j ? ", " : "",
                                             in->layers[j]);
                pl_err(err, errlen, "layer %d: %s (stored: %s)", o->layers[i],
                       ms_routes_layer_dense(in, o->layers[i])
                           ? "a dense layer of the model (no router, never stored)"
                           : "not stored in the route store",
                       list);
                return MS_ERR_INPUT;
            }
            slots[(*n)++] = s;
        }
        return 0;
    }
    int cand[3] = {0, in->n_layers / 2, in->n_layers - 1};
    for (int i = 0; i < 3; i++)
        if (*n == 0 || slots[*n - 1] != cand[i]) slots[(*n)++] = cand[i];
    return 0;
}

/* Display text of token t: its span of the document's text; a control token with no text
 * (BOS) shows its piece ("<s>"), a byte token that only starts a character shows as empty;
 * without a tokenizer, "#id". */
static void token_text(const ms_token_view_opts *o, const doc_rows *d, int64_t t, char *out,
                       size_t cap) {
    out[0] = 0;
    if (!d->text) {
        snprintf(out, cap, "#%d", (int)d->tok[t]);
        return;
    }
    int64_t a = d->offs[t], b = d->offs[t + 1];
    if (b > a) {
        size_t n = (size_t)(b - a) < cap - 1 ? (size_t)(b - a) : cap - 1;
        while (n > 0 && n < (size_t)(b - a) &&
               ((unsigned char)d->text[a + (int64_t)n] & 0xC0) == 0x80)
            n--; /* never cut a character */
        memcpy(out, d->text + a, n);
        out[n] = 0;
        return;
    }
    int32_t id = d->tok[t];
    if (id == ms_tokenizer_bos(o->tok) || id == ms_tokenizer_eos(o->tok)) {
        const char *p = ms_token_piece(o->tok, id);
        snprintf(out, cap, "%s", p ? p : "");
    }
}

static void css_color(pl_buf *b, uint32_t c) {
    pl_printf(b, "#%06X", (unsigned)c);
}

/* The page's style: expert classes .x0 .. .x{E-1}. */
static void html_style(pl_buf *b, int E) {
    pl_puts(b, ".mst{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:14px;"
               "line-height:1.9;white-space:pre-wrap;word-break:break-word;margin:.4em 0 1em}\n"
               ".mst span{border-radius:3px;padding:1px 0;cursor:default}\n"
               ".mst span:hover{outline:2px solid #000;outline-offset:0}\n"
               ".mst .nl{opacity:.55}\n"
               ".mslegend{display:flex;flex-wrap:wrap;gap:4px 6px;margin:.3em 0;"
               "font:13px 'DejaVu Sans',Arial,sans-serif}\n"
               ".mslegend span{padding:2px 7px;border-radius:3px}\n");
    for (int e = 0; e < E; e++) {
        uint32_t c = pl_cat_color(e, E);
        pl_printf(b, ".x%d{background:", e);
        css_color(b, c);
        pl_printf(b, ";color:%s}\n", pl_dark_text_on(c) ? "#000" : "#fff");
    }
}

/* One layer of one document. */
static void html_layer(pl_buf *b, const ms_routes_info *in, const ms_token_view_opts *o,
                       const doc_rows *d, int slot) {
    int k = in->k, L = in->n_layers, E = in->n_expert;
    int64_t *cnt = calloc((size_t)E, sizeof *cnt);
    for (int64_t t = 0; t < d->n && cnt; t++) {
        int32_t e = d->ids[((size_t)t * (size_t)L + (size_t)slot) * (size_t)k];
        if (e >= 0 && e < E) cnt[e]++;
    }
    pl_printf(b, "<h4>Layer %d</h4>\n<div class=\"mslegend\">", in->layers[slot]);
    for (int e = 0; e < E; e++) {
        pl_printf(b,
                  "<span class=\"x%d\" title=\"expert %d: first choice of %lld of %lld "
                  "tokens shown\">%d &middot; %.0f%%</span>",
                  e, e, cnt ? (long long)cnt[e] : 0LL, (long long)d->n, e,
                  cnt && d->n ? 100.0 * (double)cnt[e] / (double)d->n : 0.0);
    }
    free(cnt);
    pl_puts(b, "</div>\n<div class=\"mst\">");
    char text[256];
    for (int64_t t = 0; t < d->n; t++) {
        size_t base = ((size_t)t * (size_t)L + (size_t)slot) * (size_t)k;
        int32_t e0 = d->ids[base];
        token_text(o, d, t, text, sizeof text);
        pl_printf(b, "<span class=\"x%d\" title=\"", e0 >= 0 && e0 < E ? e0 : 0);
        pl_puts(b, "token ");
        char quoted[300];
        snprintf(quoted, sizeof quoted, "\u201c%s\u201d", text);
        pl_html(b, quoted);
        pl_printf(b, " &#10;id %d, position %lld&#10;layer %d:", (int)d->tok[t], (long long)t,
                  in->layers[slot]);
        for (int r = 0; r < k; r++)
            pl_printf(b, "%s expert %d (%.3f)", r ? "," : "", (int)d->ids[base + (size_t)r],
                      (double)d->w[base + (size_t)r]);
        pl_puts(b, "\">");
        /* Newlines stay line breaks, drawn as a faint ↵ so the token stays visible. */
        char *p = text;
        for (char *nl; (nl = strchr(p, '\n')); p = nl + 1) {
            *nl = 0;
            pl_html(b, p);
            pl_puts(b, "<span class=\"nl\">\u21b5</span>\n");
        }
        pl_html(b, p);
        pl_puts(b, "</span>");
    }
    if (d->n < d->n_total)
        pl_printf(b, " <em>… %lld more tokens not shown</em>", (long long)(d->n_total - d->n));
    pl_puts(b, "</div>\n");
}

int ms_token_view_html(ms_routes *r, const ms_token_view_opts *o, int fragment, char **html,
                       char *err, size_t errlen) {
    *html = NULL;
    const ms_routes_info *in = ms_routes_info_get(r);
    int slots[64], n_slots;
    int rc = view_slots(in, o, slots, 64, &n_slots, err, errlen);
    if (rc) return rc;
    int64_t max_tokens = o->max_tokens > 0 ? o->max_tokens : 2000;
    int64_t doc0 = 0;
    const int64_t *docs = o->docs && o->n_docs > 0 ? o->docs : &doc0;
    int n_docs = o->docs && o->n_docs > 0 ? o->n_docs : 1;
    pl_buf b = {0};
    if (!fragment) {
        pl_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
                    "<title>moescope: tokens coloured by first-choice expert</title>\n<style>\n"
                    "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:2em auto;"
                    "max-width:70em;padding:0 1em;color:#222}\nh2{margin-top:1.5em}\n"
                    "h4{margin:1em 0 .2em}\n");
    } else {
        pl_puts(&b, "<style>\n");
    }
    html_style(&b, in->n_expert);
    pl_puts(&b, "</style>\n");
    if (!fragment)
        pl_puts(&b, "</head><body>\n<h1>Tokens coloured by their first-choice expert</h1>\n"
                    "<p>As in Mixtral of Experts (arXiv 2401.04088), Fig. 8. Hover over a token "
                    "for its id and all its experts with their router weights.</p>\n");
    if (!in->rank_order)
        pl_puts(&b, "<p class=\"note\">This store's expert ids are not in rank order "
                    "(imported, docs/IMPORT.md): the colour is the first listed expert, not "
                    "the router's first choice.</p>\n");
    pl_puts(&b, "<section class=\"mstokens\">\n");
    for (int i = 0; i < n_docs; i++) {
        doc_rows d;
        if ((rc = doc_read(r, docs[i], max_tokens, &d, err, errlen)) ||
            (rc = doc_spans(o, &d, err, errlen))) {
            doc_free(&d);
            pl_buf_free(&b);
            return rc;
        }
        const char *dom = d.domain >= 0 && d.domain < in->n_domains ? in->domains[d.domain] : "?";
        pl_printf(&b, "<h3>Document %lld &mdash; ", (long long)d.doc);
        pl_html(&b, dom);
        pl_puts(&b, " &mdash; <code>");
        pl_html(&b, d.source ? d.source : "");
        pl_printf(&b, "</code> (%lld tokens)</h3>\n", (long long)d.n_total);
        for (int s = 0; s < n_slots; s++)
            html_layer(&b, in, o, &d, slots[s]);
        doc_free(&d);
    }
    pl_puts(&b, "</section>\n");
    if (!fragment) pl_puts(&b, "</body></html>\n");
    if (b.oom) {
        pl_buf_free(&b);
        pl_err(err, errlen, "token view: out of memory");
        return MS_ERR_RUNTIME;
    }
    *html = b.s ? b.s : strdup("");
    return *html ? 0 : MS_ERR_RUNTIME;
}

/* ANSI SGR for a background colour and the readable foreground on it. */
static void ansi_on(pl_buf *b, uint32_t c) {
    int dark = pl_dark_text_on(c);
    pl_printf(b, "\033[48;2;%u;%u;%um\033[38;2;%s", (c >> 16) & 255, (c >> 8) & 255, c & 255,
              dark ? "0;0;0m" : "255;255;255m");
}

/* Document text for a terminal: n bytes of one line, tabs kept, every other control
 * character (ESC of an escape sequence, CR) and invalid UTF-8 shown as \xNN (pl_safe). */
static void ansi_text(pl_buf *b, const char *p, size_t n) {
    char *t = malloc(n + 1);
    if (!t) {
        b->oom = 1;
        return;
    }
    memcpy(t, p, n);
    t[n] = 0;
    for (char *q = t;;) {
        char *tab = strchr(q, '\t');
        if (tab) *tab = 0;
        pl_safe(b, q);
        if (!tab) break;
        pl_puts(b, "\t");
        q = tab + 1;
    }
    free(t);
}

int ms_token_view_ansi(ms_routes *r, const ms_token_view_opts *o, int color, char **text, char *err,
                       size_t errlen) {
    *text = NULL;
    const ms_routes_info *in = ms_routes_info_get(r);
    int slots[64], n_slots;
    int rc = view_slots(in, o, slots, 64, &n_slots, err, errlen);
    if (rc) return rc;
    int slot = slots[0];
    doc_rows d;
    int64_t doc = o->docs && o->n_docs > 0 ? o->docs[0] : 0;
    if ((rc = doc_read(r, doc, o->max_tokens > 0 ? o->max_tokens : 2000, &d, err, errlen)))
        return rc;
    if ((rc = doc_spans(o, &d, err, errlen))) {
        doc_free(&d);
        return rc;
    }
    int k = in->k, L = in->n_layers, E = in->n_expert;
    pl_buf b = {0};
    const char *dom = d.domain >= 0 && d.domain < in->n_domains ? in->domains[d.domain] : "?";
    pl_printf(&b, "document %lld (", (long long)doc);
    pl_safe(&b, dom);
    pl_puts(&b, ", ");
    pl_safe(&b, d.source ? d.source : "");
    pl_printf(&b, ", %lld tokens), layer %d, coloured by %s\n", (long long)d.n_total,
              in->layers[slot],
              in->rank_order ? "first-choice expert"
                             : "the first listed expert (ids not in rank order: not the "
                               "router's first choice)");
    pl_puts(&b, "experts:");
    for (int e = 0; e < E; e++) {
        pl_puts(&b, " ");
        if (color) ansi_on(&b, pl_cat_color(e, E));
        pl_printf(&b, color ? " %d " : "[%d]", e);
        if (color) pl_puts(&b, "\033[0m");
    }
    pl_puts(&b, "\n\n");
    char tt[256];
    for (int64_t t = 0; t < d.n; t++) {
        size_t base = ((size_t)t * (size_t)L + (size_t)slot) * (size_t)k;
        int32_t e0 = d.ids[base];
        token_text(o, &d, t, tt, sizeof tt);
        /* Colour never spans a line break: terminals would paint the rest of the line. */
        char *p = tt;
        for (;;) {
            char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            if (n || !nl) {
                if (color) ansi_on(&b, pl_cat_color(e0, E));
                ansi_text(&b, p, n);
                if (color) pl_puts(&b, "\033[0m");
            }
            if (!nl) break;
            if (color) {
                ansi_on(&b, pl_cat_color(e0, E));
                pl_puts(&b, "\u21b5\033[0m");
            }
            pl_puts(&b, "\n");
            p = nl + 1;
        }
        if (!color) pl_printf(&b, "[%d]", (int)e0);
    }
    if (d.n < d.n_total) pl_printf(&b, " … (%lld more tokens)", (long long)(d.n_total - d.n));
    pl_puts(&b, "\n");
    doc_free(&d);
    if (b.oom) {
        pl_buf_free(&b);
        pl_err(err, errlen, "token view: out of memory");
        return MS_ERR_RUNTIME;
    }
    *text = b.s ? b.s : strdup("");
    return *text ? 0 : MS_ERR_RUNTIME;
}

/* n_vocab recorded in the store's tokenizer JSON, or -1. */
static int store_n_vocab(const ms_routes_info *in) {
    int n = -1;
    cJSON *t = in->tokenizer_json ? cJSON_Parse(in->tokenizer_json) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, "n_vocab");
    if (cJSON_IsNumber(v)) n = (int)v->valuedouble;
    cJSON_Delete(t);
    return n;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Tries one path; 0 and *out on success (vocabulary size checked). */
static int try_tokenizer(ms_tokenizer **out, const char *path, int want_vocab, char *note,
                         size_t notelen) {
    char err[512];
    struct stat st;
    char buf[4096];
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(buf, sizeof buf, "%s/tokenizer.json", path);
        path = buf;
    }
    ms_tokenizer *t = NULL;
    if (ms_tokenizer_open(&t, path, err, sizeof err)) {
        pl_err(note, notelen, "%s", err);
        return MS_ERR_INPUT;
    }
    if (want_vocab > 0 && ms_tokenizer_n_vocab(t) != want_vocab) {
        pl_err(note, notelen, "%s: vocabulary of %d tokens, but the store was captured with %d",
               path, ms_tokenizer_n_vocab(t), want_vocab);
        ms_tokenizer_free(t);
        return MS_ERR_INPUT;
    }
    *out = t;
    /* the tokenizer file (perhaps found through the store's record) is an input: no page or
     * figure written later may replace it (ms_outfile refuses it) */
    if (ms_protect_input(path)) {
        ms_tokenizer_free(t);
        *out = NULL;
        pl_err(note, notelen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    return 0;
}

int ms_plot_tokenizer_open(ms_tokenizer **out, ms_routes *r, const char *routes_path,
                           const char *model, char *note, size_t notelen) {
    *out = NULL;
    const ms_routes_info *in = ms_routes_info_get(r);
    int want = store_n_vocab(in);
    if (model) return try_tokenizer(out, model, want, note, notelen);
    cJSON *m = in->model_json ? cJSON_Parse(in->model_json) : NULL;
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files");
    char tried[1024] = "";
    int existed = 0; /* a recorded file was found but unusable: note says why */
    for (int pass = 0; pass < 2 && !*out; pass++) {
        const cJSON *f;
        cJSON_ArrayForEach(f, files) {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "path");
            if (!cJSON_IsString(p)) continue;
            const char *path = p->valuestring;
            if (!ends_with(path, pass == 0 ? "tokenizer.json" : ".gguf")) continue;
            char alt[4096] = "";
            if (path[0] != '/' && routes_path && strchr(routes_path, '/')) {
                int dl = (int)(strrchr(routes_path, '/') - routes_path);
                snprintf(alt, sizeof alt, "%.*s/%s", dl, routes_path, path);
            }
            const char *cand[2] = {path, alt};
            for (int c = 0; c < 2 && !*out; c++) {
                if (!cand[c][0] || access(cand[c], R_OK) != 0) continue;
                existed = 1;
                if (try_tokenizer(out, cand[c], want, note, notelen) == 0) break;
            }
            if (*out) break;
            if (!tried[0]) snprintf(tried, sizeof tried, "%s", path);
        }
    }
    cJSON_Delete(m);
    if (*out) return 0;
    if (!existed)
        pl_err(note, notelen,
               "token text unavailable: the model file recorded in the store (%s) was not "
               "found; pass --model PATH (a .gguf, tokenizer.json or model folder)",
               tried[0] ? tried : "none recorded");
    return MS_ERR_INPUT;
}
