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

#include "safetensors.h" /* st_json_get */

#include <cjson/cJSON.h>
#include <oniguruma.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

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

/* The model's own pattern (its tokenizer.json's, tiktoken's) where llama.cpp's rewrite above
 * splits some texts differently; used with MS_TOKENIZE_ORIGINAL_REGEX. o200k (gpt-4o, GPT-OSS):
 * llama.cpp's letter classes leave out the combining marks (\p{M}) and take any non-ASCII letter
 * as both upper and lower case. */
static const struct {
    const char *names, *rx;
} PRE_ORIG[] = {
    {"gpt-4o",
     "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
     "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
     "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
     "[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
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
    regex_t *rx[16];  /* NULL for a prefix-space step */
    uint8_t kind[16]; /* MS_PRE_* */
};

static pthread_once_t onig_once = PTHREAD_ONCE_INIT;
static void onig_setup(void) {
    OnigEncoding enc[1] = {ONIG_ENCODING_UTF8};
    onig_initialize(enc, 1);
}

void ms_tok_pretok_free(ms_tok_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++)
        if (p->rx[i]) onig_free(p->rx[i]);
    free(p);
}

int ms_tok_pretok_add(ms_tok_pretok **pp, const char *pattern, size_t len, char *msg, size_t cap) {
    return ms_tok_pretok_step(pp, MS_PRE_ISOLATED, pattern, len, 0, msg, cap);
}

int ms_tok_pretok_step(ms_tok_pretok **pp, int kind, const char *pattern, size_t len, int literal,
                       char *msg, size_t cap) {
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
    if (kind == MS_PRE_PREFIX) {
        p->rx[p->n] = NULL;
        p->kind[p->n++] = (uint8_t)kind;
        return 0;
    }
    if (ms_utf8_valid_prefix(pattern, len) != len) {
        snprintf(msg, cap, "pattern is not valid UTF-8");
        return MS_ERR_INPUT;
    }
    OnigErrorInfo einfo;
    regex_t *rx = NULL;
    /* A Split with a String pattern matches that text literally (ONIG_SYNTAX_ASIS). */
    int r = onig_new(&rx, (const OnigUChar *)pattern, (const OnigUChar *)pattern + len,
                     ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                     literal ? ONIG_SYNTAX_ASIS : ONIG_SYNTAX_DEFAULT, &einfo);
    if (r != ONIG_NORMAL) {
        OnigUChar s[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(s, r, &einfo);
        snprintf(msg, cap, "bad regex: %s", (const char *)s);
        return r == ONIGERR_MEMORY ? MS_ERR_RUNTIME : MS_ERR_INPUT;
    }
    p->rx[p->n] = rx;
    p->kind[p->n++] = (uint8_t)kind;
    return 0;
}

/* Cuts s[0..n) (valid UTF-8) into words; spans gets (start, end) pairs into *text, which is s
 * unless a prefix-space step rebuilt the text into *aux (grown as needed). */
int ms_tok_pretok_split(const ms_tok_pretok *p, const char *s, int64_t n, ms_tok_spans *sp,
                        char **aux, int64_t *aux_cap, const char **text) {
    sp->n = 0;
    *text = s;
    if (n == 0) return 0;
    if (ms_tok_spans_push(sp, 0, n)) return MS_ERR_RUNTIME;
    if (!p) return 0;
    OnigRegion *region = onig_region_new();
    if (!region) return MS_ERR_RUNTIME;
    ms_tok_spans next = {0};
    int rc = 0;
    for (int k = 0; k < p->n && !rc; k++) {
        next.n = 0;
        if (p->kind[k] == MS_PRE_PREFIX) {
            /* Hugging Face ByteLevel add_prefix_space: " " before every word that does not
             * start with one. Words are copied into *aux (never re-entered: one such step). */
            const char *cur = *text;
            int64_t need = 0;
            for (int64_t i = 0; i < sp->n; i++)
                need += sp->v[2 * i + 1] - sp->v[2 * i] + 1;
            if (need > *aux_cap) {
                char *g = realloc(*aux, (size_t)need);
                if (!g) {
                    rc = MS_ERR_RUNTIME;
                    break;
                }
                *aux = g;
                *aux_cap = need;
            }
            int64_t o = 0;
            for (int64_t i = 0; i < sp->n && !rc; i++) {
                int64_t a = sp->v[2 * i], b = sp->v[2 * i + 1], start = o;
                if (cur[a] != ' ') (*aux)[o++] = ' ';
                memcpy(*aux + o, cur + a, (size_t)(b - a));
                o += b - a;
                if (ms_tok_spans_push(&next, start, o)) rc = MS_ERR_RUNTIME;
            }
            *text = *aux;
        } else {
            const OnigUChar *base = (const OnigUChar *)*text;
            int removed = p->kind[k] == MS_PRE_REMOVED;
            for (int64_t i = 0; i < sp->n && !rc; i++) {
                int64_t a = sp->v[2 * i], b = sp->v[2 * i + 1], pos = a, from = a;
                const OnigUChar *end = base + b;
                while (from < b && !rc) {
                    int r = onig_search(p->rx[k], base + a, end, base + from, end, region,
                                        ONIG_OPTION_NONE);
                    if (r < 0) break; /* ONIG_MISMATCH (or an engine limit: rest kept whole) */
                    int64_t ms = a + region->beg[0], me = a + region->end[0];
                    if (me == ms) { /* an empty match makes no word: search on from the next */
                        from = ms + 1;
                        while (from < b && (base[from] & 0xC0) == 0x80)
                            from++;
                        continue;
                    }
                    if (ms > pos && ms_tok_spans_push(&next, pos, ms)) rc = MS_ERR_RUNTIME;
                    if (!removed && ms_tok_spans_push(&next, ms, me)) rc = MS_ERR_RUNTIME;
                    pos = from = me;
                }
                if (!rc && pos < b && ms_tok_spans_push(&next, pos, b)) rc = MS_ERR_RUNTIME;
            }
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
    t->pre_rx = d->rx;
    char msg[256];
    for (int k = 0; k < 6 && d->rx[k]; k++) {
        int rc = ms_tok_pretok_add(&t->pre, d->rx[k], strlen(d->rx[k]), msg, sizeof msg);
        if (rc) {
            errf(err, errlen, "%s: pre-tokenizer '%s': %s", path, t->pre_name, msg);
            return rc;
        }
    }
    for (size_t i = 0; i < sizeof PRE_ORIG / sizeof *PRE_ORIG; i++) {
        if (!name_in(PRE_ORIG[i].names, pre.p, pre.n)) continue;
        int rc = ms_tok_pretok_add(&t->pre_orig, PRE_ORIG[i].rx, strlen(PRE_ORIG[i].rx), msg,
                                   sizeof msg);
        if (rc) {
            errf(err, errlen, "%s: pre-tokenizer '%s' (original): %s", path, t->pre_name, msg);
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

/* ---------------------------------------------------------------------------------------
 * Hugging Face side: invalid UTF-8 and normalizers.
 */

/* Invalid UTF-8 as a browser or Python reads it: every maximal invalid subpart is one U+FFFD.
 * dst holds 3n bytes. */
size_t ms_tok_clean_replace(const char *src, size_t n, char *dst) {
    const uint8_t *s = (const uint8_t *)src;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t ok = ms_utf8_valid_prefix(src + i, n - i);
        if (ok) {
            memcpy(dst + o, src + i, ok);
            o += ok;
            i += ok;
            continue;
        }
        uint8_t c = s[i];
        size_t need = 0;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            need = 2;
        else if (c >= 0xE0 && c <= 0xEF)
            need = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4)
            need = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        size_t k = 1;
        while (k < need && i + k < n && s[i + k] >= lo && s[i + k] <= hi) {
            k++;
            lo = 0x80;
            hi = 0xBF;
        }
        o += put_cp(dst + o, 0xFFFD);
        i += k;
    }
    return o;
}

/* Applies the normalizer steps packed in norm (4 bits each, MS_NORM_*, first step lowest).
 * *out is NULL when nothing changed (pure ASCII), else malloc'ed. */
int ms_tok_normalize(unsigned norm, const char *s, int64_t n, char **out, int64_t *n_out) {
    *out = NULL;
    int64_t i = 0;
    while (i < n && (uint8_t)s[i] < 0x80)
        i++;
    if (i == n) return 0; /* every normalization form leaves ASCII alone */
    char *cur = NULL;
    const char *in = s;
    int64_t len = n;
    for (; norm; norm >>= 4) {
        int opt = UTF8PROC_STABLE;
        switch (norm & 15) {
        case MS_NORM_NFC:
            opt |= UTF8PROC_COMPOSE;
            break;
        case MS_NORM_NFKC:
            opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
            break;
        case MS_NORM_NFD:
            opt |= UTF8PROC_DECOMPOSE;
            break;
        case MS_NORM_NFKD:
            opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
            break;
        default:
            continue;
        }
        utf8proc_uint8_t *dst = NULL;
        utf8proc_ssize_t r =
            utf8proc_map((const utf8proc_uint8_t *)in, len, &dst, (utf8proc_option_t)opt);
        if (r < 0) { /* only UTF8PROC_ERROR_NOMEM: the input is valid UTF-8 */
            free(cur);
            return MS_ERR_RUNTIME;
        }
        free(cur);
        cur = (char *)dst;
        in = cur;
        len = r;
    }
    *out = cur;
    *n_out = len;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * tokenizer.json: BPE model with a ByteLevel pre-tokenizer.
 */

static int json_type_is(const cJSON *o, const char *type) {
    const cJSON *ty = st_json_get(o, "type");
    return cJSON_IsString(ty) && strcmp(ty->valuestring, type) == 0;
}

static const char *json_type(const cJSON *o) {
    const cJSON *ty = st_json_get(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : "?";
}

int ms_tok_json_is_byte_level(const cJSON *root) {
    const cJSON *pt = st_json_get(root, "pre_tokenizer");
    if (json_type_is(pt, "ByteLevel")) return 1;
    if (json_type_is(pt, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, st_json_get(pt, "pretokenizers")) {
            if (json_type_is(it, "ByteLevel")) return 1;
        }
    }
    return json_type_is(st_json_get(root, "decoder"), "ByteLevel");
}

static int read_norm(const cJSON *nz, unsigned *norm, int *n_steps, const char *path, char *err,
                     size_t errlen) {
    if (!nz || cJSON_IsNull(nz)) return 0;
    if (!cJSON_IsObject(nz)) {
        errf(err, errlen, "%s: normalizer must be an object or null", path);
        return MS_ERR_INPUT;
    }
    if (json_type_is(nz, "Sequence")) {
        const cJSON *list = st_json_get(nz, "normalizers"), *it;
        if (!cJSON_IsArray(list)) {
            errf(err, errlen, "%s: normalizer Sequence without a \"normalizers\" array", path);
            return MS_ERR_INPUT;
        }
        cJSON_ArrayForEach(it, list) {
            int rc = read_norm(it, norm, n_steps, path, err, errlen);
            if (rc) return rc;
        }
        return 0;
    }
    static const struct {
        const char *name;
        unsigned v;
    } forms[] = {
        {"NFC", MS_NORM_NFC}, {"NFKC", MS_NORM_NFKC}, {"NFD", MS_NORM_NFD}, {"NFKD", MS_NORM_NFKD}};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        if (!json_type_is(nz, forms[i].name)) continue;
        if (*n_steps == 8) {
            errf(err, errlen, "%s: more than 8 normalizers", path);
            return MS_ERR_INPUT;
        }
        *norm |= forms[i].v << (4 * *n_steps);
        (*n_steps)++;
        return 0;
    }
    errf(err, errlen,
         "%s: normalizer '%s' is not supported for byte-level BPE (supported: NFC, NFKC, NFD, "
         "NFKD, Sequence)",
         path, json_type(nz));
    return MS_ERR_INPUT;
}

/* The GPT-2 pattern of Hugging Face's ByteLevel(use_regex = true). */
#define RX_HF_BYTELEVEL                                                                            \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

static int read_pre_step(ms_tokenizer *t, const cJSON *st, int *n_bytelevel, const char *path,
                         char *err, size_t errlen) {
    char msg[256];
    int rc = 0;
    if (!cJSON_IsObject(st)) {
        errf(err, errlen, "%s: pre_tokenizer entry must be an object", path);
        return MS_ERR_INPUT;
    }
    if (json_type_is(st, "ByteLevel")) {
        if (++*n_bytelevel > 1) {
            errf(err, errlen, "%s: more than one ByteLevel pre-tokenizer", path);
            return MS_ERR_INPUT;
        }
        const cJSON *aps = st_json_get(st, "add_prefix_space");
        const cJSON *ur = st_json_get(st, "use_regex");
        if ((aps && !cJSON_IsBool(aps)) || (ur && !cJSON_IsBool(ur))) {
            errf(err, errlen, "%s: ByteLevel add_prefix_space and use_regex must be booleans",
                 path);
            return MS_ERR_INPUT;
        }
        if (cJSON_IsTrue(aps))
            rc = ms_tok_pretok_step(&t->pre, MS_PRE_PREFIX, NULL, 0, 0, msg, sizeof msg);
        if (!rc && (!ur || cJSON_IsTrue(ur))) /* tokenizers' default: use_regex = true */
            rc = ms_tok_pretok_step(&t->pre, MS_PRE_ISOLATED, RX_HF_BYTELEVEL,
                                    strlen(RX_HF_BYTELEVEL), 0, msg, sizeof msg);
    } else if (json_type_is(st, "Split")) {
        const cJSON *pat = st_json_get(st, "pattern");
        const cJSON *rx = st_json_get(pat, "Regex"), *str = st_json_get(pat, "String");
        const cJSON *beh = st_json_get(st, "behavior"), *inv = st_json_get(st, "invert");
        if (!cJSON_IsString(rx) && !cJSON_IsString(str)) {
            errf(err, errlen, "%s: Split pre-tokenizer without a \"Regex\" or \"String\" pattern",
                 path);
            return MS_ERR_INPUT;
        }
        int kind = -1;
        if (cJSON_IsString(beh) && strcmp(beh->valuestring, "Isolated") == 0)
            kind = MS_PRE_ISOLATED;
        if (cJSON_IsString(beh) && strcmp(beh->valuestring, "Removed") == 0) kind = MS_PRE_REMOVED;
        if (kind < 0 || cJSON_IsTrue(inv)) {
            errf(err, errlen,
                 "%s: Split behavior '%s'%s is not supported (supported: Isolated, Removed; "
                 "invert false)",
                 path, cJSON_IsString(beh) ? beh->valuestring : "?",
                 cJSON_IsTrue(inv) ? " with invert" : "");
            return MS_ERR_INPUT;
        }
        const char *p = cJSON_IsString(rx) ? rx->valuestring : str->valuestring;
        rc = ms_tok_pretok_step(&t->pre, kind, p, strlen(p), !cJSON_IsString(rx), msg, sizeof msg);
        if (rc) {
            char safe[64];
            ms_text_safe(p, safe, sizeof safe);
            errf(err, errlen, "%s: Split pattern \"%s\": %s", path, safe, msg);
            return rc;
        }
    } else if (json_type_is(st, "Digits")) {
        const char *p = cJSON_IsTrue(st_json_get(st, "individual_digits")) ? "\\p{N}" : "\\p{N}+";
        rc = ms_tok_pretok_step(&t->pre, MS_PRE_ISOLATED, p, strlen(p), 0, msg, sizeof msg);
    } else {
        errf(err, errlen,
             "%s: pre-tokenizer '%s' is not supported with byte-level BPE (supported: ByteLevel, "
             "Split, Digits, Sequence)",
             path, json_type(st));
        return MS_ERR_INPUT;
    }
    if (rc) errf(err, errlen, "%s: pre-tokenizer: %s", path, msg);
    return rc;
}

int ms_tok_json_byte_level(ms_tokenizer *t, const cJSON *root, const cJSON *model, const char *path,
                           char *err, size_t errlen) {
    unsigned norm = 0;
    int n_norm = 0, n_bl = 0;
    int rc = read_norm(st_json_get(root, "normalizer"), &norm, &n_norm, path, err, errlen);
    if (rc) return rc;
    t->norm = norm;
    const cJSON *pt = st_json_get(root, "pre_tokenizer");
    if (json_type_is(pt, "Sequence")) {
        const cJSON *list = st_json_get(pt, "pretokenizers"), *it;
        if (!cJSON_IsArray(list)) {
            errf(err, errlen, "%s: pre_tokenizer Sequence without a \"pretokenizers\" array", path);
            return MS_ERR_INPUT;
        }
        cJSON_ArrayForEach(it, list) {
            rc = read_pre_step(t, it, &n_bl, path, err, errlen);
            if (rc) return rc;
        }
    } else if (pt && !cJSON_IsNull(pt)) {
        rc = read_pre_step(t, pt, &n_bl, path, err, errlen);
        if (rc) return rc;
    }
    if (n_bl == 0) {
        errf(err, errlen,
             "%s: a ByteLevel decoder without a ByteLevel pre-tokenizer is not supported", path);
        return MS_ERR_INPUT;
    }
    static const char *const unsupported[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = st_json_get(model, unsupported[k]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !v->valuestring[0])) {
            errf(err, errlen, "%s: model.%s is not supported", path, unsupported[k]);
            return MS_ERR_INPUT;
        }
    }
    const cJSON *drop = st_json_get(model, "dropout");
    if (drop && !cJSON_IsNull(drop) && !(cJSON_IsNumber(drop) && drop->valuedouble == 0)) {
        errf(err, errlen, "%s: model.dropout is set: BPE dropout makes tokenization random", path);
        return MS_ERR_INPUT;
    }
    const cJSON *im = st_json_get(model, "ignore_merges");
    if (im && !cJSON_IsBool(im)) {
        errf(err, errlen, "%s: model.ignore_merges must be a boolean", path);
        return MS_ERR_INPUT;
    }
    t->ignore_merges = cJSON_IsTrue(im);
    t->byte_level = 1;
    t->llama_bytes = 0;
    t->byte_fallback = 0;
    t->add_space_prefix = 0;
    t->prefix = MS_PREFIX_NONE;
    snprintf(t->pre_name, sizeof t->pre_name, "tokenizer.json");
    ms_tok_byte_map_init(t);
    return 0;
}

typedef struct ranked {
    float prio;
    int32_t l, r;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    return x->prio > y->prio ? -1 : x->prio < y->prio;
}

int ms_tok_merges_ranked(const ms_tokenizer *t, int32_t **l, int32_t **r, int64_t *n) {
    *l = *r = NULL;
    *n = 0;
    ranked *m = malloc((size_t)(t->n_pairs + 1) * sizeof *m);
    if (!m) return MS_ERR_RUNTIME;
    int64_t k = 0;
    for (uint64_t i = 0; t->pairs && i <= t->pair_mask; i++)
        if (t->pairs[i].key != UINT64_MAX)
            m[k++] = (ranked){t->pairs[i].prio, (int32_t)(t->pairs[i].key >> 32),
                              (int32_t)(t->pairs[i].key & 0xFFFFFFFFu)};
    qsort(m, (size_t)k, sizeof *m, cmp_ranked);
    *l = malloc((size_t)(k + 1) * sizeof **l);
    *r = malloc((size_t)(k + 1) * sizeof **r);
    if (!*l || !*r) {
        free(m);
        free(*l);
        free(*r);
        *l = *r = NULL;
        return MS_ERR_RUNTIME;
    }
    for (int64_t i = 0; i < k; i++) {
        (*l)[i] = m[i].l;
        (*r)[i] = m[i].r;
    }
    free(m);
    *n = k;
    return 0;
}
