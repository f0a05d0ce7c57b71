"""The `geak` command line. Thin: parse, call a pure core, print, exit with a documented code.

Exit codes mean one thing in every command (common.Exit; the table is in README "Exit codes"):
0 done/PASS, 1 FLAG or differences to look at, 2 usage, 3 FAIL or a check that did not hold,
4 unaudited, 5 nothing to audit, 6 a what-if flipped a banked decision, 7 a run error (engine, LLM,
replay, a failed leg), 123 geak itself failed, 130 interrupted. `geak audit`: the worst gate wins,
FAIL over UNAUDITED over FLAG over PASS.
"""

from __future__ import annotations

import sys

from . import audit_cmds, legs_cmds, pack_cmds, run_cmds, replay_cmds  # noqa: F401  (command registration, in this order)
from ..signals import unwind_on_signals
from .common import Exit, app, err, exit_code
from .skills_cmds import skills_app

app.add_typer(skills_app, name="skills")

__all__ = ["Exit", "app", "exit_code", "main"]


def main() -> None:
    unwind_on_signals()
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(Exit.INTERRUPTED)
