/* tokenizer.c — SentencePiece-style BPE (Llama, Mistral, Mixtral): lookup tables, encoding,
 * decoding, display text of single tokens, and the standalone ms_tokenizer_open.
 *
 * Encoding follows llama.cpp's llm_tokenizer_spm exactly: the text (with "▁" prepended as the
 * model asks and every ' ' replaced by "▁") is cut into symbols by the UTF-8 lead byte, every
 * adjacent pair that forms a vocabulary piece goes into a max-heap keyed by (priority, leftmost
 * position), and the best pair is merged until none is left; symbols that are not pieces are
 * written as byte-fallback tokens <0xXX>. Pairs are looked up by the two symbol ids in a
 * precomputed pair table (one hash probe, no string building); only symbols that are not
 * pieces (characters outside the vocabulary, invalid UTF-8) fall back to a text lookup. One
 * call allocates a handful of buffers sized from the input, never per token; a 100 KB
 * document costs O(n log n). Loaders live in tokenizer_load.c. */
#include "gguf_split.h"
#include "msutil.h"
#include "tokenizer_impl.h"
#include "tokenizer_int.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------------------------------
 * Construction helpers.
 */

static uint64_t hash_bytes(const char *s, size_t n) {
    /* 64-bit multiply-xorshift over 8-byte words; pieces are short. */
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 32;
    return h;
}

static uint64_t hash_pair(uint64_t key) {
    key *= 0x9E3779B97F4A7C15ull;
    key ^= key >> 31;
    key *= 0xBF58476D1CE4E5B9ull;
    key ^= key >> 29;
    return key;
}

static inline int is_meta(const char *p) {
    return (uint8_t)p[0] == 0xE2 && (uint8_t)p[1] == 0x96 && (uint8_t)p[2] == 0x81;
}

ms_tokenizer *ms_tok_alloc(int n, size_t pool_bytes) {
    ms_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n_vocab = n;
    t->pool = malloc(pool_bytes ? pool_bytes : 1);
    t->piece_off = calloc((size_t)n + 1, sizeof *t->piece_off);
    t->piece_len = calloc((size_t)n + 1, sizeof *t->piece_len);
    t->scores = calloc((size_t)n + 1, sizeof *t->scores);
    t->types = calloc((size_t)n + 1, 1);
    t->bos = t->eos = t->unk = t->pad = -1;
    t->byte_fallback = 1;
    t->add_space_prefix = 1;
    if (!t->pool || !t->piece_off || !t->piece_len || !t->scores || !t->types) {
        ms_tokenizer_free(t);
        return NULL;
    }
    return t;
}

void ms_tokenizer_free(ms_tokenizer *t) {
    if (!t) return;
    free(t->pool);
    free(t->piece_off);
    free(t->piece_len);
    free(t->scores);
    free(t->types);
    free(t->phash);
    free(t->pairs);
    free(t->user.ids);
    free(t->user.by_first);
    free(t->special.ids);
    free(t->special.by_first);
    free(t->added_flags);
    ms_tok_pretok_free(t->pre);
    ms_tok_pretok_free(t->pre_orig);
    free(t);
}

int ms_tok_is_byte_piece(const char *s, size_t n, int *byte) {
    if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>') return 0;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return 0;
        v = v * 16 + d;
    }
    if (byte) *byte = v;
    return 1;
}

int32_t ms_tok_lookup(const ms_tokenizer *t, const char *s, size_t n) {
    if (n > (size_t)t->max_piece_len) return -1;
    uint64_t i = hash_bytes(s, n) & t->phash_mask;
    for (;;) {
        uint32_t v = t->phash[i];
        if (!v) return -1;
        int32_t id = (int32_t)(v - 1);
        if (t->piece_len[id] == n && memcmp(t->pool + t->piece_off[id], s, n) == 0) return id;
        i = (i + 1) & t->phash_mask;
    }
}

static int pair_grow(ms_tokenizer *t) {
    uint64_t old_cap = t->pairs ? t->pair_mask + 1 : 0;
    uint64_t cap = old_cap ? old_cap * 2 : 1024;
    struct ms_tok_pair *p = malloc(cap * sizeof *p);
    if (!p) return MS_ERR_RUNTIME;
    for (uint64_t i = 0; i < cap; i++)
        p[i].key = UINT64_MAX;
    for (uint64_t j = 0; j < old_cap; j++) {
        if (t->pairs[j].key == UINT64_MAX) continue;
        uint64_t i = hash_pair(t->pairs[j].key) & (cap - 1);
        while (p[i].key != UINT64_MAX)
            i = (i + 1) & (cap - 1);
        p[i] = t->pairs[j];
    }
    free(t->pairs);
    t->pairs = p;
    t->pair_mask = cap - 1;
    return 0;
}

int ms_tok_add_pair(ms_tokenizer *t, int32_t left, int32_t right, int32_t merged, float prio) {
    if (!t->pairs || (uint64_t)(t->n_pairs + 1) * 2 > t->pair_mask + 1) {
        if (pair_grow(t)) return MS_ERR_RUNTIME;
    }
    uint64_t k = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    uint64_t i = hash_pair(k) & t->pair_mask;
    while (t->pairs[i].key != UINT64_MAX) {
        if (t->pairs[i].key == k) return 0; /* first rule wins */
        i = (i + 1) & t->pair_mask;
    }
    t->pairs[i] = (struct ms_tok_pair){k, merged, prio};
    t->n_pairs++;
    return 0;
}

static inline int pair_find(const ms_tokenizer *t, int32_t left, int32_t right, int32_t *merged,
                            float *prio) {
    uint64_t k = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    uint64_t i = hash_pair(k) & t->pair_mask;
    for (;;) {
        const struct ms_tok_pair *p = &t->pairs[i];
        if (p->key == k) {
            *merged = p->id;
            *prio = p->prio;
            return 1;
        }
        if (p->key == UINT64_MAX) return 0;
        i = (i + 1) & t->pair_mask;
    }
}

static int cmp_user_tokens(const void *pa, const void *pb, void *arg) {
    const ms_tokenizer *t = arg;
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    if (t->piece_len[a] != t->piece_len[b]) return t->piece_len[a] > t->piece_len[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Texts llama.cpp retypes as control tokens when it loads a GGUF vocabulary, whatever the
 * file says (llama-vocab.cpp: end-of-turn/generation and fill-in-the-middle markers), so that
 * parse_special cuts them out of text too; GGUF only, for MS_TOKENIZE_SPECIAL. */
static const char *const LLAMA_CONTROL_TEXTS[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<\uFF5Cend\u2581of\u2581sentence\uFF5C>",
    "<end_of_utterance>",
    "<|eom_id|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "</s>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "[e~[",
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<\uFF5Cfim\u2581begin\uFF5C>",
    "<PRE>",
    "\u2581<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<\uFF5Cfim\u2581hole\uFF5C>",
    "<SUF>",
    "\u2581<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<\uFF5Cfim\u2581end\uFF5C>",
    "<MID>",
    "\u2581<MID>",
    "<|code_middle|>",
    "<|middle|>",
    "<|fim_pad|>",
    "<fim-pad>",
    "<fim_pad>",
    "<PAD>",
    "[PAD]",
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
    "<|file_sep|>",
};

/* Whether token i belongs to the set of type mask (bit 1 << type); with llama_ctl also the
 * tokens in *extra (LLAMA_CONTROL_TEXTS found in the vocabulary). */
static int tok_set_has(const ms_tokenizer *t, int32_t i, unsigned mask, const uint8_t *extra) {
    return t->piece_len[i] &&
           ((t->types[i] < 32 && (mask >> t->types[i] & 1)) || (extra && extra[i]));
}

/* The tokens of a set, longest first, grouped by first byte (counting sort, keeping that
 * order): which of them occur in a text is then one pass over it (partition). */
static int tok_set_build(ms_tokenizer *t, struct ms_tok_set *set, unsigned mask, int llama_ctl) {
    uint8_t *extra = NULL;
    if (llama_ctl) {
        extra = calloc((size_t)t->n_vocab, 1);
        if (!extra) return MS_ERR_RUNTIME;
        for (size_t k = 0; k < sizeof LLAMA_CONTROL_TEXTS / sizeof *LLAMA_CONTROL_TEXTS; k++) {
            int32_t id = ms_tok_lookup(t, LLAMA_CONTROL_TEXTS[k], strlen(LLAMA_CONTROL_TEXTS[k]));
            if (id >= 0) extra[id] = 1;
        }
    }
    int n = 0;
    for (int i = 0; i < t->n_vocab; i++)
        n += tok_set_has(t, i, mask, extra);
    if (n) {
        set->ids = malloc((size_t)n * sizeof *set->ids);
        set->by_first = malloc((size_t)n * sizeof *set->by_first);
    }
    if (n && (!set->ids || !set->by_first)) {
        free(extra);
        return MS_ERR_RUNTIME;
    }
    for (int i = 0; i < t->n_vocab && n; i++)
        if (tok_set_has(t, i, mask, extra)) set->ids[set->n++] = i;
    free(extra);
    if (!n) return 0;
    qsort_r(set->ids, (size_t)set->n, sizeof *set->ids, cmp_user_tokens, t);
    int32_t cnt[257] = {0};
    for (int u = 0; u < set->n; u++) {
        uint8_t b = (uint8_t)ms_tok_piece(t, set->ids[u])[0];
        cnt[b + 1]++;
        set->first[b] = 1;
    }
    for (int b = 0; b < 256; b++)
        cnt[b + 1] += cnt[b];
    memcpy(set->first_off, cnt, sizeof cnt);
    for (int u = 0; u < set->n; u++)
        set->by_first[cnt[(uint8_t)ms_tok_piece(t, set->ids[u])[0]]++] = u;
    return 0;
}

int ms_tok_finish(ms_tokenizer *t, int64_t expected_pairs) {
    int n = t->n_vocab;
    t->max_piece_len = 0;
    for (int i = 0; i < n; i++) {
        if ((int)t->piece_len[i] > t->max_piece_len) t->max_piece_len = (int)t->piece_len[i];
        /* NaN scores would break the heap's ordering: treat them as the lowest score. */
        if (isnan(t->scores[i])) t->scores[i] = -INFINITY;
    }
    /* Piece hash at load factor <= 1/2; later duplicates win, as in llama.cpp's map. */
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2)
        cap *= 2;
    t->phash = calloc(cap, sizeof *t->phash);
    if (!t->phash) return MS_ERR_RUNTIME;
    t->phash_mask = cap - 1;
    for (int id = 0; id < n; id++) {
        const char *s = ms_tok_piece(t, id);
        size_t len = t->piece_len[id];
        uint64_t i = hash_bytes(s, len) & t->phash_mask;
        for (;;) {
            uint32_t v = t->phash[i];
            if (!v) {
                t->phash[i] = (uint32_t)id + 1;
                break;
            }
            int32_t o = (int32_t)(v - 1);
            if (t->piece_len[o] == len && memcmp(ms_tok_piece(t, o), s, len) == 0) {
                t->phash[i] = (uint32_t)id + 1;
                break;
            }
            i = (i + 1) & t->phash_mask;
        }
    }
    /* meta_hard: every piece is valid UTF-8 and has "▁" only at its start or after another
     * "▁" (then no merge crosses from a character into a following "▁"). */
    t->meta_hard = 1;
    for (int id = 0; id < n && t->meta_hard; id++) {
        const char *s = ms_tok_piece(t, id);
        uint32_t len = t->piece_len[id];
        if (ms_utf8_valid_prefix(s, len) != len) {
            t->meta_hard = 0;
            break;
        }
        static const uint8_t clen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
        int prev_meta = 1;
        for (uint32_t k = 0; k < len; k += clen[(uint8_t)s[k] >> 4]) {
            int meta = k + 3 <= len && is_meta(s + k);
            if (meta && !prev_meta) t->meta_hard = 0;
            prev_meta = meta;
        }
    }
    for (int b = 0; b < 256; b++) {
        char s[7];
        snprintf(s, sizeof s, "<0x%02X>", b);
        t->byte_id[b] = ms_tok_lookup(t, s, 6);
        char c = (char)b;
        t->single_id[b] = ms_tok_lookup(t, &c, 1);
    }
    /* Tokens matched in raw text, longest first (llama.cpp's order): user-defined ones
     * always, control and unknown ones too when special tokens are parsed. */
    if (tok_set_build(t, &t->user, 1u << MS_TOK_USER_DEFINED, 0) ||
        tok_set_build(t, &t->special,
                      1u << MS_TOK_USER_DEFINED | 1u << MS_TOK_CONTROL | 1u << MS_TOK_UNKNOWN,
                      strcmp(t->source, "gguf") == 0))
        return MS_ERR_RUNTIME;
    if (t->merge == MS_MERGE_RANKS) {
        /* Size the table once for the caller's merges. */
        while ((uint64_t)(expected_pairs + 1) * 2 > (t->pairs ? t->pair_mask + 1 : 0))
            if (pair_grow(t)) return MS_ERR_RUNTIME;
        return 0;
    }
    /* Scores: every split of every piece whose halves are both pieces is a pair; its
     * priority is the merged piece's score. Byte splits (not only character boundaries)
     * so that pair lookups agree with llama.cpp's text lookup for any symbol ids. */
    if (pair_grow(t)) return MS_ERR_RUNTIME;
    for (int id = 0; id < n; id++) {
        const char *s = ms_tok_piece(t, id);
        uint32_t len = t->piece_len[id];
        if (len < 2 || ms_tok_lookup(t, s, len) != id) continue; /* shadowed duplicate */
        for (uint32_t k = 1; k < len; k++) {
            int32_t l = ms_tok_lookup(t, s, k);
            if (l < 0) continue;
            int32_t r = ms_tok_lookup(t, s + k, len - k);
            if (r < 0) continue;
            if (ms_tok_add_pair(t, l, r, id, t->scores[id])) return MS_ERR_RUNTIME;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Encoding.
 */

typedef struct tok_sym {
    int32_t start, len; /* byte range in the escaped buffer; len 0 once merged away */
    int32_t prev, next; /* neighbours in the live chain, -1 at the ends */
    int32_t id;         /* piece id of the symbol's text, -1 if it is not a piece */
} tok_sym;

typedef struct tok_bigram {
    float prio;
    int32_t left, right;
    int32_t size; /* byte length of the merged text when pushed (detects stale entries) */
    int32_t id;   /* merged piece */
} tok_bigram;

/* Scratch of one ms_tokenize call; buffers grow geometrically (never per token). */
typedef struct tok_work {
    const ms_tokenizer *t;
    char *buf;        /* (buf_cap) escaped fragment */
    tok_sym *sym;     /* (sym_cap) symbols of the fragment */
    tok_bigram *heap; /* (heap_cap) candidate merges */
    size_t buf_cap, sym_cap;
    int64_t heap_n, heap_cap;
    int32_t *ids; /* (ids_cap) output */
    int64_t n_ids, ids_cap;
    char *clean; /* (clean_cap) byte-level: the fragment as well-formed UTF-8 */
    int64_t clean_cap;
    ms_tok_spans spans; /* byte-level: words of the fragment */
    char *aux;          /* (aux_cap) byte-level: words rebuilt with a prefix space */
    int64_t aux_cap;
    int unk_run;              /* the last id came from a symbol outside the vocabulary (fuse_unk) */
    const ms_tok_pretok *pre; /* byte-level: the split patterns this call uses */
    int oom;
} tok_work;

static int grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Heap order: higher priority first, then the leftmost pair (llama.cpp's comparator). */
static inline int bigram_before(const tok_bigram *a, const tok_bigram *b) {
    return a->prio > b->prio || (a->prio == b->prio && a->left < b->left);
}

static void heap_push(tok_work *w, const tok_bigram *b) {
    if (w->heap_n == w->heap_cap &&
        grow((void **)&w->heap, &w->heap_cap, w->heap_n + 1, sizeof *w->heap)) {
        w->oom = 1;
        return;
    }
    int64_t i = w->heap_n++;
    tok_bigram *h = w->heap;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!bigram_before(b, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = *b;
}

static tok_bigram heap_pop(tok_work *w) {
    tok_bigram *h = w->heap;
    tok_bigram top = h[0];
    tok_bigram last = h[--w->heap_n];
    int64_t n = w->heap_n, i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && bigram_before(&h[c + 1], &h[c])) c++;
        if (!bigram_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (n > 0) h[i] = last;
    return top;
}

static void try_add_bigram(tok_work *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const ms_tokenizer *t = w->t;
    const tok_sym *l = &w->sym[left], *r = &w->sym[right];
    int32_t size = l->len + r->len;
    tok_bigram b;
    if (l->id >= 0 && r->id >= 0) {
        if (!pair_find(t, l->id, r->id, &b.id, &b.prio)) return;
    } else {
        /* A symbol outside the vocabulary: llama.cpp looks the joined text up. Hugging Face
         * BPE has byte-fallback tokens there, which no merge rule joins. */
        if (t->merge != MS_MERGE_SCORES) return;
        b.id = ms_tok_lookup(t, w->buf + l->start, (size_t)size);
        if (b.id < 0) return;
        b.prio = t->scores[b.id];
    }
    b.left = left;
    b.right = right;
    b.size = size;
    heap_push(w, &b);
}

static inline void emit(tok_work *w, int32_t id) {
    if (w->n_ids == w->ids_cap &&
        grow((void **)&w->ids, &w->ids_cap, w->n_ids + 1, sizeof *w->ids)) {
        w->oom = 1;
        return;
    }
    w->ids[w->n_ids++] = id;
}

/* Merges the symbols [a, b) (a chain of their own) and appends their ids. */
static void encode_segment(tok_work *w, int32_t a, int32_t b) {
    const ms_tokenizer *t = w->t;
    tok_sym *sym = w->sym;
    sym[a].prev = -1;
    sym[b - 1].next = -1;
    w->heap_n = 0;
    for (int32_t i = a + 1; i < b; i++)
        try_add_bigram(w, i - 1, i);
    while (w->heap_n > 0) {
        tok_bigram g = heap_pop(w);
        tok_sym *l = &sym[g.left], *r = &sym[g.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != g.size) continue;
        l->len += r->len;
        l->id = g.id;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = g.left;
        try_add_bigram(w, l->prev, g.left);
        try_add_bigram(w, g.left, l->next);
    }
    for (int32_t i = a; i != -1; i = sym[i].next) {
        const tok_sym *s = &sym[i];
        if (s->id >= 0) {
            emit(w, s->id);
        } else if (t->byte_fallback) {
            for (int32_t j = 0; j < s->len; j++) {
                int32_t id = t->byte_id[(uint8_t)w->buf[s->start + j]];
                if (id < 0) id = t->unk;
                if (id >= 0) emit(w, id);
            }
        } else if (t->llama_bytes) {
            /* llama.cpp (byte-level): each byte of the symbol's text as a one-byte piece */
            for (int32_t j = 0; j < s->len; j++) {
                int32_t id = t->single_id[(uint8_t)w->buf[s->start + j]];
                if (id >= 0) emit(w, id);
            }
        } else if (t->unk >= 0) {
            /* Hugging Face with byte_fallback off: <unk>, runs fused when fuse_unk */
            if (!(t->fuse_unk && w->unk_run)) emit(w, t->unk);
            w->unk_run = 1;
            continue;
        }
        w->unk_run = 0;
    }
}

/* Tokenizes the escaped text buf[0..n) and appends the ids. The symbols are cut as llama.cpp
 * cuts them (by the UTF-8 lead byte). Where no merge can cross — before a "▁" that follows
 * something else, when no piece of the vocabulary has a "▁" after another character
 * (t->meta_hard, true of Llama/Mistral vocabularies; and always for HF's Metaspace split=true,
 * whose MergedWithNext split cuts exactly there) — the text is cut into segments merged one by one:
 * the result is the same as one heap over the whole text (merges in different segments never
 * interact, and each segment sees its merges in the same order), but the heap stays small and in
 * cache. */
static void encode_escaped(tok_work *w, int32_t n) {
    const ms_tokenizer *t = w->t;
    const char *buf = w->buf;
    static const uint8_t utf8_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    int cut_meta = t->meta_hard || t->split_words;
    int32_t ns = 0;    /* symbols of the current segment (w->sym is reused per segment) */
    int prev_meta = 1; /* no cut before the first symbol */
    for (int32_t off = 0; off < n;) {
        int32_t len = utf8_len[(uint8_t)buf[off] >> 4];
        if (len > n - off) len = n - off;
        int meta = len == 3 && is_meta(buf + off);
        if (cut_meta && meta && !prev_meta && ns > 0) {
            encode_segment(w, 0, ns);
            ns = 0;
        }
        prev_meta = meta;
        if ((size_t)ns == w->sym_cap) {
            size_t cap = w->sym_cap ? w->sym_cap * 2 : 256;
            tok_sym *g = realloc(w->sym, cap * sizeof *g);
            if (!g) {
                w->oom = 1;
                return;
            }
            w->sym = g;
            w->sym_cap = cap;
        }
        tok_sym *s = &w->sym[ns];
        s->start = off;
        s->len = len;
        s->prev = ns - 1;
        s->next = ns + 1;
        s->id =
            len == 1 ? t->single_id[(uint8_t)buf[off]] : ms_tok_lookup(t, buf + off, (size_t)len);
        off += len;
        ns++;
    }
    if (ns > 0) encode_segment(w, 0, ns);
}

static int sym_reserve(tok_work *w, size_t n) {
    if (n <= w->sym_cap) return 0;
    size_t cap = w->sym_cap ? w->sym_cap : 256;
    while (cap < n)
        cap *= 2;
    tok_sym *g = realloc(w->sym, cap * sizeof *g);
    if (!g) return -1;
    w->sym = g;
    w->sym_cap = cap;
    return 0;
}

/* Byte-level BPE of one raw fragment: invalid UTF-8 read as the source's library reads it,
 * words cut by the pre-tokenizer, each word's bytes spelled as one-character pieces and
 * merged by rank (the same heap as SentencePiece). */
static void encode_byte_level(tok_work *w, const char *src, int64_t len) {
    const ms_tokenizer *t = w->t;
    if (grow((void **)&w->clean, &w->clean_cap, 3 * len + 1, 1)) {
        w->oom = 1;
        return;
    }
    int64_t n = t->llama_bytes ? (int64_t)ms_tok_clean_llama(src, (size_t)len, w->clean)
                               : (int64_t)ms_tok_clean_replace(src, (size_t)len, w->clean);
    const char *text = w->clean;
    char *normed = NULL;
    if (t->norm) { /* Hugging Face normalizers (NFC, NFKC, ...) on the whole fragment */
        if (ms_tok_normalize(t->norm, text, n, &normed, &n)) {
            w->oom = 1;
            return;
        }
        if (normed) text = normed;
    }
    const char *words;
    int rc = ms_tok_pretok_split(w->pre, text, n, &w->spans, &w->aux, &w->aux_cap, &words);
    if (rc) {
        free(normed);
        w->oom = 1;
        return;
    }
    for (int64_t k = 0; k < w->spans.n; k++) {
        const uint8_t *word = (const uint8_t *)words + w->spans.v[2 * k];
        int64_t wl = w->spans.v[2 * k + 1] - w->spans.v[2 * k];
        if (wl > INT32_MAX / 4) { /* symbol indices are int32 (NFKC can grow a text 18x) */
            w->oom = 1;
            break;
        }
        int32_t wn = (int32_t)wl;
        if ((size_t)wn * 2 > w->buf_cap) {
            char *nb = realloc(w->buf, (size_t)wn * 2);
            if (!nb) {
                w->oom = 1;
                break;
            }
            w->buf = nb;
            w->buf_cap = (size_t)wn * 2;
        }
        if (sym_reserve(w, (size_t)wn)) {
            w->oom = 1;
            break;
        }
        int32_t off = 0;
        for (int32_t j = 0; j < wn; j++) {
            uint8_t b = word[j];
            tok_sym *sy = &w->sym[j];
            sy->start = off;
            sy->len = t->byte_utf8_len[b];
            sy->prev = j - 1;
            sy->next = j + 1;
            sy->id = t->bl_id[b];
            memcpy(w->buf + off, t->byte_utf8[b], t->byte_utf8_len[b]);
            off += t->byte_utf8_len[b];
        }
        if (t->ignore_merges && wn > 1) {
            int32_t id = ms_tok_lookup(t, w->buf, (size_t)off);
            if (id >= 0) {
                emit(w, id);
                continue;
            }
        }
        encode_segment(w, 0, wn);
    }
    free(normed);
}

typedef struct tok_frag {
    int64_t off, len; /* raw text range */
    int32_t tok;      /* >= 0: a token cut out of the text (user-defined, special); -1: text */
} tok_frag;

/* Splits the text at the tokens of set (user-defined, or all special ones) as llama.cpp's
 * tokenizer_st_partition does: for each token, longest first, every raw fragment is cut at
 * each occurrence, left to right. */
static int partition(const ms_tokenizer *t, const struct ms_tok_set *set, const char *text,
                     int64_t len, tok_frag **out, int64_t *n_out) {
    int64_t n = len > 0, cap = 1;
    tok_frag *f = malloc(sizeof *f);
    if (!f) return MS_ERR_RUNTIME;
    f[0] = (tok_frag){0, len, -1};
    /* Which tokens occur in the text at all (one pass): the others cannot cut any fragment,
     * so skipping them changes nothing, and a vocabulary with thousands of user tokens
     * (DeepSeek) does not scan the text thousands of times. */
    uint8_t *present = NULL;
    if (set->n > 8 && len > 0) {
        present = calloc((size_t)set->n, 1);
        if (!present) {
            free(f);
            return MS_ERR_RUNTIME;
        }
        for (int64_t i = 0; i < len; i++) {
            uint8_t b = (uint8_t)text[i];
            for (int32_t k = set->first_off[b]; k < set->first_off[b + 1]; k++) {
                int u = set->by_first[k];
                int32_t id = set->ids[u];
                if (!present[u] && t->piece_len[id] <= (uint64_t)(len - i) &&
                    memcmp(text + i, ms_tok_piece(t, id), t->piece_len[id]) == 0)
                    present[u] = 1;
            }
        }
    }
    for (int u = 0; u < set->n && n > 0; u++) {
        if (present && !present[u]) continue;
        int32_t id = set->ids[u];
        const char *p = ms_tok_piece(t, id);
        size_t plen = t->piece_len[id];
        int64_t hits = 0;
        for (int64_t i = 0; i < n; i++) {
            if (f[i].tok >= 0) continue;
            const char *s = text + f[i].off, *end = s + f[i].len, *h;
            while ((h = memmem(s, (size_t)(end - s), p, plen)) != NULL) {
                hits++;
                s = h + plen;
            }
        }
        if (!hits) continue;
        int64_t gcap = n + 2 * hits, m = 0;
        tok_frag *g = malloc((size_t)gcap * sizeof *g);
        if (!g) {
            free(f);
            free(present);
            return MS_ERR_RUNTIME;
        }
        for (int64_t i = 0; i < n; i++) {
            if (f[i].tok >= 0) {
                g[m++] = f[i];
                continue;
            }
            const char *base = text, *s = text + f[i].off, *end = s + f[i].len, *h;
            while ((h = memmem(s, (size_t)(end - s), p, plen)) != NULL) {
                if (h > s) g[m++] = (tok_frag){s - base, h - s, -1};
                g[m++] = (tok_frag){h - base, 0, id};
                s = h + plen;
            }
            if (end > s) g[m++] = (tok_frag){s - base, end - s, -1};
        }
        assert(m <= gcap);
        free(f);
        f = g;
        n = m;
        cap = gcap;
    }
    (void)cap;
    free(present);
    *out = f;
    *n_out = n;
    return 0;
}

/* Unicode White_Space (Rust's char::is_whitespace) of the character at s[0..n); its length
 * in *len. */
static int ws_at(const char *s, int64_t n, int *len) {
    uint8_t c = (uint8_t)s[0];
    *len = 1;
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return 1;
    if (c < 0x80) return 0;
    uint32_t cp = 0;
    if (c >= 0xC0 && c < 0xE0 && n >= 2)
        cp = ((uint32_t)(c & 0x1F) << 6) | ((uint8_t)s[1] & 0x3F), *len = 2;
    else if (c >= 0xE0 && c < 0xF0 && n >= 3)
        cp = ((uint32_t)(c & 0x0F) << 12) | (((uint8_t)s[1] & 0x3Fu) << 6) | ((uint8_t)s[2] & 0x3F),
        *len = 3;
    else
        return 0;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* A letter or digit ends s[0..n) (before) or starts it (!before): single_word's test. ASCII
 * and any non-ASCII character count as word characters except White_Space and punctuation
 * below U+0080 — close to Rust's is_alphanumeric for the texts added tokens meet. */
static int word_char_near(const char *s, int64_t n, int before) {
    if (n <= 0) return 0;
    int64_t i = before ? n - 1 : 0;
    if (before)
        while (i > 0 && ((uint8_t)s[i] & 0xC0) == 0x80)
            i--;
    uint8_t c = (uint8_t)s[i];
    if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    int l;
    return !ws_at(s + i, n - i, &l);
}

/* Hugging Face's added-token split (tokenizers' AddedVocabulary): left to right, at each
 * position the longest added token; lstrip/rstrip take the whitespace beside it into the
 * token, single_word drops a match inside a word. Control (special) tokens are in set only
 * with MS_TOKENIZE_SPECIAL (tokenizers' default; moescope's is plain text). */
static int partition_hf(const ms_tokenizer *t, const struct ms_tok_set *set, const char *text,
                        int64_t len, tok_frag **out, int64_t *n_out) {
    int64_t n = 0, cap = 16, start = 0, i = 0;
    tok_frag *f = malloc((size_t)cap * sizeof *f);
    if (!f) return MS_ERR_RUNTIME;
    while (i < len) {
        uint8_t c = (uint8_t)text[i];
        if (!set->first[c]) {
            i++;
            continue;
        }
        int32_t best = -1;
        for (int32_t k = set->first_off[c]; k < set->first_off[c + 1]; k++) { /* longest first */
            int32_t id = set->ids[set->by_first[k]];
            uint32_t pl = t->piece_len[id];
            if (pl <= (uint64_t)(len - i) && memcmp(text + i, ms_tok_piece(t, id), pl) == 0) {
                best = id;
                break;
            }
        }
        if (best < 0) {
            i++;
            continue;
        }
        int64_t ms = i, me = i + t->piece_len[best];
        uint8_t fl = t->added_flags[best];
        if ((fl & MS_ADDED_SINGLE_WORD) &&
            (word_char_near(text, ms, 1) || word_char_near(text + me, len - me, 0))) {
            i = me; /* the matcher has consumed it: no other match starts inside */
            continue;
        }
        if (fl & MS_ADDED_LSTRIP) {
            while (ms > start) {
                int64_t k = ms - 1;
                while (k > start && ((uint8_t)text[k] & 0xC0) == 0x80)
                    k--;
                int l;
                if (!ws_at(text + k, ms - k, &l) || k + l != ms) break;
                ms = k;
            }
        }
        if (fl & MS_ADDED_RSTRIP) {
            int l;
            while (me < len && ws_at(text + me, len - me, &l))
                me += l;
        }
        if (n + 2 > cap) {
            cap *= 2;
            tok_frag *g = realloc(f, (size_t)cap * sizeof *g);
            if (!g) {
                free(f);
                return MS_ERR_RUNTIME;
            }
            f = g;
        }
        if (ms > start) f[n++] = (tok_frag){start, ms - start, -1};
        f[n++] = (tok_frag){ms, 0, best};
        start = i = me;
    }
    if (len > start || n == 0) {
        if (n + 1 > cap) {
            tok_frag *g = realloc(f, (size_t)(cap + 1) * sizeof *g);
            if (!g) {
                free(f);
                return MS_ERR_RUNTIME;
            }
            f = g;
        }
        if (len > start) f[n++] = (tok_frag){start, len - start, -1};
    }
    *out = f;
    *n_out = n;
    return 0;
}

int ms_tokenize(const ms_tokenizer *t, const char *text, size_t len, int add_bos, int32_t **ids,
                int64_t *n_ids) {
    return ms_tokenize_ex(t, text, len, add_bos ? MS_TOKENIZE_BOS : 0, ids, n_ids);
}

int ms_tokenize_ex(const ms_tokenizer *t, const char *text, size_t len, unsigned flags,
                   int32_t **ids, int64_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    /* Indices are int32 inside one fragment: 3 bytes per input byte plus the prefix. */
    if (len > (size_t)(INT32_MAX / 4)) return MS_ERR_RUNTIME;
    if (t->byte_level && len > (size_t)(INT32_MAX / 8)) return MS_ERR_RUNTIME; /* 3x, then 2x */
    tok_frag *frags = NULL;
    int64_t n_frags = 0;
    const struct ms_tok_set *set = flags & MS_TOKENIZE_SPECIAL ? &t->special : &t->user;
    if ((t->added_flags ? partition_hf : partition)(t, set, text, (int64_t)len, &frags, &n_frags))
        return MS_ERR_RUNTIME;

    tok_work w = {.t = t, .pre = t->pre};
    if ((flags & MS_TOKENIZE_ORIGINAL_REGEX) && t->pre_orig) w.pre = t->pre_orig;
    /* Ids: about one per 3-4 bytes of text; grown if needed, trimmed at the end. */
    if (grow((void **)&w.ids, &w.ids_cap, (int64_t)len / 3 + 2 * n_frags + 16, sizeof *w.ids))
        goto oom;

    /* MS_TOKENIZE_BOS asks for the model's special tokens (BOS, EOS) */
    int specials = (flags & MS_TOKENIZE_BOS) != 0;
    if (specials && t->add_bos && t->bos >= 0) emit(&w, t->bos);
    for (int64_t i = 0; i < n_frags; i++) {
        const tok_frag *f = &frags[i];
        if (f->tok >= 0) {
            emit(&w, f->tok);
            continue;
        }
        const char *src = text + f->off;
        if (t->byte_level) {
            encode_byte_level(&w, src, f->len);
            if (w.oom) goto oom;
            continue;
        }
        int32_t n = 0;
        int prefix = 0;
        int64_t spaces = 0;
        for (int64_t j = 0; j < f->len; j++)
            spaces += src[j] == ' ';
        /* Escaped length: prefix + text with each space as 3 bytes. */
        size_t need = (size_t)(3 + f->len + 2 * spaces);
        if (need > w.buf_cap) {
            char *nb = realloc(w.buf, need);
            if (!nb) goto oom;
            w.buf = nb;
            w.buf_cap = need;
        }
        switch (t->prefix) {
        case MS_PREFIX_LLAMA:
            prefix = 1;
            break;
        case MS_PREFIX_META_FIRST:
        case MS_PREFIX_META_ALWAYS:
            prefix = (t->prefix == MS_PREFIX_META_ALWAYS || f->off == 0) && src[0] != ' ' &&
                     !(f->len >= 3 && is_meta(src));
            break;
        case MS_PREFIX_NONE:
            break;
        }
        if (prefix) {
            memcpy(w.buf, "\u2581", 3);
            n = 3;
        }
        for (int64_t j = 0; j < f->len; j++) {
            if (src[j] == ' ') {
                memcpy(w.buf + n, "\u2581", 3);
                n += 3;
            } else {
                w.buf[n++] = src[j];
            }
        }
        w.unk_run = 0;
        encode_escaped(&w, n);
        if (w.oom) goto oom;
    }
    if (specials && t->add_eos && t->eos >= 0) emit(&w, t->eos);
    if (w.oom) goto oom;
    if (w.n_ids < w.ids_cap / 2) { /* give back the worst-case reserve */
        int32_t *shrunk = realloc(w.ids, (size_t)(w.n_ids ? w.n_ids : 1) * sizeof *w.ids);
        if (shrunk) w.ids = shrunk;
    }
    free(w.buf);
    free(w.sym);
    free(w.heap);
    free(w.clean);
    free(w.aux);
    free(w.spans.v);
    free(frags);
    *ids = w.ids;
    *n_ids = w.n_ids;
    return 0;
oom:
    free(w.buf);
    free(w.sym);
    free(w.heap);
    free(w.clean);
    free(w.aux);
    free(w.spans.v);
    free(w.ids);
    free(frags);
    return MS_ERR_RUNTIME;
}

/* ---------------------------------------------------------------------------------------
 * Decoding: bytes of tokens through a UTF-8 validator into a bounded buffer.
 */

typedef struct out_w {
    char *out;
    size_t cap, written, total;
    int full;
} out_w;

/* Writes one complete character (or a run of them); never cuts a character in two. */
static void ow_put(out_w *w, const void *s, size_t n) {
    if (!w->full && w->cap > 0 && w->written + n + 1 <= w->cap) {
        memcpy(w->out + w->written, s, n);
        w->written += n;
    } else {
        w->full = 1;
    }
    w->total += n;
}

static void ow_end(out_w *w) {
    if (w->cap > 0) w->out[w->written] = 0;
}

/* Streaming validator: complete sequences pass, every maximal invalid subpart becomes
 * U+FFFD (the "replace" policy of Python, WHATWG and ICU). */
typedef struct utf8_state {
    uint8_t b[4];
    int n, need;
    uint8_t lo, hi; /* allowed range of the next continuation byte */
} utf8_state;

static void u8_put(utf8_state *s, out_w *w, uint8_t c) {
    static const char fffd[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
    for (;;) {
        if (s->n == 0) {
            if (c < 0x80) {
                ow_put(w, &c, 1);
                return;
            }
            s->lo = 0x80;
            s->hi = 0xBF;
            if (c >= 0xC2 && c <= 0xDF)
                s->need = 2;
            else if (c == 0xE0)
                s->need = 3, s->lo = 0xA0;
            else if (c == 0xED)
                s->need = 3, s->hi = 0x9F;
            else if (c >= 0xE1 && c <= 0xEF)
                s->need = 3;
            else if (c == 0xF0)
                s->need = 4, s->lo = 0x90;
            else if (c >= 0xF1 && c <= 0xF3)
                s->need = 4;
            else if (c == 0xF4)
                s->need = 4, s->hi = 0x8F;
            else {
                ow_put(w, fffd, 3);
                return;
            }
            s->b[0] = c;
            s->n = 1;
            return;
        }
        if (c >= s->lo && c <= s->hi) {
            s->b[s->n++] = c;
            s->lo = 0x80;
            s->hi = 0xBF;
            if (s->n == s->need) {
                ow_put(w, s->b, (size_t)s->n);
                s->n = 0;
            }
            return;
        }
        ow_put(w, fffd, 3);
        s->n = 0; /* and c starts over */
    }
}

static void u8_flush(utf8_state *s, out_w *w) {
    static const char fffd[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
    if (s->n) ow_put(w, fffd, 3);
    s->n = 0;
}

static void u8_text(utf8_state *s, out_w *w, const char *p, size_t n, int unescape) {
    for (size_t i = 0; i < n; i++) {
        if (unescape && i + 3 <= n && is_meta(p + i)) {
            u8_put(s, w, ' ');
            i += 2;
        } else {
            u8_put(s, w, (uint8_t)p[i]);
        }
    }
}

/* A byte-level piece back to bytes: each character of the piece is one byte (GPT-2's
 * bytes_to_unicode inverted); a character outside the map stands for itself. */
static void u8_byte_level(const ms_tokenizer *t, utf8_state *s, out_w *w, const char *p, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)p[i];
        if (c < 0x80) {
            int b = t->cp_byte[c];
            u8_put(s, w, (uint8_t)(b >= 0 ? b : c));
            i++;
            continue;
        }
        if (c >= 0xC0 && c < 0xE0 && i + 1 < n && ((uint8_t)p[i + 1] & 0xC0) == 0x80) {
            uint32_t cp = ((uint32_t)(c & 0x1F) << 6) | ((uint8_t)p[i + 1] & 0x3F);
            if (cp < MS_TOK_BYTE_CPS && t->cp_byte[cp] >= 0) {
                u8_put(s, w, (uint8_t)t->cp_byte[cp]);
                i += 2;
                continue;
            }
        }
        u8_put(s, w, c);
        i++;
    }
}

static int token_byte(const ms_tokenizer *t, int32_t id) {
    int b = -1;
    if (!ms_tok_is_byte_piece(ms_tok_piece(t, id), t->piece_len[id], &b)) return -1;
    return b;
}

/* Text of ids[0..n) into w; offs (n + 1 entries, may be NULL) gets the output offset where
 * each token's text starts. Bytes of a character split across byte tokens are written by
 * the token that completes it; a U+FFFD by the token at which the sequence proves invalid
 * (the last token for a sequence cut short at the end). */
static void detok_core(const ms_tokenizer *t, const int32_t *ids, int64_t n, int strip, out_w *w,
                       int64_t *offs) {
    utf8_state s = {0};
    for (int64_t i = 0; i < n; i++) {
        if (offs) offs[i] = (int64_t)w->total;
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab) continue;
        int type = t->types[id];
        const char *p = ms_tok_piece(t, id);
        size_t len = t->piece_len[id];
        if (type == MS_TOK_BYTE) {
            int b = token_byte(t, id);
            if (b < 0) continue;
            if (strip && b == ' ') {
                strip = 0;
                continue;
            }
            strip = 0;
            u8_put(&s, w, (uint8_t)b);
        } else if (type == MS_TOK_NORMAL || type == MS_TOK_USER_DEFINED) {
            int unescape = type == MS_TOK_NORMAL;
            if (len == 0) continue;
            if (strip) {
                if (unescape && len >= 3 && is_meta(p))
                    p += 3, len -= 3;
                else if (p[0] == ' ')
                    p++, len--;
                strip = 0;
            }
            if (t->byte_level && type == MS_TOK_NORMAL)
                u8_byte_level(t, &s, w, p, len);
            else
                u8_text(&s, w, p, len, unescape);
        }
        /* control, unknown and unused tokens have no text */
    }
    u8_flush(&s, w);
    if (offs) offs[n] = (int64_t)w->total;
}

size_t ms_detokenize(const ms_tokenizer *t, const int32_t *ids, int64_t n, char *out, size_t cap) {
    out_w w = {.out = out, .cap = cap};
    /* one leading space of the first text is the prefix (HF's Strip decoder, llama.cpp) */
    detok_core(t, ids, n, t->add_space_prefix, &w, NULL);
    ow_end(&w);
    return w.total;
}

char *ms_detokenize_spans(const ms_tokenizer *t, const int32_t *ids, int64_t n, int strip_prefix,
                          int64_t *offs) {
    out_w w = {0};
    detok_core(t, ids, n, strip_prefix && t->add_space_prefix, &w, NULL);
    char *text = malloc(w.total + 1);
    if (!text) return NULL;
    w = (out_w){.out = text, .cap = w.total + 1};
    detok_core(t, ids, n, strip_prefix && t->add_space_prefix, &w, offs);
    ow_end(&w);
    return text;
}

size_t ms_token_display(const ms_tokenizer *t, int32_t id, char *out, size_t cap) {
    out_w w = {.out = out, .cap = cap};
    utf8_state s = {0};
    if (id >= 0 && id < t->n_vocab) {
        const char *p = ms_tok_piece(t, id);
        size_t len = t->piece_len[id];
        int b = t->types[id] == MS_TOK_BYTE ? token_byte(t, id) : -1;
        if (t->byte_level && t->types[id] == MS_TOK_NORMAL) {
            /* Readable text: complete characters as themselves, the bytes of a character
             * split across tokens as <0xXX> (they are valid only together). */
            char stackb[256];
            char *raw = stackb;
            size_t rn = 0;
            for (size_t i = 0; i < len && rn < sizeof stackb;) {
                uint8_t c = (uint8_t)p[i];
                uint32_t cp = c;
                size_t k = 1;
                if (c >= 0xC0 && c < 0xE0 && i + 1 < len) {
                    cp = ((uint32_t)(c & 0x1F) << 6) | ((uint8_t)p[i + 1] & 0x3F);
                    k = 2;
                }
                int bb = cp < MS_TOK_BYTE_CPS ? t->cp_byte[cp] : -1;
                if (bb >= 0) {
                    raw[rn++] = (char)bb;
                    i += k;
                } else {
                    raw[rn++] = (char)c;
                    i++;
                }
            }
            for (size_t i = 0; i < rn;) {
                size_t ok = ms_utf8_valid_prefix(raw + i, rn - i);
                if (ok) {
                    ow_put(&w, raw + i, ok);
                    i += ok;
                } else {
                    char hex[8];
                    snprintf(hex, sizeof hex, "<0x%02X>", (uint8_t)raw[i]);
                    ow_put(&w, hex, 6);
                    i++;
                }
            }
        } else if (b >= 0 && b < 0x80) {
            u8_put(&s, &w, (uint8_t)b);
        } else {
            u8_text(&s, &w, p, len, t->types[id] == MS_TOK_NORMAL);
        }
    }
    u8_flush(&s, &w);
    ow_end(&w);
    return w.total;
}

/* ---------------------------------------------------------------------------------------
 * Accessors, description, standalone open.
 */

int ms_tokenizer_n_vocab(const ms_tokenizer *t) {
    return t->n_vocab;
}
int ms_tokenizer_bos(const ms_tokenizer *t) {
    return t->bos;
}
int ms_tokenizer_eos(const ms_tokenizer *t) {
    return t->eos;
}
int ms_tokenizer_adds_bos(const ms_tokenizer *t) {
    return t->add_bos && t->bos >= 0;
}

int ms_tokenizer_byte_level(const ms_tokenizer *t) {
    return t->byte_level;
}

const char *ms_token_piece(const ms_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    return ms_tok_piece(t, id);
}

char *ms_tokenizer_describe_json(const ms_tokenizer *t) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "kind", t->byte_level ? "byte-level-bpe" : "sentencepiece-bpe");
    if (t->byte_level) {
        cJSON_AddStringToObject(o, "pre_tokenizer", t->pre_name);
        cJSON_AddBoolToObject(o, "ignore_merges", t->ignore_merges);
    }
    cJSON_AddStringToObject(o, "source", t->source);
    cJSON_AddStringToObject(o, "merges", t->merge == MS_MERGE_SCORES ? "scores" : "ranks");
    cJSON_AddNumberToObject(o, "n_vocab", t->n_vocab);
    cJSON_AddNumberToObject(o, "bos", t->bos);
    cJSON_AddNumberToObject(o, "eos", t->eos);
    cJSON_AddNumberToObject(o, "unk", t->unk);
    cJSON_AddBoolToObject(o, "add_bos", t->add_bos && t->bos >= 0);
    cJSON_AddBoolToObject(o, "add_eos", t->add_eos && t->eos >= 0);
    cJSON_AddBoolToObject(o, "add_space_prefix", t->add_space_prefix);
    cJSON_AddStringToObject(o, "space_prefix_form", t->prefix_form);
    cJSON_AddBoolToObject(o, "byte_fallback", t->byte_fallback);
    char *s = ms_utf8_fix_take(cJSON_PrintUnformatted(o)); /* source is a path from a file */
    cJSON_Delete(o);
    return s;
}

static void set_err(char *err, size_t errlen, const char *path, const char *msg) {
    if (err && errlen) snprintf(err, errlen, "%s: %s", path, msg);
}

int ms_tokenizer_open(ms_tokenizer **out, const char *path, char *err, size_t errlen) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        set_err(err, errlen, path, strerror(e));
        return e == ENOMEM || e == EIO ? MS_ERR_RUNTIME : MS_ERR_INPUT;
    }
    if (S_ISDIR(st.st_mode)) {
        size_t n = strlen(path) + sizeof "/tokenizer.json";
        char *p = malloc(n);
        if (!p) return MS_ERR_RUNTIME;
        snprintf(p, n, "%s/tokenizer.json", path);
        int rc = ms_tokenizer_from_json_file(out, p, err, errlen);
        free(p);
        return rc;
    }
    /* A GGUF file starts with "GGUF" (or is named .gguf: then the GGUF reader says what is
     * wrong); a .safetensors file stands for its HF folder; anything else is tokenizer.json. */
    char magic[4] = {0};
    int orc;
    FILE *f = ms_fopen_regular(path, &orc, err, errlen); /* a FIFO or device: refused at once */
    if (!f) return orc;
    size_t got = fread(magic, 1, 4, f);
    int read_failed = ferror(f);
    fclose(f);
    if (read_failed) { /* an I/O failure, not a bad file */
        set_err(err, errlen, path, "read error");
        return MS_ERR_RUNTIME;
    }
    size_t plen = strlen(path);
    if ((got == 4 && memcmp(magic, "GGUF", 4) == 0) ||
        (plen >= 5 && strcmp(path + plen - 5, ".gguf") == 0)) {
        gguf_set set; /* any part of a split model: the vocabulary is in the first part */
        int rc = gguf_set_open(&set, path, err, errlen);
        if (rc) return rc;
        rc = ms_tokenizer_from_gguf(out, set.parts[0], err, errlen);
        gguf_set_close(&set);
        return rc;
    }
    if (plen >= 12 && strcmp(path + plen - 12, ".safetensors") == 0) {
        const char *slash = strrchr(path, '/');
        size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
        char *p = malloc(dlen + sizeof "tokenizer.json");
        if (!p) return MS_ERR_RUNTIME;
        memcpy(p, path, dlen);
        strcpy(p + dlen, "tokenizer.json");
        int rc = ms_tokenizer_from_json_file(out, p, err, errlen);
        free(p);
        return rc;
    }
    return ms_tokenizer_from_json_file(out, path, err, errlen);
}
