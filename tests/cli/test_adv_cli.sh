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
grep -q "note: adversarial was \"fgsm-rs\" in the checkpoint and is \"pgd\" now" "$t/err"
ok $? "resume notes the option that changed"

# Exact resumption: E epochs straight == k epochs, stop, --resume to E (byte for byte).
# 256 test-split images as .npy: loading them costs nothing, unlike the whole training split.
$PY - "$t" "$FM" <<'PYEOF'
import gzip, sys, numpy as np
t, fm = sys.argv[1:3]
x = np.frombuffer(gzip.open(f"{fm}/t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
y = np.frombuffer(gzip.open(f"{fm}/t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
np.save(f"{t}/sx.npy", x.reshape(-1, 28, 28)[:256]); np.save(f"{t}/sy.npy", y[:256])
PYEOF
tr() { "$BW" train --arch mlp --data "npy:$t/sx.npy,$t/sy.npy" --batch 64 --threads 1 "$@"; }
for run in "pgd:--adversarial pgd --adv-steps 2" "sgd:--optim sgd --momentum 0.9 --weight-decay 0.001"; do
  name=${run%%:*}; opts=${run#*:}
  # shellcheck disable=SC2086
  expect_rc 0 "$name: 3 epochs straight" tr $opts --epochs 3 -o "$t/$name-whole.safetensors"
  # shellcheck disable=SC2086
  expect_rc 0 "$name: 1 epoch with a checkpoint" tr $opts --epochs 1 --checkpoint "$t/$name.ck" \
    -o "$t/$name-part.safetensors"
  # shellcheck disable=SC2086
  expect_rc 0 "$name: --resume to epoch 3" tr $opts --epochs 3 --checkpoint "$t/$name.ck" --resume \
    --format json -o "$t/$name-resumed.safetensors"
  grep -q '"resumed_after_epoch":1,"optimizer_steps":12,' "$t/out"; ok $? "$name: JSON summary says resumed after epoch 1, 12 steps"
  grep -q "resuming from .* after epoch 1 (optimiser step 4)" "$t/err" && ! grep -q "note:" "$t/err"
  ok $? "$name: resumed at step 4 without notes"
  cmp -s "$t/$name-whole.safetensors" "$t/$name-resumed.safetensors"
  ok $? "$name: the resumed model is byte-identical to the uninterrupted one"
done
$PY - "$t" <<'PYEOF'
import hashlib, json, struct, sys
t = sys.argv[1]
s = json.load(open(f"{t}/pgd.ck.state.json"))
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
assert s["format"] == "bulwark-train-checkpoint" and s["version"] == 2, s
assert s["epochs_done"] == 3 and s["optim_step"] == 12 and len(s["graph_rng"]) == 16, s
assert s["model_sha256"] == sha(f"{t}/pgd.ck") and s["optim_sha256"] == sha(f"{t}/pgd.ck.optim.safetensors")
assert s["settings"]["adversarial"] == "pgd" and s["settings"]["adv_steps"] == 2 and s["settings"]["optim"] == "adam"
raw = open(f"{t}/pgd.ck.optim.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
meta = h.pop("__metadata__")
assert meta == {"bulwark.content": "optimizer", "bulwark.optim": "adam", "bulwark.step": "12"}, meta
assert sorted(h) == sorted(f"{b}/{p}" for b in ("exp_avg", "exp_avg_sq") for p in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")), sorted(h)
PYEOF
ok $? "checkpoint state JSON and optimiser file (PyTorch state names, step, SHA-256 binding)"

# Checkpoints that do not fit: refused with the reason and exit 3.
cp "$t/pgd.ck.optim.safetensors" "$t/pgd.optim.bak"; cp "$t/pgd.ck.state.json" "$t/pgd.state.bak"
expect_rc 0 "a lenet checkpoint" "$BW" train --arch lenet --data "npy:$t/sx.npy,$t/sy.npy" \
  --limit 128 --batch 64 --epochs 1 --threads 1 --checkpoint "$t/lenet.ck" -o "$t/lenet.safetensors"
cp "$t/lenet.ck.optim.safetensors" "$t/pgd.ck.optim.safetensors"
expect_rc 3 "resume with a swapped optimiser file" tr --adversarial pgd --adv-steps 2 --epochs 4 \
  --checkpoint "$t/pgd.ck" --resume -o "$t/x.safetensors"
grep -q "pgd.ck.optim.safetensors is not the file .*state.json was written with (SHA-256 differs)" "$t/err"
ok $? "swapped file: SHA-256 message"
$PY - "$t" <<'PYEOF'
import hashlib, json, sys
t = sys.argv[1]
s = json.load(open(f"{t}/pgd.ck.state.json"))
s["optim_sha256"] = hashlib.sha256(open(f"{t}/pgd.ck.optim.safetensors", "rb").read()).hexdigest()
json.dump(s, open(f"{t}/pgd.ck.state.json", "w"))
PYEOF
expect_rc 3 "resume with another model's optimiser state (digest updated)" tr --adversarial pgd \
  --adv-steps 2 --epochs 4 --checkpoint "$t/pgd.ck" --resume -o "$t/x.safetensors"
grep -q "^bulwark train: cannot resume: .*pgd.ck.optim.safetensors: optimiser state holds 20 tensors, the model's trainable parameters need 8 (malformed)" "$t/err"
ok $? "mismatched state: which check failed"
test ! -e "$t/x.safetensors"; ok $? "no model written after a refused resume"
cp "$t/pgd.optim.bak" "$t/pgd.ck.optim.safetensors"; cp "$t/pgd.state.bak" "$t/pgd.ck.state.json"
expect_rc 3 "resume an adam checkpoint with --optim sgd" tr --optim sgd --adversarial pgd --adv-steps 2 \
  --epochs 4 --checkpoint "$t/pgd.ck" --resume -o "$t/x.safetensors"
grep -q "was trained as --arch mlp --optim adam, this run asks for --arch mlp --optim sgd" "$t/err"
ok $? "other optimiser: message"
printf '{"epochs_done":1,"epochs":2}\n' >"$t/old.ck.state.json"; cp "$t/pgd.ck" "$t/old.ck"
expect_rc 3 "resume a checkpoint without optimiser state (older format)" tr --epochs 2 \
  --checkpoint "$t/old.ck" --resume -o "$t/x.safetensors"
grep -q "older bulwark without the optimiser state" "$t/err"; ok $? "older format: message"
head -c 30 "$t/pgd.state.bak" >"$t/pgd.ck.state.json"
expect_rc 3 "resume with a truncated state file" tr --adversarial pgd --adv-steps 2 --epochs 4 \
  --checkpoint "$t/pgd.ck" --resume -o "$t/x.safetensors"
grep -q "^bulwark train: checkpoint state .*pgd.ck.state.json: byte" "$t/err"; ok $? "truncated state: message"
cp "$t/pgd.state.bak" "$t/pgd.ck.state.json"
expect_rc 0 "resume with a changed --lr runs" tr --adversarial pgd --adv-steps 2 --epochs 4 --lr 0.01 \
  --checkpoint "$t/pgd.ck" --resume -o "$t/x.safetensors"
grep -q "note: lr was 0.0010000000474974513 in the checkpoint and is 0.0099999997764825821 now" "$t/err"
ok $? "changed --lr: note"
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
expect_rc 0 "attack cw --cw-no-abort, json" "$BW" attack "$t/m.safetensors" --limit 8 --attack cw \
  --cw-iters 20 --cw-search 2 --threads 1 --cw-no-abort --format json
"$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["cw_steps"] == 2 * 20 and s["cw_abort_early"] is False, s' "$t/out"
ok $? "cw without early abort runs cw_search * cw_iters steps (one batch)"
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
