/* tokenizer_impl.h — the inside of ms_tokenizer, shared by the tokenizer's own files only
 * (tokenizer.c: lookup tables, encode, decode; tokenizer_load.c: GGUF / tokenizer.json
 * readers and the tokenizer.json writer; tokenizer_togguf.c: GGUF metadata writer).
 *
 * One representation for both sources. Pieces live in one pool; a piece hash maps text to
 * id; a pair table maps two adjacent symbol ids to the id they merge into and the merge's
 * priority. From GGUF (SentencePiece semantics, as llama.cpp's llm_tokenizer_spm) the
 * priority of a pair is the score of the merged piece; from tokenizer.json (Hugging Face BPE
 * semantics) it is minus the rank of the merge rule. Higher priority merges first; ties go to
 * the leftmost pair in both libraries. */
#ifndef MS_TOKENIZER_IMPL_H
#define MS_TOKENIZER_IMPL_H

#include "engine.h"
#include "gguf.h"

#include <stdint.h>

/* SentencePiece / llama.cpp token types (tokenizer.ggml.token_type values). */
enum {
    MS_TOK_NORMAL = 1,
    MS_TOK_UNKNOWN = 2,
    MS_TOK_CONTROL = 3,
    MS_TOK_USER_DEFINED = 4,
    MS_TOK_UNUSED = 5,
    MS_TOK_BYTE = 6,
};

/* Flags of Hugging Face added tokens. */
enum { MS_ADDED_LSTRIP = 1, MS_ADDED_RSTRIP = 2, MS_ADDED_SINGLE_WORD = 4 };

/* Byte-level BPE code points: bytes map into U+0021..U+0143. */
#define MS_TOK_BYTE_CPS 0x144

/* Word boundaries: (start, end) byte offsets, v[2i], v[2i+1]. */
typedef struct ms_tok_spans {
    int64_t *v;
    int64_t n, cap;
} ms_tok_spans;
typedef struct ms_tok_pretok ms_tok_pretok;

/* Where merges come from (see the file comment). */
typedef enum ms_merge_kind { MS_MERGE_SCORES = 0, MS_MERGE_RANKS = 1 } ms_merge_kind;

/* How the space prefix "▁" is added to a run of text (a fragment between user tokens). */
typedef enum ms_prefix_kind {
    MS_PREFIX_LLAMA = 0,   /* llama.cpp / HF legacy Prepend: every fragment, unconditionally */
    MS_PREFIX_META_ALWAYS, /* HF Metaspace "always": unless it already starts with "▁" */
    MS_PREFIX_META_FIRST,  /* HF Metaspace "first": only at offset 0, same condition */
    MS_PREFIX_NONE,        /* add_space_prefix false / prepend_scheme "never" */
} ms_prefix_kind;

struct ms_tokenizer {
    int n_vocab;
    char *pool;             /* all pieces, each NUL-terminated */
    uint32_t *piece_off;    /* (n_vocab) offset of piece i in pool */
    uint32_t *piece_len;    /* (n_vocab) byte length of piece i */
    float *scores;          /* (n_vocab) GGUF scores, or minus the first merge rank (JSON) */
    uint8_t *types;         /* (n_vocab) MS_TOK_* */
    int32_t byte_id[256];   /* id of "<0xXX>", -1 if absent */
    int32_t single_id[256]; /* id of the one-byte piece "c", -1 if absent */
    int bos, eos, unk, pad; /* -1 if none */
    int add_bos, add_eos;
    int add_space_prefix; /* the "▁" prefix exists (decoding strips it from the first token) */
    ms_prefix_kind prefix;
    int split_words;   /* HF Metaspace split=true: no merge across a "▁" word start */
    int meta_hard;     /* no piece has "▁" after another character (see encode_escaped) */
    int byte_fallback; /* else symbols outside the vocabulary give <unk> (HF) */
    int fuse_unk;      /* consecutive such symbols give one <unk> (HF fuse_unk) */
    ms_merge_kind merge;
    int max_piece_len;

    /* Piece hash: open addressing, slots hold id + 1 (0 = empty). */
    uint32_t *phash; /* (phash_mask + 1) */
    uint64_t phash_mask;

    /* Pair table: key (left id << 32 | right id), value merged id and priority; one 16-byte
     * slot per entry so a probe touches one cache line. */
    struct ms_tok_pair {
        uint64_t key; /* UINT64_MAX = empty */
        int32_t id;
        float prio;
    } * pairs; /* (pair_mask + 1) */
    uint64_t pair_mask;
    int64_t n_pairs;

    /* Tokens matched in raw text before the BPE, longest first: the user-defined ones
     * always; with MS_TOKENIZE_SPECIAL also control and unknown ones (special). */
    struct ms_tok_set {
        int32_t *ids;           /* (n) token ids, longest first */
        int32_t *by_first;      /* (n) indices into ids, grouped by first byte */
        int32_t first_off[257]; /* group of byte b: by_first[off[b] .. off[b+1]) */
        uint8_t first[256];     /* 1: some token starts with this byte */
        int n;
    } user, special;
    /* Hugging Face added tokens (tokenizer.json, byte-level): matched leftmost-longest as
     * tokenizers does, with their flags (NULL: llama.cpp's partition, flags ignored). */
    uint8_t *added_flags; /* (n_vocab) MS_ADDED_* */

    /* Byte-level BPE (GPT-2 family; tokenizer_bpe.c). Text is split by the pre-tokenizer's
     * patterns, each word's bytes are spelled as one-character pieces (bytes_to_unicode),
     * merged by rank, and pieces are decoded back to bytes. */
    int byte_level;
    int ignore_merges; /* a word that is a piece is one token */
    unsigned norm;     /* Hugging Face normalizer steps (MS_NORM_*), 0 for none */
    int llama_bytes;   /* a symbol that is no piece: its bytes as one-byte pieces (llama.cpp) */
    struct ms_tok_pretok *pre;        /* split patterns, NULL for none */
    struct ms_tok_pretok *pre_orig;   /* GGUF: the model's own pattern where llama.cpp's differs */
    char pre_name[32];                /* tokenizer.ggml.pre, or "tokenizer.json" */
    const char *const *pre_rx;        /* GGUF: the pre-type's patterns (static table), else NULL */
    int16_t cp_byte[MS_TOK_BYTE_CPS]; /* code point -> byte, -1 if none */
    char byte_utf8[256][2];           /* byte -> UTF-8 of its code point */
    uint8_t byte_utf8_len[256];
    int32_t bl_id[256]; /* byte -> id of its one-character piece, -1 */

    char source[16];      /* "gguf" or "tokenizer.json" */
    char prefix_form[24]; /* "prepend", "metaspace-first", ... for describe_json */
};

/* Builds the hash tables and derived fields once pieces, types, scores and special ids are
 * set. With MS_MERGE_SCORES the pair table is derived from the vocabulary; with
 * MS_MERGE_RANKS the caller adds pairs with ms_tok_add_pair afterwards. Returns 0 or
 * MS_ERR_RUNTIME (out of memory). */
int ms_tok_finish(ms_tokenizer *t, int64_t expected_pairs);
/* Piece lookup by text: id or -1. */
int32_t ms_tok_lookup(const ms_tokenizer *t, const char *s, size_t n);
/* Adds a merge (left, right) -> merged with priority prio unless the pair exists already
 * (the first, best ranked, rule wins). Returns 0 or MS_ERR_RUNTIME. */
int ms_tok_add_pair(ms_tokenizer *t, int32_t left, int32_t right, int32_t merged, float prio);
/* Allocates an empty tokenizer with room for n pieces of pool_bytes total. */
ms_tokenizer *ms_tok_alloc(int n, size_t pool_bytes);
/* 1 if s[0..n) is "<0xXX>" (upper-case hex as SentencePiece writes it); sets *byte. */
int ms_tok_is_byte_piece(const char *s, size_t n, int *byte);

/* Byte-level BPE (tokenizer_bpe.c). */
/* Pre-tokenizer steps: a pattern whose matches and gaps become words (Isolated), whose gaps
 * only do (Removed), or " " put before every word not starting with one (Prefix). */
enum { MS_PRE_ISOLATED = 0, MS_PRE_REMOVED = 1, MS_PRE_PREFIX = 2 };
/* Compiles one split pattern (Oniguruma, UTF-8; literal: the text itself) onto the list *pp
 * (allocated on first use); on failure msg says why. MS_ERR_INPUT for a bad pattern. */
int ms_tok_pretok_step(ms_tok_pretok **pp, int kind, const char *pattern, size_t len, int literal,
                       char *msg, size_t cap);
int ms_tok_pretok_add(ms_tok_pretok **pp, const char *pattern, size_t len, char *msg, size_t cap);
void ms_tok_pretok_free(ms_tok_pretok *p);
/* Cuts valid UTF-8 s[0..n) into words with every step in turn; a NULL list gives one word.
 * Spans index *text: s, or *aux when a prefix step rebuilt the text. 0 or MS_ERR_RUNTIME. */
int ms_tok_pretok_split(const ms_tok_pretok *p, const char *s, int64_t n, ms_tok_spans *sp,
                        char **aux, int64_t *aux_cap, const char **text);
int ms_tok_spans_push(ms_tok_spans *sp, int64_t a, int64_t b);
/* Invalid UTF-8 as Python and browsers read it (each maximal invalid subpart is U+FFFD). */
size_t ms_tok_clean_replace(const char *src, size_t n, char *dst);
/* Normalization forms, packed 4 bits per step in ms_tokenizer.norm. */
enum { MS_NORM_NFC = 1, MS_NORM_NFKC = 2, MS_NORM_NFD = 3, MS_NORM_NFKD = 4 };
int ms_tok_normalize(unsigned norm, const char *s, int64_t n, char **out, int64_t *n_out);
/* tokenizer.json: 1 if the pre-tokenizer (or decoder) is ByteLevel; then
 * ms_tok_json_byte_level reads normalizer, pre-tokenizer and model flags into t. */
struct cJSON;
int ms_tok_json_is_byte_level(const struct cJSON *root);
int ms_tok_json_byte_level(ms_tokenizer *t, const struct cJSON *root, const struct cJSON *model,
                           const char *path, char *err, size_t errlen);
/* The merges back out of the pair table in rank order (byte-level writers): *l, *r malloc'ed
 * pairs of ids; 0 or MS_ERR_RUNTIME. */
int ms_tok_merges_ranked(const ms_tokenizer *t, int32_t **l, int32_t **r, int64_t *n);
/* Invalid UTF-8 as llama.cpp reads it (each bad byte is U+FFFD); dst holds 3n bytes. */
size_t ms_tok_clean_llama(const char *src, size_t n, char *dst);
void ms_tok_byte_map_init(ms_tokenizer *t);
void ms_tok_byte_ids(ms_tokenizer *t);
/* The byte-level part of the GGUF reader (model "gpt2"): pre-type, merges, flags. Called with
 * pieces, types and special ids set; calls ms_tok_finish itself. */
int ms_tok_gguf_byte_level(ms_tokenizer *t, const gguf_file *g, char *err, size_t errlen);

/* UTF-8 validation: ms_utf8_valid_prefix() of util/msutil.h. */
#include "msutil.h"

static inline const char *ms_tok_piece(const ms_tokenizer *t, int32_t id) {
    return t->pool + t->piece_off[id];
}

#endif
