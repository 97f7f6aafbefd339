/* test_arch.c — the architecture registry (engine/arch.c): every family resolves from its GGUF
 * and Hugging Face names, names every tensor its block needs in both formats (and none it does
 * not), formats names with the layer and expert in the right places, and spells each GGUF name
 * once. */
#include "arch.h"

#include <stdio.h>
#include <string.h>

#include "mstest.h"

static int has(const ms_arch *a, int hf, ms_role r) {
    char b[256];
    return ms_tensor_name(a, hf, r, 3, 5, b, sizeof b) == 0;
}

int main(void) {
    static const char *const fams[] = {"mixtral", "olmoe", "qwen2moe", "qwen3moe", "granitemoe"};
    CHECK(ms_arch_count() == 8, "%d families", ms_arch_count());
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        const ms_arch *a = ms_arch_by_name(fams[i]);
        CHECK(a != NULL, "%s not found", fams[i]);
        if (!a) continue;
        CHECK(ms_arch_by_gguf(a->gguf_arch, strlen(a->gguf_arch)) == a, "%s by gguf", fams[i]);
        CHECK(ms_arch_by_hf(a->hf_arch, NULL) == a, "%s by hf arch", fams[i]);
        CHECK(ms_arch_by_hf("", a->hf_model_type) == a, "%s by model_type", fams[i]);
        CHECK(strstr(ms_arch_list(), a->name) != NULL, "%s in the list", fams[i]);
        for (int hf = 0; hf < 2; hf++) {
            static const ms_role always[] = {
                MS_R_TOK_EMBD, MS_R_OUT_NORM, MS_R_OUTPUT, MS_R_ATTN_NORM, MS_R_Q,
                MS_R_K,        MS_R_V,        MS_R_O,      MS_R_FFN_NORM,  MS_R_ROUTER};
            for (size_t r = 0; r < sizeof always / sizeof always[0]; r++)
                CHECK(has(a, hf, always[r]), "%s %s: role %d unnamed", a->name, hf ? "hf" : "gguf",
                      (int)always[r]);
            int qkn = a->qk_norm != MS_QK_NORM_NONE;
            CHECK(!hf || (has(a, hf, MS_R_Q_NORM) == qkn && has(a, hf, MS_R_K_NORM) == qkn),
                  "%s: QK-norm names vs block", a->name);
            CHECK(!hf || has(a, hf, MS_R_Q_BIAS) == a->qkv_bias, "%s: bias names vs block",
                  a->name);
            CHECK(!hf || has(a, hf, MS_R_SH_GATE) == a->shared_expert,
                  "%s: shared expert names vs block", a->name);
            if (hf && a->hf_fused_experts)
                CHECK(has(a, 1, MS_R_EXPS_GATE) && has(a, 1, MS_R_EXPS_DOWN), "%s fused", a->name);
            else if (hf)
                CHECK(has(a, 1, MS_R_EXP_GATE) && has(a, 1, MS_R_EXP_UP) &&
                          has(a, 1, MS_R_EXP_DOWN),
                      "%s: per-expert HF names", a->name);
        }
        CHECK(a->gguf_keys[MS_K_EXPERT_COUNT] && a->gguf_keys[MS_K_EXPERT_USED] &&
                  a->gguf_keys[MS_K_EXPERT_FF] && a->hf_keys[MS_K_EXPERT_COUNT] &&
                  a->hf_keys[MS_K_EXPERT_USED] && a->hf_keys[MS_K_EXPERT_FF],
              "%s: expert keys", a->name);
        CHECK(!a->shared_expert || (a->gguf_keys[MS_K_SHARED_FF] && a->hf_keys[MS_K_SHARED_FF]),
              "%s: shared width keys", a->name);
        CHECK(!a->multipliers || (a->gguf_keys[MS_K_LOGIT_SCALE] && a->hf_keys[MS_K_LOGIT_SCALE]),
              "%s: multiplier keys", a->name);
    }
    /* deepseek: GGUF only (no HF names or keys), ungated shared experts, DeepSeek keys */
    const ms_arch *ds = ms_arch_by_name("deepseek");
    CHECK(ds && ms_arch_by_gguf("deepseek", 8) == ds && ds->shared_expert && ds->shared_nogate &&
              ds->router == MS_ROUTER_SOFTMAX_TOPK && !ds->hf_keys[MS_K_EXPERT_COUNT] &&
              !has(ds, 1, MS_R_ROUTER) && has(ds, 0, MS_R_SH_DOWN) && has(ds, 0, MS_R_FFN_UP) &&
              ds->gguf_keys[MS_K_SHARED_COUNT] && ds->gguf_keys[MS_K_DENSE_LEAD] &&
              ds->gguf_keys[MS_K_WEIGHTS_SCALE] && strstr(ms_arch_list(), "deepseek"),
          "deepseek entry");
    /* gpt-oss: its FFN norm is llama.cpp's post_attention_norm, biases everywhere */
    const ms_arch *go = ms_arch_by_name("gpt-oss");
    char gb[128];
    CHECK(go && ms_arch_by_gguf("gpt-oss", 7) == go &&
              ms_arch_by_hf("GptOssForCausalLM", NULL) == go && go->oai && go->qkv_bias &&
              go->router == MS_ROUTER_TOPK_SOFTMAX && go->gguf_rope == MS_ROPE_HALF &&
              !ms_tensor_name(go, 0, MS_R_FFN_NORM, 3, 0, gb, sizeof gb) &&
              !strcmp(gb, "blk.3.post_attention_norm.weight") &&
              !ms_tensor_name(go, 0, MS_R_EXPS_DOWN_BIAS, 1, 0, gb, sizeof gb) &&
              !strcmp(gb, "blk.1.ffn_down_exps.bias"),
          "gpt-oss entry");
    ms_tensor_name(ms_arch_by_name("mixtral"), 0, MS_R_FFN_NORM, 3, 0, gb, sizeof gb);
    CHECK(!strcmp(gb, "blk.3.ffn_norm.weight"), "override is gpt-oss's only: %s", gb);
    CHECK(ms_arch_by_gguf("gemma", 5) == NULL && ms_arch_by_hf("FooForCausalLM", "foo") == NULL,
          "unknown architectures resolve to nothing");
    CHECK(ms_arch_by_gguf("llamax", 5) == ms_arch_by_name("mixtral"), "length-bounded lookup");

    /* formatting: layer then expert */
    char b[256];
    const ms_arch *mx = ms_arch_by_name("mixtral"), *q3 = ms_arch_by_name("qwen3moe");
    ms_tensor_name(mx, 0, MS_R_EXP_DOWN, 12, 7, b, sizeof b);
    CHECK(!strcmp(b, "blk.12.ffn_down.7.weight"), "%s", b);
    ms_tensor_name(mx, 1, MS_R_EXP_UP, 3, 250, b, sizeof b);
    CHECK(!strcmp(b, "model.layers.3.block_sparse_moe.experts.250.w3.weight"), "%s", b);
    ms_tensor_name(q3, 1, MS_R_EXP_GATE, 47, 127, b, sizeof b);
    CHECK(!strcmp(b, "model.layers.47.mlp.experts.127.gate_proj.weight"), "%s", b);
    ms_tensor_name(q3, 0, MS_R_K_NORM, 0, 0, b, sizeof b);
    CHECK(!strcmp(b, "blk.0.attn_k_norm.weight"), "%s", b);
    ms_tensor_name(q3, 0, MS_R_TOK_EMBD, 9, 9, b, sizeof b);
    CHECK(!strcmp(b, "token_embd.weight"), "%s", b);
    char small[12];
    ms_tensor_name(q3, 1, MS_R_EXP_GATE, 47, 127, small, sizeof small);
    CHECK(strlen(small) == sizeof small - 1 && !strncmp(small, "model.layer", 11),
          "truncation: '%s'", small);
    /* every GGUF name spelled once */
    for (int r = 0; r < MS_R_COUNT; r++)
        for (int s = r + 1; s < MS_R_COUNT; s++)
            CHECK(strcmp(ms_gguf_name((ms_role)r), ms_gguf_name((ms_role)s)) != 0,
                  "roles %d and %d share the GGUF name %s", r, s, ms_gguf_name((ms_role)r));
    CHECK(!strcmp(ms_router_kind_name(MS_ROUTER_TOPK_SOFTMAX), "topk_softmax"), "router name");
    if (failures) {
        printf("%d failure(s)\n", failures);
        return 1;
    }
    printf("registry: all checks passed\n");
    return 0;
}
