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

from . import audit_cmds, legs_cmds, run_cmds  # noqa: F401  (command registration)
from .common import Exit, app, err, exit_code
from .skills_cmds import skills_app

app.add_typer(skills_app, name="skills")

__all__ = ["Exit", "app", "exit_code", "main", "unwind_on_signals"]


def _terminate(signum, frame):  # noqa: ARG001
    # SIGTERM (kill, a job scheduler, a container stop) unwinds like Ctrl-C, so every engine
    # server and benchmark client is torn down by process group instead of being orphaned
    raise KeyboardInterrupt(f"signal {signum}")


def unwind_on_signals() -> None:
    """SIGTERM and SIGINT raise KeyboardInterrupt in the main thread, whatever the shell set:
    what `geak` and every bench that starts engines install first."""
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    # a shell starts background jobs with SIGINT ignored; geak must still stop on `kill -INT`
    signal.signal(signal.SIGINT, signal.default_int_handler)


def main() -> None:
    unwind_on_signals()
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)

