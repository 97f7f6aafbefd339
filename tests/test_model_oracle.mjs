// llama.cpp (through node-llama-cpp's prebuilt CPU binaries) accepts the GGUF files
// `moescope make-model` writes: for every weight type it loads the model, evaluates a short
// text, and agrees with `moescope inspect --json` on the hyper-parameters, the vocabulary
// size, the total parameter count (llama_model_n_params) and the weight bytes
// (llama_model_size). Per-expert tensors (the older layout) are loaded too and the result is
// only reported: current llama.cpp requires stacked ffn_*_exps tensors.
//
// usage: node test_model_oracle.mjs MOESCOPE WORKDIR
import {execFileSync} from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {fileURLToPath} from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const {getLlama} = await import(
    path.join(here, "oracle/node_modules/node-llama-cpp/dist/index.js"));

const [moescope, work] = process.argv.slice(2);
fs.rmSync(work, {recursive: true, force: true});
fs.mkdirSync(work, {recursive: true});

const wide = ["--d-model", "256", "--ff", "256", "--layers", "2", "--heads", "4", "--kv-heads",
              "2", "--experts", "4", "--k", "2"];
const cases = [
    {name: "f32", args: [], ftype: "all F32"},
    {name: "f32_tied_swa", args: ["--tied", "--sliding-window", "128", "--ctx", "1024"],
     ftype: "all F32"},
    {name: "f16", args: [...wide, "--type", "F16"], ftype: "F16"},
    {name: "q8_0", args: [...wide, "--type", "Q8_0"], ftype: "Q8_0"},
    {name: "q4_0", args: [...wide, "--type", "Q4_0"], ftype: "Q4_0"},
    {name: "q4_k", args: [...wide, "--type", "Q4_K"], ftype: "Q4_K - Small"},
    {name: "q6_k", args: [...wide, "--type", "Q6_K"], ftype: "Q6_K"},
    {name: "q4_k_m", args: [...wide, "--type", "Q4_K_M"], ftype: "Q4_K - Medium"},
    {name: "per_expert", args: ["--per-expert-tensors"], reportOnly: true},
];

const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const failures = [];
const check = (ok, msg) => { if (!ok) failures.push(msg); };

for (const c of cases) {
    const file = path.join(work, c.name + ".gguf");
    execFileSync(moescope, ["-q", "make-model", "--out", file, "--seed", "3", ...c.args]);
    const ours = JSON.parse(execFileSync(moescope, ["inspect", "--json", file]).toString());
    let model;
    try {
        model = await llama.loadModel({modelPath: file});
    } catch (e) {
        if (c.reportOnly) {
            console.log(`${c.name}: llama.cpp does not load it (${String(e).slice(0, 80)})`);
            continue;
        }
        failures.push(`${c.name}: llama.cpp failed to load: ${e}`);
        continue;
    }
    const hp = ours.hparams, md = model.fileInfo.metadata.llama;
    const nParams = model._model.getTotalParameters();
    const nBytes = model._model.getTotalSize();
    const ourBytes = ours.tensors.reduce((s, t) => s + t.bytes, 0);
    const desc = model.typeDescription;
    check(nParams === ours.params.total,
          `${c.name}: llama.cpp counts ${nParams} parameters, moescope ${ours.params.total}`);
    check(nBytes === ourBytes, `${c.name}: llama.cpp weight bytes ${nBytes}, moescope ${ourBytes}`);
    check(model.embeddingVectorSize === hp.d_model, `${c.name}: n_embd`);
    check(model.trainContextSize === hp.n_ctx_train, `${c.name}: n_ctx_train`);
    check(md.block_count === hp.n_layer && md.expert_count === hp.n_expert &&
          md.expert_used_count === hp.n_expert_used && md.attention.head_count === hp.n_head &&
          md.attention.head_count_kv === hp.n_head_kv && md.feed_forward_length === hp.d_ff,
          `${c.name}: metadata differs from moescope's hparams`);
    check(model.fileInfo.metadata.tokenizer.ggml.tokens.length === hp.n_vocab,
          `${c.name}: vocabulary size`);
    if (c.ftype) check(desc.endsWith(c.ftype), `${c.name}: llama.cpp calls it '${desc}'`);
    const ctx = await model.createContext({contextSize: 128});
    const seq = ctx.getSequence();
    const toks = model.tokenize("The quick brown fox jumps over the lazy dog.");
    await seq.evaluateWithoutGeneratingNewTokens(toks);
    check(seq.nextTokenIndex === toks.length, `${c.name}: evaluated ${seq.nextTokenIndex} tokens`);
    console.log(`${c.name}: llama.cpp loads '${desc}', ${nParams} params, ${nBytes} bytes, ` +
                `evaluated ${toks.length} tokens`);
    await ctx.dispose();
    await model.dispose();
}
await llama.dispose();
if (failures.length) {
    for (const f of failures) console.error("FAIL " + f);
    process.exit(1);
}
console.log("ok: llama.cpp accepts every fixture");
