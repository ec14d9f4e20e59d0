#!/usr/bin/python3
"""Container test files: generator and reference-loader check.

Run with --write to (re)generate tests/data/containers/ (honest files made by
Python's zipfile, tarfile, gzip, joblib, numpy and torch.save, and crafted
anomalies made by the small raw zip writer below).

Run without arguments (as ctest does) to check, against the committed files,
the claims docs/containers.md makes about the reference loaders:
  - PyTorch ignores a bad CRC that Python's zipfile refuses;
  - Python's zipfile refuses a local/central name mismatch;
  - tarfile stops at a header with a bad checksum (hiding later members);
  - numpy ignores bytes after the array;
  - torch.load treats a zip with prefix bytes as a legacy (non-zip) file.
Every check asserts; nothing is skipped. Prints "N passed, N failed".
"""
import bz2
import gzip
import io
import lzma
import os
import pickle
import struct
import sys
import tarfile
import zipfile
import zlib

SRC = os.environ.get("BW_SRC") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.path.join(SRC, "tests", "data", "containers")

PAYLOAD = pickle.dumps({"weights": [1.0, 2.0, 3.0], "name": "tiny"}, protocol=2)


# ---------------------------------------------------------------- raw zip writer
def raw_zip(entries, *, count=None, zip64=False, prefix=b"", fix_offsets=True, trailing=b"",
            comment=b"", cd_gap=b"", extra_eocd=False):
    """entries: dicts with name, data; optional method (0/8), local_name, crc, flags,
    lho_of (index of an earlier entry whose local header to reuse: overlap)."""
    out = bytearray(prefix)
    base = len(prefix) if fix_offsets else 0
    cds = []
    lhos = []
    for e in entries:
        data = e["data"]
        method = e.get("method", 0)
        comp = data if method == 0 else zlib.compress(data, 9)[2:-4]
        crc = e.get("crc", zlib.crc32(data) & 0xFFFFFFFF)
        flags = e.get("flags", 0)
        name = e["name"].encode() if isinstance(e["name"], str) else e["name"]
        lname = e.get("local_name", name)
        if isinstance(lname, str):
            lname = lname.encode()
        if "lho_of" in e:
            lho = lhos[e["lho_of"]]
            src = entries[e["lho_of"]]
            data = src["data"]
            method = src.get("method", 0)
            comp = data if method == 0 else zlib.compress(data, 9)[2:-4]
            crc = zlib.crc32(data) & 0xFFFFFFFF
        else:
            lho = len(out) - len(prefix) + base
            if zip64:
                extra = struct.pack("<HHQQ", 1, 16, len(data), len(comp))
                out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, flags, method, 0, 0x21, crc,
                                   0xFFFFFFFF, 0xFFFFFFFF, len(lname), len(extra)) + lname + extra
            else:
                out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x21, crc,
                                   len(comp), len(data), len(lname), 0) + lname
            out += comp
        lhos.append(lho)
        if zip64:
            extra = struct.pack("<HHQQQ", 1, 24, len(data), len(comp), lho)
            cds.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, flags, method, 0, 0x21,
                                   crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra), 0, 0, 0, 0,
                                   0xFFFFFFFF) + name + extra)
        else:
            cds.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, 0, 0x21,
                                   crc, len(comp), len(data), len(name), 0, 0, 0, 0, 0, lho) + name)
    cd_off = len(out) - len(prefix) + base
    cd = b"".join(cds)
    out += cd
    out += cd_gap
    n = len(entries) if count is None else count
    if zip64:
        z64 = len(out) - len(prefix) + base
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(cd), cd_off)
        out += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
        eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(comment))
    else:
        eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(cd), cd_off, len(comment))
    if extra_eocd:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(cd), cd_off, 0)
    out += eocd + comment + trailing
    return bytes(out)


def honest_zip():
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("notes.txt", "hello " * 20)
        z.writestr("model/data.pkl", PAYLOAD)
    return b.getvalue()


def torch_file(legacy=False):
    import torch
    b = io.BytesIO()
    torch.save({"w": torch.arange(4, dtype=torch.float32)}, b,
               _use_new_zipfile_serialization=not legacy)
    return b.getvalue()


def tar_of(members, fmt=tarfile.USTAR_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 0
            t.addfile(ti, io.BytesIO(data))
    return b.getvalue()


def set_tar_checksum(block, value):
    block = bytearray(block)
    block[148:156] = b"%06o\0 " % value
    return bytes(block)


def npy_bytes(arr, **kw):
    import numpy as np
    b = io.BytesIO()
    np.save(b, arr, **kw)
    return b.getvalue()


def generate():
    import numpy as np
    import joblib
    f = {}
    hz = honest_zip()
    f["honest.zip"] = hz
    f["torch.pt"] = torch_file()
    f["torch_legacy.pt"] = torch_file(legacy=True)
    b = io.BytesIO()
    np.savez(b, a=np.arange(6, dtype=np.int32), b=np.ones((2, 2)))
    f["arrays.npz"] = b.getvalue()
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("metadata.json", '{"keras_version": "3.0.0"}')
        z.writestr("config.json", '{"class_name": "Sequential"}')
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 24)
    f["model.keras"] = b.getvalue()

    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("bz.pkl", PAYLOAD, compress_type=zipfile.ZIP_BZIP2)
        z.writestr("lz.pkl", PAYLOAD, compress_type=zipfile.ZIP_LZMA)
        z.writestr("df.pkl", PAYLOAD, compress_type=zipfile.ZIP_DEFLATED)
    f["methods.zip"] = b.getvalue()
    pk = {"name": "archive/data.pkl", "data": PAYLOAD}
    ver = {"name": "archive/version", "data": b"3\n"}
    f["crc.zip"] = raw_zip([dict(pk, crc=0x12345678), {"name": "archive/version", "data": b"3\n"}])
    f["name_mismatch.zip"] = raw_zip([dict(pk, local_name="archive/safe.txt"), ver])
    f["overlap.zip"] = raw_zip([pk, {"name": "archive/other.pkl", "data": b"", "lho_of": 0}])
    f["prefix_fixed.zip"] = raw_zip([pk], prefix=PAYLOAD)
    f["prefix_shift.zip"] = raw_zip([pk, ver], prefix=b"MZ" + b"\0" * 62, fix_offsets=False)
    f["trailing.zip"] = raw_zip([pk], trailing=b"hidden bytes after the archive")
    f["dup.zip"] = raw_zip([pk, {"name": "archive/data.pkl", "data": b"\x80\x02K\x01."}])
    f["dup_case.zip"] = raw_zip([pk, {"name": "ARCHIVE/DATA.PKL", "data": b"\x80\x02K\x01."}])
    f["multi_eocd.zip"] = raw_zip([pk], extra_eocd=True)
    f["traversal.zip"] = raw_zip([{"name": "../../etc/evil.pkl", "data": PAYLOAD}])
    f["count_mismatch.zip"] = raw_zip([pk, ver, {"name": "archive/hidden.pkl", "data": PAYLOAD}], count=2)
    f["zip64.zip"] = raw_zip([dict(pk, method=8), {"name": "archive/version", "data": b"3\n"}],
                             zip64=True)
    f["bomb.zip"] = raw_zip([{"name": "bomb.bin", "data": b"\0" * (8 << 20), "method": 8}])
    f["encrypted.zip"] = raw_zip([dict(pk, flags=1)])
    f["cd_gap.zip"] = raw_zip([pk], cd_gap=b"\0" * 16)
    f["nul_name.zip"] = raw_zip([{"name": b"archive/data.pkl\0.txt", "data": PAYLOAD}])
    f["truncated.zip"] = hz[: len(hz) // 2]

    f["honest.tar"] = tar_of([("a.txt", b"hello\n"), ("dir/b.pkl", PAYLOAD)])
    f["pax_long.tar"] = tar_of([("d/" + "x" * 150 + ".pkl", PAYLOAD)], tarfile.PAX_FORMAT)
    f["gnu_long.tar"] = tar_of([("g/" + "y" * 150 + ".pkl", PAYLOAD)], tarfile.GNU_FORMAT)
    f["torch_tar.tar"] = tar_of([("sys_info", PAYLOAD), ("pickle", PAYLOAD), ("storages", PAYLOAD),
                                 ("tensors", PAYLOAD)])
    t = bytearray(tar_of([("a.txt", b"hello\n"), ("hidden.pkl", PAYLOAD)]))
    t[1024:1536] = set_tar_checksum(t[1024:1536], 1)
    f["badsum.tar"] = bytes(t)
    f["dup.tar"] = tar_of([("x.pkl", PAYLOAD), ("x.pkl", b"\x80\x02K\x01.")])
    f["traversal.tar"] = tar_of([("../evil.pkl", PAYLOAD)])
    f["trailing.tar"] = tar_of([("a.txt", b"hello\n")]) + PAYLOAD
    # pax size record that disagrees with the ustar size field
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as tt:
        ti = tarfile.TarInfo("p.pkl")
        ti.size = len(PAYLOAD)
        ti.pax_headers = {"comment": "x"}
        tt.addfile(ti, io.BytesIO(PAYLOAD))
    raw = bytearray(b.getvalue())
    # find the ustar header of p.pkl (after the pax header and its data) and lie in size
    pos = 0
    while raw[pos + 156] != ord("0"):
        size = int(raw[pos + 124:pos + 136].strip(b"\0 ") or b"0", 8)
        pos += 512 + (size + 511) // 512 * 512
    hdr = bytearray(raw[pos:pos + 512])
    hdr[124:136] = b"%011o\0" % 3
    hdr[148:156] = b" " * 8
    hdr[148:156] = b"%06o\0 " % sum(hdr)
    raw[pos:pos + 512] = hdr
    # and add a pax size record in front: rebuild with a pax header carrying size
    paxrec = b"%d size=%d\n" % (len(b"00 size=%d\n" % len(PAYLOAD)), len(PAYLOAD))
    ph = tarfile.TarInfo("././@PaxHeader")
    ph.type = tarfile.XHDTYPE
    ph.size = len(paxrec)
    phb = ph.tobuf(tarfile.USTAR_FORMAT)
    f["pax_size.tar"] = (phb + paxrec + b"\0" * (512 - len(paxrec)) + bytes(raw[pos:]))

    f["multi.gz"] = gzip.compress(PAYLOAD[:20]) + gzip.compress(PAYLOAD[20:])
    f["trailing.gz"] = gzip.compress(PAYLOAD) + b"junk!"
    f["truncated.gz"] = gzip.compress(PAYLOAD * 50)[:-40]
    f["bomb.gz"] = gzip.compress(b"\0" * (8 << 20), 9)
    f["payload.bz2"] = bz2.compress(PAYLOAD)
    f["payload.xz"] = lzma.compress(PAYLOAD)
    for comp, name in (("zlib", "joblib_zlib.pkl.z"), ("lzma", "joblib_lzma.pkl.lzma")):
        b = io.BytesIO()
        joblib.dump({"a": 1}, b, compress=comp)
        f[name] = b.getvalue()
    f["nested.tar.gz"] = gzip.compress(tar_of([("inner/model.zip", hz)]))

    f["float.npy"] = npy_bytes(np.arange(12, dtype="<f4").reshape(3, 4))
    f["object.npy"] = npy_bytes(np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    f["struct_obj.npy"] = npy_bytes(np.zeros(2, dtype=[("x", "<i4"), ("o", "O")]), allow_pickle=True)
    hdr = b"{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }"
    hdr += b" " * ((64 - (12 + len(hdr) + 1) % 64) % 64) + b"\n"
    f["v2.npy"] = b"\x93NUMPY\x02\x00" + struct.pack("<I", len(hdr)) + hdr + b"\1\0\2\0\3\0"
    f["short.npy"] = f["float.npy"][:-8]
    f["trailing.npy"] = f["float.npy"] + PAYLOAD
    return f


# ---------------------------------------------------------------- checks
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAILED:", what, file=sys.stderr)


def raises(fn, exc=Exception):
    try:
        fn()
    except exc:
        return True
    return False


def read(name):
    with open(os.path.join(DATA, name), "rb") as fh:
        return fh.read()


def verify():
    import numpy as np
    import torch

    def zread(data, name):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return z.read(name)

    # honest files read back
    check(zread(read("honest.zip"), "model/data.pkl") == PAYLOAD, "honest.zip readable")
    check(float(torch.load(io.BytesIO(read("torch.pt")))["w"].sum()) == 6.0, "torch.pt loads")
    # PyTorch ignores a bad CRC; zipfile refuses it
    crc = read("crc.zip")
    check(raises(lambda: zread(crc, "archive/data.pkl"), zipfile.BadZipFile), "zipfile refuses bad CRC")
    r = torch._C.PyTorchFileReader(io.BytesIO(crc))
    check(bytes(r.get_record("data.pkl")) == PAYLOAD, "PyTorch reads a member with a bad CRC")
    # zipfile refuses a local/central name mismatch; PyTorch reads by central name
    nm = read("name_mismatch.zip")
    check(raises(lambda: zread(nm, "archive/data.pkl"), zipfile.BadZipFile), "zipfile refuses name mismatch")
    check(bytes(torch._C.PyTorchFileReader(io.BytesIO(nm)).get_record("data.pkl")) == PAYLOAD,
          "PyTorch reads despite a local name mismatch")
    # prefix with shifted offsets: zipfile reads, PyTorch does not
    ps = read("prefix_shift.zip")
    check(zread(ps, "archive/data.pkl") == PAYLOAD, "zipfile reads a shifted archive")
    check(raises(lambda: torch._C.PyTorchFileReader(io.BytesIO(ps))), "PyTorch refuses a shifted archive")
    # count mismatch: zipfile (by size) sees the hidden member, PyTorch (by count) does not
    cm = read("count_mismatch.zip")
    with zipfile.ZipFile(io.BytesIO(cm)) as z:
        check("archive/hidden.pkl" in z.namelist(), "zipfile sees entries past the EOCD count")
    check(not torch._C.PyTorchFileReader(io.BytesIO(cm)).has_record("hidden.pkl"),
          "PyTorch reads only the EOCD count")
    # zipfile cuts a name at NUL (ZipInfo.__init__)
    with zipfile.ZipFile(io.BytesIO(read("nul_name.zip"))) as z:
        check(z.namelist() == ["archive/data.pkl"], "zipfile cuts names at NUL")
    # zip64 crafted archive readable by both
    z64 = read("zip64.zip")
    check(zread(z64, "archive/data.pkl") == PAYLOAD, "zipfile reads crafted ZIP64")
    check(bytes(torch._C.PyTorchFileReader(io.BytesIO(z64)).get_record("data.pkl")) == PAYLOAD,
          "PyTorch reads crafted ZIP64")
    # tarfile stops at a bad checksum in a later header
    with tarfile.open(fileobj=io.BytesIO(read("badsum.tar"))) as t:
        check(t.getnames() == ["a.txt"], "tarfile hides members after a bad checksum")
    with tarfile.open(fileobj=io.BytesIO(read("dup.tar"))) as t:
        check(t.extractfile("x.pkl").read() == b"\x80\x02K\x01.", "tarfile getmember takes the last duplicate")
    with tarfile.open(fileobj=io.BytesIO(read("pax_size.tar"))) as t:
        check(t.extractfile("p.pkl").read() == PAYLOAD, "tarfile uses the pax size")
    # numpy ignores trailing bytes
    check(np.load(io.BytesIO(read("trailing.npy"))).shape == (3, 4), "numpy ignores trailing data")
    check(raises(lambda: np.load(io.BytesIO(read("object.npy")))), "object npy needs allow_pickle")
    # torch.load on a zip with a prefix takes the legacy path (the prefix is a pickle here)
    pf = read("prefix_fixed.zip")
    check(pf[:4] != b"PK\x03\x04", "prefix_fixed.zip does not start with a local header")
    check(torch.serialization._is_zipfile(io.BytesIO(pf)) is False, "torch.load would not read it as zip")
    # gzip joins members
    check(gzip.decompress(read("multi.gz")) == PAYLOAD, "gzip joins members")


def main():
    if "--write" in sys.argv:
        os.makedirs(DATA, exist_ok=True)
        for name, data in sorted(generate().items()):
            with open(os.path.join(DATA, name), "wb") as fh:
                fh.write(data)
        print("wrote", DATA)
        return 0
    if not os.path.isdir(DATA):
        print("test data missing:", DATA, file=sys.stderr)
        return 1
    verify()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
