#!/usr/bin/python3
"""shapes.py — issue 18's benchmark: throughput at real model shapes, moescope against llama.cpp
on the same GGUF file, threads and tokens, in one invocation (the engines alternate, each
measurement --repeats times, the run with the least CPU time counts).

For each type (F16, Q8_0, Q4_K_M) of a fixture of the --shape (default: Mixtral's layer, d_model
4096, 32 heads, 8 kv heads, 8 experts of width 14336, k 2, 2 layers, 32000-token vocabulary;
made once with `moescope make-model` and cached):
  routing   bench/perf_forward.c: capture's routing-only pass (the last layer's experts and
            lm_head skipped), one document window per pass
  packed    the same windows packed into shared passes of up to --pack-window tokens
            (ms_forward_packed, as capture does with its default window of 2048)
  full      every layer's experts and the last token's logits per window: what llama.cpp's
            prompt processing computes
  llama.cpp tests/oracle/perf_bench.mjs (node-llama-cpp CPU build), each window from an empty
            sequence in a WINDOW-token context
and per token and per GFLOP of the work each one does (FLOPs counted as 2 per multiply-add:
projections, attention QK/SV over the causal half, router, k experts, lm_head rows). The kernel
roofline (bench/gemm_roof.c) is measured in the same run: OpenBLAS sgemm and moescope's kernels
(engine/gemm.c) at the pass's shapes, 1 thread.

usage: bench/shapes.sh BUILD [--shape mixtral|qwen3] [--types F16,Q8_0,Q4_K_M] [--threads 2]
       [--window 512] [--tokens 2151] [--repeats 3] [--modes full,packed] [--skip-llama]
       [--work DIR] [--layers 2]
--shape qwen3: the same at Qwen3-30B-A3B's layer shape (d_model 2048, 32/4 heads of 128, 128
experts of width 768, k 8; `make-model --arch qwen3moe`). The medians of the --repeats runs
count (a shared machine: the engines run interleaved, each run's CPU seconds are listed).
Writes BUILD/bench-work/shapes-SHAPE-Tn.md and .json. Not part of ctest."""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from perf import Proc, log, windows_of_store  # noqa: E402

SHAPES = {
    # Mixtral 8x7B's layer: few wide experts (each sees ~1/4 of a window's tokens)
    "mixtral": dict(arch="mixtral", d=4096, heads=32, kv=8, head_dim=128, ff=14336, experts=8,
                    k=2, vocab=32000, what="Mixtral-layer shape (d_model 4096, 32/8 heads, "
                    "8 experts x 14336, k 2)"),
    # Qwen3-30B-A3B's layer: many small experts (each sees ~1/16 of a window's tokens)
    "qwen3": dict(arch="qwen3moe", d=2048, heads=32, kv=4, head_dim=128, ff=768, experts=128,
                  k=8, vocab=32000, what="Qwen3-30B-A3B layer shape (d_model 2048, 32/4 heads "
                  "of 128, 128 experts x 768, k 8)"),
}


def flops(s, layers, lens, mode):
    """FLOPs of the pass over windows of lengths lens."""
    d, F, E, K = s["d"], s["ff"], s["experts"], s["k"]
    dh = s["head_dim"]
    qd, kvd = s["heads"] * dh, s["kv"] * dh
    T = float(sum(lens))
    per_tok = layers * (2 * d * (qd + 2 * kvd) + 2 * qd * d + 2 * d * E)
    per_tok += (layers if mode == "full" else layers - 1) * K * 3 * 2 * d * F
    att = layers * s["heads"] * 4 * dh * sum(n * (n + 1) / 2 for n in lens)
    lm = len(lens) * 2 * d * s["vocab"] if mode == "full" else 0
    return T * per_tok + att + lm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--work")
    ap.add_argument("--types", default="F16,Q8_0,Q4_K_M")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--tokens", type=int, default=2151)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shape", default="mixtral", choices=sorted(SHAPES))
    ap.add_argument("--modes", default="full,packed",
                    help="moescope passes to run: full, packed (capture), routing, base_full "
                    "(the full pass of --baseline)")
    ap.add_argument("--baseline", help="a perf_forward binary built against another engine "
                    "(e.g. main's), for base_full")
    ap.add_argument("--skip-llama", action="store_true")
    ap.add_argument("--skip-roofline", action="store_true")
    ap.add_argument("--pack-window", type=int, default=2048,
                    help="tokens per packed pass (capture's default window)")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    moescope = os.path.join(build, "moescope")
    work = os.path.abspath(a.work or os.path.join(build, "bench-work"))
    os.makedirs(work, exist_ok=True)
    s = SHAPES[a.shape]
    libs = subprocess.run(["pkg-config", "--cflags", "--libs", "openblas", "libcjson", "oniguruma",
                           "libutf8proc"],
                          capture_output=True, text=True, check=True).stdout.split()
    cflags = ["-O2", "-march=native", "-I" + os.path.join(SRC, "engine")]
    alibs = [os.path.join(build, "engine", "libms_engine.a"),
             os.path.join(build, "util", "libms_util.a")]
    fwd = os.path.join(work, "perf_forward")
    Proc(["cc"] + cflags + ["-o", fwd, os.path.join(HERE, "perf_forward.c")] + alibs + libs +
         ["-lm", "-lpthread"])
    roof = os.path.join(work, "gemm_roof")
    Proc(["cc"] + cflags + ["-o", roof, os.path.join(HERE, "gemm_roof.c")] + alibs + libs +
         ["-lm", "-lpthread"])
    res = {"shape_name": a.shape, "threads": a.threads, "window": a.window, "repeats": a.repeats, "shape": s,
           "layers": a.layers, "load_before": os.getloadavg(), "models": []}

    # the sample corpus's tokens (tokenized by a tiny fixture with the same vocabulary), cut
    # into windows as capture cuts them, first --tokens tokens
    tiny = os.path.join(work, "tiny.gguf")
    if not os.path.exists(tiny):
        Proc([moescope, "-q", "make-model", "--out", tiny])
    store = os.path.join(work, "shapes_corpus.h5")
    Proc([moescope, "capture", "--model", tiny, "--corpus",
          os.path.join(SRC, "corpora", "samples", "manifest.json"), "--out", store, "--window",
          str(a.window), "--max-docs", "40", "-q"])
    allw = os.path.join(work, "shapes_all.txt")
    windows_of_store(store, a.window, allw)
    wins = os.path.join(work, "shapes_windows.txt")
    lens, n = [], 0
    with open(allw) as f, open(wins, "w") as g:
        for line in f:
            t = line.split()
            if n >= a.tokens:
                break
            t = t[:a.tokens - n]
            g.write(" ".join(t) + "\n")
            lens.append(len(t))
            n += len(t)
    res["tokens"], res["windows"] = n, len(lens)

    log("bench: kernel roofline")
    res["roofline"] = [] if a.skip_roofline else [json.loads(l) for l in
                                                   Proc([roof, "0.5"]).out.splitlines()]
    for typ in a.types.split(","):
        model = os.path.join(work, "%s%d_%s.gguf" % (a.shape, a.layers, typ))
        if not os.path.exists(model):
            log("bench: making %s" % model)
            Proc([moescope, "make-model", "--arch", s["arch"], "--format", "gguf", "--out",
                  model + ".tmp", "--type", typ, "--d-model", str(s["d"]), "--layers",
                  str(a.layers), "--heads", str(s["heads"]), "--kv-heads", str(s["kv"]),
                  "--head-dim", str(s["head_dim"]), "--ff", str(s["ff"]), "--experts",
                  str(s["experts"]), "--k", str(s["k"]), "-q"])
            os.rename(model + ".tmp", model)
        row = {"type": typ, "file_bytes": os.path.getsize(model)}
        runs = {m: [] for m in a.modes.split(",") + ["llama"]}
        for r in range(a.repeats):  # alternate the engines on the same file
            for mode in a.modes.split(","):
                log("bench: %s %s run %d" % (typ, mode, r + 1))
                prog = a.baseline if mode == "base_full" else fwd
                runs[mode].append(Proc([prog, model, wins, str(a.threads),
                                        "full" if mode == "base_full" else mode] +
                                       ([str(a.pack_window)] if mode == "packed" else [])))
            if not a.skip_llama:
                log("bench: %s llama.cpp run %d" % (typ, r + 1))
                runs["llama"].append(Proc(["node", os.path.join(SRC, "tests", "oracle",
                                                                 "perf_bench.mjs"),
                                           model, wins, str(a.threads), str(a.window)]))
        for mode, rs in runs.items():
            if not rs:
                continue
            j = [x.json() for x in rs]
            i = sorted(range(len(j)), key=lambda q: j[q]["cpu_seconds"])[(len(j) - 1) // 2]
            fl = flops(s, a.layers, lens,
                       "full" if mode in ("full", "base_full", "llama") else "routing")
            row[mode] = dict(cpu=j[i]["cpu_seconds"], wall=j[i]["seconds"],
                             all_cpu=[x["cpu_seconds"] for x in j], flops=fl,
                             profile=j[i].get("profile"), passes=j[i].get("passes"))
        res["models"].append(row)
    res["load_after"] = os.getloadavg()
    base = os.path.join(work, "shapes-%s-T%d" % (a.shape, a.threads))
    with open(base + ".json", "w") as g:
        json.dump(res, g, indent=1)
    report(res, base + ".md")


LABELS = {"routing": "routing", "packed": "capture (packed)", "base_full": "full, baseline",
          "full": "full", "llama": "llama.cpp"}


def report(res, path):
    out = []
    p = out.append
    p("%s, %d layers; %d tokens in %d windows of <= %d; %d threads; median of %d by CPU; "
      "load average %.1f before, %.1f after" %
      (res["shape"]["what"], res["layers"], res["tokens"], res["windows"], res["window"],
       res["threads"], res["repeats"], res["load_before"][0], res["load_after"][0]))
    p("")
    p("| model | pass | passes | tok/CPU-s | tok/s (wall) | GFLOP/CPU-s | CPU s (all runs) | "
      "llama.cpp CPU / this CPU |")
    p("|---|---|---|---|---|---|---|---|")
    for m in res["models"]:
        ll = m.get("llama")
        for mode in ("routing", "packed", "base_full", "full", "llama"):
            r = m.get(mode)
            if not r:
                continue
            ratio = ("%.2f" % (ll["cpu"] / r["cpu"])) if ll and mode != "llama" else "-"
            if mode in ("routing", "packed"):
                ratio += " (less work)" if ratio != "-" else ""
            p("| %s | %s | %s | %.1f | %.1f | %.1f | %s | %s |" %
              (m["type"], LABELS[mode], r.get("passes") or "-",
               res["tokens"] / r["cpu"],
               res["tokens"] / r["wall"], r["flops"] / r["cpu"] / 1e9,
               " ".join("%.2f" % c for c in r["all_cpu"]), ratio))
    p("")
    p("| kernel shape | M | N | K | OpenBLAS sgemm GFLOP/CPU-s | packed kernel (pack + "
      "multiply) | packed kernel (multiply) | dot kernel (stage + multiply) |")
    p("|---|---|---|---|---|---|---|---|")
    for r in res["roofline"]:
        p("| %s | %d | %d | %d | %.1f | %.1f | %.1f | %.1f |" %
          (r["shape"], r["m"], r["n"], r["k"], r["openblas"], r["ours_pack"], r["ours"],
           r["dot"]))
    text = "\n".join(out)
    with open(path, "w") as g:
        g.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
