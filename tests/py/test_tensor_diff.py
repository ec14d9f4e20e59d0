#!/usr/bin/python3
"""Differential test of the tensor engine against PyTorch (float64 reference).

For each operation a small PyTorch module containing it is exported to ONNX
(torch.onnx.export), imported by `bulwark eval`, and run on random inputs.
bulwark's logits, gradient of the mean cross-entropy with respect to the input
and gradients with respect to every parameter must match PyTorch computed in
float64 with relative error (max abs difference / max abs reference) below
1e-4. Operators bulwark does not have must be refused by name."""
import copy
import json
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensor_common import bw, read_safetensors, rel_err  # noqa: E402

TOL = 1e-4
torch.manual_seed(0)
np.random.seed(0)


class Head(nn.Module):
    """body -> flatten -> linear(5): every case ends in logits."""

    def __init__(self, body, feat):
        super().__init__()
        self.body = body
        self.flat = nn.Flatten()
        self.fc = nn.Linear(feat, 5)

    def forward(self, x):
        return self.fc(self.flat(self.body(x)))


class Lambda(nn.Module):
    def __init__(self, fn, **mods):
        super().__init__()
        self.fn = fn
        for k, v in mods.items():
            setattr(self, k, v)

    def forward(self, x):
        return self.fn(self, x)


def conv(ci, co, k=3, **kw):
    return nn.Conv2d(ci, co, k, **kw)


def randomize_bn(m):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            with torch.no_grad():
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.5, 0.5)


CASES = [
    ("conv2d stride/pad", (3, 8, 8), lambda: Head(conv(3, 4, stride=2, padding=1), 4 * 16)),
    ("conv2d dilation+groups", (4, 8, 8), lambda: Head(conv(4, 6, padding=2, dilation=2, groups=2), 6 * 64)),
    ("conv2d asym pad 5x3", (2, 9, 7), lambda: Head(nn.Conv2d(2, 3, (5, 3), padding=(2, 0), stride=(1, 2)), 3 * 9 * 3)),
    ("linear", (1, 4, 4), lambda: Head(nn.Identity(), 16)),
    ("relu", (2, 6, 6), lambda: Head(nn.Sequential(conv(2, 3), nn.ReLU()), 3 * 16)),
    ("leaky_relu", (2, 6, 6), lambda: Head(nn.Sequential(conv(2, 3), nn.LeakyReLU(0.2)), 3 * 16)),
    ("sigmoid", (2, 6, 6), lambda: Head(nn.Sequential(conv(2, 3), nn.Sigmoid()), 3 * 16)),
    ("tanh", (2, 6, 6), lambda: Head(nn.Sequential(conv(2, 3), nn.Tanh()), 3 * 16)),
    ("maxpool 2", (2, 8, 8), lambda: Head(nn.Sequential(conv(2, 3, padding=1), nn.MaxPool2d(2)), 3 * 16)),
    ("maxpool 3/2 pad ceil", (2, 8, 8), lambda: Head(nn.Sequential(conv(2, 3, padding=1), nn.MaxPool2d(3, 2, 1, ceil_mode=True)), 3 * 25)),
    ("avgpool 2", (2, 8, 8), lambda: Head(nn.Sequential(conv(2, 3, padding=1), nn.AvgPool2d(2)), 3 * 16)),
    ("avgpool pad exclude", (2, 8, 8), lambda: Head(nn.Sequential(conv(2, 3, padding=1), nn.AvgPool2d(3, 2, 1, count_include_pad=False)), 3 * 16)),
    ("avgpool pad include", (2, 8, 8), lambda: Head(nn.Sequential(conv(2, 3, padding=1), nn.AvgPool2d(3, 2, 1, count_include_pad=True)), 3 * 16)),
    ("global avgpool", (3, 6, 6), lambda: Head(nn.Sequential(conv(3, 8), nn.AdaptiveAvgPool2d(1)), 8)),
    ("batchnorm eval", (3, 5, 5), lambda: Head(nn.Sequential(nn.BatchNorm2d(3), nn.Tanh()), 75)),
    ("conv+bn+relu", (3, 6, 6), lambda: Head(nn.Sequential(conv(3, 4, bias=False), nn.BatchNorm2d(4), nn.ReLU()), 4 * 16)),
    ("residual add", (3, 6, 6), lambda: Head(Lambda(lambda s, x: F.relu(x + s.c(x)), c=conv(3, 3, padding=1)), 108)),
    ("mul (gating)", (3, 6, 6), lambda: Head(Lambda(lambda s, x: x * torch.sigmoid(s.c(x)), c=conv(3, 3, padding=1)), 108)),
    ("concat", (2, 6, 6), lambda: Head(Lambda(lambda s, x: torch.cat([s.a(x), s.b(x)], 1), a=conv(2, 3), b=conv(2, 2)), 5 * 16)),
    ("clamp", (2, 5, 5), lambda: Head(Lambda(lambda s, x: torch.clamp(s.c(x), -0.2, 0.3), c=conv(2, 3, padding=1)), 75)),
    ("sign", (2, 5, 5), lambda: Head(Lambda(lambda s, x: torch.sign(x - 0.5) + s.c(x), c=conv(2, 2, padding=1)), 50)),
    ("reshape", (2, 4, 4), lambda: Lambda(lambda s, x: s.fc(x.reshape(4, -1)), fc=nn.Linear(32, 5))),
    ("dropout (eval)", (2, 4, 4), lambda: Head(nn.Dropout(0.5), 32)),
    ("softmax", (2, 4, 4), lambda: Lambda(lambda s, x: torch.softmax(s.fc(x.flatten(1)), 1) * 3.0, fc=nn.Linear(32, 5))),
    ("log_softmax", (2, 4, 4), lambda: Lambda(lambda s, x: torch.log_softmax(s.fc(x.flatten(1)), 1), fc=nn.Linear(32, 5))),
    ("madry cnn", (1, 28, 28), lambda: nn.Sequential(
        conv(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), conv(32, 64, 5, padding=2), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Linear(1024, 10))),
    ("resnet basic block", (3, 8, 8), lambda: Head(Lambda(
        lambda s, x: F.relu(s.b2(s.c2(F.relu(s.b1(s.c1(x))))) + s.sb(s.sc(x))),
        c1=conv(3, 8, stride=2, padding=1, bias=False), b1=nn.BatchNorm2d(8),
        c2=conv(8, 8, padding=1, bias=False), b2=nn.BatchNorm2d(8),
        sc=nn.Conv2d(3, 8, 1, stride=2, bias=False), sb=nn.BatchNorm2d(8)), 8 * 16)),
]

N = 4

# Training mode: batch norm with batch statistics. bulwark computes the gradients with
# --train-mode; PyTorch runs the module in train() mode. (Logits from `eval` are
# eval-mode, so only the loss and gradients are compared here.)
TRAIN_CASES = [
    ("batchnorm train", (3, 5, 5), lambda: Head(nn.Sequential(nn.BatchNorm2d(3), nn.Tanh()), 75)),
    ("relu+batchnorm train", (2, 6, 6), lambda: Head(nn.Sequential(conv(2, 4), nn.ReLU(), nn.BatchNorm2d(4)), 64)),
]


def run_case(tmp, name, shape, make, train=False):
    model = make()
    randomize_bn(model)
    model.eval()
    x = torch.rand(N, *shape)
    with torch.no_grad():
        k = model(x).shape[1]
    y = torch.randint(0, k, (N,))
    path = os.path.join(tmp, "m.onnx")
    torch.onnx.export(model, x, path, opset_version=13, input_names=["input"], output_names=["logits"])
    np.save(os.path.join(tmp, "x.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(tmp, "y.npy"), y.numpy().astype(np.int64))
    out = bw("eval", path, "--data", f"npy:{tmp}/x.npy,{tmp}/y.npy", "--logits", f"{tmp}/l.npy",
             "--input-grad", f"{tmp}/g.npy", "--param-grads", f"{tmp}/p.safetensors", "--format", "json",
             *(["--train-mode"] if train else []))
    # float64 reference
    m64 = copy.deepcopy(model).double()
    if train:
        m64.train()
    x64 = x.double().requires_grad_(True)
    logits = m64(x64)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    errs = {"d/dinput": rel_err(np.load(f"{tmp}/g.npy"), x64.grad.numpy())}
    if train:
        errs["loss"] = rel_err(json.loads(out.stdout)["loss"], loss.item())
    else:
        errs["logits"] = rel_err(np.load(f"{tmp}/l.npy"), logits.detach().numpy())
    pg = read_safetensors(f"{tmp}/p.safetensors")
    matched = 0
    for pname, p in m64.named_parameters():
        if pname in pg and p.grad is not None:
            errs["d/d" + pname] = rel_err(pg[pname], p.grad.numpy())
            matched += 1
    worst = max(errs.values())
    return worst, matched, errs


def main():
    failed = 0
    passed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape, make, train in [c + (False,) for c in CASES] + [c + (True,) for c in TRAIN_CASES]:
            try:
                worst, matched, errs = run_case(tmp, name, shape, make, train)
            except Exception as e:  # report and count, keep going
                print(f"FAIL {name}: {e}")
                failed += 1
                continue
            ok = worst < TOL and matched > 0
            print(f"{'ok  ' if ok else 'FAIL'} {name:24s} max rel err {worst:.2e} "
                  f"({matched} parameter gradients compared)")
            if not ok:
                for k, v in errs.items():
                    print(f"      {k}: {v:.3e}")
            passed += ok
            failed += not ok
        # an operator bulwark lacks is refused by name, exit 3
        m = nn.Sequential(nn.Flatten(), nn.Linear(16, 5), nn.GELU())
        torch.onnx.export(m, torch.rand(2, 1, 4, 4), f"{tmp}/gelu.onnx", opset_version=13)
        np.save(f"{tmp}/x.npy", np.random.rand(2, 1, 4, 4).astype(np.float32))
        np.save(f"{tmp}/y.npy", np.array([0, 1], dtype=np.int64))
        p = bw("eval", f"{tmp}/gelu.onnx", "--data", f"npy:{tmp}/x.npy,{tmp}/y.npy", check=False)
        ok = p.returncode == 3 and "'Erf'" in p.stderr and "not supported" in p.stderr
        print(f"{'ok  ' if ok else 'FAIL'} unsupported operator refused by name: {p.stderr.strip()}")
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
