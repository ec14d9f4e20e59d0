"""Helpers shared by the tensor differential tests (not a test itself:
ctest runs only tests/py/test_*.py). Debian's /usr/bin/python3 with
python3-torch, python3-onnx and numpy."""
import json
import os
import struct
import subprocess
import sys

import numpy as np

BW = os.environ.get("BW")
if not BW:
    print("BW is not set (run through ctest)", file=sys.stderr)
    sys.exit(1)


def save_npy(path, arr):
    np.save(path, arr)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    hdr = json.loads(data[8:8 + n])
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(data[8 + n + b:8 + n + e], dtype="<f4").reshape(v["shape"])
    return out


def bw(*args, check=True):
    p = subprocess.run([BW, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"bulwark {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def rel_err(a, ref):
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        return float("inf")
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    if scale == 0.0:
        return float(np.max(np.abs(a))) if a.size else 0.0
    return float(np.max(np.abs(a - ref)) / scale)
