#!/usr/bin/env bash
# geak installed from its wheel, outside the source tree, still finds its skills, prompts,
# workflows and shipped model (package data), audits a shipped case and replays the recorded
# run. Dependencies come from the tested .venv (a .pth line); geak itself only from the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
.venv/bin/pip wheel -q --no-deps --no-build-isolation -w "$TMP/dist" . 2>/dev/null
.venv/bin/python -m venv "$TMP/venv"
SITE=$("$TMP/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$SITE/_geak_deps.pth"
"$TMP/venv/bin/pip" install -q --no-deps --no-index "$TMP"/dist/geak-*.whl
cp -r runs/cases/clean/run "$TMP/case"
cp -r runs/recorded/tiny-cpu-run "$TMP/recorded"
cd "$TMP"
export LITELLM_LOCAL_MODEL_COST_MAP=True
"$TMP/venv/bin/python" - <<'PY'
import geak, geak.resources as r
assert "site-packages" in geak.__file__, geak.__file__
for kind in r.ASSETS:
    assert "site-packages" in str(r.asset_dir(kind)), (kind, r.asset_dir(kind))
print("wheel: geak and its assets load from", geak.__file__.rsplit("/geak/", 1)[0])
PY
G="$TMP/venv/bin/geak"
"$G" skills list > skills.txt && grep -q patch_auditor skills.txt && echo "wheel: geak skills list OK"
"$G" skills validate
"$G" audit case > audit.txt && echo "wheel: geak audit on the shipped clean case: PASS (exit 0)"
"$G" replay recorded --out replayed && echo "wheel: geak replay reproduced the recorded run"
