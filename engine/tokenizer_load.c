/* tokenizer_load.c — where tokenizers come from and go to: GGUF metadata (tokenizer.ggml.*,
 * SentencePiece "llama" model), Hugging Face tokenizer.json (+ tokenizer_config.json), and the
 * tokenizer.json writer used for fixture HF folders.
 *
 * GGUF vocabularies keep SentencePiece semantics (merge priority = score of the merged piece,
 * as llama.cpp). tokenizer.json keeps Hugging Face BPE semantics (priority = rank of the merge
 * rule). The writer derives merges from scores exactly as transformers' generate_merges does
 * (every split of every piece into two pieces; ordered by score, then by longer left part,
 * then longer right part, stable), so a written tokenizer.json tokenizes as the GGUF does.
 * Both readers trust nothing: counts, ids, string lengths and types are checked. */
#include "msutil.h"
#include "safetensors.h" /* st_json_get */
#include "tokenizer_impl.h"
#include "tokenizer_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_VOCAB     (1 << 24)
#define MAX_JSON_SIZE ((size_t)1 << 30)

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    ms_text_safe_inplace(err, errlen); /* pieces and names from files: one printable line */
}

static int32_t special_id(int64_t v, int n) {
    return v >= 0 && v < n ? (int32_t)v : -1;
}

/* ---------------------------------------------------------------------------------------
 * GGUF.
 */

int ms_tokenizer_from_gguf(ms_tokenizer **out, const gguf_file *g, char *err, size_t errlen) {
    *out = NULL;
    const char *path = gguf_path(g);
    gguf_str model;
    if (gguf_get_str(g, "tokenizer.ggml.model", &model) != 0) {
        errf(err, errlen, "%s: no tokenizer.ggml.model (no vocabulary in this file)", path);
        return MS_ERR_INPUT;
    }
    int gpt2 = model.n == 4 && memcmp(model.p, "gpt2", 4) == 0;
    if (!gpt2 && !(model.n == 5 && memcmp(model.p, "llama", 5) == 0)) {
        errf(err, errlen,
             "%s: tokenizer.ggml.model is '%.*s'; supported: 'llama' (SentencePiece) and 'gpt2' "
             "(byte-level BPE)",
             path, (int)(model.n > 32 ? 32 : model.n), model.p);
        return MS_ERR_INPUT;
    }
    gguf_vtype et;
    uint64_t n;
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) != 0 || et != GGUF_T_STRING) {
        errf(err, errlen, "%s: tokenizer.ggml.tokens missing or not an array of strings", path);
        return MS_ERR_INPUT;
    }
    if (n == 0 || n > MAX_VOCAB) {
        errf(err, errlen, "%s: tokenizer.ggml.tokens has %llu entries (expected 1..%d)", path,
             (unsigned long long)n, MAX_VOCAB);
        return MS_ERR_INPUT;
    }
    uint64_t pool = 0;
    for (uint64_t i = 0; i < n; i++) {
        gguf_str s = gguf_arr_str(g, "tokenizer.ggml.tokens", i);
        if (s.n > 65536) {
            errf(err, errlen, "%s: tokenizer.ggml.tokens[%llu] is %llu bytes long", path,
                 (unsigned long long)i, (unsigned long long)s.n);
            return MS_ERR_INPUT;
        }
        pool += s.n + 1;
    }
    if (pool > UINT32_MAX) {
        errf(err, errlen, "%s: tokenizer.ggml.tokens is too large", path);
        return MS_ERR_INPUT;
    }
    gguf_vtype st_, tt_;
    uint64_t ns = 0, nt = 0;
    int has_scores = gguf_get_arr(g, "tokenizer.ggml.scores", &st_, &ns) == 0;
    int has_types = gguf_get_arr(g, "tokenizer.ggml.token_type", &tt_, &nt) == 0;
    if (has_scores && (ns != n || (st_ != GGUF_T_FLOAT32 && st_ != GGUF_T_FLOAT64))) {
        errf(err, errlen, "%s: tokenizer.ggml.scores must be %llu floats", path,
             (unsigned long long)n);
        return MS_ERR_INPUT;
    }
    if (has_types && (nt != n || tt_ == GGUF_T_STRING || tt_ == GGUF_T_ARRAY ||
                      tt_ == GGUF_T_FLOAT32 || tt_ == GGUF_T_FLOAT64 || tt_ == GGUF_T_BOOL)) {
        errf(err, errlen, "%s: tokenizer.ggml.token_type must be %llu integers", path,
             (unsigned long long)n);
        return MS_ERR_INPUT;
    }
    ms_tokenizer *t = ms_tok_alloc((int)n, (size_t)pool);
    if (!t) {
        errf(err, errlen, "%s: out of memory reading the vocabulary", path);
        return MS_ERR_RUNTIME;
    }
    uint32_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        gguf_str s = gguf_arr_str(g, "tokenizer.ggml.tokens", i);
        memcpy(t->pool + off, s.p, s.n);
        t->pool[off + s.n] = 0;
        t->piece_off[i] = off;
        t->piece_len[i] = (uint32_t)s.n;
        off += (uint32_t)s.n + 1;
        t->scores[i] = has_scores ? (float)gguf_arr_float(g, "tokenizer.ggml.scores", i) : 0.0f;
        int64_t ty = has_types ? gguf_arr_int(g, "tokenizer.ggml.token_type", i) : MS_TOK_NORMAL;
        t->types[i] = (uint8_t)(ty >= 1 && ty <= 6 ? ty : 0);
    }
    /* llama.cpp's defaults: SentencePiece BOS 1, EOS 2, UNK 0; gpt2 BOS = EOS = 11, no UNK. */
    int64_t v;
    t->bos = special_id(gguf_get_int(g, "tokenizer.ggml.bos_token_id", &v) == 0 ? v
                        : gpt2                                                  ? 11
                                                                                : 1,
                        t->n_vocab);
    t->eos = special_id(gguf_get_int(g, "tokenizer.ggml.eos_token_id", &v) == 0 ? v
                        : gpt2                                                  ? 11
                                                                                : 2,
                        t->n_vocab);
    t->unk = special_id(gguf_get_int(g, "tokenizer.ggml.unknown_token_id", &v) == 0 ? v
                        : gpt2                                                      ? -1
                                                                                    : 0,
                        t->n_vocab);
    t->pad = special_id(gguf_get_int(g, "tokenizer.ggml.padding_token_id", &v) == 0 ? v : -1,
                        t->n_vocab);
    if (gpt2) {
        snprintf(t->source, sizeof t->source, "gguf");
        snprintf(t->prefix_form, sizeof t->prefix_form, "none");
        int rc = ms_tok_gguf_byte_level(t, g, err, errlen);
        if (rc) {
            ms_tokenizer_free(t);
            return rc;
        }
        *out = t;
        return 0;
    }
    int b;
    t->add_bos = gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) == 0 ? b : 1;
    t->add_eos = gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b) == 0 ? b : 0;
    t->add_space_prefix = gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b) == 0 ? b : 1;
    t->prefix = t->add_space_prefix ? MS_PREFIX_LLAMA : MS_PREFIX_NONE;
    t->merge = MS_MERGE_SCORES;
    t->byte_fallback = 1;
    snprintf(t->source, sizeof t->source, "gguf");
    snprintf(t->prefix_form, sizeof t->prefix_form, "%s", t->add_space_prefix ? "prepend" : "none");
    if (ms_tok_finish(t, 0)) {
        ms_tokenizer_free(t);
        errf(err, errlen, "%s: out of memory building the tokenizer", path);
        return MS_ERR_RUNTIME;
    }
    *out = t;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * tokenizer.json reader.
 */

static int read_whole(const char *path, char **data, size_t *len, char *err, size_t errlen) {
    *data = NULL;
    *len = 0;
    int rc;
    FILE *f = ms_fopen_regular(path, &rc, err, errlen); /* never blocks on a FIFO */
    if (!f) return rc;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            errf(err, errlen, "%s: out of memory", path);
            return MS_ERR_RUNTIME;
        }
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        if (cap >= MAX_JSON_SIZE) {
            free(buf);
            fclose(f);
            errf(err, errlen, "%s: larger than 1 GiB", path);
            return MS_ERR_INPUT;
        }
        cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb) free(buf);
        buf = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errf(err, errlen, "%s: read error", path);
        return MS_ERR_RUNTIME;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

static cJSON *parse_json_file(const char *path, char *err, size_t errlen, int *rc) {
    char *data;
    size_t len;
    *rc = read_whole(path, &data, &len, err, errlen);
    if (*rc) return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (!j) {
        errf(err, errlen, "%s: not valid JSON (near byte %zu)", path,
             end && end >= data ? (size_t)(end - data) : (size_t)0);
        *rc = MS_ERR_INPUT;
    }
    free(data);
    return j;
}

static const char *json_kind(const cJSON *v) {
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "invalid";
}

static int json_is_type(const cJSON *o, const char *type) {
    const cJSON *ty = st_json_get(o, "type");
    return cJSON_IsString(ty) && strcmp(ty->valuestring, type) == 0;
}

/* A token named in tokenizer_config.json: "<s>" or {"content": "<s>", ...}. */
static const char *config_token(const cJSON *cfg, const char *key) {
    const cJSON *v = st_json_get(cfg, key);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) {
        const cJSON *c = st_json_get(v, "content");
        if (cJSON_IsString(c)) return c->valuestring;
    }
    return NULL;
}

/* Reads the normalizer: nothing, Prepend("▁"), Replace(" ", "▁") or a Sequence of them. */
static int read_normalizer(const cJSON *nz, int *prepend, int *replace, const char *path, char *err,
                           size_t errlen) {
    if (!nz || cJSON_IsNull(nz)) return 0;
    if (json_is_type(nz, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, st_json_get(nz, "normalizers")) {
            int rc = read_normalizer(it, prepend, replace, path, err, errlen);
            if (rc) return rc;
        }
        return 0;
    }
    if (json_is_type(nz, "Prepend")) {
        const cJSON *p = st_json_get(nz, "prepend");
        if (cJSON_IsString(p) && strcmp(p->valuestring, "\xE2\x96\x81") == 0) {
            *prepend = 1;
            return 0;
        }
    } else if (json_is_type(nz, "Replace")) {
        const cJSON *pat = st_json_get(nz, "pattern");
        const cJSON *s = st_json_get(pat, "String");
        const cJSON *c = st_json_get(nz, "content");
        if (cJSON_IsString(s) && cJSON_IsString(c) && strcmp(s->valuestring, " ") == 0 &&
            strcmp(c->valuestring, "\xE2\x96\x81") == 0) {
            *replace = 1;
            return 0;
        }
    }
    const cJSON *ty = st_json_get(nz, "type");
    errf(err, errlen,
         "%s: normalizer '%s' is not supported (SentencePiece-style BPE takes "
         "Prepend(\"\xE2\x96\x81\") and Replace(\" \", \"\xE2\x96\x81\"))",
         path, cJSON_IsString(ty) ? ty->valuestring : "?");
    return MS_ERR_INPUT;
}

/* Reads the pre-tokenizer: nothing, or Metaspace (alone or in a Sequence). */
static int read_pretok(const cJSON *pt, int *meta, ms_prefix_kind *scheme, int *split,
                       const char *path, char *err, size_t errlen) {
    if (!pt || cJSON_IsNull(pt)) return 0;
    if (json_is_type(pt, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, st_json_get(pt, "pretokenizers")) {
            int rc = read_pretok(it, meta, scheme, split, path, err, errlen);
            if (rc) return rc;
        }
        return 0;
    }
    if (json_is_type(pt, "Metaspace")) {
        const cJSON *rep = st_json_get(pt, "replacement");
        if (cJSON_IsString(rep) && strcmp(rep->valuestring, "\xE2\x96\x81") != 0) {
            errf(err, errlen, "%s: Metaspace replacement '%s' is not supported", path,
                 rep->valuestring);
            return MS_ERR_INPUT;
        }
        *meta = 1;
        const cJSON *ps = st_json_get(pt, "prepend_scheme");
        const cJSON *ap = st_json_get(pt, "add_prefix_space");
        *scheme = MS_PREFIX_META_ALWAYS;
        if (cJSON_IsString(ps)) {
            if (strcmp(ps->valuestring, "first") == 0)
                *scheme = MS_PREFIX_META_FIRST;
            else if (strcmp(ps->valuestring, "never") == 0)
                *scheme = MS_PREFIX_NONE;
            else if (strcmp(ps->valuestring, "always") != 0) {
                errf(err, errlen, "%s: Metaspace prepend_scheme '%s' is not supported", path,
                     ps->valuestring);
                return MS_ERR_INPUT;
            }
        } else if (cJSON_IsFalse(ap)) {
            *scheme = MS_PREFIX_NONE;
        }
        const cJSON *sp = st_json_get(pt, "split");
        *split = sp ? cJSON_IsTrue(sp) : 1; /* tokenizers' default is split = true */
        return 0;
    }
    const cJSON *ty = st_json_get(pt, "type");
    errf(err, errlen,
         "%s: pre-tokenizer '%s' is not supported (only SentencePiece-style BPE: Metaspace or "
         "none; byte-level BPE tokenizers are not supported yet)",
         path, cJSON_IsString(ty) ? ty->valuestring : "?");
    return MS_ERR_INPUT;
}

/* The post-processor's single-sequence template: does it start with a special token (BOS)
 * and end with one (EOS)? Fills the pieces' names. */
static void read_template(const cJSON *pp, const char **first, const char **last) {
    if (!pp || cJSON_IsNull(pp)) return;
    if (json_is_type(pp, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, st_json_get(pp, "processors")) {
            read_template(it, first, last);
        }
        return;
    }
    if (!json_is_type(pp, "TemplateProcessing")) return;
    const cJSON *single = st_json_get(pp, "single");
    int n = cJSON_GetArraySize(single);
    if (n <= 0) return;
    const cJSON *a = cJSON_GetArrayItem(single, 0), *z = cJSON_GetArrayItem(single, n - 1);
    const cJSON *sa = st_json_get(a, "SpecialToken");
    const cJSON *sz = st_json_get(z, "SpecialToken");
    const cJSON *ia = st_json_get(sa, "id");
    const cJSON *iz = st_json_get(sz, "id");
    if (cJSON_IsString(ia)) *first = ia->valuestring;
    if (cJSON_IsString(iz) && n > 1) *last = iz->valuestring;
}

/* Splits a merge rule: "a b" (older files) or ["a", "b"] (tokenizers >= 0.20). */
static int merge_parts(const cJSON *m, const char **a, size_t *an, const char **b, size_t *bn) {
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' ')) return -1;
        *a = s;
        *an = (size_t)(sp - s);
        *b = sp + 1;
        *bn = strlen(sp + 1);
        return 0;
    }
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2) {
        const cJSON *x = cJSON_GetArrayItem(m, 0), *y = cJSON_GetArrayItem(m, 1);
        if (!cJSON_IsString(x) || !cJSON_IsString(y)) return -1;
        *a = x->valuestring;
        *an = strlen(x->valuestring);
        *b = y->valuestring;
        *bn = strlen(y->valuestring);
        return 0;
    }
    return -1;
}

static int json_id(const cJSON *v, int64_t *id) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d < MAX_VOCAB) || d != floor(d)) return -1;
    *id = (int64_t)d;
    return 0;
}

static int tokenizer_from_json(ms_tokenizer **out, const cJSON *root, const cJSON *cfg,
                               const char *cfg_path, const char *path, char *err, size_t errlen) {
    const cJSON *model = st_json_get(root, "model");
    if (!cJSON_IsObject(model)) {
        errf(err, errlen, "%s: no \"model\" object (not a tokenizer.json)", path);
        return MS_ERR_INPUT;
    }
    const cJSON *mtype = st_json_get(model, "type");
    if (cJSON_IsString(mtype) && strcmp(mtype->valuestring, "BPE") != 0) {
        errf(err, errlen, "%s: model type '%s' is not supported (only BPE)", path,
             mtype->valuestring);
        return MS_ERR_INPUT;
    }
    const cJSON *vocab = st_json_get(model, "vocab");
    const cJSON *merges = st_json_get(model, "merges");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges)) {
        errf(err, errlen, "%s: model.vocab (object) and model.merges (array) are required", path);
        return MS_ERR_INPUT;
    }
    const cJSON *added = st_json_get(root, "added_tokens");

    /* Pass 1: vocabulary size and pool size. */
    int64_t n = 0;
    uint64_t pool = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        int64_t id;
        if (json_id(it, &id)) {
            errf(err, errlen, "%s: model.vocab[\"%.40s\"] is not a valid id", path, it->string);
            return MS_ERR_INPUT;
        }
        if (id + 1 > n) n = id + 1;
    }
    cJSON_ArrayForEach(it, added) {
        int64_t id;
        const cJSON *c = st_json_get(it, "content");
        if (json_id(st_json_get(it, "id"), &id) || !cJSON_IsString(c)) {
            errf(err, errlen, "%s: added_tokens entry without a valid id and content", path);
            return MS_ERR_INPUT;
        }
        if (id + 1 > n) n = id + 1;
    }
    if (n == 0) {
        errf(err, errlen, "%s: empty vocabulary", path);
        return MS_ERR_INPUT;
    }
    /* Ids may repeat (an added token re-declaring a vocab piece); the last name wins. */
    const char **name = calloc((size_t)n, sizeof *name);
    uint8_t *type = calloc((size_t)n, 1);
    if (!name || !type) {
        free(name);
        free(type);
        errf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    cJSON_ArrayForEach(it, vocab) {
        int64_t id = 0;
        if (json_id(it, &id)) continue; /* checked in pass 1 */
        if (name[id]) {
            errf(err, errlen, "%s: model.vocab gives id %lld to both \"%.40s\" and \"%.40s\"", path,
                 (long long)id, name[id], it->string);
            free(name);
            free(type);
            return MS_ERR_INPUT;
        }
        name[id] = it->string;
        int bv;
        type[id] =
            ms_tok_is_byte_piece(it->string, strlen(it->string), &bv) ? MS_TOK_BYTE : MS_TOK_NORMAL;
    }
    cJSON_ArrayForEach(it, added) {
        int64_t id = 0;
        if (json_id(st_json_get(it, "id"), &id)) continue;
        name[id] = st_json_get(it, "content")->valuestring;
        type[id] = cJSON_IsTrue(st_json_get(it, "special")) ? MS_TOK_CONTROL : MS_TOK_USER_DEFINED;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!name[i]) {
            name[i] = "";
            type[i] = MS_TOK_UNUSED;
        }
        pool += strlen(name[i]) + 1;
    }
    int rc = 0;
    ms_tokenizer *t = NULL;
    if (pool > UINT32_MAX) {
        errf(err, errlen, "%s: vocabulary too large", path);
        rc = MS_ERR_INPUT;
        goto out;
    }
    t = ms_tok_alloc((int)n, (size_t)pool);
    if (!t) goto oom;
    uint32_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t len = strlen(name[i]);
        memcpy(t->pool + off, name[i], len + 1);
        t->piece_off[i] = off;
        t->piece_len[i] = (uint32_t)len;
        off += (uint32_t)len + 1;
        t->types[i] = type[i];
        t->scores[i] = 0.0f;
    }

    /* Byte-level BPE (GPT-2 family): its own normalizers and pre-tokenizers. */
    if (ms_tok_json_is_byte_level(root)) {
        rc = ms_tok_json_byte_level(t, root, model, path, err, errlen);
        if (rc) goto out;
        snprintf(t->prefix_form, sizeof t->prefix_form, "none");
        t->fuse_unk = cJSON_IsTrue(st_json_get(model, "fuse_unk"));
        t->merge = MS_MERGE_RANKS;
        snprintf(t->source, sizeof t->source, "tokenizer.json");
        goto specials;
    }
    /* Normalizer / pre-tokenizer: the two SentencePiece-compatible forms. */
    int prepend = 0, replace = 0, meta = 0, split = 0;
    ms_prefix_kind scheme = MS_PREFIX_NONE;
    rc = read_normalizer(st_json_get(root, "normalizer"), &prepend, &replace, path, err, errlen);
    if (!rc)
        rc = read_pretok(st_json_get(root, "pre_tokenizer"), &meta, &scheme, &split, path, err,
                         errlen);
    if (rc) goto out;
    if (!replace && !meta) {
        errf(err, errlen,
             "%s: spaces are not mapped to \"\xE2\x96\x81\" (no Replace normalizer, no Metaspace "
             "pre-tokenizer): not a SentencePiece-style tokenizer",
             path);
        rc = MS_ERR_INPUT;
        goto out;
    }
    if (prepend) {
        t->prefix = MS_PREFIX_LLAMA;
        snprintf(t->prefix_form, sizeof t->prefix_form, "prepend");
    } else if (meta) {
        t->prefix = scheme;
        snprintf(t->prefix_form, sizeof t->prefix_form, "%s",
                 scheme == MS_PREFIX_META_FIRST    ? "metaspace-first"
                 : scheme == MS_PREFIX_META_ALWAYS ? "metaspace-always"
                                                   : "metaspace-never");
    } else {
        t->prefix = MS_PREFIX_NONE;
        snprintf(t->prefix_form, sizeof t->prefix_form, "none");
    }
    t->add_space_prefix = t->prefix != MS_PREFIX_NONE;
    t->split_words = meta && split;
    const cJSON *bf = st_json_get(model, "byte_fallback");
    t->byte_fallback = cJSON_IsTrue(bf);
    t->fuse_unk = cJSON_IsTrue(st_json_get(model, "fuse_unk"));
    t->merge = MS_MERGE_RANKS;
    snprintf(t->source, sizeof t->source, "tokenizer.json");

    /* Special tokens: tokenizer_config.json, else the post-processor template, else the
     * usual names. */
specials:;
    const cJSON *unk = st_json_get(model, "unk_token");
    const char *bos_name = NULL, *eos_name = NULL;
    read_template(st_json_get(root, "post_processor"), &bos_name, &eos_name);
    int tmpl_bos = bos_name != NULL, tmpl_eos = eos_name != NULL;
    const char *cb = cfg ? config_token(cfg, "bos_token") : NULL;
    const char *ce = cfg ? config_token(cfg, "eos_token") : NULL;
    if (cb) bos_name = cb;
    if (ce) eos_name = ce;
    if (!bos_name) bos_name = "<s>";
    if (!eos_name) eos_name = "</s>";

    if (ms_tok_finish(t, cJSON_GetArraySize(merges))) goto oom;
    if (t->byte_level) {
        ms_tok_byte_ids(t);
        /* Added tokens as tokenizers matches them (leftmost-longest, with their flags). */
        t->added_flags = calloc((size_t)n, 1);
        if (!t->added_flags) goto oom;
        static const struct {
            const char *key;
            uint8_t bit;
        } fk[] = {{"lstrip", MS_ADDED_LSTRIP},
                  {"rstrip", MS_ADDED_RSTRIP},
                  {"single_word", MS_ADDED_SINGLE_WORD},
                  {"normalized", 0},
                  {"special", 0}};
        int k = 0;
        cJSON_ArrayForEach(it, added) {
            int64_t id = 0;
            if (json_id(st_json_get(it, "id"), &id)) continue; /* checked in pass 1 */
            for (size_t f = 0; f < sizeof fk / sizeof *fk; f++) {
                const cJSON *v = st_json_get(it, fk[f].key);
                if (v && !cJSON_IsBool(v)) {
                    errf(err, errlen, "%s: added_tokens[%d].%s must be a boolean (got %s)", path, k,
                         fk[f].key, json_kind(v));
                    rc = MS_ERR_INPUT;
                    goto out;
                }
                if (cJSON_IsTrue(v)) t->added_flags[id] |= fk[f].bit;
            }
            k++;
        }
    }
    t->bos = ms_tok_lookup(t, bos_name, strlen(bos_name));
    t->eos = ms_tok_lookup(t, eos_name, strlen(eos_name));
    if (cJSON_IsString(unk)) {
        t->unk = ms_tok_lookup(t, unk->valuestring, strlen(unk->valuestring));
        if (t->unk >= 0) t->types[t->unk] = MS_TOK_UNKNOWN;
    }
    const cJSON *cab = cfg ? st_json_get(cfg, "add_bos_token") : NULL;
    const cJSON *cae = cfg ? st_json_get(cfg, "add_eos_token") : NULL;
    /* transformers reads these as booleans: "yes" or 1 is a broken config, not "true". */
    const cJSON *flags[2] = {cab, cae};
    for (int k = 0; k < 2; k++) {
        if (flags[k] && !cJSON_IsBool(flags[k]) && !cJSON_IsNull(flags[k])) {
            errf(err, errlen, "%s: field '%s' must be a boolean (got %s)", cfg_path,
                 k ? "add_eos_token" : "add_bos_token", json_kind(flags[k]));
            rc = MS_ERR_INPUT;
            goto out;
        }
    }
    t->add_bos = cJSON_IsBool(cab) ? cJSON_IsTrue(cab) : tmpl_bos;
    t->add_eos = cJSON_IsBool(cae) ? cJSON_IsTrue(cae) : tmpl_eos;
    /* A special token named by tokenizer_config.json, or one the tokenizer must add, that is
     * not in the vocabulary: an error, never a silently dropped BOS. */
    const struct {
        const char *field, *name, *file;
        int32_t id;
        int needed;
    } sp[2] = {{"bos_token", bos_name, cb ? cfg_path : path, t->bos, cb || t->add_bos},
               {"eos_token", eos_name, ce ? cfg_path : path, t->eos, ce || t->add_eos}};
    for (int k = 0; k < 2; k++) {
        if (sp[k].id >= 0 || !sp[k].needed) continue;
        char safe[128];
        ms_text_safe(sp[k].name, safe, sizeof safe);
        errf(err, errlen, "%s: %s \"%s\" is not in the vocabulary of %s", sp[k].file, sp[k].field,
             safe, path);
        rc = MS_ERR_INPUT;
        goto out;
    }

    /* Merges in rank order: priority -rank; a piece's score is its best rank. */
    for (int64_t i = 0; i < n; i++)
        t->scores[i] = -1e9f;
    int rank = 0;
    cJSON_ArrayForEach(it, merges) {
        const char *a, *b;
        size_t an, bn;
        if (merge_parts(it, &a, &an, &b, &bn)) {
            errf(err, errlen, "%s: model.merges[%d] is not a pair of pieces", path, rank);
            rc = MS_ERR_INPUT;
            goto out;
        }
        int32_t l = ms_tok_lookup(t, a, an), r = ms_tok_lookup(t, b, bn);
        char stack[256];
        char *ab = an + bn <= sizeof stack ? stack : malloc(an + bn);
        if (!ab) goto oom;
        memcpy(ab, a, an);
        memcpy(ab + an, b, bn);
        int32_t m = ms_tok_lookup(t, ab, an + bn);
        if (ab != stack) free(ab);
        if (l < 0 || r < 0 || m < 0) {
            errf(err, errlen,
                 "%s: model.merges[%d] (\"%.*s\", \"%.*s\") uses a piece that is not "
                 "in the vocabulary",
                 path, rank, (int)(an > 40 ? 40 : an), a, (int)(bn > 40 ? 40 : bn), b);
            rc = MS_ERR_INPUT;
            goto out;
        }
        float prio = -(float)rank;
        if (ms_tok_add_pair(t, l, r, m, prio)) goto oom;
        if (t->scores[m] < prio) t->scores[m] = prio;
        rank++;
    }
    for (int64_t i = 0; i < n; i++)
        if (t->types[i] != MS_TOK_NORMAL) t->scores[i] = 0.0f;
    goto out;
oom:
    errf(err, errlen, "%s: out of memory", path);
    rc = MS_ERR_RUNTIME;
out:
    free(name);
    free(type);
    if (rc) {
        ms_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int ms_tokenizer_from_json_file(ms_tokenizer **out, const char *path, char *err, size_t errlen) {
    *out = NULL;
    int rc;
    cJSON *root = parse_json_file(path, err, errlen, &rc);
    if (!root) return rc;
    /* tokenizer_config.json beside it, when present. */
    cJSON *cfg = NULL;
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    char *cpath = malloc(dlen + sizeof "tokenizer_config.json");
    if (!cpath) {
        cJSON_Delete(root);
        return MS_ERR_RUNTIME;
    }
    memcpy(cpath, path, dlen);
    strcpy(cpath + dlen, "tokenizer_config.json");
    /* Present in any form (a FIFO or a directory too): then it must read as JSON. */
    struct stat cst;
    if (lstat(cpath, &cst) == 0) {
        cfg = parse_json_file(cpath, err, errlen, &rc);
        if (!cfg) {
            free(cpath);
            cJSON_Delete(root);
            return rc;
        }
    }
    rc = tokenizer_from_json(out, root, cfg, cfg ? cpath : NULL, path, err, errlen);
    free(cpath);
    cJSON_Delete(cfg);
    cJSON_Delete(root);
    return rc;
}

int ms_tokenizer_from_json_mem(ms_tokenizer **out, const char *data, size_t len, const char *name,
                               char *err, size_t errlen) {
    *out = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (!root) {
        errf(err, errlen, "%s: not valid JSON (near byte %zu)", name,
             end && end >= data ? (size_t)(end - data) : (size_t)0);
        return MS_ERR_INPUT;
    }
    int rc = tokenizer_from_json(out, root, NULL, NULL, name, err, errlen);
    cJSON_Delete(root);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * tokenizer.json writer.
 */

typedef struct merge_rec {
    int32_t l, r;
    float score;
    int32_t lcp, rcp; /* lengths in code points (Python's len) */
    int64_t seq;      /* position before the stable sort */
} merge_rec;

static int cmp_merge(const void *pa, const void *pb) {
    const merge_rec *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->lcp != b->lcp) return a->lcp > b->lcp ? -1 : 1;
    if (a->rcp != b->rcp) return a->rcp > b->rcp ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int cmp_local(const void *pa, const void *pb) {
    const merge_rec *a = pa, *b = pb;
    if (a->l != b->l) return a->l < b->l ? -1 : 1;
    return a->r < b->r ? -1 : a->r > b->r;
}

static int32_t cp_count(const char *s, size_t n) {
    int32_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((uint8_t)s[i] & 0xC0) != 0x80;
    return c;
}

/* generate_merges of transformers (see the file comment). *out is malloc'ed. */
static int derive_merges(const ms_tokenizer *t, merge_rec **out, int64_t *n_out) {
    int64_t cap = 1024, n = 0;
    merge_rec *m = malloc((size_t)cap * sizeof *m);
    if (!m) return MS_ERR_RUNTIME;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const char *s = ms_tok_piece(t, id);
        uint32_t len = t->piece_len[id];
        if (t->types[id] == MS_TOK_UNUSED || len < 2 || ms_tok_lookup(t, s, len) != id) continue;
        int64_t first = n;
        for (uint32_t k = 1; k < len; k++) {
            if (((uint8_t)s[k] & 0xC0) == 0x80) continue; /* character boundaries only */
            int32_t l = ms_tok_lookup(t, s, k), r = ms_tok_lookup(t, s + k, len - k);
            if (l < 0 || r < 0) continue;
            if (n == cap) {
                cap *= 2;
                merge_rec *g = realloc(m, (size_t)cap * sizeof *m);
                if (!g) {
                    free(m);
                    return MS_ERR_RUNTIME;
                }
                m = g;
            }
            m[n++] = (merge_rec){l, r, t->scores[id], cp_count(s, k), cp_count(s + k, len - k), 0};
        }
        qsort(m + first, (size_t)(n - first), sizeof *m, cmp_local);
    }
    for (int64_t i = 0; i < n; i++)
        m[i].seq = i;
    qsort(m, (size_t)n, sizeof *m, cmp_merge);
    *out = m;
    *n_out = n;
    return 0;
}

static cJSON *special_token_json(const ms_tokenizer *t, int32_t id) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", ms_tok_piece(t, id));
    cJSON *ids = cJSON_AddArrayToObject(o, "ids");
    cJSON_AddItemToArray(ids, cJSON_CreateNumber(id));
    cJSON *toks = cJSON_AddArrayToObject(o, "tokens");
    cJSON_AddItemToArray(toks, cJSON_CreateString(ms_tok_piece(t, id)));
    return o;
}

static cJSON *template_item(const char *special, const char *seq, int type_id) {
    cJSON *o = cJSON_CreateObject(), *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "id", special ? special : seq);
    cJSON_AddNumberToObject(in, "type_id", type_id);
    cJSON_AddItemToObject(o, special ? "SpecialToken" : "Sequence", in);
    return o;
}

static cJSON *build_template(const ms_tokenizer *t, int pair) {
    cJSON *a = cJSON_CreateArray();
    const char *bos = t->add_bos && t->bos >= 0 ? ms_tok_piece(t, t->bos) : NULL;
    const char *eos = t->add_eos && t->eos >= 0 ? ms_tok_piece(t, t->eos) : NULL;
    for (int s = 0; s < (pair ? 2 : 1); s++) {
        if (bos) cJSON_AddItemToArray(a, template_item(bos, NULL, s));
        cJSON_AddItemToArray(a, template_item(NULL, s ? "B" : "A", s));
        if (eos) cJSON_AddItemToArray(a, template_item(eos, NULL, s));
    }
    return a;
}

/* Through ms_outfile: a temporary name renamed into place, never onto a registered input. */
static int write_text(const char *path, const char *text, char *err, size_t errlen) {
    ms_outfile o;
    int rc = ms_outfile_open(&o, path, err, errlen);
    if (rc) return rc;
    fputs(text, o.f);
    fputc('\n', o.f); /* errors are caught by commit (flag + flush) */
    return ms_outfile_commit(&o, err, errlen);
}

static cJSON *replace_json(const char *pattern, const char *content) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "Replace");
    cJSON *p = cJSON_AddObjectToObject(o, "pattern");
    cJSON_AddStringToObject(p, "String", pattern);
    cJSON_AddStringToObject(o, "content", content);
    return o;
}

/* The start of a written tokenizer.json: version, no truncation or padding, and the control,
 * unknown and user-defined pieces as added tokens (special unless user-defined). */
/* The post-processor of a written tokenizer.json: BOS/EOS added as the tokenizer adds them. */
static void add_post_processor(cJSON *root, const ms_tokenizer *t) {
    cJSON *pp = cJSON_AddObjectToObject(root, "post_processor");
    cJSON_AddStringToObject(pp, "type", "TemplateProcessing");
    cJSON_AddItemToObject(pp, "single", build_template(t, 0));
    cJSON_AddItemToObject(pp, "pair", build_template(t, 1));
    cJSON *sts = cJSON_AddObjectToObject(pp, "special_tokens");
    if (t->add_bos && t->bos >= 0)
        cJSON_AddItemToObject(sts, ms_tok_piece(t, t->bos), special_token_json(t, t->bos));
    if (t->add_eos && t->eos >= 0 && t->eos != t->bos)
        cJSON_AddItemToObject(sts, ms_tok_piece(t, t->eos), special_token_json(t, t->eos));
}

static cJSON *json_root_with_added(const ms_tokenizer *t) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int32_t i = 0; i < t->n_vocab; i++) {
        int ty = t->types[i];
        if (ty != MS_TOK_CONTROL && ty != MS_TOK_UNKNOWN && ty != MS_TOK_USER_DEFINED) continue;
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", i);
        cJSON_AddStringToObject(a, "content", ms_tok_piece(t, i));
        cJSON_AddBoolToObject(a, "single_word", 0);
        cJSON_AddBoolToObject(a, "lstrip", 0);
        cJSON_AddBoolToObject(a, "rstrip", 0);
        cJSON_AddBoolToObject(a, "normalized", 0);
        cJSON_AddBoolToObject(a, "special", ty != MS_TOK_USER_DEFINED);
        cJSON_AddItemToArray(added, a);
    }
    return root;
}

static int write_config_json(const ms_tokenizer *t, const char *path, int legacy, char *err,
                             size_t errlen);

/* Byte-level: the GGUF pre-type's patterns as Split(Isolated) steps before ByteLevel without
 * its own regex — the same words as llama.cpp's unicode_regex_split — and the merges in rank
 * order. */
static int write_json_byte_level(const ms_tokenizer *t, const char *path, char *err,
                                 size_t errlen) {
    if (!t->pre_rx) {
        errf(err, errlen, "%s: only a byte-level tokenizer read from GGUF can be written", path);
        return MS_ERR_INPUT;
    }
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (ms_utf8_valid_prefix(ms_tok_piece(t, i), t->piece_len[i]) != t->piece_len[i]) {
            errf(err, errlen, "%s: piece %d is not valid UTF-8; it cannot be written to JSON", path,
                 i);
            return MS_ERR_INPUT;
        }
    }
    int32_t *ml, *mr;
    int64_t nm;
    if (ms_tok_merges_ranked(t, &ml, &mr, &nm)) {
        errf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    cJSON *root = json_root_with_added(t);
    cJSON_AddNullToObject(root, "normalizer");
    cJSON *pt = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pt, "type", "Sequence");
    cJSON *pts = cJSON_AddArrayToObject(pt, "pretokenizers");
    for (int k = 0; k < 6 && t->pre_rx[k]; k++) {
        cJSON *sp = cJSON_CreateObject();
        cJSON_AddStringToObject(sp, "type", "Split");
        cJSON *pat = cJSON_AddObjectToObject(sp, "pattern");
        cJSON_AddStringToObject(pat, "Regex", t->pre_rx[k]);
        cJSON_AddStringToObject(sp, "behavior", "Isolated");
        cJSON_AddBoolToObject(sp, "invert", 0);
        cJSON_AddItemToArray(pts, sp);
    }
    cJSON *bl = cJSON_CreateObject();
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddBoolToObject(bl, "add_prefix_space", 0);
    cJSON_AddBoolToObject(bl, "trim_offsets", 1);
    cJSON_AddBoolToObject(bl, "use_regex", 0);
    cJSON_AddItemToArray(pts, bl);
    add_post_processor(root, t);
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(dec, "type", "ByteLevel");
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", t->ignore_merges);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->types[i] == MS_TOK_NORMAL &&
            ms_tok_lookup(t, ms_tok_piece(t, i), t->piece_len[i]) == i)
            cJSON_AddItemToObject(vocab, ms_tok_piece(t, i), cJSON_CreateNumber(i));
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    for (int64_t i = 0; i < nm; i++) {
        cJSON *pr = cJSON_CreateArray();
        cJSON_AddItemToArray(pr, cJSON_CreateString(ms_tok_piece(t, ml[i])));
        cJSON_AddItemToArray(pr, cJSON_CreateString(ms_tok_piece(t, mr[i])));
        cJSON_AddItemToArray(merges, pr);
    }
    free(ml);
    free(mr);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) {
        errf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    int rc = write_text(path, text, err, errlen);
    free(text);
    if (rc) return rc;
    return write_config_json(t, path, 0, err, errlen);
}

int ms_tokenizer_write_json(const ms_tokenizer *t, const char *path, char *err, size_t errlen) {
    if (t->byte_level) return write_json_byte_level(t, path, err, errlen);
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (ms_utf8_valid_prefix(ms_tok_piece(t, i), t->piece_len[i]) != t->piece_len[i]) {
            errf(err, errlen, "%s: piece %d is not valid UTF-8; it cannot be written to JSON", path,
                 i);
            return MS_ERR_INPUT;
        }
    }
    merge_rec *mr = NULL;
    int64_t n_merges = 0;
    if (derive_merges(t, &mr, &n_merges)) {
        errf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    int space_in_piece = 0;
    for (int32_t i = 0; i < t->n_vocab && !space_in_piece; i++)
        space_in_piece = memchr(ms_tok_piece(t, i), ' ', t->piece_len[i]) != NULL;

    const char *meta = "\xE2\x96\x81";
    cJSON *root = json_root_with_added(t);
    /* The "legacy" Llama form: Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer. */
    cJSON *nz = cJSON_AddObjectToObject(root, "normalizer");
    cJSON_AddStringToObject(nz, "type", "Sequence");
    cJSON *nzs = cJSON_AddArrayToObject(nz, "normalizers");
    if (t->add_space_prefix) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "Prepend");
        cJSON_AddStringToObject(p, "prepend", meta);
        cJSON_AddItemToArray(nzs, p);
    }
    cJSON_AddItemToArray(nzs, replace_json(" ", meta));
    cJSON_AddNullToObject(root, "pre_tokenizer");
    add_post_processor(root, t);
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(dec, "type", "Sequence");
    cJSON *decs = cJSON_AddArrayToObject(dec, "decoders");
    cJSON_AddItemToArray(decs, replace_json(meta, " "));
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "type", "ByteFallback");
    cJSON_AddItemToArray(decs, d);
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "type", "Fuse");
    cJSON_AddItemToArray(decs, d);
    if (t->add_space_prefix) {
        d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "type", "Strip");
        cJSON_AddStringToObject(d, "content", " ");
        cJSON_AddNumberToObject(d, "start", 1);
        cJSON_AddNumberToObject(d, "stop", 0);
        cJSON_AddItemToArray(decs, d);
    }
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    if (t->unk >= 0)
        cJSON_AddStringToObject(model, "unk_token", ms_tok_piece(t, t->unk));
    else
        cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 1);
    cJSON_AddBoolToObject(model, "byte_fallback", t->byte_fallback);
    cJSON_AddBoolToObject(model, "ignore_merges", 0);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (t->types[i] == MS_TOK_UNUSED && t->piece_len[i] == 0) continue;
        cJSON_AddItemToObject(vocab, ms_tok_piece(t, i), cJSON_CreateNumber(i));
    }
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    char stack[512];
    for (int64_t i = 0; i < n_merges; i++) {
        const char *a = ms_tok_piece(t, mr[i].l), *b = ms_tok_piece(t, mr[i].r);
        if (space_in_piece) {
            cJSON *pr = cJSON_CreateArray();
            cJSON_AddItemToArray(pr, cJSON_CreateString(a));
            cJSON_AddItemToArray(pr, cJSON_CreateString(b));
            cJSON_AddItemToArray(merges, pr);
            continue;
        }
        size_t need = t->piece_len[mr[i].l] + t->piece_len[mr[i].r] + 2;
        char *s = need <= sizeof stack ? stack : malloc(need);
        if (!s) break;
        snprintf(s, need, "%s %s", a, b);
        cJSON_AddItemToArray(merges, cJSON_CreateString(s));
        if (s != stack) free(s);
    }
    free(mr);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) {
        errf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    int rc = write_text(path, text, err, errlen);
    free(text);
    if (rc) return rc;

    return write_config_json(t, path, 1, err, errlen);
}

/* tokenizer_config.json beside path: what transformers reads for BOS/EOS handling. */
static int write_config_json(const ms_tokenizer *t, const char *path, int legacy, char *err,
                             size_t errlen) {
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddBoolToObject(cfg, "add_bos_token", t->add_bos && t->bos >= 0);
    cJSON_AddBoolToObject(cfg, "add_eos_token", t->add_eos && t->eos >= 0);
    if (t->bos >= 0) cJSON_AddStringToObject(cfg, "bos_token", ms_tok_piece(t, t->bos));
    if (t->eos >= 0) cJSON_AddStringToObject(cfg, "eos_token", ms_tok_piece(t, t->eos));
    if (t->unk >= 0) cJSON_AddStringToObject(cfg, "unk_token", ms_tok_piece(t, t->unk));
    if (legacy) {
        cJSON_AddBoolToObject(cfg, "legacy", 1);
        cJSON_AddBoolToObject(cfg, "add_prefix_space", t->add_space_prefix);
    }
    cJSON_AddBoolToObject(cfg, "clean_up_tokenization_spaces", 0);
    cJSON_AddStringToObject(cfg, "tokenizer_class",
                            legacy ? "LlamaTokenizer" : "PreTrainedTokenizerFast");
    char *text = cJSON_Print(cfg);
    cJSON_Delete(cfg);
    if (!text) return MS_ERR_RUNTIME;
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    char *cpath = malloc(dlen + sizeof "tokenizer_config.json");
    if (!cpath) {
        free(text);
        return MS_ERR_RUNTIME;
    }
    memcpy(cpath, path, dlen);
    strcpy(cpath + dlen, "tokenizer_config.json");
    int rc = write_text(cpath, text, err, errlen);
    free(cpath);
    free(text);
    return rc;
}
