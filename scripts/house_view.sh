#!/usr/bin/env bash
# A view of the source tree as Python imports it, for static tools (type checkers, import graphs,
# IDEs, farm-studio): geak.<x> lives in <x>/ by pyproject's package-dir mapping, which such tools
# do not follow, so they see geak.auditor as missing and every cross-package edge as broken. This
# makes DIR/geak/<x> symlinks to the checkout's folders; point the tool at DIR.
#   bash scripts/house_view.sh [DIR=/tmp/geak-view]     e.g. then: pyright --pythonpath ... DIR/geak
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/tmp/geak-view}
rm -rf "$dir/geak" && mkdir -p "$dir/geak"
cp "$root"/geak/*.py "$dir/geak/"
for p in agents auditor orchestrator skills prompts workflows models; do ln -s "$root/$p" "$dir/geak/$p"; done
echo "$dir/geak: the package as imported (geak.auditor -> $root/auditor, ...)"
