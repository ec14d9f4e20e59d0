"""Writer of PyTorch's legacy tar checkpoints for bulwark's tests (Debian's /usr/bin/python3).

torch 1.13 no longer writes this format (torch.save of torch 0.1-0.3 did) but still reads it
(torch/serialization.py, legacy_load). This module builds one from the layout legacy_load reads,
so torch.load of the result is the ground truth:

  tar (PAX) with members sys_info, pickle, tensors, storages (the order old torch.save used);
  storages: pickle(count); per storage pickle((key, location, storage type class)), i64 element
            count, the elements (little-endian); then pickle([(view key, root key, offset, numel)])
  tensors:  pickle(count); per tensor pickle((key, storage key, tensor type class)), i32 ndim,
            4 zero bytes, ndim i64 sizes, ndim i64 strides, i64 storage offset
  pickle:   the object; a tensor is written as a persistent id naming its key.
"""
import io
import pickle
import struct
import tarfile

import torch

TYPES = {torch.float64: "Double", torch.float32: "Float", torch.float16: "Half",
         torch.bfloat16: "BFloat16", torch.int64: "Long", torch.int32: "Int", torch.int16: "Short",
         torch.int8: "Char", torch.uint8: "Byte", torch.bool: "Bool"}


class Ref:
    """Stands for the tensor (or storage) with this key inside the pickled object."""

    def __init__(self, key):
        self.key = key


class _Pickler(pickle.Pickler):
    def __init__(self, f, protocol, str_pids):
        super().__init__(f, protocol=protocol)
        self.str_pids = str_pids

    def persistent_id(self, obj):
        if isinstance(obj, Ref):
            return str(obj.key) if self.str_pids else obj.key
        return None


def _dump(f, obj, protocol):
    pickle.dump(obj, f, protocol=protocol)


def write(path, roots, views, tensors, obj, protocol=2, str_pids=True, storage_type=None,
          cut=None, extra=(), pickle_bytes=None):
    """roots: [(key, 1-D tensor)]; views: [(key, root key, offset, numel)];
    tensors: [(key, storage key, sizes, strides, offset)]; obj: the object with Ref(key)s.
    storage_type(dtype) may replace the class written in storage records (malicious tests);
    cut: (member, n) drops the last n bytes of a member; extra: [(name, bytes)] more members;
    pickle_bytes replaces the object pickle (hand-written opcodes)."""
    dtype_of = {}
    st = io.BytesIO()
    _dump(st, len(roots), protocol)
    for key, t in roots:
        t = t.contiguous().reshape(-1)
        dtype_of[key] = t.dtype
        cls = storage_type(t.dtype) if storage_type else getattr(torch, TYPES[t.dtype] + "Storage")
        _dump(st, (key, "cpu", cls), protocol)
        st.write(struct.pack("<q", t.numel()))
        st.write(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    _dump(st, list(views), protocol)
    for key, root, _, _ in views:
        dtype_of[key] = dtype_of[root]

    te = io.BytesIO()
    _dump(te, len(tensors), protocol)
    for key, skey, sizes, strides, offset in tensors:
        _dump(te, (key, skey, getattr(torch, TYPES[dtype_of[skey]] + "Tensor")), protocol)
        te.write(struct.pack("<i", len(sizes)) + b"\0" * 4)
        te.write(struct.pack(f"<{len(sizes)}q", *sizes))
        te.write(struct.pack(f"<{len(strides)}q", *strides))
        te.write(struct.pack("<q", offset))

    pk = io.BytesIO()
    _Pickler(pk, protocol, str_pids).dump(obj)
    si = io.BytesIO()
    _dump(si, {"protocol_version": 1001, "little_endian": True,
               "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol)

    members = [("sys_info", si.getvalue()), ("pickle", pickle_bytes or pk.getvalue()), ("tensors", te.getvalue()),
               ("storages", st.getvalue())] + list(extra)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            if cut and cut[0] == name:
                data = data[:len(data) - cut[1]]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
