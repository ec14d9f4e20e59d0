#!/usr/bin/python3
"""formats3 test data and rule consistency (ctest py.test_formats3_data).

1. Every rule id the safetensors/GGUF/Keras/ONNX/SavedModel parsers emit is
   defined in rules/40-model-formats.rules, and every id defined there is emitted.
2. tests/data/formats3/gen_formats3.py reproduces the committed files byte for
   byte (run into a temporary copy of the directory).
3. The test files are what their names say, checked with the reference
   readers: onnx.load (no external data loaded) for ONNX, json for Keras and
   the safetensors header, struct for GGUF headers.
Uses Debian's python3 with python3-onnx and python3-torch.
"""
import filecmp
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

SRC = os.environ.get("BW_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(SRC, "tests", "data", "formats3")
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)


def rules_consistency():
    emitted = set()
    for sub in ("safetensors", "gguf", "keras", "onnx", "savedmodel"):
        d = os.path.join(SRC, "src", "formats", sub)
        for f in os.listdir(d):
            if f.endswith(".c"):
                text = open(os.path.join(d, f)).read()
                emitted |= set(re.findall(r'"((?:safetensors|gguf|keras|onnx|savedmodel)\.[a-z][a-z0-9-]+)"', text))
    defined = set()
    for line in open(os.path.join(SRC, "rules", "40-model-formats.rules")):
        m = re.match(r"anomaly\s+(\S+)\s+(info|low|medium|high|critical)\s+\|", line)
        if m:
            defined.add(m.group(1))
    check(emitted, "no rule ids found in the sources")
    for r in sorted(emitted - defined):
        check(False, "rule %s emitted but not in rules/40-model-formats.rules" % r)
    for r in sorted(defined - emitted):
        check(False, "rule %s defined but never emitted" % r)


def generator_reproduces():
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "formats3")
        os.mkdir(copy)
        shutil.copy(os.path.join(DATA, "gen_formats3.py"), copy)
        subprocess.run(["/usr/bin/python3", os.path.join(copy, "gen_formats3.py")], check=True, cwd=copy)
        made = sorted(f for f in os.listdir(copy) if f != "gen_formats3.py" and not f.startswith("__"))
        have = sorted(f for f in os.listdir(DATA) if f not in ("gen_formats3.py", "recsink.h")
                      and not f.startswith("__"))
        check(made == have, "generator output set differs: %s" % sorted(set(made) ^ set(have)))
        for f in made:
            if f in have:
                check(filecmp.cmp(os.path.join(copy, f), os.path.join(DATA, f), shallow=False),
                      "generator output %s differs from the committed file" % f)


def onnx_truth():
    import onnx
    from onnx import TensorProto

    def tensors(m):
        # explicit work list (no recursion) over graphs and functions
        out, work = [], [m.graph]
        for f in m.functions:
            for n in f.node:
                for a in n.attribute:
                    work.extend([a.g] if a.HasField("g") else [])
        while work:
            g = work.pop()
            out.extend(g.initializer)
            for n in g.node:
                for a in n.attribute:
                    if a.HasField("g"):
                        work.append(a.g)
                    work.extend(a.graphs)
        return out

    def load(name):
        return onnx.load(os.path.join(DATA, name), load_external_data=False)

    locs = {}
    for name in ("onnx_ext_abs.onnx", "onnx_ext_dotdot.onnx", "onnx_honest_external.onnx"):
        for t in tensors(load(name)):
            if t.data_location == TensorProto.EXTERNAL:
                locs[name] = {e.key: e.value for e in t.external_data}["location"]
    check(locs.get("onnx_ext_abs.onnx") == "/etc/passwd", "abs location")
    check(".." in locs.get("onnx_ext_dotdot.onnx", ""), "dotdot location")
    check(locs.get("onnx_honest_external.onnx") == "onnx_honest_external.bin", "honest external location")
    doms = {n.domain for n in load("onnx_custom_domain.onnx").graph.node}
    check("com.attacker.ops" in doms, "custom domain present")
    m = load("onnx_honest_local_function.onnx")
    check({(f.domain, f.name) for f in m.functions} == {("local.fns", "Twice")}, "local function")
    check(all(n.domain in ("", "ai.onnx") for n in load("onnx_honest_cnn.onnx").graph.node), "cnn domains")
    onnx.checker.check_model(load("onnx_honest_cnn.onnx"))
    t = load("onnx_size_mismatch.onnx").graph.initializer[0]
    check(len(t.raw_data) == 16 and list(t.dims) == [1000, 1000], "size mismatch sample")
    # the deep sample (80 nested If bodies = 240 message levels) is past protobuf's own
    # recursion limit of 100: the reference parser refuses it, as our limit does at 64 graphs
    try:
        load("onnx_deep_nesting.onnx")
        check(False, "protobuf accepted the deep sample")
    except Exception as e:  # google.protobuf.message.DecodeError
        check("Error parsing" in str(e), "deep sample: unexpected error %s" % e)


def other_truth():
    d = open(os.path.join(DATA, "st_honest.safetensors"), "rb").read()
    n = struct.unpack("<Q", d[:8])[0]
    hdr = json.loads(d[8:8 + n])
    end = max(v["data_offsets"][1] for k, v in hdr.items() if k != "__metadata__")
    check(8 + n + end == len(d), "honest safetensors tiles the file")
    g = open(os.path.join(DATA, "gguf_honest.gguf"), "rb").read()
    check(g[:4] == b"GGUF" and struct.unpack("<I", g[4:8])[0] == 3, "gguf v3 header")
    check(b"__subclasses__" in open(os.path.join(DATA, "gguf_ssti_cve.gguf"), "rb").read(), "ssti payload")
    cfg = json.load(open(os.path.join(DATA, "keras_lambda_k3.json")))
    check(cfg["config"]["layers"][1]["class_name"] == "Lambda", "keras lambda sample")


def main():
    rules_consistency()
    other_truth()
    onnx_truth()
    generator_reproduces()
    print("%d failures" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
