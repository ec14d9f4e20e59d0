"""Shared helpers for bulwark's Python-side tests (Debian's /usr/bin/python3)."""
import json
import os
import struct
import subprocess
import sys

BW = os.environ.get("BW")
SRC = os.environ.get("BW_SRC")
TESTDATA = os.environ.get("BW_TESTDATA")
if not BW:
    sys.exit("BW (the bulwark binary) is not set: run through ctest")

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, file=sys.stderr)


def done():
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 and passed > 0 else 1)


def run(*args, timeout=120):
    p = subprocess.run([BW, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def require_testdata():
    if not TESTDATA or not os.path.exists(os.path.join(TESTDATA, "corpus", "MANIFEST.txt")):
        sys.exit(f"*** ../shared/testdata is ABSENT ({TESTDATA}): this test cannot run ***")
    return TESTDATA


def read_safetensors(path):
    """Independent safetensors reader: returns {name: (dtype, shape, bytes)} and metadata."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    end_max = 0
    for name, ent in header.items():
        b, e = ent["data_offsets"]
        end_max = max(end_max, e)
        out[name] = (ent["dtype"], ent["shape"], body[b:e])
    assert end_max == len(body), "safetensors body has trailing bytes"
    return out, meta
