#!/usr/bin/env bash
# On the GPU test machine, for the SGLang bundle that build.sh made (as gpu-vllm's device.sh is for
# vLLM's). Files a call carries are replaced at the next call, but /tmp lasts as long as the
# machine stays warm (30 s after a call; 30 min at most), so each call moves its chunk out of the
# tree first. Its own stash and site, apart from vLLM's (/tmp/gpu-bundle, /tmp/site): both
# bundles name their chunks c00.., and their transformers, fastapi, xgrammar, openai differ.
#   bash device.sh stash        move the carried chunk(s) of this folder into /tmp/gpu-bundle-sglang
#   bash device.sh install      stash, check, unpack everything into /tmp/site-sglang, import check
#   then: export PYTHONPATH=/tmp/site-sglang NCCL_NVLS_ENABLE=0 PYTHONUNBUFFERED=1
#         python3 -m sglang.launch_server --model-path M --attention-backend triton \
#           --sampling-backend pytorch [--load-format dummy] ...
# The bundle's transformers 5.12.1 (SGLang's pin) shadows the machine's 5.17.0 through PYTHONPATH:
# with 5.17.0, importing sglang's server fails ("'qwen3_asr' is already used by a Transformers
# config", seen on CPU under Python 3.12 and torch 2.11.0, 2026-12-08).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); B=/tmp/gpu-bundle-sglang; S=/tmp/site-sglang
mkdir -p "$B"
for c in "$here"/c[0-9]*; do [[ -f $c ]] && mv "$c" "$B/"; done
[[ -f $here/bundle.sha256 ]] && cp "$here/bundle.sha256" "$B/"
echo "stashed: $(ls "$B" | tr '\n' ' ')"
[[ ${1:-stash} == install ]] || exit 0
cat "$B"/c[0-9]* > /tmp/bundle-sglang.tar
if [[ -f $B/bundle.sha256 ]] && [[ $(sha256sum /tmp/bundle-sglang.tar | cut -d' ' -f1) != $(cat "$B/bundle.sha256") ]]; then
  echo "bundle incomplete or corrupt: carry every chunk first (have: $(ls "$B"))"; exit 1
fi
rm -rf "$S" /tmp/bundle-sglang && mkdir -p "$S" /tmp/bundle-sglang && tar xf /tmp/bundle-sglang.tar -C /tmp/bundle-sglang
rm -f /tmp/bundle-sglang.tar  # 180 MB that /tmp need not hold twice
# sgl_kernel without FA3 is a plain zip of the wheel's members (dist-info included: sglang checks
# sglang-kernel's version at start), so it is unpacked, not pip-installed
python3 -c "import zipfile; zipfile.ZipFile('/tmp/bundle-sglang/sgl_kernel_slim.zip').extractall('$S')"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$S" /tmp/bundle-sglang/wheels/*.whl 2>&1 | grep -vi warn || true
export PYTHONPATH=$S NCCL_NVLS_ENABLE=0
python3 -c "import sglang, sgl_kernel, torch, transformers; print('sglang', sglang.__version__, 'sgl_kernel', sgl_kernel.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name(0))"
# What a server start loads in its processes (HTTP server, scheduler with a Llama on the triton
# backend and the pytorch sampler, detokenizer) and the client geak runs: a missing package shows
# here in seconds rather than in a server log after a minute (import_scan.py's DEFAULT_ENTRIES).
python3 - <<'PY'
import importlib, sys, traceback
mods = ["sglang.srt.entrypoints.http_server", "sglang.srt.managers.scheduler", "sglang.srt.managers.detokenizer_manager",
        "sglang.srt.model_executor.model_runner", "sglang.srt.models.llama", "sglang.srt.layers.attention.triton_backend",
        "sglang.srt.layers.sampler", "sglang.benchmark.serving"]
bad = 0
for m in mods:
    try:
        importlib.import_module(m)
    except Exception:
        bad += 1
        print(f"import {m} FAILED:\n{traceback.format_exc(limit=-4)}")
print(f"server modules: {len(mods) - bad}/{len(mods)} import")
sys.exit(1 if bad else 0)
PY
