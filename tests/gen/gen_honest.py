#!/usr/bin/python3
"""gen_honest.py - honest model files as the real libraries write them (issue 2).

Writes into OUTDIR what users actually produce: torch.save state dicts and whole
checkpoints (zip and legacy formats), plain pickles of every protocol, numpy
.npy/.npz (including object arrays of plain data), joblib dumps with every
compressor, pickled scikit-learn pipelines. OUTDIR/honest.json lists the files
and what produced them. A scanner must find nothing of severity high or above.

It only saves (serialises); it never loads anything. Run with Debian's
/usr/bin/python3 (python3-torch, numpy, joblib, sklearn).

usage: gen_honest.py OUTDIR [--quick|--demo]
  --quick: skip the slower sklearn models; --demo: only a torch state dict, a numpy array
  and a joblib scikit-learn pipeline (for scripts/demo.sh)
"""
import collections
import datetime
import decimal
import fractions
import json
import os
import pickle
import sys
import uuid
import warnings

warnings.filterwarnings("ignore")


def plain_data():
    return {
        "ints": [0, 1, -1, 255, 65535, 2**31 - 1, -2**31, 2**63, -(2**100), 10**40],
        "floats": [0.0, -1.5, 3.141592653589793, float("inf"), float("-inf"), 1e-300],
        "str": ["", "ascii", "unicode \u00e9\u4e2d\U0001f600", "x" * 300],
        "bytes": [b"", b"\x00\xff" * 10, bytes(range(256)) * 2],
        "bytearray": bytearray(b"abc" * 100),
        "tuple": (1, (2, (3, ())), "t"),
        "set": {1, 2, 3, "a"},
        "frozenset": frozenset({"x", "y"}),
        "none_bool": [None, True, False],
        "complex": complex(1.5, -2.0),
        "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
        "defaultdict": collections.defaultdict(list, {"k": [1, 2]}),
        "counter": collections.Counter("abracadabra"),
        "deque": collections.deque([1, 2, 3], maxlen=5),
        "datetime": datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
        "date": datetime.date(2024, 1, 2),
        "timedelta": datetime.timedelta(days=3, seconds=5),
        "tz": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        "decimal": decimal.Decimal("3.14159"),
        "fraction": fractions.Fraction(1, 3),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "slice_range": [slice(1, 10, 2), range(0, 10, 3)],
        "nested": [[[[[]]]]],
    }


def gen_pickles(out, made):
    d = plain_data()
    shared = [1, 2, 3]
    d["shared"] = [shared, shared]
    for p in range(0, pickle.HIGHEST_PROTOCOL + 1):
        name = f"plain_p{p}.pkl"
        with open(os.path.join(out, name), "wb") as f:
            pickle.dump(d, f, protocol=p)
        made.append((name, f"pickle.dump protocol {p} of plain Python data"))
    # a recursive structure and a big flat list
    r = []
    r.append(r)
    with open(os.path.join(out, "recursive_p4.pkl"), "wb") as f:
        pickle.dump(r, f, protocol=4)
    made.append(("recursive_p4.pkl", "self-referencing list"))
    with open(os.path.join(out, "biglist_p5.pkl"), "wb") as f:
        pickle.dump(list(range(20000)) + [str(i) for i in range(2000)], f, protocol=5)
    made.append(("biglist_p5.pkl", "large flat list, protocol 5 with frames"))


def gen_numpy(out, made):
    import numpy as np
    rng = np.random.default_rng(0)
    np.save(os.path.join(out, "float32.npy"), rng.standard_normal((64, 32)).astype(np.float32))
    np.save(os.path.join(out, "int64.npy"), np.arange(1000, dtype=np.int64))
    np.save(os.path.join(out, "bool_fortran.npy"), np.asfortranarray(rng.random((10, 7)) > 0.5))
    st = np.zeros(5, dtype=[("name", "U10"), ("age", "<i4"), ("w", "<f8", (3,))])
    np.save(os.path.join(out, "structured.npy"), st)
    np.save(os.path.join(out, "scalar0d.npy"), np.float64(2.5))
    obj = np.array([1, "two", {"three": 3}, [4.0], None, (5, 6)], dtype=object)
    np.save(os.path.join(out, "object_plain.npy"), obj, allow_pickle=True)
    np.savez(os.path.join(out, "arrays.npz"), a=np.ones(10), b=np.arange(6).reshape(2, 3))
    np.savez_compressed(os.path.join(out, "arrays_compressed.npz"), a=np.zeros((100, 100)), c=st)
    np.savez(os.path.join(out, "with_object.npz"), obj=obj, x=np.ones(3))
    for n in ["float32.npy", "int64.npy", "bool_fortran.npy", "structured.npy", "scalar0d.npy",
              "object_plain.npy", "arrays.npz", "arrays_compressed.npz", "with_object.npz"]:
        made.append((n, "numpy save/savez"))


def gen_torch(out, made):
    import torch
    import torch.nn as nn
    torch.manual_seed(0)

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(8)
            self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.fc1 = nn.Linear(16 * 7 * 7, 64)
            self.fc2 = nn.Linear(64, 10)

        def forward(self, x):
            x = self.pool(torch.relu(self.bn1(self.conv1(x))))
            x = self.pool(torch.relu(self.conv2(x)))
            return self.fc2(torch.relu(self.fc1(x.flatten(1))))

    m = SmallCNN()
    sd = m.state_dict()
    j = os.path.join
    torch.save(sd, j(out, "cnn_state_dict.pt"))
    torch.save(sd, j(out, "cnn_state_dict_legacy.pt"), _use_new_zipfile_serialization=False)
    # one training step so the optimizer has state
    for opt_name, opt in [("adam", torch.optim.Adam(m.parameters(), lr=1e-3)),
                          ("sgd", torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9))]:
        loss = m(torch.randn(4, 1, 28, 28)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        ck = {"epoch": 3, "model_state_dict": m.state_dict(), "optimizer_state_dict": opt.state_dict(),
              "loss": float(loss), "config": {"lr": 1e-3, "layers": [8, 16], "name": "cnn"}}
        torch.save(ck, j(out, f"checkpoint_{opt_name}.pth"))
        torch.save(ck, j(out, f"checkpoint_{opt_name}_legacy.pth"), _use_new_zipfile_serialization=False)
    sched = torch.optim.lr_scheduler.StepLR(torch.optim.SGD(m.parameters(), lr=0.1), step_size=2)
    torch.save({"scheduler": sched.state_dict()}, j(out, "scheduler.pt"))
    lin = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.LayerNorm(20), nn.Linear(20, 2))
    torch.save(lin.state_dict(), j(out, "mlp.bin"))
    torch.save({"t_f16": torch.randn(3, 3).half(), "t_bf16": torch.randn(4).bfloat16(),
                "t_i8": torch.arange(10, dtype=torch.int8), "t_bool": torch.ones(2, dtype=torch.bool),
                "view": torch.arange(100.0)[10:20], "complex": torch.randn(2, dtype=torch.complex64)},
               j(out, "tensor_zoo.pt"))
    made += [("cnn_state_dict.pt", "torch.save state_dict (zip)"),
             ("cnn_state_dict_legacy.pt", "torch.save legacy format"),
             ("checkpoint_adam.pth", "checkpoint with Adam state"), ("checkpoint_sgd.pth", "checkpoint with SGD state"),
             ("checkpoint_adam_legacy.pth", "legacy checkpoint with Adam state"),
             ("checkpoint_sgd_legacy.pth", "legacy checkpoint with SGD state"),
             ("scheduler.pt", "LR scheduler state"), ("mlp.bin", "state_dict named .bin"),
             ("tensor_zoo.pt", "tensors of many dtypes and a view")]
    try:
        ts = torch.jit.script(lin)
        torch.jit.save(ts, j(out, "mlp_torchscript.pt"))
        made.append(("mlp_torchscript.pt", "TorchScript (torch.jit.save)"))
    except Exception as e:  # TorchScript is optional; say so
        print(f"gen_honest: TorchScript skipped: {e}", file=sys.stderr)


def gen_sklearn(out, made, quick):
    import joblib
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    j = os.path.join
    lr = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    joblib.dump(lr, j(out, "sk_scaler_logreg.joblib"))
    with open(j(out, "sk_scaler_logreg.pkl"), "wb") as f:
        pickle.dump(lr, f, protocol=4)
    made += [("sk_scaler_logreg.joblib", "joblib.dump StandardScaler+LogisticRegression"),
             ("sk_scaler_logreg.pkl", "pickle.dump of the same pipeline")]
    pca = make_pipeline(StandardScaler(), PCA(n_components=3)).fit(X)
    joblib.dump(pca, j(out, "sk_pca.joblib"))
    made.append(("sk_pca.joblib", "PCA pipeline"))
    docs = ["good model", "bad model", "great weights", "poor weights", "fine tune", "bad tune"] * 5
    lab = [1, 0, 1, 0, 1, 0] * 5
    txt = make_pipeline(TfidfVectorizer(), SVC(probability=False)).fit(docs, lab)
    joblib.dump(txt, j(out, "sk_tfidf_svc.joblib"))
    made.append(("sk_tfidf_svc.joblib", "TfidfVectorizer+SVC"))
    if not quick:
        rf = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
        joblib.dump(rf, j(out, "sk_random_forest.joblib"))
        with open(j(out, "sk_random_forest_p2.pkl"), "wb") as f:
            pickle.dump(rf, f, protocol=2)
        made += [("sk_random_forest.joblib", "small RandomForest"),
                 ("sk_random_forest_p2.pkl", "RandomForest pickled with protocol 2")]
    arrs = {"w": rng.standard_normal((50, 50)), "ids": np.arange(100), "names": np.array(["a", "b"])}
    joblib.dump(arrs, j(out, "jl_arrays.joblib"))
    made.append(("jl_arrays.joblib", "joblib of numpy arrays, uncompressed"))
    for comp in [("zlib", 3), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3), 3, True]:
        tag = comp[0] + str(comp[1]) if isinstance(comp, tuple) else f"level{comp}"
        joblib.dump(arrs, j(out, f"jl_arrays_{tag}.joblib"), compress=comp)
        made.append((f"jl_arrays_{tag}.joblib", f"joblib compress={comp!r}"))
    joblib.dump(lr, j(out, "sk_scaler_logreg_xz.joblib"), compress=("xz", 6))
    joblib.dump(lr, j(out, "sk_scaler_logreg_zlib.joblib"), compress=("zlib", 9))
    made += [("sk_scaler_logreg_xz.joblib", "pipeline, joblib xz level 6"),
             ("sk_scaler_logreg_zlib.joblib", "pipeline, joblib zlib level 9")]


def gen_demo(out, made):
    import joblib
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 26 * 26, 10))
    torch.save(net.state_dict(), os.path.join(out, "cnn_state_dict.pt"))
    np.save(os.path.join(out, "embeddings.npy"), np.random.default_rng(0).standard_normal((100, 16)).astype("f4"))
    X = np.random.default_rng(1).standard_normal((50, 4))
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, X[:, 0] > 0)
    joblib.dump(clf, os.path.join(out, "classifier.joblib"), compress=3)
    made += [("cnn_state_dict.pt", "torch"), ("embeddings.npy", "numpy"), ("classifier.joblib", "sklearn")]


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[1]
    quick = "--quick" in argv
    os.makedirs(out, exist_ok=True)
    made = []
    if "--demo" in argv:
        gen_demo(out, made)
        print(f"gen_honest: wrote {len(made)} files to {out}")
        return 0
    gen_pickles(out, made)
    gen_numpy(out, made)
    gen_torch(out, made)
    gen_sklearn(out, made, quick)
    with open(os.path.join(out, "honest.json"), "w") as f:
        json.dump([{"file": a, "what": b} for a, b in made], f, indent=1)
    print(f"gen_honest: wrote {len(made)} files to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
