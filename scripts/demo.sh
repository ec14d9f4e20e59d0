#!/usr/bin/env bash
# scripts/demo.sh BINARY - `make demo`: what bulwark scan shows a user.
# Generates a small mixed folder with the test generators (three honest models written
# by torch / numpy / joblib+scikit-learn, four malicious ones built byte by byte with a
# harmless `echo bulwark-test` payload), scans it in text mode, and explains the result.
# Nothing is ever loaded or unpickled. Exits 0 when bulwark behaved as expected
# (the scan itself exits 1 because it found the malicious files).
set -euo pipefail
bw=${1:?usage: scripts/demo.sh path/to/bulwark}
[ -x "$bw" ] || { echo "demo: $bw is not an executable (run make build first)" >&2; exit 2; }
bw=$(cd "$(dirname "$bw")" && pwd)/$(basename "$bw")
src=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
m=$work/models
mkdir -p "$m" "$work/gen"

if [ -t 1 ]; then say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }; else say() { printf '\n== %s\n' "$*"; }; fi

say "1. Generating a mixed model folder in $m"
"$py" "$src/tests/gen/gen_honest.py" "$m" --demo >/dev/null
"$py" "$src/tests/gen/gen_malicious.py" "$work/gen" \
    --files direct_os_system.pkl,torch_zip_data_pkl.pt,joblib_zlib.joblib,broken_exec_nullifai.pkl >/dev/null
mv "$work/gen/direct_os_system.pkl"      "$m/tokenizer.pkl"
mv "$work/gen/torch_zip_data_pkl.pt"     "$m/resnet_finetuned.pt"
mv "$work/gen/joblib_zlib.joblib"        "$m/preprocessor.joblib"
mv "$work/gen/broken_exec_nullifai.pkl"  "$m/broken_model.pkl"
cat <<TXT
   honest:    cnn_state_dict.pt (torch.save), embeddings.npy (numpy.save), classifier.joblib (joblib, sklearn)
   malicious: tokenizer.pkl       os.system('echo bulwark-test') via GLOBAL+REDUCE
              resnet_finetuned.pt PyTorch zip whose archive/data.pkl calls os.system
              preprocessor.joblib joblib compress=zlib whose pickle calls os.system
              broken_model.pkl    builtins.exec, then a deliberately broken stream (nullifAI style)
TXT

say "2. bulwark scan models"
echo "\$ cd $work && bulwark scan models"
set +e
(cd "$work" && "$bw" scan models)
rc=$?
set -e
echo "(exit code $rc)"

say "3. The same scan as JSON, for CI (summary only)"
(cd "$work" && "$bw" scan --format json --output report.json models >/dev/null 2>&1) || true
"$py" - "$work/report.json" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
print("summary:", json.dumps(r["summary"]))
for f in r["files"]:
    names = sorted({x["callable"] for x in f["findings"] if x.get("callable")})
    print(f"  {os.path.basename(f['path']):22} {f['format']:14} {f['verdict']:10} {f['max_severity'] or '-':9} {', '.join(names)}")
PY

say "4. What this shows"
cat <<'TXT'
 - bulwark reads model files without loading them: the pickle opcodes are interpreted
   symbolically, so it sees which functions a file would import and call, with their
   constant arguments, even inside zip, joblib compression and broken streams.
 - Exit codes: 0 clean, 1 a finding at or above --fail-on (default medium),
   2 usage error, 3 something could not be fully scanned.
 - Use it as a gate:  bulwark scan --fail-on high --format sarif --output scan.sarif models/
TXT

# Did bulwark behave as expected? Honest files must not fail, malicious ones must.
"$py" - "$work/report.json" <<'PY'
import json, os, sys
sev = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
r = json.load(open(sys.argv[1]))
bad = {"tokenizer.pkl", "resnet_finetuned.pt", "preprocessor.joblib", "broken_model.pkl"}
good = {"cnn_state_dict.pt", "embeddings.npy", "classifier.joblib"}
ok = True
seen = set()
for f in r["files"]:
    n = os.path.basename(f["path"]); seen.add(n)
    top = max([sev[x["severity"]] for x in f["findings"]] or [-1])
    if n in bad and top < sev["high"]:
        print(f"demo: UNEXPECTED: {n} was not flagged high/critical"); ok = False
    if n in good and top >= sev["high"]:
        print(f"demo: UNEXPECTED: honest {n} was flagged {f['max_severity']}"); ok = False
if (bad | good) - seen:
    print("demo: UNEXPECTED: missing from the report:", sorted((bad | good) - seen)); ok = False
if r["summary"]["exit_code"] != 1:
    print("demo: UNEXPECTED: exit code", r["summary"]["exit_code"]); ok = False
print("\ndemo: bulwark behaved as expected" if ok else "\ndemo: FAILED")
sys.exit(0 if ok else 1)
PY
