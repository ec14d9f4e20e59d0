#!/usr/bin/env bash
# Install the Debian packages bulwark needs (build, tests, demo), only those missing.
# Debian's apt-get only; nothing is downloaded from anywhere else.
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libssl-dev zlib1g-dev libbz2-dev liblzma-dev libzstd-dev libarchive-dev
  libjansson-dev libyaml-dev libseccomp-dev libopenblas-dev libdnnl-dev libhdf5-dev libisal-dev
  python3-torch python3-numpy python3-joblib python3-onnx python3-h5py python3-sklearn
  python3-cryptography python3-jsonschema python3-yaml python3-packaging dataset-fashion-mnist
  libarchive-tools p7zip-full zstd xz-utils bzip2 hyperfine
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
