#!/usr/bin/python3
"""Tests of moescope plot / show / report (tests/plots.cmake runs one case per ctest test).

usage: test_plots.py CASE MOESCOPE DATA_DIR WORK_DIR

Checks are independent of moescope's own code: PNG files are decoded here (zlib + PNG
filters), SVG parsed as XML, HTML parsed with html.parser, expected numbers recomputed with
numpy from the route store (h5py) or read straight from the analysis JSON, token text taken
from llama.cpp's own tokenizer test files, colours compared with the published Okabe–Ito
values."""
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mstest  # noqa: E402  (tests/mstest.py)

CASE, MOESCOPE, DATA, WORK = sys.argv[1:5]
MOESCOPE = os.path.abspath(MOESCOPE)
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(DATA, "analysis_example.json")
VOCAB = os.path.join(DATA, "vocab", "ggml-vocab-llama-spm.gguf")
FIGURES = ["fig7_expert_share", "fig9_choice_breakdown", "fig10_repetition", "heatmap_share",
           "heatmap_coactivation"]
# Okabe & Ito (2008), "Color Universal Design" — the 8 colours as published.
OKABE_ITO = {(0xE6, 0x9F, 0x00), (0x56, 0xB4, 0xE9), (0x00, 0x9E, 0x73), (0xF0, 0xE4, 0x42),
             (0x00, 0x72, 0xB2), (0xD5, 0x5E, 0x00), (0xCC, 0x79, 0xA7), (0x00, 0x00, 0x00)}

failures = []
check = mstest.checker(failures)


def run(args, env=None, expect=0):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([MOESCOPE] + args, capture_output=True, text=True, errors="replace",
                       env=e)
    check(p.returncode == expect, "moescope %s: exit %d, expected %d\nstderr: %s" %
          (" ".join(args), p.returncode, expect, p.stderr))
    return p


def fresh(name):
    return mstest.fresh_dir(os.path.join(WORK, name))


# ---------------------------------------------------------------------------------------
# PNG decoding (8-bit RGB/RGBA/grey, non-interlaced: what cairo and Chromium write).
def png_decode(path, unfilter=True):
    """Returns (width, height, pixels as a (h, w, 3) uint8 array); checks chunk CRCs and
    the decompressed size. unfilter=False stops there (pixels None)."""
    import numpy as np
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path + ": not a PNG signature"
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        typ = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        crc = int.from_bytes(data[pos + 8 + n:pos + 12 + n], "big")
        assert zlib.crc32(typ + body) & 0xffffffff == crc, path + ": bad CRC in " + str(typ)
        if typ == b"IHDR":
            ihdr = body
        elif typ == b"IDAT":
            idat.append(body)
        elif typ == b"IEND":
            break
        pos += 12 + n
    w, h = int.from_bytes(ihdr[0:4], "big"), int.from_bytes(ihdr[4:8], "big")
    depth, ctype, interlace = ihdr[8], ihdr[9], ihdr[12]
    assert depth == 8 and interlace == 0 and ctype in (0, 2, 4, 6), (depth, ctype, interlace)
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    stride = w * bpp
    raw = zlib.decompress(b"".join(idat))
    assert len(raw) == h * (stride + 1), path + ": IDAT size does not match IHDR"
    if not unfilter:
        return w, h, None
    raw = np.frombuffer(raw, dtype=np.uint8).reshape(h, stride + 1)
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(h):  # PNG spec section 9 (filter types 0-4)
        f, line = raw[y, 0], raw[y, 1:]
        if f == 0:
            cur = line.copy()
        elif f == 2:
            cur = line + prev
        elif f == 1:
            cur = (np.cumsum(line.reshape(w, bpp).astype(np.int64), axis=0) % 256)
            cur = cur.astype(np.uint8).reshape(stride)
        elif f == 3:
            L, P, C = line.tolist(), prev.tolist(), [0] * stride
            for x in range(bpp):
                C[x] = (L[x] + (P[x] >> 1)) & 255
            for x in range(bpp, stride):
                C[x] = (L[x] + ((C[x - bpp] + P[x]) >> 1)) & 255
            cur = np.array(C, dtype=np.uint8)
        elif f == 4:
            L, P, C = line.tolist(), prev.tolist(), [0] * stride
            for x in range(bpp):
                C[x] = (L[x] + P[x]) & 255
            for x in range(bpp, stride):
                a, b, c = C[x - bpp], P[x], P[x - bpp]
                if b == c:  # then p == a: the predictor is a
                    C[x] = (L[x] + a) & 255
                    continue
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                C[x] = (L[x] + (a if pa <= pb and pa <= pc else (b if pb <= pc else c))) & 255
            cur = np.array(C, dtype=np.uint8)
        else:
            raise AssertionError(path + ": bad filter type %d" % f)
        out[y] = cur
        prev = cur
    px = out.reshape(h, w, bpp)
    if bpp < 3:
        px = np.repeat(px[:, :, :1], 3, axis=2)
    return w, h, px[:, :, :3]


def png_stats(path, min_colors=8, min_ink=0.02):
    import numpy as np
    w, h, px = png_decode(path)
    flat = px.reshape(-1, 3).astype(np.int64)
    keys, counts = np.unique((flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2],
                             return_counts=True)
    colors = {((int(k) >> 16) & 255, (int(k) >> 8) & 255, int(k) & 255): int(n)
              for k, n in zip(keys, counts)}
    ink = 1.0 - colors.get((255, 255, 255), 0) / (w * h)
    check(len(colors) >= min_colors, "%s: only %d distinct colours (blank?)" % (path, len(colors)))
    check(ink >= min_ink, "%s: only %.3f of pixels are not white (blank?)" % (path, ink))
    return w, h, colors


def gp_size(gp_path):
    s = open(gp_path).read()
    m = re.search(r"^W = (\d+); H = (\d+)$", s, re.M)
    return int(m.group(1)), int(m.group(2))


def svg_check(path, w, h, texts):
    root = ET.parse(path).getroot()
    check(root.tag.endswith("svg"), path + ": root element is not <svg>")
    check(root.get("width") in (str(w), "%dpx" % w) or root.get("width", "").startswith(str(w)),
          "%s: width %s, expected %d" % (path, root.get("width"), w))
    check(root.get("height", "").startswith(str(h)),
          "%s: height %s, expected %d" % (path, root.get("height"), h))
    alltext = " ".join("".join(e.itertext()) for e in root.iter() if e.tag.endswith("text"))
    n_paths = sum(1 for e in root.iter() if e.tag.endswith("path") or e.tag.endswith("rect")
                  or e.tag.endswith("image"))
    check(n_paths >= 10, "%s: only %d drawing elements" % (path, n_paths))
    for t in texts:
        check(t in alltext, "%s: text %r not found" % (path, t))


def read_dat_blocks(path):
    """gnuplot data: blocks separated by two blank lines; '#' comments."""
    blocks, cur, blank = [], [], 0
    for line in open(path):
        line = line.strip()
        if line.startswith("#"):
            continue
        if not line:
            blank += 1
            if blank == 2 and cur:
                blocks.append(cur)
                cur = []
            continue
        blank = 0
        cur.append([float(x) for x in line.split()])
    if cur:
        blocks.append(cur)
    return blocks


def check_figures(d, analysis, formats, panel_layers, decode=None):
    """decode: names of the PNGs to decode fully (None: all); the others are checked for
    structure, CRCs and size only (pixels were checked in another case)."""
    doms = analysis["domains"]
    E = analysis["n_expert"]
    layers = analysis["layers"]
    for name in FIGURES:
        check(os.path.exists(os.path.join(d, name + ".gp")), name + ".gp missing")
        check(os.path.exists(os.path.join(d, name + ".dat")), name + ".dat missing")
        w, h = gp_size(os.path.join(d, name + ".gp"))
        check(600 <= w <= 4000 and 400 <= h <= 4000, "%s: odd size %dx%d" % (name, w, h))
        if "png" in formats and decode is not None and name not in decode:
            pw, ph, _ = png_decode(os.path.join(d, name + ".png"), unfilter=False)
            check((pw, ph) == (w, h), "%s.png: %dx%d, expected %dx%d" % (name, pw, ph, w, h))
        elif "png" in formats:
            pw, ph, colors = png_stats(os.path.join(d, name + ".png"))
            check((pw, ph) == (w, h), "%s.png: %dx%d, expected %dx%d" % (name, pw, ph, w, h))
            if name == "fig7_expert_share":
                # Every domain's bar colour is an Okabe–Ito colour, all distinct.
                bars = {c for c, n in colors.items() if c in OKABE_ITO and n > 200}
                check(len(bars) >= len(doms),
                      "fig7: %d Okabe-Ito bar colours for %d domains" % (len(bars), len(doms)))
            if name.startswith("heatmap"):
                check(len(colors) >= 20, name + ": heatmap has too few colours")
        if "svg" in formats:
            texts = ["expert", "Layer %d" % panel_layers[0]]
            if name in ("fig10_repetition", "heatmap_share"):
                texts = ["layer"]
            if name in ("fig7_expert_share", "fig10_repetition", "heatmap_share"):
                texts += doms
            svg_check(os.path.join(d, name + ".svg"), w, h, texts)
        if "pdf" in formats:
            pdf = open(os.path.join(d, name + ".pdf"), "rb").read()
            check(pdf[:5] == b"%PDF-" and b"%%EOF" in pdf[-1024:] and len(pdf) > 2000,
                  name + ".pdf: not a complete PDF")
    # The data files hold the analysis numbers (read here straight from the JSON).
    slot = {l: i for i, l in enumerate(layers)}
    blocks = read_dat_blocks(os.path.join(d, "fig7_expert_share.dat"))
    check(len(blocks) == len(panel_layers), "fig7.dat: %d blocks for layers %s" % (len(blocks), panel_layers))
    for bi, l in enumerate(panel_layers):
        res = analysis["results"][slot[l]]
        for e in range(E):
            row = blocks[bi][e]
            check(int(row[0]) == e, "fig7.dat: expert column")
            for di in range(len(doms)):
                want = res["domains"][di]["share"][e]
                check(abs(row[1 + di] - want) < 1e-5,
                      "fig7.dat layer %d expert %d domain %d: %g vs %g" % (l, e, di, row[1 + di], want))
    blocks = read_dat_blocks(os.path.join(d, "fig10_repetition.dat"))
    check(len(blocks) == len(doms), "fig10.dat: one block per domain")
    for di in range(len(doms)):
        for li, l in enumerate(layers):
            rep = analysis["results"][li]["domains"][di]["repetition"]
            row = blocks[di][li]
            check(int(row[0]) == l and abs(row[1] - 100 * rep["first_equal_rate"]) < 1e-4
                  and abs(row[4] - 100 * rep["topk_intersect_rate"]) < 1e-4,
                  "fig10.dat domain %d layer %d: %s" % (di, l, row))


# ---------------------------------------------------------------------------------------
class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.imgs, self.tables, self.ids = [], [], [], set()
        self.spans = []  # (class, title, text) of token spans
        self._table = None
        self._row = None
        self._cell = None
        self._in_tbl_after = None
        self._span = None
        self.scripts = 0
        self.links = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
            self._last_id = a["id"]
        for k in ("src", "href"):
            if k in a:
                self.refs.append(a[k])
        if tag == "img":
            self.imgs.append(a.get("src"))
        if tag == "script":
            self.scripts += 1
        if tag == "link":
            self.links += 1
        if tag == "table":
            self._table = {"after": getattr(self, "_last_id", None), "rows": []}
        if tag == "tr" and self._table is not None:
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._cell = ""
        if tag == "span" and self._span is not None:
            self._depth += 1  # the faint newline mark inside a token
        elif tag == "span" and re.fullmatch(r"x\d+", a.get("class", "")) and a.get("title", "").startswith("token "):
            self._span = [a["class"], a["title"], ""]
            self._depth = 0

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        if tag == "tr" and self._row is not None and self._table is not None:
            self._table["rows"].append(self._row)
            self._row = None
        if tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None
        if tag == "span" and self._span is not None:
            if self._depth > 0:
                self._depth -= 1
            else:
                self.spans.append(tuple(self._span))
                self._span = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._span is not None:
            self._span[2] += data


def parse_page(path):
    p = Page()
    p.feed(open(path, encoding="utf-8").read())
    return p


def check_report(d, analysis, figures=True):
    page = parse_page(os.path.join(d, "index.html"))
    check(page.scripts == 0 and page.links == 0, "index.html: has <script> or <link> (not self-contained)")
    for ref in page.refs:
        if ref.startswith("#"):
            check(ref[1:] in page.ids, "index.html: anchor %s has no target" % ref)
            continue
        check(not re.match(r"^[a-z]+:", ref), "index.html: external reference %s" % ref)
        check(os.path.exists(os.path.join(d, ref)), "index.html: references missing file %s" % ref)
    if figures:
        for name in FIGURES:
            check(name + ".png" in page.imgs, "index.html: figure %s not shown" % name)
    else:
        check(not page.imgs, "index.html: shows images although gnuplot was missing")
    # Table 5: our numbers (from the JSON) and the paper's (DESIGN.md / the paper).
    t5 = [t for t in page.tables if t["after"] == "table5"]
    check(len(t5) >= 1, "index.html: no Table 5 table")
    rows = {r[0].split(" (paper")[0]: r[1:] for r in t5[0]["rows"][2:]}
    doms = analysis["domains"]
    panel = [0, 15, 31] if all(l in analysis["layers"] for l in (0, 15, 31)) else None
    if panel is None:
        L = analysis["layers"]
        panel = sorted(set([L[0], L[len(L) // 2], L[-1]]))
    slot = {l: i for i, l in enumerate(analysis["layers"])}
    for di, dom in enumerate(doms):
        check(dom in rows, "Table 5: no row for domain %r" % dom)
        if dom not in rows:
            continue
        cells = rows[dom]
        for m, key in enumerate(("first_equal_rate", "topk_intersect_rate")):
            for i, l in enumerate(panel):
                ours = cells[2 * (m * len(panel) + i)].split()[0]
                want = 100 * analysis["results"][slot[l]]["domains"][di]["repetition"][key]
                check(ours == "%.1f" % want, "Table 5 %s layer %d %s: %s vs %.1f" % (dom, l, key, ours, want))
    # The paper's own numbers (Mixtral Table 5), e.g. ArXiv and Wikipedia (en).
    body = open(os.path.join(d, "index.html"), encoding="utf-8").read()
    for n in ("27.9", "62.3", "46.5", "23.6", "51.8", "67.0"):
        check(n in body, "index.html: paper value %s missing" % n)
    return page


# ---------------------------------------------------------------------------------------
def case_figures():
    d = fresh("figures")
    run(["plot", EXAMPLE, "--out", d, "--format", "png,svg,pdf"])
    analysis = json.load(open(EXAMPLE))
    check_figures(d, analysis, ("png", "svg", "pdf"), [0, 15, 31])
    # Chosen layers: panels follow --layers.
    d2 = fresh("figures_layers")
    run(["plot", EXAMPLE, "--out", d2, "--layers", "3,7", "--format", "png"])
    check_figures(d2, analysis, ("png",), [3, 7], decode=["fig7_expert_share"])
    # The scripts redraw on their own (users restyle them): gnuplot NAME.gp in the folder.
    os.remove(os.path.join(d2, "fig7_expert_share.png"))
    p = subprocess.run(["gnuplot", "-e", 'formats="svg"', "fig7_expert_share.gp"], cwd=d2,
                       capture_output=True, text=True)
    check(p.returncode == 0 and os.path.exists(os.path.join(d2, "fig7_expert_share.svg")),
          "gnuplot fig7_expert_share.gp did not redraw: " + p.stderr)


def case_report():
    d = fresh("report")
    run(["report", EXAMPLE, "--out", d])
    analysis = json.load(open(EXAMPLE))
    check_figures(d, analysis, ("png", "svg"), [0, 15, 31], decode=[])
    check_report(d, analysis)
    check(json.load(open(os.path.join(d, "analysis.json"))) == analysis, "analysis.json differs")


def case_no_gnuplot():
    env = {"MOESCOPE_GNUPLOT": "/nonexistent/gnuplot"}
    d = fresh("nognuplot_plot")
    p = run(["plot", EXAMPLE, "--out", d], env=env, expect=1)
    check("apt-get install gnuplot-nox" in p.stderr, "plot: no install hint: " + p.stderr)
    check(len(p.stderr.strip().split("\n")) <= 3, "plot: too many lines: " + p.stderr)
    for name in FIGURES:
        check(os.path.exists(os.path.join(d, name + ".gp")), name + ".gp not written")
        check(not os.path.exists(os.path.join(d, name + ".png")), name + ".png written?")
    # Also with gnuplot simply not on PATH.
    d = fresh("nognuplot_report")
    env2 = {"PATH": "/nonexistent", "MOESCOPE_GNUPLOT": ""}
    p = run(["report", EXAMPLE, "--out", d], env=env2, expect=0)
    check("apt-get install gnuplot-nox" in p.stderr, "report: no install hint: " + p.stderr)
    page = check_report(d, json.load(open(EXAMPLE)), figures=False)
    body = open(os.path.join(d, "index.html"), encoding="utf-8").read()
    check("gnuplot not found" in body and "gnuplot-nox" in body, "index.html does not say why there are no figures")


def case_bad_input():
    ex = json.load(open(EXAMPLE))
    d = fresh("bad_input")

    def variant(name, mutate, expect_text):
        a = json.loads(json.dumps(ex))
        mutate(a)
        path = os.path.join(d, name + ".json")
        json.dump(a, open(path, "w"))
        p = run(["plot", path, "--out", os.path.join(d, "out")], expect=2)
        check(expect_text in p.stderr and p.stderr.count("\n") == 1,
              "%s: message %r lacks %r" % (name, p.stderr, expect_text))

    variant("schema", lambda a: a.__setitem__("schema", "other"), "schema")
    variant("share_len", lambda a: a["results"][3]["domains"][1]["share"].pop(), "results[3].domains[1].share")
    variant("share_neg", lambda a: a["results"][0]["domains"][0]["share"].__setitem__(2, -0.5), "results[0].domains[0].share")
    variant("no_rep", lambda a: a["results"][5]["domains"][2].pop("repetition"), "results[5].domains[2].repetition")
    variant("layers", lambda a: a.__setitem__("layers", a["layers"][:-1]), "results")
    variant("coact", lambda a: a["results"][1]["coactivation"]["ratio"].pop(), "results[1].coactivation.ratio")
    variant("k", lambda a: a.__setitem__("k", 99), "k")
    path = os.path.join(d, "trunc.json")
    open(path, "w").write(open(EXAMPLE).read()[:5000])
    p = run(["plot", path, "--out", os.path.join(d, "out")], expect=2)
    check("not valid JSON" in p.stderr, "truncated JSON: " + p.stderr)
    p = run(["plot", EXAMPLE], expect=2)
    p = run(["plot", EXAMPLE, "--out", d, "--format", "gif"], expect=2)
    p = run(["plot", EXAMPLE, "--out", d, "--layers", "40"], expect=2)
    p = run(["plot", os.path.join(d, "missing.json"), "--out", d], expect=2)


def make_store(relative=False):
    d = fresh(CASE + "_store" + ("_rel" if relative else ""))
    store = os.path.join(d, "routes.h5")
    args = ["/usr/bin/python3", os.path.join(HERE, "make_store.py"), store, VOCAB]
    if relative:
        args.append("--relative-model")
    subprocess.run(args, check=True, capture_output=True)
    return d, store, json.load(open(store + ".json"))


def store_arrays(store):
    import h5py
    import numpy as np
    with h5py.File(store, "r") as f:
        return {k: f[k][()] for k in ("tokens/id", "tokens/doc", "tokens/pos", "routing/expert",
                                       "routing/weight", "routing/layers", "documents/domain",
                                       "documents/first_token", "documents/n_tokens")}


def squash(s):
    return re.sub(r"\s+", "", s)


ANSI_TOK = re.compile(r"\x1b\[48;2;(\d+);(\d+);(\d+)m\x1b\[38;2;\d+;\d+;\d+m(.*?)\x1b\[0m", re.S)


def case_store_views():
    d, store, meta = make_store()
    A = store_arrays(store)
    layers = list(A["routing/layers"])
    for doc in (0, 1, 2):
        first = int(A["documents/first_token"][doc])
        n = int(A["documents/n_tokens"][doc])
        want_text = squash("".join(meta["docs"][doc]["texts"]))
        for slot, layer in enumerate(layers):
            want_e = [int(x) for x in A["routing/expert"][first:first + n, slot, 0]]
            # Plain: "text[e]" per token.
            p = run(["show", store, "--doc", str(doc), "--layer", str(layer), "--color", "never"])
            body = p.stdout.split("\n\n", 1)[1]
            got_e = [int(x) for x in re.findall(r"\[(\d+)\]", body)]
            check(got_e == want_e, "show doc %d layer %d: experts %s vs %s" % (doc, layer, got_e, want_e))
            check(squash(re.sub(r"\[\d+\]", "", body)) == want_text,
                  "show doc %d: text %r vs %r" % (doc, squash(re.sub(r"\[\d+\]", "", body)), want_text))
            # ANSI: legend colours, then every token in its expert's legend colour.
            p = run(["show", store, "--doc", str(doc), "--layer", str(layer), "--color", "always"])
            head, body = p.stdout.split("\n\n", 1)
            legend = {int(t.strip()): (int(r), int(g), int(b)) for r, g, b, t in ANSI_TOK.findall(head)}
            check(sorted(legend) == list(range(8)), "ANSI legend: %s" % legend)
            check(len(set(legend.values())) == 8 and set(legend.values()) == OKABE_ITO,
                  "ANSI legend colours are not the 8 Okabe-Ito colours")
            toks = ANSI_TOK.findall(body)
            seq, text = [], ""
            for r, g, b, t in toks:
                if t == "\u21b5":
                    continue
                text += t
                seq.append((int(r), int(g), int(b)))
            # Tokens may be split at newlines into several coloured runs; collapse runs of one
            # token by matching the expected colour sequence in order.
            exp_cols = [legend[e] for e in want_e]
            check(squash(text) == want_text, "ANSI text differs")
            i = 0
            for c in seq:
                if i < len(exp_cols) and c == exp_cols[i]:
                    i += 1
                elif i > 0 and c == exp_cols[i - 1]:
                    pass
                else:
                    check(False, "ANSI doc %d layer %d: colour %s out of order" % (doc, layer, c))
                    break
            check(i == len(exp_cols), "ANSI doc %d layer %d: %d of %d tokens coloured right" % (doc, layer, i, len(exp_cols)))
    # HTML page: all documents given, all stored layers; spans in order with hover details.
    page_path = os.path.join(d, "tokens.html")
    run(["show", store, "--doc", "0,2", "--layer", "all", "--html", page_path])
    page = parse_page(page_path)
    check(page.scripts == 0 and not [r for r in page.refs if re.match(r"^[a-z]+:", r)],
          "tokens.html is not self-contained")
    spans = page.spans
    k = 0
    for doc in (0, 2):
        first = int(A["documents/first_token"][doc])
        n = int(A["documents/n_tokens"][doc])
        for slot, layer in enumerate(layers):
            for t in range(n):
                cls, title, text = spans[k]
                k += 1
                e = A["routing/expert"][first + t, slot]
                w = A["routing/weight"][first + t, slot]
                check(cls == "x%d" % e[0], "tokens.html doc %d layer %d token %d: %s vs x%d" % (doc, layer, t, cls, e[0]))
                tid = int(A["tokens/id"][first + t])
                want = "id %d" % tid
                check(want in title and "expert %d (%.3f)" % (e[0], w[0]) in title
                      and "expert %d (%.3f)" % (e[1], w[1]) in title,
                      "tokens.html hover title %r lacks %s / experts and weights" % (title, want))
    check(k == len(spans), "tokens.html: %d extra spans" % (len(spans) - k))
    # Tokenizer found relative to the store's folder, and --model overrides; a wrong one fails.
    d2, store2, _ = make_store(relative=True)
    p = subprocess.run([MOESCOPE, "show", "routes.h5", "--color", "never"], cwd=d2, capture_output=True, text=True)
    check(p.returncode == 0 and "#" not in p.stdout.split("\n\n", 1)[1], "relative model path: " + p.stderr)
    p = run(["show", store, "--model", VOCAB, "--color", "never"])
    p = run(["show", store, "--model", os.path.join(d, "missing.gguf")], expect=2)
    p = run(["show", store, "--doc", "99"], expect=2)
    check("document 99" in p.stderr, "--doc 99: " + p.stderr)
    p = run(["show", store, "--layer", "1"], expect=2)
    check("layer 1" in p.stderr, "--layer 1 (not stored): " + p.stderr)


def repetition_numpy(A, di, slot):
    """Table 5 rates recomputed from the store."""
    import numpy as np
    doc_of = A["tokens/doc"]
    dom_of_tok = A["documents/domain"][doc_of]
    pos = A["tokens/pos"]
    ids = A["routing/expert"][:, slot, :].astype(int)
    same = (doc_of[1:] == doc_of[:-1]) & (pos[1:] == pos[:-1] + 1) & (dom_of_tok[:-1] == di)
    first_eq = ids[1:, 0] == ids[:-1, 0]
    inter = np.array([len(set(a) & set(b)) > 0 for a, b in zip(ids[:-1], ids[1:])])
    n = same.sum()
    return (first_eq & same).sum() / n, (inter & same).sum() / n


def case_store_report():
    d, store, meta = make_store()
    out = os.path.join(d, "report")
    run(["report", store, "--out", out, "--bootstrap", "20", "--pdf"])
    analysis = json.load(open(os.path.join(out, "analysis.json")))
    A = store_arrays(store)
    layers = [int(x) for x in A["routing/layers"]]
    check(analysis["layers"] == layers, "analysis layers")
    check_figures(out, analysis, ("png", "svg", "pdf"), layers,
                  decode=["fig7_expert_share", "heatmap_share"])
    page = check_report(out, analysis)
    # Table 5 of the report against numpy on the store itself.
    t5 = [t for t in page.tables if t["after"] == "table5"][0]
    rows = {r[0].split(" (paper")[0]: r[1:] for r in t5["rows"][2:]}
    doms = analysis["domains"]
    for di, dom in enumerate(doms):
        for s, l in enumerate(layers):
            f, k = repetition_numpy(A, di, s)
            c = rows[dom]
            check(c[2 * s].split()[0] == "%.1f" % (100 * f),
                  "report Table 5 %s layer %d first: %s vs numpy %.1f" % (dom, l, c[2 * s], 100 * f))
            check(c[2 * (len(layers) + s)].split()[0] == "%.1f" % (100 * k),
                  "report Table 5 %s layer %d top-k: %s vs numpy %.1f" % (dom, l, c[2 * (len(layers) + s)], 100 * k))
    # Fig. 8 section: first document of each domain, tokens as text (tokenizer found).
    check(len(page.spans) > 0, "report: no token spans")
    check(not any(t.startswith("#") for _, _, t in page.spans), "report: tokens shown as ids")
    for name in ("Wikipedia (en)",):
        check(name in rows, "Table 5 row for %s" % name)
    body = open(os.path.join(out, "index.html"), encoding="utf-8").read()
    check("14.4" in body and "49.8" in body, "paper numbers for Wikipedia (en) missing")
    check("make_store.py (test fixture)" in body, "provenance: capture command missing")


def case_capture_report():
    """The whole chain on the sample corpus: make-model, capture, report."""
    import numpy as np
    d = fresh("capture")
    model = os.path.join(d, "model.gguf")
    store = os.path.join(d, "routes.h5")
    manifest = os.path.join(os.path.dirname(DATA.rstrip("/")), "..", "corpora", "samples",
                            "manifest.json")
    manifest = os.path.normpath(manifest)
    run(["make-model", "--out", model, "--vocab", VOCAB, "--layers", "4", "-q"])
    run(["capture", "--model", model, "--corpus", manifest, "--out", store, "-q"])
    out = os.path.join(d, "report")
    run(["report", store, "--out", out, "--bootstrap", "20", "--max-tokens", "300"])
    analysis = json.load(open(os.path.join(out, "analysis.json")))
    A = store_arrays(store)
    layers = [int(x) for x in A["routing/layers"]]
    check_figures(out, analysis, ("png", "svg"), [layers[0], layers[len(layers) // 2], layers[-1]],
                  decode=["fig7_expert_share"])
    page = check_report(out, analysis)
    t5 = [t for t in page.tables if t["after"] == "table5"][0]
    rows = {r[0].split(" (paper")[0]: r[1:] for r in t5["rows"][2:]}
    panel = [layers[0], layers[len(layers) // 2], layers[-1]]
    for di, dom in enumerate(analysis["domains"]):
        for i, l in enumerate(panel):
            f, k = repetition_numpy(A, di, layers.index(l))
            c = rows[dom]
            check(c[2 * i].split()[0] == "%.1f" % (100 * f), "capture Table 5 %s L%d first" % (dom, l))
            check(c[2 * (len(panel) + i)].split()[0] == "%.1f" % (100 * k), "capture Table 5 %s L%d top-k" % (dom, l))
    # All 8 Pile subsets of the sample match a row of the paper's table.
    body = open(os.path.join(out, "index.html"), encoding="utf-8").read()
    check("paper: Gutenberg" in body or "Gutenberg" in rows, "Gutenberg row")
    # Fig. 8 text: the first document's tokens, joined, are its corpus text.
    import h5py
    with h5py.File(store, "r") as f:
        src = f["documents/source"].asstr()[0]
    line_no = int(src.rsplit(":", 1)[1])
    sample = os.path.join(os.path.dirname(manifest), "pile_sample.jsonl")
    text = json.loads(open(sample, encoding="utf-8").read().split("\n")[line_no - 1])["text"]
    n0 = int(A["documents/n_tokens"][0])
    joined = "".join(t for _, _, t in page.spans[:min(n0, 300)])
    joined = joined.replace("\u21b5", "")
    if joined.startswith("<s>"):
        joined = joined[3:]
    check(len(joined) > 100 and text.startswith(joined),
          "Fig. 8 tokens do not spell the document: %r... vs %r..." % (joined[:80], text[:80]))


def case_chromium():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not check(chromium is not None, "chromium not installed (apt-get install chromium)"):
        return
    d = fresh("chromium")
    run(["report", EXAMPLE, "--out", d])
    prof = fresh("chromium_profile")
    shot = os.path.join(d, "screenshot.png")
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        "--user-data-dir=" + prof, "--screenshot=" + shot,
                        "--window-size=1280,1600", "file://" + os.path.join(d, "index.html")],
                       capture_output=True, text=True, timeout=180)
    if not check(p.returncode == 0 and os.path.exists(shot), "chromium failed: " + p.stderr[-2000:]):
        return
    w, h, colors = png_stats(shot, min_colors=100, min_ink=0.10)
    check((w, h) == (1280, 1600), "screenshot size %dx%d" % (w, h))
    # The page's own header colour and the first figure's bars (the image loaded).
    check(colors.get((0x0B, 0x39, 0x54), 0) > 5000, "screenshot: header not rendered")
    bars = {c for c, n in colors.items() if c in OKABE_ITO - {(0, 0, 0)} and n > 100}
    check(len(bars) >= 4, "screenshot: figure bars not visible (%d Okabe-Ito colours)" % len(bars))


CASES = {"figures": case_figures, "report": case_report, "no_gnuplot": case_no_gnuplot,
         "bad_input": case_bad_input, "store_views": case_store_views,
         "store_report": case_store_report, "capture_report": case_capture_report,
         "chromium": case_chromium}
os.makedirs(WORK, exist_ok=True)
CASES[CASE]()
sys.exit(mstest.summary(len(failures), "ok"))
