#!/usr/bin/env bash
# test_sign_cli.sh - command-line contract of bulwark hash/sign/verify/keygen:
# exit codes (0 ok, 1 verification failed, 2 usage, 3 unreadable input),
# "bulwark <cmd>: message" on stderr, results on stdout, JSON well formed.
set -u
: "${BW:?BW must be set (run through ctest)}"
: "${BW_TESTDATA:?BW_TESTDATA must be set}"
V="$BW_TESTDATA/signing-vectors"
[ -f "$V/MANIFEST.txt" ] || { echo "*** $V is ABSENT: these tests cannot run ***"; exit 1; }
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

# expect WANT_RC DESCRIPTION -- command...   (stdout in $T/out, stderr in $T/err)
expect() {
	local want=$1 what=$2
	shift 3
	"$@" >"$T/out" 2>"$T/err"
	local rc=$?
	if [ "$rc" -eq "$want" ]; then pass=$((pass + 1)); else
		fail=$((fail + 1)); echo "FAIL: $what: exit $rc, expected $want"; cat "$T/err"; fi
}
has() { # has FILE PATTERN DESCRIPTION
	if grep -q -- "$2" "$1"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $3 (no '$2' in $1)"; cat "$1"; fi
}

mkdir -p "$T/m/sub"
printf 'weights' >"$T/m/w.bin"
printf 'tok' >"$T/m/sub/t.txt"

expect 0 "help hash" -- "$BW" help hash
has "$T/out" "usage: bulwark hash" "help text"
expect 0 "help verify" -- "$BW" verify --help
expect 2 "hash without model" -- "$BW" hash
expect 2 "hash bad method" -- "$BW" hash --method foo "$T/m"
expect 2 "hash bad format" -- "$BW" hash --format sarif "$T/m"
expect 3 "hash missing model" -- "$BW" hash "$T/nope"
has "$T/err" "^bulwark hash: " "stderr prefix"
expect 0 "hash json" -- "$BW" hash --format json "$T/m"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["resources"])==2' "$T/out" \
	&& pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: hash json parse"; }
expect 0 "hash statement" -- "$BW" hash --statement "$T/m"
has "$T/out" '"predicateType": "https://model_signing/signature/v1.0"' "statement predicate"

expect 0 "keygen" -- "$BW" keygen --out "$T/k"
expect 3 "keygen does not overwrite" -- "$BW" keygen --out "$T/k"
expect 2 "keygen bad curve" -- "$BW" keygen --curve p224 --out "$T/x"
expect 2 "sign without key" -- "$BW" sign "$T/m"
has "$T/err" "keyless" "sign says keyless is not built in"
expect 3 "sign unreadable key" -- "$BW" sign --key "$T/none.pem" "$T/m"
expect 2 "sign with a public key as private" -- "$BW" sign --key "$T/k.pub.pem" "$T/m"
expect 0 "sign" -- "$BW" sign --key "$T/k.priv.pem" --format json "$T/m"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["method"]=="key"' "$T/out" \
	&& pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: sign json"; }
[ -f "$T/m/model.sig" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: model.sig written"; }

expect 0 "verify" -- "$BW" verify "$T/m" --key "$T/k.pub.pem"
has "$T/out" "^VERIFIED" "verified line"
expect 2 "verify without trust" -- "$BW" verify "$T/m"
expect 2 "verify two trusts" -- "$BW" verify "$T/m" --key "$T/k.pub.pem" --certificate-chain "$T/k.pub.pem"
expect 2 "verify trusted root without identity" -- "$BW" verify "$T/m" --trusted-root "$T/k.pub.pem"
expect 3 "verify missing signature" -- "$BW" verify "$T/m" --key "$T/k.pub.pem" --signature "$T/none.sig"
has "$T/err" "^bulwark verify: " "stderr prefix"
expect 1 "verify as certificate chain" -- "$BW" verify "$T/m" --certificate-chain \
	"$V/model-transparency/keys/certificate/ca-cert.pem"
printf 'x' >>"$T/m/w.bin"
expect 1 "verify tampered" -- "$BW" verify "$T/m" --key "$T/k.pub.pem" --format json
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["verified"] is False and d["files"]==[{"kind":"changed","name":"w.bin"}], d' "$T/out" \
	&& pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: tampered json"; }
printf 'not json' >"$T/bad.sig"
expect 1 "verify garbage bundle" -- "$BW" verify "$T/m" --key "$T/k.pub.pem" --signature "$T/bad.sig"
has "$T/out" "not valid JSON" "garbage bundle reason"

# encrypted key: env passphrase for CI, refusal without it (no terminal here)
BULWARK_KEY_PASSPHRASE=pw expect 0 "keygen encrypted" -- "$BW" keygen --encrypt --out "$T/e"
expect 2 "sign encrypted without passphrase" -- setsid "$BW" sign --key "$T/e.priv.pem" --signature "$T/e.sig" "$T/m"
has "$T/err" "encrypted" "asks for a passphrase"
BULWARK_KEY_PASSPHRASE=pw expect 0 "sign encrypted" -- "$BW" sign --key "$T/e.priv.pem" --signature "$T/e.sig" "$T/m"
if grep -q "pw" "$T/out" "$T/err"; then fail=$((fail + 1)); echo "FAIL: passphrase echoed"; else pass=$((pass + 1)); fi

# symlinks are refused unless allowed, and then followed
ln -s "$T/m/w.bin" "$T/m/link"
expect 3 "hash refuses a symlink" -- "$BW" hash "$T/m"
has "$T/err" "symbolic link" "symlink message"
expect 0 "hash follows with --allow-symlinks" -- "$BW" hash --allow-symlinks "$T/m"
has "$T/out" "  link$" "symlink hashed under its own name"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
