#!/usr/bin/python3
"""gen_formats_dir.py OUTDIR [N_FILES] [TOTAL_MB] - a mixed honest model folder of the
formats of issue 3 for bench/bench_formats.sh.

Writes N_FILES (default 1000) files totalling about TOTAL_MB (default 1100 MiB):
safetensors, GGUF, ONNX (onnx.helper, initializers inline), Keras 3 `.keras` zips
(config.json + metadata.json + model.weights.h5 written by h5py), legacy Keras `.h5`
(model_config attribute + weights), TF SavedModel folders (saved_model.pb built from
the wire format + variables/), PyTorch zips, and archives (.tar.gz, .tar.xz, .zip)
holding safetensors and ONNX files. Tensor bytes come from one random buffer.
The file builders of tests/data/formats3/gen_formats3.py are reused. Only writes;
never loads a model. Writes OUTDIR.complete when done so reruns reuse the folder.
"""
import io
import json
import os
import sys
import tarfile
import zipfile

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "data", "formats3"))
import gen_formats3 as g3  # noqa: E402


def main(argv):
    import h5py
    import numpy as np
    import onnx
    import torch
    from onnx import TensorProto, helper, numpy_helper

    out = argv[1]
    n = int(argv[2]) if len(argv) > 2 else 1000
    total = (int(argv[3]) if len(argv) > 3 else 1100) << 20
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    pool = rng.integers(0, 256, size=64 << 20, dtype=np.uint8)
    per = total // n
    kinds = (["safetensors"] * 25 + ["gguf"] * 10 + ["onnx"] * 15 + ["keras"] * 10 + ["h5"] * 10 +
             ["savedmodel"] * 5 + ["torch"] * 15 + ["targz"] * 4 + ["tarxz"] * 2 + ["zip"] * 4)

    def chunk(nbytes):
        nbytes = max(64, nbytes - nbytes % 64)
        off = int(rng.integers(0, pool.size - nbytes))
        return pool[off:off + nbytes].view(np.float32).copy()

    def safetensors_bytes(size):
        nl = int(rng.integers(2, 8))
        tens, off, blobs = [], 0, []
        for L in range(nl):
            w = chunk(size // nl)
            tens.append((f"layers.{L}.weight", "F32", [w.size], off, off + w.nbytes))
            off += w.nbytes
            blobs.append(w.tobytes())
        hdr = g3.st_file(tens, {"format": "pt"})
        return hdr[:len(hdr) - off] + b"".join(blobs)

    def onnx_bytes(size):
        w = chunk(size).reshape(-1, 16)
        init = numpy_helper.from_array(w, "W")
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, w.shape[0]])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])
        node = helper.make_node("MatMul", ["x", "W"], ["h"])
        relu = helper.make_node("Relu", ["h"], ["y"])
        graph = helper.make_graph([node, relu], "g", [x], [y], [init])
        model = helper.make_model(graph, producer_name="bench", opset_imports=[helper.make_opsetid("", 17)])
        return model.SerializeToString()

    def h5_weights(path, size, model_config=None):
        with h5py.File(path, "w") as f:
            if model_config is not None:
                f.attrs["backend"] = "tensorflow"
                f.attrs["keras_version"] = "2.12.0"
                f.attrs["model_config"] = json.dumps(model_config)
            grp = f.create_group("model_weights/d1")
            grp.create_dataset("kernel", data=chunk(size).reshape(-1, 4))

    for i in range(n):
        k = kinds[(i * 37) % len(kinds)]
        size = int(per * rng.uniform(0.3, 1.7))
        sub = os.path.join(out, f"d{i % 20:02d}")
        os.makedirs(sub, exist_ok=True)
        if k == "safetensors":
            p = os.path.join(sub, f"model_{i:05d}.safetensors")
            open(p, "wb").write(safetensors_bytes(size))
        elif k == "gguf":
            p = os.path.join(sub, f"model_{i:05d}.gguf")
            n_el = max(32, (size // 4) // 32 * 32)
            kv = [("general.architecture", g3.T_STR, "llama"), ("general.name", g3.T_STR, f"m{i}"),
                  ("general.alignment", g3.T_U32, 32)]
            body = g3.gguf(kv, [("token_embd.weight", [n_el], 0, None)])
            data = chunk(n_el * 4).tobytes()
            open(p, "wb").write(body[:len(body) - n_el * 4] + data)
        elif k == "onnx":
            p = os.path.join(sub, f"model_{i:05d}.onnx")
            open(p, "wb").write(onnx_bytes(size))
        elif k == "keras":
            p = os.path.join(sub, f"model_{i:05d}.keras")
            wpath = os.path.join(out, ".weights.h5")
            h5_weights(wpath, size)
            cfg = g3.k3_model([g3.dense("d1", 8), g3.dense("d2", 1)])
            with zipfile.ZipFile(p, "w") as z:
                z.writestr("metadata.json", json.dumps({"keras_version": "3.3.3", "date_saved": "2026-11-22"}))
                z.writestr("config.json", json.dumps(cfg))
                z.write(wpath, "model.weights.h5")
            os.unlink(wpath)
        elif k == "h5":
            p = os.path.join(sub, f"model_{i:05d}.h5")
            h5_weights(p, size, {"class_name": "Sequential", "config": {
                "name": "s", "layers": [g3.dense("d1", 4, module=False)]}})
        elif k == "savedmodel":
            d = os.path.join(sub, f"saved_{i:05d}")
            os.makedirs(os.path.join(d, "variables"), exist_ok=True)
            nodes = [g3.node("x", "Placeholder"), g3.node("w", "VarHandleOp"), g3.node("mm", "MatMul"),
                     g3.node("saver/SaveV2", "SaveV2"), g3.node("saver/RestoreV2", "RestoreV2")]
            open(os.path.join(d, "saved_model.pb"), "wb").write(g3.saved_model(nodes))
            p = os.path.join(d, "variables", "variables.data-00000-of-00001")
            open(p, "wb").write(chunk(size).tobytes())
        elif k == "torch":
            p = os.path.join(sub, f"model_{i:05d}.pt")
            torch.save({"w": torch.from_numpy(chunk(size)), "b": torch.zeros(8)}, p)
        else:
            ext = {"targz": ".tar.gz", "tarxz": ".tar.xz", "zip": ".zip"}[k]
            p = os.path.join(sub, f"bundle_{i:05d}{ext}")
            members = [("model.safetensors", safetensors_bytes(size // 2)), ("model.onnx", onnx_bytes(size // 2))]
            if k == "zip":
                with zipfile.ZipFile(p, "w") as z:
                    for name, b in members:
                        z.writestr(name, b)
            else:
                with tarfile.open(p, "w:gz" if k == "targz" else "w:xz", **({"compresslevel": 1} if k == "targz" else {"preset": 0})) as t:
                    for name, b in members:
                        ti = tarfile.TarInfo(name)
                        ti.size = len(b)
                        t.addfile(ti, io.BytesIO(b))
    written = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out) for f in fs)
    nfiles = sum(len(fs) for _, _, fs in os.walk(out))
    open(out.rstrip("/") + ".complete", "w").write(f"{nfiles} {written}\n")
    print(f"gen_formats_dir: {nfiles} files, {written / 1e9:.2f} GB in {out}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
