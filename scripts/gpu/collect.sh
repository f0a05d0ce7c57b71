#!/usr/bin/env bash
# Step 4: bring the run back (at most 8 files of 16 MiB come back from $OUT): the run directory as
# one xz tarball, and the log. Unpack it here under runs/recorded/<name>/ (scripts/gpu/README in
# docs/gpu.md "The steps").
#   bash scripts/gpu/collect.sh [RUN_DIR=/tmp/gpurun]
RUN=${1:-/tmp/gpurun}
pkill -INT -f "geak.orchestrator.cli run" && sleep 20  # a run still going stops cleanly (resumable)
# the card, for bench/gpu_noise.py where the host fingerprints lack NVML
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$RUN/device.txt"
tar -C "$(dirname "$RUN")" -cJf "$OUT/run.tar.xz" "$(basename "$RUN")"
cp /tmp/g.log "$OUT/g.log" 2>/dev/null
ls -la "$OUT"
