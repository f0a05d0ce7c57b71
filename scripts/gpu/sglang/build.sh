#!/usr/bin/env bash
# Build an SGLang bundle for the GPU test machine (torch 2.11.0+cu130, Python 3.12, no registry),
# the way ../shared/tools/gpu-vllm/build.sh builds vLLM's: SGLang 0.5.17 is the newest release
# that pins torch==2.11.0. Downloads the wheels in wheels.txt (resolve.py wrote it: SGLang's runtime
# closure minus what the machine has and what a Llama served with --attention-backend triton never
# imports), ships sglang-kernel without FlashAttention 3 (flash_ops.abi3.so, 342 MB of its 383 MB;
# slim.py) as sgl_kernel_slim.zip, and cuts the lot into chunks small enough to carry one per call.
#   usage: build.sh OUTDIR [CHUNK_MB]      (CHUNK_MB: default 45; keep chunk + your tree < 64 MiB)
#   WITH_GEAK=1 build.sh ...               also carry geak's own deps (geak_wheels.txt): for a
#                                          `geak run` on a machine without the vLLM bundle
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR [CHUNK_MB]}; mb=${2:-45}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/dl" "$work/pkg/wheels"
# pip matches manylinux tags exactly: name every glibc level up to 2.35 (sglang's own wheel is 2_34)
plat=(--only-binary=:all: --python-version 3.12 --implementation cp)
for m in $(seq 35 -1 5); do plat+=(--platform "manylinux_2_${m}_x86_64"); done
plat+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)
lists=("$here/wheels.txt")
[[ ${WITH_GEAK:-0} == 1 ]] && lists+=("$here/geak_wheels.txt")
reqs=(); for f in "${lists[@]}"; do reqs+=(-r "$f"); done
# the pip of python3 here, not the machine's: it only downloads, for the machine's platform
python3 -m pip download -q --no-deps "${plat[@]}" -d "$work/dl" "${reqs[@]}" 2>&1 | grep -v '^WARNING' || true
# every pinned line must have come down: a silently missing wheel only shows on the GPU
want=$(cat "${lists[@]}" | grep -cE '^[A-Za-z0-9]')
got=$(ls "$work/dl"/*.whl | wc -l)
[[ $got == "$want" ]] || { echo "build: $got wheels downloaded, $want listed"; exit 1; }
shopt -s nullglob
sk=("$work"/dl/sglang_kernel-*.whl)
[[ ${#sk[@]} == 1 ]] || { echo "build: expected one sglang_kernel wheel, found ${#sk[@]}"; exit 1; }
python3 "$here/slim.py" "${sk[0]}" "$work/pkg/sgl_kernel_slim.zip"
for w in "$work"/dl/*.whl; do [[ $w == "${sk[0]}" ]] || cp "$w" "$work/pkg/wheels/"; done
n=$(ls "$work/pkg/wheels" | wc -l)
(cd "$work/pkg" && tar cf "$work/bundle.tar" sgl_kernel_slim.zip wheels)
rm -f "$out"/c[0-9]*
split -b "${mb}M" -d -a 2 "$work/bundle.tar" "$out/c"
cp "$here/device.sh" "$out/device.sh"
sha256sum "$work/bundle.tar" | cut -d' ' -f1 > "$out/bundle.sha256"
echo "largest (MB):"
(cd "$work/pkg" && du -k sgl_kernel_slim.zip wheels/*.whl | sort -rn | head -8 | awk '{printf "  %6.1f %s\n", $1/1024, $2}')
echo "bundle: sglang (sgl_kernel without FA3) + $n wheels, $(du -m "$work/bundle.tar" | cut -f1) MB in $(ls "$out"/c[0-9]* | wc -l) chunk(s) of <= ${mb} MB under $out"
