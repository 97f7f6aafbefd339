#!/usr/bin/python3
"""Checks every question/answer pair of DM Mathematics documents independently of the C
generator (corpora/dm_math.c): questions are parsed back from their text and answered here
with Python's exact Fraction / Decimal arithmetic, brute-force enumeration and a tiny
polynomial class. Every question must match a known form (an unknown form fails), and every
answer must be right and written in its canonical form.

usage: samples_dm_check.py [--min-per-kind N] [--mutate] FILE.jsonl...  (DM Mathematics lines)
"""
import itertools
import json
import re
import sys
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction as F

NUM = re.compile(r"\d+(?:\.\d+)?")


class Poly:
    """Univariate polynomial with Fraction coefficients, c[k] for var**k."""

    def __init__(self, c):
        c = [F(x) for x in c]
        while len(c) > 1 and c[-1] == 0:
            c.pop()
        self.c = c

    @staticmethod
    def lift(x):
        return x if isinstance(x, Poly) else Poly([x])

    def __add__(self, o):
        o = Poly.lift(o)
        n = max(len(self.c), len(o.c))
        return Poly([(self.c[i] if i < len(self.c) else 0) + (o.c[i] if i < len(o.c) else 0)
                     for i in range(n)])

    __radd__ = __add__

    def __neg__(self):
        return Poly([-x for x in self.c])

    def __sub__(self, o):
        return self + (-Poly.lift(o))

    def __rsub__(self, o):
        return Poly.lift(o) - self

    def __mul__(self, o):
        o = Poly.lift(o)
        r = [F(0)] * (len(self.c) + len(o.c) - 1)
        for i, a in enumerate(self.c):
            for j, b in enumerate(o.c):
                r[i + j] += a * b
        return Poly(r)

    __rmul__ = __mul__

    def __pow__(self, k):
        r = Poly([1])
        for _ in range(int(k)):
            r = r * self
        return r

    def __eq__(self, o):
        return self.c == Poly.lift(o).c

    def diff(self):
        return Poly([k * self.c[k] for k in range(1, len(self.c))] or [0])


def ev(expr, **vars_):
    """Evaluates a question's expression exactly: every literal becomes a Fraction."""
    if not re.fullmatch(r"[0-9a-z.+\-*/() ]+", expr):
        raise ValueError("unexpected characters in " + expr)
    py = NUM.sub(lambda m: 'F("%s")' % m.group(0), expr)
    return eval(py, {"__builtins__": {}, "F": F}, vars_)


def canon_rat(x):
    return str(x.numerator) if x.denominator == 1 else "%d/%d" % (x.numerator, x.denominator)


def canon_poly(p, v):
    terms = []
    for k in range(len(p.c) - 1, -1, -1):
        c = p.c[k]
        if c == 0:
            continue
        assert c.denominator == 1
        c = int(c)
        var = "" if k == 0 else v if k == 1 else "%s**%d" % (v, k)
        a = abs(c)
        body = str(a) if not var else var if a == 1 else "%d*%s" % (a, var)
        if not terms:
            terms.append(("-" if c < 0 else "") + body)
        else:
            terms.append((" - " if c < 0 else " + ") + body)
    return "".join(terms) or "0"


def canon_dec(d):
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def check_linear_1d(m, ans):
    lhs, rhs, v = m.groups()
    f = lambda x: ev(lhs, **{v: x}) - ev(rhs, **{v: x})
    slope = f(F(1)) - f(F(0))
    assert slope != 0, "no unique solution"
    return canon_rat(-f(F(0)) / slope) == ans


def check_linear_2d(m, ans):
    body, v = m.groups()
    eqs = re.split(r", | and ", body)
    assert len(eqs) == 2, eqs
    names = sorted(set(re.findall(r"[a-z]", "".join(eqs))))
    assert len(names) == 2 and v in names, names
    a, b = names
    rows = []
    for e in eqs:
        lhs, rhs = e.split(" = ")
        g = lambda x, y: ev(lhs, **{a: x, b: y}) - ev(rhs, **{a: x, b: y})
        c0 = g(F(0), F(0))
        rows.append((g(F(1), F(0)) - c0, g(F(0), F(1)) - c0, -c0))
    (p, q, r), (s, t, u) = rows
    det = p * t - q * s
    assert det != 0
    x, y = (r * t - q * u) / det, (p * u - r * s) / det
    return canon_rat(x if v == a else y) == ans


def check_arith(m, ans):
    return canon_rat(F(ev(m.group(2)))) == ans


def check_poly_eval(m, ans):
    f, v, body, f2, x = m.groups()
    assert f == f2
    return canon_rat(ev(body, **{v: F(x)})) == ans


def check_expand(m, ans):
    body = m.group(1)
    names = set(re.findall(r"[a-z]", body))
    assert len(names) == 1
    v = names.pop()
    p = ev(body, **{v: Poly([0, 1])})
    return canon_poly(p, v) == ans


ORDERS = {"first": 1, "second": 2, "third": 3, "two": 2, "three": 3}


def check_diff(m, ans):
    d = m.groupdict()
    body = d["p"]
    names = set(re.findall(r"[a-z]", body))
    assert len(names) == 1
    v = names.pop()
    if d.get("v"):
        assert d["v"] == v
    p = ev(body, **{v: Poly([0, 1])})
    for _ in range(ORDERS.get(d.get("ord") or "first")):
        p = p.diff()
    return canon_poly(p, v) == ans


def check_remainder(m, ans):
    a, q = int(m.group(1)), int(m.group(2))
    return str(a % q) == ans


def gcd(a, b):
    while b:
        a, b = b, a % b
    return abs(a)


def check_gcd(m, ans):
    return str(gcd(int(m.group(2)), int(m.group(3)))) == ans


def check_lcm(m, ans):
    a, b = int(m.group(2)), int(m.group(3))
    return str(a * b // gcd(a, b)) == ans


def check_common_den(m, ans):
    p, a, q, b = (int(x) for x in m.groups())
    assert gcd(p, a) == 1 and gcd(q, b) == 1, "fractions must be in lowest terms"
    return str(a * b // gcd(a, b)) == ans


def isprime(n):
    return n >= 2 and all(n % d for d in range(2, int(n ** 0.5) + 1))


def check_prime(m, ans):
    n, kind = int(m.group(1)), m.group(2)
    truth = isprime(n) if "prime" in kind else not isprime(n)
    return ans == str(truth)


# Units as exact multiples of a base unit; minutes and friends in seconds or months.
UNITS = {
    "kilometers": F(1000), "meters": F(1), "centimeters": F(1, 100), "millimeters": F(1, 1000),
    "micrometers": F(1, 10**6), "nanometers": F(1, 10**9),
    "tonnes": F(10**6), "kilograms": F(1000), "grams": F(1), "milligrams": F(1, 1000),
    "micrograms": F(1, 10**6), "nanograms": F(1, 10**9),
    "kilolitres": F(1000), "litres": F(1), "millilitres": F(1, 1000),
    "seconds": F(1), "milliseconds": F(1, 1000), "microseconds": F(1, 10**6),
    "nanoseconds": F(1, 10**9), "minutes": F(60), "hours": F(3600), "days": F(86400),
    "weeks": F(604800),
    "months": F(1), "years": F(12), "decades": F(120), "centuries": F(1200),
    "millennia": F(12000),
}


def check_units(m, ans):
    d = m.groupdict()
    val = F(d["x"])
    res = val * UNITS[d["frm"]] / UNITS[d["to"]]
    assert res == F(ans), (res, ans)
    return canon_dec(Decimal(ans)) == ans


def parse_bag(s):
    if s.startswith("{"):
        out = ""
        for part in s[1:-1].split(", "):
            k, n = part.split(": ")
            out += k * int(n)
        return out
    return s


WORDS = {"two": 2, "three": 3, "Two": 2, "Three": 3}


def draws(bag, k):
    return list(itertools.permutations(range(len(bag)), k))


def check_prob_seq(m, ans):
    d = m.groupdict()
    bag, k, seq = parse_bag(d["bag"]), WORDS[d["k"]], d["seq"]
    assert len(seq) == k
    all_ = draws(bag, k)
    hit = sum(1 for t in all_ if "".join(bag[i] for i in t) == seq)
    return canon_rat(F(hit, len(all_))) == ans


def check_prob_multi(m, ans):
    d = m.groupdict()
    bag, k = parse_bag(d["bag"]), WORDS[d["k"]]
    want = {}
    for part in d["what"].split(" and "):
        n, c = part.split(" ")
        want[c] = int(n)
    assert sum(want.values()) == k
    all_ = draws(bag, k)
    hit = 0
    for t in all_:
        got = {}
        for i in t:
            got[bag[i]] = got.get(bag[i], 0) + 1
        hit += got == want
    return canon_rat(F(hit, len(all_))) == ans


def check_sequence(m, ans):
    xs = [int(x) for x in m.group(2).split(", ")]
    rows = [xs]
    while len(rows[-1]) > 1:
        r = rows[-1]
        rows.append([b - a for a, b in zip(r, r[1:])])
    nxt = 0
    for r in reversed(rows):
        nxt += r[-1]
    return str(nxt) == ans


def check_which(m, ans):
    kind, a, b = m.groups()
    fa, fb = F(a), F(b)
    assert fa != fb
    want = (a if fa > fb else b) if kind in ("bigger", "greater") else (a if fa < fb else b)
    return ans == want


def check_is(m, ans):
    a, rel, b = m.groups()
    fa, fb = F(a), F(b)
    truth = fa < fb if rel in ("less", "smaller") else fa > fb
    return ans == str(truth)


DP_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
NEAREST = {"ten": 1, "one hundred": 2, "one thousand": 3, "ten thousand": 4,
           "one hundred thousand": 5, "one million": 6}


def check_round(m, ans):
    d = m.groupdict()
    x = Decimal(d["x"])
    if d.get("dp") is not None:
        p = int(d["dp"]) if d["dp"].isdigit() else DP_WORDS[d["dp"]]
        q = Decimal(1).scaleb(-p)
    elif d.get("near") in NEAREST:
        q = Decimal(1).scaleb(NEAREST[d["near"]])
    else:
        q = Decimal(int(d["near"]))
    r = (x / q).quantize(Decimal(1), rounding=ROUND_HALF_UP) * q
    lo = (x / q) - (x / q).to_integral_value(rounding="ROUND_FLOOR")
    assert lo != Decimal("0.5"), "a tie: the rounding rule would matter"
    return Decimal(ans) == r and canon_dec(Decimal(ans)) == ans


PLACES = ["units", "tens", "hundreds", "thousands", "ten thousands", "hundred thousands",
          "millions"]


def check_place(m, ans):
    name, n = m.groups()
    return ans == str(int(n) // 10 ** PLACES.index(name) % 10)


E = r"([-0-9a-z.+*/() ]+?)"
DEC = r"(?P<x>-?\d+(?:\.\d+)?)"
Q = r"(-?\d+(?:/-?\d+)?(?:\.\d+)?)"
BAG = r"(?P<bag>[a-z]+|\{[a-z]: \d+(?:, [a-z]: \d+)*\})"
KINDS = [
    ("linear_1d", r"Solve " + E + r" = " + E + r" for ([a-z])\.", check_linear_1d),
    ("linear_2d", r"Solve (.+ = .+(?:, | and ).+ = .+) for ([a-z])\.", check_linear_2d),
    ("arithmetic", r"(Calculate|What is|Evaluate|What is the value of|Compute|Work out) "
     r"([-0-9.+*/() ]+)[.?]", check_arith),
    ("poly_eval", r"Let ([a-z])\(([a-z])\) = (.+)\. (?:What is|Calculate|Determine|Give|"
     r"What is the value of) ([a-z])\((-?\d+)\)[.?]", check_poly_eval),
    ("expand", r"Expand (.+)\.", check_expand),
    ("diff", r"Differentiate (?P<p>[-0-9a-z*+ ]+?) (?P<ord>two|three) times wrt (?P<v>[a-z])\.",
     check_diff),
    ("diff", r"(?:Differentiate|What is the derivative of|Find the first derivative of) "
     r"(?P<p>[-0-9a-z*+ ]+?)(?: (?:with respect to|wrt) (?P<v>[a-z]))?[.?]",
     check_diff),
    ("diff", r"(?:What is|Find) the (?P<ord>second|third) derivative of (?P<p>[-0-9a-z*+ ]+?)"
     r"(?: wrt (?P<v>[a-z]))?[.?]", check_diff),
    ("remainder", r"(?:What is|Calculate) the remainder when (\d+) is divided by (\d+)[.?]",
     check_remainder),
    ("gcd", r"(?:What is|Calculate) the (greatest common divisor|highest common factor|"
     r"greatest common factor|highest common divisor) of (\d+) and (\d+)[.?]", check_gcd),
    ("lcm", r"(?:What is|Calculate) the (least common multiple|smallest common multiple|"
     r"lowest common multiple) of (\d+) and (\d+)[.?]", check_lcm),
    ("lcm", r"Find the common denominator of (-?\d+)/(\d+) and (-?\d+)/(\d+)\.",
     check_common_den),
    ("prime", r"Is (\d+) (a prime number|prime|composite|a composite number)\?", check_prime),
    ("units", r"How many (?P<to>[a-z]+) are there in " + DEC + r" (?P<frm>[a-z]+)\?", check_units),
    ("units", r"What is " + DEC + r" (?P<frm>[a-z]+) in (?P<to>[a-z]+)\?", check_units),
    ("units", r"Convert " + DEC + r" (?P<frm>[a-z]+) to (?P<to>[a-z]+)\.", check_units),
    ("probability", r"(?P<k>Two|Three) letters picked without replacement from " + BAG +
     r"\. What is prob of sequence (?P<seq>[a-z]+)\?", check_prob_seq),
    ("probability", r"Calculate prob of sequence (?P<seq>[a-z]+) when (?P<k>two|three) letters "
     r"picked without replacement from " + BAG + r"\.", check_prob_seq),
    ("probability", r"What is prob of picking (?P<what>\d [a-z](?: and \d [a-z])*) when "
     r"(?P<k>two|three) letters picked without replacement from " + BAG + r"\?",
     check_prob_multi),
    ("probability", r"(?P<k>Two|Three) letters picked without replacement from " + BAG +
     r"\. Give prob of picking (?P<what>\d [a-z](?: and \d [a-z])*)\.", check_prob_multi),
    ("sequence", r"(What is next in|What comes next:|What is the next term in) "
     r"(-?\d+(?:, -?\d+){3,})\?", check_sequence),
    ("comparison", r"Which is (bigger|greater|smaller): " + Q + " or " + Q + r"\?", check_which),
    ("comparison", r"Is " + Q + r" (less|greater|bigger|smaller) than " + Q + r"\?", check_is),
    ("rounding", r"Round " + DEC + r" to (?P<dp>\d|one|two|three|four|five|six) decimal places?\.",
     check_round),
    ("rounding", r"What is " + DEC + r" rounded to (?P<dp>\d) dps?\?", check_round),
    ("rounding", r"Round " + DEC + r" to the nearest (?P<near>[a-z ]+)\.", check_round),
    ("rounding", r"What is " + DEC + r" rounded to the nearest (?P<near>\d+)\?", check_round),
    ("place_value", r"What is the ([a-z ]+) digit of (\d+)\?", check_place),
]


def check_pair(q, a):
    """Returns the kind of a question whose answer is right; raises on anything else."""
    for kind, pat, fn in KINDS:
        m = re.fullmatch(pat, q)
        if not m:
            continue
        if fn(m, a):
            return kind
        raise AssertionError("wrong answer %r" % a)
    raise AssertionError("no known question form")


def mutate(a):
    """A wrong answer near the right one, or the other truth value."""
    if a in ("True", "False"):
        return "False" if a == "True" else "True"
    m = re.search(r"\d+", a)
    return a[:m.start()] + str(int(m.group(0)) + 1) + a[m.end():]


def main():
    args = sys.argv[1:]
    # --mutate: every answer made wrong must be rejected (the checker can fail).
    mutate_mode = "--mutate" in args
    if mutate_mode:
        args.remove("--mutate")
    min_per_kind = 0
    if "--min-per-kind" in args:
        i = args.index("--min-per-kind")
        min_per_kind = int(args[i + 1])
        del args[i:i + 2]
    counts, fails, docs = {}, 0, 0
    for path in args:
        for ln, line in enumerate(open(path, encoding="utf-8"), 1):
            o = json.loads(line)
            if o["meta"]["pile_set_name"] != "DM Mathematics":
                continue
            docs += 1
            lines = o["text"].split("\n")
            if lines[-1] != "" or len(lines) % 2 != 1 or len(lines) < 3:
                print("FAIL %s:%d: not question/answer line pairs ending in a newline" % (path, ln))
                fails += 1
                continue
            for i in range(0, len(lines) - 1, 2):
                q, a = lines[i], lines[i + 1]
                if mutate_mode:
                    try:
                        check_pair(q, mutate(a))
                        print("FAIL %s:%d: wrong answer accepted: %r -> %r" % (path, ln, q, mutate(a)))
                        fails += 1
                    except Exception:
                        counts["rejected"] = counts.get("rejected", 0) + 1
                    continue
                try:
                    kind = check_pair(q, a)
                    counts[kind] = counts.get(kind, 0) + 1
                except Exception as e:  # any parse or check failure is a test failure
                    print("FAIL %s:%d: %r -> %r: %s" % (path, ln, q, a, e))
                    fails += 1
    total = sum(counts.values())
    print("dm-math check: %d documents, %d pairs verified: %s" % (
        docs, total, ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
    want = {k for k, _, _ in KINDS}
    short = [k for k in sorted(want) if counts.get(k, 0) < min_per_kind and not mutate_mode]
    if short:
        print("FAIL: fewer than %d pairs of: %s" % (min_per_kind, ", ".join(short)))
        fails += 1
    if docs == 0:
        print("FAIL: no DM Mathematics documents")
        fails += 1
    print("%d passed, %d failed" % (total, fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
