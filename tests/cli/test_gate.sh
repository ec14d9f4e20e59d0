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

# --- fail closed on checks this build cannot do ---
pol 'version: 1' 'signature: {required: true, keys: [k.pub]}'
run "$BW" gate --policy "$TMP/p.yaml" "$TMP/data.bin"; expect_rc 1 "signature required: fail closed"
expect_out_has "fails closed" "fail closed msg"

# --- the example policies parse ---
for f in "$BW_SRC"/docs/examples/policy-*.yaml; do
  run "$BW" gate --policy "$f" "$TMP/data.bin"; [ "$RC" -ne 2 ] && ok || bad "example $f refused: $(cat "$ERR")"
done
finish
