"""oracle.py - an independent, tiny reference for "what would this pickle import?".

Walks pickletools.genops (a parser: nothing is imported or executed) with a symbolic
stack and memo, and returns the dotted names the unpickler's find_class would be asked
for: GLOBAL and INST operands, and STACK_GLOBAL operands taken from the stack (strings
from any string opcode, through the memo). Python 2 module names are mapped the way
Unpickler(fix_imports=True) maps them while the current PROTO is below 3
(_compat_pickle.IMPORT_MAPPING / NAME_MAPPING).

gen_malicious.py --check uses it to prove that each case's expected callable is really
what the bytes import, independently of bulwark. Streams that stop with a parse error
(broken cases) are walked up to the error. It is deliberately small: it is a check of
the generator, not a scanner.
"""
import _compat_pickle
import io
import pickletools

_STR_OPS = {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE",
            "BINUNICODE8"}


def _fix(mod, name, proto):
    if proto < 3:
        if (mod, name) in _compat_pickle.NAME_MAPPING:
            mod, name = _compat_pickle.NAME_MAPPING[(mod, name)]
        elif mod in _compat_pickle.IMPORT_MAPPING:
            mod = _compat_pickle.IMPORT_MAPPING[mod]
    return f"{mod}.{name}"


class _Mark:
    pass


def imports(data):
    """Dotted names imported by every pickle stream in data (concatenated streams too)."""
    out = []
    pos = 0
    while pos < len(data):
        bio = io.BytesIO(data)
        bio.seek(pos)
        stack, memo, proto = [], {}, 0
        last = None
        try:
            for op, arg, _ in pickletools.genops(bio):
                last = op.name
                n = op.name
                if n == "PROTO":
                    proto = arg
                elif n in _STR_OPS:
                    stack.append(arg if isinstance(arg, str) else arg)
                elif n in ("GLOBAL", "INST"):
                    mod, name = arg.split(" ", 1)
                    out.append(_fix(mod, name, proto))
                    if n == "INST":
                        while stack and not isinstance(stack.pop(), _Mark):
                            pass
                    stack.append(object())
                elif n == "STACK_GLOBAL":
                    name = stack.pop() if stack else None
                    mod = stack.pop() if stack else None
                    if isinstance(mod, str) and isinstance(name, str):
                        out.append(_fix(mod, name, proto))
                    stack.append(object())
                elif n in ("PUT", "BINPUT", "LONG_BINPUT"):
                    memo[arg] = stack[-1] if stack else None
                elif n == "MEMOIZE":
                    memo[len(memo)] = stack[-1] if stack else None
                elif n in ("GET", "BINGET", "LONG_BINGET"):
                    stack.append(memo.get(arg))
                elif n == "MARK":
                    stack.append(_Mark())
                elif n == "POP":
                    if stack:
                        stack.pop()
                elif n == "DUP":
                    stack.append(stack[-1] if stack else None)
                elif n in ("POP_MARK", "TUPLE", "LIST", "DICT", "FROZENSET", "OBJ"):
                    while stack and not isinstance(stack.pop(), _Mark):
                        pass
                    if n != "POP_MARK":
                        stack.append(object())
                elif n in ("APPENDS", "SETITEMS", "ADDITEMS"):
                    while stack and not isinstance(stack.pop(), _Mark):
                        pass
                elif n in ("APPEND", "BUILD"):
                    if stack:
                        stack.pop()
                elif n == "SETITEM":
                    del stack[-2:]
                elif n in ("REDUCE", "NEWOBJ"):
                    del stack[-2:]
                    stack.append(object())
                elif n == "NEWOBJ_EX":
                    del stack[-3:]
                    stack.append(object())
                elif n in ("TUPLE1",):
                    stack[-1:] = [object()]
                elif n == "TUPLE2":
                    stack[-2:] = [object()]
                elif n == "TUPLE3":
                    stack[-3:] = [object()]
                elif n in ("FRAME",):
                    pass
                elif n == "STOP":
                    break
                else:
                    stack.append(object())
        except ValueError:
            return out
        pos = bio.tell()
        if last != "STOP":
            break
    return out
