#!/usr/bin/env bash
# Issue 36 on the GPU test machine, in the call that carries the bundle's last chunk (earlier
# chunks: `bash .gpu-bundle/device.sh stash`, one call each): install vLLM 0.26, write the
# shape-true 8B model, then time the fused rope + KV-cache-write template and the rotary template
# in the op harness at the 8B's own shapes (hf:/tmp/shape8b/config.json) against what a compiled
# server runs (torch.compile(rotary) + vLLM's reshape_and_cache_flash), with the harness gate.
# The live profile is the next call: python3 scripts/gpu/profile_live.py /tmp/gpuprof /tmp/shape8b
#   [OPS=rope_kvcache,rotary] bash scripts/gpu/kernel_scout.sh [TOKENS]
# NO_VLLM=1 skips the bundle (one call, carrying .whl for pydantic): the cache write's baseline is
# then the torch scatter, and the record's note says it is not vLLM's reshape_and_cache_flash.
set -uo pipefail
TOKENS=${1:-1,16,64,512,2048,8192}
[[ -d /tmp/site/vllm || -n ${NO_VLLM:-} ]] || bash .gpu-bundle/device.sh install || exit 1
source scripts/gpu/device_env.sh
export NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1 LITELLM_LOCAL_MODEL_COST_MAP=True
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 scripts/gpu/shape_model.py /tmp/shape8b >/dev/null || exit 1
python3 scripts/gpu/bench_templates.py --ops "${OPS:-rope_kvcache}" --profile hf:/tmp/shape8b/config.json \
  --tokens "$TOKENS" --out "${OUT:-/tmp/geak_bench}"
