"""Dense MLP layers in an MoE checkpoint (Qwen2/Qwen3-MoE `mlp_only_layers` /
`decoder_sparse_step`), tests/families.cmake.

llama.cpp's qwen2moe/qwen3moe graphs have no dense layers, so the reference is an identity:
an MoE layer whose experts are all the same MLP, with renormalised weights, computes exactly
that MLP (up to the rounding of a weighted sum whose weights add up to 1). From one F32
Qwen3-MoE HF fixture the test writes
  A: layer 1 dense (config mlp_only_layers [1]; its router and experts replaced by
     mlp.gate_proj/up_proj/down_proj = layer 1's expert 0), and
  B: layer 1 still MoE but every expert a copy of expert 0;
and checks that A and B give the same next-token distributions (max |dlogp| <= 1e-4), that
`route --layers all` on A reports layer 0 only, that `route --layers 1` on A is refused with
"layer 1 is a dense MLP layer" (exit 2), and that `capture` on A stores layer 0 only. The same
with decoder_sparse_step 2 (layer i sparse when (i + 1) % 2 == 0: layer 0 dense).

usage: test_families_dense.py MOESCOPE WORK_DIR SAMPLES_MANIFEST
"""
import json
import os
import shutil
import struct
import subprocess
import sys

import h5py
import numpy as np

import mstest

MS, WORK, MANIFEST = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def run(*args, ok=True):
    r = subprocess.run([MS, *args], capture_output=True, text=True)
    if ok and r.returncode != 0:
        sys.exit("command failed: %s\n%s%s" % (" ".join(args), r.stdout, r.stderr))
    return r


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def st_read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    data = b[8 + n:]
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        a, z = v["data_offsets"]
        assert v["dtype"] == "F32"
        out[k] = np.frombuffer(data[a:z], dtype=np.float32).reshape(v["shape"]).copy()
    return out


def st_write(path, tensors):
    h, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for k, a in tensors.items():
        raw = np.ascontiguousarray(a, dtype=np.float32).tobytes()
        h[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    text = json.dumps(h).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def variant(base, name, dense_layers, cfg_update):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(base, d)
    t = st_read(os.path.join(base, "model.safetensors"))
    cfg = json.load(open(os.path.join(base, "config.json")))
    E = cfg["num_experts"]
    for il in dense_layers:
        p = "model.layers.%d.mlp." % il
        for w in ("gate_proj", "up_proj", "down_proj"):
            src = t[p + "experts.0.%s.weight" % w]
            if cfg_update is None:  # B: every expert a copy of expert 0
                for e in range(E):
                    t[p + "experts.%d.%s.weight" % (e, w)] = src
            else:  # A: a dense MLP instead of router + experts
                t[p + w + ".weight"] = src
        if cfg_update is not None:
            for k in [k for k in t if k.startswith(p + "experts.") or k == p + "gate.weight"]:
                del t[k]
    if cfg_update is not None:
        cfg.update(cfg_update)
        cfg["intermediate_size"] = cfg["moe_intermediate_size"]  # the dense width
    st_write(os.path.join(d, "model.safetensors"), t)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    return d


def dist(model, text_path):
    d = json.loads(run("eval", "--model", model, "--file", text_path, "--json", "--top",
                       "1000000", "--threads", "2").stdout)
    p = np.zeros(len(d["top"]))
    for t in d["top"]:
        p[t["id"]] = t["prob"]
    return p


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    base = os.path.join(WORK, "base")
    run("make-model", "--arch", "qwen3moe", "--format", "hf", "--out", base, "--experts", "4",
        "--k", "2", "--d-model", "64", "--ff", "32", "--layers", "2", "--heads", "2",
        "--kv-heads", "1", "--head-dim", "32", "--seed", "5", "-q")
    text = os.path.join(WORK, "t.txt")
    with open(text, "w") as f:
        f.write("Dense layers and routed layers can mix in one checkpoint. " * 4)
    for tag, layers, upd in (("mlp_only", [1], {"mlp_only_layers": [1]}),
                             ("sparse_step", [0], {"decoder_sparse_step": 2})):
        a = variant(base, tag + "_dense", layers, upd)
        b = variant(base, tag + "_same_experts", layers, None)
        pa, pb = dist(a, text), dist(b, text)
        keep = pb >= 1e-4 * pb.max()
        dl = np.abs(np.log(pa[keep]) - np.log(pb[keep])).max()
        check(dl <= 1e-4, "%s: dense layer %s = MoE of identical experts (max |dlogp| %.2e)"
              % (tag, layers, dl))
        check(np.abs(pa - dist(base, text)).max() > 1e-6,
              "%s: and differs from the original model (the test can fail)" % tag)
        routed = [l for l in range(2) if l not in layers]
        r = json.loads(run("route", "--model", a, "--file", text, "--json").stdout)
        check(r["layers"] == routed, "%s: route --layers all gives %s" % (tag, r["layers"]))
        r = run("route", "--model", a, "--file", text, "--layers", str(layers[0]), ok=False)
        check(r.returncode == 2 and "layer %d is a dense MLP layer" % layers[0] in r.stderr
              and len(r.stderr.splitlines()) == 1,
              "%s: route --layers %d refused: %s" % (tag, layers[0], r.stderr.strip()))
        store = os.path.join(WORK, tag + ".h5")
        run("capture", "--model", a, "--corpus", MANIFEST, "--out", store, "--max-docs", "3",
            "-q")
        with h5py.File(store, "r") as f:
            stored = f["routing/layers"][()].tolist()
            mj = json.loads(f.attrs["model"])
        check(stored == routed, "%s: capture stores layers %s" % (tag, stored))
        blocks = [blk["ffn"] for blk in mj["blocks"]]
        check(blocks == ["dense" if l in layers else "moe" for l in range(2)],
              "%s: store model JSON blocks %s" % (tag, blocks))
    return mstest.summary(len(failures), "all dense-layer checks passed")


if __name__ == "__main__":
    sys.exit(main())
