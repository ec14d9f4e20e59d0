#!/usr/bin/python3
"""Tampering: every single-byte change of a model file, of the DSSE payload or
of the signature must fail `bulwark verify` (exit 1) with a precise message,
and adding, removing or renaming a file must be named in the result.
Random flips with a fixed seed (reproducible), a few hundred in total.
"""
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

BW = os.environ.get("BW")
if not BW:
    sys.exit("BW must be set (run through ctest)")

rng = random.Random(20261121)
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, file=sys.stderr)


def verify(model, pub, sig=None, extra=()):
    args = [BW, "verify", model, "--key", pub, "--format", "json"] + list(extra)
    if sig:
        args += ["--signature", sig]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    doc = json.loads(p.stdout) if p.stdout.strip().startswith("{") else {}
    return p.returncode, doc, p.stderr


def failed_check(doc):
    for c in doc.get("checks", []):
        if not c["ok"]:
            return c["check"]
    return None


with tempfile.TemporaryDirectory() as tmp:
    model = os.path.join(tmp, "model")
    os.makedirs(os.path.join(model, "sub"))
    contents = {
        "weights.bin": bytes(rng.getrandbits(8) for _ in range(4096)),
        "config.json": b'{"hidden": 64, "layers": 2}\n',
        "sub/tokenizer.txt": b"a b c d e f\n" * 50,
    }
    for n, c in contents.items():
        open(os.path.join(model, n), "wb").write(c)
    subprocess.run([BW, "keygen", "--out", os.path.join(tmp, "k")], check=True, capture_output=True)
    pub = os.path.join(tmp, "k.pub.pem")
    sig = os.path.join(tmp, "model.sig")
    p = subprocess.run([BW, "sign", "--key", os.path.join(tmp, "k.priv.pem"), "--signature", sig, model],
                       capture_output=True, text=True)
    check(p.returncode == 0, "sign: " + p.stderr)
    rc, doc, err = verify(model, pub, sig)
    check(rc == 0 and doc.get("verified") is True, "pristine model verifies")

    # 1. single-byte changes of model files: exit 1, the file named "changed".
    names = sorted(contents)
    for i in range(100):
        n = rng.choice(names)
        path = os.path.join(model, n)
        data = bytearray(contents[n])
        off = rng.randrange(len(data))
        data[off] ^= rng.randrange(1, 256)
        open(path, "wb").write(data)
        rc, doc, err = verify(model, pub, sig)
        files = doc.get("files", [])
        check(rc == 1 and files == [{"kind": "changed", "name": n}] and failed_check(doc) == "manifest",
              f"file flip {n}@{off}: rc={rc} files={files} {err}")
        open(path, "wb").write(contents[n])

    bundle = json.load(open(sig))
    payload = base64.b64decode(bundle["dsseEnvelope"]["payload"])
    sigbytes = base64.b64decode(bundle["dsseEnvelope"]["signatures"][0]["sig"])
    bad = os.path.join(tmp, "bad.sig")

    def write_bundle(pl, sg):
        b = json.loads(json.dumps(bundle))
        b["dsseEnvelope"]["payload"] = base64.b64encode(pl).decode()
        b["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(sg).decode()
        json.dump(b, open(bad, "w"))

    # 2. single-byte changes of the payload: the signature check fails.
    for i in range(60):
        pl = bytearray(payload)
        off = rng.randrange(len(pl))
        pl[off] ^= rng.randrange(1, 256)
        write_bundle(bytes(pl), sigbytes)
        rc, doc, err = verify(model, pub, bad)
        check(rc == 1 and doc.get("verified") is False and failed_check(doc) == "signature",
              f"payload flip @{off}: rc={rc} failed={failed_check(doc)}")

    # 3. single-byte changes of the signature: the signature check fails.
    for i in range(60):
        sg = bytearray(sigbytes)
        off = rng.randrange(len(sg))
        sg[off] ^= rng.randrange(1, 256)
        write_bundle(payload, bytes(sg))
        rc, doc, err = verify(model, pub, bad)
        check(rc == 1 and failed_check(doc) == "signature", f"signature flip @{off}: rc={rc} {failed_check(doc)}")

    # 4. files added, removed, renamed (file and folder), each named.
    def case(what, mutate, undo, want):
        mutate()
        rc, doc, err = verify(model, pub, sig)
        got = sorted(doc.get("files", []), key=lambda d: (d["kind"], d["name"]))
        check(rc == 1 and got == sorted(want, key=lambda d: (d["kind"], d["name"])),
              f"{what}: rc={rc} files={got}")
        undo()

    extra = os.path.join(model, "sub", "extra.bin")
    case("add", lambda: open(extra, "wb").write(b"x"), lambda: os.remove(extra),
         [{"kind": "added", "name": "sub/extra.bin"}])
    cfg = os.path.join(model, "config.json")
    case("remove", lambda: os.remove(cfg), lambda: open(cfg, "wb").write(contents["config.json"]),
         [{"kind": "removed", "name": "config.json"}])
    moved = os.path.join(model, "config-renamed.json")
    case("rename", lambda: os.rename(cfg, moved), lambda: os.rename(moved, cfg),
         [{"kind": "renamed", "name": "config.json", "new_name": "config-renamed.json"}])
    case("rename folder", lambda: os.rename(os.path.join(model, "sub"), os.path.join(model, "sub2")),
         lambda: os.rename(os.path.join(model, "sub2"), os.path.join(model, "sub")),
         [{"kind": "renamed", "name": "sub/tokenizer.txt", "new_name": "sub2/tokenizer.txt"}])
    # an empty file added is still an unsigned file
    empty = os.path.join(model, "empty")
    case("add empty", lambda: open(empty, "wb").close(), lambda: os.remove(empty),
         [{"kind": "added", "name": "empty"}])
    # --ignore-unsigned-files tolerates additions but never removals
    open(extra, "wb").write(b"x")
    rc, doc, err = verify(model, pub, sig, ["--ignore-unsigned-files"])
    check(rc == 0, f"ignore-unsigned-files accepts an added file: {doc.get('reason')}")
    os.remove(extra)
    # a symlink where a file was is refused (the signature did not allow symlinks)
    os.rename(cfg, moved)
    os.symlink(moved, cfg)
    rc, doc, err = verify(model, pub, sig)
    check(rc == 1 and "symbolic link" in doc.get("reason", ""), f"symlink swap refused: {doc.get('reason')}")
    os.remove(cfg)
    os.rename(moved, cfg)
    rc, doc, err = verify(model, pub, sig)
    check(rc == 0, "restored model verifies again")

    # 5. text output names the change too.
    open(os.path.join(model, "weights.bin"), "ab").write(b"!")
    p = subprocess.run([BW, "verify", model, "--key", pub, "--signature", sig], capture_output=True, text=True)
    check(p.returncode == 1 and "changed: weights.bin" in p.stdout and "FAILED" in p.stdout,
          "text output names the changed file")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
