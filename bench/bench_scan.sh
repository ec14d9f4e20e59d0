#!/usr/bin/env bash
# bench/bench_scan.sh BUILD WORKDIR - `bulwark scan` speed against its peer, as a Markdown section.
# Peer: bench/peer_pickletools.py (pickletools.genops, the core of every Python pickle
# scanner) under Debian's python3, measured in the same run on the same files.
# Workloads (generated once into WORKDIR, reused when present):
#   (a) an opcode-dense pickle of >= 50 MiB (millions of small objects): opcodes/s and ratio;
#   (b) a folder of >= 1,000 honest model files of mixed formats, >= 1 GB: GB/s and files/s,
#       with cat / sha256sum raw read speed of the same files, warm and cold page cache.
# Generation is niced; measurements use hyperfine. Diagnostics go to stderr.
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mkdir -p "$2" && cd "$2" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
bw=$build/bulwark
py=/usr/bin/python3
peer=$src/bench/peer_pickletools.py
dense=$work/dense.pkl
models=$work/models
DENSE_MB=${BENCH_DENSE_MB:-64}
N_FILES=${BENCH_FILES:-1200}
TOTAL_MB=${BENCH_TOTAL_MB:-1100}
RUNS=${BENCH_RUNS:-3}
# (a) is one ~60 ms process: on a shared VM single runs vary by +-20 ms, so more runs and the median
DENSE_RUNS=${BENCH_DENSE_RUNS:-21}
name=scan
. "$src/bench/lib.sh"

if [ ! -s "$dense" ]; then
  log "generating $dense ($DENSE_MB MiB)"
  nice "$py" "$src/bench/gen_dense_pickle.py" "$dense.tmp" "$DENSE_MB" && mv "$dense.tmp" "$dense"
fi
if [ ! -f "$models.complete" ]; then
  log "generating $models ($N_FILES files, ~$TOTAL_MB MiB; a few minutes)"
  rm -rf "$models"
  nice "$py" "$src/bench/gen_model_dir.py" "$models" "$N_FILES" "$TOTAL_MB"
fi


# ---------------------------------------------------------------- (a) opcode-dense pickle
log "(a) opcode-dense pickle"
dense_bytes=$(stat -c %s "$dense")
# the peer's parse loop, 3 runs, the median
for i in 1 2 3; do "$py" "$peer" ops "$dense" > "$tmp/peer_ops$i.json"; done
ops=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["ops"])' "$tmp/peer_ops1.json")
peer_s=$("$py" -c 'import json,sys; print(sorted(json.load(open(f))["seconds"] for f in sys.argv[1:])[1])' "$tmp"/peer_ops[123].json)
"$bw" scan --format json --output "$tmp/dense_report.json" "$dense" >/dev/null 2>&1 || true
dense_verdict=$("$py" -c 'import json,sys; f=json.load(open(sys.argv[1]))["files"][0]; print(f["verdict"] + ("" if not f["incomplete"] else " (" + f["incomplete"]["reason"] + ")"))' "$tmp/dense_report.json")
hyperfine -N -i --warmup 3 --runs "$DENSE_RUNS" --export-json "$tmp/a.json" \
  "$bw scan --quiet $dense" >/dev/null 2>&1
bw_s=$(hf "$tmp/a.json" median)
bw_min=$(hf "$tmp/a.json" min)
bw_mean=$(mean "$tmp/a.json")
bw_cpu=$(cpu "$tmp/a.json")

# ---------------------------------------------------------------- (b) mixed model folder
log "(b) model folder"
read -r n_files n_bytes < <(find "$models" -type f -printf '%s\n' | awk '{n++; s+=$1} END {print n, s}')
find "$models" -type f -print0 | sort -z > "$work/files0"
"$bw" scan --format json --output "$tmp/dir_report.json" "$models" >/dev/null 2>&1 || true
dir_summary=$("$py" -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print("%d files: %d clean, %d with findings, %d not fully scanned, max severity %s" % (s["files"], s["clean"], s["findings"], s["incomplete"], s["max_severity"]))' "$tmp/dir_report.json")
"$py" "$peer" dir "$models" --jobs 2 > "$tmp/peer_dir.json"
peer_dir_s=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$tmp/peer_dir.json")
peer_dir_err=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"])' "$tmp/peer_dir.json")
evict="$py $peer evict $models"
cat_cmd="xargs -0 -n 64 cat < $work/files0 > /dev/null"
sha_cmd="xargs -0 -n 64 -P 2 sha256sum < $work/files0 > /dev/null"
scan_cmd="$bw scan --quiet $models"
peer_cmd="$py $peer dir $models --jobs 2"
# warm: the files are in the page cache
hyperfine -i --warmup 1 --runs "$RUNS" --export-json "$tmp/warm.json" \
  "$scan_cmd" "$cat_cmd" "$sha_cmd" "$peer_cmd" >/dev/null 2>&1
# cold: every run starts with the folder's pages dropped from the cache
hyperfine -i --runs 2 --prepare "$evict" --export-json "$tmp/cold.json" \
  "$scan_cmd" "$cat_cmd" "$peer_cmd" >/dev/null 2>&1
w_scan=$(mean "$tmp/warm.json" 0); w_cat=$(mean "$tmp/warm.json" 1); w_sha=$(mean "$tmp/warm.json" 2); w_peer=$(mean "$tmp/warm.json" 3)
c_scan=$(mean "$tmp/cold.json" 0); c_cat=$(mean "$tmp/cold.json" 1); c_peer=$(mean "$tmp/cold.json" 2)

gbs() { calc "'%.2f' % ($n_bytes / $1 / 1e9)"; }
fps() { calc "'%.0f' % ($n_files / $1)"; }
cat <<MD
## Scan (\`bulwark scan\`)

Peer: \`bench/peer_pickletools.py\`, Python $("$py" -c 'import sys; print(sys.version.split()[0])') \`pickletools.genops\` (the parser at the
core of picklescan, modelscan, fickling and ModelAudit), run on the same files in the same run.
bulwark times are whole-process wall times (start, map, detect, decode, rules, report);
the peer's opcode time (a) counts only its parse loop, which favours the peer.

### (a) Opcode-dense pickle

$(calc "'%.1f' % ($dense_bytes / 1048576)") MiB protocol-4 pickle, $ops opcodes (list of small tuples, frames, MEMOIZE after each object;
\`bench/gen_dense_pickle.py\`). bulwark's verdict on it: $dense_verdict.

bulwark: median of $DENSE_RUNS whole-process runs after 3 warm-ups (mean $(calc "'%.3f s' % $bw_mean"), fastest $(calc "'%.3f s' % $bw_min")); CPU time is the mean user + system.

| tool | wall time | CPU time | opcodes/s (wall) |
| --- | ---: | ---: | ---: |
| bulwark scan | $(calc "'%.3f s' % $bw_s") | $(calc "'%.3f s' % $bw_cpu") | $(calc "'%.1f M' % ($ops / $bw_s / 1e6)") |
| pickletools.genops (peer, median of 3) | $(calc "'%.3f s' % $peer_s") | - | $(calc "'%.2f M' % ($ops / $peer_s / 1e6)") |
| **ratio** | | | **$(calc "'%.0fx' % ($peer_s / $bw_s)")** (target >= 50x) |

### (b) Folder of mixed honest model files

$n_files files, $(calc "'%.2f' % ($n_bytes / 1e9)") GB: PyTorch zips, .npy, joblib (plain and zlib), pickles, tars
(\`bench/gen_model_dir.py\`). bulwark: $dir_summary.
The peer could not parse $peer_dir_err files to the end (joblib writes raw array bytes between opcodes).
bulwark uses one thread per core ($(nproc)); the peer runs 2 worker processes; sha256sum runs 2 in parallel.

| command | warm cache | GB/s | files/s | cold cache | GB/s |
| --- | ---: | ---: | ---: | ---: | ---: |
| bulwark scan | $(calc "'%.2f s' % $w_scan") | $(gbs "$w_scan") | $(fps "$w_scan") | $(calc "'%.2f s' % $c_scan") | $(gbs "$c_scan") |
| peer (pickletools, 2 processes) | $(calc "'%.2f s' % $w_peer") | $(gbs "$w_peer") | $(fps "$w_peer") | $(calc "'%.2f s' % $c_peer") | $(gbs "$c_peer") |
| cat (read only) | $(calc "'%.2f s' % $w_cat") | $(gbs "$w_cat") | $(fps "$w_cat") | $(calc "'%.2f s' % $c_cat") | $(gbs "$c_cat") |
| sha256sum -P2 | $(calc "'%.2f s' % $w_sha") | $(gbs "$w_sha") | $(fps "$w_sha") | - | - |

bulwark vs peer (warm): **$(calc "'%.1fx' % ($w_peer / $w_scan)")** faster. Scan time / cat time (warm):
$(calc "'%.2f' % ($w_scan / $w_cat)"); a value near 1 means the scan is bound by reading the files. bulwark maps files and
touches only the bytes its parsers need (zip directories, pickles, headers; not stored tensor data), so cold it can
beat a full sequential read.

Commands (hyperfine; (a) as above; (b) $RUNS runs warm after 1 warm-up, 2 runs cold; cold runs are prepared with \`$py bench/peer_pickletools.py evict DIR\`,
which drops only these files' pages with posix_fadvise(DONTNEED)):

\`\`\`
find $models -type f -print0 | sort -z > $work/files0
$bw scan --quiet $dense
$py $peer ops $dense
$scan_cmd
$peer_cmd
$cat_cmd
$sha_cmd
\`\`\`

MD
