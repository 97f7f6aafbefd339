#!/usr/bin/python3
"""families_bench.py — issue 17's throughput check in the many-small-experts regime:
moescope against llama.cpp prompt processing (node-llama-cpp in tests/oracle/node_modules) on
a Qwen3-30B-A3B-shaped fixture: d_model 2048, 32 heads (4 kv) of 128, 128 experts, k 8,
expert width 768, a few layers; F16, Q8_0, Q4_K_M. A 512-token window gives each expert about
32 tokens per layer.

Both engines run the same token windows (the sample corpus cut as `capture` cuts it), from an
empty sequence each. Measured per engine: CPU seconds (user + system of the whole process
while evaluating; steadier than wall time on a shared machine) and wall seconds:
  - moescope: bench/perf_forward (the forward pass `capture` runs, routing-only: the last
    layer's experts and lm_head are skipped) and the same with full logits for the last
    position (`full`, what llama.cpp computes);
  - llama.cpp: tests/oracle/perf_bench.mjs (logits for the last position of each window).
Reuses bench/perf.py's process measurement.

usage: families_bench.py --build BUILD [--layers 3] [--threads 1] [--types F16,Q8_0,Q4_K_M]
       [--window 512] [--max-docs 4] [--repeats 1] [--work DIR]
Prints a markdown table (docs/PERFORMANCE.md) and writes WORK/families_results.json.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import perf  # noqa: E402  (Proc, best, windows_of_store, log)

SHAPE = dict(arch="qwen3moe", d=2048, heads=32, kv=4, head_dim=128, experts=128, k=8, ff=768)


def make_model(moescope, work, typ, layers):
    path = os.path.join(work, "qwen3shape_L%d_%s.gguf" % (layers, typ))
    if not os.path.exists(path):
        perf.log("families bench: making %s" % path)
        s = SHAPE
        perf.Proc([moescope, "make-model", "--arch", s["arch"], "--format", "gguf", "--out", path + ".tmp",
                   "--type", typ, "--d-model", str(s["d"]), "--layers", str(layers),
                   "--heads", str(s["heads"]), "--kv-heads", str(s["kv"]), "--head-dim",
                   str(s["head_dim"]), "--ff", str(s["ff"]), "--experts", str(s["experts"]),
                   "--k", str(s["k"]), "-q"])
        os.rename(path + ".tmp", path)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--work")
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--types", default="F16,Q8_0,Q4_K_M")
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--max-docs", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    moescope = os.path.join(build, "moescope")
    work = os.path.abspath(a.work or os.path.join(build, "bench-work"))
    os.makedirs(work, exist_ok=True)
    libs = subprocess.run(["pkg-config", "--cflags", "--libs", "openblas", "libcjson"],
                          capture_output=True, text=True, check=True).stdout.split()
    fwd = os.path.join(work, "perf_forward")
    perf.Proc(["cc", "-O2", "-march=native", "-I" + os.path.join(SRC, "engine"), "-o", fwd,
               os.path.join(HERE, "perf_forward.c"),
               os.path.join(build, "engine", "libms_engine.a"),
               os.path.join(build, "util", "libms_util.a")] + libs + ["-lm", "-lpthread"])
    manifest = os.path.join(SRC, "corpora", "samples", "manifest.json")
    res = dict(shape=SHAPE, layers=a.layers, threads=a.threads, window=a.window, rows=[])
    for typ in a.types.split(","):
        model = make_model(moescope, work, typ, a.layers)
        store = os.path.join(work, "qwen3shape_%s.h5" % typ)
        if os.path.exists(store):
            os.remove(store)
        perf.log("families bench: %s capture" % typ)
        cap = perf.best(a.repeats, [moescope, "capture", "--model", model, "--corpus", manifest,
                                    "--out", store, "--window", str(a.window), "--threads",
                                    str(a.threads), "--max-docs", str(a.max_docs), "-q"])
        wins = os.path.join(work, "qwen3shape_windows_%d.txt" % a.window)
        lens = perf.windows_of_store(store, a.window, wins)
        ntok = int(lens.sum())
        perf.log("families bench: %s moescope forward" % typ)
        fw = perf.best(a.repeats, [fwd, model, wins, str(a.threads)]).json()
        perf.log("families bench: %s llama.cpp" % typ)
        ll = perf.best(a.repeats, ["node", os.path.join(SRC, "tests", "oracle",
                                                        "perf_bench.mjs"), model, wins,
                                   str(a.threads), str(a.window)]).json()
        assert ll["tokens"] == ntok, (ll["tokens"], ntok)
        row = dict(type=typ, file_bytes=os.path.getsize(model), tokens=ntok,
                   windows=len(lens), capture_cpu=cap.cpu, capture_wall=cap.wall,
                   capture_rss=cap.rss, forward_cpu=fw["cpu_seconds"],
                   forward_wall=fw["seconds"], profile=fw.get("profile"),
                   llama_cpu=ll["cpu_seconds"], llama_wall=ll["seconds"],
                   llama_rss_kb=ll.get("max_rss_kb"))
        res["rows"].append(row)
        with open(os.path.join(work, "families_results.json"), "w") as g:
            json.dump(res, g, indent=1)
    print("| type | file | tokens | moescope forward tok/s (CPU) | capture tok/s (CPU) | "
          "llama.cpp pp tok/s (CPU) | moescope / llama.cpp |")
    print("|---|---|---|---|---|---|---|")
    for r in res["rows"]:
        t = r["tokens"]
        print("| %s | %.2f GB | %d | %.1f | %.1f | %.1f | %.2f |" %
              (r["type"], r["file_bytes"] / 1e9, t, t / r["forward_cpu"], t / r["capture_cpu"],
               t / r["llama_cpu"], r["llama_cpu"] / r["forward_cpu"]))


if __name__ == "__main__":
    main()
