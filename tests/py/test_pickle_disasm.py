#!/usr/bin/python3
"""Differential test of `bulwark disasm` against Lib/pickletools.genops.

Generates many pickles with Debian's python3 (every protocol 0-5, nested
containers, big ints, floats, unicode with surrogates, bytes, sets, classes,
out-of-band buffers, hand-written protocol 0/1 opcodes, torch state dicts in
zip and legacy form, numpy arrays), runs `$BW disasm --format json FILE` and
compares every opcode's offset, name and decoded argument with pickletools.
Fails loudly on the first mismatch of each file and at the end.
"""
import collections
import io
import math
import json
import os
import pickle
import pickletools
import subprocess
import sys
import tempfile
import zipfile

BW = os.environ.get("BW")
if not BW:
    sys.exit("BW is not set (run through ctest)")

failures = []
checked_ops = 0


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a, self.b = 1, [2]


class WithNewArgs:
    def __new__(cls, *a, **k):
        return super().__new__(cls)

    def __getnewargs_ex__(self):
        return (1, 2), {"k": 3}


def norm_pickletools(op, arg):
    """Our JSON encoding of a pickletools argument."""
    if op.arg is None:
        return None
    t = op.arg.name
    if t in ("uint1", "uint2", "int4", "uint4", "uint8", "long1", "long4", "decimalnl_long"):
        return {"int": str(arg)}
    if t == "decimalnl_short":
        if isinstance(arg, bool):
            return {"bool": arg}
        return {"int": str(arg)}
    if t in ("floatnl", "float8"):
        return {"float": arg}
    if t in ("stringnl", "string1", "string4"):
        return {"bytes": arg.encode("latin-1").hex()}
    if t in ("stringnl_noescape", "stringnl_noescape_pair"):
        return {"str": arg.encode("utf-8").hex()}
    if t in ("bytes1", "bytes4", "bytes8", "bytearray8"):
        return {"bytes": bytes(arg).hex()}
    if t in ("unicodestringnl", "unicodestring1", "unicodestring4", "unicodestring8"):
        return {"str": arg.encode("utf-8", "surrogatepass").hex()}
    raise AssertionError("unhandled argument type %s" % t)


def same_arg(ours, ref):
    if ref is None or ours is None:
        return ours is None and ref is None
    if "float" in ref:
        if "float" not in ours:
            return False
        v = float(ours["float"])
        return (math.isnan(v) and math.isnan(ref["float"])) or (
            v == ref["float"] and math.copysign(1, v) == math.copysign(1, ref["float"]))
    return ours == ref


def ref_ops(data, n_streams):
    f = io.BytesIO(data)
    out = []
    for s in range(n_streams):
        for op, arg, pos in pickletools.genops(f):
            out.append((s, pos, op.name, norm_pickletools(op, arg)))
    return out


def check(name, data, n_streams=1, expect_rc=0):
    global checked_ops
    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as t:
        t.write(data)
        path = t.name
    try:
        p = subprocess.run([BW, "disasm", "--format", "json", path], capture_output=True)
    finally:
        os.unlink(path)
    if p.returncode != expect_rc:
        failures.append("%s: exit %d (expected %d): %s" % (name, p.returncode, expect_rc,
                                                            p.stderr.decode()[:300]))
        return None
    doc = json.loads(p.stdout)
    ours = [(o["stream"], o["offset"], o["op"], o["arg"]) for o in doc["ops"]]
    ref = ref_ops(data, n_streams)
    if len(ours) != len(ref):
        failures.append("%s: %d opcodes, pickletools has %d" % (name, len(ours), len(ref)))
    for a, b in zip(ours, ref):
        if a[:3] != b[:3] or not same_arg(a[3], b[3]):
            failures.append("%s: mismatch at offset %s: ours %r, pickletools %r" % (name, b[1], a, b))
            break
        checked_ops += 1
    return doc


def no_anomaly_above_info(name, doc, allowed=("pickle.persistent-id", "pickle.multiple-streams")):
    if doc is None:
        return
    for f in doc["findings"]:
        if f["rule"] not in allowed:
            failures.append("%s: unexpected finding %s: %s" % (name, f["rule"], f["message"]))
    if doc["incomplete"] is not None:
        failures.append("%s: incomplete: %r" % (name, doc["incomplete"]))


objects = {
    "scalars": [None, True, False, 0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31 - 1, 2**31,
                2**63, -2**63 - 1, 2**64, 2**200, -(2**200), 2**2100, -(2**2100) + 7],
    "floats": [0.0, -0.0, 1.5, -2.25e-300, 1e300, float("inf"), float("-inf"), float("nan"),
               0.1, 1 / 3],
    "text": ["", "a", "héllo", "日本語", "\U0001f600", "\ud800x\udfff", "quote'\"\\n\n\t\x00",
             "x" * 300, "y" * 70000],
    "bytes": [b"", b"\x00\xff", b"abc" * 100, bytes(range(256)), bytearray(b"ba")],
    "containers": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), [], [[]], {}, {"a": {"b": [1, (2,)]}},
                   set(), {1, 2}, frozenset(), frozenset({3}), list(range(2500)),
                   {i: str(i) for i in range(1200)}],
    "shared": None,
    "classes": [Point(1, "a"), Slotted(), collections.OrderedDict(a=1), collections.deque([1]),
                range(3), complex(1, 2), slice(1, 2), WithNewArgs()],
}
shared = [1, 2]
objects["shared"] = [shared, shared, {"k": shared}]

for proto in range(6):
    for key, obj in objects.items():
        try:
            data = pickle.dumps(obj, protocol=proto)
        except Exception as e:  # objects a protocol cannot express
            continue
        doc = check("%s-p%d" % (key, proto), data)

# protocol 5 out-of-band buffers: NEXT_BUFFER / READONLY_BUFFER
import pickle as _p
bufs = []
data = pickle.dumps([pickle.PickleBuffer(b"abc"), pickle.PickleBuffer(bytearray(b"de"))], protocol=5,
                    buffer_callback=bufs.append)
check("oob-p5", data)

# hand-written protocol 0/1 opcodes pickletools knows but Python 3 no longer emits
hand = {
    "string-ops": b"(S'abc'\nS\"d\\x41\\n\"\nT\x03\x00\x00\x00xyzU\x02hiI7\nI00\nI01\nL12345678901234567890L\nF1.5\ntp0\n.",
    "persid": b"(Pfoo\nI1\nQI2\nt.",
    "inst-obj": b"(I1\nicollections\nOrderedDict\n(ccollections\nOrderedDict\no0(I1\ni__builtin__\nlist\n.",
    "memo": b"(I1\np0\ng0\nI2\nq\x01h\x01r\x02\x00\x00\x00j\x02\x00\x00\x00t.",
    "ext": b"\x80\x02\x82\x01\x83\x02\x01\x84\x03\x00\x00\x00\x87.",
    "dup-pop": b"I1\n20(I2\n1(0.",
}
for name, data in hand.items():
    check(name, data)

# torch: zip checkpoint pickles and the legacy format
try:
    import torch
except ImportError:
    sys.exit("python3-torch is not installed: this test needs it")
import numpy

sd = collections.OrderedDict(w=torch.zeros(3, 2), b=torch.arange(4, dtype=torch.int64),
                             h=torch.ones(2, dtype=torch.float16))
ck = {"model": sd, "epoch": 3, "opt": {"lr": 0.1, "betas": (0.9, 0.99)}, "name": "x"}
for i, obj in enumerate([sd, ck, torch.nn.Linear(2, 3).state_dict()]):
    bio = io.BytesIO()
    torch.save(obj, bio)
    with zipfile.ZipFile(io.BytesIO(bio.getvalue())) as z:
        pk = [n for n in z.namelist() if n.endswith("data.pkl")][0]
        data = z.read(pk)
    doc = check("torch-zip-%d" % i, data)
    no_anomaly_above_info("torch-zip-%d" % i, doc)
    bio = io.BytesIO()
    torch.save(obj, bio, _use_new_zipfile_serialization=False)
    data = bio.getvalue()
    doc = check("torch-legacy-%d" % i, data, n_streams=5)
    no_anomaly_above_info("torch-legacy-%d" % i, doc)
    if doc is not None and "pytorch-legacy" not in doc["formats"]:
        failures.append("torch-legacy-%d: format not recognised: %r" % (i, doc["formats"]))

for proto in range(6):
    for arr in [numpy.arange(6, dtype=numpy.float32).reshape(2, 3), numpy.array(["a", "bc"]),
                numpy.array([1, None], dtype=object), numpy.zeros((), dtype=numpy.int8)]:
        data = pickle.dumps(arr, protocol=proto)
        doc = check("numpy-p%d-%s" % (proto, arr.dtype), data)
        no_anomaly_above_info("numpy-p%d-%s" % (proto, arr.dtype), doc)

if checked_ops < 5000:
    failures.append("only %d opcodes compared" % checked_ops)
for f in failures:
    print("FAIL:", f)
print("%d opcodes compared, %d failures" % (checked_ops, len(failures)))
sys.exit(1 if failures else 0)
