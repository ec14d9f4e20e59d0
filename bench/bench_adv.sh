#!/usr/bin/env bash
# bench_adv.sh - adversarial attacks and training against Debian's python3-torch, same
# machine, same run, same model weights: PGD-20 (L-inf, eps 0.1, random start) over
# 1,000 Fashion-MNIST test images, and one epoch of Madry PGD adversarial training
# (PGD-7 in training, batch 128, Adam). $1 = release build dir, $2 = scratch dir.
# Prints a Markdown section on stdout.
# BENCH_ADV_TRAIN_N (default 60000: a full epoch) shortens the training part;
# BENCH_ADV_CLEAN_N (default 60000) the clean training of the attacked model.
set -euo pipefail
build=$1; work=$2
src=$(cd "$(dirname "$0")/.." && pwd)
BW=$build/bulwark
PY=/usr/bin/python3
TN=${BENCH_ADV_TRAIN_N:-60000}
CN=${BENCH_ADV_CLEAN_N:-60000}
mkdir -p "$work"
# Measure what the machine does: an OPENBLAS_CORETYPE inherited from the environment
# (this workplace sets Haswell, AVX2 only) would hold both engines and the peak below the
# CPU's own kernels. bulwark picks the kernels for the CPU and reports them; the peer then
# uses the same.
unset OPENBLAS_CORETYPE

# the attacked model: one clean epoch (not timed here; bench_tensor.sh times training)
"$BW" train --arch madry-cnn --data fashion-mnist --test-data none --epochs 1 --limit "$CN" \
  --threads 2 --format json -o "$work/adv_madry.safetensors" >"$work/adv_clean.json" 2>/dev/null
core=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["blas_core"])' "$work/adv_clean.json")
export OPENBLAS_CORETYPE=$core
# the attack's CPU seconds (all threads): `bulwark attack` reports wall time only
$PY - "$work/adv_pgd_cpu.txt" "$BW" attack "$work/adv_madry.safetensors" --limit 1000 --attack pgd \
  --eps 0.1 --steps 20 --batch 100 --threads 2 --format json >"$work/adv_pgd.json" 2>/dev/null <<'PYEOF'
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{r.ru_utime + r.ru_stime:.3f}\n")
sys.exit(rc)
PYEOF
"$BW" train --arch madry-cnn --data fashion-mnist --test-data none --epochs 1 --limit "$TN" \
  --batch 128 --threads 2 --adversarial pgd --adv-eps 0.1 --adv-steps 7 --format json \
  -o "$work/adv_pgdtrained.safetensors" >"$work/adv_train.json" 2>/dev/null
$PY "$src/bench/peer_torch_adv.py" "$work/adv_madry.safetensors" --n 1000 --steps 20 --eps 0.1 \
  --train-n "$TN" --train-steps 7 --threads 2 >"$work/adv_torch.json" 2>/dev/null

$PY - "$work" "$core" "$TN" <<'PYEOF'
import json, sys
w, core, tn = sys.argv[1], sys.argv[2], int(sys.argv[3])
pg = json.load(open(f"{w}/adv_pgd.json")); tr = json.load(open(f"{w}/adv_train.json"))
t = json.load(open(f"{w}/adv_torch.json"))
pgc = float(open(f"{w}/adv_pgd_cpu.txt").read())
bw_pgd = pg["images"] / pg["seconds"]
# (name, bulwark wall img/s, PyTorch wall img/s, bulwark CPU-norm. img/s, PyTorch CPU-norm. img/s);
# CPU-normalised: images per CPU-second of the process (all threads) times 2 cores. The attack's
# CPU time covers the whole process (model load and the clean pass too), so it slightly
# understates bulwark.
rows = [
    ("PGD-20 (L-inf, eps 0.1), 1,000 test images", bw_pgd, t["pgd_images_per_s"],
     2 * pg["images"] / pgc, 2 * 1000 / t["pgd_cpu_seconds"]),
    (f"PGD-7 adversarial training, one epoch of {tn} images", tr["images_per_second"],
     t["adv_train_images_per_s"], 2 * tn / tr["train_cpu_seconds"], 2 * tn / t["adv_train_cpu_seconds"]),
]
load = open('/proc/loadavg').read().split()[0]
print("## Adversarial attacks and training (Madry CNN on Fashion-MNIST)\n")
print(f"bulwark and PyTorch {t['torch']} (Debian python3-torch), 2 threads each, same run, same "
      f"weights for the attack. OpenBLAS kernels: {core}. Target: bulwark at least 1.5x PyTorch.\n")
print(f"The machine is shared (1-min load average {load} on 2 cores at the end of the run), so wall-clock "
      f"rates mostly measure the scheduler; the CPU-normalised columns divide by the CPU seconds each "
      f"process used (all threads) and scale to 2 cores.\n")
print("| workload | bulwark img/s | PyTorch img/s | ratio (wall) | bulwark img/s (CPU-norm.) "
      "| PyTorch img/s (CPU-norm.) | ratio (CPU-norm.) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, b, p, bc, pc in rows:
    print(f"| {name} | {b:.1f} | {p:.1f} | {b / p:.2f}x | {bc:.1f} | {pc:.1f} | {bc / pc:.2f}x |")
print(f"\nAccuracy under the same PGD-20 attack: bulwark {100 * pg['adversarial_accuracy']:.2f}%, "
      f"PyTorch {100 * t['pgd_accuracy']:.2f}% (different random starts; clean "
      f"{100 * pg['clean_accuracy']:.2f}%).\n")
PYEOF
