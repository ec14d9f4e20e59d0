#!/usr/bin/env bash
# bench_hash.sh - `bulwark hash` (OMS manifest, SHA-256 of every file on all
# cores) against `openssl dgst -sha256` (one process, the SHA instructions) and
# coreutils `sha256sum` over the same folder, in the same run.
# $1 = release build dir, $2 = scratch dir. The folder (BENCH_HASH_MB, default
# 4096 MB: four large files plus 2000 small ones) is generated once and kept.
# Prints a Markdown section on stdout.
set -euo pipefail
build=$1
work=$2
mb=${BENCH_HASH_MB:-4096}
bw=$build/bulwark
dir=$work/model-${mb}mb
mkdir -p "$work"

gen() {
	set +o pipefail # openssl stops on SIGPIPE from head, by design
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp/small"
	local big=$(((mb - 40) / 4))
	for i in 1 2 3 4; do
		# incompressible-looking but fast to make: AES-CTR keystream
		openssl enc -aes-128-ctr -pass pass:bulwark$i -nosalt -pbkdf2 -in /dev/zero 2>/dev/null |
			head -c $((big << 20)) >"$dir.tmp/shard-$i.safetensors"
	done
	# 2000 small files totalling about 40 MB (tokenizers, configs, adapters)
	openssl enc -aes-128-ctr -pass pass:small -nosalt -pbkdf2 -in /dev/zero 2>/dev/null |
		head -c $((40 << 20)) >"$dir.tmp/blob"
	(cd "$dir.tmp" && split -n 2000 -d -a 4 blob small/part- && rm blob)
	mv "$dir.tmp" "$dir"
	set -o pipefail
}
[ -d "$dir" ] || gen

files=$(find "$dir" -type f | wc -l)
bytes=$(du -sb "$dir" | cut -f1)
# warm the page cache so all tools read from memory
find "$dir" -type f -exec cat {} + >/dev/null

# t CMD...: "wall cpu" seconds of a command (best wall time of 2 runs; cpu =
# user + system, which shows the hashing cost even on a busy machine)
t() {
	local best=999999 bestcpu=0 out w c
	for _ in 1 2; do
		/usr/bin/time -o "$work/.time" -f "%e %U %S" "$@" >/dev/null 2>&1
		out=$(tail -1 "$work/.time")
		w=$(echo "$out" | cut -d' ' -f1)
		c=$(echo "$out" | awk '{print $2 + $3}')
		if [ "$(echo "$w < $best" | bc)" = 1 ]; then best=$w; bestcpu=$c; fi
	done
	echo "$best $bestcpu"
}
gbs() { echo "scale=2; $bytes / $1 / 1000000000" | bc; }
row() { # row LABEL "wall cpu"
	local w=${2% *} c=${2#* }
	echo "| $1 | $w | $(gbs "$w") | $c | $(gbs "$c") |"
}

r_bw=$(t "$bw" hash "$dir")
r_bw1=$(t "$bw" hash --threads 1 "$dir")
r_ossl=$(t sh -c "find '$dir' -type f -print0 | xargs -0 openssl dgst -sha256")
r_sum=$(t sh -c "find '$dir' -type f -print0 | xargs -0 sha256sum")
cores=$(nproc)

cat <<EOF
## Hashing a model folder (bulwark hash, OMS manifest)

Folder: $files files, $((bytes >> 20)) MiB (4 large files + 2000 small ones), page cache warm.
Best of two runs each, wall time. \`bulwark hash\` computes the full OMS manifest
(SHA-256 of every file, sorted, root digest) with one thread per core ($cores cores).

| tool | wall s | GB/s (wall) | CPU s | GB/s per CPU-second |
|---|---:|---:|---:|---:|
$(row "bulwark hash ($cores threads)" "$r_bw")
$(row "bulwark hash --threads 1" "$r_bw1")
$(row "openssl dgst -sha256 (1 process)" "$r_ossl")
$(row "sha256sum (coreutils, no SHA-NI)" "$r_sum")

Load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) on $cores cores (other jobs share
the machine; wall-time speed-up needs idle cores, the CPU-seconds column does not).
Wall-time speed-up of bulwark over \`openssl dgst\`: $(echo "scale=2; ${r_ossl% *} / ${r_bw% *}" | bc)x
(target: close to the number of cores, since both use OpenSSL's SHA-256).

EOF
