"""pk.py - a tiny pickle assembler and raw archive writers for bulwark's test generators.

It writes pickle opcodes byte by byte (Python's pickle/_pickle opcode table, see
Lib/pickletools.py for the reference list) so a test can build streams that no
pickler would produce: payloads, memo tricks, broken frames. It also writes ZIP
files record by record (PKWARE APPNOTE 6.3.x sections 4.3.7 local header, 4.3.12
central directory, 4.3.16 end of central directory) so names, CRCs and offsets
can disagree on purpose.

It must NEVER unpickle, load or import what it builds: it only emits bytes.
Checks of the result use pickletools.genops/dis (a parser that does not execute).
"""
import struct
import zlib

# ---- opcodes (pickletools.opcodes) ----
MARK = b"("
STOP = b"."
POP = b"0"
POP_MARK = b"1"
DUP = b"2"
NONE = b"N"
REDUCE = b"R"
APPEND = b"a"
BUILD = b"b"
DICT = b"d"
EMPTY_DICT = b"}"
APPENDS = b"e"
LIST = b"l"
EMPTY_LIST = b"]"
OBJ = b"o"
SETITEM = b"s"
TUPLE = b"t"
EMPTY_TUPLE = b")"
SETITEMS = b"u"
NEWOBJ = b"\x81"
TUPLE1 = b"\x85"
TUPLE2 = b"\x86"
TUPLE3 = b"\x87"
NEWTRUE = b"\x88"
NEWFALSE = b"\x89"
EMPTY_SET = b"\x8f"
ADDITEMS = b"\x90"
FROZENSET = b"\x91"
NEWOBJ_EX = b"\x92"
STACK_GLOBAL = b"\x93"
MEMOIZE = b"\x94"

CMD = "echo bulwark-test"


def proto(n):
    return b"\x80" + bytes([n])


def frame(n):
    return b"\x95" + struct.pack("<Q", n)


def glob(mod, name):
    """GLOBAL: module and name as newline-terminated UTF-8 lines."""
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def inst(mod, name):
    return b"i" + mod.encode() + b"\n" + name.encode() + b"\n"


def u(s):
    """Shortest binary unicode string opcode for s (SHORT_BINUNICODE or BINUNICODE)."""
    b = s.encode("utf-8")
    if len(b) < 256:
        return b"\x8c" + bytes([len(b)]) + b
    return b"X" + struct.pack("<I", len(b)) + b


def binunicode(s):
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def binunicode8(s):
    b = s.encode("utf-8")
    return b"\x8d" + struct.pack("<Q", len(b)) + b


def unicode0(s_raw):
    """UNICODE (protocol 0): raw-unicode-escape text line; s_raw is already escaped text."""
    return b"V" + s_raw.encode("ascii") + b"\n"


def string0(s_repr):
    """STRING (protocol 0): a quoted Python 2 repr line, e.g. "'os'"."""
    return b"S" + s_repr.encode("ascii") + b"\n"


def binstring(s):
    b = s.encode("ascii")
    return b"T" + struct.pack("<i", len(b)) + b


def short_binstring(s):
    b = s.encode("ascii")
    return b"U" + bytes([len(b)]) + b


def binbytes(b):
    if len(b) < 256:
        return b"C" + bytes([len(b)]) + b
    return b"B" + struct.pack("<I", len(b)) + b


def binint(n):
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if 0 <= n < 65536:
        return b"M" + struct.pack("<H", n)
    return b"J" + struct.pack("<i", n)


def binput(i):
    return b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)


def long_binput(i):
    return b"r" + struct.pack("<I", i)


def binget(i):
    return b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)


def long_binget(i):
    return b"j" + struct.pack("<I", i)


def put0(i):
    return b"p" + str(i).encode() + b"\n"


def get0(i):
    return b"g" + str(i).encode() + b"\n"


def ext1(code):
    return b"\x82" + bytes([code])


def ext2(code):
    return b"\x83" + struct.pack("<H", code)


def ext4(code):
    return b"\x84" + struct.pack("<i", code)


def call(mod, name, *args, p=2, stack_global=False):
    """A complete pickle: mod.name(*args) with str/bytes/int constant args, then STOP."""
    out = proto(p) if p >= 2 else b""
    if stack_global:
        out += u(mod) + u(name) + STACK_GLOBAL
    else:
        out += glob(mod, name)
    out += MARK + b"".join(const(a, p) for a in args) + TUPLE + REDUCE + STOP
    return out


def const(a, p=2):
    if isinstance(a, bytes):
        return binbytes(a)
    if isinstance(a, bool):
        return NEWTRUE if a else NEWFALSE
    if isinstance(a, int):
        return binint(a) if p >= 1 else b"I" + str(a).encode() + b"\n"
    if a is None:
        return NONE
    if isinstance(a, str):
        if p >= 4:
            return u(a)
        if p >= 1:
            return binunicode(a)  # what the pickler writes before protocol 4
        return unicode0(a.encode("raw_unicode_escape").decode("ascii"))
    raise TypeError(type(a))


def os_system(p=2):
    return call("os", "system", CMD, p=p)


# ---- ZIP writer (APPNOTE) ----

def _deflate(data, level=6):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def zip_raw(entries, prefix=b"", suffix=b"", comment=b""):
    """Write a ZIP by hand. Each entry is a dict:
       name: central-directory name; data: bytes; method: 0 stored / 8 deflate (default 0)
       local_name: name in the local header (default = name); crc: CRC-32 to write (default: real one)
       flags: general-purpose flags (default 0); same_as: index of an earlier entry whose local
       header this central entry points at (overlapping entries, no local record written).
    Offsets account for `prefix` (bytes before the archive) the way a real
    self-extracting archive would, i.e. offsets are from the file start."""
    body = bytearray(prefix)
    central = bytearray()
    offsets = []
    for e in entries:
        name = e["name"].encode()
        lname = e.get("local_name", e["name"]).encode()
        data = e.get("data", b"")
        method = e.get("method", 0)
        raw = e.get("raw")  # pre-compressed data with explicit sizes
        if raw is not None:
            comp, usize, crc = raw
        else:
            comp = _deflate(data) if method == 8 else data
            usize = len(data)
            crc = zlib.crc32(data)
        crc = e.get("crc", crc)
        flags = e.get("flags", 0)
        if "same_as" in e:
            off = offsets[e["same_as"]]
        else:
            off = len(body)
            body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x21,
                                crc, len(comp), usize, len(lname), 0)
            body += lname + comp
        offsets.append(off)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, 0, 0x21,
                               crc, len(comp), usize, len(name), 0, 0, 0, 0, 0, off)
        central += name
    cd_off = len(body)
    n = len(entries)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(n, 0xFFFF), min(n, 0xFFFF),
                       len(central), cd_off, len(comment)) + comment
    return bytes(body + central + eocd + suffix)


def torch_zip(pkl, name="archive", extra=None, pkl_member="data.pkl"):
    """A PyTorch-style zip (torch.serialization zip format): <name>/data.pkl, version, byteorder,
    plus `extra` {member: bytes}."""
    ents = [{"name": f"{name}/{pkl_member}", "data": pkl},
            {"name": f"{name}/byteorder", "data": b"little"},
            {"name": f"{name}/version", "data": b"3\n"}]
    for k, v in (extra or {}).items():
        ents.append({"name": f"{name}/{k}", "data": v})
    return zip_raw(ents)
