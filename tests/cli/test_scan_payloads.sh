#!/usr/bin/env bash
# bulwark scan on real payloads from tests/gen/gen_malicious.py and honest files:
# exit codes against --fail-on, text/quiet/JSON/SARIF output naming the callable,
# a folder mixing honest and malicious files, and a broken benign stream (never clean).
. "$(dirname "$0")/lib.sh"
: "${BW_SRC:?BW_SRC must be set; run through ctest}"
PY=/usr/bin/python3
G=$TMP/gen
$PY "$BW_SRC/tests/gen/gen_malicious.py" "$G" --no-big \
    --files direct_os_system.pkl,torch_zip_data_pkl.pt,op_inst.pkl,sg_dotted_bdb.pkl >/dev/null || bad "generator failed"

# A plain os.system pickle: exit 1 at every threshold up to critical; names os.system and its argument.
run "$BW" scan "$G/direct_os_system.pkl"; expect_rc 1 "os.system text"
expect_out_has "os.system" "text names os.system"; expect_out_has "echo bulwark-test" "text shows the argument"
run "$BW" scan --fail-on critical "$G/direct_os_system.pkl"; expect_rc 1 "fail-on critical"
run "$BW" scan --quiet "$G/direct_os_system.pkl"; expect_rc 1 "quiet malicious"
expect_out_has "direct_os_system.pkl" "quiet still prints the failing file"

# JSON: the finding carries rule, severity critical, callable, args, a location and offset.
run "$BW" scan --format json "$G/direct_os_system.pkl"; expect_rc 1 "json malicious"
$PY - "$OUT" <<'PY' && ok || bad "json finding fields for os.system"
import json, sys
d = json.load(open(sys.argv[1]))
f = d["files"][0]
assert f["verdict"] == "findings" and f["format"] == "pickle", f
x = [x for x in f["findings"] if x["callable"] == "os.system"]
assert x, f["findings"]
x = x[0]
assert x["severity"] == "critical" and x["rule"] and x["reason"], x
assert "echo bulwark-test" in (x["args"] or ""), x
assert isinstance(x["offset"], int), x
assert d["summary"]["failing"] == 1 and d["summary"]["exit_code"] == 1, d["summary"]
PY

# Member location inside a PyTorch zip.
run "$BW" scan --format json "$G/torch_zip_data_pkl.pt"; expect_rc 1 "torch zip"
$PY - "$OUT" <<'PY' && ok || bad "torch zip finding located in archive/data.pkl"
import json, sys
f = json.load(open(sys.argv[1]))["files"][0]
x = [x for x in f["findings"] if x["callable"] == "os.system"]
assert x and x[0]["location"].endswith("archive/data.pkl"), f["findings"]
assert any(m["location"].endswith("archive/data.pkl") and m["format"] == "pickle" for m in f["members"]), f["members"]
PY

# Dotted protocol-4 name resolves to the full path the loader would call.
run "$BW" scan --format json "$G/sg_dotted_bdb.pkl"; expect_rc 1 "bdb dotted"
expect_out_has '"bdb.Bdb.run"' "dotted callable bdb.Bdb.run"

# A folder mixing honest and malicious files: exit 1; --quiet prints only the failing ones.
mkdir -p "$TMP/mix"
cp "$G/direct_os_system.pkl" "$G/op_inst.pkl" "$TMP/mix/"
$PY -c 'import pickle,sys; pickle.dump({"w": [1.0, 2.0], "name": "ok"}, open(sys.argv[1], "wb"), protocol=4)' "$TMP/mix/honest.pkl"
run "$BW" scan --quiet "$TMP/mix"; expect_rc 1 "mixed folder"
expect_out_has "op_inst.pkl" "quiet lists op_inst.pkl"
grep -q "honest.pkl" "$OUT" && bad "quiet printed the honest file" || ok
run "$BW" scan --format json "$TMP/mix"; expect_rc 1 "mixed folder json"
$PY - "$OUT" <<'PY' && ok || bad "mixed folder verdicts"
import json, os, sys
d = json.load(open(sys.argv[1]))
v = {os.path.basename(f["path"]): f for f in d["files"]}
sev = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
assert max([sev[x["severity"]] for x in v["honest.pkl"]["findings"]] or [-1]) < 2, v["honest.pkl"]
assert v["op_inst.pkl"]["max_severity"] == "critical" and v["direct_os_system.pkl"]["max_severity"] == "critical"
assert d["summary"]["files"] == 3 and d["summary"]["failing"] == 2, d["summary"]
PY

# SARIF names the callable in a result.
run "$BW" scan --format sarif --output "$TMP/r.sarif" "$TMP/mix"; expect_rc 1 "sarif mixed"; expect_out_empty "sarif to file"
grep -q "os.system" "$TMP/r.sarif" && ok || bad "sarif lacks os.system"

# A benign pickle cut short is not fully scanned: exit 3, never clean.
printf '\x80\x04]\x94(K\x01K\x02' > "$TMP/cut.pkl"
run "$BW" scan --format json "$TMP/cut.pkl"; expect_rc 3 "truncated benign pickle"
expect_out_has '"verdict": "incomplete"' "truncated pickle verdict"
finish
