"""Names from files are data (issue 14, item 1, and item 7's "error lines are valid UTF-8").

Domain and model names reach gnuplot scripts, .dat files, terminals, error lines and JSON.
Each case builds its own inputs (a tiny model from `moescope make-model`, a manifest whose
domain names hold back-quotes, $(...), @macros, quotes, backslashes, newlines, tabs, escape
sequences and invalid UTF-8) and checks, independently of moescope's code:

  gnuplot     capture -> plot / report / plot of the analysis JSON: no command in a name runs
              (no PWNED file anywhere), every figure is drawn, the .gp scripts hold the names
              only as double-quoted literals with ` @ ' octal-escaped, the .dat files still parse, the SVG legends show
              the names, analysis.json keeps them intact (strict UTF-8 JSON), the report is
              valid UTF-8, the analyze table carries no control characters.
  inspect     a GGUF whose general.name holds ESC[2J, a newline and invalid UTF-8: `inspect`
              prints no control byte and valid UTF-8; `inspect --json`, a capture's store and
              `analyze --json` of it are strict UTF-8 JSON.
  error_line  a GGUF key name with invalid UTF-8, a newline and an escape sequence, and a
              path with a newline: the error is exactly one line of printable valid UTF-8,
              exit status 2.

usage: test_names.py CASE MOESCOPE DATA_DIR WORK_DIR
"""
import json
import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mstest  # noqa: E402  (tests/mstest.py)

CASE, MOESCOPE, DATA, WORK = sys.argv[1:5]
MOESCOPE = os.path.abspath(MOESCOPE)
VOCAB = os.path.join(DATA, "vocab", "ggml-vocab-llama-spm.gguf")
SAMPLE = os.path.join(DATA, "..", "..", "corpora", "samples", "pile_sample.jsonl")
failures = []
check = mstest.checker(failures)


def run(args, expect=0, cwd=None):
    p = subprocess.run([MOESCOPE] + args, capture_output=True, cwd=cwd)
    check(p.returncode == expect, "moescope %r: exit %d, expected %d\nstderr: %r" %
          (args, p.returncode, expect, p.stderr))
    return p


def fresh(name):
    return mstest.fresh_dir(os.path.abspath(os.path.join(WORK, name)))


def terminal_safe(b):
    """Python's own statement of what a terminal may receive: strict UTF-8 with no C0 (other
    than the line ends of the output itself), DEL or C1 control character."""
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError as e:
        return "invalid UTF-8: %s" % e
    for ch in s:
        o = ord(ch)
        if (o < 0x20 and ch != "\n") or o == 0x7F or 0x80 <= o <= 0x9F:
            return "control character U+%04X" % o
    return None


def shown(name_bytes):
    """A name as figures and terminals show it: control characters, DEL, C1 controls and
    invalid UTF-8 bytes as \\xNN, everything else as is (computed here, not by moescope)."""
    out, i, b = [], 0, name_bytes
    while i < len(b):
        ok = None
        for n in (1, 2, 3, 4):
            try:
                ch = b[i:i + n].decode("utf-8")
                ok = (ch, n)
                break
            except UnicodeDecodeError:
                continue
        if ok is None:
            out.append("\\x%02x" % b[i])
            i += 1
            continue
        ch, n = ok
        o = ord(ch)
        if o < 0x20 or o == 0x7F or 0x80 <= o <= 0x9F:
            out.append("".join("\\x%02x" % x for x in b[i:i + n]))
        else:
            out.append(ch)
        i += n
    return "".join(out)


def fixed(name_bytes):
    """Invalid UTF-8 as U+FFFD: analysis JSON, reports and figures are valid UTF-8."""
    s = name_bytes.decode("utf-8", "surrogateescape")  # each bad byte on its own
    return re.sub("[\udc80-\udcff]", "\ufffd", s).encode("utf-8")


def gp_literal(text):
    """The gnuplot literal of a label: double-quoted, every ASCII byte that gnuplot's line
    passes (back-quote substitution, @macros, quote and comment tracking) or the scanner look
    at written as an octal escape."""
    out = []
    for c in text.encode("utf-8"):
        if c < 0x20 or c == 0x7F or chr(c) in "`@'\"\\#$;{}":
            out.append("\\%03o" % c)
        else:
            out.append(chr(c) if c < 0x80 else bytes([c]).decode("latin-1"))
    return ('"' + "".join(out) + '"').encode("latin-1").decode("utf-8")


def gp_scan(script):
    """Splits a gnuplot script as gnuplot's scanner does: single-quoted strings (no escapes,
    a quote doubled), double-quoted strings (backslash escapes), comments (# outside strings,
    to the end of the line) and the rest. Returns (the rest, [double-quoted contents]) -- the
    places where gnuplot substitutes back-quotes and @macros."""
    outside, dq, i, n = [], [], 0, len(script)
    while i < n:
        c = script[i]
        if c == "'":
            i += 1
            while i < n and not (script[i] == "'" and script[i + 1:i + 2] != "'"):
                i += 2 if script[i] == "'" else 1
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and script[j] != '"':
                j += 2 if script[j] == "\\" else 1
            dq.append(script[i + 1:j])
            i = j + 1
        elif c == "#":
            while i < n and script[i] != "\n":
                i += 1
        else:
            outside.append(c)
            i += 1
    return "".join(outside), dq


def no_pwned(roots, what):
    for root in roots:
        for dp, dn, fn in os.walk(root):
            for f in fn + dn:
                check(not f.startswith("PWNED"), "%s: a command in a name ran: %s" %
                      (what, os.path.join(dp, f)))


def make_model(d, layers=2):
    m = os.path.join(d, "m.gguf")
    run(["make-model", "--out", m, "--vocab", VOCAB, "--layers", str(layers), "-q"])
    return m


# ---- gnuplot -----------------------------------------------------------------------------

EVIL = [
    b"x`touch PWNED1`y",
    b"$(touch PWNED2) @foo ${HOME}",
    b"q\"uo'te\\ \\n `touch PWNED3` ''",
    b"line1\nline2\ttab \x1b[2J end",
    b"bad \xff\xfe utf8 \xe2\x82",
]
ESC_TEXT = "clear \x1b[2J screen\rback \x9b31m red\x1b]0;title\x07 end " * 3
FIGS = ["fig7_expert_share", "fig9_choice_breakdown", "fig10_repetition", "heatmap_share",
        "heatmap_coactivation"]


def write_manifest(d):
    lines = open(SAMPLE, encoding="utf-8").read().split("\n")
    doms = []
    for i, n in enumerate(EVIL):
        fn = "src%d.jsonl" % i
        with open(os.path.join(d, fn), "w", encoding="utf-8") as f:
            for l in [l for l in lines if l][i * 3:i * 3 + 3]:
                f.write(l + "\n")
            if i == 3:  # text with an escape sequence, CR and a C1 control for `show`
                f.write(json.dumps({"text": ESC_TEXT}) + "\n")
        # json.dumps cannot carry raw invalid bytes: a placeholder replaced below
        doms.append({"name": "@@NAME%d@@" % i, "sources": [fn], "docs": 4 if i == 3 else 3})
    text = json.dumps({"name": "names", "domains": doms}).encode()
    for i, n in enumerate(EVIL):
        lit = json.dumps(n.decode("utf-8", "surrogateescape"), ensure_ascii=False)[1:-1]
        text = text.replace(b"@@NAME%d@@" % i, lit.encode("utf-8", "surrogateescape"))
    path = os.path.join(d, "manifest.json")
    open(path, "wb").write(text)
    return path


def check_figures(out, what):
    for f in FIGS:
        for ext in ("png", "svg"):
            p = os.path.join(out, f + "." + ext)
            check(os.path.isfile(p) and os.path.getsize(p) > 1000,
                  "%s: %s.%s missing or empty" % (what, f, ext))
        gp = open(os.path.join(out, f + ".gp"), "rb").read()
        check(terminal_safe(gp) is None, "%s: %s.gp: %s" % (what, f, terminal_safe(gp)))
        for n in EVIL if f != "heatmap_coactivation" else []:
            lit = gp_literal(shown(fixed(n))).encode()
            check(lit in gp, "%s: %s.gp lacks the name as %r" % (what, f, lit))
        outside, dq = gp_scan(gp.decode("utf-8", "surrogateescape"))
        check("`" not in outside and "@" not in outside,
              "%s: %s.gp: a back-quote or @ outside string literals" % (what, f))
        for q in dq:
            check("`" not in q and "@" not in q and "'" not in q,
                  "%s: %s.gp: a raw ` @ or ' inside a double-quoted string: %r" % (what, f, q))
    # .dat files: comments, blank lines and rows of numbers only.
    D = len(EVIL)
    for f in FIGS:
        for i, line in enumerate(open(os.path.join(out, f + ".dat"), "rb").read().split(b"\n")):
            if not line or line.startswith(b"#"):
                continue
            fields = line.split()
            ok = all(re.fullmatch(rb"-?[0-9.eE+-]+|NaN", x) for x in fields)
            check(ok, "%s: %s.dat line %d is not numbers: %r" % (what, f, i + 1, line))
            if f == "fig7_expert_share":
                check(len(fields) == 1 + D, "%s: fig7 .dat row has %d fields" % (what, len(fields)))
    dat = open(os.path.join(out, "fig10_repetition.dat"), "rb").read()
    for n in EVIL:
        check(b"# " + shown(fixed(n)).encode() + b"\n" in dat,
              "%s: fig10 .dat lacks the comment line of %r" % (what, n))
    # The SVG legends show every name (as figures show it).
    texts = []
    for t in ET.parse(os.path.join(out, "fig7_expert_share.svg")).iter():
        if t.tag.endswith("text") and t.text:
            texts.append(t.text)
    for n in EVIL:
        check(shown(fixed(n)) in texts, "%s: fig7 SVG has no legend %r (texts: %r)" %
              (what, shown(fixed(n)), texts[:40]))


def case_gnuplot():
    d = fresh("gnuplot")
    model = make_model(d)
    manifest = write_manifest(d)
    run(["capture", "--model", model, "--corpus", manifest, "--out", "r.h5", "-q"], cwd=d)
    import h5py
    with h5py.File(os.path.join(d, "r.h5"), "r") as f:
        names = [bytes(x) for x in f["domains"][...]]
    check(names == EVIL, "the store keeps the names intact: %r" % names)
    run(["plot", "r.h5", "--out", "figs"], cwd=d)
    check_figures(os.path.join(d, "figs"), "plot")
    # A report directory whose name holds a quote and a back-quote.
    rep = "rep\"x`touch PWNED9`'"
    p = run(["report", "r.h5", "--out", rep, "--bootstrap", "10"], cwd=d)
    check(terminal_safe(p.stderr) is None, "report stderr: %s" % terminal_safe(p.stderr))
    rep = os.path.join(d, rep)
    check_figures(rep, "report")
    a = json.loads(open(os.path.join(rep, "analysis.json"), "rb").read().decode("utf-8"))
    want = [fixed(n).decode("utf-8") for n in EVIL]
    check(a["domains"] == want, "report analysis.json domains %r != %r" % (a["domains"], want))
    html = open(os.path.join(rep, "index.html"), "rb").read()
    try:
        html.decode("utf-8")
    except UnicodeDecodeError as e:
        check(False, "index.html is not UTF-8: %s" % e)
    check(b"x`touch PWNED1`y" in html, "index.html lacks the back-quoted name")
    # analyze: strict JSON, and a table without control characters.
    p = run(["analyze", "r.h5", "--json", "a.json", "--bootstrap", "0"], cwd=d)
    check(terminal_safe(p.stdout) is None, "analyze table: %s" % terminal_safe(p.stdout))
    check(shown(EVIL[3])[:20].encode() in p.stdout, "analyze table lacks the newline name")
    a = json.loads(open(os.path.join(d, "a.json"), "rb").read().decode("utf-8"))
    check(a["domains"] == want, "analyze --json domains %r" % a["domains"])
    # show: the terminal view (plain and coloured) carries no control character of a file.
    import h5py
    with h5py.File(os.path.join(d, "r.h5"), "r") as f:
        n_docs = int(f["documents/domain"].shape[0])
        doms = [int(x) for x in f["documents/domain"][...]]
    check(n_docs == 3 * len(EVIL) + 1, "store has %d documents" % n_docs)
    for doc in range(n_docs):
        for color in ("never", "always"):
            p = run(["show", "r.h5", "--doc", str(doc), "--color", color, "-q"], cwd=d)
            out = re.sub(rb"\x1b\[[0-9;]*m", b"", p.stdout) if color == "always" else p.stdout
            check(terminal_safe(out) is None, "show --doc %d --color %s: %s" %
                  (doc, color, terminal_safe(out)))
            check(shown(EVIL[doms[doc]]).encode() in p.stdout.split(b"\n")[0],
                  "show --doc %d: header lacks the domain: %r" % (doc, p.stdout[:200]))
    # plot of the analysis JSON (names from a JSON file given to `plot`).
    run(["plot", "a.json", "--out", "figs2"], cwd=d)
    check_figures(os.path.join(d, "figs2"), "plot of analysis.json")
    # A domain named by its file (no manifest): the stem holds a back-quote and $(...).
    stem = "f`touch PWNED7`$(touch PWNED8)"
    with open(os.path.join(d, stem + ".jsonl"), "w", encoding="utf-8") as f:
        for l in [l for l in open(SAMPLE, encoding="utf-8").read().split("\n") if l][:2]:
            f.write(l + "\n")
    run(["capture", "--model", model, "--corpus", stem + ".jsonl", "--out", "f.h5", "-q"], cwd=d)
    run(["plot", "f.h5", "--out", "figs3", "-q"], cwd=d)
    gp = open(os.path.join(d, "figs3", "fig7_expert_share.gp"), "rb").read()
    check(gp_literal(stem).encode() in gp, "file-named domain: %r not in fig7 .gp" %
          gp_literal(stem))
    # The gnuplot scripts redraw by hand without running anything either.
    p = subprocess.run(["gnuplot", "fig7_expert_share.gp"], cwd=os.path.join(d, "figs"),
                       capture_output=True)
    check(p.returncode == 0, "gnuplot fig7_expert_share.gp by hand: %r" % p.stderr)
    no_pwned([d, os.getcwd()], "gnuplot")


# ---- GGUF rewriting ----------------------------------------------------------------------

SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def gguf_split(b):
    """(version, [(key, type, value bytes)], tensor-info bytes, n_tensors, alignment, data)."""
    magic, version, n_t, n_kv = struct.unpack_from("<4sIQQ", b, 0)
    assert magic == b"GGUF"
    pos, kvs, align = 24, [], 32

    def rd_str(p):
        n = struct.unpack_from("<Q", b, p)[0]
        return b[p + 8:p + 8 + n], p + 8 + n

    def skip(t, p):
        if t == 8:
            return rd_str(p)[1]
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, p)
            p += 12
            for _ in range(n):
                p = skip(et, p)
            return p
        return p + SIZES[t]

    for _ in range(n_kv):
        key, pos = rd_str(pos)
        t = struct.unpack_from("<I", b, pos)[0]
        start = pos + 4
        end = skip(t, start)
        if key == b"general.alignment":
            align = struct.unpack_from("<I", b, start)[0]
        kvs.append((key, t, b[start:end]))
        pos = end
    ti0 = pos
    for _ in range(n_t):
        _, pos = rd_str(pos)
        nd = struct.unpack_from("<I", b, pos)[0]
        pos += 4 + 8 * nd + 4 + 8
    data0 = (pos + align - 1) // align * align
    return version, kvs, b[ti0:pos], n_t, align, b[data0:]


def gguf_join(version, kvs, ti, n_t, align, data):
    out = bytearray(struct.pack("<4sIQQ", b"GGUF", version, n_t, len(kvs)))
    for key, t, v in kvs:
        out += struct.pack("<Q", len(key)) + key + struct.pack("<I", t) + v
    out += ti
    out += b"\0" * ((-len(out)) % align)
    return bytes(out) + data


def gstr(s):
    return struct.pack("<Q", len(s)) + s


def gguf_with(src, dst, name=None, extra_kv=None):
    version, kvs, ti, n_t, align, data = gguf_split(open(src, "rb").read())
    if name is not None:
        kvs = [(k, t, gstr(name) if k == b"general.name" else v) for k, t, v in kvs]
    if extra_kv is not None:
        kvs.append(extra_kv)
    open(dst, "wb").write(gguf_join(version, kvs, ti, n_t, align, data))


EVIL_MODEL = b"evil\x1b[2J\x1b]0;title\x07 \xff\xfe name\nsecond \xc2\x9b line"


def case_inspect():
    d = fresh("inspect")
    base = make_model(d)
    # The rewriter itself is checked: the unchanged file still opens.
    same = os.path.join(d, "same.gguf")
    gguf_with(base, same)
    run(["inspect", "--no-tensors", same])
    evil = os.path.join(d, "evil.gguf")
    gguf_with(base, evil, name=EVIL_MODEL)
    p = run(["inspect", evil])
    check(b"\x1b" not in p.stdout, "inspect printed an ESC byte")
    check(terminal_safe(p.stdout) is None, "inspect stdout: %s" % terminal_safe(p.stdout))
    check(("name         " + shown(EVIL_MODEL) + "\n").encode() in p.stdout,
          "inspect shows the name escaped: %r" % p.stdout[:400])
    p = run(["inspect", "--json", evil])
    try:
        j = json.loads(p.stdout.decode("utf-8"))
        check(j["name"] == EVIL_MODEL.decode("utf-8", "replace"), "inspect --json name %r" %
              j["name"])
    except (UnicodeDecodeError, ValueError) as e:
        check(False, "inspect --json is not strict UTF-8 JSON: %s" % e)
    # The model description stored by capture, then analyze --json and report of the store.
    corpus = os.path.join(d, "c.jsonl")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write(json.dumps({"text": "hello world, a few words of text to route. " * 8}) + "\n")
    run(["capture", "--model", evil, "--corpus", corpus, "--out", "r.h5", "-q"], cwd=d)
    run(["analyze", "r.h5", "--json", "a.json", "--bootstrap", "0", "-q"], cwd=d)
    try:
        a = json.loads(open(os.path.join(d, "a.json"), "rb").read().decode("utf-8"))
        prov = json.dumps(a)
        check("evil" in prov, "analyze --json lacks the model description")
    except (UnicodeDecodeError, ValueError) as e:
        check(False, "analyze --json of the store is not strict UTF-8 JSON: %s" % e)
    run(["report", "r.h5", "--out", "rep", "--bootstrap", "0", "-q"], cwd=d)
    html = open(os.path.join(d, "rep", "index.html"), "rb").read()
    try:
        html.decode("utf-8")
    except UnicodeDecodeError as e:
        check(False, "report index.html is not UTF-8: %s" % e)
    p = run(["diff", "r.h5", "r.h5", "--json", "-"], cwd=d)
    try:
        json.loads(p.stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        check(False, "diff --json is not strict UTF-8 JSON: %s" % e)


def one_line(p, what):
    e = p.stderr
    check(e.endswith(b"\n") and e.count(b"\n") == 1, "%s: stderr is not one line: %r" % (what, e))
    check(terminal_safe(e) is None, "%s: stderr: %s (%r)" % (what, terminal_safe(e), e))
    check(e.startswith(b"moescope: error: "), "%s: not an error line: %r" % (what, e))


def case_error_line():
    d = fresh("error_line")
    base = make_model(d)
    key = b"bad\xff\xfe key\nwith \x1b[31mred\x1b[0m"
    bad = os.path.join(d, "badkey.gguf")
    gguf_with(base, bad, extra_kv=(key, 99, b"\0" * 8))
    p = run(["inspect", bad], expect=2)
    one_line(p, "invalid key type")
    check(b"\\xff\\xfe key" in p.stderr, "the key's bytes are shown escaped: %r" % p.stderr)
    check(bad.encode() in p.stderr, "the error names the file: %r" % p.stderr)
    # A path with a newline and an escape sequence.
    p = run(["inspect", os.path.join(d, "no\nsuch\x1b[2J.gguf")], expect=2)
    one_line(p, "missing path")
    # A usage error quoting an option.
    p = run(["inspect", "--bogus\x1b[2J\n"], expect=2)
    one_line(p, "usage error")


CASES = {"gnuplot": case_gnuplot, "inspect": case_inspect, "error_line": case_error_line}

if __name__ == "__main__":
    if CASE not in CASES:
        sys.exit("unknown case %s (%s)" % (CASE, ", ".join(CASES)))
    os.makedirs(WORK, exist_ok=True)
    CASES[CASE]()
    sys.exit(mstest.summary(len(failures), "ok"))
