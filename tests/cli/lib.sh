# tests/cli/lib.sh - tiny assertion helpers for CLI tests (sourced).
# Each test prints "N passed, N failed" and exits non-zero on any failure.
set -u
PASS=0; FAIL=0
: "${BW:?BW (the bulwark binary) must be set; run through ctest}"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

ok()   { PASS=$((PASS+1)); }
bad()  { FAIL=$((FAIL+1)); echo "FAIL: $*" >&2; }
# run CMD...: sets RC, OUT (stdout file), ERR (stderr file)
run()  { OUT=$TMP/out; ERR=$TMP/err; "$@" >"$OUT" 2>"$ERR"; RC=$?; }
expect_rc()      { [ "$RC" -eq "$1" ] && ok || bad "$2: exit $RC, expected $1 (stderr: $(head -c 300 "$ERR"))"; }
expect_out_has() { grep -qF -- "$1" "$OUT" && ok || bad "$2: stdout lacks '$1': $(head -c 400 "$OUT")"; }
expect_err_has() { grep -qF -- "$1" "$ERR" && ok || bad "$2: stderr lacks '$1': $(head -c 400 "$ERR")"; }
expect_out_empty() { [ ! -s "$OUT" ] && ok || bad "$1: stdout not empty"; }
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ]; }
