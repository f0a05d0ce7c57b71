"""The README's commands leave a checkout clean: run on a fresh clone, `git status` shows nothing.

Every command that reads a shipped recording, writes a report, replays, backtests, checks or
plans, as the README shows it, in a clone of this repository's HEAD. (`geak run` and `geak
cases generate` write only under runs/, which .gitignore keeps out; they start engines or take
minutes, and their directories are the ignore rule's, checked by tests/test_tree_budget.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout: no clone to keep clean"
)

COMMANDS = [
    ["audit", "runs/recorded/tiny-cpu-run", "-v"],
    ["report", "runs/recorded/tiny-cpu-llm"],
    ["replay", "runs/recorded/tiny-cpu-reuse"],
    ["backtest", "runs/keys"],
    ["skills", "list"],
    ["skills", "validate"],
    ["skills", "diff", "runs/recorded/tiny-cpu-llm"],
    ["skills", "copy", "runs/my-skills"],
    ["schema", "export", "--check"],
    ["run", "--plan"],
    ["run", "--workflow", "workflows/gpu.yaml", "--devices", "0", "--plan"],
    ["unpack"],
]


def test_the_readmes_commands_leave_a_fresh_clone_clean(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    for args in COMMANDS:
        r = subprocess.run(
            [sys.executable, "-m", "geak.orchestrator.cli", *args],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode in (0, 1, 3), f"geak {' '.join(args)} -> {r.returncode}: {r.stderr[-2000:]}"
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout
    assert status == "", f"the README's commands changed the checkout:\n{status[:3000]}"
