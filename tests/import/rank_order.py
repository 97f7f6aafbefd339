#!/usr/bin/python3
"""Expert ids that are not in rank order: the store says so (/routing/expert attribute
rank_order), and analyze, the CSV tables, plot and report show first/second-choice figures
as unavailable instead of numbers; everything that does not depend on the order (shares of
all assignments, top-k repetition, co-activation) is unchanged.

usage: rank_order.py MOESCOPE WORKDIR
"""
import csv
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def sh(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(args)}: exit {r.returncode}: {r.stderr}")
    return r.stdout


def strip_first(d):
    """The analysis JSON without the fields that depend on the ids' order."""
    d = json.loads(json.dumps(d))
    for k in ("command_line", "rank_order", "first_choice"):
        d.pop(k, None)
    d["store"] = {k: v for k, v in d["store"].items() if k in ("n_tokens", "n_documents")}
    d["baselines"].pop("repeat_first")
    for res in d["results"]:
        res["domain_divergence"].pop("chi_square")
        for ds in res["domains"] + [res["all"]]:
            for k in list(ds):
                if k.startswith("first_") or k.startswith("second_"):
                    ds.pop(k)
            for k in ("first_equal", "first_equal_rate", "first_equal_ci"):
                ds["repetition"].pop(k)
    return d


def main():
    moescope, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rng = np.random.default_rng(7)
    T, L, k, E = 600, 2, 2, 8
    ranked = np.stack([rng.permutation(E)[:k] for _ in range(T * L)]).reshape(T, L, k)
    arrays = dict(tokens=rng.integers(0, 100, T), weights=np.full((T, L, k), 0.5, np.float32),
                  doc_lengths=np.array([200, 250, 150]), doc_domain=np.array([0, 1, 0]),
                  domains=np.array(["A", "B"]))
    np.savez(os.path.join(work, "rank.npz"), experts=ranked, rank_order=np.array("rank"),
             **arrays)
    np.savez(os.path.join(work, "sorted.npz"), experts=np.sort(ranked, axis=-1),
             rank_order=np.array("sorted"), **arrays)
    out = {}
    for name in ("rank", "sorted"):
        h5 = os.path.join(work, name + ".h5")
        sh([moescope, "-q", "import", "--n-expert", str(E), "--out", h5,
            os.path.join(work, name + ".npz")])
        with h5py.File(h5, "r") as f:
            ro = f["routing/expert"].attrs.get("rank_order")
            check(ro == name, f"{name}: attribute rank_order is {ro!r}")
            desc = f["routing/expert"].attrs["description"]
            check(("NOT in rank order" in desc) == (name == "sorted"), f"{name}: description")
        out[name] = json.loads(sh([moescope, "-q", "analyze", h5, "--json", "-",
                                   "--bootstrap", "20"]))
        csvdir = os.path.join(work, name + "_csv")
        sh([moescope, "-q", "analyze", h5, "--csv", csvdir, "--bootstrap", "0"])
        metrics = set()
        for fn in os.listdir(csvdir):
            with open(os.path.join(csvdir, fn)) as f:
                for row in csv.reader(f):
                    metrics.update(row)
        has_first = bool({"first_share", "second_share", "first_equal"} & metrics)
        check(has_first == (name == "rank"), f"{name}: CSV first-choice rows present={has_first}")
        summary = sh([moescope, "analyze", h5, "--bootstrap", "0"])
        check(("unavailable" in summary) == (name == "sorted"), f"{name}: analyze summary")
        rep = os.path.join(work, name + "_report")
        sh([moescope, "-q", "report", h5, "--out", rep])
        html = open(os.path.join(rep, "index.html"), encoding="utf-8").read()
        check(("not in rank order" in html) == (name == "sorted"), f"{name}: report note")
    r, s = out["rank"], out["sorted"]
    check(r["rank_order"] == "rank" and s["rank_order"] == "not rank", "JSON rank_order")
    check("first_choice" in s and "first_choice" not in r, "JSON first_choice note")
    for res in s["results"]:
        for ds in res["domains"] + [res["all"]]:
            for key in ("first_count", "first_share", "second_count", "second_share"):
                v = ds[key]
                check(v is None or all(x is None for x in v), f"sorted: {key} = {v}")
            check(ds["repetition"]["first_equal_rate"] is None, "sorted: first_equal_rate")
    # a ranked store's first-choice numbers are numbers
    check(all(x is not None for x in r["results"][0]["all"]["first_share"]), "rank: first_share")
    check(strip_first(r) == strip_first(s), "order-free statistics differ between the stores")
    # diff: first-choice agreement needs both stores in rank order; top-k sets do not
    dj = json.loads(sh([moescope, "-q", "diff", os.path.join(work, "rank.h5"),
                        os.path.join(work, "sorted.h5"), "--json", "-"]))
    check(dj["rank_order"] == "not rank", "diff rank_order")
    for x in dj["layers"]:
        check(x["first_agree"] is None and x["first_agree_rate"] is None, f"diff first: {x}")
        check(x["topk_set_agree_rate"] == 1, f"diff top-k sets: {x}")
    dj = json.loads(sh([moescope, "-q", "diff", os.path.join(work, "rank.h5"),
                        os.path.join(work, "rank.h5"), "--json", "-"]))
    check(all(x["first_agree_rate"] == 1 for x in dj["layers"]), "diff of ranked stores")
    # show: the colour is not called the first choice
    for name in ("rank", "sorted"):
        out = sh([moescope, "-q", "show", os.path.join(work, name + ".h5"), "--doc", "0",
                  "--layer", "1"])
        check(("not the router's first choice" in out) == (name == "sorted"), f"show {name}")
    # a merge of unranked stores stays unranked, a merge of mixed orders is refused
    merged = os.path.join(work, "merged.h5")
    sh([moescope, "-q", "merge", "--out", merged, os.path.join(work, "sorted.h5"),
        os.path.join(work, "sorted.h5")])
    with h5py.File(merged, "r") as f:
        check(f["routing/expert"].attrs.get("rank_order") != "rank", "merge lost rank_order")
    r2 = subprocess.run([moescope, "-q", "merge", "--out", os.path.join(work, "mixed.h5"),
                         os.path.join(work, "rank.h5"), os.path.join(work, "sorted.h5")],
                        capture_output=True, text=True)
    check(r2.returncode == 2 and "rank_order" in r2.stderr, f"merge of mixed orders: {r2.stderr}")
    if FAILS:
        sys.exit(1)
    print("ok: rank order honoured")


if __name__ == "__main__":
    main()
