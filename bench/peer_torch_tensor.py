#!/usr/bin/python3
"""Peer measurement for bench/bench_tensor.sh: the Madry CNN in Debian's
python3-torch on the same machine. Prints one JSON object with images/s for
one training epoch (batch 128, Adam), PGD gradient steps, and inference.
Usage: peer_torch_tensor.py [--train-n N] [--pgd-n N] [--pgd-steps S] [--threads T]"""
import argparse, gzip, json, resource, time
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
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-n", type=int, default=60000)
    ap.add_argument("--pgd-n", type=int, default=1000)
    ap.add_argument("--pgd-steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    xtr, ytr = xtr[: a.train_n], ytr[: a.train_n]
    m = Madry()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    perm = torch.randperm(len(xtr))
    t0, c0 = time.perf_counter(), cpu()
    m.train()
    for i in range(0, len(xtr), 128):
        idx = perm[i:i + 128]
        opt.zero_grad()
        loss = F.cross_entropy(m(xtr[idx]), ytr[idx])
        loss.backward()
        opt.step()
    t_train, c_train = time.perf_counter() - t0, cpu() - c0
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    x0, y0 = xte[: a.pgd_n], yte[: a.pgd_n]
    eps, alpha = 0.1, 0.025
    t0, c0 = time.perf_counter(), cpu()
    for i in range(0, len(x0), 256):
        xb, yb = x0[i:i + 256], y0[i:i + 256]
        xa = xb.clone()
        for _ in range(a.pgd_steps):
            xa.requires_grad_(True)
            loss = F.cross_entropy(m(xa), yb)
            (g,) = torch.autograd.grad(loss, xa)
            xa = torch.min(torch.max(xa.detach() + alpha * g.sign(), xb - eps), xb + eps).clamp(0, 1)
    t_pgd, c_pgd = time.perf_counter() - t0, cpu() - c0
    t0, c0 = time.perf_counter(), cpu()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(xte), 256):
            correct += (m(xte[i:i + 256]).argmax(1) == yte[i:i + 256]).sum().item()
    t_inf, c_inf = time.perf_counter() - t0, cpu() - c0
    print(json.dumps({
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "train_images_per_s": len(xtr) / t_train, "train_seconds": t_train, "train_cpu_seconds": c_train,
        "pgd_grad_steps_images_per_s": len(x0) * a.pgd_steps / t_pgd, "pgd_seconds": t_pgd, "pgd_cpu_seconds": c_pgd,
        "infer_images_per_s": len(xte) / t_inf, "infer_seconds": t_inf, "infer_cpu_seconds": c_inf,
    }))


if __name__ == "__main__":
    main()
