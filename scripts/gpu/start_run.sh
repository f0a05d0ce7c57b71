#!/usr/bin/env bash
# Step 2 of a recorded GPU run (issue 33), on the GPU test machine, in the call that carries the
# bundle's last chunk: install the vLLM bundle, make geak importable, write the shape-true 8B model
# and start `geak run` on workflows/gpu.yaml detached (a run outlives one 10-minute call). Step 1
# is one call per earlier chunk: `bash .gpu-bundle/device.sh stash`. Step 3: scripts/gpu/poll.sh.
# Step 4: scripts/gpu/collect.sh.
#   [GEAK_WORKFLOW=workflows/gpu-quick.yaml] bash scripts/gpu/start_run.sh [RUN_DIR] [extra geak run options...]
# The baseline is a stated production config: max_num_seqs 64 (a latency-minded decode cap),
# everything else vLLM 0.26's defaults; the workload offers 256 requests at once. (With a cap of
# 128 the lift to 256 measured +9.0% on an H100 against a 5.8% within-leg spread: not bankable on
# 3 reps, docs/gpu.md.) The recorded run (runs/recorded/h100-vllm-quick):
#   GEAK_WORKFLOW=workflows/gpu-quick.yaml bash scripts/gpu/start_run.sh /tmp/gpurun --aa-legs 6
set -uo pipefail
RUN=${1:-/tmp/gpurun}; shift || true
[[ -d /tmp/site/vllm ]] || bash .gpu-bundle/device.sh install || exit 1
source scripts/gpu/device_env.sh
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1 LITELLM_LOCAL_MODEL_COST_MAP=True
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 scripts/gpu/shape_model.py /tmp/shape8b || exit 1
python3 -c "import pynvml" 2>/dev/null && echo "pynvml: yes (host fingerprints name the card)" || echo "pynvml: no"
setsid nohup python3 -m geak.orchestrator.cli run --workflow "${GEAK_WORKFLOW:-workflows/gpu.yaml}" --run-dir "$RUN" --model /tmp/shape8b \
  --load-format dummy --max-num-seqs 64 --max-model-len 2048 --devices 0 --use-auditor "$@" \
  > /tmp/g.log 2>&1 < /dev/null &
echo "started geak run (pid $!) into $RUN; log /tmp/g.log"
sleep 20; tail -5 /tmp/g.log
