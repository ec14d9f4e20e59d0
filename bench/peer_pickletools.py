#!/usr/bin/python3
"""peer_pickletools.py - the peer for bench/bench_scan.sh: what a Python scanner's core does.

Every Python pickle scanner (picklescan, modelscan, fickling, ModelAudit) is built on
pickletools.genops. This walks the same files bulwark scans, the way those scanners do:
pickles (every concatenated stream), zip members (PyTorch data.pkl and any member that
starts like a pickle), tar members, .npy object arrays, zlib/gzip/bz2/xz joblib files,
and runs genops over each pickle stream, collecting GLOBAL/STACK_GLOBAL-style imports.
It parses only; nothing is unpickled.

usage: peer_pickletools.py ops FILE              -> {"ops": N, "seconds": S}
       peer_pickletools.py dir DIR [--jobs N]    -> {"files", "bytes", "ops", "errors", "seconds"}
       peer_pickletools.py evict PATH...         drop PATH's pages from the page cache
                                                 (posix_fadvise DONTNEED; cold-cache runs)
"""
import bz2
import gzip
import io
import json
import lzma
import multiprocessing
import os
import pickletools
import sys
import tarfile
import time
import zipfile
import zlib


def genops_all(data):
    """Opcode count over every pickle stream in data; stops at the first parse error."""
    n, pos = 0, 0
    globals_seen = set()
    while pos < len(data):
        bio = io.BytesIO(data)
        bio.seek(pos)
        last = None
        for op, arg, p in pickletools.genops(bio):
            n += 1
            last = op
            if op.name in ("GLOBAL", "INST"):
                globals_seen.add(arg)
        pos = bio.tell()
        if last is None or last.name != "STOP":
            break
        if data[pos:pos + 1] != b"\x80":
            break
    return n


def scan_bytes(data, depth=0):
    if depth > 4 or not data:
        return 0
    head = data[:8]
    if head.startswith(b"PK\x03\x04"):
        n = 0
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for info in z.infolist():
                if info.filename.endswith(".pkl"):
                    n += scan_bytes(z.read(info), depth + 1)
                else:
                    with z.open(info) as f:
                        if f.read(1) == b"\x80":
                            n += scan_bytes(z.read(info), depth + 1)
        return n
    if head.startswith(b"\x93NUMPY"):
        hlen = int.from_bytes(data[8:10], "little") if data[6] == 1 else int.from_bytes(data[8:12], "little")
        start = (10 if data[6] == 1 else 12) + hlen
        if b"'O'" in data[:start] or b"|O" in data[:start]:
            return genops_all(data[start:])
        return 0
    if head.startswith(b"\x1f\x8b"):
        return scan_bytes(gzip.decompress(data), depth + 1)
    if head.startswith(b"BZh"):
        return scan_bytes(bz2.decompress(data), depth + 1)
    if head.startswith(b"\xfd7zXZ") or head.startswith(b"\x5d\x00\x00"):
        return scan_bytes(lzma.decompress(data), depth + 1)
    if head[:1] == b"\x78":
        return scan_bytes(zlib.decompress(data), depth + 1)
    if len(data) > 262 and data[257:262] == b"ustar":
        n = 0
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            for m in t.getmembers():
                if m.isfile():
                    n += scan_bytes(t.extractfile(m).read(), depth + 1)
        return n
    if head[:1] in (b"\x80", b"(", b"]", b"}", b"c"):
        return genops_all(data)
    return 0


def scan_file(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
        return os.path.getsize(path), scan_bytes(data), 0
    except Exception:  # a Python scanner reports and moves on
        return os.path.getsize(path), 0, 1


def main(argv):
    if len(argv) >= 3 and argv[1] == "ops":
        with open(argv[2], "rb") as f:
            data = f.read()
        t0 = time.perf_counter()
        n = genops_all(data)
        print(json.dumps({"ops": n, "seconds": time.perf_counter() - t0}))
        return 0
    if len(argv) >= 3 and argv[1] == "dir":
        jobs = int(argv[argv.index("--jobs") + 1]) if "--jobs" in argv else 1
        paths = []
        for root, _, files in os.walk(argv[2]):
            paths += [os.path.join(root, f) for f in files if not f.startswith(".")]
        paths.sort()
        t0 = time.perf_counter()
        if jobs > 1:
            with multiprocessing.Pool(jobs) as pool:
                res = pool.map(scan_file, paths, chunksize=8)
        else:
            res = [scan_file(p) for p in paths]
        dt = time.perf_counter() - t0
        print(json.dumps({"files": len(paths), "bytes": sum(r[0] for r in res), "ops": sum(r[1] for r in res),
                          "errors": sum(r[2] for r in res), "seconds": dt}))
        return 0
    if len(argv) >= 3 and argv[1] == "evict":
        for top in argv[2:]:
            walk = [(top, [], [""])] if os.path.isfile(top) else os.walk(top)
            for root, _, files in walk:
                for f in files:
                    p = os.path.join(root, f) if f else root
                    fd = os.open(p, os.O_RDONLY)
                    try:
                        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    finally:
                        os.close(fd)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
