#!/usr/bin/python3
"""Peer measurement for bench/bench_adv.sh: the same attacks and adversarial
training in Debian's python3-torch. PGD-S (L-inf, eps, step 2.5*eps/S, random
start) over the first N test images with the weights of a bulwark safetensors
model (same names as PyTorch's Madry CNN), and one epoch of Madry PGD
adversarial training (batch 128, Adam 1e-3, PGD-T at eps in training).
Prints one JSON object.
Usage: peer_torch_adv.py MODEL.safetensors [--n N] [--steps S] [--eps E]
       [--train-n N] [--train-steps T] [--threads T]"""
import argparse, gzip, json, resource, struct, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DIR = "/usr/share/datasets/fashion-mnist"


def load(split):
    with gzip.open(f"{DIR}/{split}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{DIR}/{split}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    hdr = json.loads(data[8:8 + n])
    out = {}
    for k, v in hdr.items():
        if k != "__metadata__":
            b, e = v["data_offsets"]
            out[k] = torch.from_numpy(np.frombuffer(data[8 + n + b:8 + n + e], dtype="<f4")
                                      .reshape(v["shape"]).copy())
    return out


class Madry(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(7 * 7 * 64, 1024)
        self.fc2 = nn.Linear(1024, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


def pgd(m, x, y, eps, steps, alpha, gen):
    xa = (x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps).clamp(0, 1)
    for _ in range(steps):
        xa.requires_grad_(True)
        g, = torch.autograd.grad(F.cross_entropy(m(xa), y), xa)
        xa = torch.min(torch.max(xa.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    return xa.detach()


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--train-n", type=int, default=60000)
    ap.add_argument("--train-steps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    m = Madry()
    m.load_state_dict(read_safetensors(a.model))
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    xte, yte = load("t10k")
    x, y = xte[:a.n], yte[:a.n]
    t, c = time.perf_counter(), cpu()
    ok = 0
    for i in range(0, a.n, 100):
        xa = pgd(m, x[i:i + 100], y[i:i + 100], a.eps, a.steps, 2.5 * a.eps / a.steps, gen)
        with torch.no_grad():
            ok += int((m(xa).argmax(1) == y[i:i + 100]).sum())
    pgd_s, pgd_c = time.perf_counter() - t, cpu() - c
    # one epoch of PGD adversarial training from a fresh model
    xtr, ytr = load("train")
    xtr, ytr = xtr[:a.train_n], ytr[:a.train_n]
    m = Madry()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    perm = torch.randperm(len(xtr))
    alpha = 2.5 * a.eps / a.train_steps
    t, c = time.perf_counter(), cpu()
    for i in range(0, len(xtr), 128):
        idx = perm[i:i + 128]
        xb, yb = xtr[idx], ytr[idx]
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
        xa = pgd(m, xb, yb, a.eps, a.train_steps, alpha, gen)
        for p in m.parameters():
            p.requires_grad_(True)
        m.train()
        opt.zero_grad()
        F.cross_entropy(m(xa), yb).backward()
        opt.step()
    train_s, train_c = time.perf_counter() - t, cpu() - c
    print(json.dumps({"torch": torch.__version__, "pgd_seconds": pgd_s, "pgd_accuracy": ok / a.n,
                      "pgd_images_per_s": a.n / pgd_s, "pgd_cpu_seconds": pgd_c,
                      "adv_train_seconds": train_s, "adv_train_cpu_seconds": train_c,
                      "adv_train_images_per_s": len(xtr) / train_s}))


if __name__ == "__main__":
    main()
