#!/usr/bin/env bash
# Refresh requirements.lock deliberately: a throwaway venv installs geak from pyproject's
# ranges (GEAK_LOCK=0 scripts/setup.sh: what the registry serves today), and pip freeze
# writes the whole environment it got. Then prove it before committing: `bash .ci/run` on
# this checkout (or a clean clone) installs exactly the new lock and runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=.venv-lock
rm -rf "$tmp"
GEAK_LOCK=0 GEAK_VENV=$tmp bash scripts/setup.sh
{
  echo "# geak's tested environment: every package, pinned. Installed with --no-deps by"
  echo "# scripts/setup.sh and checked against the fresh venv's pip freeze by .ci/run."
  echo "# Refresh deliberately with scripts/lock.sh (pip freeze of a venv built from pyproject's"
  echo "# ranges), then run bash .ci/run before committing. Made $(date -u +%Y-%m-%d)."
  echo "# platform: $("$tmp/bin/python" scripts/lockcheck.py --platform)"
  "$tmp/bin/python" -m pip freeze --all --exclude-editable | grep -v '^geak'
} > requirements.lock.tmp
mv requirements.lock.tmp requirements.lock
rm -rf "$tmp"
git --no-pager diff --stat -- requirements.lock || true
echo "lock: requirements.lock rewritten; run bash .ci/run before committing it"
