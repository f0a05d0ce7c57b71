#!/usr/bin/env bash
# geak installed from its wheel, outside the source tree, still finds its skills, prompts,
# workflows and shipped model (package data), generates a planted case and audits it, and replays
# a shipped recording from its archive (runs/recorded/NAME.tar.xz, taken directly). Dependencies come from the tested .venv (a .pth line); geak itself only from the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
.venv/bin/pip wheel -q --no-deps --no-build-isolation -w "$TMP/dist" . 2>/dev/null
.venv/bin/python -m venv "$TMP/venv"
SITE=$("$TMP/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$SITE/_geak_deps.pth"
"$TMP/venv/bin/pip" install -q --no-deps --no-index "$TMP"/dist/geak-*.whl
cp runs/recorded/tiny-cpu-run.tar.xz "$TMP/recorded.tar.xz"
REPO=$PWD
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
"$G" cases generate cases --case clean > /dev/null
"$TMP/venv/bin/python" - "$REPO/runs/cases.sha256" <<'PY'
import sys
from pathlib import Path
from geak.auditor.corpus.digest import case_sha256, read_digest
assert case_sha256(Path("cases/clean")) == read_digest(Path(sys.argv[1]))["clean"], "the wheel generates another clean case"
print("wheel: the generated clean case is the one runs/cases.sha256 names")
PY
"$G" audit cases/clean/run > audit.txt && echo "wheel: geak audit on a generated clean case: PASS (exit 0)"
"$G" replay recorded.tar.xz --out replayed && echo "wheel: geak replay reproduced the recorded run from its archive"
