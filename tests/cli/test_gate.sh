#!/usr/bin/env bash
# bulwark gate: policy errors with line numbers, decisions, exceptions and expiry.
. "$(dirname "$0")/lib.sh"

printf 'plain bytes\n' > "$TMP/data.bin"
pol() { printf '%s\n' "$@" > "$TMP/p.yaml"; }

# --- policies with an error are refused with their line number ---
pol 'version: 1' 'sacn:' '  deny_on: high'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 2 "unknown key"; expect_err_has "p.yaml:2: unknown key 'sacn'" "unknown key line"
pol 'version: 1' 'scan:' '  deny_on: severe'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 2 "bad severity"; expect_err_has "p.yaml:3:" "bad severity line"
pol 'version: 2'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 2 "bad version"; expect_err_has "version" "bad version msg"
pol 'scan: {deny_on: high}'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 2 "no version"; expect_err_has "needs 'version: 1'" "no version msg"
pol 'version: 1' 'exceptions:' '  - id: X' '    owner: a' '    reason: r' '    path: "*"'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 2 "exception without expiry"; expect_err_has "p.yaml:3:" "exception line"
pol 'version: 1' 'exceptions:' '  - {id: X, owner: a, reason: r, expires: 2026-02-30, path: "*"}'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 2 "impossible date"; expect_err_has "YYYY-MM-DD" "date msg"
pol 'version: 1' 'exceptions:' '  - {id: X, owner: a, reason: r, expires: 2026-12-31}'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 2 "match-all exception"
pol 'version: 1' 'scan:' '  deny_on: medium' '  review_on: high'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 2 "review above deny"
pol 'version: 1' 'scan: [1, 2'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 2 "yaml syntax"; expect_err_has "YAML error" "yaml syntax msg"
pol 'version: 1' 'dependencies: {requirements: r.txt}'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 2 "deps without db"

# --- decisions ---
run "$BW" gate "$TMP/data.bin"; expect_rc 0 "default allows data"; expect_out_has "decision: allow" "allow text"
run "$BW" gate "$TMP/missing.pt"; expect_rc 1 "unreadable is denied by default"; expect_out_has "scan.incomplete" "incomplete reason"
pol 'version: 1' 'scan: {incomplete: review}'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/missing.pt"; expect_rc 3 "incomplete -> review"
mkdir -p "$TMP/m"; ln -s /etc/hostname "$TMP/m/escape"
run "$BW" gate --format json "$TMP/m"; expect_rc 1 "symlink escape denied"
expect_out_has '"rule": "walk.symlink-escape"' "escape reason json"

# --- exceptions: waive until expiry, never after ---
pol 'version: 1' 'exceptions:' \
    '  - {id: EX-1, owner: alice, reason: known, expires: 2026-12-31, check: scan, path: "*/m/*"}'
run "$BW" gate --policy "$TMP/p.yaml" --date 2026-12-31 "$TMP/m"; expect_rc 0 "waived on the last day"
expect_out_has "waived" "waived text"; expect_out_has "EX-1" "waiver id"
run "$BW" gate --policy "$TMP/p.yaml" --date 2027-01-01 "$TMP/m"; expect_rc 1 "expired exception not applied"
expect_out_has "expired on 2026-12-31" "expired msg"

# --- signatures: verified against the policy's keys ---
mkdir -p "$TMP/model"; printf 'weights\n' > "$TMP/model/w.bin"; printf '{}\n' > "$TMP/model/config.json"
(cd "$TMP" && "$BW" keygen --out pub >/dev/null 2>&1 && "$BW" keygen --out rogue >/dev/null 2>&1)
pol 'version: 1' 'signature: {required: true, keys: ['"$TMP"'/pub.pub.pem]}'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/model"; expect_rc 1 "unsigned model denied"; expect_out_has "signature.missing" "missing sig reason"
"$BW" sign --key "$TMP/pub.priv.pem" "$TMP/model" >/dev/null 2>&1 && ok || bad "sign model"
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/model"; expect_rc 0 "signed model allowed"
printf 'tampered\n' >> "$TMP/model/w.bin"
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/model"; expect_rc 1 "tampered model denied"; expect_out_has "signature.invalid" "invalid sig reason"
"$BW" sign --key "$TMP/rogue.priv.pem" "$TMP/model" >/dev/null 2>&1
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/model"; expect_rc 1 "model signed by an untrusted key denied"
pol 'version: 1' 'signature: {required: true}'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/model"; expect_rc 2 "signature without keys is a policy error"

# --- provenance: lineage through a signed attestation ---
mkdir -p "$TMP/ds"; echo "1,2" > "$TMP/ds/a.csv"; head -c 64 /dev/urandom > "$TMP/m.bin"
"$BW" attest --key "$TMP/pub.priv.pem" --output-model "$TMP/m.bin" --dataset "$TMP/ds" -o "$TMP/run.json" >/dev/null 2>&1 && ok || bad attest
pol 'version: 1' 'provenance: {required: true, attestations: ['"$TMP"'/run.json], key: '"$TMP"'/pub.pub.pem}'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/m.bin"; expect_rc 0 "attested model allowed"
echo "3,4" >> "$TMP/ds/a.csv"
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/m.bin"; expect_rc 1 "changed dataset denied"; expect_out_has "changed a.csv" "tampered file named"

# --- licences, as the model card (README front matter) declares them ---
mkdir -p "$TMP/lic"; printf -- '---\nlicense: apache-2.0\n---\n# model\n' > "$TMP/lic/README.md"; echo w > "$TMP/lic/w.bin"
pol 'version: 1' 'licenses: {allow: [apache-2.0, mit]}'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/lic"; expect_rc 0 "allowed licence"
pol 'version: 1' 'licenses: {allow: [mit]}'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/lic"; expect_rc 1 "licence not allowed"; expect_out_has "not in licenses.allow" "licence reason"
pol 'version: 1' 'licenses: {deny: [Apache-2.0]}'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/lic"; expect_rc 1 "denied licence (case-insensitive)"
mkdir -p "$TMP/nolic"; echo w > "$TMP/nolic/w.bin"
pol 'version: 1' 'licenses: {allow: [mit], unknown: review}'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/nolic"; expect_rc 3 "no licence: review"

# --- dependencies against an offline OSV database ---
if [ -d "$BW_TESTDATA/osv-pypi/vulns" ]; then ok; else bad "osv-pypi testdata ABSENT"; fi
echo "jinja2==2.10" > "$TMP/req-bad.txt"; echo "jinja2==3.1.6" > "$TMP/req-ok.txt"
pol 'version: 1' "dependencies: {requirements: $TMP/req-bad.txt, db: $BW_TESTDATA/osv-pypi/vulns, fail_on: high}"
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 1 "vulnerable dependency denied"; expect_out_has "jinja2 2.10" "advisory named"
pol 'version: 1' "dependencies: {requirements: $TMP/req-ok.txt, db: $BW_TESTDATA/osv-pypi/vulns}"
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 0 "clean dependencies allowed"
pol 'version: 1' "dependencies: {requirements: $TMP/missing.txt, db: $BW_TESTDATA/osv-pypi/vulns}"
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 1 "unreadable requirements: fail closed"

# --- every decision lands in the audit log, bound to the policy and inputs ---
(cd "$TMP" && "$BW" keygen --out logkey >/dev/null 2>&1)
pol 'version: 1'
run "$BW" gate --policy "$TMP/p.yaml" --log "$TMP/audit" --log-key "$TMP/logkey.priv.pem" "$TMP/data.bin"
expect_rc 0 "gate with log"; expect_err_has "audit-log entry 0" "entry index"
run "$BW" gate --log "$TMP/audit" --log-key "$TMP/logkey.priv.pem" "$TMP/missing.pt"; expect_rc 1 "denied decision logged"
run "$BW" log verify "$TMP/audit" --key "$TMP/logkey.pub.pem"; expect_rc 0 "audit log verifies"; expect_out_has "2 entries" "two decisions"
run "$BW" log show "$TMP/audit" --entry 0
expect_out_has '"kind":"gate"' "entry kind"; expect_out_has "$(sha256sum "$TMP/data.bin" | cut -c1-64)" "input digest"
expect_out_has "$(sha256sum "$TMP/p.yaml" | cut -c1-64)" "policy digest"
run "$BW" gate --log "$TMP/audit" "$TMP/data.bin"; expect_rc 2 "--log without --log-key"
# sign and verify are recorded too, when asked
mkdir -p "$TMP/lm"; echo w > "$TMP/lm/w.bin"
run "$BW" sign --key "$TMP/logkey.priv.pem" --log "$TMP/audit" --log-key "$TMP/logkey.priv.pem" "$TMP/lm"
expect_rc 0 "sign with log"; expect_err_has "audit-log entry 2" "sign entry"
run "$BW" verify "$TMP/lm" --key "$TMP/logkey.pub.pem" --log "$TMP/audit" --log-key "$TMP/logkey.priv.pem"
expect_rc 0 "verify with log"; expect_err_has "audit-log entry 3" "verify entry"
run "$BW" log show "$TMP/audit" --entry 3; expect_out_has '"kind":"verify"' "verify entry kind"; expect_out_has '"verified":true' "verify result logged"
run "$BW" log verify "$TMP/audit" --key "$TMP/logkey.pub.pem"; expect_rc 0 "log with sign and verify verifies"

# --- the example policies parse ---
for f in "$BW_SRC"/docs/examples/policy-*.yaml; do
  run "$BW" gate --policy "$f" "$TMP/data.bin"; [ "$RC" -ne 2 ] && ok || bad "example $f refused: $(cat "$ERR")"
done
finish
