"""perf.py — moescope capture vs llama.cpp prompt processing, side by side (issue 10).

Driven by bench/run.sh (see docs/PERFORMANCE.md). For each GGUF type of the 0.8B
Mixtral-architecture bench model it runs, on the same tokens and thread count:
  capture   `moescope capture --window W` over the sample corpus (routes of all layers stored)
  forward   bench/perf_forward.c: the same windows through the engine, no probes, no store
  llama.cpp tests/oracle/perf_bench.mjs: node-llama-cpp evaluating the same windows
and reports tokens/s (per CPU second and per wall second), peak RSS, the probe overhead, the
per-stage profile and achieved GFLOP/s next to the machine's sgemm roofline. Every process's
CPU time and peak RSS come from wait4's rusage, so they hold on a shared machine.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
# the model of issue 10
SHAPE = dict(d=1024, layers=8, heads=16, kv=4, ff=3584, experts=8, k=2)


class Proc:
    """A child process measured by os.wait4 (CPU user+sys, peak RSS)."""

    def __init__(self, cmd, env=None):
        self.cmd = cmd
        t0 = time.monotonic()
        r_out, w_out = os.pipe()
        r_err, w_err = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.dup2(w_out, 1)
            os.dup2(w_err, 2)
            os.close(r_out)
            os.close(r_err)
            try:
                os.execvpe(cmd[0], cmd, env if env is not None else os.environ)
            finally:
                os._exit(127)
        os.close(w_out)
        os.close(w_err)
        import selectors
        sel = selectors.DefaultSelector()
        bufs = {r_out: b"", r_err: b""}
        sel.register(r_out, selectors.EVENT_READ)
        sel.register(r_err, selectors.EVENT_READ)
        while sel.get_map():
            for key, _ in sel.select():
                chunk = os.read(key.fd, 65536)
                if chunk:
                    bufs[key.fd] += chunk
                else:
                    sel.unregister(key.fd)
                    os.close(key.fd)
        _, status, ru = os.wait4(pid, 0)
        self.wall = time.monotonic() - t0
        self.cpu = ru.ru_utime + ru.ru_stime
        self.rss = ru.ru_maxrss * 1024
        self.out = bufs[r_out].decode()
        self.err = bufs[r_err].decode()
        self.rc = os.waitstatus_to_exitcode(status)
        if self.rc != 0:
            sys.exit("bench: %s failed (%d):\n%s" % (" ".join(cmd), self.rc, self.err[-2000:]))

    def json(self):
        return json.loads(self.out.strip().splitlines()[-1])


def best(n, cmd, env=None):
    """Runs cmd n times; returns the run with the least CPU time (the least disturbed one)."""
    runs = [Proc(cmd, env=env) for _ in range(n)]
    return min(runs, key=lambda r: r.cpu)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def make_model(moescope, work, typ):
    path = os.path.join(work, "bench_%s.gguf" % typ)
    if not os.path.exists(path):
        log("bench: making %s (cached in %s)" % (path, work))
        s = SHAPE
        Proc([moescope, "make-model", "--out", path + ".tmp", "--type", typ, "--d-model",
              str(s["d"]), "--layers", str(s["layers"]), "--heads", str(s["heads"]),
              "--kv-heads", str(s["kv"]), "--ff", str(s["ff"]), "--experts", str(s["experts"]),
              "--k", str(s["k"]), "-q"])
        os.rename(path + ".tmp", path)
    return path


def windows_of_store(store, window, out):
    """Writes the windows capture ran (each document cut into windows of `window`)."""
    import h5py
    import numpy as np
    with h5py.File(store, "r") as f:
        ids = f["tokens/id"][:]
        first = f["documents/first_token"][:]
        n = f["documents/n_tokens"][:]
    lines = []
    for a, c in zip(first, n):
        for w0 in range(0, int(c), window):
            w = ids[int(a) + w0:int(a) + min(int(c), w0 + window)]
            lines.append(" ".join(map(str, w.tolist())))
    with open(out, "w") as g:
        g.write("\n".join(lines) + "\n")
    return np.asarray([len(l.split()) for l in lines])


def flops(lens, routing_only, lm_rows):
    """FLOPs of a forward pass over windows of lengths `lens` (2 per multiply-add)."""
    s = SHAPE
    d, L, F, E, K = s["d"], s["layers"], s["ff"], s["experts"], s["k"]
    dh = d // s["heads"]
    qd, kvd = s["heads"] * dh, s["kv"] * dh
    T = float(sum(lens))
    per_tok = L * (2 * d * (qd + 2 * kvd) + 2 * qd * d + 2 * d * E)
    per_tok += (L - 1 if routing_only else L) * K * 3 * 2 * d * F
    att = L * s["heads"] * 4 * dh * sum(n * (n + 1) / 2 for n in lens)
    return T * per_tok + att + lm_rows * 2 * d * 32000


PROFILE_RE = re.compile(r"profile: (.*)")


def parse_profile(stderr):
    m = PROFILE_RE.search(stderr)
    if not m:
        return {}
    return {k: float(v) for k, v in re.findall(r"([a-z_]+) ([0-9.]+)s", m.group(1))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, help="build folder holding moescope")
    ap.add_argument("--work", help="cache of models and outputs (default BUILD/bench-work)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--types", default="F16,Q8_0,Q4_K_M")
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--max-docs", type=int, default=12)
    ap.add_argument("--scaling", default="128,256,512,1024,2048,4096",
                    help="window lengths for the scaling table ('' to skip)")
    ap.add_argument("--scaling-tokens", type=int, default=4096)
    ap.add_argument("--scaling-type", default="Q4_K_M")
    ap.add_argument("--blas-auto", action="store_true",
                    help="also run the forward pass with OpenBLAS's CPU auto-detection")
    ap.add_argument("--skip-llama", action="store_true")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs of each measurement; the one with the least CPU time counts")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    moescope = os.path.join(build, "moescope")
    work = os.path.abspath(a.work or os.path.join(build, "bench-work"))
    os.makedirs(work, exist_ok=True)
    res = {"threads": a.threads, "window": a.window, "repeats": a.repeats,
           "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "(auto-detect)"),
           "models": []}

    cflags = ["-O2", "-march=native", "-I" + os.path.join(SRC, "engine")]
    libs = subprocess.run(["pkg-config", "--cflags", "--libs", "openblas", "libcjson"],
                          capture_output=True, text=True, check=True).stdout.split()
    fwd = os.path.join(work, "perf_forward")
    Proc(["cc"] + cflags + ["-o", fwd, os.path.join(HERE, "perf_forward.c"),
                            os.path.join(build, "engine", "libms_engine.a")] + libs +
         ["-lm", "-lpthread"])
    roof = os.path.join(work, "sgemm_roof")
    Proc(["cc"] + cflags + ["-o", roof, os.path.join(HERE, "sgemm_roof.c")] + libs +
         ["-lpthread"])

    log("bench: sgemm roofline")
    res["roofline"] = [json.loads(l) for l in Proc([roof, "0.3"]).out.splitlines()]
    env_auto = dict(os.environ)
    env_auto.pop("OPENBLAS_CORETYPE", None)
    env_auto.pop("OPENBLAS_L2_SIZE", None)
    if a.blas_auto:
        res["roofline_auto"] = [json.loads(l) for l in
                                Proc([roof, "0.3"], env=env_auto).out.splitlines()]

    manifest = os.path.join(SRC, "corpora", "samples", "manifest.json")
    for typ in a.types.split(","):
        model = make_model(moescope, work, typ)
        size = os.path.getsize(model)
        store = os.path.join(work, "cap_%s.h5" % typ)
        log("bench: %s capture" % typ)
        cap = best(a.repeats, [moescope, "capture", "--model", model, "--corpus", manifest, "--out", store,
                    "--window", str(a.window), "--threads", str(a.threads), "--max-docs",
                    str(a.max_docs), "--profile", "-q"])
        wins = os.path.join(work, "windows_%d.txt" % a.window)
        lens = windows_of_store(store, a.window, wins)
        ntok = int(lens.sum())
        log("bench: %s forward without probes" % typ)
        fw = best(a.repeats, [fwd, model, wins, str(a.threads)])
        fwj = fw.json()
        row = dict(type=typ, file_bytes=size, tokens=ntok, windows=len(lens),
                   capture=dict(wall=cap.wall, cpu=cap.cpu, rss=cap.rss,
                                profile=parse_profile(cap.err)),
                   forward=dict(wall=fw.wall, cpu=fw.cpu, rss=fw.rss, pass_wall=fwj["seconds"],
                                pass_cpu=fwj["cpu_seconds"], profile=fwj["profile"]),
                   flops_capture=flops(lens, True, 0),
                   flops_llama=flops(lens, False, len(lens)))
        if a.blas_auto:
            log("bench: %s forward, OpenBLAS auto-detect" % typ)
            fa = best(a.repeats, [fwd, model, wins, str(a.threads)], env=env_auto)
            row["forward_blas_auto"] = dict(wall=fa.wall, cpu=fa.cpu,
                                            pass_cpu=fa.json()["cpu_seconds"])
        if not a.skip_llama:
            log("bench: %s llama.cpp" % typ)
            ll = best(a.repeats, ["node", os.path.join(SRC, "tests", "oracle", "perf_bench.mjs"), model,
                       wins, str(a.threads), str(a.window)])
            llj = ll.json()
            assert llj["tokens"] == ntok
            row["llama"] = dict(wall=ll.wall, cpu=ll.cpu, rss=ll.rss, eval_wall=llj["seconds"],
                                eval_cpu=llj["cpu_seconds"])
        res["models"].append(row)
        with open(os.path.join(work, "results.json"), "w") as g:
            json.dump(res, g, indent=1)

    if a.scaling:
        typ = a.scaling_type
        model = make_model(moescope, work, typ)
        src = os.path.join(work, "windows_%d.txt" % a.window)
        stream = open(src).read().split()
        while len(stream) < a.scaling_tokens:
            stream = stream + stream
        stream = stream[:a.scaling_tokens]
        res["scaling"] = []
        for w in [int(x) for x in a.scaling.split(",")]:
            path = os.path.join(work, "scaling_%d.txt" % w)
            with open(path, "w") as g:
                for i in range(0, len(stream), w):
                    g.write(" ".join(stream[i:i + w]) + "\n")
            log("bench: scaling, window %d" % w)
            j = best(a.repeats, [fwd, model, path, str(a.threads)]).json()
            res["scaling"].append(dict(window=w, tokens=len(stream), cpu=j["cpu_seconds"],
                                       wall=j["seconds"], profile=j["profile"]))
        with open(os.path.join(work, "results.json"), "w") as g:
            json.dump(res, g, indent=1)
    report(res, work)


def mb(b):
    return b / 1e6


def report(res, work):
    th = res["threads"]
    out = []
    p = out.append
    p("threads %d, window %d, best of %d runs, OPENBLAS_CORETYPE=%s" %
      (th, res["window"], res.get("repeats", 1), res["openblas_coretype"]))
    p("")
    p("| model | file MB | tokens | capture tok/CPU-s | llama.cpp tok/CPU-s | ratio (CPU) "
      "| capture tok/s | llama.cpp tok/s | ratio (wall) | capture peak RSS MB | RSS limit MB "
      "| llama.cpp peak RSS MB | probe overhead |")
    p("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for m in res["models"]:
        c, f = m["capture"], m["forward"]
        n = m["tokens"]
        lim = 1.1 * m["file_bytes"] + 200e6
        over = c["cpu"] / f["cpu"] - 1.0
        if "llama" in m:
            l = m["llama"]
            lc, lw = n / l["eval_cpu"], n / l["eval_wall"]
            lcs, lws, lr = "%.0f" % lc, "%.0f" % lw, "%.0f" % mb(l["rss"])
            rc, rw = "%.2f" % (n / c["cpu"] / lc), "%.2f" % (n / c["wall"] / lw)
        else:
            lcs = lws = lr = rc = rw = "-"
        p("| %s | %.0f | %d | %.0f | %s | %s | %.0f | %s | %s | %.0f | %.0f | %s | %+.1f%% |" %
          (m["type"], mb(m["file_bytes"]), n, n / c["cpu"], lcs, rc, n / c["wall"], lws, rw,
           mb(c["rss"]), mb(lim), lr, 100 * over))
    p("")
    p("capture = the whole `moescope capture` command (model open, tokenizer, forward passes, "
      "HDF5 store), CPU = user+sys of the process; llama.cpp = the evaluations only (model "
      "load excluded). probe overhead = capture CPU / forward-only CPU (same windows, no "
      "probes, no tokenizer, no store) - 1.")
    p("")
    p("| model | forward tok/CPU-s | forward GFLOP/CPU-s | llama.cpp GFLOP/CPU-s | profile "
      "(capture, wall s): attention / router / experts / dequant (CPU) / other |")
    p("|---|---|---|---|---|")
    for m in res["models"]:
        f = m["forward"]
        pr = m["capture"]["profile"]
        lg = ("%.1f" % (m["flops_llama"] / m["llama"]["eval_cpu"] / 1e9)) if "llama" in m else "-"
        p("| %s | %.0f | %.1f | %s | %.2f / %.2f / %.2f / %.2f / %.2f |" %
          (m["type"], m["tokens"] / f["pass_cpu"], m["flops_capture"] / f["pass_cpu"] / 1e9, lg,
           pr.get("attention", 0), pr.get("router", 0), pr.get("experts", 0),
           pr.get("dequant", 0), pr.get("other", 0)))
    p("")
    p("sgemm roofline (OpenBLAS, GFLOP/s; 2x1t = two threads each running a single-threaded "
      "sgemm, as the engine does):")
    p("")
    p("| shape | M | N | K | 1 thread | 2x1t | OpenBLAS 2 threads |")
    p("|---|---|---|---|---|---|---|")
    for r in res["roofline"]:
        p("| %s | %d | %d | %d | %.1f | %.1f | %.1f |" % (r["shape"], r["m"], r["n"], r["k"],
                                                       r["gflops_1t"], r["gflops_2x1t"],
                                                       r["gflops_openblas_2t"]))
    for r in res.get("roofline_auto", []):
        p("| %s (auto-detect) | %d | %d | %d | %.1f | %.1f | %.1f |" %
          (r["shape"], r["m"], r["n"], r["k"], r["gflops_1t"], r["gflops_2x1t"],
           r["gflops_openblas_2t"]))
    if any("forward_blas_auto" in m for m in res["models"]):
        p("")
        p("| model | forward CPU s (Haswell kernels) | forward CPU s (auto-detect) |")
        p("|---|---|---|")
        for m in res["models"]:
            if "forward_blas_auto" in m:
                p("| %s | %.2f | %.2f |" % (m["type"], m["forward"]["pass_cpu"],
                                          m["forward_blas_auto"]["pass_cpu"]))
    if res.get("scaling"):
        p("")
        p("| window | tokens | forward CPU ms/token | attention share (wall) |")
        p("|---|---|---|---|")
        for s in res["scaling"]:
            pr = s["profile"]
            tot = sum(pr[k] for k in ("attention", "router", "experts", "other"))
            p("| %d | %d | %.2f | %.0f%% |" % (s["window"], s["tokens"],
                                               1e3 * s["cpu"] / s["tokens"],
                                               100 * pr["attention"] / tot if tot else 0))
    text = "\n".join(out) + "\n"
    with open(os.path.join(work, "results.md"), "w") as g:
        g.write(text)
    print(text)


if __name__ == "__main__":
    main()
