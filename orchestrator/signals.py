"""SIGTERM and SIGINT unwind like Ctrl-C, for `geak` and for every bench that starts engines.

Stdlib only: a bench on a GPU box imports this without the CLI's dependencies."""

from __future__ import annotations

from typing import Any

import signal


def _terminate(signum: int, frame: Any) -> None:  # noqa: ARG001
    # SIGTERM (kill, a job scheduler, a container stop) unwinds like Ctrl-C, so every engine
    # server and benchmark client is torn down by process group instead of being orphaned
    raise KeyboardInterrupt(f"signal {signum}")


def unwind_on_signals() -> None:
    """SIGTERM and SIGINT raise KeyboardInterrupt in the main thread, whatever the shell set."""
    signal.signal(signal.SIGTERM, _terminate)
    # a shell starts background jobs with SIGINT ignored; geak must still stop on `kill -INT`
    signal.signal(signal.SIGINT, signal.default_int_handler)
