#!/usr/bin/python3
"""Independent check of `moescope analyze` (and `moescope diff`) against numpy + h5py.

usage: test_analysis_oracle.py MOESCOPE STORE WORKDIR [--diff OTHER.h5] [--min-tokens N]

Reads STORE with h5py, recomputes every per layer × domain × expert share (Mixtral Fig. 7,
Fig. 9, OLMoE Eq. 7), the Table 5 repetition rates, entropy, load balance, Jensen–Shannon
divergence, the chi-square statistic (p-value via the Poisson-tail closed form when the dof is
even), co-activation (Eq. 6) and the vocabulary top lists (Eq. 8), and compares them with the
JSON and CSV that moescope wrote. With --diff, also checks `moescope diff STORE OTHER`.
"""
import csv
import json
import math
import os
import subprocess
import sys

import h5py
import numpy as np

failures = 0


def fail(msg):
    global failures
    failures += 1
    if failures <= 30:
        print("FAIL:", msg, file=sys.stderr)


def near(got, want, what, tol=1e-12):
    got = np.asarray(got, float)
    want = np.asarray(want, float)
    if got.shape != want.shape or not np.allclose(got, want, rtol=tol, atol=tol):
        fail(f"{what}: got {got.tolist()} want {want.tolist()}")


def poisson_tail(n, x):  # Q(n, x) for integer n
    term, s = math.exp(-x), 0.0
    for j in range(n):
        s += term
        term *= x / (j + 1)
    return s


def main():
    args = sys.argv[1:]
    moescope, store, work = args[0], args[1], args[2]
    other = args[args.index("--diff") + 1] if "--diff" in args else None
    min_tokens = int(args[args.index("--min-tokens") + 1]) if "--min-tokens" in args else 1
    os.makedirs(work, exist_ok=True)
    jpath, cdir = os.path.join(work, "analysis.json"), os.path.join(work, "csv")
    subprocess.run([moescope, "-q", "analyze", store, "--json", jpath, "--csv", cdir,
                    "--bootstrap", "40", "--top", "5", "--chunk", "1000"], check=True)
    res = json.load(open(jpath))

    with h5py.File(store, "r") as f:
        E, k = int(f["routing"].attrs["n_expert"]), int(f["routing"].attrs["k"])
        layers = f["routing/layers"][:].tolist()
        domains = [d.decode() if isinstance(d, bytes) else d for d in f["domains"][:]]
        nd = int(f.attrs["n_documents"])
        ntok = f["documents/n_tokens"][:nd]
        T = int(ntok.sum())
        ex = f["routing/expert"][:T].astype(np.int64)  # (T, L, k)
        tok = f["tokens/id"][:T].astype(np.int64)
        doc = f["tokens/doc"][:T].astype(np.int64)
        pos = f["tokens/pos"][:T].astype(np.int64)
        ddom = f["documents/domain"][:nd].astype(np.int64)
    if T < min_tokens:
        fail(f"store holds {T} tokens, fewer than {min_tokens}")
    dom = ddom[doc]
    D = len(domains)

    if res["schema"] != "moescope-analysis" or res["version"] != 1:
        fail("schema/version")
    if res["n_expert"] != E or res["k"] != k or res["layers"] != layers or res["domains"] != domains:
        fail("header fields")
    if res["store"]["n_tokens"] != T or res["store"]["n_documents"] != nd:
        fail("store token/document counts")
    near(res["baselines"]["repeat_first"], 1 / E, "baseline first")
    near(res["baselines"]["repeat_topk"],
         1 - math.comb(E - k, k) / math.comb(E, k), "baseline top-k")

    pair = np.zeros(T, bool)  # row i pairs with row i+1
    pair[:-1] = (doc[1:] == doc[:-1]) & (pos[1:] == pos[:-1] + 1)
    pidx = np.nonzero(pair)[0]
    rows = {}
    with open(os.path.join(cdir, "experts.csv")) as fh:
        for r in csv.DictReader(fh):
            rows[(int(r["layer"]), r["domain"], int(r["expert"]), r["measure"])] = r
    reps = {}
    with open(os.path.join(cdir, "repetition.csv")) as fh:
        for r in csv.DictReader(fh):
            reps[(int(r["layer"]), r["domain"], r["measure"])] = r

    for li, L in enumerate(layers):
        out = res["results"][li]
        if out["layer"] != L:
            fail(f"results[{li}].layer")
        X = ex[:, li, :]
        first_tab = np.zeros((D, E), np.int64)
        shares = []
        for d in range(D + 1):
            sel = np.ones(T, bool) if d == D else dom == d
            o = out["all"] if d == D else out["domains"][d]
            name = "all" if d == D else domains[d]
            N = int(sel.sum())
            what = f"layer {L} domain {name}"
            if o["n_tokens"] != N:
                fail(f"{what}: n_tokens {o['n_tokens']} want {N}")
            assign = np.bincount(X[sel].ravel(), minlength=E)
            first = np.bincount(X[sel, 0], minlength=E)
            contains = np.array([(X[sel] == e).any(axis=1).sum() for e in range(E)])
            near(o["assign_count"], assign, what + " assign_count", 0)
            near(o["first_count"], first, what + " first_count", 0)
            near(o["contains_count"], contains, what + " contains_count", 0)
            if N:
                near(o["share"], assign / (k * N), what + " share")
                near(o["first_share"], first / N, what + " first_share")
                near(o["contains_share"], contains / N, what + " contains_share")
                if abs(sum(o["share"]) - 1) > 1e-9 or abs(sum(o["contains_share"]) - k) > 1e-9:
                    fail(what + ": shares do not sum to 1 / k")
            if k >= 2:
                second = np.bincount(X[sel, 1], minlength=E)
                near(o["second_count"], second, what + " second_count", 0)
                if N:
                    near(o["second_share"], second / N, what + " second_share")
            if d < D:
                first_tab[d] = first
            p = sel[pidx]
            a, b = X[pidx[p]], X[pidx[p] + 1]
            feq = int((a[:, 0] == b[:, 0]).sum())
            inter = int(sum(len(set(x) & set(y)) > 0 for x, y in zip(a.tolist(), b.tolist())))
            rp = o["repetition"]
            if (rp["n_pairs"], rp["first_equal"], rp["topk_intersect"]) != (int(p.sum()), feq, inter):
                fail(f"{what}: repetition {rp['n_pairs']},{rp['first_equal']},{rp['topk_intersect']}"
                     f" want {int(p.sum())},{feq},{inter}")
            if p.sum():
                near(rp["first_equal_rate"], feq / p.sum(), what + " first_equal_rate")
                near(rp["topk_intersect_rate"], inter / p.sum(), what + " topk_intersect_rate")
                ci = rp["first_equal_ci"]
                if ci is None or not (ci[0] <= ci[1]):
                    fail(what + " first_equal_ci missing or unordered")
            sh = assign / max(k * N, 1)
            shares.append(sh)
            nz = sh[sh > 0]
            near(o["entropy_bits"], -(nz * np.log2(nz)).sum(), what + " entropy", 1e-10)
            if N:
                near(o["load_max_over_mean"], assign.max() / assign.mean(), what + " max/mean")
                near(o["load_cv"], assign.std() / assign.mean(), what + " cv", 1e-10)
            # CSV carries the same numbers
            for e in range(E):
                r = rows.get((L, name, e, "share"))
                if r is None or int(r["count"]) != assign[e] or (N and abs(float(r["value"]) - sh[e]) > 1e-12):
                    fail(f"{what}: experts.csv share row of e{e}")
            r = reps.get((L, name, "topk_intersect"))
            if r is None or int(r["count"]) != inter or int(r["n_pairs"]) != int(p.sum()):
                fail(f"{what}: repetition.csv topk_intersect row")
        # Jensen–Shannon between domains (base 2)
        js = np.array(out["domain_divergence"]["js_divergence_bits"], dtype=float)
        for i in range(D):
            for j in range(D):
                P, Q = shares[i], shares[j]
                if i == j or not P.sum() or not Q.sum():
                    continue
                M = (P + Q) / 2
                want = 0.5 * sum(P[m] * math.log2(P[m] / M[m]) for m in range(E) if P[m] > 0) + \
                    0.5 * sum(Q[m] * math.log2(Q[m] / M[m]) for m in range(E) if Q[m] > 0)
                near(js[i, j], want, f"layer {L} JSD {i},{j}", 1e-10)
        # chi-square on first-choice counts
        t = first_tab[first_tab.sum(1) > 0][:, first_tab.sum(0) > 0].astype(float)
        cs = out["domain_divergence"]["chi_square"]
        if t.shape[0] >= 2 and t.shape[1] >= 2:
            expct = np.outer(t.sum(1), t.sum(0)) / t.sum()
            x2 = ((t - expct) ** 2 / expct).sum()
            dof = (t.shape[0] - 1) * (t.shape[1] - 1)
            near(cs["statistic"], x2, f"layer {L} chi2", 1e-10)
            if cs["dof"] != dof:
                fail(f"layer {L} chi2 dof {cs['dof']} want {dof}")
            if dof % 2 == 0:
                near(cs["p_value"], poisson_tail(dof // 2, x2 / 2), f"layer {L} chi2 p", 1e-9)
        # co-activation
        inset = np.zeros((T, E), bool)
        for r in range(k):
            inset[np.arange(T), X[:, r]] = True
        n_e = inset.sum(0)
        pairs = inset.T.astype(np.int64) @ inset.astype(np.int64)
        np.fill_diagonal(pairs, 0)
        co = out["coactivation"]
        near(co["expert_tokens"], n_e, f"layer {L} N(e)", 0)
        near(co["pair_count"], pairs, f"layer {L} N(ei,ej)", 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(n_e[:, None] > 0, pairs / np.maximum(n_e[:, None], 1), 0)
        near(co["ratio"], ratio, f"layer {L} co-activation ratio")
        # vocabulary: count of (token, expert in top-k), ranked by count then smaller id
        occ = np.bincount(tok)
        for e in range(E):
            cnt = np.bincount(tok[inset[:, e]], minlength=len(occ))
            order = sorted(np.nonzero(cnt)[0].tolist(), key=lambda x: (-cnt[x], x))[:5]
            got = [(v["token"], v["count"], v["occurrences"]) for v in out["vocabulary"][e]["top"]]
            want = [(x, int(cnt[x]), int(occ[x])) for x in order]
            if got != want:
                fail(f"layer {L} vocabulary e{e}: got {got} want {want}")
            for v in out["vocabulary"][e]["top"]:
                near(v["share"], v["count"] / v["occurrences"], f"layer {L} vocab share")

    if other:
        dj = os.path.join(work, "diff.json")
        subprocess.run([moescope, "-q", "diff", store, other, "--json", dj], check=True)
        dres = json.load(open(dj))
        with h5py.File(other, "r") as f:
            exb = f["routing/expert"][:T].astype(np.int64)
            lb = f["routing/layers"][:].tolist()
        common = [L for L in layers if L in lb]
        if [x["layer"] for x in dres["layers"]] != common:
            fail("diff layers")
        for x in dres["layers"]:
            A, B = ex[:, layers.index(x["layer"])], exb[:, lb.index(x["layer"])]
            fa = (A[:, 0] == B[:, 0]).sum()
            sa = sum(set(a) == set(b) for a, b in zip(A.tolist(), B.tolist()))
            ov = np.mean([len(set(a) & set(b)) / k for a, b in zip(A.tolist(), B.tolist())])
            if x["first_agree"] != fa or x["topk_set_agree"] != sa:
                fail(f"diff layer {x['layer']}: {x['first_agree']},{x['topk_set_agree']} want {fa},{sa}")
            near(x["topk_overlap_mean"], ov, "diff overlap", 1e-12)

    if failures:
        print(f"{failures} failure(s)", file=sys.stderr)
        return 1
    print(f"analysis oracle: {T} tokens, {len(layers)} layers, {D} domains: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
