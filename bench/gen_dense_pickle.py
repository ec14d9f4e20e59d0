#!/usr/bin/python3
"""gen_dense_pickle.py OUT [MB] - an opcode-dense protocol-4 pickle for bench/bench_scan.sh.

Writes the layout CPython's pickler produces for a long list of small tuples
(int, float, short str): FRAMEs of ~64 KiB, MARK ... APPENDS batches of 1000,
MEMOIZE after every string and tuple. Streamed opcode by opcode, so memory stays
small; the file is a valid pickle of plain data (checked by the peer with genops).
"""
import struct
import sys


def main(argv):
    out = argv[1]
    target = int(argv[2]) if len(argv) > 2 else 60
    target_bytes = target << 20
    with open(out, "wb") as f:
        f.write(b"\x80\x04")
        head = b"]\x94"  # EMPTY_LIST, MEMOIZE
        f.write(b"\x95" + struct.pack("<Q", len(head)) + head)
        written, i = 2 + 9 + len(head), 0
        while written < target_bytes:
            batch = bytearray(b"(")
            for _ in range(1000):
                s = b"k%06d" % (i % 1000000)
                batch += b"J" + struct.pack("<i", i) + b"G" + struct.pack(">d", i * 0.5)
                batch += b"\x8c" + bytes([len(s)]) + s + b"\x94" + b"\x87\x94"
                i += 1
            batch += b"e"
            f.write(b"\x95" + struct.pack("<Q", len(batch)) + bytes(batch))
            written += 9 + len(batch)
        f.write(b"\x95" + struct.pack("<Q", 1) + b".")
    print(f"gen_dense_pickle: {out}: {i} tuples, {written >> 20} MiB", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
