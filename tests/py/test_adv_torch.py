#!/usr/bin/python3
"""Differential test of bulwark's attacks against PyTorch (Debian's
python3-torch) on the same model (a CNN trained in PyTorch, exported to ONNX)
and the same Fashion-MNIST test images:
 - FGSM examples (untargeted and targeted) equal PyTorch's to float tolerance:
   every pixel within 1e-6, except where two correct float32 implementations
   may legitimately disagree on the gradient's sign: pixels whose PyTorch
   gradient is within the float32 rounding of the backward sums
   (|g| <= 5e-3 * max|g| of that image: backward sums cancel, so a pixel's
   gradient carries the rounding of terms far larger than itself; measured on
   an AMD EPYC (OpenBLAS Zen kernels) against PyTorch's kernels, sign
   disagreements away from kinks reached 3.2e-3 of the image's largest), and
   images on which the network sits within float32 rounding of a kink (a ReLU
   input or a max-pool runner-up within 2e-6 of the scale sum|w||a| + |b| of
   the products that formed it: a different summation order, e.g. another
   BLAS kernel on another CPU, can then route the gradient through the other
   side). Differing pixels must be rare (< 0.1%), every
   image with an unexplained difference is an error, and the accuracy of
   PyTorch's model on bulwark's examples must equal that on its own examples
   within 0.5 percentage points.
 - PGD L-inf (no random start: both start at the image) accuracy within 0.5
   percentage points of a PyTorch PGD reference with the same eps, step, steps;
   the same for PGD L2.
Kept small for `make check` (a small CNN, 500 images); BW_ADV_DIFF_N changes it."""
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensor_common import bw  # noqa: E402

DIR = "/usr/share/datasets/fashion-mnist"
N = int(os.environ.get("BW_ADV_DIFF_N", "500"))
N_TRAIN = 3000
EPS = 0.1
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}")


def load(split):
    import gzip
    with gzip.open(f"{DIR}/{split}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{DIR}/{split}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x.astype(np.float32) / 255.0, y.astype(np.int64)


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))


def grad(m, x, y):
    x = x.clone().requires_grad_(True)
    F.cross_entropy(m(x), y).backward()
    return x.grad.detach()


def fgsm(m, x, y, eps, targeted=False):
    g = grad(m, x, y)
    s = -1.0 if targeted else 1.0
    return (x + s * eps * g.sign()).clamp(0, 1), g


def pgd(m, x, y, eps, alpha, steps, norm):
    xa = x.clone()
    for _ in range(steps):
        g = grad(m, xa, y)
        if norm == "linf":
            xa = xa + alpha * g.sign()
            xa = torch.min(torch.max(xa, x - eps), x + eps).clamp(0, 1)
        else:
            gn = g.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            xa = xa + alpha * g / torch.where(gn > 0, gn, torch.ones_like(gn))
            d = xa - x
            dn = d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            d = d * torch.where(dn > eps, eps / dn, torch.ones_like(dn))
            xa = (x + d).clamp(0, 1)
    with torch.no_grad():
        return (m(xa).argmax(1) == y).float().mean().item()


KINK_TOL = 2e-6
TINY_GRAD = 5e-3


def kink_images(m, x):
    """Images on which some ReLU input or max-pool window of the (Sequential)
    model is within float32 rounding of a kink. The rounding scale of a
    conv/linear output is sum|w||a| + |b| over the products that formed it."""
    kink = torch.zeros(len(x), dtype=torch.bool)
    a = x.double()
    with torch.no_grad():
        scale = torch.zeros_like(a)
        for layer in m:
            if isinstance(layer, nn.Conv2d):
                w, b = layer.weight.double(), layer.bias.double()
                scale = F.conv2d(a.abs(), w.abs(), b.abs(), layer.stride, layer.padding)
                a = F.conv2d(a, w, b, layer.stride, layer.padding)
            elif isinstance(layer, nn.Linear):
                w, b = layer.weight.double(), layer.bias.double()
                scale = F.linear(a.abs(), w.abs(), b.abs())
                a = F.linear(a, w, b)
            elif isinstance(layer, nn.ReLU):
                near = (a.abs() <= KINK_TOL * scale).flatten(1).any(1)
                kink |= near
                a = F.relu(a)
            elif isinstance(layer, nn.MaxPool2d):
                k = layer.kernel_size
                win = F.unfold(a, k, stride=k).view(a.shape[0], a.shape[1], k * k, -1)
                sw = F.unfold(scale, k, stride=k).view(a.shape[0], a.shape[1], k * k, -1)
                top = win.topk(2, dim=2).values
                gap = top[:, :, 0] - top[:, :, 1]
                # a tie of exact equals (e.g. flat background) is broken the same way by both
                near = (gap > 0) & (gap <= KINK_TOL * sw.max(2).values)
                kink |= near.flatten(1).any(1)
                a = layer(a)
                scale = layer(scale)
            elif isinstance(layer, nn.Flatten):
                a, scale = layer(a), layer(scale)
            else:
                raise ValueError(f"kink_images: no rule for {layer}")
    return kink.numpy()


def compare_fgsm(name, m, x, y, adv, ref, g):
    diff = np.abs(adv.astype(np.float64) - ref.astype(np.float64))
    bad = diff > 1e-6
    gmax = np.abs(g).reshape(len(g), -1).max(1).reshape(-1, 1, 1, 1)
    tiny = np.abs(g) <= TINY_GRAD * gmax
    unexplained = bad & ~tiny
    kinks = kink_images(m, x)
    img_bad = unexplained.reshape(len(g), -1).any(1)
    not_kink = int((img_bad & ~kinks).sum())
    frac = bad.sum() / bad.size
    with torch.no_grad():
        acc_bw = (m(torch.from_numpy(adv)).argmax(1) == y).float().mean().item()
        acc_ref = (m(torch.from_numpy(ref)).argmax(1) == y).float().mean().item()
    check(f"{name} examples equal PyTorch's", not_kink == 0 and frac < 1e-3 and
          abs(acc_bw - acc_ref) <= 0.005,
          f"(max diff {diff.max():.2e}; {int(bad.sum())} of {bad.size} pixels differ, "
          f"{int(unexplained.sum())} where PyTorch's gradient is not ~0, in {int(img_bad.sum())} "
          f"images, {not_kink} of them not at a float32 kink ({int(kinks.sum())} of {len(g)} "
          f"images are); accuracy of PyTorch's model on them {100 * acc_bw:.2f}% vs "
          f"{100 * acc_ref:.2f}% on its own)")


def main():
    if not os.path.exists(f"{DIR}/t10k-images-idx3-ubyte.gz"):
        print(f"Fashion-MNIST is ABSENT at {DIR} (install dataset-fashion-mnist)")
        return 1
    torch.manual_seed(0)
    torch.set_num_threads(2)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    xtr, ytr = torch.from_numpy(xtr[:N_TRAIN]), torch.from_numpy(ytr[:N_TRAIN])
    m = small_cnn()
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    for _ in range(2):
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(m(xtr[idx]), ytr[idx]).backward()
            opt.step()
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    x, y = xte[:N], yte[:N]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/x.npy", x)
        np.save(f"{tmp}/y.npy", y)
        torch.onnx.export(m, xt[:1], f"{tmp}/m.onnx", opset_version=13, input_names=["input"],
                          output_names=["logits"],
                          dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}})
        data = f"npy:{tmp}/x.npy,{tmp}/y.npy"

        # FGSM, untargeted
        bw("attack", f"{tmp}/m.onnx", "--data", data, "--limit", str(N), "--attack", "fgsm",
           "--eps", str(EPS), "-o", f"{tmp}/fgsm")
        ref, g = fgsm(m, xt, yt, EPS)
        compare_fgsm("FGSM", m, xt, yt, np.load(f"{tmp}/fgsm/adv.npy"), ref.numpy(), g.numpy())
        # FGSM, targeted at class 3 (minus the sign of the target loss gradient)
        bw("attack", f"{tmp}/m.onnx", "--data", data, "--limit", str(N), "--attack", "fgsm",
           "--eps", str(EPS), "--target", "3", "-o", f"{tmp}/fgsmt")
        ref, g = fgsm(m, xt, torch.full_like(yt, 3), EPS, targeted=True)
        compare_fgsm("targeted FGSM", m, xt, yt, np.load(f"{tmp}/fgsmt/adv.npy"), ref.numpy(),
                     g.numpy())
        # the per-example results agree with the examples
        lines = open(f"{tmp}/fgsm/results.csv").read().splitlines()
        check("results.csv has a line per image", len(lines) == N + 1 and
              lines[0].startswith("index,label,pred_clean,pred_adv,success"))

        # PGD L-inf and L2, deterministic start
        for norm, eps, steps in (("linf", EPS, 10), ("l2", 1.5, 10)):
            alpha = 2.5 * eps / steps
            import json
            p = bw("attack", f"{tmp}/m.onnx", "--data", data, "--limit", str(N), "--attack", "pgd",
                   "--norm", norm, "--eps", str(eps), "--steps", str(steps), "--alpha", str(alpha),
                   "--no-random-start", "--format", "json")
            out = json.loads(p.stdout)
            ref_acc = pgd(m, xt, yt, eps, alpha, steps, norm)
            with torch.no_grad():
                clean = (m(xt).argmax(1) == yt).float().mean().item()
            d = abs(out["adversarial_accuracy"] - ref_acc) * 100
            check(f"PGD-{steps} {norm} eps {eps} accuracy matches PyTorch", d <= 0.5 and
                  ref_acc < clean,
                  f"(bulwark {100 * out['adversarial_accuracy']:.2f}%, PyTorch {100 * ref_acc:.2f}%,"
                  f" clean {100 * clean:.2f}%)")
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
