#!/usr/bin/env bash
# bench/bench_formats.sh BUILD WORKDIR - `bulwark scan` over a folder of the formats of
# issue 3 (safetensors, GGUF, ONNX, Keras .keras and .h5, TF SavedModel, PyTorch zips,
# .tar.gz/.tar.xz/.zip archives), as a Markdown section. The target is the same as for
# the pickle folder: bound by reading the files, not by our code. The peers measured in
# the same run are the raw readers `cat` and `sha256sum` of the same files (no Python
# scanner reads all these formats). Data is generated once into WORKDIR (niced).
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mkdir -p "$2" && cd "$2" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
bw=$build/bulwark
py=/usr/bin/python3
dir=$work/formats
N_FILES=${BENCH_FORMATS_FILES:-1000}
TOTAL_MB=${BENCH_FORMATS_MB:-1100}
RUNS=${BENCH_RUNS:-3}
name=formats
. "$src/bench/lib.sh"
if [ ! -f "$dir.complete" ]; then
  log "generating $dir ($N_FILES models, ~$TOTAL_MB MiB; a few minutes)"
  rm -rf "$dir"
  nice "$py" "$src/bench/gen_formats_dir.py" "$dir" "$N_FILES" "$TOTAL_MB"
fi

read -r n_files n_bytes < <(find "$dir" -type f -printf '%s\n' | awk '{n++; s+=$1} END {print n, s}')
find "$dir" -type f -print0 | sort -z > "$work/formats.files0"
"$bw" scan --format json --output "$tmp/report.json" "$dir" >/dev/null 2>&1 || true
summary=$("$py" -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print("%d files: %d clean, %d with findings, %d not fully scanned, max severity %s" % (s["files"], s["clean"], s["findings"], s["incomplete"], s["max_severity"]))' "$tmp/report.json")
by_format=$("$py" -c '
import json,sys,collections
c=collections.Counter(f["format"] for f in json.load(open(sys.argv[1]))["files"])
print(", ".join("%s %d" % kv for kv in sorted(c.items())))' "$tmp/report.json")
evict="$py $src/bench/peer_pickletools.py evict $dir"
scan_cmd="$bw scan --quiet $dir"
cat_cmd="xargs -0 -n 64 cat < $work/formats.files0 > /dev/null"
sha_cmd="xargs -0 -n 64 -P 2 sha256sum < $work/formats.files0 > /dev/null"
hyperfine -i --warmup 1 --runs "$RUNS" --export-json "$tmp/warm.json" "$scan_cmd" "$cat_cmd" "$sha_cmd" >/dev/null 2>&1
hyperfine -i --runs 2 --prepare "$evict" --export-json "$tmp/cold.json" "$scan_cmd" "$cat_cmd" >/dev/null 2>&1
w_scan=$(mean "$tmp/warm.json" 0); w_cat=$(mean "$tmp/warm.json" 1); w_sha=$(mean "$tmp/warm.json" 2)
c_scan=$(mean "$tmp/cold.json" 0); c_cat=$(mean "$tmp/cold.json" 1)
u_scan=$(cpu "$tmp/warm.json" 0); u_cat=$(cpu "$tmp/warm.json" 1); u_sha=$(cpu "$tmp/warm.json" 2)
load=$(cut -d' ' -f1 /proc/loadavg)
gbs() { calc "'%.2f' % ($n_bytes / $1 / 1e9)"; }
fps() { calc "'%.0f' % ($n_files / $1)"; }
cat <<MD
## Scan of a mixed folder of model formats (issue 3)

$n_files files, $(calc "'%.2f' % ($n_bytes / 1e9)") GB written by \`bench/gen_formats_dir.py\` (h5py, onnx, torch and the
builders of \`tests/data/formats3/gen_formats3.py\`). Detected formats: $by_format.
bulwark: $summary. bulwark uses one thread per core ($(nproc)); sha256sum runs 2 in parallel.
1-minute load average at the end of the run: $load (the machine is shared).

| command | warm cache | GB/s | files/s | CPU s (warm) | cold cache | GB/s |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| bulwark scan | $(calc "'%.2f s' % $w_scan") | $(gbs "$w_scan") | $(fps "$w_scan") | $(calc "'%.2f' % $u_scan") | $(calc "'%.2f s' % $c_scan") | $(gbs "$c_scan") |
| cat (read only) | $(calc "'%.2f s' % $w_cat") | $(gbs "$w_cat") | $(fps "$w_cat") | $(calc "'%.2f' % $u_cat") | $(calc "'%.2f s' % $c_cat") | $(gbs "$c_cat") |
| sha256sum -P2 | $(calc "'%.2f s' % $w_sha") | $(gbs "$w_sha") | $(fps "$w_sha") | $(calc "'%.2f' % $u_sha") | - | - |

Scan time / cat time: warm $(calc "'%.2f' % ($w_scan / $w_cat)"), cold $(calc "'%.2f' % ($c_scan / $c_cat)"); a value at or
below 1 means the scan is bound by reading the files (bulwark reads only what its parsers need: headers,
zip directories, configs, protobuf graphs; archives compressed with gzip/xz must be inflated whole).
CPU seconds (user + system, all processes) on the warm cache: scan / cat $(calc "'%.2f' % ($u_scan / $u_cat)"). The scan's CPU
is spread over 2 threads and the confined HDF5 children (every \`.h5\` file and every
\`model.weights.h5\` inside a \`.keras\` is read by libhdf5 in a confined child, which serves up to 64
files before it is replaced; \`--isolate-each-file\` gives each file its own child), cat's is one process.

Commands (hyperfine, $RUNS runs warm after 1 warm-up, 2 runs cold prepared with
\`$py bench/peer_pickletools.py evict DIR\`, which drops these files' pages with posix_fadvise(DONTNEED)):

\`\`\`
$scan_cmd
$cat_cmd
$sha_cmd
\`\`\`

MD
