#!/usr/bin/env bash
# adv_acceptance.sh - the long acceptance run of issue 8: train an undefended and a
# PGD-trained Madry CNN on Fashion-MNIST, attack both with PGD-20 at eps 0.1 (and the
# robustness sweep), and write the measured numbers with the commands that produced
# them between the acceptance markers of docs/adversarial.md.
# Usage: scripts/adv_acceptance.sh BUILD_DIR WORK_DIR
# Environment (defaults are the full run; smaller values give a shorter, weaker run and
# are recorded in the output):
#   ADV_TRAIN_N (60000) training images, ADV_EPOCHS (10) clean epochs,
#   ADV_ADV_EPOCHS (10) adversarial epochs, ADV_TRAIN_STEPS (7) PGD steps in training,
#   ADV_EVAL_N (1000) test images attacked, ADV_EVAL_STEPS (20), ADV_THREADS (2),
#   ADV_SWEEP_N (= ADV_EVAL_N) images of the robustness sweep.
# Training uses --checkpoint WORK/{plain,pgd}.ckpt --resume, so an interrupted run
# continues exactly where it stopped (the .ckpt, .ckpt.optim.safetensors and
# .ckpt.state.json files; docs/adversarial.md). A WORK_DIR left by a bulwark older than
# exact resumption holds state without the optimiser and is refused (exit 3): use a
# fresh WORK_DIR, or remove its *.ckpt.state.json to train from epoch 1.
set -euo pipefail
build=$1; work=$2
src=$(cd "$(dirname "$0")/.." && pwd)
BW=$build/bulwark
N=${ADV_TRAIN_N:-60000}; E=${ADV_EPOCHS:-10}; EA=${ADV_ADV_EPOCHS:-10}
TS=${ADV_TRAIN_STEPS:-7}; NE=${ADV_EVAL_N:-1000}; ES=${ADV_EVAL_STEPS:-20}; TH=${ADV_THREADS:-2}
mkdir -p "$work"
log=$work/commands.txt
touch "$log"  # appended to: a resumed run keeps the commands of the earlier ones
run() { echo "$*" >>"$log"; nice -n 10 "$@"; }

start=$(date -u +%FT%TZ)
[ -f "$work/plain.safetensors" ] || run "$BW" train --arch madry-cnn --data fashion-mnist \
  --limit "$N" --epochs "$E" --batch 128 --threads "$TH" --checkpoint "$work/plain.ckpt" --resume \
  --format json -o "$work/plain.safetensors" >"$work/plain.json"
[ -f "$work/pgd.safetensors" ] || run "$BW" train --arch madry-cnn --data fashion-mnist \
  --limit "$N" --epochs "$EA" --batch 128 --threads "$TH" --adversarial pgd --adv-eps 0.1 \
  --adv-steps "$TS" --checkpoint "$work/pgd.ckpt" --resume --format json \
  -o "$work/pgd.safetensors" >"$work/pgd.json"
for m in plain pgd; do
  run "$BW" attack "$work/$m.safetensors" --data fashion-mnist --limit "$NE" --attack pgd \
    --eps 0.1 --steps "$ES" --threads "$TH" --format json -o "$work/attack-$m" >"$work/attack-$m.json"
done
run "$BW" robustness "$work/plain.safetensors" --hardened "$work/pgd.safetensors" \
  --data fashion-mnist --limit "${ADV_SWEEP_N:-$NE}" --steps "$ES" --eps 0,0.05,0.1,0.15 --threads "$TH" \
  -o "$work/robustness" >"$work/robustness.txt"

/usr/bin/python3 - "$work" "$src/docs/adversarial.md" "$start" "$N" "$E" "$EA" "$TS" "$NE" "$ES" <<'PYEOF'
import json, sys, re, datetime
w, doc, start, n, e, ea, ts, ne, es = sys.argv[1:10]
p = json.load(open(f"{w}/attack-plain.json")); h = json.load(open(f"{w}/attack-pgd.json"))
cp, ch = 100 * p["clean_accuracy"], 100 * h["clean_accuracy"]
ap, ah = 100 * p["adversarial_accuracy"], 100 * h["adversarial_accuracy"]
ok1, ok2, ok3 = ap < 30, ah >= 70, cp - ch <= 10
cmds = open(f"{w}/commands.txt").read().strip()
out = [
    f"Run {start} to {datetime.datetime.utcnow().strftime('%FT%TZ')} with `scripts/adv_acceptance.sh` "
    f"(training images {n}, clean epochs {e}, adversarial epochs {ea}, PGD-{ts} in training, "
    f"PGD-{es} at eps 0.1 on the first {ne} test images).",
    "",
    "| model | clean accuracy | PGD-%s accuracy, eps 0.1 | target | met |" % es,
    "|---|---|---|---|---|",
    f"| undefended Madry CNN | {cp:.2f}% | {ap:.2f}% | < 30% under PGD | {'yes' if ok1 else 'NO'} |",
    f"| PGD-trained Madry CNN | {ch:.2f}% | {ah:.2f}% | >= 70% under PGD, clean loss <= 10 points "
    f"(lost {cp - ch:.2f}) | {'yes' if ok2 and ok3 else 'NO'} |",
    "",
    "Robustness sweep (`robustness/robustness.md` of the run):",
    "",
    "```",
    open(f"{w}/robustness.txt").read().strip(),
    "```",
    "",
    "Commands:",
    "",
    "```",
    cmds,
    "```",
]
text = "\n".join(out)
print(text)
d = open(doc).read()
new = re.sub(r"(<!-- acceptance:begin -->\n).*?(<!-- acceptance:end -->)",
             lambda m: m.group(1) + text + "\n" + m.group(2), d, flags=re.S)
open(doc, "w").write(new)
PYEOF
