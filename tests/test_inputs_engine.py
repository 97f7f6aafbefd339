"""Engine inputs that block, mislead or are broken (issue 14, item 6 engine side, item 7):

  fifo      a named pipe as GGUF model, safetensors shard, config.json, tokenizer.json,
            tokenizer_config.json, shard index; /dev/zero, /dev/null and a directory where a
            file is expected: each refused promptly (exit 2, one line naming the file), never
            read, never blocking (every run has a timeout: a hang fails the test)
  nan       a router tensor holding NaN or Inf (GGUF F32, HF BF16) and a NaN reaching the router
            through the hidden state: `route`, `eval` and `capture` exit 2 with one line naming
            the model and the layer (before: experts 0,1 with NaN weights and exit 0)
  index     a shard index with 50,000 distinct shard names: the missing-shard error comes in
            well under a second (the name deduplication was quadratic)
  tokcfg    tokenizer_config.json naming a BOS/EOS token missing from the vocabulary, or
            "add_bos_token": "yes": exit 2 naming the file and the token / field
  dupkeys   a key repeated in config.json / tokenizer_config.json: the LAST value counts, as
            with Python's json.load (transformers)
  msgs      names from a file (a GGUF key, a safetensors tensor name, a tokenizer_config.json
            token) holding an escape sequence, a newline or invalid UTF-8 reach the error line
            as one line of valid UTF-8 without control characters (escaped as \\xNN)
  status    missing model = 2; a file that cannot be read for lack of permission = 2 (skipped
            as root); through the LD_PRELOAD shim of $MS_SHIM_IO (tests/inengine/shim_io.c):
            EIO reading config.json or the GGUF magic, ENOMEM mapping a GGUF file or a shard = 1

usage: test_inputs_engine.py MOESCOPE WORKDIR [GROUP...]
"""
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import time

MS, WORK = sys.argv[1], sys.argv[2]
GROUPS = sys.argv[3:] or ["fifo", "nan", "index", "tokcfg", "dupkeys", "msgs", "status"]
failures = []
TIMEOUT = 20  # generous for the sanitizer build; a blocked open never returns


def run(*args, timeout=TIMEOUT):
    try:
        return subprocess.run([MS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def fail(name, msg):
    failures.append("%s: %s" % (name, msg))
    print("FAIL %s: %s" % (name, msg))


def expect_error(name, r, status, *needles):
    """r exited with status and printed exactly one line 'moescope: error: ...' holding every
    needle."""
    if r is None:
        fail(name, "timed out (blocked?)")
        return
    err = r.stderr.decode("utf-8", "replace")
    lines = [l for l in err.splitlines() if l]
    if r.returncode != status:
        fail(name, "exit %d (want %d): %r" % (r.returncode, status, err))
        return
    if len(lines) != 1 or not lines[0].startswith("moescope: error: "):
        fail(name, "want one error line, got %r" % err)
        return
    for n in needles:
        if n not in lines[0]:
            fail(name, "%r not in %r" % (n, lines[0]))
            return
    print("ok   %s: %s" % (name, lines[0]))


DIMS = ["--d-model", "16", "--heads", "2", "--kv-heads", "1", "--ff", "32", "--experts", "4",
        "--k", "2", "--layers", "3", "-q"]


def make(out, *extra):
    r = run("make-model", "--out", out, *DIMS, *extra, timeout=300)
    if r is None or r.returncode != 0:
        sys.exit("make-model %s failed: %s" % (out, r and r.stderr.decode()))


def copy_case(base, name):
    """A copy of an HF folder (hard links; replace() breaks the link of what a case edits)."""
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for f in os.listdir(base):
        os.link(os.path.join(base, f), os.path.join(d, f))
    return d


def replace_with_fifo(path):
    os.unlink(path)
    os.mkfifo(path)


def write(path, data):
    if os.path.lexists(path):
        os.unlink(path)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
GGUF = os.path.join(WORK, "m.gguf")
HF = os.path.join(WORK, "hf")
SHARDED = os.path.join(WORK, "sharded")
make(GGUF)
make(HF, "--type", "BF16")
make(SHARDED, "--type", "BF16", "--shard-mb", "0.05")
for base in (GGUF, HF, SHARDED):
    r = run("inspect", "--no-tensors", base)
    if r is None or r.returncode != 0:
        sys.exit("base fixture %s does not open: %s" % (base, r and r.stderr.decode()))
if not os.path.exists(os.path.join(SHARDED, "model.safetensors.index.json")):
    sys.exit("sharded fixture has no index")


# ---- fifo: named pipes and devices refused at once -----------------------------------------

def group_fifo():
    p = os.path.join(WORK, "pipe.gguf")
    os.mkfifo(p)
    for cmd in (["inspect", "--no-tensors", p], ["route", "--model", p, "hello"],
                ["tokenize", "--model", p, "hello"]):
        t0 = time.time()
        r = run(*cmd)
        expect_error("fifo model: " + cmd[0], r, 2, p, "named pipe")
        if time.time() - t0 > 10:
            fail("fifo model: " + cmd[0], "took %.1f s" % (time.time() - t0))
    for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        d = copy_case(HF, "fifo_" + f.replace(".", "_"))
        replace_with_fifo(os.path.join(d, f))
        expect_error("fifo hf " + f, run("inspect", "--no-tensors", d), 2, os.path.join(d, f),
                     "named pipe")
        # the same folder named by its .safetensors file, and as a tokenizer source
        if f != "model.safetensors":
            expect_error("fifo hf %s (via .safetensors)" % f,
                         run("inspect", "--no-tensors", os.path.join(d, "model.safetensors")), 2,
                         os.path.join(d, f), "named pipe")
        if f.startswith("tokenizer"):
            expect_error("fifo tokenizer " + f, run("tokenize", "--model", d, "hi"), 2,
                         os.path.join(d, f), "named pipe")
    d = copy_case(SHARDED, "fifo_index")
    idx = os.path.join(d, "model.safetensors.index.json")
    replace_with_fifo(idx)
    expect_error("fifo shard index", run("inspect", "--no-tensors", d), 2, idx, "named pipe")
    d = copy_case(SHARDED, "fifo_shard")
    shard = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))[-1]
    replace_with_fifo(os.path.join(d, shard))
    expect_error("fifo shard", run("inspect", "--no-tensors", d), 2, os.path.join(d, shard),
                 "named pipe")
    # devices: never read (a /dev/zero "model" used to be read into memory)
    for dev in ("/dev/zero", "/dev/null"):
        if os.path.exists(dev):
            expect_error("device model " + dev, run("inspect", "--no-tensors", dev), 2, dev,
                         "character device")
            expect_error("device tokenizer " + dev, run("tokenize", "--model", dev, "x"), 2,
                         dev, "character device")
    # a directory where a file is expected
    d = copy_case(HF, "dir_config")
    os.unlink(os.path.join(d, "config.json"))
    os.mkdir(os.path.join(d, "config.json"))
    expect_error("directory config.json", run("inspect", "--no-tensors", d), 2,
                 os.path.join(d, "config.json"), "directory")
    d = copy_case(HF, "dir_tokenizer")
    os.unlink(os.path.join(d, "tokenizer.json"))
    os.mkdir(os.path.join(d, "tokenizer.json"))
    expect_error("directory tokenizer.json", run("inspect", "--no-tensors", d), 2,
                 os.path.join(d, "tokenizer.json"), "directory")


# ---- nan: non-finite router ------------------------------------------------------------------

def tensors(model):
    r = run("inspect", "--json", model)
    if r is None or r.returncode != 0:
        sys.exit("inspect --json %s failed" % model)
    j = json.loads(r.stdout)
    return {t["name"]: t for t in j["tensors"]}, [f["path"] for f in j["files"]]


def patch_gguf(name, tensor, value_bytes, index=0):
    """A copy of the GGUF fixture with element `index` of tensor overwritten."""
    out = os.path.join(WORK, name + ".gguf")
    shutil.copyfile(GGUF, out)
    ts, _ = tensors(GGUF)
    t = ts[tensor]
    if t["type"] != "F32":
        sys.exit("%s is %s, want F32" % (tensor, t["type"]))
    # check the offset is absolute: the first float there is the value inspect would read
    with open(out, "r+b") as f:
        f.seek(t["offset"] + 4 * index)
        f.write(value_bytes)
    return out


def group_nan():
    nan32, inf32 = struct.pack("<f", float("nan")), struct.pack("<f", float("inf"))
    # a healthy model routes (the same commands exit 0 on the base fixture)
    r = run("route", "--model", GGUF, "hello world")
    if r is None or r.returncode != 0:
        fail("nan base", "route on the base model failed: %r" % (r and r.stderr))
        return
    for label, val in (("NaN", nan32), ("Inf", inf32)):
        m = patch_gguf("router_" + label, "blk.1.ffn_gate_inp.weight", val, index=5)
        expect_error("gguf router %s: route" % label, run("route", "--model", m, "hello world"), 2,
                     m, "layer 1", "blk.1.ffn_gate_inp.weight", "NaN/Inf")
        expect_error("gguf router %s: eval" % label, run("eval", "--model", m, "hello world"), 2,
                     m, "layer 1", "blk.1.ffn_gate_inp.weight")
    # NaN in the hidden state (ffn_norm of layer 2): caught on the router logits at layer 2
    m = patch_gguf("ffn_norm_nan", "blk.2.ffn_norm.weight", nan32, index=3)
    expect_error("hidden-state NaN: route", run("route", "--model", m, "hello world"), 2, m,
                 "layer 2", "router logits are not finite")
    # capture: the store is not written with NaN routes; exit 2 naming the layer
    corpus = os.path.join(WORK, "corpus.txt")
    write(corpus, "hello world, a small document\n")
    out = os.path.join(WORK, "nan.h5")
    expect_error("hidden-state NaN: capture",
                 run("capture", "--model", m, "--corpus", corpus, "--out", out, "-q",
                     timeout=120), 2, "error: " + m + ": layer 2", "router logits are not finite",
                 "(document " + corpus)
    # HF BF16 router: the quiet NaN 0x7fc0 in the router of layer 0
    d = copy_case(HF, "hf_router_nan")
    ts, _ = tensors(HF)
    gate = [n for n in ts if n.startswith("model.layers.0.") and n.endswith("gate.weight")
            and "experts" not in n]
    if len(gate) != 1:
        fail("hf router", "cannot find the layer-0 router among %r" % sorted(ts)[:8])
        return
    t = ts[gate[0]]
    p = os.path.join(d, "model.safetensors")
    data = bytearray(open(p, "rb").read())
    data[t["offset"] + 2:t["offset"] + 4] = struct.pack("<H", 0x7FC0)
    write(p, bytes(data))
    expect_error("hf router NaN: route", run("route", "--model", d, "hello world"), 2, d,
                 "layer 0", gate[0])


# ---- index: 50k shard names -----------------------------------------------------------------

def group_index():
    d = copy_case(SHARDED, "big_index")
    idx = os.path.join(d, "model.safetensors.index.json")
    j = json.load(open(idx))
    n = 50000
    wm = dict(j["weight_map"])
    for i in range(n):
        wm["extra.%d.weight" % i] = "missing-%05d-of-%05d.safetensors" % (i, n)
    j["weight_map"] = wm
    write(idx, json.dumps(j))
    t0 = time.time()
    r = run("inspect", "--no-tensors", d)
    dt = time.time() - t0
    expect_error("index 50k names", r, 2, "missing-00000-of-%05d.safetensors" % n)
    limit = 1.0 if "ASAN_OPTIONS" not in os.environ and not os.environ.get("MS_SANITIZED") else 5.0
    if dt > limit:
        fail("index 50k names", "took %.2f s (limit %.1f s)" % (dt, limit))
    else:
        print("ok   index 50k names: %.3f s" % dt)
    # repeated names (one per tensor of a shard) are opened once, in first-seen order
    d = SHARDED
    idx = os.path.join(d, "model.safetensors.index.json")
    j = json.load(open(idx))
    names = list(dict.fromkeys(j["weight_map"].values()))
    if len(names) < 2 or len(j["weight_map"]) <= len(names):
        fail("index duplicates", "fixture has %d names for %d tensors" % (len(names), len(j["weight_map"])))
    r = run("inspect", "--json", d)
    files = [os.path.basename(f["path"]) for f in json.loads(r.stdout)["files"]] if r and r.returncode == 0 else None
    if files is None or files[:len(names)] != names:
        fail("index duplicates", "files %r, want the shards in first-seen order %r: %r" % (files, names, r and r.stderr))
    else:
        print("ok   index duplicates")


# ---- tokcfg: tokenizer_config.json ----------------------------------------------------------

def edit_json_text(path, fn):
    text = open(path, encoding="utf-8").read()
    write(path, fn(text))


def group_tokcfg():
    cfg_name = "tokenizer_config.json"
    for field, bad in (("bos_token", "<no-such-bos>"), ("eos_token", "<no-such-eos>")):
        d = copy_case(HF, "tok_" + field)
        p = os.path.join(d, cfg_name)
        j = json.load(open(p))
        j[field] = bad
        write(p, json.dumps(j))
        expect_error("missing " + field, run("inspect", "--no-tensors", d), 2, p, field, bad)
        expect_error("missing %s: tokenize" % field, run("tokenize", "--model", d, "hi"), 2, p,
                     bad)
    # {"content": ...} form
    d = copy_case(HF, "tok_bos_obj")
    p = os.path.join(d, cfg_name)
    j = json.load(open(p))
    j["bos_token"] = {"content": "<nope>", "lstrip": False}
    write(p, json.dumps(j))
    expect_error("missing bos_token (object)", run("inspect", "--no-tensors", d), 2, p, "<nope>")
    for field, val in (("add_bos_token", "yes"), ("add_bos_token", 1), ("add_eos_token", "no"),
                       ("add_bos_token", [True])):
        d = copy_case(HF, "tok_%s_%s" % (field, type(val).__name__))
        p = os.path.join(d, cfg_name)
        j = json.load(open(p))
        j[field] = val
        write(p, json.dumps(j))
        expect_error("%s = %r" % (field, val), run("inspect", "--no-tensors", d), 2, p, field,
                     "boolean")
    # null stays "not set" (transformers' default): opens
    d = copy_case(HF, "tok_add_bos_null")
    p = os.path.join(d, cfg_name)
    j = json.load(open(p))
    j["add_bos_token"] = None
    write(p, json.dumps(j))
    r = run("inspect", "--no-tensors", d)
    if r is None or r.returncode != 0:
        fail("add_bos_token null", "refused: %r" % (r and r.stderr))
    else:
        print("ok   add_bos_token null accepted")


# ---- dupkeys: the last value of a repeated key ----------------------------------------------

def token_ids(model, text="hello"):
    r = run("tokenize", "--model", model, text)
    if r is None or r.returncode != 0:
        return None
    return r.stdout.decode().split()


def group_dupkeys():
    # config.json: num_hidden_layers 3, then repeated as 2: Python keeps 2
    d = copy_case(HF, "dup_config")
    p = os.path.join(d, "config.json")
    text = open(p).read().rstrip()
    assert text.endswith("}")
    text = text[:-1].rstrip() + ',\n  "num_hidden_layers": 2\n}\n'
    write(p, text)
    want = json.loads(text)["num_hidden_layers"]
    r = run("inspect", "--json", d)
    if r is None or r.returncode != 0:
        fail("dup config.json", "inspect failed: %r" % (r and r.stderr))
    else:
        got = json.loads(r.stdout)["hparams"]
        n_layer = got.get("n_layer", got.get("layers"))
        if n_layer != want or want != 2:
            fail("dup config.json", "n_layer %r, Python's json.load says %r" % (n_layer, want))
        else:
            print("ok   dup config.json: n_layer %d (the last value)" % n_layer)
    # a repeated wrong-typed key first, a good one last: accepted (Python sees only the last)
    d = copy_case(HF, "dup_config_type")
    p = os.path.join(d, "config.json")
    text = open(p).read().strip()
    text = '{"hidden_act": "gelu", ' + text[1:]
    write(p, text)
    r = run("inspect", "--no-tensors", d)
    if r is None or r.returncode != 0:
        fail("dup config.json (first bad)", "refused: %r" % (r and r.stderr))
    else:
        print("ok   dup config.json: an earlier bad value is overridden")
    # ... and the reverse: a good value first, a bad one last is refused
    d = copy_case(HF, "dup_config_type2")
    p = os.path.join(d, "config.json")
    text = open(p).read().rstrip()
    text = text[:-1].rstrip() + ',\n  "hidden_act": "gelu"\n}\n'
    write(p, text)
    expect_error("dup config.json (last bad)", run("inspect", "--no-tensors", d), 2, p,
                 "hidden_act")
    # tokenizer_config.json: add_bos_token false, then true -> BOS added
    base_ids = token_ids(HF)
    d = copy_case(HF, "dup_tokcfg")
    p = os.path.join(d, "tokenizer_config.json")
    for last in (True, False):
        j = json.load(open(p))
        j.pop("add_bos_token", None)
        body = json.dumps(j)[1:]
        text = '{"add_bos_token": %s, "add_bos_token": %s, %s' % (
            json.dumps(not last), json.dumps(last), body)
        write(p, text)
        assert json.loads(text)["add_bos_token"] is last
        ids = token_ids(d)
        if ids is None or base_ids is None:
            fail("dup tokenizer_config", "tokenize failed")
            continue
        # base fixture adds BOS (add_bos_token true): same ids when last is True, one fewer
        want = base_ids if last else base_ids[1:]
        if ids != want:
            fail("dup tokenizer_config (last %s)" % last, "ids %r, want %r" % (ids, want))
        else:
            print("ok   dup tokenizer_config: add_bos_token last=%s -> %r" % (last, ids))


# ---- msgs: error lines are one line of valid UTF-8 --------------------------------------------

def expect_clean_error(name, r, *needles):
    """Exit 2, one error line, valid UTF-8, no C0/C1 control or DEL, holding every needle."""
    if r is None:
        fail(name, "timed out")
        return
    raw = r.stderr
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail(name, "error output is not valid UTF-8 (%s): %r" % (e, raw))
        return
    body = text[:-1] if text.endswith("\n") else text
    bad = [c for c in body if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F]
    if r.returncode != 2 or bad or not body.startswith("moescope: error: "):
        fail(name, "exit %d, controls %r: %r" % (r.returncode, bad, raw))
        return
    for n in needles:
        if n not in body:
            fail(name, "%r not in %r" % (n, body))
            return
    print("ok   %s: %s" % (name, body))


def gguf_bytes(kvs):
    """A GGUF v3 file with no tensors and u32 key/values (keys as raw bytes)."""
    b = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs))
    for k, v in kvs:
        b += struct.pack("<Q", len(k)) + k + struct.pack("<II", 4, v)
    return b


def group_msgs():
    evil = b"\x1b[31mred\nline\xff\xfe\xc2\x9b"
    p = os.path.join(WORK, "evil_key.gguf")
    write(p, gguf_bytes([(evil, 1), (evil, 2)]))
    expect_clean_error("gguf duplicate key with controls", run("inspect", "--no-tensors", p), p,
                       "duplicate key", "\\x1b[31mred\\x0aline\\xff\\xfe\\xc2\\x9b")
    # safetensors: a tensor name with ESC (JSON \u001b) and invalid UTF-8 with a bad dtype
    d = copy_case(HF, "evil_tensor")
    st = os.path.join(d, "model.safetensors")
    raw = open(st, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr, data = raw[8:8 + n], raw[8 + n:]
    j = json.loads(hdr)
    first = sorted((k for k in j if k != "__metadata__"), key=lambda k: j[k]["data_offsets"][0])[0]
    ent = j.pop(first)
    ent["dtype"] = "X9"
    hb = ((json.dumps(j)[:-1] + ', "\\u001b]0;title\\u0007').encode() + b"\xff" +
          ('": ' + json.dumps(ent) + "}").encode())  # a raw invalid byte in the name too
    write(st, struct.pack("<Q", len(hb)) + hb + data)
    expect_clean_error("safetensors tensor name with controls", run("inspect", "--no-tensors", d),
                       st)
    # tokenizer_config.json: a BOS token named with ESC and a newline
    d = copy_case(HF, "evil_bos")
    p = os.path.join(d, "tokenizer_config.json")
    j = json.load(open(p))
    j["bos_token"] = "\x1b[2J<s>\n"
    write(p, json.dumps(j))
    expect_clean_error("bos_token with controls", run("inspect", "--no-tensors", d), p,
                       "\\x1b[2J<s>\\x0a")


# ---- status: exit codes ---------------------------------------------------------------------

def group_status():
    p = os.path.join(WORK, "no-such-model.gguf")
    expect_error("missing model", run("inspect", "--no-tensors", p), 2, p)
    expect_error("missing model: route", run("route", "--model", p, "x"), 2, p)
    shim = os.environ.get("MS_SHIM_IO")
    if shim and os.path.exists(shim):
        def shimmed(var, suffix, *args):
            env = dict(os.environ)
            env["LD_PRELOAD"] = shim + (" " + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
            env[var] = suffix
            env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
            try:
                return subprocess.run([MS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      timeout=TIMEOUT, env=env)
            except subprocess.TimeoutExpired:
                return None
        expect_error("EIO on config.json",
                     shimmed("MS_SHIM_EIO_SUFFIX", "/hf/config.json", "inspect", "--no-tensors", HF),
                     1, os.path.join(HF, "config.json"), "Input/output error")
        expect_error("EIO on the GGUF magic",
                     shimmed("MS_SHIM_EIO_SUFFIX", "/m.gguf", "inspect", "--no-tensors", GGUF), 1,
                     GGUF, "Input/output error")
        expect_error("ENOMEM mapping a GGUF file",
                     shimmed("MS_SHIM_MMAP_SUFFIX", "/m.gguf", "inspect", "--no-tensors", GGUF), 1,
                     GGUF, "mmap")
        expect_error("ENOMEM mapping a shard",
                     shimmed("MS_SHIM_MMAP_SUFFIX", "/hf/model.safetensors", "route", "--model", HF,
                             "hi"), 1, os.path.join(HF, "model.safetensors"), "mmap")
        # the shim is live: the same runs without a failing suffix succeed
        r = shimmed("MS_SHIM_EIO_SUFFIX", "/no-such-suffix", "inspect", "--no-tensors", HF)
        if r is None or r.returncode != 0:
            fail("shim control", "inspect under the shim failed: %r" % (r and r.stderr))
    else:
        print("skip I/O failures: MS_SHIM_IO not set")
    if os.geteuid() == 0:
        print("skip unreadable model: running as root")
        return
    q = os.path.join(WORK, "unreadable.gguf")
    shutil.copyfile(GGUF, q)
    os.chmod(q, 0)
    expect_error("unreadable model", run("inspect", "--no-tensors", q), 2, q)
    d = copy_case(HF, "unreadable_cfg")
    c = os.path.join(d, "config.json")
    shutil.copyfile(os.path.join(HF, "config.json"), c + ".tmp")
    os.replace(c + ".tmp", c)
    os.chmod(c, 0)
    expect_error("unreadable config.json", run("inspect", "--no-tensors", d), 2, c)


for g in GROUPS:
    print("== " + g)
    globals()["group_" + g]()

if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("all passed")
