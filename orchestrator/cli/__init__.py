"""The `geak` command line. Thin: parse, call a pure core, print, exit with a documented code.

Exit codes of `geak audit` (worst gate wins, in this order):
    3  FAIL       at least one gate FAILed: nothing may be banked on it
    4  UNAUDITED  the auditor itself errored on a gate (fail-open, recorded)
    1  FLAG       no FAIL, but something to remeasure or downgrade
    0  PASS
    2  usage error (bad arguments, no such run directory)
`geak backtest` exits 0 when every bar given (--min-recall, --max-false-fail) is met, else 1.
"""

from __future__ import annotations

import sys

from . import audit_cmds, legs_cmds, pack_cmds, run_cmds  # noqa: F401  (command registration)
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
        sys.exit(130)

