# GPT-OSS's o200k tokenizer (o200k_base + the harmony special tokens), built at test time from
# the ranks npm js-tiktoken ships (tests/o200k_vocab.py: o200k.gguf and o200k/tokenizer.json,
# no download), against three independent references (tests/oracle/tokenize_o200k_oracle.mjs):
# js-tiktoken itself, llama.cpp (node-llama-cpp) on the GGUF and tokenizers.js on the
# tokenizer.json; plain text and with special-token parsing (MS_TOKENIZE_SPECIAL, --special).
# Skipped (77) when the npm packages are not installed.
set(O2_WORK ${CMAKE_CURRENT_BINARY_DIR}/tokenizer-o200k)
set(O2_ORACLE ${CMAKE_CURRENT_SOURCE_DIR}/oracle)
file(MAKE_DIRECTORY ${O2_WORK})
file(READ ${MS_TEST_DATA}/tokenizer/bpe_texts.txt O2_TEXTS_A)
file(READ ${MS_TEST_DATA}/tokenizer/roundtrip.txt O2_TEXTS_B)
file(READ ${MS_TEST_DATA}/tokenizer/o200k_texts.txt O2_TEXTS_C)
file(WRITE ${O2_WORK}/seeds.txt
     "${O2_TEXTS_C}\n__ggml_vocab_test__\n${O2_TEXTS_A}\n__ggml_vocab_test__\n${O2_TEXTS_B}")

add_test(NAME tokenizer_o200k_build
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/o200k_vocab.py ${O2_WORK}
          ${O2_ORACLE}/node_modules/js-tiktoken)
set_tests_properties(tokenizer_o200k_build PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77
  FIXTURES_SETUP tok_o200k TIMEOUT 300)

add_test(NAME tokenizer_o200k_refs
  COMMAND sh -c "[ -f \"$3\" ] && [ -n \"$2\" ] || exit 77; cd \"$1\" && exec \"$2\" tokenize_o200k_oracle.mjs \"$3\" \"$4\" \"$5\" \"$6\" 300 2025"
          sh ${O2_ORACLE} "${MS_NODE}" ${O2_WORK}/o200k.gguf ${O2_WORK}/o200k ${O2_WORK}/seeds.txt
          ${O2_WORK}/refs)
set_tests_properties(tokenizer_o200k_refs PROPERTIES LABELS "oracle" SKIP_RETURN_CODE 77
  FIXTURES_REQUIRED tok_o200k FIXTURES_SETUP tok_o200k_refs TIMEOUT 900)

# NAME MODEL REF [FLAGS]: moescope on MODEL gives REF's ids on its plain texts and, with
# special-token parsing, on its special texts (FLAGS: more test_tokenizer jsonx flags).
function(o200k_compare name model ref)
  set(flags "${ARGN}")
  if(NOT flags)
    set(flags none)
  endif()
  add_test(NAME tokenizer_o200k_${name}
    COMMAND sh -c "[ -f \"$3.out\" ] || exit 77; \"$1\" jsonx \"$4\" \"$2\" \"$3.inp\" \"$3.out\" && exec \"$1\" jsonx \"$4,special\" \"$2\" \"$3-special.inp\" \"$3-special.out\""
            sh $<TARGET_FILE:test_tokenizer> ${model} ${O2_WORK}/refs/${ref} ${flags})
  set_tests_properties(tokenizer_o200k_${name} PROPERTIES LABELS "oracle" SKIP_RETURN_CODE 77
    FIXTURES_REQUIRED "tok_o200k;tok_o200k_refs" TIMEOUT 600)
endfunction()
o200k_compare(tiktoken_json ${O2_WORK}/o200k/tokenizer.json tiktoken)
o200k_compare(hf_json ${O2_WORK}/o200k/tokenizer.json hf)
o200k_compare(llamacpp_gguf ${O2_WORK}/o200k.gguf llamacpp)
# The GGUF with the model's own pattern (MS_TOKENIZE_ORIGINAL_REGEX, --original-regex) gives
# tiktoken's ids, and tokenizers.js's; the tokenizer.json does so with or without the flag.
o200k_compare(tiktoken_gguf_orig ${O2_WORK}/o200k.gguf tiktoken orig)
o200k_compare(hf_gguf_orig ${O2_WORK}/o200k.gguf hf orig)
o200k_compare(tiktoken_json_orig ${O2_WORK}/o200k/tokenizer.json tiktoken orig)

add_test(NAME tokenizer_o200k_cli
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_tokenizer_o200k_cli.py ${MOESCOPE_BIN}
          ${O2_WORK})
set_tests_properties(tokenizer_o200k_cli PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77
  FIXTURES_REQUIRED "tok_o200k;tok_o200k_refs")

add_test(NAME tokenizer_o200k_capture
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_tokenizer_o200k_capture.py ${MOESCOPE_BIN}
          ${O2_WORK})
set_tests_properties(tokenizer_o200k_capture PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77
  FIXTURES_REQUIRED "tok_o200k;tok_o200k_refs" TIMEOUT 300)

# Special-token parsing (MS_TOKENIZE_SPECIAL) on other vocabularies against llama.cpp's
# parse_special (node-llama-cpp): the seeds with special-token text and 150 texts with the
# vocabulary's control and user-defined tokens (and broken ones) put between snippets.
set(O2_BPE ${CMAKE_CURRENT_BINARY_DIR}/tokenizer-bpe)
foreach(v llama-spm llama-bpe qwen2 deepseek-llm deepseek-coder command-r gpt-2)
  if(v STREQUAL "llama-spm")
    set(m ${MS_TEST_DATA}/vocab/ggml-vocab-llama-spm.gguf)
  else()
    set(m ${O2_BPE}/ggml-vocab-${v}.gguf)
  endif()
  add_test(NAME tokenizer_special_llamacpp_${v}
    COMMAND sh -c "[ -f \"$3\" ] && [ -n \"$2\" ] && [ -d \"$1/node_modules/node-llama-cpp\" ] || exit 77; cd \"$1\" && \"$2\" tokenize_special_oracle.mjs \"$3\" \"$4\" \"$5\" 150 7 >/dev/null && exec \"$6\" jsonx special \"$3\" \"$5.inp\" \"$5.out\""
            sh ${O2_ORACLE} "${MS_NODE}" ${m} ${O2_WORK}/seeds.txt ${O2_WORK}/special-${v}
            $<TARGET_FILE:test_tokenizer>)
  set_tests_properties(tokenizer_special_llamacpp_${v} PROPERTIES LABELS "oracle"
    SKIP_RETURN_CODE 77 FIXTURES_REQUIRED tok_bpe TIMEOUT 600)
endforeach()

# The same for tokenizer.json files (the 11 forms of tests/data/tokenizer/bpe_hf_forms.json)
# against tokenizers.js, which parses special tokens by default.
add_test(NAME tokenizer_special_hf
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer_bpe_hf.py
          ${MS_TEST_DATA}/tokenizer/bpe_hf_forms.json ${O2_BPE} ${O2_WORK}/hf-special
          $<TARGET_FILE:test_tokenizer_bpe> $<TARGET_FILE:test_tokenizer> ${MS_NODE} ${O2_ORACLE}
          ${O2_WORK}/seeds.txt)
set_tests_properties(tokenizer_special_hf PROPERTIES LABELS "oracle" SKIP_RETURN_CODE 77
  ENVIRONMENT MS_HF_SPECIAL=1 FIXTURES_REQUIRED tok_bpe TIMEOUT 900)
