/* model.c — opening a model: a GGUF file ("llama" architecture with experts), or a Hugging
 * Face folder (config.json + model.safetensors or shards with model.safetensors.index.json),
 * into one description: ms_hparams plus ms_layer/ms_mat views into the mmapped files. Every
 * tensor the forward pass needs is checked to exist with the expected shape and a supported
 * type before the model is handed out. Also the model's tokenizer, parameter counts, the
 * tensor/file tables and the JSON description (`inspect`, route store provenance). */
#include "arch.h"
#include "engine.h"
#include "gguf.h"
#include "gguf_split.h"
#include "msutil.h"
#include "safetensors.h"
#include "tokenizer_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct ms_model {
    ms_hparams hp;
    const ms_arch *arch; /* the family's registry entry (names, keys, block) */
    ms_layer *layers;    /* [n_layer] */
    ms_mat *expert_mats; /* [n_layer][3][n_expert]: gate, up, down; ms_layer points here */
    ms_mat tok_embd;     /* (n_vocab, d_model) */
    ms_mat out_norm;     /* (1, d_model) */
    ms_mat lm_head;      /* (n_vocab, d_model); a copy of tok_embd when tied */
    int stacked_experts; /* GGUF ffn_*_exps (1) or one tensor per expert (0) */
    char name[128];      /* general.name or the folder name */

    ms_tensor_info *tensors; /* [n_tensors] as stored */
    const uint8_t **tdata;   /* [n_tensors] data pointers into the mappings */
    int64_t *by_name;        /* [n_tensors] indices sorted by tensor name */
    int n_tensors;

    char **files;         /* [n_files] paths (shards first, then JSON files) */
    uint64_t *file_sizes; /* [n_files] */
    int n_files;

    gguf_file *gguf;  /* GGUF source (the first part of a split set), or NULL */
    gguf_set gset;    /* all GGUF parts (gset.parts[0] == gguf) */
    st_file **shards; /* [n_shards] safetensors sources */
    int n_shards;
    ms_tokenizer *tok;
    const char *src; /* path named in shape/type errors (the GGUF file or the folder) */
    char *src_owned;
    float **scales; /* [n_scales] FP8 block scales as f32 (ms_mat.scale points here) */
    int hf_alt;     /* the HF folder names the family's other class (DeepseekV3ForCausalLM) */
    int n_scales;
    void **owned; /* [n_owned] buffers the model made (gpt-oss HF biases, float experts) */
    int n_owned;
    size_t copied_bytes; /* of those, the float experts' copies */
};

/* ---------------------------------------------------------------------------------------
 * Small helpers.
 */

static int add_file(ms_model *m, const char *path, uint64_t size) {
    char **f = realloc(m->files, sizeof *f * (size_t)(m->n_files + 1));
    if (!f) return MS_ERR_RUNTIME;
    m->files = f;
    uint64_t *s = realloc(m->file_sizes, sizeof *s * (size_t)(m->n_files + 1));
    if (!s) return MS_ERR_RUNTIME;
    m->file_sizes = s;
    if (!(m->files[m->n_files] = strdup(path))) return MS_ERR_RUNTIME;
    m->file_sizes[m->n_files++] = size;
    return 0;
}

static uint64_t file_size_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Whether the folder holds an entry of that name, whatever its kind: a FIFO or a directory
 * named tokenizer.json or model.safetensors.index.json is then refused by the opener (never
 * silently skipped, never read: st_open_input does not block on a FIFO). */
static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0 && (stat(path, &st) == 0 || errno != ENOENT);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int cmp_name(const void *a, const void *b, void *arg) {
    const ms_tensor_info *t = arg;
    return strcmp(t[*(const int64_t *)a].name, t[*(const int64_t *)b].name);
}

static int build_index(ms_model *m) {
    m->by_name = malloc(sizeof *m->by_name * (size_t)(m->n_tensors ? m->n_tensors : 1));
    if (!m->by_name) return MS_ERR_RUNTIME;
    for (int i = 0; i < m->n_tensors; i++)
        m->by_name[i] = i;
    qsort_r(m->by_name, (size_t)m->n_tensors, sizeof *m->by_name, cmp_name, m->tensors);
    return 0;
}

static int find_tensor(const ms_model *m, const char *name) {
    int64_t lo = 0, hi = m->n_tensors - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->tensors[m->by_name[mid]].name, name);
        if (c == 0) return (int)m->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static void shape_str(char *buf, size_t n, const int64_t *ne, int nd) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < nd && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "{", (long long)ne[i]);
    if (used < n) snprintf(buf + used, n - used, "}");
}

/* Allocates the layer array and the per-expert matrix views once hparams are known. */
static int alloc_layers(ms_model *m) {
    const ms_hparams *hp = &m->hp;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    m->expert_mats = calloc((size_t)hp->n_layer * 3 * (size_t)hp->n_expert, sizeof(ms_mat));
    if (!m->layers || !m->expert_mats) return MS_ERR_RUNTIME;
    for (int il = 0; il < hp->n_layer; il++) {
        ms_mat *base = m->expert_mats + (size_t)il * 3 * (size_t)hp->n_expert;
        m->layers[il].w_gate = base;
        m->layers[il].w_up = base + hp->n_expert;
        m->layers[il].w_down = base + 2 * hp->n_expert;
    }
    return 0;
}

/* The block scales of an FP8 matrix `name` ("...weight"): tensor "...weight_scale_inv" of
 * (ceil(rows/128), ceil(cols/128)) F32 or BF16 values, finite and > 0, copied to f32 (they are
 * 1/16384 of the matrix) and attached to out[0]. FP8 vectors and stacked FP8 tensors are
 * refused: only Hugging Face linear weights come in FP8. */
static int bind_fp8_scale(ms_model *m, const char *name, int64_t rows, int64_t cols, int n_mats,
                          ms_mat *out, char *err, size_t errlen) {
    const char *file = m->src;
    if (rows < 2 || n_mats != 1) {
        st_errf(err, errlen, "%s: tensor '%s': F8_E4M3 is supported for matrices only", file, name);
        return MS_ERR_INPUT;
    }
    char sn[256];
    snprintf(sn, sizeof sn, "%s_scale_inv", name);
    int i = find_tensor(m, sn);
    if (i < 0) {
        st_errf(err, errlen, "%s: F8_E4M3 tensor '%s' has no block scales '%s'", file, name, sn);
        return MS_ERR_INPUT;
    }
    const ms_tensor_info *t = &m->tensors[i];
    const int64_t sr = (rows + 127) / 128, sc = (cols + 127) / 128;
    const int64_t have_c = t->n_dims >= 1 ? t->ne[0] : 1, have_r = t->n_dims >= 2 ? t->ne[1] : 1;
    if (t->n_dims > 2 || have_r != sr || have_c != sc ||
        (t->type != MS_TYPE_F32 && t->type != MS_TYPE_BF16)) {
        st_errf(err, errlen,
                "%s: tensor '%s' must be F32 or BF16 of shape [%lld, %lld] (128 x 128 blocks of "
                "'%s')",
                m->files[t->file], sn, (long long)sr, (long long)sc, name);
        return MS_ERR_INPUT;
    }
    float *s = malloc(sizeof *s * (size_t)(sr * sc));
    float **list = realloc(m->scales, sizeof *list * (size_t)(m->n_scales + 1));
    if (!s || !list) {
        free(s);
        if (list) m->scales = list;
        return MS_ERR_RUNTIME;
    }
    m->scales = list;
    m->scales[m->n_scales++] = s;
    ms_dequantize_row((ms_type)t->type, m->tdata[i], s, sr * sc);
    for (int64_t j = 0; j < sr * sc; j++)
        if (!(s[j] > 0.0f) || !isfinite(s[j])) {
            st_errf(err, errlen, "%s: tensor '%s' holds a scale that is not finite and > 0",
                    m->files[t->file], sn);
            return MS_ERR_INPUT;
        }
    out[0].scale = s;
    out[0].scale_ld = sc;
    return 0;
}

/* Binds tensor `name` as n_mats matrices of (rows, cols) stacked along ne[2] (n_mats 1: a
 * plain matrix or vector). Expected ggml shape {cols, rows, n_mats}; trailing 1s optional. */
static int bind(ms_model *m, const char *name, int64_t rows, int64_t cols, int n_mats, ms_mat *out,
                char *err, size_t errlen) {
    int i = find_tensor(m, name);
    if (i < 0) {
        st_errf(err, errlen, "%s: missing tensor '%s'", m->src, name);
        return MS_ERR_INPUT;
    }
    const ms_tensor_info *t = &m->tensors[i];
    const char *file = m->files[t->file]; /* the shard or GGUF file holding it */
    const int64_t want[4] = {cols, rows, n_mats, 1};
    for (int d = 0; d < 4; d++) {
        int64_t have = d < t->n_dims ? t->ne[d] : 1;
        if (have != want[d] || (d >= 3 && t->n_dims > 4)) {
            char hs[96], ws[96];
            shape_str(hs, sizeof hs, t->ne, t->n_dims);
            shape_str(ws, sizeof ws, want, n_mats > 1 ? 3 : rows > 1 ? 2 : 1);
            st_errf(err, errlen, "%s: tensor '%s' has shape %s (ggml order), expected %s", file,
                    name, hs, ws);
            return MS_ERR_INPUT;
        }
    }
    if (t->type < 0 || !ms_type_supported(t->type)) {
        st_errf(err, errlen, "%s: tensor '%s' has unsupported type %s", file, name,
                t->type < 0 ? "(non-float dtype)" : ms_type_name(t->type));
        return MS_ERR_INPUT;
    }
    int64_t be = ms_type_block_elems((ms_type)t->type);
    if (be <= 0 || cols % be != 0) {
        st_errf(err, errlen, "%s: tensor '%s': row length %lld is not a multiple of the %s block",
                file, name, (long long)cols, ms_type_name(t->type));
        return MS_ERR_INPUT;
    }
    size_t rb = ms_type_row_bytes((ms_type)t->type, cols);
    /* rows*n_mats*rb <= nbytes was checked by the file readers; re-check as an invariant. */
    uint64_t need;
    if (__builtin_mul_overflow((uint64_t)rows * (uint64_t)n_mats, (uint64_t)rb, &need) ||
        need > t->nbytes) {
        st_errf(err, errlen, "%s: tensor '%s': %llu bytes stored, %llu needed", file, name,
                (unsigned long long)t->nbytes, (unsigned long long)need);
        return MS_ERR_INPUT;
    }
    for (int e = 0; e < n_mats; e++) /* every field: out may be uninitialised memory */
        out[e] = (ms_mat){.type = (ms_type)t->type,
                          .rows = rows,
                          .cols = cols,
                          .row_bytes = rb,
                          .data = m->tdata[i] + (size_t)e * (size_t)rows * rb,
                          .name = t->name};
    if (t->type == MS_TYPE_F8_E4M3)
        return bind_fp8_scale(m, name, rows, cols, n_mats, out, err, errlen);
    return 0;
}

/* Binds tensor of role r (the family's GGUF name when hf is 0, else its HF name) for layer il
 * and expert x as n_mats matrices of (rows, cols). */
static int bind_role(ms_model *m, int hf, ms_role r, int il, int x, int64_t rows, int64_t cols,
                     int n_mats, ms_mat *out, char *err, size_t errlen) {
    char nb[192];
    if (ms_tensor_name(m->arch, hf, r, il, x, nb, sizeof nb)) {
        st_errf(err, errlen, "%s: the %s family has no %s tensor for role %d", m->src,
                m->arch->name, hf ? "Hugging Face" : "GGUF", (int)r);
        return MS_ERR_INPUT;
    }
    return bind(m, nb, rows, cols, n_mats, out, err, errlen);
}

/* Latent attention tensors of layer il (hparams.mla): the q path (low-rank with its norm, or
 * one matrix), attn_kv_a_mqa and its norm, attn_kv_b or the split attn_k_b / attn_v_b (whichever
 * the file has), the output. */
static int bind_mla(ms_model *m, int hf, int il, char *err, size_t errlen) {
    const ms_hparams *hp = &m->hp;
    ms_layer *L = &m->layers[il];
    const int64_t d = hp->d_model, H = hp->n_head, R = hp->kv_lora_rank;
    const int64_t dn = hp->d_head_nope, dr = hp->d_head_rope, dv = hp->d_head_v;
    const int64_t qr = hp->q_lora_rank;
    int rc;
#define R_(role, rows, cols, n, dst)                                                               \
    do {                                                                                           \
        if ((rc = bind_role(m, hf, role, il, 0, rows, cols, n, dst, err, errlen))) return rc;      \
    } while (0)
    if (qr > 0) {
        R_(MS_R_Q_A, qr, d, 1, &L->wq_a);
        R_(MS_R_Q_A_NORM, 1, qr, 1, &L->q_a_norm);
        R_(MS_R_Q_B, H * (dn + dr), qr, 1, &L->wq_b);
    } else {
        R_(MS_R_Q, H * (dn + dr), d, 1, &L->wq);
    }
    R_(MS_R_KV_A, R + dr, d, 1, &L->wkv_a);
    R_(MS_R_KV_A_NORM, 1, R, 1, &L->kv_a_norm);
    char nb[192];
    const int have_kvb = ms_tensor_name(m->arch, hf, MS_R_KV_B, il, 0, nb, sizeof nb) == 0 &&
                         find_tensor(m, nb) >= 0;
    if (have_kvb || ms_tensor_name(m->arch, hf, MS_R_K_B, il, 0, nb, sizeof nb) != 0) {
        R_(MS_R_KV_B, H * (dn + dv), R, 1, &L->wkv_b);
    } else {
        ms_mat *kb = malloc(sizeof *kb * (size_t)H);
        if (!kb) return MS_ERR_RUNTIME;
        rc = bind_role(m, hf, MS_R_K_B, il, 0, R, dn, (int)H, kb, err, errlen);
        L->wk_b = kb[0];
        L->wk_b.rows = H * R; /* the heads' (R, dn) matrices, one after the other */
        free(kb);
        if (rc) return rc;
        ms_mat *vb = malloc(sizeof *vb * (size_t)H);
        if (!vb) return MS_ERR_RUNTIME;
        rc = bind_role(m, hf, MS_R_V_B, il, 0, dv, R, (int)H, vb, err, errlen);
        L->wv_b = vb[0];
        L->wv_b.rows = H * dv;
        free(vb);
        if (rc) return rc;
    }
    R_(MS_R_O, d, H * dv, 1, &L->wo);
#undef R_
    return 0;
}

/* A buffer the model owns (freed at close); NULL when out of memory. */
static void *own(ms_model *m, size_t n) {
    void **o = realloc(m->owned, sizeof *o * (size_t)(m->n_owned + 1));
    if (!o) return NULL;
    m->owned = o;
    void *p = calloc(n ? n : 1, 1);
    if (p) m->owned[m->n_owned++] = p;
    return p;
}

/* Tensor `name` as a raw uint8 safetensors tensor of ggml shape ne[0..nd): its data, or NULL
 * with the error set. */
static const uint8_t *bind_u8(ms_model *m, const char *name, int nd, const int64_t *ne, char *err,
                              size_t errlen) {
    int i = find_tensor(m, name);
    if (i < 0) {
        st_errf(err, errlen, "%s: missing tensor '%s'", m->src, name);
        return NULL;
    }
    const ms_tensor_info *t = &m->tensors[i];
    int ok = t->n_dims == nd;
    uint64_t n = 1;
    for (int d = 0; ok && d < nd; d++) {
        ok = t->ne[d] == ne[d];
        n *= (uint64_t)ne[d];
    }
    if (!ok || n > t->nbytes) {
        char hs[96], ws[96];
        shape_str(hs, sizeof hs, t->ne, t->n_dims);
        shape_str(ws, sizeof ws, ne, nd);
        st_errf(err, errlen, "%s: tensor '%s' has shape %s (ggml order), expected %s of bytes",
                m->files[t->file], name, hs, ws);
        return NULL;
    }
    return m->tdata[i];
}

/* Lets the mapped file pages of tensor `name` go once it has been copied and is not read
 * again: they are clean, so MADV_DONTNEED only unmaps them (the page cache may then reclaim
 * them; a page shared with a neighbouring tensor is refaulted from the file if that is read).
 * Only for data inside a shard's mapping, never for memory the model owns. */
static void drop_file_pages(ms_model *m, const char *name) {
    int i = find_tensor(m, name);
    if (i < 0 || !m->shards) return;
    const ms_tensor_info *t = &m->tensors[i];
    const st_file *f = m->shards[t->file];
    const uint8_t *p = m->tdata[i];
    if (p < f->map || p + t->nbytes > f->map + f->size || t->nbytes > f->size) return;
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + pg - 1) / pg * pg, hi = ((uintptr_t)p + t->nbytes) / pg * pg;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Transposing GPT-OSS's input-major float experts into rows, TRANSPOSE_TB source rows (input
 * features) at a time, so every output row receives that many consecutive values per write. */
#define TRANSPOSE_TB 16

/* Source rows [i0, i0 + nb) of w (n_src values each) into blk: es = 2 moves F16/BF16 bytes,
 * es = 4 dequantizes to f32. */
static void rows_block(const ms_mat *w, int64_t i0, int nb, int64_t n_src, size_t es,
                       uint8_t *blk) {
    for (int b = 0; b < nb; b++) {
        const uint8_t *src = w->data + (size_t)(i0 + b) * w->row_bytes;
        uint8_t *t = blk + (size_t)b * (size_t)n_src * es;
        if (es == 2)
            memcpy(t, src, 2 * (size_t)n_src);
        else
            ms_dequantize_row(w->type, src, (float *)(void *)t, n_src);
    }
}

/* dst[o·ld + i0 + b] = blk row b's value o·stride + off, for o < n_out, b < nb. */
static void scatter_block(const uint8_t *blk, int nb, int64_t n_src, size_t es, int64_t stride,
                          int64_t off, int64_t n_out, uint8_t *dst, int64_t ld, int64_t i0) {
    for (int64_t o = 0; o < n_out; o++) {
        uint8_t *d = dst + ((size_t)o * (size_t)ld + (size_t)i0) * es;
        for (int b = 0; b < nb; b++)
            memcpy(d + (size_t)b * es,
                   blk + ((size_t)b * (size_t)n_src + (size_t)(o * stride + off)) * es, es);
    }
}

/* GPT-OSS experts of an HF folder (transformers' GptOssExperts): gate_up_proj (E, d, 2*ff)
 * with gate and up interleaved along the last axis and down_proj (E, ff, d), both stored
 * transposed against nn.Linear, or (the release) their MXFP4 *_blocks (E, out, in/32, 16) and
 * *_scales (E, out, in/32) uint8 tensors, rows not transposed, gate/up rows interleaved; and
 * gate_up_proj_bias (E, 2*ff) interleaved, down_proj_bias (E, d). The engine wants (out, in)
 * matrices per expert and separate gate/up biases: float experts are transposed to f32 copies
 * the model owns; MXFP4 ones are used in place, as MS_TYPE_MXFP4_HF views into the mmapped
 * blocks and scales (gate and up: every other row of gate_up, twice the row stride), so an
 * HF folder costs no more memory at open than the GGUF of the same model. */
static int bind_oai_hf_experts(ms_model *m, int il, char *err, size_t errlen) {
    ms_hparams *hp = &m->hp;
    ms_layer *L = &m->layers[il];
    const int64_t E = hp->n_expert, d = hp->d_model, ff = hp->d_ff;
    char gu[192], dn[192], nb[224];
    int rc;
    ms_tensor_name(m->arch, 1, MS_R_EXPS_GATE, il, 0, gu, sizeof gu);
    ms_tensor_name(m->arch, 1, MS_R_EXPS_DOWN, il, 0, dn, sizeof dn);
    /* biases: gate/up de-interleaved to f32, down bound as stored */
    ms_mat gub;
    if ((rc = bind_role(m, 1, MS_R_EXPS_GATE_BIAS, il, 0, E, 2 * ff, 1, &gub, err, errlen)) ||
        (rc = bind_role(m, 1, MS_R_EXPS_DOWN_BIAS, il, 0, E, d, 1, &L->b_down, err, errlen)))
        return rc;
    float *bg = own(m, sizeof(float) * (size_t)(2 * E * ff));
    float *row = malloc(sizeof(float) * (size_t)(2 * ff));
    if (!bg || !row) {
        free(row);
        return MS_ERR_RUNTIME;
    }
    float *bu = bg + E * ff;
    for (int64_t e = 0; e < E; e++) {
        ms_dequantize_row(gub.type, gub.data + (size_t)e * gub.row_bytes, row, 2 * ff);
        for (int64_t j = 0; j < ff; j++) {
            bg[e * ff + j] = row[2 * j];
            bu[e * ff + j] = row[2 * j + 1];
        }
    }
    free(row);
    const ms_mat fb = {MS_TYPE_F32, E, ff,  (size_t)ff * sizeof(float), NULL, gub.name,
                       NULL,        0, NULL};
    L->b_gate = fb;
    L->b_gate.data = (const uint8_t *)bg;
    L->b_up = fb;
    L->b_up.data = (const uint8_t *)bu;

    snprintf(nb, sizeof nb, "%s_blocks", gu);
    if (find_tensor(m, gu) < 0 && find_tensor(m, nb) >= 0) { /* MXFP4, as released */
        if (d % 32 || ff % 32) {
            st_errf(err, errlen,
                    "%s: MXFP4 experts need hidden and intermediate sizes that are "
                    "multiples of 32",
                    m->src);
            return MS_ERR_INPUT;
        }
        const char *bases[2] = {gu, dn};
        const int64_t outs[2] = {2 * ff, d}, ins[2] = {d, ff};
        for (int w = 0; w < 2; w++) {
            const int64_t no = outs[w], ni = ins[w], nblk = ni / 32;
            const int64_t neb[4] = {16, nblk, no, E}, nes[3] = {nblk, no, E};
            char sn[224];
            snprintf(nb, sizeof nb, "%s_blocks", bases[w]);
            snprintf(sn, sizeof sn, "%s_scales", bases[w]);
            const uint8_t *blk = bind_u8(m, nb, 4, neb, err, errlen);
            const uint8_t *scl = blk ? bind_u8(m, sn, 3, nes, err, errlen) : NULL;
            if (!scl) return MS_ERR_INPUT;
            const char *tname = m->tensors[find_tensor(m, nb)].name;
            const size_t rb = (size_t)nblk * 16; /* one row's codes */
            for (int64_t e = 0; e < E; e++) {
                /* expert e's rows start at row e * no of the (E * no) rows */
                const uint8_t *q = blk + (size_t)(e * no) * rb, *s = scl + (size_t)(e * no * nblk);
                const ms_mat mx = {MS_TYPE_MXFP4_HF, ff, ni, 2 * rb, q, tname, NULL, 2 * nblk, s};
                if (w == 0) { /* gate_up rows interleave: row 2j is gate row j, 2j+1 up row j */
                    L->w_gate[e] = mx;
                    L->w_up[e] = mx;
                    L->w_up[e].data = q + rb;
                    L->w_up[e].escale = s + nblk;
                } else {
                    L->w_down[e] = (ms_mat){MS_TYPE_MXFP4_HF, d, ni, rb, q, tname, NULL, nblk, s};
                }
            }
        }
        return 0;
    }
    /* float experts: gate_up (E, d, 2ff) = ggml {2ff, d, E}; down (E, ff, d) = ggml {d, ff, E} */
    ms_mat g[1], dw[1];
    ms_mat *tmp = malloc(sizeof *tmp * (size_t)E * 2);
    if (!tmp) return MS_ERR_RUNTIME;
    if ((rc = bind(m, gu, d, 2 * ff, (int)E, tmp, err, errlen)) ||
        (rc = bind(m, dn, ff, d, (int)E, tmp + E, err, errlen))) {
        free(tmp);
        return rc;
    }
    g[0] = tmp[0];
    dw[0] = tmp[E];
    /* F16/BF16 stay 16-bit (moved, never converted: the forward pass converts them exactly, as
     * it would the file's own rows); other types become F32 */
    ms_type tg = g[0].type == MS_TYPE_F16 || g[0].type == MS_TYPE_BF16 ? g[0].type : MS_TYPE_F32;
    ms_type td = dw[0].type == MS_TYPE_F16 || dw[0].type == MS_TYPE_BF16 ? dw[0].type : MS_TYPE_F32;
    const size_t sg = tg == MS_TYPE_F32 ? 4 : 2, sd = td == MS_TYPE_F32 ? 4 : 2;
    uint8_t *wgu = own(m, sg * (size_t)(2 * E * ff * d)), *wdn = own(m, sd * (size_t)(E * ff * d));
    uint8_t *blk = malloc(4 * (size_t)TRANSPOSE_TB * (size_t)(2 * ff > d ? 2 * ff : d));
    if (!wgu || !wdn || !blk) {
        free(tmp);
        free(blk);
        return MS_ERR_RUNTIME;
    }
    m->copied_bytes += sg * (size_t)(2 * E * ff * d) + sd * (size_t)(E * ff * d);
    for (int64_t e = 0; e < E; e++) {
        uint8_t *wg = wgu + sg * (size_t)(e * ff * d), *wu = wgu + sg * (size_t)((E + e) * ff * d);
        uint8_t *wd = wdn + sd * (size_t)(e * ff * d);
        for (int64_t i0 = 0; i0 < d; i0 += TRANSPOSE_TB) { /* gate_up row i: input feature i */
            int rb = (int)(d - i0 < TRANSPOSE_TB ? d - i0 : TRANSPOSE_TB);
            rows_block(&tmp[e], i0, rb, 2 * ff, sg, blk);
            scatter_block(blk, rb, 2 * ff, sg, 2, 0, ff, wg, d, i0); /* even columns: gate */
            scatter_block(blk, rb, 2 * ff, sg, 2, 1, ff, wu, d, i0); /* odd: up */
        }
        for (int64_t i0 = 0; i0 < ff; i0 += TRANSPOSE_TB) { /* down_proj row i: input i */
            int rb = (int)(ff - i0 < TRANSPOSE_TB ? ff - i0 : TRANSPOSE_TB);
            rows_block(&tmp[E + e], i0, rb, d, sd, blk);
            scatter_block(blk, rb, d, sd, 1, 0, d, wd, ff, i0);
        }
        const ms_mat fm = {tg, ff, d, (size_t)d * sg, NULL, tmp[e].name, NULL, 0, NULL};
        L->w_gate[e] = L->w_up[e] = fm;
        L->w_gate[e].data = wg;
        L->w_up[e].data = wu;
        L->w_down[e] = (ms_mat){td, d, ff, (size_t)ff * sd, wd, tmp[E + e].name, NULL, 0, NULL};
    }
    drop_file_pages(m, gu);
    drop_file_pages(m, dn);
    free(blk);
    free(tmp);
    return 0;
}

/* Every tensor of the model, named by the family's table (arch.c) and checked against each
 * layer's block: embeddings, output, then per layer attention (+ biases, QK-norm), the FFN
 * norm, and a dense MLP or the router, the experts and a shared expert. A GGUF file's experts
 * are stacked ffn_*_exps tensors (or, for Mixtral files, one tensor per expert); HF folders
 * have one tensor per expert (Granite: fused input_linear / output_linear). */
static int bind_model(ms_model *m, int hf, char *err, size_t errlen) {
    const ms_arch *a = m->arch;
    ms_hparams *hp = &m->hp;
    int rc;
    if ((rc = bind_role(m, hf, MS_R_TOK_EMBD, 0, 0, hp->n_vocab, hp->d_model, 1, &m->tok_embd, err,
                        errlen)) ||
        (rc = bind_role(m, hf, MS_R_OUT_NORM, 0, 0, 1, hp->d_model, 1, &m->out_norm, err, errlen)))
        return rc;
    if (m->tok_embd.type == MS_TYPE_F8_E4M3) { /* looked up by row, never through the kernel */
        st_errf(err, errlen, "%s: F8_E4M3 token embeddings are not supported", m->src);
        return MS_ERR_INPUT;
    }
    char nb[192];
    ms_tensor_name(a, hf, MS_R_OUTPUT, 0, 0, nb, sizeof nb);
    if (hf ? !hp->tied_embeddings : (find_tensor(m, nb) >= 0 || !a->output_optional)) {
        if ((rc = bind(m, nb, hp->n_vocab, hp->d_model, 1, &m->lm_head, err, errlen))) return rc;
    } else {
        hp->tied_embeddings = 1;
        m->lm_head = m->tok_embd;
    }
    const int64_t d = hp->d_model, q = (int64_t)hp->n_head * hp->d_head,
                  kv = (int64_t)hp->n_head_kv * hp->d_head, ff = hp->d_ff;
    const int E = hp->n_expert;
    for (int il = 0; il < hp->n_layer; il++) {
        ms_layer *L = &m->layers[il];
        ms_block *b = &L->blk; /* ffn (dense or MoE) was set by the config reader */
        b->qk_norm = a->qk_norm;
        b->qkv_bias = a->qkv_bias;
        b->shared_expert = b->ffn == MS_FFN_MOE && a->shared_expert;
        b->shared_nogate = b->shared_expert && a->shared_nogate;
        b->attn_sinks = b->o_bias = b->router_bias = b->expert_bias = a->oai;
#define R(role, rows, cols, n, dst)                                                                \
    do {                                                                                           \
        if ((rc = bind_role(m, hf, role, il, 0, rows, cols, n, dst, err, errlen))) return rc;      \
    } while (0)
        R(MS_R_ATTN_NORM, 1, d, 1, &L->attn_norm);
        if (hp->mla) {
            if ((rc = bind_mla(m, hf, il, err, errlen))) return rc;
        } else {
            R(MS_R_Q, q, d, 1, &L->wq);
            R(MS_R_K, kv, d, 1, &L->wk);
            R(MS_R_V, kv, d, 1, &L->wv);
            R(MS_R_O, d, q, 1, &L->wo);
        }
        if (b->qkv_bias) {
            R(MS_R_Q_BIAS, 1, q, 1, &L->bq);
            R(MS_R_K_BIAS, 1, kv, 1, &L->bk);
            R(MS_R_V_BIAS, 1, kv, 1, &L->bv);
        }
        if (b->qk_norm != MS_QK_NORM_NONE) {
            int full = b->qk_norm == MS_QK_NORM_FULL;
            R(MS_R_Q_NORM, 1, full ? q : hp->d_head, 1, &L->q_norm);
            R(MS_R_K_NORM, 1, full ? kv : hp->d_head, 1, &L->k_norm);
        }
        if (b->attn_sinks) R(MS_R_SINKS, 1, hp->n_head, 1, &L->sinks);
        if (b->o_bias) R(MS_R_O_BIAS, 1, d, 1, &L->bo);
        R(MS_R_FFN_NORM, 1, d, 1, &L->ffn_norm);
        if (b->ffn == MS_FFN_DENSE) {
            const int64_t fd = hp->d_ff_dense;
            R(MS_R_FFN_GATE, fd, d, 1, &L->ffn_gate);
            R(MS_R_FFN_UP, fd, d, 1, &L->ffn_up);
            R(MS_R_FFN_DOWN, d, fd, 1, &L->ffn_down);
            continue;
        }
        R(MS_R_ROUTER, E, d, 1, &L->router);
        if (hp->mla && ms_tensor_name(a, hf, MS_R_EXP_PROBS_B, il, 0, nb, sizeof nb) == 0 &&
            find_tensor(m, nb) >= 0)
            R(MS_R_EXP_PROBS_B, 1, E, 1, &L->exp_probs_b);
        if (b->router_bias) R(MS_R_ROUTER_BIAS, 1, E, 1, &L->router_b);
        if (b->expert_bias && hf) {
            if ((rc = bind_oai_hf_experts(m, il, err, errlen))) return rc;
        } else if (b->expert_bias) {
            R(MS_R_EXPS_GATE_BIAS, E, ff, 1, &L->b_gate);
            R(MS_R_EXPS_UP_BIAS, E, ff, 1, &L->b_up);
            R(MS_R_EXPS_DOWN_BIAS, E, d, 1, &L->b_down);
        }
        if (b->expert_bias && hf) goto shared; /* bound above */
        int stacked = !hf || a->hf_fused_experts;
        if (!hf && a->per_expert_gguf) {
            ms_tensor_name(a, 0, MS_R_EXPS_GATE, il, 0, nb, sizeof nb);
            stacked = find_tensor(m, nb) >= 0;
            if (!stacked) {
                ms_tensor_name(a, 0, MS_R_EXP_GATE, il, 0, nb, sizeof nb);
                if (find_tensor(m, nb) < 0) {
                    ms_tensor_name(a, 0, MS_R_EXPS_GATE, il, 0, nb, sizeof nb);
                    st_errf(err, errlen, "%s: missing tensor '%s'", m->src, nb);
                    return MS_ERR_INPUT;
                }
            }
        }
        if (il == hp->n_dense_lead && !hf) m->stacked_experts = stacked; /* first MoE layer */
        if (hf && a->hf_fused_experts) {
            /* input_linear (E, 2*ff, d): expert e's gate rows then its up rows */
            ms_mat *tmp = malloc(sizeof *tmp * (size_t)E);
            if (!tmp) return MS_ERR_RUNTIME;
            rc = bind_role(m, hf, MS_R_EXPS_GATE, il, 0, 2 * ff, d, E, tmp, err, errlen);
            for (int e = 0; !rc && e < E; e++) {
                L->w_gate[e] = tmp[e];
                L->w_gate[e].rows = ff;
                L->w_up[e] = tmp[e];
                L->w_up[e].rows = ff;
                L->w_up[e].data += (size_t)ff * tmp[e].row_bytes;
            }
            free(tmp);
            if (rc) return rc;
            R(MS_R_EXPS_DOWN, d, ff, E, L->w_down);
        } else if (stacked) {
            R(MS_R_EXPS_GATE, ff, d, E, L->w_gate);
            R(MS_R_EXPS_UP, ff, d, E, L->w_up);
            R(MS_R_EXPS_DOWN, d, ff, E, L->w_down);
        } else {
            for (int e = 0; e < E; e++) {
                if ((rc = bind_role(m, hf, MS_R_EXP_GATE, il, e, ff, d, 1, &L->w_gate[e], err,
                                    errlen)) ||
                    (rc = bind_role(m, hf, MS_R_EXP_UP, il, e, ff, d, 1, &L->w_up[e], err,
                                    errlen)) ||
                    (rc = bind_role(m, hf, MS_R_EXP_DOWN, il, e, d, ff, 1, &L->w_down[e], err,
                                    errlen)))
                    return rc;
            }
        }
    shared:
        if (b->shared_expert) {
            const int64_t fs = hp->d_ff_shared;
            if (!b->shared_nogate) R(MS_R_SH_INP, 1, d, 1, &L->sh_inp);
            R(MS_R_SH_GATE, fs, d, 1, &L->sh_gate);
            R(MS_R_SH_UP, fs, d, 1, &L->sh_up);
            R(MS_R_SH_DOWN, d, fs, 1, &L->sh_down);
        }
#undef R
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * GGUF.
 */

static int gg_int(const gguf_file *g, const char *key, int required, int64_t lo, int64_t hi,
                  int *out, char *err, size_t errlen) {
    if (gguf_find_key(g, key) < 0) {
        if (!required) return 0;
        st_errf(err, errlen, "%s: missing metadata key '%s'", gguf_path(g), key);
        return MS_ERR_INPUT;
    }
    int64_t v;
    if (gguf_get_int(g, key, &v) != 0) {
        st_errf(err, errlen, "%s: metadata key '%s' is not an integer", gguf_path(g), key);
        return MS_ERR_INPUT;
    }
    if (v < lo || v > hi) {
        st_errf(err, errlen, "%s: metadata key '%s' = %lld is outside [%lld, %lld]", gguf_path(g),
                key, (long long)v, (long long)lo, (long long)hi);
        return MS_ERR_INPUT;
    }
    *out = (int)v;
    return 0;
}

static int gg_float(const gguf_file *g, const char *key, float *out, char *err, size_t errlen) {
    if (gguf_find_key(g, key) < 0) return 0;
    double v;
    if (gguf_get_float(g, key, &v) != 0 || !(v > 0) || v > 1e30) {
        st_errf(err, errlen, "%s: metadata key '%s' is not a positive number", gguf_path(g), key);
        return MS_ERR_INPUT;
    }
    *out = (float)v;
    return 0;
}

/* DeepSeek-V2/V3 (arch mla): the latent attention's sizes and the router, as llama.cpp's
 * llama_model_deepseek2::load_arch_hparams reads them. attention.key_length_mla and
 * value_length_mla (both or neither) mean the split attn_k_b / attn_v_b tensors, whose
 * key_length / value_length are then the compressed sizes; without them key_length and
 * value_length are the heads' and the file has attn_kv_b. */
static int gguf_mla_hparams(ms_model *m, const gguf_file *g, int v_len, int rope_dim, char *err,
                            size_t errlen) {
    const ms_arch *a = m->arch;
    ms_hparams *hp = &m->hp;
    const char *path = gguf_path(g);
    char kb[8][96];
    int nk = 0;
#define KEY(suffix)                                                                                \
    (snprintf(kb[nk & 7], sizeof kb[0], "%s.%s", a->gguf_arch, (suffix)), kb[nk++ & 7])
    int k_mla = 0, v_mla = 0, gating = 0, norm = 0;
    if (gg_int(g, KEY("attention.q_lora_rank"), 0, 0, 1 << 16, &hp->q_lora_rank, err, errlen) ||
        gg_int(g, KEY("attention.kv_lora_rank"), 1, 1, 1 << 16, &hp->kv_lora_rank, err, errlen) ||
        gg_int(g, KEY("attention.key_length_mla"), 0, 1, 1 << 16, &k_mla, err, errlen) ||
        gg_int(g, KEY("attention.value_length_mla"), 0, 1, 1 << 16, &v_mla, err, errlen) ||
        gg_int(g, KEY(a->gguf_keys[MS_K_GATING]), 0, 0, 2, &gating, err, errlen) ||
        gg_int(g, KEY(a->gguf_keys[MS_K_GROUP_COUNT]), 0, 0, MS_MAX_EXPERTS, &hp->n_group, err,
               errlen) ||
        gg_int(g, KEY(a->gguf_keys[MS_K_GROUP_USED]), 0, 0, MS_MAX_EXPERTS, &hp->topk_group, err,
               errlen))
        return MS_ERR_INPUT;
    const char *k_norm = KEY(a->gguf_keys[MS_K_WEIGHTS_NORM]);
    if (gguf_find_key(g, k_norm) >= 0 && gguf_get_bool(g, k_norm, &norm) != 0) {
        st_errf(err, errlen, "%s: metadata key '%s' is not a boolean", path, k_norm);
        return MS_ERR_INPUT;
    }
    if (rope_dim <= 0) {
        st_errf(err, errlen, "%s: missing metadata key '%s'", path, KEY("rope.dimension_count"));
        return MS_ERR_INPUT;
    }
#undef KEY
    hp->mla = 1;
    hp->expert_weights_norm = norm != 0;
    hp->router = gating == 2 ? MS_ROUTER_DS_SIGMOID : MS_ROUTER_DS_SOFTMAX;
    const int split = k_mla > 0 || v_mla > 0;
    const int dk = split ? k_mla : hp->d_head, dv = split ? v_mla : v_len;
    if ((k_mla > 0) != (v_mla > 0) || dk <= rope_dim || dv < 1 || rope_dim % 2 ||
        (split && (hp->d_head != hp->kv_lora_rank + rope_dim || v_len != hp->kv_lora_rank))) {
        st_errf(err, errlen,
                "%s: unsupported latent attention layout (key_length %d, value_length %d, "
                "key_length_mla %d, value_length_mla %d, rope dimension %d, kv_lora_rank %d)",
                path, hp->d_head, v_len, k_mla, v_mla, rope_dim, hp->kv_lora_rank);
        return MS_ERR_INPUT;
    }
    if (hp->n_group > 1 &&
        (hp->n_expert % hp->n_group || hp->topk_group < 1 || hp->topk_group >= hp->n_group ||
         hp->topk_group * (hp->n_expert / hp->n_group) < hp->n_expert_used ||
         hp->n_expert / hp->n_group < 2)) {
        st_errf(err, errlen,
                "%s: expert groups %d (%d used) do not fit %d experts with %d used per token", path,
                hp->n_group, hp->topk_group, hp->n_expert, hp->n_expert_used);
        return MS_ERR_INPUT;
    }
    hp->d_head_rope = rope_dim;
    hp->d_head_nope = dk - rope_dim;
    hp->d_head_v = dv;
    hp->d_head = dk;
    hp->n_head_kv = hp->n_head;
    return 0;
}

/* GPT-OSS: llama.cpp's openai-moe hparams. attention.sliding_window is required; layer il
 * slides when il % P < P - 1 for the period P (attention.sliding_window_pattern, default 2:
 * even layers slide, odd ones see everything); the clamped SwiGLU's alpha and limit are
 * llama.cpp's constants (1.702, 7), not in the file. A separate RoPE base for the sliding
 * layers (rope.freq_base_swa) is refused unless it equals rope.freq_base. */
static int gguf_oai_layers(ms_model *m, const gguf_file *g, char *err, size_t errlen) {
    ms_hparams *hp = &m->hp;
    const ms_arch *a = m->arch;
    char key[96];
    int period = 2;
    snprintf(key, sizeof key, "%s.attention.sliding_window", a->gguf_arch);
    if (gg_int(g, key, 1, 1, 1 << 30, &hp->sliding_window, err, errlen)) return MS_ERR_INPUT;
    snprintf(key, sizeof key, "%s.%s", a->gguf_arch, a->gguf_keys[MS_K_SWA_PATTERN]);
    if (gg_int(g, key, 0, 1, 1 << 16, &period, err, errlen)) return MS_ERR_INPUT;
    snprintf(key, sizeof key, "%s.rope.freq_base_swa", a->gguf_arch);
    float base_swa = hp->rope_theta;
    if (gg_float(g, key, &base_swa, err, errlen)) return MS_ERR_INPUT;
    if (base_swa != hp->rope_theta) {
        st_errf(err, errlen, "%s: %s differs from rope.freq_base (not supported)", gguf_path(g),
                key);
        return MS_ERR_INPUT;
    }
    for (int il = 0; il < hp->n_layer; il++)
        m->layers[il].blk.full_attn = !(il % period < period - 1);
    hp->swiglu_limit = 7.0f;
    hp->swiglu_alpha = 1.702f;
    return 0;
}

/* {arch}.rope.scaling.*: none, linear or YaRN, with llama.cpp's defaults and its
 * yarn_attn_factor for the plain case (llama_context: get_mscale(factor, 1) cancelled by the
 * 1 + 0.1 ln(factor) that ggml's rope_yarn applies again, times rope.scaling.attn_factor). */
static int gguf_rope_scaling(const gguf_file *g, const char *arch, ms_hparams *hp, char *err,
                             size_t errlen) {
    char k[6][96];
    const char *suffix[6] = {"type",        "factor",         "original_context_length",
                             "attn_factor", "yarn_beta_fast", "yarn_beta_slow"};
    for (int i = 0; i < 6; i++)
        snprintf(k[i], sizeof k[i], "%s.rope.scaling.%s", arch, suffix[i]);
    hp->rope_freq_scale = 1.0f;
    hp->yarn_attn_factor = 1.0f;
    hp->yarn_beta_fast = 32.0f;
    hp->yarn_beta_slow = 1.0f;
    gguf_str type = {"none", 4};
    if (gguf_find_key(g, k[0]) >= 0 && gguf_get_str(g, k[0], &type) != 0) {
        st_errf(err, errlen, "%s: metadata key '%s' is not a string", gguf_path(g), k[0]);
        return MS_ERR_INPUT;
    }
    int yarn = type.n == 4 && !memcmp(type.p, "yarn", 4);
    if (!(type.n == 4 && !memcmp(type.p, "none", 4)) && !yarn &&
        !(type.n == 6 && !memcmp(type.p, "linear", 6))) {
        st_errf(err, errlen, "%s: %s '%.*s' is not supported (none, linear, yarn)", gguf_path(g),
                k[0], (int)(type.n > 32 ? 32 : type.n), type.p);
        return MS_ERR_INPUT;
    }
    if (type.n == 4 && !memcmp(type.p, "none", 4)) return 0;
    float factor = 1.0f, attn = 1.0f;
    if (gg_float(g, k[1], &factor, err, errlen) ||
        gg_int(g, k[2], 0, 0, 1 << 30, &hp->rope_orig_ctx, err, errlen) ||
        gg_float(g, k[3], &attn, err, errlen) ||
        gg_float(g, k[4], &hp->yarn_beta_fast, err, errlen) ||
        gg_float(g, k[5], &hp->yarn_beta_slow, err, errlen))
        return MS_ERR_INPUT;
    hp->rope_freq_scale = 1.0f / factor;
    if (yarn) {
        hp->rope_yarn = 1;
        hp->yarn_ext_factor = 1.0f;
        if (hp->rope_orig_ctx == 0) hp->rope_orig_ctx = hp->n_ctx_train;
        float ms = factor <= 1.0f ? 1.0f : 0.1f * logf(factor) + 1.0f;
        hp->yarn_attn_factor = ms / (1.0f + 0.1f * logf(factor));
        if (hp->rope_orig_ctx < 1) {
            st_errf(err, errlen, "%s: YaRN scaling without %s or context_length", gguf_path(g),
                    k[2]);
            return MS_ERR_INPUT;
        }
    }
    hp->yarn_attn_factor *= attn;
    return 0;
}

/* DeepSeek-V2/V3's YaRN attention correction, as llama.cpp computes it for deepseek2:
 * rope.scaling.yarn_log_multiplier holds 0.1 x mscale_all_dim (the converter's legacy factor,
 * cancelled by the loader); when set, llama_context makes yarn_attn_factor 1 (mscale ==
 * mscale_all_dim) before the 1 / (1 + 0.1 ln factor) that ggml's rope re-applies, and the graph
 * scales the attention by mscale² / sqrt(d_head) with mscale = attn_factor (1 + 0.1 ln factor)
 * (1 + 0.1 mscale_all_dim ln factor). Float arithmetic in llama.cpp's order. */
static int gguf_mla_yarn(const gguf_file *g, const char *arch, ms_hparams *hp, char *err,
                         size_t errlen) {
    char key[96];
    snprintf(key, sizeof key, "%s.rope.scaling.yarn_log_multiplier", arch);
    float log_mul = 0.0f;
    if (gg_float(g, key, &log_mul, err, errlen)) return MS_ERR_INPUT;
    log_mul /= 0.1f;
    const float fs = hp->rope_freq_scale > 0.0f ? hp->rope_freq_scale : 1.0f;
    if (hp->rope_yarn && log_mul != 0.0f) {
        const float factor = 1.0f / fs;
        const float ms = factor <= 1.0f ? 1.0f : 0.1f * logf(factor) + 1.0f;
        hp->yarn_attn_factor /= ms; /* get_mscale(factor, 1) of the plain case out */
    }
    const float attn = hp->rope_yarn ? hp->yarn_attn_factor : 1.0f;
    const float attn_org = attn * (1.0f + 0.1f * logf(1.0f / fs));
    const float mscale = attn_org * (1.0f + 0.1f * log_mul * logf(1.0f / fs));
    hp->attn_scale = 1.0f * mscale * mscale / sqrtf((float)hp->d_head);
    return 0;
}

static int open_gguf(ms_model *m, const char *path, char *err, size_t errlen) {
    int rc = gguf_set_open(&m->gset, path, err, errlen);
    if (rc) return rc;
    m->gguf = m->gset.parts[0]; /* the metadata; tensors are in all parts */
    const gguf_file *g = m->gguf;
    m->src = gguf_path(g);
    for (int p = 0; p < m->gset.n_parts; p++)
        if (add_file(m, gguf_path(m->gset.parts[p]), gguf_file_size(m->gset.parts[p])))
            return MS_ERR_RUNTIME;

    gguf_str arch = {0};
    if (gguf_get_str(g, "general.architecture", &arch) != 0) {
        st_errf(err, errlen, "%s: missing metadata key 'general.architecture'", path);
        return MS_ERR_INPUT;
    }
    const ms_arch *a = ms_arch_by_gguf(arch.p, arch.n);
    if (!a) {
        char an[40];
        snprintf(an, sizeof an, "%.*s", (int)(arch.n > 32 ? 32 : arch.n), arch.p);
        ms_text_safe_inplace(an, sizeof an);
        st_errf(err, errlen,
                "%s: unsupported architecture '%s' (moescope reads the GGUF architectures llama "
                "(Mixtral), olmoe, qwen2moe, qwen3moe and granitemoe)",
                path, an);
        return MS_ERR_INPUT;
    }
    m->arch = a;
    snprintf(m->hp.arch, sizeof m->hp.arch, "%s", a->name);
    m->hp.router = a->router;
    gguf_str nm;
    if (gguf_get_str(g, "general.name", &nm) == 0)
        snprintf(m->name, sizeof m->name, "%.*s", (int)(nm.n > 127 ? 127 : nm.n), nm.p);

    /* keys are "<general.architecture>.<suffix>"; kb holds one at a time */
    char kb[8][96];
    int nk = 0;
#define KEY(suffix)                                                                                \
    (snprintf(kb[nk & 7], sizeof kb[0], "%s.%s", a->gguf_arch, (suffix)), kb[nk++ & 7])
    ms_hparams *hp = &m->hp;
    hp->n_expert = 0;
    const char *k_ecount = KEY(a->gguf_keys[MS_K_EXPERT_COUNT]);
    if (gg_int(g, k_ecount, 0, 0, MS_MAX_EXPERTS, &hp->n_expert, err, errlen)) return MS_ERR_INPUT;
    if (hp->n_expert == 0) {
        st_errf(err, errlen, "%s: not a Mixture-of-Experts model (%s is missing or 0)", path,
                k_ecount);
        return MS_ERR_INPUT;
    }
    hp->rope_theta = 10000.0f; /* llama.cpp's defaults for optional keys */
    hp->norm_eps = 1e-5f;
    int n_ff = 0;
    if (gg_int(g, KEY(a->gguf_keys[MS_K_EXPERT_USED]), 1, 1,
               hp->n_expert < MS_MAX_TOPK ? hp->n_expert : MS_MAX_TOPK, &hp->n_expert_used, err,
               errlen) ||
        gg_int(g, KEY("embedding_length"), 1, 1, 1 << 20, &hp->d_model, err, errlen) ||
        gg_int(g, KEY("block_count"), 1, 1, 4096, &hp->n_layer, err, errlen) ||
        gg_int(g, KEY("attention.head_count"), 1, 1, 4096, &hp->n_head, err, errlen))
        return MS_ERR_INPUT;
    /* experts' width: the family's key; llama.cpp's fallback for Qwen files without
     * expert_feed_forward_length is feed_forward_length / k */
    const char *k_eff = a->gguf_keys[MS_K_EXPERT_FF];
    if (!strcmp(k_eff, "feed_forward_length")) {
        if (gg_int(g, KEY(k_eff), 1, 1, 1 << 24, &hp->d_ff, err, errlen)) return MS_ERR_INPUT;
        n_ff = hp->d_ff;
    } else {
        if (gg_int(g, KEY(k_eff), 0, 1, 1 << 24, &hp->d_ff, err, errlen) ||
            gg_int(g, KEY("feed_forward_length"), hp->d_ff == 0, 1, 1 << 24, &n_ff, err, errlen))
            return MS_ERR_INPUT;
        if (hp->d_ff == 0) hp->d_ff = n_ff / hp->n_expert_used;
        if (hp->d_ff < 1) {
            st_errf(err, errlen, "%s: cannot tell the experts' width", path);
            return MS_ERR_INPUT;
        }
    }
    if (a->shared_nogate) { /* DeepSeek: shared experts (count x expert width), dense lead */
        int n_sh = 0;
        if (gg_int(g, KEY(a->gguf_keys[MS_K_SHARED_COUNT]), 1, 1, 64, &n_sh, err, errlen) ||
            gg_int(g, KEY(a->gguf_keys[MS_K_DENSE_LEAD]), 0, 0, hp->n_layer - 1, &hp->n_dense_lead,
                   err, errlen) ||
            gg_float(g, KEY(a->gguf_keys[MS_K_WEIGHTS_SCALE]), &hp->expert_weights_scale, err,
                     errlen))
            return MS_ERR_INPUT;
        hp->d_ff_shared = n_sh * hp->d_ff;
        if (hp->n_dense_lead > 0) {
            if (n_ff < 1) {
                st_errf(err, errlen, "%s: missing metadata key '%s'", path,
                        KEY("feed_forward_length"));
                return MS_ERR_INPUT;
            }
            hp->d_ff_dense = n_ff;
        }
        if (!isfinite(hp->expert_weights_scale) || hp->expert_weights_scale < 0.0f ||
            hp->expert_weights_scale > 1e6f) {
            st_errf(err, errlen, "%s: %s is out of range", path,
                    KEY(a->gguf_keys[MS_K_WEIGHTS_SCALE]));
            return MS_ERR_INPUT;
        }
    } else if (a->shared_expert) {
        hp->d_ff_shared = n_ff; /* llama.cpp: n_ff_shexp ? n_ff_shexp : n_ff */
        if (gg_int(g, KEY(a->gguf_keys[MS_K_SHARED_FF]), 0, 1, 1 << 24, &hp->d_ff_shared, err,
                   errlen))
            return MS_ERR_INPUT;
        if (hp->d_ff_shared < 1) {
            st_errf(err, errlen, "%s: missing metadata key '%s'", path,
                    KEY(a->gguf_keys[MS_K_SHARED_FF]));
            return MS_ERR_INPUT;
        }
    }
    if (a->multipliers) {
        hp->logit_scale = 1.0f;
        if (gg_float(g, KEY(a->gguf_keys[MS_K_EMBD_SCALE]), &hp->embd_scale, err, errlen) ||
            gg_float(g, KEY(a->gguf_keys[MS_K_ATTN_SCALE]), &hp->attn_scale, err, errlen) ||
            gg_float(g, KEY(a->gguf_keys[MS_K_RESIDUAL_SCALE]), &hp->residual_scale, err, errlen) ||
            gg_float(g, KEY(a->gguf_keys[MS_K_LOGIT_SCALE]), &hp->logit_scale, err, errlen))
            return MS_ERR_INPUT;
    }
    hp->n_head_kv = hp->n_head;
    hp->d_head = hp->d_model / hp->n_head;
    int rope_dim = 0, v_len = 0;
    if (gg_int(g, KEY("attention.head_count_kv"), 0, 1, 4096, &hp->n_head_kv, err, errlen) ||
        gg_int(g, KEY("attention.key_length"), 0, 1, 1 << 16, &hp->d_head, err, errlen) ||
        gg_int(g, KEY("attention.value_length"), 0, 1, 1 << 16, &v_len, err, errlen) ||
        gg_int(g, KEY("rope.dimension_count"), 0, 1, 1 << 16, &rope_dim, err, errlen) ||
        gg_int(g, KEY("context_length"), 0, 0, 1 << 30, &hp->n_ctx_train, err, errlen) ||
        gg_int(g, KEY("attention.sliding_window"), 0, 0, 1 << 30, &hp->sliding_window, err,
               errlen) ||
        gg_float(g, KEY("rope.freq_base"), &hp->rope_theta, err, errlen) ||
        gg_float(g, KEY("attention.layer_norm_rms_epsilon"), &hp->norm_eps, err, errlen))
        return MS_ERR_INPUT;
    if (hp->n_head % hp->n_head_kv != 0) {
        st_errf(err, errlen, "%s: head_count %d is not a multiple of head_count_kv %d", path,
                hp->n_head, hp->n_head_kv);
        return MS_ERR_INPUT;
    }
    if (a->mla) {
        if ((rc = gguf_mla_hparams(m, g, v_len, rope_dim, err, errlen))) return rc;
    } else if (hp->d_head <= 0 || hp->d_head % 2 || (v_len && v_len != hp->d_head) ||
               rope_dim > hp->d_head || rope_dim % 2) {
        st_errf(err, errlen,
                "%s: unsupported head layout (key_length %d, value_length %d, rope dimension %d)",
                path, hp->d_head, v_len, rope_dim);
        return MS_ERR_INPUT;
    }
    hp->n_rot = rope_dim == hp->d_head ? 0 : rope_dim;
    if (gguf_rope_scaling(g, a->gguf_arch, hp, err, errlen)) return MS_ERR_INPUT;
    if (a->mla && gguf_mla_yarn(g, a->gguf_arch, hp, err, errlen)) return MS_ERR_INPUT;
#undef KEY
    hp->rope = a->gguf_rope;
    if (alloc_layers(m)) return MS_ERR_RUNTIME;
    for (int il = 0; il < hp->n_dense_lead; il++)
        m->layers[il].blk.ffn = MS_FFN_DENSE;
    if (a->oai && (rc = gguf_oai_layers(m, g, err, errlen))) return rc;

    /* tensor table, over the parts (split.tensors.count and duplicates were checked) */
    int64_t nt = 0;
    for (int p = 0; p < m->gset.n_parts; p++)
        nt += gguf_n_tensors(m->gset.parts[p]);
    if (nt > 1000000) {
        st_errf(err, errlen, "%s: too many tensors (%lld)", path, (long long)nt);
        return MS_ERR_INPUT;
    }
    m->n_tensors = (int)nt;
    m->tensors = calloc((size_t)(nt ? nt : 1), sizeof *m->tensors);
    m->tdata = calloc((size_t)(nt ? nt : 1), sizeof *m->tdata);
    if (!m->tensors || !m->tdata) return MS_ERR_RUNTIME;
    for (int p = 0, i = 0; p < m->gset.n_parts; p++)
        for (int64_t j = 0; j < gguf_n_tensors(m->gset.parts[p]); j++, i++) {
            m->tensors[i] = *gguf_tensor_info(m->gset.parts[p], j);
            m->tensors[i].file = p;
            m->tdata[i] = gguf_tensor_data(m->gset.parts[p], j);
        }
    if (build_index(m)) return MS_ERR_RUNTIME;

    /* vocabulary size: the tokenizer's, else <arch>.vocab_size, else the embedding's rows */
    char vocab_key[64];
    snprintf(vocab_key, sizeof vocab_key, "%s.vocab_size", a->gguf_arch);
    gguf_vtype et;
    uint64_t ntok = 0;
    int ie = find_tensor(m, "token_embd.weight");
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &ntok) == 0 && ntok > 0 && ntok < (1u << 24))
        hp->n_vocab = (int)ntok;
    else if (gguf_find_key(g, vocab_key) >= 0) {
        if (gg_int(g, vocab_key, 1, 1, 1 << 24, &hp->n_vocab, err, errlen)) return MS_ERR_INPUT;
    } else if (ie >= 0 && m->tensors[ie].n_dims >= 2 && m->tensors[ie].ne[1] > 0 &&
               m->tensors[ie].ne[1] < (1 << 24))
        hp->n_vocab = (int)m->tensors[ie].ne[1];
    else {
        st_errf(err, errlen, "%s: cannot tell the vocabulary size", path);
        return MS_ERR_INPUT;
    }

    int rc2 = bind_model(m, 0, err, errlen);
    if (rc2) return rc2;

    if (gguf_find_key(g, "tokenizer.ggml.model") >= 0) {
        rc = ms_tokenizer_from_gguf(&m->tok, g, err, errlen);
        if (rc) return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Hugging Face folder.
 */

/* DeepSeek-V2/V3 from config.json (hfconfig.c read and checked the fields): the latent
 * attention, the router, and transformers' softmax_scale: q_head_dim^-0.5, times
 * yarn_get_mscale(factor, mscale_all_dim)² under YaRN with mscale_all_dim. RoPE pairs are
 * adjacent: DeepSeek's q_pe / k_pe rows are interleaved (its modeling code de-interleaves them
 * before rotate_half), the layout llama.cpp's converter keeps. */
static void hf_mla_hparams(ms_hparams *hp, const hf_config *c) {
    hp->mla = 1;
    hp->q_lora_rank = c->q_lora_rank;
    hp->kv_lora_rank = c->kv_lora_rank;
    hp->d_head_nope = c->qk_nope_head_dim;
    hp->d_head_rope = c->qk_rope_head_dim;
    hp->d_head_v = c->v_head_dim;
    hp->d_head = c->qk_nope_head_dim + c->qk_rope_head_dim;
    hp->n_head_kv = hp->n_head;
    hp->n_rot = c->qk_rope_head_dim;
    hp->rope = MS_ROPE_ADJACENT;
    hp->router = c->scoring_sigmoid ? MS_ROUTER_DS_SIGMOID : MS_ROUTER_DS_SOFTMAX;
    hp->n_group = c->n_group > 1 ? c->n_group : 0;
    hp->topk_group = c->n_group > 1 ? c->topk_group : 0;
    hp->group_score_max = c->group_max;
    hp->expert_weights_norm = c->norm_topk_prob;
    hp->expert_weights_scale = (float)c->routed_scaling_factor;
    hp->n_dense_lead = c->first_k_dense_replace;
    if (hp->n_dense_lead == 0) hp->d_ff_dense = 0; /* as the GGUF reader: no dense layer */
    double scale = 1.0 / sqrt((double)hp->d_head);
    if (c->rope_yarn && c->yarn_mscale_all_dim > 0) {
        double ms =
            c->rope_factor <= 1.0 ? 1.0 : 0.1 * c->yarn_mscale_all_dim * log(c->rope_factor) + 1.0;
        scale *= ms * ms;
    }
    hp->attn_scale = (float)scale;
}

typedef struct index_entry {
    char *name; /* a view into the parsed index */
    size_t pos; /* position in weight_map */
} index_entry;

static int index_entry_cmp(const void *pa, const void *pb) {
    const index_entry *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

/* Shard file names from model.safetensors.index.json (weight_map values, first-seen order).
 * Names must be plain file names inside the folder. */
static int read_index(const char *path, char ***names, int *n_names, cJSON **root_out, char *err,
                      size_t errlen) {
    *names = NULL;
    *n_names = 0;
    *root_out = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = st_read_small_file(path, 64u << 20, &text, &len, err, errlen);
    if (rc) return rc;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) {
        st_errf(err, errlen, "%s: not valid JSON", path);
        return MS_ERR_INPUT;
    }
    const cJSON *wm = st_json_get(root, "weight_map");
    if (!cJSON_IsObject(wm) || !wm->child) {
        cJSON_Delete(root);
        st_errf(err, errlen, "%s: missing or empty 'weight_map' object", path);
        return MS_ERR_INPUT;
    }
    /* Validate every entry, then keep the first occurrence of each name: the entries sorted by
     * (name, position), so a large index costs O(n log n), not a scan of the names so far per
     * entry (a 50k-entry index took seconds). */
    size_t n = 0;
    for (const cJSON *e = wm->child; e; e = e->next, n++) {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/') ||
            e->valuestring[0] == '.' || !e->string) {
            st_errf(err, errlen, "%s: weight_map entry '%.100s' is not a file name in the folder",
                    path, e->string ? e->string : "");
            cJSON_Delete(root);
            return MS_ERR_INPUT;
        }
    }
    index_entry *ix = malloc(n * sizeof *ix);
    char **out = calloc(n, sizeof *out);
    if (!ix || !out) {
        free(ix);
        free(out);
        cJSON_Delete(root);
        st_errf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    size_t i = 0;
    for (const cJSON *e = wm->child; e; e = e->next, i++) {
        ix[i].name = e->valuestring;
        ix[i].pos = i;
    }
    qsort(ix, n, sizeof *ix, index_entry_cmp);
    /* out[pos] = name for the first occurrence of each name; NULL elsewhere. */
    for (i = 0; i < n; i++)
        if (i == 0 || strcmp(ix[i].name, ix[i - 1].name) != 0) out[ix[i].pos] = ix[i].name;
    free(ix);
    int k = 0;
    for (i = 0; i < n; i++) {
        if (!out[i]) continue;
        if (!(out[k] = strdup(out[i]))) {
            for (int j = 0; j < k; j++)
                free(out[j]);
            free(out);
            cJSON_Delete(root);
            st_errf(err, errlen, "%s: out of memory", path);
            return MS_ERR_RUNTIME;
        }
        k++;
    }
    *names = out;
    *n_names = k;
    *root_out = root;
    return 0;
}

static int open_hf(ms_model *m, const char *dir, const char *single, char *err, size_t errlen) {
    int rc;
    m->src_owned = strdup(dir);
    if (!m->src_owned) return MS_ERR_RUNTIME;
    m->src = m->src_owned;
    char *cfg_path = path_join(dir, "config.json");
    char *idx_path = path_join(dir, "model.safetensors.index.json");
    char *tok_path = path_join(dir, "tokenizer.json");
    char **shard_names = NULL;
    int n_shard_names = 0;
    cJSON *index = NULL;
    hf_config c;
    rc = MS_ERR_RUNTIME;
    if (!cfg_path || !idx_path || !tok_path) goto out;
    if ((rc = hf_config_load(&c, cfg_path, err, errlen))) goto out;

    int use_index = exists(idx_path);
    if (use_index) {
        if ((rc = read_index(idx_path, &shard_names, &n_shard_names, &index, err, errlen)))
            goto out;
    } else {
        const char *one = single ? single : "model.safetensors";
        shard_names = malloc(sizeof *shard_names);
        if (!shard_names) goto out;
        const char *base = strrchr(one, '/');
        shard_names[0] = strdup(base ? base + 1 : one);
        if (!shard_names[0]) goto out;
        n_shard_names = 1;
        char *p = path_join(dir, shard_names[0]);
        int ok = p && exists(p);
        free(p);
        if (!ok) {
            st_errf(err, errlen, "%s: no model.safetensors nor model.safetensors.index.json", dir);
            rc = MS_ERR_INPUT;
            goto out;
        }
    }
    m->shards = calloc((size_t)n_shard_names, sizeof *m->shards);
    if (!m->shards) goto out;
    int64_t total = 0;
    for (int i = 0; i < n_shard_names; i++) {
        char *p = path_join(dir, shard_names[i]);
        if (!p) goto out;
        rc = st_open(&m->shards[i], p, err, errlen);
        free(p);
        if (rc) goto out;
        m->n_shards++;
        total += m->shards[i]->hdr.n_tensors;
        if ((rc = add_file(m, m->shards[i]->path, m->shards[i]->size))) goto out;
    }
    rc = MS_ERR_RUNTIME;
    if (add_file(m, cfg_path, file_size_of(cfg_path))) goto out;
    if (use_index && add_file(m, idx_path, file_size_of(idx_path))) goto out;
    if (total > 1000000) {
        st_errf(err, errlen, "%s: too many tensors (%lld)", dir, (long long)total);
        rc = MS_ERR_INPUT;
        goto out;
    }
    m->tensors = calloc((size_t)(total ? total : 1), sizeof *m->tensors);
    m->tdata = calloc((size_t)(total ? total : 1), sizeof *m->tdata);
    if (!m->tensors || !m->tdata) goto out;
    for (int s = 0; s < m->n_shards; s++) {
        const st_file *f = m->shards[s];
        for (int64_t i = 0; i < f->hdr.n_tensors; i++) {
            const st_tensor *t = &f->hdr.tensors[i];
            ms_tensor_info *ti = &m->tensors[m->n_tensors];
            ti->name = t->name;
            ti->type = t->type;
            if (t->type < 0) { /* ggml ids of the integer / f64 dtypes, for display */
                static const struct {
                    const char *n;
                    int id;
                } other[] = {{"I8", 24}, {"I16", 25}, {"I32", 26}, {"I64", 27}, {"F64", 28}};
                for (size_t k = 0; k < sizeof other / sizeof other[0]; k++)
                    if (!strcmp(t->dtype, other[k].n)) ti->type = other[k].id;
                if (ti->type >= 0 && ms_type_supported(ti->type)) ti->type = -1;
            }
            if (t->n_dims > 4) {
                st_errf(err, errlen, "%s: tensor '%s' has %d dimensions (at most 4 supported)",
                        f->path, t->name, t->n_dims);
                rc = MS_ERR_INPUT;
                goto out;
            }
            ti->n_dims = t->n_dims;
            for (int k = 0; k < 4; k++)
                ti->ne[k] = 1;
            for (int k = 0; k < t->n_dims; k++)
                ti->ne[k] = t->shape[t->n_dims - 1 - k];
            ti->nbytes = (size_t)(t->end - t->begin);
            ti->offset = f->hdr.data_start + t->begin;
            ti->file = s;
            m->tdata[m->n_tensors] = f->map + ti->offset;
            m->n_tensors++;
        }
    }
    if (build_index(m)) goto out;
    for (int i = 1; i < m->n_tensors; i++) {
        const ms_tensor_info *a = &m->tensors[m->by_name[i - 1]], *b = &m->tensors[m->by_name[i]];
        if (!strcmp(a->name, b->name)) {
            st_errf(err, errlen, "%s: tensor '%s' appears in both %s and %s", dir, a->name,
                    m->files[a->file], m->files[b->file]);
            rc = MS_ERR_INPUT;
            goto out;
        }
    }
    if (index) {
        const cJSON *wm = st_json_get(index, "weight_map");
        for (const cJSON *e = wm->child; e; e = e->next) {
            int i = find_tensor(m, e->string);
            const char *fn = i >= 0 ? strrchr(m->files[m->tensors[i].file], '/') : NULL;
            if (i < 0 || !fn || strcmp(fn + 1, e->valuestring) != 0) {
                st_errf(err, errlen, "%s: tensor '%.100s' is not in shard %s", idx_path, e->string,
                        e->valuestring);
                rc = MS_ERR_INPUT;
                goto out;
            }
        }
    }

    ms_hparams *hp = &m->hp;
    hp->n_vocab = c.vocab_size;
    hp->d_model = c.hidden_size;
    hp->n_layer = c.num_hidden_layers;
    hp->n_head = c.num_attention_heads;
    hp->n_head_kv = c.num_key_value_heads;
    hp->d_head = c.head_dim;
    hp->d_ff = c.intermediate_size;
    hp->n_expert = c.num_local_experts;
    hp->n_expert_used = c.num_experts_per_tok;
    hp->n_ctx_train = c.max_position_embeddings;
    hp->sliding_window = c.sliding_window;
    hp->rope_theta = (float)c.rope_theta;
    hp->rope_freq_scale = (float)(1.0 / c.rope_factor);
    if (c.rope_yarn) {
        /* our magnitude is yarn_attn_factor * (1 + 0.1 ln factor), as ggml's rope_yarn */
        hp->rope_yarn = 1;
        hp->yarn_ext_factor = 1.0f;
        hp->rope_orig_ctx = c.rope_orig_ctx ? c.rope_orig_ctx : c.max_position_embeddings;
        hp->yarn_attn_factor = (float)(c.yarn_attention / (1.0 + 0.1 * log(c.rope_factor)));
        hp->yarn_beta_fast = (float)c.yarn_beta_fast;
        hp->yarn_beta_slow = (float)c.yarn_beta_slow;
        hp->yarn_no_truncate = c.yarn_no_truncate;
        if (hp->rope_orig_ctx < 1) {
            st_errf(err, errlen,
                    "%s/config.json: YaRN rope_scaling without "
                    "original_max_position_embeddings",
                    dir);
            rc = MS_ERR_INPUT;
            goto out;
        }
    }
    hp->norm_eps = (float)c.rms_norm_eps;
    hp->rope = MS_ROPE_HALF;
    hp->tied_embeddings = c.tie_word_embeddings;
    m->arch = c.family; /* the registry entry hf_config_parse matched */
    snprintf(hp->arch, sizeof hp->arch, "%s", m->arch->name);
    hp->router = (ms_router_kind)c.router;
    hp->d_ff_shared = c.d_ff_shared;
    hp->d_ff_dense = c.d_ff_dense;
    hp->embd_scale = (float)c.embedding_multiplier;
    hp->attn_scale = (float)c.attention_multiplier;
    hp->residual_scale = (float)c.residual_multiplier;
    hp->logit_scale = (float)c.logits_scaling;
    if (m->arch->mla) hf_mla_hparams(hp, &c);
    m->hf_alt = m->arch->hf_arch_alt && (!strcmp(c.arch, m->arch->hf_arch_alt) ||
                                         (!c.arch[0] && m->arch->hf_model_type_alt &&
                                          !strcmp(c.model_type, m->arch->hf_model_type_alt)));
    {
        const char *base = strrchr(dir, '/');
        snprintf(m->name, sizeof m->name, "%s", base && base[1] ? base + 1 : dir);
    }
    if (alloc_layers(m)) goto out;
    for (int il = 0; il < hp->n_layer; il++)
        m->layers[il].blk.ffn = c.dense_layer[il] ? MS_FFN_DENSE : MS_FFN_MOE;
    if (m->arch->oai) { /* transformers' GptOssExperts: alpha 1.702 fixed in code */
        for (int il = 0; il < hp->n_layer; il++)
            m->layers[il].blk.full_attn = c.full_attn[il];
        hp->swiglu_limit = (float)c.swiglu_limit;
        hp->swiglu_alpha = 1.702f;
    }

    if ((rc = bind_model(m, 1, err, errlen))) goto out;

    if (exists(tok_path)) {
        if ((rc = ms_tokenizer_from_json_file(&m->tok, tok_path, err, errlen))) goto out;
        rc = MS_ERR_RUNTIME;
        if (add_file(m, tok_path, file_size_of(tok_path))) goto out;
    }
    rc = 0;
out:
    if (rc == MS_ERR_RUNTIME && err && !err[0]) st_errf(err, errlen, "%s: out of memory", dir);
    for (int i = 0; i < n_shard_names; i++)
        free(shard_names[i]);
    free(shard_names);
    cJSON_Delete(index);
    free(cfg_path);
    free(idx_path);
    free(tok_path);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Public API.
 */

int ms_model_open(ms_model **out, const ms_model_opts *opts, char *err, size_t errlen) {
    *out = NULL;
    if (err && errlen) err[0] = 0;
    if (!opts || !opts->path || !opts->path[0]) {
        st_errf(err, errlen, "model: no path given");
        return MS_ERR_INPUT;
    }
    const char *path = opts->path;
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        st_errf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return e == ENOMEM || e == EIO ? MS_ERR_RUNTIME : MS_ERR_INPUT;
    }
    ms_model *m = calloc(1, sizeof *m);
    if (!m) {
        st_errf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    int rc;
    if (S_ISDIR(st.st_mode)) {
        m->hp.format = MS_FORMAT_SAFETENSORS;
        rc = open_hf(m, path, NULL, err, errlen);
    } else {
        /* Not a folder: it must be a regular file (a FIFO would block the read below, a
         * device such as /dev/zero would be read or mapped without end). */
        char magic[4] = {0};
        int fd;
        ssize_t got = -1;
        rc = st_open_input(path, &fd, NULL, err, errlen);
        if (rc) {
            ms_model_close(m);
            return rc;
        }
        do
            got = read(fd, magic, 4);
        while (got < 0 && errno == EINTR);
        int read_errno = errno;
        close(fd);
        if (got < 0) { /* an I/O failure, not a bad file */
            st_errf(err, errlen, "%s: read error: %s", path, strerror(read_errno));
            rc = MS_ERR_RUNTIME;
        } else if (got == 4 && memcmp(magic, "GGUF", 4) == 0) {
            m->hp.format = MS_FORMAT_GGUF;
            rc = open_gguf(m, path, err, errlen);
        } else if (ends_with(path, ".safetensors") || ends_with(path, ".json")) {
            m->hp.format = MS_FORMAT_SAFETENSORS;
            char *dir = dir_of(path);
            if (!dir)
                rc = MS_ERR_RUNTIME;
            else {
                rc = open_hf(m, dir, ends_with(path, ".safetensors") ? path : NULL, err, errlen);
                free(dir);
            }
        } else {
            st_errf(err, errlen,
                    "%s: not a GGUF file (bad magic), a .safetensors file or a Hugging Face folder",
                    path);
            rc = MS_ERR_INPUT;
        }
    }
    if (rc) {
        if (err && !err[0]) st_errf(err, errlen, "%s: out of memory", path);
        ms_model_close(m);
        return rc;
    }
    if (m->tok && ms_tokenizer_n_vocab(m->tok) > m->hp.n_vocab) {
        st_errf(err, errlen, "%s: tokenizer has %d tokens but the model's vocabulary is %d", path,
                ms_tokenizer_n_vocab(m->tok), m->hp.n_vocab);
        ms_model_close(m);
        return MS_ERR_INPUT;
    }
    *out = m;
    return 0;
}

void ms_model_close(ms_model *m) {
    if (!m) return;
    ms_tokenizer_free(m->tok);
    free(m->layers);
    free(m->expert_mats);
    free(m->tensors);
    free(m->tdata);
    free(m->by_name);
    for (int i = 0; i < m->n_files; i++)
        free(m->files[i]);
    free(m->files);
    free(m->file_sizes);
    gguf_set_close(&m->gset); /* closes m->gguf */
    for (int i = 0; i < m->n_shards; i++)
        st_close(m->shards[i]);
    free(m->shards);
    free(m->src_owned);
    for (int i = 0; i < m->n_scales; i++)
        free(m->scales[i]);
    free(m->scales);
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m);
}

const char *ms_model_path(const ms_model *m) {
    return m->src;
}
const ms_hparams *ms_model_hparams(const ms_model *m) {
    return &m->hp;
}
const ms_layer *ms_model_layer(const ms_model *m, int il) {
    return il >= 0 && il < m->hp.n_layer ? &m->layers[il] : NULL;
}
int ms_model_layer_routes(const ms_model *m, int il) {
    return il >= 0 && il < m->hp.n_layer && m->layers[il].blk.ffn == MS_FFN_MOE;
}
const ms_mat *ms_model_tok_embd(const ms_model *m) {
    return &m->tok_embd;
}
const ms_mat *ms_model_out_norm(const ms_model *m) {
    return &m->out_norm;
}
const ms_mat *ms_model_lm_head(const ms_model *m) {
    return &m->lm_head;
}
int ms_model_n_tensors(const ms_model *m) {
    return m->n_tensors;
}
const ms_tensor_info *ms_model_tensor(const ms_model *m, int i) {
    return i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL;
}
int ms_model_n_files(const ms_model *m) {
    return m->n_files;
}
const char *ms_model_file(const ms_model *m, int i, uint64_t *size) {
    if (i < 0 || i >= m->n_files) return NULL;
    if (size) *size = m->file_sizes[i];
    return m->files[i];
}
int ms_model_split_parts(const ms_model *m) {
    return m->gset.n_parts;
}
int ms_model_check_output(const ms_model *m, const char *out, char *err, size_t errlen) {
    return ms_check_output(out, (const char *const *)m->files, m->n_files, err, errlen);
}
const ms_tokenizer *ms_model_tokenizer(const ms_model *m) {
    return m->tok;
}

void ms_hparams_param_counts(const ms_hparams *hp, int64_t *total, int64_t *active) {
    const int64_t d = hp->d_model, q = (int64_t)hp->n_head * hp->d_head,
                  kv = (int64_t)hp->n_head_kv * hp->d_head;
    const int64_t expert = 3 * d * (int64_t)hp->d_ff;
    const int64_t layer_dense = 2 * d + d * q * 2 + d * kv * 2 + (int64_t)hp->n_expert * d;
    const int64_t embd = (int64_t)hp->n_vocab * d * (hp->tied_embeddings ? 1 : 2) + d;
    int64_t t = embd + hp->n_layer * (layer_dense + hp->n_expert * expert);
    if (total) *total = t;
    if (active) *active = t - (int64_t)hp->n_layer * (hp->n_expert - hp->n_expert_used) * expert;
}

static int64_t mat_elems(const ms_mat *x) {
    return x->rows * x->cols;
}

void ms_model_param_counts(const ms_model *m, int64_t *total, int64_t *active) {
    const ms_hparams *hp = &m->hp;
    int64_t t = mat_elems(&m->tok_embd) + mat_elems(&m->out_norm) +
                (hp->tied_embeddings ? 0 : mat_elems(&m->lm_head));
    int64_t per_expert = 0;
    for (int il = 0; il < hp->n_layer; il++) {
        const ms_layer *L = &m->layers[il];
        t += mat_elems(&L->attn_norm) + mat_elems(&L->wq) + mat_elems(&L->wk) + mat_elems(&L->wv) +
             mat_elems(&L->wo) + mat_elems(&L->ffn_norm) + mat_elems(&L->router);
        /* optional tensors of the block (zero-sized views when absent) */
        t += mat_elems(&L->bq) + mat_elems(&L->bk) + mat_elems(&L->bv) + mat_elems(&L->q_norm) +
             mat_elems(&L->k_norm) + mat_elems(&L->sh_inp) + mat_elems(&L->sh_gate) +
             mat_elems(&L->sh_up) + mat_elems(&L->sh_down) + mat_elems(&L->ffn_gate) +
             mat_elems(&L->ffn_up) + mat_elems(&L->ffn_down);
        t += mat_elems(&L->wq_a) + mat_elems(&L->q_a_norm) + mat_elems(&L->wq_b) +
             mat_elems(&L->wkv_a) + mat_elems(&L->kv_a_norm) + mat_elems(&L->wkv_b) +
             mat_elems(&L->wk_b) + mat_elems(&L->wv_b) + mat_elems(&L->exp_probs_b);
        for (int e = 0; e < hp->n_expert; e++)
            t += mat_elems(&L->w_gate[e]) + mat_elems(&L->w_up[e]) + mat_elems(&L->w_down[e]);
        per_expert += mat_elems(&L->w_gate[0]) + mat_elems(&L->w_up[0]) + mat_elems(&L->w_down[0]);
        /* gpt-oss: sinks, o and router biases; expert biases count with their experts */
        int64_t eb = mat_elems(&L->b_gate) + mat_elems(&L->b_up) + mat_elems(&L->b_down);
        t += mat_elems(&L->sinks) + mat_elems(&L->bo) + mat_elems(&L->router_b) + eb;
        if (hp->n_expert > 0) per_expert += eb / hp->n_expert;
    }
    if (total) *total = t;
    if (active) *active = t - (int64_t)(hp->n_expert - hp->n_expert_used) * per_expert;
}

const char *ms_model_file_arch(const ms_model *m) {
    return m->hp.format == MS_FORMAT_GGUF ? m->arch->gguf_arch
           : m->hf_alt                    ? m->arch->hf_arch_alt
                                          : m->arch->hf_arch;
}

const char *ms_model_name(const ms_model *m) {
    return m->name;
}

int ms_model_stacked_experts(const ms_model *m) {
    return m->stacked_experts;
}

size_t ms_model_copied_bytes(const ms_model *m) {
    return m->copied_bytes;
}

/* GPT-OSS's block flags in a layer's description (route stores, inspect --json). */
static void describe_oai_block(cJSON *j, const ms_block *b) {
    cJSON_AddBoolToObject(j, "attn_sinks", b->attn_sinks);
    cJSON_AddBoolToObject(j, "sliding_window", !b->full_attn);
    cJSON_AddBoolToObject(j, "o_bias", b->o_bias);
    cJSON_AddBoolToObject(j, "router_bias", b->router_bias);
    cJSON_AddBoolToObject(j, "expert_bias", b->expert_bias);
}

char *ms_model_describe_json(const ms_model *m) {
    const ms_hparams *hp = &m->hp;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "arch", hp->arch);
    cJSON_AddStringToObject(o, "file_arch", ms_model_file_arch(m));
    cJSON_AddStringToObject(o, "format", hp->format == MS_FORMAT_GGUF ? "gguf" : "safetensors");
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON *h = cJSON_AddObjectToObject(o, "hparams");
    cJSON_AddNumberToObject(h, "n_vocab", hp->n_vocab);
    cJSON_AddNumberToObject(h, "d_model", hp->d_model);
    cJSON_AddNumberToObject(h, "n_layer", hp->n_layer);
    cJSON_AddNumberToObject(h, "n_head", hp->n_head);
    cJSON_AddNumberToObject(h, "n_head_kv", hp->n_head_kv);
    cJSON_AddNumberToObject(h, "d_head", hp->d_head);
    cJSON_AddNumberToObject(h, "d_ff", hp->d_ff);
    cJSON_AddNumberToObject(h, "n_expert", hp->n_expert);
    cJSON_AddNumberToObject(h, "n_expert_used", hp->n_expert_used);
    cJSON_AddNumberToObject(h, "n_ctx_train", hp->n_ctx_train);
    cJSON_AddNumberToObject(h, "sliding_window", hp->sliding_window);
    cJSON_AddNumberToObject(h, "rope_theta", hp->rope_theta);
    cJSON_AddNumberToObject(h, "norm_eps", hp->norm_eps);
    cJSON_AddStringToObject(h, "rope", hp->rope == MS_ROPE_ADJACENT ? "adjacent" : "half");
    cJSON_AddNumberToObject(h, "rope_dims", hp->n_rot ? hp->n_rot : hp->d_head);
    cJSON_AddStringToObject(h, "rope_scaling",
                            hp->rope_yarn                                               ? "yarn"
                            : hp->rope_freq_scale > 0.0f && hp->rope_freq_scale != 1.0f ? "linear"
                                                                                        : "none");
    cJSON_AddNumberToObject(h, "rope_scaling_factor",
                            hp->rope_freq_scale > 0.0f ? 1.0 / (double)hp->rope_freq_scale : 1.0);
    if (hp->rope_yarn) cJSON_AddNumberToObject(h, "rope_orig_ctx", hp->rope_orig_ctx);
    cJSON_AddStringToObject(h, "router", ms_router_kind_name(hp->router));
    cJSON_AddBoolToObject(h, "tied_embeddings", hp->tied_embeddings);
    if (hp->d_ff_shared) cJSON_AddNumberToObject(h, "d_ff_shared", hp->d_ff_shared);
    if (hp->d_ff_dense) cJSON_AddNumberToObject(h, "d_ff_dense", hp->d_ff_dense);
    if (m->arch->shared_nogate) { /* DeepSeek: shared experts (every token), weights scale */
        cJSON_AddNumberToObject(h, "n_shared_experts", hp->d_ff_shared / hp->d_ff);
        cJSON_AddNumberToObject(h, "expert_weights_scale",
                                hp->expert_weights_scale != 0.0f ? (double)hp->expert_weights_scale
                                                                 : 1.0);
    }
    if (hp->mla) { /* DeepSeek-V2/V3: latent attention sizes and the router's parameters */
        cJSON *a = cJSON_AddObjectToObject(h, "mla");
        cJSON_AddNumberToObject(a, "q_lora_rank", hp->q_lora_rank);
        cJSON_AddNumberToObject(a, "kv_lora_rank", hp->kv_lora_rank);
        cJSON_AddNumberToObject(a, "d_head_nope", hp->d_head_nope);
        cJSON_AddNumberToObject(a, "d_head_rope", hp->d_head_rope);
        cJSON_AddNumberToObject(a, "d_head_v", hp->d_head_v);
        cJSON_AddNumberToObject(a, "kq_scale", hp->attn_scale);
        cJSON_AddStringToObject(a, "kv_b", m->layers[0].wkv_b.data ? "attn_kv_b" : "split");
        int bias = 0;
        for (int il = 0; il < hp->n_layer; il++)
            bias |= m->layers[il].exp_probs_b.data != NULL;
        cJSON_AddBoolToObject(h, "selection_bias", bias);
        cJSON_AddBoolToObject(h, "expert_weights_norm", hp->expert_weights_norm);
        cJSON_AddNumberToObject(h, "n_group", hp->n_group > 1 ? hp->n_group : 1);
        cJSON_AddNumberToObject(h, "topk_group", hp->n_group > 1 ? hp->topk_group : 1);
    }

    if (m->arch->oai) {
        cJSON_AddNumberToObject(h, "swiglu_limit", hp->swiglu_limit);
        cJSON_AddNumberToObject(h, "swiglu_alpha", hp->swiglu_alpha);
    }
    if (m->arch->multipliers) {
        cJSON_AddNumberToObject(h, "embd_scale", hp->embd_scale);
        cJSON_AddNumberToObject(h, "attn_scale", hp->attn_scale);
        cJSON_AddNumberToObject(h, "residual_scale", hp->residual_scale);
        cJSON_AddNumberToObject(h, "logit_scale", hp->logit_scale);
    }
    /* the per-layer blocks, when the family has more than Mixtral's */
    if (m->arch->qk_norm || m->arch->qkv_bias || m->arch->shared_expert || hp->d_ff_dense ||
        m->arch->oai) {
        static const char *const qkn[] = {"none", "full", "per_head"};
        cJSON *bl = cJSON_AddArrayToObject(o, "blocks");
        for (int il = 0; il < hp->n_layer; il++) {
            const ms_block *b = &m->layers[il].blk;
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "ffn", b->ffn == MS_FFN_DENSE ? "dense" : "moe");
            cJSON_AddStringToObject(j, "qk_norm", qkn[b->qk_norm]);
            cJSON_AddBoolToObject(j, "qkv_bias", b->qkv_bias);
            cJSON_AddBoolToObject(j, "shared_expert", b->shared_expert);
            if (b->shared_expert && b->shared_nogate) cJSON_AddBoolToObject(j, "shared_gate", 0);
            if (b->attn_sinks) describe_oai_block(j, b);
            cJSON_AddItemToArray(bl, j);
        }
    }
    cJSON_AddStringToObject(o, "expert_layout",
                            hp->format == MS_FORMAT_GGUF
                                ? (m->stacked_experts ? "stacked" : "per_expert")
                                : "per_expert");
    int64_t total = 0, active = 0;
    ms_model_param_counts(m, &total, &active);
    cJSON *p = cJSON_AddObjectToObject(o, "params");
    cJSON_AddNumberToObject(p, "total", (double)total);
    cJSON_AddNumberToObject(p, "active", (double)active);
    /* weight types: tensors and bytes per stored type */
    cJSON *wt = cJSON_AddObjectToObject(o, "weight_types");
    for (int i = 0; i < m->n_tensors; i++) {
        const ms_tensor_info *t = &m->tensors[i];
        const char *tn = t->type >= 0 ? ms_type_name(t->type) : "other";
        char buf[32];
        snprintf(buf, sizeof buf, "%s", tn);
        cJSON *e = st_json_get(wt, buf);
        if (!e) {
            e = cJSON_AddObjectToObject(wt, buf);
            cJSON_AddNumberToObject(e, "tensors", 0);
            cJSON_AddNumberToObject(e, "bytes", 0);
        }
        cJSON *nt = st_json_get(e, "tensors");
        cJSON *nb = st_json_get(e, "bytes");
        cJSON_SetNumberValue(nt, nt->valuedouble + 1);
        cJSON_SetNumberValue(nb, nb->valuedouble + (double)t->nbytes);
    }
    if (hp->format == MS_FORMAT_GGUF) cJSON_AddNumberToObject(o, "split_parts", m->gset.n_parts);
    cJSON *fa = cJSON_AddArrayToObject(o, "files");
    for (int i = 0; i < m->n_files; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "path", m->files[i]);
        cJSON_AddNumberToObject(f, "size", (double)m->file_sizes[i]);
        if (i < m->gset.n_parts && m->gset.n_parts > 1) cJSON_AddNumberToObject(f, "part", i + 1);
        cJSON_AddItemToArray(fa, f);
    }
    cJSON *tj = NULL;
    if (m->tok) {
        char *s = ms_tokenizer_describe_json(m->tok);
        if (s) tj = cJSON_Parse(s);
        free(s);
    }
    cJSON_AddItemToObject(o, "tokenizer", tj ? tj : cJSON_CreateNull());
    /* name, arch and paths come from files: the JSON is valid UTF-8 whatever they hold */
    char *out = ms_utf8_fix_take(cJSON_PrintUnformatted(o));
    cJSON_Delete(o);
    return out;
}
