# Tokenizer (engine/tokenizer*.c): llama.cpp's own SentencePiece vectors from the GGUF
# vocabulary and from tokenizer.json files of the same vocabulary (Prepend+Replace and
# Metaspace forms), round trips on multilingual text, code and LaTeX, hand-derived edge cases
# (invalid UTF-8, byte fallback, display), fuzzing, broken tokenizer.json files, and the
# `moescope tokenize` command.
add_executable(test_tokenizer ${CMAKE_CURRENT_SOURCE_DIR}/test_tokenizer.c)
target_link_libraries(test_tokenizer PRIVATE ms_engine ms_flags)
target_include_directories(test_tokenizer PRIVATE ${PROJECT_SOURCE_DIR}/engine)

set(TOK_VOCAB ${MS_TEST_DATA}/vocab/ggml-vocab-llama-spm.gguf)
set(TOK_WORK ${CMAKE_CURRENT_BINARY_DIR}/tokenizer-work)
file(MAKE_DIRECTORY ${TOK_WORK})

add_test(NAME tokenizer_llama_vectors
  COMMAND test_tokenizer vectors ${TOK_VOCAB} ${TOK_VOCAB}.inp ${TOK_VOCAB}.out ${TOK_WORK})
set_tests_properties(tokenizer_llama_vectors PROPERTIES LABELS "golden")

add_test(NAME tokenizer_roundtrip
  COMMAND test_tokenizer roundtrip ${TOK_VOCAB} ${MS_TEST_DATA}/tokenizer/roundtrip.txt ${TOK_WORK})
set_tests_properties(tokenizer_roundtrip PROPERTIES LABELS "unit")

add_test(NAME tokenizer_edge COMMAND test_tokenizer edge ${TOK_VOCAB})
set_tests_properties(tokenizer_edge PROPERTIES LABELS "unit")

add_test(NAME tokenizer_fuzz COMMAND test_tokenizer fuzz ${TOK_VOCAB} ${TOK_WORK})
set_tests_properties(tokenizer_fuzz PROPERTIES LABELS "fuzz")

add_test(NAME tokenizer_json_errors COMMAND test_tokenizer errors ${TOK_WORK})
set_tests_properties(tokenizer_json_errors PROPERTIES LABELS "unit")

# llama.cpp itself (node-llama-cpp, vocabulary only) on ~430 generated texts: vocabulary-piece
# soups, many scripts, emoji, whitespace runs, documents of 20-60 KB. Its ids go through the
# same three tokenizers as the vectors above.
add_test(NAME tokenizer_llamacpp_oracle
  COMMAND sh -c "cd \"$1\" && \"$2\" tokenize_oracle.mjs \"$3\" \"$4\" \"$5/gen\" 400 7 && \"$6\" vectors \"$3\" \"$5/gen.inp\" \"$5/gen.out\" \"$5\""
          sh ${CMAKE_CURRENT_SOURCE_DIR}/oracle ${MS_NODE} ${TOK_VOCAB}
          ${MS_TEST_DATA}/tokenizer/roundtrip.txt ${TOK_WORK}/oracle $<TARGET_FILE:test_tokenizer>)
set_tests_properties(tokenizer_llamacpp_oracle PROPERTIES LABELS "oracle;nosan" TIMEOUT 300)
file(MAKE_DIRECTORY ${TOK_WORK}/oracle)

# Hugging Face's own tokenizer.json implementation (tokenizers.js, npm @huggingface/tokenizers)
# on the tokenizer.json files written by the vectors test (Prepend+Replace; Metaspace "first"
# without split; Metaspace "always" with split; merges shuffled and thinned; byte_fallback off)
# and ~630 texts. Skipped (77) when the
# npm package is not installed in tests/oracle.
add_test(NAME tokenizer_hf_oracle
  COMMAND sh -c "cd \"$1\" && \"$2\" \"$3/tokenize_hf_oracle.mjs\" \"$4\" 600 11 hf-prepend hf-metaspace hf-metaspace-split hf-shuffled hf-nofallback || exit $?; for d in hf-prepend hf-metaspace hf-metaspace-split hf-shuffled hf-nofallback; do \"$5\" json $d $d/hf.inp $d/hf.out || exit 1; done"
          sh ${TOK_WORK} ${MS_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/oracle
          ${MS_TEST_DATA}/tokenizer/roundtrip.txt $<TARGET_FILE:test_tokenizer>)
set_tests_properties(tokenizer_hf_oracle PROPERTIES LABELS "oracle;nosan" TIMEOUT 300
  SKIP_RETURN_CODE 77 FIXTURES_REQUIRED tok_hf)

# The command: ids, pieces, BOS handling, files and stdin, HF folders, usage errors.
add_test(NAME tokenizer_cli
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_tokenizer_cli.sh ${MOESCOPE_BIN} ${TOK_VOCAB}
          ${TOK_WORK}/hf-prepend ${TOK_WORK}/cli)
set_tests_properties(tokenizer_cli PROPERTIES LABELS "unit" FIXTURES_REQUIRED tok_hf)
set_tests_properties(tokenizer_llama_vectors PROPERTIES FIXTURES_SETUP tok_hf)
