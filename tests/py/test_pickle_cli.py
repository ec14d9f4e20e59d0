#!/usr/bin/python3
"""CLI behaviour of `bulwark disasm`: stdout listing, stderr diagnostics, exit codes
(0 decoded, 2 usage, 3 broken stream or unreadable file), text and json output,
`bulwark help disasm`."""
import json
import os
import subprocess
import sys
import tempfile

BW = os.environ.get("BW")
if not BW:
    sys.exit("BW is not set (run through ctest)")
fails = []
tmp = tempfile.mkdtemp()


def run(*args):
    return subprocess.run([BW] + list(args), capture_output=True)


def write(name, data):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def expect(cond, what):
    if not cond:
        fails.append(what)


good = write("good.pkl", b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.")
broken = write("broken.pkl", b"cos\nsystem\n(S'id'\ntR")

p = run("disasm", good)
out = p.stdout.decode()
expect(p.returncode == 0, "good: exit %d" % p.returncode)
expect("STACK_GLOBAL" in out and "os.system" in out and "('id',)" in out, "good: text listing: " + out)

p = run("disasm", "--format", "json", good)
expect(p.returncode == 0, "good json: exit %d" % p.returncode)
doc = json.loads(p.stdout)
expect([o["op"] for o in doc["ops"]] == ["PROTO", "SHORT_BINUNICODE", "SHORT_BINUNICODE", "STACK_GLOBAL",
                                          "SHORT_BINUNICODE", "TUPLE1", "REDUCE", "STOP"], "json ops")
expect(doc["imports"][0]["module"] == "os" and doc["imports"][0]["name"] == "system", "json import")
expect(doc["calls"][0]["args"] == "('id',)" and doc["calls"][0]["how"] == "REDUCE", "json call")
expect(doc["incomplete"] is None, "json incomplete")

p = run("disasm", "--format", "json", broken)
expect(p.returncode == 3, "broken: exit %d" % p.returncode)
doc = json.loads(p.stdout)
expect(doc["incomplete"] is not None and doc["incomplete"]["why"] == "truncated", "broken: incomplete")
expect(any(c["name"] == "system" for c in doc["calls"]), "broken: call before the break kept")

p = run("disasm", broken)
expect(p.returncode == 3 and b"INCOMPLETE" in p.stdout, "broken text")

p = run("disasm", os.path.join(tmp, "missing.pkl"))
expect(p.returncode == 3 and p.stderr.startswith(b"bulwark disasm: "), "missing file: %r" % (p.stderr,))

for args in (["disasm"], ["disasm", "--format", "xml", good], ["disasm", "--bogus", good],
             ["disasm", good, good], ["disasm", "--format", "sarif", good]):
    p = run(*args)
    expect(p.returncode == 2, "usage %r: exit %d" % (args, p.returncode))

p = run("help", "disasm")
expect(p.returncode == 0 and b"usage: bulwark disasm" in p.stdout, "help disasm")

for f in fails:
    print("FAIL:", f)
print("%d failures" % len(fails))
sys.exit(1 if fails else 0)
