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
}
[ -d "$dir" ] || gen

files=$(find "$dir" -type f | wc -l)
bytes=$(du -sb "$dir" | cut -f1)
# warm the page cache so all tools read from memory
find "$dir" -type f -exec cat {} + >/dev/null

t() { # seconds of wall time of a command (best of 2)
	local best=999999 s e d
	for _ in 1 2; do
		s=$(date +%s.%N)
		"$@" >/dev/null
		e=$(date +%s.%N)
		d=$(echo "$e - $s" | bc)
		best=$(echo "if ($d < $best) $d else $best" | bc)
	done
	echo "$best"
}
gbs() { echo "scale=2; $bytes / $1 / 1000000000" | bc; }

t_bw=$(t "$bw" hash "$dir")
t_bw1=$(t "$bw" hash --threads 1 "$dir")
t_ossl=$(t sh -c "find '$dir' -type f -print0 | xargs -0 openssl dgst -sha256")
t_sum=$(t sh -c "find '$dir' -type f -print0 | xargs -0 sha256sum")
cores=$(nproc)

cat <<EOF
## Hashing a model folder (bulwark hash, OMS manifest)

Folder: $files files, $((bytes >> 20)) MiB (4 large files + 2000 small ones), page cache warm.
Best of two runs each, wall time. \`bulwark hash\` computes the full OMS manifest
(SHA-256 of every file, sorted, root digest) with one thread per core ($cores cores).

| tool | seconds | GB/s |
|---|---:|---:|
| bulwark hash ($cores threads) | $t_bw | $(gbs "$t_bw") |
| bulwark hash --threads 1 | $t_bw1 | $(gbs "$t_bw1") |
| openssl dgst -sha256 (1 process) | $t_ossl | $(gbs "$t_ossl") |
| sha256sum (coreutils, no SHA-NI) | $t_sum | $(gbs "$t_sum") |

Speed-up of bulwark over \`openssl dgst\`: $(echo "scale=2; $t_ossl / $t_bw" | bc)x
(target: close to the number of cores, since both use OpenSSL's SHA-256).

EOF
