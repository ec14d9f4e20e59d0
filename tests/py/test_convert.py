"""bulwark convert: differential test against Debian's python3-torch and numpy.

Checkpoints of several shapes are written by torch.save (zip and legacy) and by torch_tar.py
(the legacy tar format, which torch 1.13 still reads but no longer writes), converted by
bulwark, read back with an independent safetensors reader into torch tensors, and compared
with torch.load of the original (files made by the test itself). NumPy .npy/.npz files are
compared with numpy.load the same way. Files outside the tensor-rebuilding subset must be
refused with their import named; malformed files must be refused with exit 3.
"""
import collections
import io
import os
import pickle
import tempfile
import zipfile

import numpy as np
import torch

import torch_tar
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
    # state dicts of real architectures as torch.nn builds them (Debian ships no pretrained
    # weights): a Transformer encoder (in_proj packing, LayerNorm), an embedding + LSTM
    # tagger (flattened LSTM weights), a CNN with BatchNorm trained one step
    # (running stats, int64 num_batches_tracked scalar)
    enc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 2)
    yield "transformer", enc.state_dict()
    tagger = torch.nn.ModuleDict({"emb": torch.nn.Embedding(50, 8), "lstm": torch.nn.LSTM(8, 12, 2),
                                  "out": torch.nn.Linear(12, 5)})
    yield "lstm_tagger", tagger.state_dict()
    cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    cnn.train()
    cnn(torch.randn(2, 3, 8, 8)).sum().backward()
    yield "bn_cnn", cnn.state_dict()


def compare(name, path, out):
    # the files were written by this test (trusted); Debian torch 1.13 weights_only lacks BINFLOAT
    compare_obj(name, torch.load(path, weights_only=False), out)


def compare_obj(name, obj, out):
    ref = flatten(obj)
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

        tar_cases(d)
        numpy_cases(d)
    done()


# ---- the legacy tar format ----

class OldParam:
    """Pickles as old torch pickled a parameter: Parameter(tensor, requires_grad)."""

    def __init__(self, ref):
        self.ref = ref

    def __reduce__(self):
        return (torch.nn.parameter.Parameter, (self.ref, True))


def tar_model():
    """Shared storages, a storage view, storage offsets, non-contiguous strides, several dtypes."""
    torch.manual_seed(1)
    base = torch.arange(24, dtype=torch.float32)
    roots = [(1, base), (2, torch.arange(5)), (3, torch.randn(6, dtype=torch.float64)),
             (4, torch.randn(4, dtype=torch.float16)), (5, torch.randn(4).bfloat16()),
             (6, torch.tensor([True, False, True])), (7, torch.arange(6, dtype=torch.uint8)),
             (8, torch.arange(-3, 3, dtype=torch.int8)), (9, torch.arange(4, dtype=torch.int16)),
             (10, torch.arange(4, dtype=torch.int32))]
    views = [(101, 1, 6, 12), (102, 101, 2, 6)]  # a view, and a view of that view
    R = torch_tar.Ref
    tensors = [(11, 1, (4, 6), (6, 1), 0),        # whole storage
               (12, 1, (6, 4), (1, 6), 0),        # transposed: non-contiguous
               (13, 101, (3, 2), (1, 3), 2),      # view storage + offset + column-major
               (14, 1, (), (), 5),                # 0-d
               (15, 2, (5,), (1,), 0),
               (16, 3, (0, 3), (3, 1), 0),        # empty
               (17, 1, (2, 3), (12, 2), 1),       # strided slice
               (18, 102, (2, 2), (2, 1), 1),
               (19, 4, (4,), (1,), 0), (20, 5, (2, 2), (2, 1), 0), (21, 6, (3,), (1,), 0),
               (22, 7, (2, 3), (1, 2), 0), (23, 8, (6,), (1,), 0), (24, 9, (2,), (2,), 0),
               (25, 10, (4,), (1,), 0)]
    obj = {"model": collections.OrderedDict(w=R(11), wt=R(12), view=R(13), scalar=R(14)),
           "ints": R(15), "empty": R(16), "slice": R(17), "view2": R(18), "param": OldParam(R(17)),
           "dtypes": [R(19), R(20), R(21), R(22), R(23), R(24), R(25)],
           "shared": R(11), "epoch": 3, "note": "honest"}
    return roots, views, tensors, obj


def convert(d, tag, path):
    out = os.path.join(d, tag + ".safetensors")
    if os.path.exists(out):
        os.unlink(out)
    rc, so, se = run("convert", path, "-o", out)
    return rc, so, se, out


def tar_cases(d):
    roots, views, tensors, obj = tar_model()
    for proto, str_pids in ((2, True), (2, False), (4, True)):
        tag = f"tar-p{proto}-{'str' if str_pids else 'int'}"
        path = os.path.join(d, tag + ".tar")
        torch_tar.write(path, roots, views, tensors, obj, protocol=proto, str_pids=str_pids)
        rc, so, se, out = convert(d, tag, path)
        check(rc == 0, f"{tag}: convert exit {rc}: {se}")
        check("(pytorch-tar)" in so, f"{tag}: input format named: {so}")
        if rc == 0:
            compare(tag, path, out)

    # a persistent id written with PERSID (a text line, as protocol 0 writes it): {"w": <11>}
    path = os.path.join(d, "tar-persid.tar")
    torch_tar.write(path, roots, views, tensors, None,
                    pickle_bytes=b"\x80\x02}q\x00X\x01\x00\x00\x00wP11\ns.")
    rc, so, se, out = convert(d, "tar-persid", path)
    check(rc == 0, f"tar PERSID: exit {rc}: {se}")
    if rc == 0:
        compare("tar-persid", path, out)

    # refused (exit 1): imports outside the subset, never loaded here
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo bulwark-test",))

    class ModuleRef(torch_tar.Ref):
        pass

    bad = {
        "global-in-pickle": dict(obj={"w": torch_tar.Ref(11), "x": Evil()}, want="system"),
        "module-class": dict(obj={"w": torch_tar.Ref(11), "m": torch.nn.Linear}, want="Linear"),
        "storage-type-global": dict(storage_type=lambda dt: os.system, want="system"),
    }
    for tag, case in bad.items():
        path = os.path.join(d, "tar-" + tag + ".tar")
        torch_tar.write(path, roots, views, tensors, case.get("obj", obj),
                        storage_type=case.get("storage_type"))
        rc, so, se, out = convert(d, "tar-" + tag, path)
        check(rc == 1, f"tar {tag}: exit {rc}, want 1: {se}")
        check(case["want"] in se and "refusing" in se, f"tar {tag}: refusal names it: {se}")
        check(not os.path.exists(out), f"tar {tag}: no output written")

    # malformed (exit 3)
    malformed = {
        "truncated-storages": dict(cut=("storages", 40), want="storages"),
        "truncated-tensors": dict(cut=("tensors", 5), want="tensors"),
        "view-past-root": dict(views=[(101, 1, 20, 12), (102, 101, 2, 6)], want="past the end"),
        "tensor-past-storage": dict(tensors=tensors + [(30, 2, (6,), (1,), 0)],
                                    obj={"t": torch_tar.Ref(30)}, want="reaches element"),
        "unknown-pid": dict(obj={"t": torch_tar.Ref(999)}, want="999"),
        "duplicate-member": dict(extra=[("pickle", b"x")], want="more than once"),
    }
    for tag, case in malformed.items():
        path = os.path.join(d, "tar-" + tag + ".tar")
        torch_tar.write(path, roots, case.get("views", views), case.get("tensors", tensors),
                        case.get("obj", obj), cut=case.get("cut"), extra=case.get("extra", ()))
        rc, so, se, out = convert(d, "tar-" + tag, path)
        check(rc == 3, f"tar {tag}: exit {rc}, want 3: {se}")
        check(case["want"] in se, f"tar {tag}: message: {se}")
        check(not os.path.exists(out), f"tar {tag}: no output written")
    # a tar cut in the middle of a member
    with open(os.path.join(d, "tar-p2-str.tar"), "rb") as f:
        blob = f.read()
    path = os.path.join(d, "tar-cut.tar")
    with open(path, "wb") as f:
        f.write(blob[:1700])
    rc, so, se, out = convert(d, "tar-cut", path)
    check(rc == 3, f"tar cut short: exit {rc}, want 3: {se}")


# ---- NumPy ----

NP = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
      "I8": "i1", "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "?"}


def np_arrays():
    rng = np.random.default_rng(3)
    yield "f32", rng.standard_normal((3, 4)).astype(np.float32)
    yield "f64-fortran", np.asfortranarray(rng.standard_normal((2, 3, 4)))
    yield "be-i4", np.arange(-6, 6, dtype=">i4").reshape(3, 4)
    yield "be-f8-fortran", np.asfortranarray(rng.standard_normal((4, 5)).astype(">f8"))
    yield "be-u2", np.arange(7, dtype=">u2") * 300
    yield "f16", rng.standard_normal(5).astype(np.float16)
    yield "0d", np.array(2.5, dtype=np.float32)
    yield "empty", np.zeros((0, 3), dtype=np.int16)
    yield "bool", np.array([[True, False], [False, True]])
    yield "u64", np.array([0, 2**63 + 5, 2**64 - 1], dtype=np.uint64)
    yield "u32-fortran", np.asfortranarray(np.arange(12, dtype=np.uint32).reshape(3, 4))
    yield "i8", np.arange(-4, 4, dtype=np.int8)
    yield "i64", np.arange(10, dtype=np.int64).reshape(2, 5)
    yield "u8", np.arange(9, dtype=np.uint8).reshape(3, 3)


def np_compare(tag, ref, got, name):
    check(name in got, f"{tag}: tensor '{name}' missing: {sorted(got)}")
    if name not in got:
        return
    dtype, shape, raw = got[name]
    check(list(shape) == list(ref.shape), f"{tag}: shape {shape} vs {ref.shape}")
    check(dtype in NP and np.dtype(NP[dtype]) == ref.dtype.newbyteorder("<"),
          f"{tag}: dtype {dtype} vs {ref.dtype}")
    if dtype not in NP:
        return
    mine = np.frombuffer(raw, dtype=NP[dtype]).reshape(shape)
    check(np.array_equal(mine, ref), f"{tag}: values differ")
    if dtype in DT:  # and the bytes load as the same torch tensor
        t = torch.frombuffer(bytearray(raw), dtype=DT[dtype]).reshape(shape) if raw else \
            torch.zeros(shape, dtype=DT[dtype])
        want = torch.from_numpy(ref.astype(ref.dtype.newbyteorder("="), order="C"))
        check(torch.equal(t, want), f"{tag}: torch tensor differs")


def numpy_cases(d):
    arrays = dict(np_arrays())
    for tag, arr in arrays.items():
        path = os.path.join(d, tag + ".npy")
        np.save(path, arr)
        rc, so, se, out = convert(d, "npy-" + tag, path)
        check(rc == 0, f"npy {tag}: exit {rc}: {se}")
        if rc == 0:
            got, meta = read_safetensors(out)
            check(meta.get("format") == "np", f"npy {tag}: metadata format {meta}")
            np_compare("npy " + tag, np.load(path), got, "array")

    for compressed in (False, True):
        tag = "npz-compressed" if compressed else "npz"
        path = os.path.join(d, tag + ".npz")
        (np.savez_compressed if compressed else np.savez)(path, **arrays)
        with zipfile.ZipFile(path, "a") as z:  # numpy hands this back as bytes: left out
            z.writestr("readme.txt", "not an array")
        rc, so, se, out = convert(d, tag, path)
        check(rc == 0, f"{tag}: exit {rc}: {se}")
        check("(numpy-npz)" in so and "1 non-tensor" in so, f"{tag}: summary: {so}")
        if rc == 0:
            got, meta = read_safetensors(out)
            ref = np.load(path)
            names = [k for k in ref.files if k != "readme.txt"]
            check(sorted(got) == sorted(names), f"{tag}: names {sorted(got)}")
            for k in names:
                np_compare(f"{tag}:{k}", ref[k], got, k)

    # refused: object arrays hold a pickle (exit 1)
    obj_path = os.path.join(d, "object.npy")
    np.save(obj_path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    rc, so, se, out = convert(d, "npy-object", obj_path)
    check(rc == 1 and "object" in se and "pickle" in se, f"object npy: exit {rc}: {se}")
    check(not os.path.exists(out), "object npy: no output written")
    path = os.path.join(d, "obj.npz")
    np.savez(path, good=np.arange(3), bad=np.array([1, None], dtype=object))
    rc, so, se, out = convert(d, "npz-object", path)
    check(rc == 1 and "bad.npy" in se and "object" in se, f"object npz member: exit {rc}: {se}")

    # unsupported dtypes are named (exit 3)
    for tag, arr, want in (("complex", np.zeros(2, np.complex64), "complex"),
                           ("string", np.array(["ab", "c"]), "string"),
                           ("bytes", np.array([b"ab"]), "string"),
                           ("datetime", np.array(["2024-01-01"], dtype="M8[D]"), "datetime"),
                           ("struct", np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]), "structured"),
                           ("f128", np.zeros(2, dtype=np.longdouble), "f16")):
        path = os.path.join(d, tag + ".npy")
        np.save(path, arr)
        rc, so, se, out = convert(d, "npy-" + tag, path)
        check(rc == 3 and want in se, f"npy {tag}: exit {rc}: {se}")
        check(not os.path.exists(out), f"npy {tag}: no output written")

    # truncated data and header (exit 3)
    buf = io.BytesIO()
    np.save(buf, np.arange(10, dtype=np.float64))
    blob = buf.getvalue()
    for tag, data, want in (("trunc-data", blob[:-8], "ends early"),
                            ("trunc-header", blob[:40], "ends early")):
        path = os.path.join(d, tag + ".npy")
        with open(path, "wb") as f:
            f.write(data)
        rc, so, se, out = convert(d, "npy-" + tag, path)
        check(rc == 3 and want in se, f"npy {tag}: exit {rc}: {se}")
    # a corrupted member fails its CRC (numpy's zipfile refuses it too)
    with open(os.path.join(d, "npz.npz"), "rb") as f:
        blob = bytearray(f.read())
    at = blob.index(b"\x93NUMPY") + 130  # inside the first array's data
    blob[at] ^= 0xFF
    path = os.path.join(d, "npz-crc.npz")
    with open(path, "wb") as f:
        f.write(blob)
    rc, so, se, out = convert(d, "npz-crc", path)
    check(rc == 3 and "CRC" in se, f"npz crc: exit {rc}: {se}")


main()
