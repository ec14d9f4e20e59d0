#!/usr/bin/python3
"""gen_model_dir.py OUTDIR [N_FILES] [TOTAL_MB] - a mixed honest model folder for bench/bench_scan.sh.

Writes N_FILES (default 1200) files totalling about TOTAL_MB (default 1100 MiB), written by
the real libraries: torch.save zips (state dicts of random sizes), numpy .npy, joblib dumps
(numpy arrays, some zlib-compressed), plain pickles of small objects, and tars holding a
torch zip and an .npy. Tensor bytes come from one random buffer (fast, incompressible).
Only saves; never loads. Writes OUTDIR.complete when done so reruns reuse the folder.
"""
import io
import os
import pickle
import sys
import tarfile


def main(argv):
    import joblib
    import numpy as np
    import torch
    out = argv[1]
    n = int(argv[2]) if len(argv) > 2 else 1200
    total = (int(argv[3]) if len(argv) > 3 else 1100) << 20
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(42)
    pool = rng.integers(0, 256, size=64 << 20, dtype=np.uint8)
    per = total // n
    kinds = ["torch"] * 40 + ["npy"] * 25 + ["joblib"] * 15 + ["joblibz"] * 5 + ["pickle"] * 10 + ["tar"] * 5
    written = 0

    def chunk(nbytes, dtype=np.float32):
        nbytes = max(64, nbytes - nbytes % 16)
        off = int(rng.integers(0, pool.size - nbytes))
        return pool[off:off + nbytes].view(dtype).copy()

    for i in range(n):
        k = kinds[(i * 37) % len(kinds)]
        size = int(per * rng.uniform(0.3, 1.7))
        sub = os.path.join(out, f"d{i % 20:02d}")
        os.makedirs(sub, exist_ok=True)
        if k == "torch":
            p = os.path.join(sub, f"model_{i:05d}.pt")
            nl = int(rng.integers(2, 12))
            sd = {}
            for L in range(nl):
                sd[f"layers.{L}.weight"] = torch.from_numpy(chunk(size // nl))
                sd[f"layers.{L}.bias"] = torch.zeros(16)
            torch.save(sd, p)
        elif k == "npy":
            p = os.path.join(sub, f"array_{i:05d}.npy")
            np.save(p, chunk(size).reshape(-1, 4))
        elif k in ("joblib", "joblibz"):
            p = os.path.join(sub, f"est_{i:05d}.joblib")
            obj = {"coef": chunk(size, np.float64), "classes": np.arange(10),
                   "params": {"C": 1.0, "penalty": "l2", "names": [f"f{j}" for j in range(50)]}}
            joblib.dump(obj, p, compress=("zlib", 1) if k == "joblibz" else 0)
        elif k == "pickle":
            p = os.path.join(sub, f"meta_{i:05d}.pkl")
            m = max(1, size // 40)
            obj = [(j, j * 0.25, f"tok{j}") for j in range(m)]
            with open(p, "wb") as f:
                pickle.dump(obj, f, protocol=4)
        else:
            p = os.path.join(sub, f"bundle_{i:05d}.tar")
            b1, b2 = io.BytesIO(), io.BytesIO()
            torch.save({"w": torch.from_numpy(chunk(size // 2))}, b1)
            np.save(b2, chunk(size // 2))
            with tarfile.open(p, "w") as t:
                for name, b in (("model.pt", b1), ("extra.npy", b2)):
                    ti = tarfile.TarInfo(name)
                    ti.size = len(b.getvalue())
                    t.addfile(ti, io.BytesIO(b.getvalue()))
        written += os.path.getsize(p)
    open(out.rstrip("/") + ".complete", "w").write(f"{n} {written}\n")
    print(f"gen_model_dir: {n} files, {written / 1e9:.2f} GB in {out}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
