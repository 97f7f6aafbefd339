"""Shared by the gguf/quant oracle scripts: a checkout of llama.cpp's source from the
git bundle that node-llama-cpp ships (tests/oracle/node_modules/node-llama-cpp/llama/
gitRelease.bundle), cloned once per build directory under a file lock, and its gguf-py
put on sys.path. Anything missing is an error (the oracle tests fail, never skip)."""
import fcntl
import os
import subprocess
import sys

BUNDLE_REL = "oracle/node_modules/node-llama-cpp/llama/gitRelease.bundle"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def checkout(tests_dir, work_root):
    """Returns the path of a llama.cpp checkout under work_root (cloned if needed)."""
    bundle = os.path.join(tests_dir, BUNDLE_REL)
    if not os.path.isfile(bundle):
        fail("llama.cpp source bundle not found: %s (run npm ci in tests/oracle)" % bundle)
    os.makedirs(work_root, exist_ok=True)
    dest = os.path.join(work_root, "llama.cpp")
    with open(os.path.join(work_root, "llama.cpp.lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        marker = os.path.join(dest, "gguf-py", "gguf", "quants.py")
        if not os.path.isfile(marker):
            subprocess.run(["rm", "-rf", dest], check=True)
            r = subprocess.run(["git", "-c", "advice.detachedHead=false", "clone", "-q",
                                bundle, dest], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if r.returncode != 0 or not os.path.isfile(marker):
                # git's last lines say why (a full disk, a damaged bundle); one line of them
                why = " | ".join(r.stdout.decode(errors="replace").strip().splitlines()[-3:])
                fail("git clone of %s into %s failed (exit %d): %s"
                     % (bundle, dest, r.returncode, why or "no output"))
    return dest


def import_gguf(tests_dir, work_root):
    """Imports numpy and gguf-py from the checkout; returns (np, gguf, checkout path)."""
    src = checkout(tests_dir, work_root)
    try:
        import numpy as np
    except ImportError as e:
        fail("numpy is missing (%s): use /usr/bin/python3 with python3-numpy" % e)
    sys.path.insert(0, os.path.join(src, "gguf-py"))
    try:
        import gguf
        import gguf.quants
    except Exception as e:  # noqa: BLE001 — any import problem is a test failure
        fail("cannot import gguf-py from %s: %s" % (src, e))
    return np, gguf, src
