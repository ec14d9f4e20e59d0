#!/usr/bin/env bash
# bench_tensor.sh - the tensor engine against Debian's python3-torch, same machine,
# same run: one training epoch of the Madry CNN (batch 128, Adam), PGD gradient
# steps on 1,000 test images, batched inference on the 10,000 test images, and the
# effective GFLOP/s against this machine's measured OpenBLAS sgemm peak.
# $1 = release build dir, $2 = scratch dir. Prints a Markdown section on stdout.
# BENCH_TENSOR_TRAIN_N (default 60000: a full epoch) shortens the training part.
set -euo pipefail
build=$1; work=$2
src=$(cd "$(dirname "$0")/.." && pwd)
BW=$build/bulwark
PY=/usr/bin/python3
N=${BENCH_TENSOR_TRAIN_N:-60000}
STEPS=10
mkdir -p "$work"

# bulwark (first: it reports the OpenBLAS kernels it selected; it upgrades the generic
# Prescott kernels on CPUs OpenBLAS does not recognise). The peer and the sgemm peak
# measurement then run with the same kernels.
"$BW" train --arch madry-cnn --data fashion-mnist --test-data none --epochs 1 --batch 128 \
  --limit "$N" --format json -o "$work/madry.safetensors" >"$work/bw_train.json" 2>"$work/bw_train.err"
core=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["blas_core"])' "$work/bw_train.json")
export OPENBLAS_CORETYPE=$core
"$BW" eval "$work/madry.safetensors" --limit 1000 --batch 256 --pgd-steps $STEPS --eps 0.1 --format json >"$work/bw_pgd.json"
"$BW" eval "$work/madry.safetensors" --batch 256 --format json >"$work/bw_inf.json"

# sgemm peak: OpenBLAS through numpy, both cores, 2048^3, best of 5
peak=$($PY - <<'PYEOF'
import time, numpy as np
a = np.random.rand(2048, 2048).astype(np.float32); b = np.random.rand(2048, 2048).astype(np.float32)
a @ b
best = 1e9
for _ in range(5):
    t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)
print(f"{2 * 2048**3 / best / 1e9:.1f}")
PYEOF
)
# PyTorch
$PY "$src/bench/peer_torch_tensor.py" --train-n "$N" --pgd-n 1000 --pgd-steps $STEPS --threads 2 >"$work/torch.json" 2>/dev/null

$PY - "$work" "$peak" "$core" "$N" "$STEPS" <<'PYEOF'
import json, sys
w, peak, core, n, steps = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
tr = json.load(open(f"{w}/bw_train.json")); pg = json.load(open(f"{w}/bw_pgd.json"))
inf = json.load(open(f"{w}/bw_inf.json")); t = json.load(open(f"{w}/torch.json"))
# Madry CNN forward FLOPs per 28x28 image: conv1 2*800*784, conv2 2*51200*196, fc1 2*3136*1024, fc2 2*1024*10
fwd = 2 * 800 * 784 + 2 * 51200 * 196 + 2 * 3136 * 1024 + 2 * 1024 * 10
train_f = 3 * fwd - 2 * 800 * 784          # forward + weight grads + input grads (not for conv1)
pgd_f = 2 * fwd                            # forward + input gradient
bw_pgd = 1000 * steps / pg["pgd"]["seconds"]
rows = [
    ("training epoch (batch 128)", tr["images_per_second"], t["train_images_per_s"], train_f),
    (f"PGD gradient steps, 1,000 images x {steps}", bw_pgd, t["pgd_grad_steps_images_per_s"], pgd_f),
    ("batched inference, 10,000 images", inf["images_per_second"], t["infer_images_per_s"], fwd),
]
print("## Tensor engine (Madry CNN on Fashion-MNIST)\n")
print(f"bulwark and PyTorch {t['torch']} (Debian python3-torch; its convolutions use oneDNN, its linear "
      f"layers OpenBLAS), both on 2 threads, measured in the same run. OpenBLAS kernels: {core} "
      f"(OPENBLAS_CORETYPE set for both). sgemm peak (OpenBLAS, 2048^3, both cores): **{peak:.1f} GFLOP/s**. "
      f"Training images: {n}. FLOPs per image: forward {fwd/1e6:.2f} M, training step {train_f/1e6:.2f} M, "
      f"PGD step {pgd_f/1e6:.2f} M.\n")
print("| workload | bulwark img/s | PyTorch img/s | speed-up | bulwark GFLOP/s | % of sgemm peak |")
print("|---|---:|---:|---:|---:|---:|")
for name, b, p, f in rows:
    g = b * f / 1e9
    print(f"| {name} | {b:.0f} | {p:.0f} | {b/p:.2f}x | {g:.1f} | {100*g/peak:.0f}% |")
print()
print(f"Test accuracy after this one epoch: {inf['accuracy']*100:.2f}% (bulwark). "
      f"Machine load during the run: {open('/proc/loadavg').read().split()[0]} (1-min load average).\n")
PYEOF
