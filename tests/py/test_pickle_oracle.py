#!/usr/bin/python3
"""Stack, mark and memo semantics against the real C unpickler.

Random opcode sequences built only from structural opcodes (no imports, no
calls) are loaded with CPython's C unpickler (pickle.loads) and with
`bulwark disasm`. Whenever the C unpickler rejects the stream structurally
(UnpicklingError, EOFError, memo KeyError) bulwark must report a broken stream
(exit 3); whenever it accepts it, bulwark must decode it to STOP (exit 0).
Runtime errors of the built objects (unhashable dict keys, append on a
dict, ...) are skipped: the symbolic machine does not model object behaviour.
Deterministic (fixed seed).
"""
import os
import pickle
import random
import subprocess
import sys
import tempfile

BW = os.environ.get("BW")
if not BW:
    sys.exit("BW is not set (run through ctest)")

POOL = [b"(", b"0", b"1", b"2", b"N", b"K\x01", b"K\x02", b"]", b"}", b")", b"\x8f", b"a", b"e", b"s",
        b"u", b"\x90", b"t", b"\x85", b"\x86", b"\x87", b"l", b"d", b"\x91", b"q\x00", b"q\x01",
        b"h\x00", b"h\x01", b"\x94", b"\x88", b"I7\n", b"p3\n", b"g3\n", b"\x8c\x01x", b"F1.5\n"]

PUSH = [b"N", b"K\x01", b"K\x02", b"]", b"}", b")", b"\x8c\x01x", b"(", b"h\x00", b"\x88"]

rng = random.Random(20261121)
fails = []
checked = {"ok": 0, "broken": 0, "skipped": 0}
tmp = tempfile.mkdtemp()
path = os.path.join(tmp, "o.pkl")

for n in range(2500):
    body = b"".join(rng.choice(PUSH if rng.random() < 0.55 else POOL) for _ in range(rng.randint(1, 12)))
    data = b"\x80\x04" + body + b"."
    try:
        pickle.loads(data)
        expect = 0
    except (pickle.UnpicklingError, EOFError, KeyError):
        expect = 3
    except Exception:
        checked["skipped"] += 1
        continue
    with open(path, "wb") as f:
        f.write(data)
    p = subprocess.run([BW, "disasm", "--format", "json", path], capture_output=True)
    if p.returncode != expect:
        fails.append("%r: C unpickler %s, bulwark exit %d" % (data, "accepts" if expect == 0 else "rejects",
                                                             p.returncode))
    checked["ok" if expect == 0 else "broken"] += 1

for f in fails[:30]:
    print("FAIL:", f)
print("%r; %d failures" % (checked, len(fails)))
if checked["ok"] < 100 or checked["broken"] < 100:
    print("FAIL: too few informative cases")
    sys.exit(1)
sys.exit(1 if fails else 0)
