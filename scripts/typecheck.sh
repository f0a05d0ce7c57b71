#!/usr/bin/env bash
# mypy --strict on what pyproject's [tool.mypy] files name (every shipped package but agents/kernels),
# on a throwaway view of the tree as Python imports it (geak.<x> -> <x>/: scripts/house_view.sh),
# since mypy does not follow pyproject's package-dir. Exit status: mypy's.
#   bash scripts/typecheck.sh            (MYPY=path/to/mypy to use another)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
view=$(mktemp -d)
trap 'rm -rf "$view"' EXIT
bash "$root/scripts/house_view.sh" "$view" >/dev/null
cd "$view"
"${MYPY:-$root/.venv/bin/mypy}" --config-file "$root/pyproject.toml" --python-executable "${PYTHON:-$root/.venv/bin/python}" \
  --cache-dir "$view/.mypy_cache"
