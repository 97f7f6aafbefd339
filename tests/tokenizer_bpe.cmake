# Byte-level BPE tokenizers (engine/tokenizer_bpe.c): llama.cpp's own test vectors for every
# byte-level vocabulary it ships (models/ggml-vocab-*.gguf with .inp/.out, taken at test time
# out of the llama.cpp source node-llama-cpp installs: tests/oracle/node_modules; skipped, 77,
# when it is not installed), llama.cpp itself (node-llama-cpp) on our own texts, and
# hand-derived cases (invalid UTF-8, decoding, display).
set(BPE_VOCABS gpt-2 llama-bpe qwen2 qwen35 deepseek-llm deepseek-coder mpt starcoder refact falcon
               command-r)
set(BPE_BUNDLE ${CMAKE_CURRENT_SOURCE_DIR}/oracle/node_modules/node-llama-cpp/llama/gitRelease.bundle)
set(BPE_WORK ${CMAKE_CURRENT_BINARY_DIR}/tokenizer-bpe)
file(MAKE_DIRECTORY ${BPE_WORK})

add_test(NAME tokenizer_bpe_extract
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/bpe_vocabs.sh ${BPE_BUNDLE} ${BPE_WORK} ${BPE_VOCABS})
set_tests_properties(tokenizer_bpe_extract PROPERTIES LABELS "golden" SKIP_RETURN_CODE 77
  FIXTURES_SETUP tok_bpe TIMEOUT 300)

# Each vocabulary from the GGUF, from the tokenizer.json ms_tokenizer_write_json writes of it
# (the pre-type's patterns as Split steps + ByteLevel) and from the GGUF metadata
# ms_tokenizer_to_gguf writes back: all must give llama.cpp's ids.
foreach(v ${BPE_VOCABS})
  set(m ${BPE_WORK}/ggml-vocab-${v}.gguf)
  add_test(NAME tokenizer_bpe_vectors_${v}
    COMMAND sh -c "[ -f \"$1\" ] || exit 77; \"$2\" json \"$1\" \"$1.inp\" \"$1.out\" || exit 1; mkdir -p \"$4\" && \"$3\" writejson \"$1\" \"$4\" && \"$2\" json \"$4/tokenizer.json\" \"$1.inp\" \"$1.out\" && \"$3\" togguf \"$1\" \"$4/back.gguf\" && exec \"$2\" json \"$4/back.gguf\" \"$1.inp\" \"$1.out\""
            sh ${m} $<TARGET_FILE:test_tokenizer> $<TARGET_FILE:test_tokenizer_bpe>
            ${BPE_WORK}/written-${v})
  set_tests_properties(tokenizer_bpe_vectors_${v} PROPERTIES LABELS "golden" SKIP_RETURN_CODE 77
    FIXTURES_REQUIRED tok_bpe)
endforeach()

# Our own texts (code, CJK, Arabic, emoji, whitespace runs, \r\n, digit runs, upper-case
# contractions) plus the round-trip texts and ~200 generated ones, through node-llama-cpp for
# each vocabulary; then the same through ms_tokenize.
file(READ ${MS_TEST_DATA}/tokenizer/bpe_texts.txt BPE_TEXTS_A)
file(READ ${MS_TEST_DATA}/tokenizer/roundtrip.txt BPE_TEXTS_B)
file(WRITE ${BPE_WORK}/seeds.txt "${BPE_TEXTS_A}\n__ggml_vocab_test__\n${BPE_TEXTS_B}")
foreach(v gpt-2 llama-bpe qwen2 deepseek-llm deepseek-coder mpt starcoder falcon command-r)
  set(m ${BPE_WORK}/ggml-vocab-${v}.gguf)
  add_test(NAME tokenizer_bpe_llamacpp_${v}
    COMMAND sh -c "[ -f \"$3\" ] && [ -d \"$1/node_modules\" ] || exit 77; cd \"$1\" && \"$2\" tokenize_oracle.mjs \"$3\" \"$4\" \"$5\" 200 13 >/dev/null && exec \"$6\" json \"$3\" \"$5.inp\" \"$5.out\""
            sh ${CMAKE_CURRENT_SOURCE_DIR}/oracle ${MS_NODE} ${m} ${BPE_WORK}/seeds.txt
            ${BPE_WORK}/oracle-${v} $<TARGET_FILE:test_tokenizer>)
  set_tests_properties(tokenizer_bpe_llamacpp_${v} PROPERTIES LABELS "oracle;nosan"
    SKIP_RETURN_CODE 77 FIXTURES_REQUIRED tok_bpe TIMEOUT 600)
endforeach()

add_executable(test_tokenizer_bpe ${CMAKE_CURRENT_SOURCE_DIR}/test_tokenizer_bpe.c)
target_link_libraries(test_tokenizer_bpe PRIVATE ms_engine ms_flags PkgConfig::CJSON)
target_include_directories(test_tokenizer_bpe PRIVATE ${PROJECT_SOURCE_DIR}/engine)

# tokenizer.json files of the same vocabularies with their families' real normalizers and
# pre-tokenizers (tests/data/tokenizer/bpe_hf_forms.json: GPT-2, RoBERTa-style prefix + NFKC,
# Llama 3, Qwen2, OLMo/GPT-NeoX, DeepSeek coder and V3, StarCoder, Command-R, o200k), through
# Hugging Face's tokenizers.js and through ms_tokenize.
add_test(NAME tokenizer_bpe_hf_oracle
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer_bpe_hf.py
          ${MS_TEST_DATA}/tokenizer/bpe_hf_forms.json ${BPE_WORK} ${BPE_WORK}/hf
          $<TARGET_FILE:test_tokenizer_bpe> $<TARGET_FILE:test_tokenizer> ${MS_NODE}
          ${CMAKE_CURRENT_SOURCE_DIR}/oracle ${BPE_WORK}/seeds.txt)
set_tests_properties(tokenizer_bpe_hf_oracle PROPERTIES LABELS "oracle;nosan" SKIP_RETURN_CODE 77
  FIXTURES_REQUIRED tok_bpe TIMEOUT 900)

add_test(NAME tokenizer_bpe_edge
  COMMAND sh -c "[ -f \"$1\" ] || exit 77; exec \"$2\" edge \"$1\""
          sh ${BPE_WORK}/ggml-vocab-gpt-2.gguf $<TARGET_FILE:test_tokenizer_bpe>)
set_tests_properties(tokenizer_bpe_edge PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77
  FIXTURES_REQUIRED tok_bpe)

# Pre-types whose own vocabulary llama.cpp does not ship (GPT-4o/GPT-OSS o200k, DeepSeek V3,
# OLMo, ...): the Llama 3 vocabulary with tokenizer.ggml.pre rewritten, through llama.cpp
# (node-llama-cpp) and ms_tokenize.
foreach(pre gpt-4o deepseek-v3 olmo default dbrx chatglm-bpe seed-coder bailingmoe)
  set(m ${BPE_WORK}/pre-${pre}.gguf)
  add_test(NAME tokenizer_bpe_pretype_${pre}
    COMMAND sh -c "[ -f \"$3\" ] && [ -d \"$1/node_modules\" ] || exit 77; \"$7\" repre \"$3\" \"$4\" \"$8\" && cd \"$1\" && \"$2\" tokenize_oracle.mjs \"$4\" \"$5\" \"$6\" 200 19 >/dev/null && exec \"$9\" json \"$4\" \"$6.inp\" \"$6.out\""
            sh ${CMAKE_CURRENT_SOURCE_DIR}/oracle ${MS_NODE} ${BPE_WORK}/ggml-vocab-llama-bpe.gguf
            ${m} ${BPE_WORK}/seeds.txt ${BPE_WORK}/oracle-pre-${pre}
            $<TARGET_FILE:test_tokenizer_bpe> ${pre} $<TARGET_FILE:test_tokenizer>)
  set_tests_properties(tokenizer_bpe_pretype_${pre} PROPERTIES LABELS "oracle;nosan"
    SKIP_RETURN_CODE 77 FIXTURES_REQUIRED tok_bpe TIMEOUT 600)
endforeach()

add_test(NAME tokenizer_bpe_cli
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_tokenizer_bpe_cli.sh ${MOESCOPE_BIN}
          ${BPE_WORK}/ggml-vocab-gpt-2.gguf $<TARGET_FILE:test_tokenizer_bpe> ${BPE_WORK}/cli)
set_tests_properties(tokenizer_bpe_cli PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77
  FIXTURES_REQUIRED tok_bpe)

# libFuzzer target for the tokenizer.json reader: ms_fuzz_test.
ms_fuzz_test(tokenizer_json_fuzz fuzz_tokenizer_json ${CMAKE_CURRENT_BINARY_DIR}/tokenizer-fuzz
  tokenizer.json
  SRCS ${PROJECT_SOURCE_DIR}/engine/tokenizer.c ${PROJECT_SOURCE_DIR}/engine/tokenizer_load.c
       ${PROJECT_SOURCE_DIR}/engine/tokenizer_bpe.c ${PROJECT_SOURCE_DIR}/engine/tokenizer_togguf.c
       ${PROJECT_SOURCE_DIR}/engine/safetensors.c ${PROJECT_SOURCE_DIR}/engine/gguf.c
       ${PROJECT_SOURCE_DIR}/engine/gguf_split.c ${PROJECT_SOURCE_DIR}/engine/quant.c
       ${MS_UTIL_SRCS} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_tokenizer_json.c
  FLAGS -I${PROJECT_SOURCE_DIR}/engine ${CJSON_CFLAGS} ${ONIG_CFLAGS} ${UTF8PROC_CFLAGS}
  LIBS ${CJSON_LDFLAGS} ${ONIG_LDFLAGS} ${UTF8PROC_LDFLAGS} -lpthread
  DEPENDS ${PROJECT_SOURCE_DIR}/engine/tokenizer_impl.h ${PROJECT_SOURCE_DIR}/engine/tokenizer_int.h
          ${PROJECT_SOURCE_DIR}/engine/engine.h
  ARGS -max_total_time=20 -dict=${CMAKE_CURRENT_SOURCE_DIR}/fuzz/tokenizer.dict
  SEEDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/seeds_tokenizer)
