"""The meeting point of two paired legs' benchmark clients (issue 18).

A folder in the run directory holds one empty token per client and repetition
(``<rep>.<pid>``); a repetition starts once every party's token is there. A file barrier,
not a threading one, because the clients are separate processes (vLLM's own client, run by
the bench shim in vllm.py, speaks the same protocol) and a folder leaves a trace of when
each side arrived. ``abort`` is written by a leg that failed, so its partner stops waiting
instead of timing out.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

WAIT_S = 900.0  # as long as a leg's benchmark timeout: a partner slower than that has failed


class PartnerLost(RuntimeError):
    pass


@dataclass(frozen=True)
class RepBarrier:
    folder: Path
    parties: int = 2

    @property
    def spec(self) -> str:
        """``folder:parties``, the bench shim's --geak-rep-barrier argument."""
        return f"{self.folder}:{self.parties}"

    def prepare(self) -> RepBarrier:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def abort(self) -> None:
        try:
            (self.folder / "abort").touch()
        except OSError:
            pass  # a folder gone is a partner that cannot wait on it either

    def meet(self, rep: int, token: str | None = None, wait_s: float = WAIT_S) -> None:
        (self.folder / f"{rep}.{token or os.getpid()}").touch()
        t0 = time.monotonic()
        while len(list(self.folder.glob(f"{rep}.*"))) < self.parties:
            if (self.folder / "abort").exists():
                raise PartnerLost(f"paired repetition {rep}: the partner leg failed (see its launch.json)")
            if time.monotonic() - t0 > wait_s:
                raise PartnerLost(f"paired repetition {rep}: the partner client did not arrive within {wait_s:g} s")
            time.sleep(0.005)
