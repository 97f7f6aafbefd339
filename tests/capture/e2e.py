#!/usr/bin/python3
"""End-to-end test of `moescope capture` (GitHub issue 6).

  e2e.py MOESCOPE WORKDIR route     capture a generated fixture model over a Pile-format
                                    .jsonl.zst with several domains (zstd CLI), read the store
                                    with h5py and check shapes, dtypes, domains, sampling, windows,
                                    and that ids/weights equal what `moescope route` prints
  e2e.py MOESCOPE WORKDIR resume    kill -9 captures at several points, --resume them, and
                                    check the result equals an uninterrupted capture
  e2e.py MOESCOPE WORKDIR errors    bad corpus input (file:line messages, --skip-bad counts),
                                    unwritable output, mismatching --resume, a full "disk"

Only h5py/numpy/zstd/json read the results here; expectations come from the fixture texts
(Python's own JSON and set-name selection) and from the separate `moescope route` command."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mstest  # noqa: E402  (tests/mstest.py)

MOESCOPE, WORK, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(WORK, exist_ok=True)
os.chdir(WORK)
errors = []
check = mstest.checker(errors)


def run(args, **kw):
    return subprocess.run([MOESCOPE] + args, capture_output=True, text=True, **kw)


SETS = ["ArXiv", "Github", "PubMed Abstracts", "DM Mathematics", "Wikipedia (en)"]
WORDS = ("the of a model expert routing token layer matrix proof theorem lemma function return "
         "int while for gene protein cell patient 17 42 3.14 + = ( ) { } é ü 漢字 naïve").split()


def make_fixture(n_docs=40, model_args=(), name="m.gguf", seed=5):
    if not os.path.exists(name):
        r = run(["make-model", "--out", name, "--seed", "3", "--layers", "3"] + list(model_args))
        assert r.returncode == 0, r.stderr
    rnd = random.Random(seed)
    lines = []
    for i in range(n_docs):
        s = SETS[i % len(SETS)]
        n = rnd.randint(3, 150)
        text = " ".join(rnd.choice(WORDS) for _ in range(n))
        if i % 7 == 3:
            text = text.replace(" ", "\n", 3)
        lines.append(json.dumps({"text": text, "meta": {"pile_set_name": s}}, ensure_ascii=i % 2 == 0))
    with open("pile.jsonl", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    subprocess.run(["zstd", "-q", "-f", "pile.jsonl", "-o", "pile.jsonl.zst"], check=True)
    return [json.loads(l) for l in lines]


MANIFEST = {
    "name": "e2e", "seed": 11, "max_tokens_per_doc": 150,
    "domains": [
        {"name": "ArXiv", "sources": "pile.jsonl.zst", "pile_set_name": "ArXiv", "docs": 5},
        {"name": "GitHub", "sources": ["pile.jsonl.zst"], "pile_set_name": "GitHub"},
        {"name": "PubMed Abstracts", "sources": "pile.jsonl.zst",
         "pile_set_name": "pubmed abstracts", "docs": 100},
        {"name": "Wiki", "sources": "pile.jsonl.zst", "pile_set_name": "Wikipedia (en)", "docs": 4},
    ]}


def route_ids(model, text, window):
    """ids, experts (n, L, k) and weights from `moescope route` (its own tokenizer + forward)."""
    with open("doc.txt", "w", encoding="utf-8") as f:
        f.write(text)
    r = run(["route", "--model", model, "--file", "doc.txt", "--window", str(window), "--json"])
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    toks = j["tokens"]
    return (np.array([t["id"] for t in toks], np.int64),
            np.array([t["experts"] for t in toks], np.int64),
            np.array([t["weights"] for t in toks], np.float64), j["layers"])


def test_route():
    docs = make_fixture()
    with open("manifest.json", "w") as f:
        json.dump(MANIFEST, f)
    window = 40
    r = run(["capture", "--model", "m.gguf", "--corpus", "manifest.json", "--out", "r.h5",
             "--window", str(window), "--logits", "--threads", "2", "-v"])
    check(r.returncode == 0, "capture failed: %s" % r.stderr)
    print(r.stderr.strip())
    check("documents" in r.stderr and "tokens/s" in r.stderr, "no summary line on stderr")
    with h5py.File("r.h5", "r") as f:
        check(f.attrs["format"] == "moescope-routes" and int(f.attrs["format_version"]) == 1,
              "format attrs")
        model = json.loads(f.attrs["model"])
        json.loads(f.attrs["tokenizer"])
        man = json.loads(f.attrs["manifest"])
        check(man["seed"] == 11 and len(man["domains"]) == 4, "manifest attr")
        check("capture" in f.attrs["command_line"] and "--logits" in f.attrs["command_line"],
              "command_line attr")
        check(isinstance(model, dict), "model attr")
        check(int(f.attrs["window"]) == window, "window attr")
        doms = list(f["domains"].asstr()[()])
        check(doms == ["ArXiv", "GitHub", "PubMed Abstracts", "Wiki"], "domains %r" % doms)
        E, k = int(f["routing"].attrs["n_expert"]), int(f["routing"].attrs["k"])
        layers = list(f["routing/layers"][()])
        check(layers == [0, 1, 2] and E == 8 and k == 2, "layers %r E %d k %d" % (layers, E, k))
        D = int(f.attrs["n_documents"])
        T = int(f.attrs["n_tokens"])
        check(f["tokens/id"].shape == (T,) and f["routing/expert"].shape == (T, 3, k) and
              f["routing/weight"].shape == (T, 3, k) and f["routing/logits"].shape == (T, 3, E),
              "shapes")
        check(f["routing/expert"].dtype == np.uint8 and f["tokens/id"].dtype == np.int32, "dtypes")
        dom = f["documents/domain"][()]
        src = list(f["documents/source"].asstr()[()])
        first = f["documents/first_token"][()]
        ntok = f["documents/n_tokens"][()]
        # Selection, checked against Python's reading of the fixture.
        by_set = {s: [i + 1 for i, d in enumerate(docs) if d["meta"]["pile_set_name"] == s]
                  for s in SETS}
        counts = np.bincount(dom, minlength=4)
        check(list(counts) == [5, len(by_set["Github"]), len(by_set["PubMed Abstracts"]), 4],
              "documents per domain %r" % list(counts))
        want_set = ["ArXiv", "Github", "PubMed Abstracts", "Wikipedia (en)"]
        lines_seen = []
        for d in range(D):
            line = int(src[d].rsplit(":", 1)[1])
            check(src[d].endswith("pile.jsonl.zst:%d" % line), "source %s" % src[d])
            check(docs[line - 1]["meta"]["pile_set_name"] == want_set[dom[d]],
                  "doc %d (%s) in the wrong domain" % (d, src[d]))
            lines_seen.append((dom[d], line))
        check(lines_seen == sorted(lines_seen), "documents not in domain/appearance order")
        check(sorted(l for dm, l in lines_seen if dm == 1) == by_set["Github"], "GitHub: not all")
        ids_all = f["tokens/id"][()]
        pos_all = f["tokens/pos"][()]
        ex_all = f["routing/expert"][()].astype(np.int64)
        w_all = f["routing/weight"][()]
        lg_all = f["routing/logits"][()]
        check(np.array_equal(f["tokens/doc"][()], np.repeat(np.arange(D), ntok)), "tokens/doc")
        n_windows = 0
        for d in range(D):
            line = int(src[d].rsplit(":", 1)[1])
            rid, rex, rw, rl = route_ids("m.gguf", docs[line - 1]["text"], window)
            n = int(ntok[d])
            check(n == min(len(rid), 150), "doc %d: %d tokens, route gives %d" % (d, n, len(rid)))
            a, b = int(first[d]), int(first[d]) + n
            check(np.array_equal(ids_all[a:b], rid[:n]), "doc %d: token ids differ" % d)
            check(np.array_equal(pos_all[a:b], np.arange(n) % window), "doc %d: pos" % d)
            check(np.array_equal(ex_all[a:b], rex[:n]), "doc %d: expert ids differ from route" % d)
            check(np.abs(w_all[a:b] - rw[:n]).max(initial=0) <= 6e-5, "doc %d: weights" % d)
            # Router logits agree with the stored choice: top-k of softmax(logits) in rank order
            # (ties to the lower id, as documented), and weights = renormalised top-k probs.
            lg = lg_all[a:b].astype(np.float64)
            order = np.argsort(-lg, axis=-1, kind="stable")[..., :k]
            check(np.array_equal(order, ex_all[a:b]), "doc %d: expert ids are not top-k of logits" % d)
            top = np.take_along_axis(lg, order, -1)
            wn = np.exp(top - top.max(-1, keepdims=True))
            wn /= wn.sum(-1, keepdims=True)
            check(np.abs(wn - w_all[a:b]).max(initial=0) < 1e-5, "doc %d: weights vs logits" % d)
            n_windows += (n + window - 1) // window
        check(int((pos_all == 0).sum()) == n_windows, "window starts")
        check(n_windows > D, "no document was long enough to need several windows")
        print("route: %d documents, %d tokens, %d windows checked against moescope route"
              % (D, T, n_windows))
    # The same capture read with the layer subset and no logits.
    r = run(["capture", "--model", "m.gguf", "--corpus", "manifest.json", "--out", "r2.h5",
             "--window", str(window), "--layers", "0,2", "-q"])
    check(r.returncode == 0 and r.stderr == "", "quiet capture: %s" % r.stderr)
    with h5py.File("r.h5", "r") as f, h5py.File("r2.h5", "r") as g:
        check(list(g["routing/layers"][()]) == [0, 2] and "logits" not in g["routing"], "subset")
        check(np.array_equal(g["routing/expert"][()], f["routing/expert"][()][:, [0, 2]]),
              "layer subset differs")
    # Files given directly: one domain per file stem.
    with open("notes.txt", "w") as fh:
        fh.write("A short plain text document.")
    r = run(["capture", "--model", "m.gguf", "--corpus", "notes.txt", "pile.jsonl", "--out",
             "r3.h5", "--max-docs", "7"])
    check(r.returncode == 0, "files capture: %s" % r.stderr)
    with h5py.File("r3.h5", "r") as f:
        check(list(f["domains"].asstr()[()]) == ["notes", "pile"], "stem domains")
        check(int(f.attrs["n_documents"]) == 7, "--max-docs")


def store_equal(a, b):
    with h5py.File(a, "r") as f, h5py.File(b, "r") as g:
        for name in ["tokens/id", "tokens/doc", "tokens/pos", "routing/layers", "routing/expert",
                     "routing/weight", "routing/logits", "documents/domain", "documents/source",
                     "documents/first_token", "documents/n_tokens", "domains"]:
            x, y = f[name][()], g[name][()]
            if x.shape != y.shape or not np.array_equal(x, y):
                return "%s differs (%s vs %s)" % (name, x.shape, y.shape)
        for at in ["n_documents", "n_tokens", "format", "model", "tokenizer", "manifest"]:
            if f.attrs[at] != g.attrs[at]:
                return "attribute %s differs" % at
    return None


n_committed = mstest.n_committed


def test_resume():
    make_fixture(n_docs=200, model_args=["--d-model", "128", "--ff", "256"], name="big.gguf",
                 seed=9)
    man = {"name": "resume", "seed": 2, "domains": [
        {"name": "ArXiv", "sources": "pile.jsonl.zst", "pile_set_name": "ArXiv", "docs": 25},
        {"name": "Github", "sources": "pile.jsonl.zst", "pile_set_name": "Github"},
        {"name": "rest", "sources": "pile.jsonl.zst",
         "pile_set_name": ["DM Mathematics", "Wikipedia (en)"]}]}
    with open("resume.json", "w") as f:
        json.dump(man, f)
    base = ["capture", "--model", "big.gguf", "--corpus", "resume.json", "--window", "48",
            "--logits", "--batch", "3", "--threads", "1", "-q"]
    t0 = time.time()
    r = run(base + ["--out", "full.h5"])
    check(r.returncode == 0, "uninterrupted capture: %s" % r.stderr)
    total = n_committed("full.h5")
    print("uninterrupted: %d documents in %.1f s" % (total, time.time() - t0))
    env = dict(os.environ, HDF5_USE_FILE_LOCKING="FALSE")
    # Kill points: after >= N committed documents, plus a varying delay, twice in a row.
    for trial, targets in enumerate([(6, 40), (20, 90), (3, 120)]):
        out = "killed%d.h5" % trial
        if os.path.exists(out):
            os.remove(out)
        kills = []
        for j, target in enumerate(targets):
            args = base + ["--out", out] + (["--resume"] if j > 0 else [])
            p = subprocess.Popen([MOESCOPE] + args, env=env, stderr=subprocess.PIPE)
            deadline = time.time() + 60
            while p.poll() is None and n_committed(out) < target and time.time() < deadline:
                time.sleep(0.01)
            time.sleep(0.003 * (trial + j))
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            p.wait()
            p.stderr.close()
            kills.append(n_committed(out))
        r = run(base + ["--out", out, "--resume", "-v"])
        check(r.returncode == 0, "resume %d: %s" % (trial, r.stderr))
        check("resuming" in r.stderr, "no resume message: %s" % r.stderr)
        diff = store_equal("full.h5", out)
        check(diff is None, "trial %d: resumed store differs: %s" % (trial, diff))
        print("trial %d: killed with %s committed documents of %d; resumed store equals the "
              "uninterrupted one" % (trial, kills, total))
        check(0 < kills[0] < total, "trial %d: the first kill missed the capture (%s)" % (trial, kills))
    # Resuming a finished store adds nothing and keeps it equal.
    r = run(base + ["--out", "killed0.h5", "--resume"])
    check(r.returncode == 0 and store_equal("full.h5", "killed0.h5") is None, "resume of a finished store")
    # A resume with different options or corpus is refused.
    r = run(base[:-1] + ["--out", "killed0.h5", "--resume", "--layers", "0,1"])
    check(r.returncode == 2 and "layers" in r.stderr, "layers mismatch: %s" % r.stderr)
    r = run(base[:-1] + ["--out", "killed0.h5", "--resume", "--window", "50"])
    check(r.returncode == 2 and "--window" in r.stderr, "window mismatch: %s" % r.stderr)
    r = run(["make-model", "--out", "other.gguf", "--seed", "4", "--layers", "3", "--d-model",
             "128", "--ff", "256"])
    r = run(["capture", "--model", "other.gguf"] + base[3:] + ["--out", "killed0.h5", "--resume"])
    check(r.returncode == 2 and "another model" in r.stderr, "model mismatch: %s" % r.stderr)
    man["seed"] = 3
    with open("resume2.json", "w") as f:
        json.dump(man, f)
    r = run(["capture", "--model", "big.gguf", "--corpus", "resume2.json", "--window", "48",
             "--logits", "--out", "killed0.h5", "--resume"])
    check(r.returncode == 2 and "cannot resume" in r.stderr, "changed corpus: %s" % r.stderr)
    print(r.stderr.strip())


def test_errors():
    make_fixture(n_docs=20)
    good = '{"text": "fine", "meta": {"pile_set_name": "ArXiv"}}\n'
    cases = {
        "malformed.jsonl": (good + '{"text": "x"\n' + good, "malformed.jsonl:2: malformed JSON line"),
        "notext.jsonl": (good + good + '{"body": "x"}\n', "notext.jsonl:3: no string field \"text\""),
        "utf8.jsonl": (good.encode() + b'{"text": "bad \xff"}\n', "utf8.jsonl:2: invalid UTF-8"),
        "empty.jsonl": ("", "empty.jsonl: empty file"),
    }
    for name, (content, msg) in cases.items():
        with open(name, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
        r = run(["capture", "--model", "m.gguf", "--corpus", name, "--out", "e.h5"])
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        check(r.returncode == 2 and msg in last and last.startswith("moescope: error: "),
              "%s: rc %d: %s" % (name, r.returncode, r.stderr))
        print(last)
        r = run(["capture", "--model", "m.gguf", "--corpus", name, "--out", "e.h5", "--skip-bad"])
        check(r.returncode == 0 and "1 bad records skipped" in r.stderr,
              "%s --skip-bad: %s" % (name, r.stderr))
    # Corrupt zstd frame (zstd CLI output with bytes flipped).
    data = bytearray(open("pile.jsonl.zst", "rb").read())
    for i in range(30, 60):
        data[i] ^= 0x5A
    open("corrupt.jsonl.zst", "wb").write(bytes(data))
    r = run(["capture", "--model", "m.gguf", "--corpus", "corrupt.jsonl.zst", "--out", "e.h5"])
    check(r.returncode == 2 and "corrupt.jsonl.zst: corrupt zstd data" in r.stderr, r.stderr)
    print(r.stderr.strip())
    # Unwritable output.
    r = run(["capture", "--model", "m.gguf", "--corpus", "pile.jsonl", "--out", "/nonexistent/x.h5"])
    check(r.returncode == 1 and "/nonexistent/x.h5: cannot create the file" in r.stderr, r.stderr)
    print(r.stderr.strip())
    # Full disk (a file size limit, RLIMIT_FSIZE): a clear error, the documents written before
    # it kept, and a --resume once there is room gives the uninterrupted store.
    import re
    import resource

    def limited(nbytes):
        def pre():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
        return pre
    cap = ["capture", "--model", "m.gguf", "--corpus", "pile.jsonl", "--batch", "1", "--logits"]
    r = run(cap + ["--out", "nolimit.h5"])
    check(r.returncode == 0, "capture without limit: %s" % r.stderr)
    size = os.path.getsize("nolimit.h5")
    for name in ("full.h5",):
        if os.path.exists(name):
            os.remove(name)
    # A limit below the first batch: refused before anything of the batch is written.
    r = run(cap + ["--out", "full.h5"], preexec_fn=limited(64 << 10))
    m = re.search(r"full.h5: no space left for the next batch \(needs about ([0-9.]+) MB", r.stderr)
    check(r.returncode == 1 and m, "full disk at once: %s" % r.stderr)
    print(r.stderr.strip().splitlines()[-1])
    # The space check is not far too cautious: the first batch needs less than a tenth of the
    # whole store (20 documents, one per batch) plus 256 KiB of margin.
    need = float(m.group(1)) * 1e6 if m else 5e6
    check(need < size / 10 + 300e3, "first batch needs %.0f bytes, whole store %d" % (need, size))
    os.remove("full.h5")
    # Half the store's size: stopped mid-way by the space check or a failed write (EFBIG).
    r = run(cap + ["--out", "full.h5"], preexec_fn=limited(size // 2))
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    check(r.returncode == 1 and ("full.h5: no space left" in last or "File too large" in last),
          "full disk: %s" % r.stderr)
    print(last)
    kept = n_committed("full.h5")
    check(0 < kept < 20, "documents kept after a full disk: %d" % kept)
    r = run(cap + ["--out", "full.h5", "--resume"])
    check(r.returncode == 0 and store_equal("nolimit.h5", "full.h5") is None,
          "resume after full disk: %s" % r.stderr)
    # Usage errors.
    r = run(["capture", "--model", "m.gguf", "--out", "x.h5"])
    check(r.returncode == 2 and "--corpus" in r.stderr, "missing corpus: %s" % r.stderr)
    r = run(["capture", "--model", "m.gguf", "--corpus", "pile.jsonl", "--out", "x.h5", "--window", "0"])
    check(r.returncode == 2, "window 0 accepted")


{"route": test_route, "resume": test_resume, "errors": test_errors}[MODE]()
if errors:
    print("%d failures" % len(errors))
    sys.exit(1)
print("ok")
