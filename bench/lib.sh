# bench/lib.sh - helpers the scan benchmarks share; sourced after `build`, `py` and `name` are set.
# Checks the binary and hyperfine, makes $tmp (removed on exit), and reads hyperfine JSON exports.
log() { echo "bench_$name: $*" >&2; }
[ -x "$build/bulwark" ] || { log "no bulwark binary in $build"; exit 2; }
command -v hyperfine >/dev/null || { log "hyperfine is required"; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# hf FILE FIELD [INDEX]: a field (mean, median, min, ...) of result INDEX (default 0) of an export
hf() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[3])][sys.argv[2]])' "$1" "$2" "${3:-0}"; }
mean() { hf "$1" mean "${2:-0}"; }
# CPU seconds (user + system, children included) of one command: on a shared machine wall
# time also counts waiting for a core, CPU time does not
cpu() { "$py" -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print(r["user"] + r["system"])' "$1" "${2:-0}"; }
calc() { "$py" -c "print($*)"; }
