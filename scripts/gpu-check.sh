#!/usr/bin/env bash
# The GPU check of the webgpu backend: `xft bench --backend webgpu` on a machine with an NVIDIA GPU and its Vulkan
# driver but no Node.js and no package registry, beside PyTorch CUDA float32 eager on the same GPU and the native
# CPU bench of the machine where the check was prepared.
#
#   bash scripts/gpu-check.sh prepare [--cpu FILE]   here, from the repository: writes build/gpu-check/ (about 30 MB)
#   bash scripts/gpu-check.sh run                    there, from the repository root, with build/gpu-check carried
#
# prepare bundles xft bench into one file (scripts/gpu-check-build.ts) and packs it, xz-compressed, with this
# machine's node, Dawn (dawn.node from the `webgpu` package), Debian's Vulkan loader (libvulkan1) and this machine's
# libstdc++, the last two for a machine that lacks them. The CPU side of the ratio is an `xft bench --json` of the
# native backend made here: FILE, or without --cpu one that prepare runs (GPT-2 small takes minutes on 2 cores).
#
# run unpacks into a temporary folder, points Vulkan at NVIDIA's driver file (nvidia_icd.json), adds the carried
# libraries where the machine's own are missing, times PyTorch CUDA (scripts/torch-peer.py --device cuda) where
# python3's torch sees a GPU, then each config on webgpu in a process of its own, and prints one table (Markdown).
# Everything ends within GPU_CHECK_DEADLINE seconds (a config still running then is stopped and left out of the
# table); with $OUT set (the device machine's folder that comes back) the table, its JSON, and every bench's output
# and log as one archive go there.
#
# Environment: GPU_CHECK_CONFIGS (default A,B,C,D,gpt2), GPU_CHECK_TORCH_CONFIGS (default D,gpt2),
# GPU_CHECK_DEADLINE (default 540), GPU_CHECK_BENCH (xft bench's timing options, e.g. "--repeats 2 --seconds 1";
# default the bench's own, which torch-peer.py shares).
set -euo pipefail
cd "$(dirname "$0")/.."
PACK=build/gpu-check
CONFIGS="${GPU_CHECK_CONFIGS:-A,B,C,D,gpt2}"

prepare() {
  local stage
  stage="$(mktemp -d)"
  trap 'rm -rf "$stage"' RETURN
  mkdir -p "$stage/pack/lib"
  if [ $# -gt 0 ]; then
    [ "$1" = "--cpu" ] && [ $# -eq 2 ] || { echo "usage: bash scripts/gpu-check.sh prepare [--cpu FILE]" >&2 && return 2; }
    # Checked here, where a wrong file costs nothing: an xft bench --json of a CPU backend.
    node -e 'const r = require(require("path").resolve(process.argv[1]));
      if (!Array.isArray(r.configs) || !r.backend || r.backend.name === "webgpu") {
        console.error(`gpu-check: ${process.argv[1]} is not an xft bench --json of a CPU backend`);
        process.exit(1);
      }' "$2"
    cp "$2" "$stage/cpu-bench.json"
  fi
  rm -rf "$PACK" && mkdir -p "$PACK"
  npx tsx scripts/gpu-check-build.ts "$stage/pack" >/dev/null
  cp "$(command -v node)" node_modules/webgpu/dist/linux-x64/dawn.node "$stage/pack/"
  # The newest libstdc++ symbol version Dawn needs: run uses the carried library where the machine's lacks it.
  objdump -T "$stage/pack/dawn.node" | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1 >"$stage/pack/glibcxx-needed"
  cp -L "$(ldconfig -p | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')" "$stage/pack/lib/libstdc++.so.6"
  vulkan_loader "$stage/pack/lib"
  XZ_OPT="-6 -T0" tar -C "$stage/pack" -cJf "$PACK/xft-gpu.tar.xz" .
  if [ -f "$stage/cpu-bench.json" ]; then
    cp "$stage/cpu-bench.json" "$PACK/"
  else
    echo "gpu-check: the native CPU bench of configs $CONFIGS here (minutes)..." >&2
    node bin/xft.cjs bench --backend tensorflow --configs "$CONFIGS" --json >"$PACK/cpu-bench.json"
  fi
  local mib
  mib=$(du -sm "$PACK" | cut -f1)
  echo "gpu-check: $PACK is $mib MiB ($(ls "$PACK" | tr '\n' ' '))"
  # The device machine takes at most 64 MiB of working tree, this pack and the repository's files together.
  [ "$mib" -lt 48 ] || { echo "gpu-check: $PACK is too large to carry beside the repository" >&2; return 1; }
}

# Debian's libvulkan.so.1, from apt's cache or downloaded by apt, unpacked into $1.
vulkan_loader() {
  local deb dir
  deb="$(ls /var/cache/apt/archives/libvulkan1_*_amd64.deb 2>/dev/null | tail -1)"
  if [ -z "$deb" ]; then
    dir="$(mktemp -d)"
    (cd "$dir" && apt-get download libvulkan1:amd64 >/dev/null)
    deb="$(ls "$dir"/libvulkan1_*.deb)"
  fi
  dir="$(mktemp -d)"
  dpkg -x "$deb" "$dir"
  cp -L "$dir/usr/lib/x86_64-linux-gnu/libvulkan.so.1" "$1/"
  rm -rf "$dir"
}

# NVIDIA's Vulkan driver file: where VK_ICD_FILENAMES already points, the usual folders, the driver's share folder, or
# one written here for the driver's libGLX_nvidia.so.0 where the machine has the library but no file.
nvidia_icd() {
  local f lib listed="${VK_ICD_FILENAMES:-}:${VK_DRIVER_FILES:-}"
  for f in ${listed//:/ } /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json \
    /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd*.json /usr/local/share/vulkan/icd.d/nvidia_icd*.json; do
    if [ -f "$f" ] && grep -qi nvidia "$f"; then echo "$f" && return; fi
  done
  f="$(find /usr /etc /opt -name 'nvidia_icd*.json' 2>/dev/null | head -1)"
  if [ -n "$f" ]; then echo "$f" && return; fi
  lib="$(library_path libGLX_nvidia.so.0)"
  [ -n "$lib" ] || return 1
  printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.3.0"}}\n' "$lib" >"$1/nvidia_icd.json"
  echo "$1/nvidia_icd.json"
}

# A shared library's path: from the linker's cache, else found under the driver's usual folders.
library_path() {
  ldconfig -p | awk -v lib="$1" '$1 == lib && /x86-64/ {print $NF; exit}' | grep . ||
    find /usr/local/nvidia /usr/lib /usr/lib64 -name "$1" 2>/dev/null | head -1
}

# Links the carried copy of a library into $work/carried (first on LD_LIBRARY_PATH) where the machine has none, or
# (libstdc++) one without the symbol version that Dawn needs.
use_carried_where_missing() {
  local lib="$1" version="${2:-}" own
  own="$(library_path "$lib")"
  if [ -n "$own" ] && { [ -z "$version" ] || grep -qa "$version" "$own"; }; then
    echo "gpu-check: $lib: this machine's, $own"
  else
    echo "gpu-check: $lib: the carried one (this machine's: ${own:-none}${version:+; Dawn needs $version})"
    ln -sf "$work/lib/$lib" "$work/carried/$lib"
  fi
}

# The driver library that an ICD file names by bare name: its folder goes on the path, for a driver outside the
# linker's cache (the loader opens it by that name).
add_driver_folder() {
  local name lib
  name="$(sed -n 's/.*"library_path" *: *"\([^"]*\)".*/\1/p' "$1")"
  if [ -z "$name" ] || [ "${name#/}" != "$name" ]; then return 0; fi
  lib="$(library_path "$name")"
  if [ -n "$lib" ]; then export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(dirname "$lib")"; fi
}

left() { echo $((deadline - SECONDS)); }

run() {
  [ -f "$PACK/xft-gpu.tar.xz" ] || { echo "gpu-check: no $PACK/xft-gpu.tar.xz: run prepare first, and carry $PACK" >&2 && exit 1; }
  deadline=$((SECONDS + ${GPU_CHECK_DEADLINE:-540}))
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  local results="$work/results" torch=() failed=0 c t icd
  mkdir -p "$results" "$work/carried"
  tar -C "$work" -xJf "$PACK/xft-gpu.tar.xz"
  export LD_LIBRARY_PATH="$work/carried${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  nvidia-smi -L 2>/dev/null || echo "gpu-check: nvidia-smi gave no GPU list"
  icd="$(nvidia_icd "$work")" || { echo "gpu-check: no NVIDIA Vulkan driver file (nvidia_icd.json) and no libGLX_nvidia.so.0" >&2 && exit 1; }
  export VK_ICD_FILENAMES="$icd"
  echo "gpu-check: VK_ICD_FILENAMES=$icd: $(tr -d '\n ' <"$icd")"
  add_driver_folder "$icd"
  use_carried_where_missing libvulkan.so.1
  use_carried_where_missing libstdc++.so.6 "$(cat "$work/glibcxx-needed")"
  echo "gpu-check: node $("$work/node" --version); $(left) s left"
  if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    if timeout -k 10 "$(($(left) / 4))" python3 scripts/torch-peer.py --device cuda --configs "${GPU_CHECK_TORCH_CONFIGS:-D,gpt2}" \
      ${GPU_CHECK_BENCH:-} --json >"$results/torch-cuda.json" 2>"$results/torch-cuda.log"; then
      torch=(--torch "$results/torch-cuda.json")
    else
      echo "gpu-check: torch-peer.py --device cuda failed or ran out of time:" && tail -5 "$results/torch-cuda.log"
    fi
  else
    echo "gpu-check: python3 has no torch that sees a GPU: no PyTorch column"
  fi
  for c in ${CONFIGS//,/ }; do
    t=$(left)
    if [ "$t" -lt 20 ]; then echo "gpu-check: $c: not run, the deadline is near" && failed=1 && continue; fi
    echo "gpu-check: webgpu $c ($t s left)"
    if ! timeout -k 10 "$t" "$work/node" "$work/xft.cjs" bench --backend webgpu --configs "$c" --in-process ${GPU_CHECK_BENCH:-} \
      "${torch[@]}" --json >"$results/webgpu-$c.json" 2>"$results/webgpu-$c.log"; then
      echo "gpu-check: webgpu $c failed or ran out of time:" && tail -5 "$results/webgpu-$c.log"
      rm -f "$results/webgpu-$c.json"
      failed=1
    fi
  done
  "$work/node" "$work/table.cjs" --cpu "$PACK/cpu-bench.json" --configs "$CONFIGS" "$results" | tee "$results/table.md"
  # The device machine brings back at most 8 files from $OUT.
  if [ -n "${OUT:-}" ]; then
    cp "$results/table.md" "$results/gpu-check.json" "$OUT/"
    tar -C "$work" -czf "$OUT/gpu-check-results.tar.gz" results
  fi
  return "$failed"
}

case "${1:-}" in
  prepare) shift && prepare "$@" ;;
  run) run ;;
  *) echo "usage: bash scripts/gpu-check.sh prepare [--cpu FILE] | run" >&2 && exit 2 ;;
esac
