"""mstest.py — helpers the Python tests share: running moescope and recording what failed,
"one error line, exit 2" checks, `eval`/`route --json` of a prompt, node-llama-cpp oracle
jobs, GGUF metadata copies and the end-of-test summary.

Each test is a script run by ctest with /usr/bin/python3 (`python3 tests/x.py ARGS...` by hand
works too): Python puts the script's folder first on sys.path, so tests/*.py import this
module directly and tests/<area>/*.py add the parent folder first (see tests/names/test_names.py).
Only the standard library is imported at load time; numpy and h5py are imported by the
functions that need them.
"""
import json
import os
import shutil
import struct
import subprocess
import sys

# The Node.js the build chose (tests/CMakeLists.txt: MS_NODE, 20 or newer; `make test` fetches
# one when the system's is older), passed by ctest in the environment.
NODE = os.environ.get("MS_NODE") or "node"


def fresh_dir(path):
    """An empty folder at path (what a previous run left there removed)."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def checker(failures, file=None):
    """check(cond, what): a false cond appends what to failures and prints "FAIL: what" (to
    file, stdout unless given)."""
    def check(cond, what):
        if not cond:
            failures.append(what)
            print("FAIL:", what, file=file or sys.stdout, flush=True)
        return cond
    return check


def runner(ms, fails, show=2, tail=2000):
    """run(*args, rc=0): moescope with args (text output). An exit status other than rc appends
    "<the first `show` args>: exit N (want rc): <the last `tail` characters of stderr>" to
    fails; the CompletedProcess is returned either way."""
    def run(*args, rc=0):
        r = subprocess.run([ms, *args], capture_output=True, text=True)
        if r.returncode != rc:
            fails.append("%s: exit %d (want %d): %s" % (" ".join(args[:show]), r.returncode, rc,
                                                         r.stderr[-tail:]))
        return r
    return run


def run_bytes(ms, *args):
    """moescope with args, stdout and stderr as bytes, whatever the exit status."""
    return subprocess.run([ms, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def ok(ms, *args, timeout=300):
    """stdout (bytes) of moescope args; a failure ends the test with "FAIL: moescope ARGS:
    exit N: STDERR"."""
    r = subprocess.run([ms, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if r.returncode != 0:
        sys.exit("FAIL: moescope %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                      r.stderr.decode(errors="replace")))
    return r.stdout


def must(cmd, **kw):
    """stdout of cmd (a list; subprocess.run keywords in kw); a failure ends the test (exit 1)
    with the command line, its stdout and stderr."""
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.stderr.write("command failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
        sys.exit(1)
    return r.stdout


def expect_error(ms, failures, name, args, substring, target, width=28, no_stdout=False):
    """moescope args must exit 2 with exactly one stderr line "moescope: error: ..." holding
    target (the file or option named) and substring (the problem), no sanitizer report (and no
    stdout when no_stdout). Prints the case and its line; a miss appends to failures."""
    r = run_bytes(ms, *args)
    err = r.stderr.decode(errors="replace")
    lines = err.splitlines()
    ok = (r.returncode == 2 and len(lines) == 1 and lines[0].startswith("moescope: error: ")
          and target in lines[0] and substring in lines[0] and not (no_stdout and r.stdout)
          and "Sanitizer" not in err and "runtime error" not in err)
    print("%-*s rc=%d %s" % (width, name, r.returncode, lines[0] if lines else "(no message)"))
    if not ok:
        failures.append("%s: rc=%d, expected '%s' naming %s; stderr: %s" %
                        (name, r.returncode, substring, target, err[:2000]))
    return ok


def eval_probs(ms, model, path, extra=()):
    """`moescope eval --json --top all` of the prompt file path: (its JSON, next-token
    probabilities as a numpy vector indexed by token id)."""
    import numpy as np
    d = json.loads(must([ms, "eval", "--model", model, "--file", path, "--json", "--top",
                         "1000000", "--threads", "2", *extra]))
    probs = np.zeros(len(d["top"]))
    for t in d["top"]:
        probs[t["id"]] = t["prob"]
    return d, probs


def route_json(ms, model, path, extra=()):
    """`moescope route --json` of the prompt file path, parsed."""
    return json.loads(must([ms, "route", "--model", model, "--file", path, "--json",
                            "--threads", "2", *extra]))


def node_json(script, jobs, work, tag, oracle, node=None):
    """Runs oracle/<script> JOBS.json OUT.json under node (NODE unless given; cwd oracle, where
    node_modules is) with jobs written to WORK/<tag>.jobs.json; returns the parsed OUT.json."""
    jp, op = os.path.join(work, tag + ".jobs.json"), os.path.join(work, tag + ".out.json")
    with open(jp, "w") as f:
        json.dump(jobs, f)
    must([node or NODE, os.path.join(oracle, script), jp, op], cwd=oracle)
    with open(op) as f:
        return json.load(f)


def gguf_copy_kv(gguf, writer, reader, overrides=None):
    """Every key of reader (but the architecture and GGUF.* ones) into writer, with the values
    of overrides {key: value} where given."""
    overrides = overrides or {}
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        vt = field.types[0]
        sub = field.types[-1] if vt == gguf.GGUFValueType.ARRAY else None
        val = overrides.get(field.name, field.contents())
        writer.add_key_value(field.name, val, vt, sub_type=sub)


def gguf_finish(writer):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def next_failures(checks, out, compare):
    """checks: (tag, [our next-token probabilities per prompt], job index); out: the
    forward_oracle.mjs results; compare(tag, p, q) -> ok. Returns how many prompts failed."""
    import numpy as np
    bad = 0
    for tag, ours, j in checks:
        for i, (p, r) in enumerate(zip(ours, out[j]["results"])):
            if not compare("%s prompt %d" % (tag, i), p, np.array(r["probs"])):
                bad += 1
    return bad


def summary(failures, passed, what="check(s)"):
    """The test's exit status: prints "N <what> failed" or passed."""
    if failures:
        print("%d %s failed" % (failures, what))
        return 1
    print(passed)
    return 0


def n_committed(path):
    """Committed documents of a route store being written (no file locking, may fail
    mid-write: -1)."""
    import h5py
    try:
        with h5py.File(path, "r", locking=False) as f:
            return int(f.attrs["n_documents"])
    except Exception:
        return -1


class O200kRefs:
    """The o200k tokenizer references that the tokenizer_o200k_refs test writes to
    WORK/refs/<name>.inp (texts separated by SEP) and <name>.out (one line of ids a text).
    Construction ends the test with exit 77 (skipped) when they are missing."""
    SEP = "\n__ggml_vocab_test__\n"
    TRANSCRIPT = ("<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final"
                  "<|message|>Hello<|return|>")

    def __init__(self, work):
        self.dir = os.path.join(work, "refs")
        if not os.path.isfile(os.path.join(self.dir, "tiktoken-special.out")):
            print("no references in %s (tokenizer_o200k_refs)" % self.dir)
            sys.exit(77)

    def texts(self, name):
        with open(os.path.join(self.dir, name + ".inp"), encoding="utf-8", newline="") as f:
            return f.read().split(self.SEP)

    def ids(self, name, text):
        """The reference ids (strings) of text."""
        with open(os.path.join(self.dir, name + ".out"), encoding="utf-8") as f:
            out = f.read().split("\n")
        return out[self.texts(name).index(text)].split()

    def hindi(self):
        """The Devanagari text (combining marks: tiktoken and llama.cpp split it apart)."""
        return next(t for t in self.texts("tiktoken") if t.startswith(
            "\u0939\u093f\u0928\u094d\u0926\u0940 \u092e\u0947\u0902 \u092f\u0939"))


# --- byte-level GGUF edits (the corrupt-file tables) ---------------------------------------
def gguf_kv_value_at(b, key):
    """Offset in the GGUF bytes b of key's value (after the key string and its u32 type)."""
    k = key.encode()
    i = b.find(struct.pack("<Q", len(k)) + k)
    assert i >= 0, key
    return i + 8 + len(k) + 4


def gguf_tensor_info_at(b, name):
    """Offset in the GGUF bytes b of tensor name's info, at its n_dims."""
    n = name.encode()
    i = b.find(struct.pack("<Q", len(n)) + n)
    assert i >= 0, name
    return i + 8 + len(n)


def gguf_set_u32(key, v):
    """An edit (bytearray -> bytes) setting the u32 value of key to v."""
    def fn(b):
        i = gguf_kv_value_at(b, key)
        b[i:i + 4] = struct.pack("<I", v)
        return bytes(b)
    return fn
