#!/usr/bin/env bash
# test_adv_cli.sh - bulwark attack / robustness / train --adversarial from the
# command line: outputs written and well formed, exit codes, messages on stderr.
# A tiny MLP on 256 Fashion-MNIST images keeps it fast.
set -uo pipefail
: "${BW:?BW is not set (run through ctest)}"
FM=/usr/share/datasets/fashion-mnist
if [ ! -f "$FM/t10k-images-idx3-ubyte.gz" ]; then
  echo "FAIL Fashion-MNIST is ABSENT at $FM (install dataset-fashion-mnist)"; exit 1
fi
PY=/usr/bin/python3
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
pass=0; fail=0
ok() { if [ "$1" = 0 ]; then pass=$((pass+1)); echo "ok   $2"; else fail=$((fail+1)); echo "FAIL $2"; fi; }
expect_rc() { # want name cmd...
  local want=$1 name=$2; shift 2
  "$@" >"$t/out" 2>"$t/err"; local rc=$?
  [ "$rc" = "$want" ]; ok $? "$name (exit $rc, want $want)"
}

expect_rc 0 "train --adversarial fgsm-rs with a checkpoint" "$BW" train --arch mlp --data fashion-mnist \
  --test-data none --limit 256 --epochs 1 --batch 64 --threads 1 --adversarial fgsm-rs \
  --checkpoint "$t/ck.safetensors" -o "$t/m.safetensors"
grep -q '"epochs_done":1' "$t/ck.safetensors.state.json"; ok $? "checkpoint state written"
expect_rc 0 "train --resume continues at epoch 2" "$BW" train --arch mlp --data fashion-mnist \
  --test-data none --limit 256 --epochs 2 --batch 64 --threads 1 --adversarial pgd --adv-steps 2 \
  --checkpoint "$t/ck.safetensors" --resume -o "$t/m2.safetensors"
grep -q "resuming from .* after epoch 1" "$t/err" && grep -q "epoch 2/2" "$t/err" && ! grep -q "epoch 1/2" "$t/err"
ok $? "resume skipped the finished epoch"
expect_rc 2 "train --adversarial with an unknown kind" "$BW" train --arch mlp --data fashion-mnist \
  --adversarial bim -o "$t/x"

expect_rc 0 "attack pgd writes outputs" "$BW" attack "$t/m.safetensors" --limit 40 --steps 3 \
  --threads 1 --format json -o "$t/a"
$PY - "$t" <<'PYEOF'
import json, sys, numpy as np
t = sys.argv[1]
s = json.load(open(f"{t}/out"))
x = np.load(f"{t}/a/adv.npy")
lines = open(f"{t}/a/results.csv").read().splitlines()
assert x.shape == (40, 1, 28, 28) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1, x.shape
assert len(lines) == 41 and lines[0] == "index,label,pred_clean,pred_adv,success,linf,l2"
assert max(float(l.split(",")[5]) for l in lines[1:]) <= 0.1 + 1e-6
assert s["attack"] == "pgd" and s["images"] == 40 and s["steps"] == 3
assert s["adversarial_accuracy"] <= s["clean_accuracy"]
assert json.load(open(f"{t}/a/summary.json")) == s
assert open(f"{t}/a/grid.svg").read().rstrip().endswith("</svg>")
PYEOF
ok $? "adv.npy, results.csv, summary.json and grid.svg are consistent"
expect_rc 0 "attack cw (small)" "$BW" attack "$t/m.safetensors" --limit 8 --attack cw --cw-iters 20 \
  --cw-search 2 --threads 1
grep -q "^cw (L2" "$t/out"; ok $? "cw summary line"
expect_rc 0 "attack pgd l2 targeted" "$BW" attack "$t/m.safetensors" --limit 8 --norm l2 --eps 1 \
  --steps 3 --target 0 --threads 1
expect_rc 1 "attack --fail-under 100 exits 1" "$BW" attack "$t/m.safetensors" --limit 20 --attack fgsm \
  --eps 0.3 --fail-under 100 --threads 1
expect_rc 2 "attack fgsm --norm l2 is a usage error" "$BW" attack "$t/m.safetensors" --attack fgsm --norm l2
grep -q "bulwark attack: FGSM is an L-inf attack" "$t/err"; ok $? "message on stderr"
expect_rc 2 "attack with an unknown attack" "$BW" attack "$t/m.safetensors" --attack deepfool
expect_rc 2 "attack --target out of range" "$BW" attack "$t/m.safetensors" --target 10 --limit 2
expect_rc 3 "attack on a file that is no model" "$BW" attack "$t/a/results.csv"
grep -q "^bulwark attack: " "$t/err"; ok $? "diagnostic prefix"

expect_rc 0 "robustness with a hardened model" "$BW" robustness "$t/m.safetensors" --hardened \
  "$t/m2.safetensors" --limit 30 --eps 0,0.05,0.1 --steps 2 --threads 1 -o "$t/r"
$PY - "$t" <<'PYEOF'
import json, sys, xml.dom.minidom
t = sys.argv[1]
r = json.load(open(f"{t}/r/robustness.json"))
assert [m["name"] for m in r["models"]] == ["model", "hardened"]
for m in r["models"]:
    assert [x["eps"] for x in m["results"]] == [0, 0.05, 0.1]
    assert m["results"][0]["pgd_accuracy"] == m["clean_accuracy"]
md = open(f"{t}/r/robustness.md").read()
assert md.startswith("## Adversarial robustness") and "| 0.1 |" in md and "**Recommendation.**" in md
svg = xml.dom.minidom.parse(f"{t}/r/robustness.svg")
assert len(svg.getElementsByTagName("polyline")) == 4
xml.dom.minidom.parse(f"{t}/r/grid.svg")
PYEOF
ok $? "robustness.json, .md, .svg and grid.svg are well formed"
expect_rc 2 "robustness with a decreasing eps list" "$BW" robustness "$t/m.safetensors" --eps 0.1,0.05
expect_rc 0 "help attack" "$BW" help attack
grep -q "usage: bulwark attack" "$t/out"; ok $? "help text"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
