#!/usr/bin/env bash
# Run every libFuzzer target in BUILD for SECONDS each, seeded from fuzz/seeds/<name>
# and fuzz/regress/<name>. A crash leaves its input in fuzz/crashes/<name>/ and fails.
set -uo pipefail
build=$1; secs=$2
src=$(cd "$(dirname "$0")/.." && pwd)
status=0; n=0
for bin in "$build"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); short=${name#fuzz_}
  work=$(mktemp -d); mkdir -p "$src/fuzz/crashes/$short"
  seeds=()
  for d in "$src/fuzz/seeds/$short" "$src/fuzz/regress/$short"; do [ -d "$d" ] && seeds+=("$d"); done
  echo "fuzz: $short for ${secs}s" >&2
  if ! ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
       -max_len=65536 -artifact_prefix="$src/fuzz/crashes/$short/" "$work" "${seeds[@]}" \
       >"$work.log" 2>&1; then
    echo "fuzz: $short FAILED; log tail:" >&2; tail -40 "$work.log" >&2; status=1
  else
    grep -E '^(#[0-9]+|Done)' "$work.log" | tail -1 >&2
  fi
  rm -rf "$work" "$work.log"; n=$((n+1))
done
[ $n -gt 0 ] || { echo "fuzz: no fuzz targets found in $build" >&2; exit 1; }
exit $status
