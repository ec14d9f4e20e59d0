#!/usr/bin/python3
"""A model trained in PyTorch and exported to ONNX gives the same logits in
bulwark (within 1e-4 relative) and the same predictions, on Fashion-MNIST
(Debian package dataset-fashion-mnist). Kept fast for `make check`: the CNN
is trained on 2,000 images and compared on 1,000 test images; the full
10,000-image comparison is scripts/tensor_acceptance.sh.
Also checks the train/eval command line: progress, saved model, exit codes."""
import gzip
import json
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensor_common import bw, rel_err  # noqa: E402

DIR = "/usr/share/datasets/fashion-mnist"
N_TRAIN = int(os.environ.get("BW_ONNX_TRAIN_N", "2000"))
N_TEST = int(os.environ.get("BW_ONNX_TEST_N", "1000"))
EPOCHS = int(os.environ.get("BW_ONNX_EPOCHS", "1"))


def load(split):
    with gzip.open(f"{DIR}/{split}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{DIR}/{split}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x.astype(np.float32) / 255.0, y.astype(np.int64)


def madry():
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Linear(1024, 10))


results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}")


def main():
    if not os.path.exists(f"{DIR}/t10k-images-idx3-ubyte.gz"):
        print(f"Fashion-MNIST is ABSENT at {DIR} (install dataset-fashion-mnist)")
        return 1
    torch.manual_seed(0)
    torch.set_num_threads(2)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    xtr, ytr = torch.from_numpy(xtr[:N_TRAIN]), torch.from_numpy(ytr[:N_TRAIN])
    m = madry()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(EPOCHS):
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(m(xtr[idx]), ytr[idx]).backward()
            opt.step()
    m.eval()
    with tempfile.TemporaryDirectory() as tmp:
        x, y = xte[:N_TEST], yte[:N_TEST]
        np.save(f"{tmp}/x.npy", x)
        np.save(f"{tmp}/y.npy", y)
        torch.onnx.export(m, torch.from_numpy(x[:1]), f"{tmp}/m.onnx", opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}})
        with torch.no_grad():
            ref = m(torch.from_numpy(x)).numpy()
        p = bw("eval", f"{tmp}/m.onnx", "--data", f"npy:{tmp}/x.npy,{tmp}/y.npy",
               "--logits", f"{tmp}/l.npy", "--format", "json")
        out = json.loads(p.stdout)
        logits = np.load(f"{tmp}/l.npy")
        err = rel_err(logits, ref)
        check("ONNX logits match PyTorch", err < 1e-4, f"(max rel err {err:.2e} on {N_TEST} images)")
        same = int((logits.argmax(1) == ref.argmax(1)).sum())
        acc_t = float((ref.argmax(1) == y).mean())
        check("same predictions", same == N_TEST, f"({same}/{N_TEST})")
        check("same accuracy", abs(out["accuracy"] - acc_t) < 1e-9,
              f"(bulwark {out['accuracy']:.4f}, PyTorch {acc_t:.4f})")
        conf = np.array(out["confusion"])
        check("confusion matrix sums to the image count", conf.sum() == N_TEST and conf.shape == (10, 10))

        # the command line: train a small model, evaluate it from IDX files
        p = bw("train", "--arch", "lenet", "--data", "fashion-mnist", "--limit", "512", "--epochs", "1",
               "--format", "json", "-o", f"{tmp}/lenet.safetensors")
        tr = json.loads(p.stdout)
        check("train writes the model", os.path.getsize(f"{tmp}/lenet.safetensors") > 100000 and
              "epoch 1/1" in p.stderr and tr["images_per_second"] > 0, p.stderr.strip().splitlines()[-1])
        p = bw("eval", f"{tmp}/lenet.safetensors", "--data",
               f"idx:{DIR}/t10k-images-idx3-ubyte.gz,{DIR}/t10k-labels-idx1-ubyte.gz", "--limit", "500")
        check("eval of a bulwark model", "500 images, accuracy" in p.stdout and "confusion" in p.stdout)
        p = bw("eval", f"{tmp}/lenet.safetensors", "--limit", "200", "--pgd-steps", "3", "--eps", "0.1",
               "--format", "json")
        ev = json.loads(p.stdout)
        check("PGD lowers accuracy", ev["pgd"]["accuracy"] < ev["accuracy"],
              f"({ev['accuracy']:.3f} -> {ev['pgd']['accuracy']:.3f})")
        p = bw("train", "--arch", "nope", "--data", "fashion-mnist", "-o", f"{tmp}/x", check=False)
        check("unknown architecture is a usage error", p.returncode == 2 and "unknown architecture" in p.stderr)
        p = bw("eval", f"{tmp}/x.npy", check=False)
        check("a file that is no model exits 3", p.returncode == 3 and "bulwark eval:" in p.stderr)
        with open(f"{tmp}/lenet.safetensors", "rb") as f:
            data = bytearray(f.read())
        with open(f"{tmp}/trunc.safetensors", "wb") as f:
            f.write(data[: len(data) // 2])
        p = bw("eval", f"{tmp}/trunc.safetensors", check=False)
        check("a truncated model exits 3", p.returncode == 3, p.stderr.strip())
        p = bw("eval", f"{tmp}/lenet.safetensors", "--data", "bogus", check=False)
        check("a bad dataset name is a usage error", p.returncode == 2)
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
