/* tokenizer_bpe.c — byte-level BPE (the GPT-2 family: Llama 3, Qwen, DeepSeek, OLMo, GPT-OSS):
 * the byte-to-unicode mapping, the pre-tokenizer table (tokenizer.ggml.pre -> regexes, as
 * llama.cpp's llm_tokenizer_bpe lists them), the regex splitter (Oniguruma, the engine Hugging
 * Face tokenizers runs), the input cleaning of invalid UTF-8, and the byte-level part of the
 * GGUF reader. Encoding itself (merge heap, output) is tokenizer.c's, shared with SentencePiece.
 *
 * Every pre-tokenizer is a list of patterns applied one after the other: each pattern cuts every
 * current word into its matches and the text between them (llama.cpp's unicode_regex_split;
 * Hugging Face's Split with behaviour Isolated). Patterns see one word at a time (a look-ahead
 * stops at the word's end), as in both libraries. */
#include "msutil.h"
#include "tokenizer_impl.h"
#include "tokenizer_int.h"

#include <oniguruma.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Pre-tokenizer table: every name spelled once. Patterns are llama.cpp's (its "adapted" forms
 * where it rewrote a tokenizer.json pattern), so a GGUF tokenizes as llama.cpp does.
 */

#define RX_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RX_GPT2         "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_LLAMA3                                                                                  \
    RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"   \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                                                   \
    RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"        \
                    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_GPT4O_LETTERS                                                                           \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" RX_CONTRACTIONS         \
    "?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" RX_CONTRACTIONS "?|"

typedef struct pre_def {
    const char *names; /* tokenizer.ggml.pre values, '|'-separated */
    const char *rx[6]; /* applied in order; NULL-terminated */
    int ignore_merges; /* a word that is a piece is one token (llama.cpp's ignore_merges) */
    int add_bos;       /* default of tokenizer.ggml.add_bos_token */
} pre_def;

static const pre_def PRE_DEFS[] = {
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, 0, 0},
    {"llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral", {RX_LLAMA3}, 1, 1},
    {"dbrx|smaug-bpe", {RX_LLAMA3}, 0, 0},
    {"deepseek-llm",
     {"[\r\n]",
      "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-"
      "\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-"
      "\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-"
      "\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-"
      "\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-"
      "\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-"
      "\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-"
      "\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-"
      "\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-"
      "\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-"
      "\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3\U000104D8-"
      "\U000104FB\U00010C80-\U00010CB2\U00010CC0-\U00010CF2\U000118A0-\U000118DF\U0001E900-"
      "\U0001E943]+",
      "\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+", "\\s+$",
      "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+", "\\p{N}+"},
     0,
     0},
    {"deepseek-coder",
     {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+",
      "\\p{N}"},
     0,
     0},
    {"deepseek-v3",
     {"\\p{N}{1,3}", "[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+",
      "[!\"#$%&'()*+,\\-./"
      ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
      "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},
     0,
     0},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]"}, 0, 0},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", {"\\p{N}", RX_GPT2}, 0, 0},
    {"gpt-2|phi-2|mpt|olmo|jais|trillion|granite-docling|exaone4|a.x-4.0|mellum", {RX_GPT2}, 0, 0},
    {"qwen2|stablelm2|deepseek-r1-qwen|megrez|hunyuan", {RX_QWEN2}, 0, 0},
    {"qwen35",
     {RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+"
                      "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     0,
     0},
    {"chatglm-bpe|glm4", {RX_LLAMA3}, 0, 0},
    {"gpt-4o|llama4",
     {RX_GPT4O_LETTERS
      "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     0,
     0},
    {"seed-coder",
     {RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|"
                      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     0,
     0},
    {"bailingmoe|bailingmoe2|llada-moe",
     {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"},
     0,
     0},
};

static int name_in(const char *names, const char *s, size_t n) {
    for (const char *p = names; *p;) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, s, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* The supported names, for error messages: "default, llama3, llama-v3, ...". */
static void list_names(char *out, size_t cap) {
    size_t k = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof PRE_DEFS / sizeof *PRE_DEFS; i++) {
        for (const char *p = PRE_DEFS[i].names; *p && k + 2 < cap; p++) {
            if (k > 0 && p == PRE_DEFS[i].names) k += (size_t)snprintf(out + k, cap - k, ", ");
            if (k + 2 >= cap) break;
            if (*p == '|') {
                k += (size_t)snprintf(out + k, cap - k, ", ");
            } else {
                out[k++] = *p;
                out[k] = 0;
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * Regex lists (Oniguruma). onig_search on a compiled regex_t is reentrant (the match stack
 * and region belong to the call), so a tokenizer stays shareable between threads.
 */

struct ms_tok_pretok {
    int n;
    regex_t *rx[16];
};

static pthread_once_t onig_once = PTHREAD_ONCE_INIT;
static void onig_setup(void) {
    OnigEncoding enc[1] = {ONIG_ENCODING_UTF8};
    onig_initialize(enc, 1);
}

void ms_tok_pretok_free(ms_tok_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++)
        onig_free(p->rx[i]);
    free(p);
}

int ms_tok_pretok_add(ms_tok_pretok **pp, const char *pattern, size_t len, char *msg, size_t cap) {
    pthread_once(&onig_once, onig_setup);
    if (!*pp) {
        *pp = calloc(1, sizeof **pp);
        if (!*pp) {
            snprintf(msg, cap, "out of memory");
            return MS_ERR_RUNTIME;
        }
    }
    ms_tok_pretok *p = *pp;
    if (p->n == (int)(sizeof p->rx / sizeof *p->rx)) {
        snprintf(msg, cap, "more than %d split patterns", p->n);
        return MS_ERR_INPUT;
    }
    if (ms_utf8_valid_prefix(pattern, len) != len) {
        snprintf(msg, cap, "pattern is not valid UTF-8");
        return MS_ERR_INPUT;
    }
    OnigErrorInfo einfo;
    regex_t *rx = NULL;
    int r = onig_new(&rx, (const OnigUChar *)pattern, (const OnigUChar *)pattern + len,
                     ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &einfo);
    if (r != ONIG_NORMAL) {
        OnigUChar s[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(s, r, &einfo);
        snprintf(msg, cap, "bad regex: %s", (const char *)s);
        return r == ONIGERR_MEMORY ? MS_ERR_RUNTIME : MS_ERR_INPUT;
    }
    p->rx[p->n++] = rx;
    return 0;
}

/* Cuts s[0..n) (valid UTF-8) into words; spans gets (start, end) pairs. */
int ms_tok_pretok_split(const ms_tok_pretok *p, const char *s, int64_t n, ms_tok_spans *sp) {
    sp->n = 0;
    if (n == 0) return 0;
    if (ms_tok_spans_push(sp, 0, n)) return MS_ERR_RUNTIME;
    if (!p) return 0;
    OnigRegion *region = onig_region_new();
    if (!region) return MS_ERR_RUNTIME;
    ms_tok_spans next = {0};
    int rc = 0;
    const OnigUChar *base = (const OnigUChar *)s;
    for (int k = 0; k < p->n && !rc; k++) {
        next.n = 0;
        for (int64_t i = 0; i < sp->n && !rc; i++) {
            int64_t a = sp->v[2 * i], b = sp->v[2 * i + 1], pos = a, from = a;
            const OnigUChar *end = base + b;
            while (from < b && !rc) {
                int r = onig_search(p->rx[k], base + a, end, base + from, end, region,
                                    ONIG_OPTION_NONE);
                if (r < 0) break; /* ONIG_MISMATCH (or an engine limit: keep the rest whole) */
                int64_t ms = a + region->beg[0], me = a + region->end[0];
                if (me == ms) { /* an empty match makes no word: search on from the next char */
                    from = ms + 1;
                    while (from < b && ((uint8_t)s[from] & 0xC0) == 0x80)
                        from++;
                    continue;
                }
                if (ms > pos && ms_tok_spans_push(&next, pos, ms)) rc = MS_ERR_RUNTIME;
                if (ms_tok_spans_push(&next, ms, me)) rc = MS_ERR_RUNTIME;
                pos = from = me;
            }
            if (!rc && pos < b && ms_tok_spans_push(&next, pos, b)) rc = MS_ERR_RUNTIME;
        }
        ms_tok_spans t = *sp;
        *sp = next;
        next = t;
    }
    free(next.v);
    onig_region_free(region, 1);
    return rc;
}

int ms_tok_spans_push(ms_tok_spans *sp, int64_t a, int64_t b) {
    if (sp->n == sp->cap) {
        int64_t cap = sp->cap ? sp->cap * 2 : 256;
        int64_t *v = realloc(sp->v, (size_t)cap * 2 * sizeof *v);
        if (!v) return -1;
        sp->v = v;
        sp->cap = cap;
    }
    sp->v[2 * sp->n] = a;
    sp->v[2 * sp->n + 1] = b;
    sp->n++;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Byte-to-unicode (GPT-2's bytes_to_unicode): printable Latin-1 bytes stand for themselves,
 * the other 68 bytes for U+0100.. in byte order.
 */

static uint32_t byte_cp(int b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        return (uint32_t)b;
    int n = 0;
    for (int c = 0; c < b; c++)
        n += !((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF));
    return 256u + (uint32_t)n;
}

void ms_tok_byte_map_init(ms_tokenizer *t) {
    for (int i = 0; i < MS_TOK_BYTE_CPS; i++)
        t->cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = byte_cp(b);
        t->cp_byte[cp] = (int16_t)b;
        if (cp < 0x80) {
            t->byte_utf8[b][0] = (char)cp;
            t->byte_utf8_len[b] = 1;
        } else {
            t->byte_utf8[b][0] = (char)(0xC0 | (cp >> 6));
            t->byte_utf8[b][1] = (char)(0x80 | (cp & 0x3F));
            t->byte_utf8_len[b] = 2;
        }
    }
}

/* Ids of the 256 one-character pieces, once the piece hash exists. */
void ms_tok_byte_ids(ms_tokenizer *t) {
    for (int b = 0; b < 256; b++)
        t->bl_id[b] = ms_tok_lookup(t, t->byte_utf8[b], t->byte_utf8_len[b]);
}

/* ---------------------------------------------------------------------------------------
 * Invalid UTF-8, llama.cpp's way (unicode_cpts_from_utf8): a lead byte with its continuation
 * bytes is one character (overlong forms and surrogates included); any other byte is U+FFFD.
 * The output is re-encoded so the regex engine sees well-formed sequences. dst needs 3n.
 */
static size_t put_cp(char *d, uint32_t cp) {
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD; /* not matchable */
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t ms_tok_clean_llama(const char *src, size_t n, char *dst) {
    const uint8_t *s = (const uint8_t *)src;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t ok = ms_utf8_valid_prefix(src + i, n - i); /* the common case: copy runs */
        if (ok) {
            memcpy(dst + o, src + i, ok);
            o += ok;
            i += ok;
            continue;
        }
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : c < 0xC0 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF8 ? 4 : 0;
        int good = len > 0 && i + len <= n;
        for (size_t k = 1; good && k < len; k++)
            good = (s[i + k] & 0xC0) == 0x80;
        if (!good) {
            o += put_cp(dst + o, 0xFFFD);
            i++;
            continue;
        }
        uint32_t cp = len == 2   ? (uint32_t)(c & 0x1F)
                      : len == 3 ? (uint32_t)(c & 0x0F)
                                 : (uint32_t)(c & 0x07);
        for (size_t k = 1; k < len; k++)
            cp = (cp << 6) | (s[i + k] & 0x3F);
        o += put_cp(dst + o, cp);
        i += len;
    }
    return o;
}

/* ---------------------------------------------------------------------------------------
 * GGUF: tokenizer.ggml.model "gpt2".
 */

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    ms_text_safe_inplace(err, errlen);
}

int ms_tok_gguf_byte_level(ms_tokenizer *t, const gguf_file *g, char *err, size_t errlen) {
    const char *path = gguf_path(g);
    gguf_str pre = {0};
    if (gguf_get_str(g, "tokenizer.ggml.pre", &pre) != 0) {
        pre.p = "default";
        pre.n = 7;
    }
    const pre_def *d = NULL;
    for (size_t i = 0; i < sizeof PRE_DEFS / sizeof *PRE_DEFS && !d; i++)
        if (name_in(PRE_DEFS[i].names, pre.p, pre.n)) d = &PRE_DEFS[i];
    if (!d) {
        char names[1024];
        list_names(names, sizeof names);
        errf(err, errlen, "%s: tokenizer.ggml.pre '%.*s' is not supported (supported: %s)", path,
             (int)(pre.n > 48 ? 48 : pre.n), pre.p, names);
        return MS_ERR_INPUT;
    }
    snprintf(t->pre_name, sizeof t->pre_name, "%.*s", (int)(pre.n > 31 ? 31 : pre.n), pre.p);
    char msg[256];
    for (int k = 0; k < 6 && d->rx[k]; k++) {
        int rc = ms_tok_pretok_add(&t->pre, d->rx[k], strlen(d->rx[k]), msg, sizeof msg);
        if (rc) {
            errf(err, errlen, "%s: pre-tokenizer '%s': %s", path, t->pre_name, msg);
            return rc;
        }
    }
    t->ignore_merges = d->ignore_merges;
    int b;
    t->add_bos = gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) == 0 ? b : d->add_bos;
    t->add_eos = gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b) == 0 ? b : 0;
    t->byte_level = 1;
    t->add_space_prefix = 0;
    t->prefix = MS_PREFIX_NONE;
    t->byte_fallback = 0;
    t->llama_bytes = 1;
    t->merge = MS_MERGE_RANKS;
    ms_tok_byte_map_init(t);

    gguf_vtype et;
    uint64_t nm = 0;
    if (gguf_get_arr(g, "tokenizer.ggml.merges", &et, &nm) != 0 || et != GGUF_T_STRING) {
        errf(err, errlen, "%s: tokenizer.ggml.merges missing or not an array of strings", path);
        return MS_ERR_INPUT;
    }
    if (nm > (uint64_t)1 << 24) /* ranks stay exact as float priorities */ {
        errf(err, errlen, "%s: tokenizer.ggml.merges has %llu entries", path,
             (unsigned long long)nm);
        return MS_ERR_INPUT;
    }
    if (ms_tok_finish(t, (int64_t)nm)) goto oom;
    ms_tok_byte_ids(t);
    char stack[512];
    for (uint64_t i = 0; i < nm; i++) {
        gguf_str m = gguf_arr_str(g, "tokenizer.ggml.merges", i);
        /* llama.cpp: split at the first space after the first byte */
        const char *sp = m.n > 1 ? memchr(m.p + 1, ' ', m.n - 1) : NULL;
        if (!sp) continue; /* llama.cpp files it as ("", ""), which never matches */
        size_t an = (size_t)(sp - m.p), bn = m.n - an - 1;
        int32_t l = ms_tok_lookup(t, m.p, an), r = ms_tok_lookup(t, sp + 1, bn);
        if (l < 0 || r < 0 || an + bn > sizeof stack) continue;
        memcpy(stack, m.p, an);
        memcpy(stack + an, sp + 1, bn);
        int32_t id = ms_tok_lookup(t, stack, an + bn);
        /* A merge whose result is not a piece: llama.cpp would merge and then spell the
         * result byte by byte; no vocabulary tested has one. */
        if (id < 0) continue;
        if (ms_tok_add_pair(t, l, r, id, -(float)i)) goto oom;
    }
    return 0;
oom:
    errf(err, errlen, "%s: out of memory building the tokenizer", path);
    return MS_ERR_RUNTIME;
}
