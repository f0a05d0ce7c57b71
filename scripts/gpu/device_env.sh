# Source on the device machine (repo root as cwd): makes geak importable without installing it
# (geak.<x> lives in <x>/, so a geak/ tree of symlinks is built in /tmp) and installs the
# carried wheels the image lacks (pydantic and its needs; see docs/kernels.md).
set -e
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
rm -rf /tmp/gk && mkdir -p /tmp/gk/geak
cp geak/*.py /tmp/gk/geak/
# the code packages and the shipped assets (geak/resources.py finds skills/, prompts/, workflows/, models/ as geak.<name>)
for p in agents auditor orchestrator skills prompts workflows models; do ln -s "$PWD/$p" /tmp/gk/geak/$p; done
export PYTHONPATH=/tmp/gk:/tmp/site${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
# python -m puts the cwd first, and the repo root has a geak/ with only __init__.py in it
export PYTHONSAFEPATH=1
set +e
