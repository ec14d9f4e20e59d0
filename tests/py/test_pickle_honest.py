#!/usr/bin/python3
"""Honest model files must decode to STOP with no anomaly above info.

Writes joblib files (sklearn pipelines, dicts of numpy arrays of every kind of
dtype/layout, protocols 2-5), torch checkpoints (zip data.pkl and the legacy
format, with optimizer state) and plain numpy pickles with Debian's python3,
runs `$BW disasm --format json` on each and checks: exit 0, no incomplete,
only info-level findings, the expected format, and that the expected imports
were seen (the machine did not stop early).
"""
import collections
import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile

BW = os.environ.get("BW")
if not BW:
    sys.exit("BW is not set (run through ctest)")
try:
    import joblib
    import numpy as np
    import torch
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
except ImportError as e:
    sys.exit("a Debian python3 package this test needs is missing: %s" % e)

INFO = {"pickle.persistent-id", "pickle.multiple-streams", "pickle.opcode-protocol"}
fails = []
tmp = tempfile.mkdtemp()


def disasm(path):
    p = subprocess.run([BW, "disasm", "--format", "json", path], capture_output=True)
    if p.returncode != 0:
        fails.append("%s: exit %d %s" % (path, p.returncode, p.stderr.decode()[:200]))
        try:
            return json.loads(p.stdout)
        except ValueError:
            return None
    return json.loads(p.stdout)


def check(name, path, fmt=None, want_import=None):
    doc = disasm(path)
    if doc is None:
        return
    if doc["incomplete"] is not None:
        fails.append("%s: incomplete %r" % (name, doc["incomplete"]))
    for f in doc["findings"]:
        if f["rule"] not in INFO:
            fails.append("%s: finding %s (%s)" % (name, f["rule"], f["message"]))
    if fmt is not None and fmt not in doc["formats"]:
        fails.append("%s: format %s not recognised (%r)" % (name, fmt, doc["formats"]))
    if want_import is not None:
        names = {i["module"] + "." + i["name"] for i in doc["imports"]}
        if want_import not in names:
            fails.append("%s: import %s not seen (%s)" % (name, want_import, sorted(names)[:8]))


rng = np.random.default_rng(0)
X = rng.random((40, 4))
y = (X[:, 0] > 0.5).astype(int)
models = {
    "pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
    "forest": RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y),
    "arrays": {
        "f8": np.arange(10.0), "f4F": np.asfortranarray(np.ones((3, 4), dtype=np.float32)),
        "i8": np.arange(7), "u1": np.frombuffer(b"cos\nsystem\n", dtype=np.uint8),
        "bool": np.array([True, False]), "c16": np.array([1 + 2j]), "str": np.array(["ab", "c"]),
        "bytes": np.array([b"xy"]), "obj": np.array([1, "x", None], dtype=object),
        "rec": np.zeros(3, dtype=[("a", "i4"), ("b", "f8"), ("c", "S3")]),
        "scalar": np.zeros((), dtype=np.int16), "empty": np.zeros((0, 5)),
        "dt": np.array(["2020-01-01"], dtype="datetime64[D]"), "be": np.arange(3, dtype=">i4"),
        "big": np.zeros((300, 300)),
    },
}
for name, obj in models.items():
    for proto in (2, 3, 4, 5):
        path = os.path.join(tmp, "%s-p%d.joblib" % (name, proto))
        joblib.dump(obj, path, protocol=proto)
        check(path, path, "joblib", "joblib.numpy_pickle.NumpyArrayWrapper")

net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
opt = torch.optim.Adam(net.parameters())
net(torch.ones(1, 4)).sum().backward()
opt.step()
ck = {"model": net.state_dict(), "opt": opt.state_dict(), "epoch": 1,
      "nested": {"t": [torch.arange(3), torch.zeros(2, dtype=torch.bfloat16)]}}
for i, obj in enumerate([net.state_dict(), ck]):
    path = os.path.join(tmp, "legacy-%d.pt" % i)
    torch.save(obj, path, _use_new_zipfile_serialization=False)
    check(path, path, "pytorch-legacy", "torch._utils._rebuild_tensor_v2")
    path = os.path.join(tmp, "zip-%d.pt" % i)
    torch.save(obj, path)
    with zipfile.ZipFile(path) as z:
        data = z.read([n for n in z.namelist() if n.endswith("data.pkl")][0])
    path = os.path.join(tmp, "zip-%d.pkl" % i)
    open(path, "wb").write(data)
    check(path, path, None, "torch._utils._rebuild_tensor_v2")

for proto in range(6):
    path = os.path.join(tmp, "np-%d.pkl" % proto)
    open(path, "wb").write(pickle.dumps({"a": np.arange(5), "m": np.eye(3)}, protocol=proto))
    check(path, path, None, "numpy.core.multiarray._reconstruct" if proto < 5 else None)

for f in fails:
    print("FAIL:", f)
print("%d failures" % len(fails))
sys.exit(1 if fails else 0)
