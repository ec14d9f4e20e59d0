"""bulwark convert: differential test against Debian's python3-torch.

Checkpoints of several shapes are written by torch.save, converted by bulwark, read
back with an independent safetensors reader into torch tensors, and compared with
torch.load of the original (files made by the test itself). Files outside the tensor-rebuilding
subset must be refused with their import named.
"""
import collections
import os
import pickle
import tempfile

import torch

from bwtest import check, done, read_safetensors, run

DT = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
      "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
      "U8": torch.uint8, "BOOL": torch.bool}


def flatten(obj, prefix=""):
    out = {}
    if isinstance(obj, torch.Tensor):
        out[prefix or "tensor"] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, (str, int)) and not isinstance(k, bool):
                out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}.{i}" if prefix else str(i)))
    return out


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 10)


def models():
    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.Adam(net.parameters())
    net(torch.zeros(1)) if False else None
    loss = net.fc(torch.randn(4, 8)).sum()
    loss.backward()
    opt.step()
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    yield "state_dict", net.state_dict()
    yield "checkpoint", {"epoch": 3, "model": net.state_dict(), "optimizer": opt.state_dict(),
                         "note": "honest"}
    yield "views", collections.OrderedDict(
        t=base.t(), row=base[1], col=base[:, 2], strided=base[::2, ::3], shared=base, scalar=torch.tensor(3.5))
    yield "dtypes", {"f16": torch.randn(3, dtype=torch.float16), "bf16": torch.randn(3).bfloat16(),
                     "f64": torch.randn(2, 2, dtype=torch.float64), "i64": torch.arange(5),
                     "i32": torch.arange(5, dtype=torch.int32), "u8": torch.arange(5, dtype=torch.uint8),
                     "bool": torch.tensor([True, False]), "empty": torch.zeros(0, 3)}
    yield "list", [torch.ones(2), torch.zeros(3)]


def compare(name, path, out):
    # the files were written by this test (trusted); Debian torch 1.13 weights_only lacks BINFLOAT
    ref = flatten(torch.load(path, weights_only=False))
    got, meta = read_safetensors(out)
    check(set(ref) == set(got), f"{name}: names differ: {sorted(set(ref) ^ set(got))}")
    check(meta.get("format") == "pt", f"{name}: metadata format")
    for k, t in ref.items():
        if k not in got:
            continue
        dtype, shape, raw = got[k]
        check(DT[dtype] == t.dtype, f"{name}:{k}: dtype {dtype} vs {t.dtype}")
        check(list(shape) == list(t.shape), f"{name}:{k}: shape {shape} vs {list(t.shape)}")
        if raw:
            mine = torch.frombuffer(bytearray(raw), dtype=DT[dtype]).reshape(shape)
        else:
            mine = torch.zeros(shape, dtype=DT[dtype])
        check(torch.equal(mine, t.contiguous()), f"{name}:{k}: values differ")


def main():
    with tempfile.TemporaryDirectory() as d:
        for name, obj in models():
            for legacy in (True, False):
                tag = name + ("-legacy" if legacy else "-zip")
                path = os.path.join(d, tag + ".pt")
                torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
                out = os.path.join(d, tag + ".safetensors")
                rc, so, se = run("convert", path, "-o", out)
                check(rc == 0, f"{tag}: convert exit {rc}: {se}")
                if rc == 0:
                    compare(tag, path, out)

        # refused: a checkpoint holding an object outside the subset (never loaded here)
        class Evil:
            def __reduce__(self):
                return (os.system, ("echo bulwark-test",))
        bad = os.path.join(d, "evil.pt")
        for legacy in (True, False):
            torch.save({"w": torch.ones(2), "x": Evil()}, bad, _use_new_zipfile_serialization=not legacy)
            rc, so, se = run("convert", bad, "-o", os.path.join(d, "evil.safetensors"))
            check(rc == 1, f"evil (legacy={legacy}): exit {rc}, want 1 (refused)")
            check("posix.system" in se or "os.system" in se, f"evil: refusal names the import: {se}")
            check(not os.path.exists(os.path.join(d, "evil.safetensors")), "evil: no output written")

        # truncated input: malformed, exit 3, no output
        with open(os.path.join(d, "state_dict-legacy.pt"), "rb") as f:
            blob = f.read()
        trunc = os.path.join(d, "trunc.pt")
        with open(trunc, "wb") as f:
            f.write(blob[: len(blob) - 40])
        rc, so, se = run("convert", trunc, "-o", os.path.join(d, "trunc.safetensors"))
        check(rc == 3, f"truncated: exit {rc}, want 3: {se}")

        rc, so, se = run("convert", trunc)
        check(rc == 2, "missing -o is a usage error")
    done()


main()
