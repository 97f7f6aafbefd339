#!/usr/bin/python3
"""gptoss.py — throughput at gpt-oss-20b's layer shape (issue 20), moescope against llama.cpp on
the same GGUF file: d_model 2880, 64 query heads / 8 kv heads of 64, 32 experts of width 2880,
k 4, experts MXFP4 (the rest F32, as `make-model --type MXFP4` writes it), sliding window 128
on even layers, 2 layers, 32000-token vocabulary (made once with `moescope make-model --arch
gpt-oss` and cached). On the sample corpus's tokens cut into windows of --window:
  routing   bench/perf_forward.c: capture's routing-only pass (last layer's experts and
            lm_head skipped)
  full      every layer's experts and the last token's logits per window (what llama.cpp's
            prompt processing computes)
  llama.cpp tests/oracle/perf_bench.mjs (node-llama-cpp CPU build)
The engines alternate, each --repeats times; the run with the least CPU time counts.

usage: bench/gptoss.sh BUILD [--threads 2] [--window 512] [--tokens 1024] [--repeats 2]
       [--layers 2] [--keep]
Writes BUILD/bench-work/gptoss.md and gptoss.json; deletes the ~1.8 GB fixture unless --keep.
Not part of ctest."""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from perf import Proc, log, windows_of_store  # noqa: E402

S = dict(d=2880, heads=64, kv=8, dh=64, ff=2880, experts=32, k=4, vocab=32000, swa=128)


def flops(layers, lens, full):
    """FLOPs (2 per multiply-add): projections, attention over the visible keys, router, k
    experts, lm_head of the last row of each window (full only)."""
    d, F, E, K, dh = S["d"], S["ff"], S["experts"], S["k"], S["dh"]
    qd, kvd = S["heads"] * dh, S["kv"] * dh
    per_tok = layers * (2 * d * (qd + 2 * kvd) + 2 * qd * d + 2 * d * E)
    per_tok += (layers if full else layers - 1) * K * 3 * 2 * d * F
    att = 0
    for il in range(layers):
        w = S["swa"] if il % 2 == 0 else None
        att += S["heads"] * 4 * dh * sum(sum(min(i + 1, w or i + 1) for i in range(n))
                                          for n in lens)
    return float(sum(lens)) * per_tok + att + (len(lens) * 2 * d * S["vocab"] if full else 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    moescope = os.path.join(build, "moescope")
    work = os.path.join(build, "bench-work")
    os.makedirs(work, exist_ok=True)
    fwd = os.path.join(work, "perf_forward")
    libs = Proc(["pkg-config", "--cflags", "--libs", "openblas", "libcjson", "oniguruma",
                 "libutf8proc"]).out.split()
    Proc(["cc", "-O2", "-march=native", "-I" + os.path.join(SRC, "engine"), "-o", fwd,
          os.path.join(HERE, "perf_forward.c"), os.path.join(build, "engine", "libms_engine.a"),
          os.path.join(build, "util", "libms_util.a")] + libs + ["-lm", "-lpthread"])
    # the sample corpus's windows (tokenized by a tiny fixture with the same vocabulary)
    tiny = os.path.join(work, "tiny.gguf")
    if not os.path.exists(tiny):
        Proc([moescope, "-q", "make-model", "--out", tiny])
    store = os.path.join(work, "gptoss_corpus.h5")
    Proc([moescope, "capture", "--model", tiny, "--corpus",
          os.path.join(SRC, "corpora", "samples", "manifest.json"), "--out", store, "--window",
          str(a.window), "--max-docs", "40", "-q"])
    allw, wins = os.path.join(work, "gptoss_all.txt"), os.path.join(work, "gptoss_windows.txt")
    windows_of_store(store, a.window, allw)
    lens, n = [], 0
    with open(allw) as f, open(wins, "w") as g:
        for line in f:
            t = line.split()[:max(0, a.tokens - n)]
            if not t:
                break
            g.write(" ".join(t) + "\n")
            lens.append(len(t))
            n += len(t)
    model = os.path.join(work, "gptoss%d_MXFP4.gguf" % a.layers)
    if not os.path.exists(model):
        log("bench: making %s" % model)
        Proc([moescope, "make-model", "--arch", "gpt-oss", "--format", "gguf", "--out",
              model + ".tmp", "--type",
              "MXFP4", "--d-model", str(S["d"]), "--layers", str(a.layers), "--heads",
              str(S["heads"]), "--kv-heads", str(S["kv"]), "--head-dim", str(S["dh"]), "--ff",
              str(S["ff"]), "--experts", str(S["experts"]), "--k", str(S["k"]),
              "--sliding-window", str(S["swa"]), "-q"])
        os.rename(model + ".tmp", model)
    res = {"shape": S, "layers": a.layers, "threads": a.threads, "window": a.window,
           "tokens": n, "windows": len(lens), "repeats": a.repeats,
           "file_bytes": os.path.getsize(model), "load_before": os.getloadavg()}
    runs = {"routing": [], "full": [], "llama": []}
    for r in range(a.repeats):
        for mode in ("routing", "full"):
            log("bench: %s run %d" % (mode, r + 1))
            runs[mode].append(Proc([fwd, model, wins, str(a.threads), mode]))
        log("bench: llama.cpp run %d" % (r + 1))
        runs["llama"].append(Proc(["node", os.path.join(SRC, "tests", "oracle", "perf_bench.mjs"),
                                   model, wins, str(a.threads), str(a.window)]))
    for mode, rs in runs.items():
        j = [x.json() for x in rs]
        i = min(range(len(j)), key=lambda q: j[q]["cpu_seconds"])
        res[mode] = dict(cpu=j[i]["cpu_seconds"], wall=j[i]["seconds"],
                         all_cpu=[x["cpu_seconds"] for x in j],
                         rss=min(x.rss for x in rs), flops=flops(a.layers, lens, mode != "routing"))
    res["load_after"] = os.getloadavg()
    if not a.keep:
        os.remove(model)
    with open(os.path.join(work, "gptoss.json"), "w") as g:
        json.dump(res, g, indent=1)
    out = ["gpt-oss-20b layer shape (d_model 2880, 64/8 heads of 64, 32 experts x 2880 MXFP4, k 4, "
           "window 128 on even layers), %d layers, file %.2f GB; %d tokens in %d windows of <= %d; "
           "%d threads; best of %d by CPU; load average %.1f before, %.1f after" %
           (a.layers, res["file_bytes"] / 1e9, n, len(lens), a.window, a.threads, a.repeats,
            res["load_before"][0], res["load_after"][0]), "",
           "| pass | tok/CPU-s | tok/s (wall) | GFLOP/CPU-s | CPU s (all runs) | peak RSS GB | "
           "llama.cpp CPU / this CPU |", "|---|---|---|---|---|---|---|"]
    for mode in ("routing", "full", "llama"):
        r = res[mode]
        ratio = "%.2f" % (res["llama"]["cpu"] / r["cpu"]) if mode != "llama" else "-"
        out.append("| %s | %.1f | %.1f | %.1f | %s | %.2f | %s%s |" %
                   ("llama.cpp" if mode == "llama" else mode, n / r["cpu"], n / r["wall"],
                    r["flops"] / r["cpu"] / 1e9, " ".join("%.2f" % c for c in r["all_cpu"]),
                    r["rss"] / 1e9, ratio, " (less work)" if mode == "routing" else ""))
    text = "\n".join(out)
    with open(os.path.join(work, "gptoss.md"), "w") as g:
        g.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
