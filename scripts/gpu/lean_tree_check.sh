#!/usr/bin/env bash
# Issue 31 on the GPU test machine: the lean tree and one 45 MiB chunk of the vLLM bundle travel in
# one call (at most 64 MiB), and the shipped recordings unpack and audit there from their archives.
# Build the bundle first (../shared/tools/gpu-vllm/build.sh .gpu-bundle 45) and fetch the wheels
# pydantic needs into .whl (docs/tree.md); the call carries
#   .gpu-bundle/c00 .gpu-bundle/device.sh .gpu-bundle/bundle.sha256 .whl
# and runs: bash scripts/gpu/lean_tree_check.sh
set -uo pipefail
bytes=$(find . -path ./.gpu-bundle -prune -o -path ./.whl -prune -o -path ./.git -prune -o -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
echo "tree: $bytes bytes arrived beside the carried paths"
echo "carried: $(du -cb .gpu-bundle/c00 .gpu-bundle/device.sh .gpu-bundle/bundle.sha256 .whl | tail -1 | cut -f1) bytes"
sha256sum .gpu-bundle/c00
bash .gpu-bundle/device.sh stash
ls -l /tmp/gpu-bundle
source scripts/gpu/device_env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 - <<'PY'
import time
from pathlib import Path

from geak.auditor import runpack
from geak.auditor.api import audit_run

for a in runpack.shipped(Path("runs/recorded")):
    t = time.monotonic()
    d = runpack.unpack(a, say=print)
    if a.name == "tiny-cpu-run.tar.xz":
        verdicts = {v.gate_id: v.verdict for v in audit_run(d, write=False)}
        print(f"audit {d}: {verdicts} ({time.monotonic() - t:.1f} s with the unpacking)")
PY
