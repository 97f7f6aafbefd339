"""test_forward_cli.py — `moescope eval` and `moescope route`: documented output formats,
text and JSON agreeing, windows, thread counts and usage errors.

Numbers are checked for internal consistency here (weights renormalised, NLL totals, sorted
probabilities, a windowed run equal to a full run on the tokens both see); their correctness is
checked against llama.cpp in test_forward_oracle.py and against a naive reference in
test_forward.c.

usage: test_forward_cli.py MOESCOPE WORK_DIR
"""
import json
import math
import os
import subprocess
import sys

MOESCOPE, WORK = (os.path.abspath(a) for a in sys.argv[1:3])
os.makedirs(WORK, exist_ok=True)
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL: " + msg)


def run(args, rc=0):
    r = subprocess.run([MOESCOPE] + args, capture_output=True, text=True, errors="replace")
    if r.returncode != rc:
        print("FAIL: %s exited %d (wanted %d): %s" % (" ".join(args), r.returncode, rc, r.stderr))
        sys.exit(1)
    return r


def unescape(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\":
            c = s[i + 1]
            if c == "x":
                out.append(chr(int(s[i + 2:i + 4], 16)))
                i += 4
                continue
            out.append({"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}[c])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


model = os.path.join(WORK, "m.gguf")
run(["make-model", "--out", model, "--type", "Q8_0", "--layers", "3", "--seed", "7", "-q"])
text = "Line one\tcol\nLine two: the river and the sea, 42 times.\n" * 3
tf = os.path.join(WORK, "t.txt")
with open(tf, "w") as f:
    f.write(text)

# ---- route, text format
out = run(["route", "--model", model, "--file", tf, "--layers", "0,2"]).stdout
lines = out.split("\n")
check(lines[-1] == "", "route output ends with a newline")
lines = lines[:-1]
check(lines[0].startswith("# tokens\t"), "route header 1: %r" % lines[0])
n = int(lines[0].split("\t")[1])
check(lines[1] == "# experts\t8\tk\t2", "route header 2: %r" % lines[1])
rows = [l.split("\t") for l in lines[2:]]
check(len(rows) == n, "one line per token (%d vs %d)" % (len(rows), n))
pieces = []
for i, r in enumerate(rows):
    check(len(r) == 5, "5 fields: %r" % r)
    check(int(r[0]) == i, "positions count from 0")
    pieces.append(unescape(r[2]))
    for field, layer in zip(r[3:], (0, 2)):
        head, rest = field.split(": ")
        check(head == "L%d" % layer, "layer label %r" % head)
        ch = rest.split(" ")
        check(len(ch) == 2, "k choices: %r" % rest)
        ids = [int(c.split("(")[0]) for c in ch]
        ws = [float(c.split("(")[1].rstrip(")")) for c in ch]
        check(len(set(ids)) == 2 and all(0 <= e < 8 for e in ids), "expert ids %r" % ids)
        check(abs(sum(ws) - 1) < 2e-4 and ws[0] >= ws[1], "weights %r" % ws)
# pieces put back together give the text (BOS first)
check(pieces[0] == "<s>" or rows[0][1] == "1", "BOS first")
check("".join(pieces[1:]).lstrip(" ") == text, "escaped pieces round-trip the text")

# ---- route --json agrees with the text
js = json.loads(run(["route", "--model", model, "--file", tf, "--layers", "0,2", "--json"]).stdout)
check(js["n_tokens"] == n and js["k"] == 2 and js["n_expert"] == 8 and js["layers"] == [0, 2],
      "route json header")
for r, t in zip(rows, js["tokens"]):
    check(int(r[1]) == t["id"] and unescape(r[2]) == t["piece"], "json token %r" % t)
    for field, ex, w in zip(r[3:], t["experts"], t["weights"]):
        txt = " ".join("%d(%.4f)" % (e, x) for e, x in zip(ex, w))
        check(field.split(": ")[1] == txt, "json vs text: %s / %s" % (field, txt))

# ---- windows: the first window equals the full run on its tokens; positions continue
win = run(["route", "--model", model, "--file", tf, "--layers", "all", "--window", "10"]).stdout
full = run(["route", "--model", model, "--file", tf, "--layers", "all"]).stdout
wl, fl = win.split("\n")[2:-1], full.split("\n")[2:-1]


def parse_routes(line):  # [(experts, weights) per layer]
    out = []
    for f in line.split("\t")[3:]:
        ch = f.split(": ")[1].split(" ")
        out.append(([c.split("(")[0] for c in ch], [float(c.split("(")[1][:-1]) for c in ch]))
    return out


same = len(wl) == len(fl)
for a, b in zip(wl[:10], fl[:10]):  # equal up to rounding of the 4th decimal
    for (ea, wa), (eb, wb) in zip(parse_routes(a), parse_routes(b)):
        same = same and ea == eb and all(abs(x - y) <= 1.5e-4 for x, y in zip(wa, wb))
check(same, "first window equals the full run")
check([l.split("\t")[0] for l in wl] == [str(i) for i in range(n)], "windowed positions")
# thread count changes nothing
one = run(["route", "--model", model, "--file", tf, "--threads", "1"]).stdout
check(one == full, "route output depends on --threads")

# ---- eval
ev = run(["eval", "--model", model, "--file", tf, "--top", "5", "--nll"]).stdout.split("\n")[:-1]
check(ev[0] == "# tokens\t%d" % n, "eval header %r" % ev[0])
top = [l.split("\t") for l in ev[1:6]]
probs = [float(t[2]) for t in top]
check([int(t[0]) for t in top] == [1, 2, 3, 4, 5], "ranks")
check(probs == sorted(probs, reverse=True) and sum(probs) <= 1.0, "sorted probabilities")
scored = [l.split("\t") for l in ev[6:] if not l.startswith("#")]
tail = dict(l[2:].split("\t") for l in ev if l.startswith("# ") and not l.startswith("# tokens"))
check(len(scored) == n - 1 and int(tail["scored"]) == n - 1, "one NLL line per scored token")
check([int(s[0]) for s in scored] == list(range(1, n)), "NLL positions")
total = -sum(float(s[2]) for s in scored)
check(abs(total - float(tail["total_nll"])) < 1e-5 * n, "total NLL %s vs %f" % (tail, total))
check(abs(float(tail["mean_nll"]) - total / (n - 1)) < 1e-5, "mean NLL")
check(abs(math.log(float(tail["perplexity"])) - float(tail["mean_nll"])) < 1e-5, "perplexity")
ej = json.loads(run(["eval", "--model", model, "--file", tf, "--top", "5", "--nll", "--json",
                     "--threads", "1"]).stdout)
check([t["id"] for t in ej["top"]] == [int(t[1]) for t in top], "eval json top ids")
check(all(abs(t["prob"] - p) < 1e-6 for t, p in zip(ej["top"], probs)), "eval json probs")
check(abs(ej["total_nll"] - total) < 1e-4, "eval json total NLL")
check(len(ej["ids"]) == n and ej["ids"][0] == 1, "eval json ids")
# without --nll, the distribution after the text is the same (last-row-only lm_head)
ev2 = run(["eval", "--model", model, "--file", tf, "--top", "5"]).stdout.split("\n")[1:6]
check(ev2 == ev[1:6], "eval without --nll gives the same top tokens")

# windows with --nll: the first token of each window is not scored; the first window's
# scores equal the full run's
ew = run(["eval", "--model", model, "--file", tf, "--top", "1", "--nll", "--window", "10"])
ew = [l.split("\t") for l in ew.stdout.split("\n")[2:-1] if not l.startswith("#")]
check([int(l[0]) for l in ew] == [i for i in range(1, n) if i % 10], "windowed NLL positions")
# (to rounding: sgemm's blocking depends on the number of rows, not on the thread count)
check([l[1] for l in ew[:9]] == [l[1] for l in scored[:9]] and
      all(abs(float(a[2]) - float(b[2])) < 1e-5 for a, b in zip(ew[:9], scored[:9])),
      "first window NLL equals the full run")

# ---- eval --special: the text of control tokens becomes those tokens (<s> 1, </s> 2), the
# ids `tokenize --special` gives (checked against llama.cpp's parse_special by the
# tokenizer_special_llamacpp_* tests); without it such text is plain text, as tokenize's
st = "<s>Question:</s> the river and the sea"
for extra in ([], ["--no-bos"]):
    ev = {sp: json.loads(run(["eval", "--model", model, "--json", "--top", "3", st] + list(sp) +
                             extra).stdout) for sp in ((), ("--special",))}
    tk = {sp: [int(x) for x in run(["tokenize", "--model", model, st] + list(sp) +
                                   extra).stdout.split()] for sp in ((), ("--special",))}
    plain, spec = ev[()]["ids"], ev[("--special",)]["ids"]
    check(plain == tk[()] and spec == tk[("--special",)],
          "eval %s: ids differ from tokenize's: %s / %s vs %s / %s" %
          (extra, plain, spec, tk[()], tk[("--special",)]))
    check(len(spec) < len(plain) and 2 in spec and 2 not in plain and
          spec.count(1) == plain.count(1) + 1,
          "eval %s --special: %d tokens %s vs %d plain" % (extra, len(spec), spec, len(plain)))
    check(ev[()]["top"] != ev[("--special",)]["top"], "eval --special: the same distribution")

# ---- usage and input errors: exit 2, one line on stderr
for args in (["eval", "hello"], ["route", "--model", model], ["route", "--model", model,
             "--layers", "9", "x"], ["eval", "--model", os.path.join(WORK, "nope.gguf"), "x"],
             ["eval", "--model", model, "--top", "0", "x"]):
    r = run(args, rc=2)
    check(r.stderr.count("\n") == 1 and r.stderr.startswith("moescope: error: ") and
          r.stdout == "", "usage error for %s: %r" % (args, r.stderr))

if failures:
    print("%d failure(s)" % failures)
    sys.exit(1)
print("eval/route CLI checks passed (%d tokens)" % n)
