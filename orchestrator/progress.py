"""Progress of the legs running now: which leg, on which device set, doing what, how far, for how long.

Read from the run directory, never from the leg runner's memory, so legs in scheduler threads, in
paired designs and in Ray tasks all show: the in-flight registry (agents/engines/inflight.py: the
leg, its device set, its planned reps and requests) and the tail of the leg's bench.log (the
benchmark client's own lines: geak's "repetition -> rep_N.json", "Warming up with N requests",
tqdm's "n/total"). One row per leg running now, so parallel legs give one row per device set.

On a terminal the rows are a live table, redrawn every second; elsewhere (CI logs, pipes) a plain
line when a leg starts, moves to its next stage or ends, and otherwise at most once a minute.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from geak.agents.engines import inflight
from geak.auditor.evidence.store import RunStore
from geak.auditor.evidence.layout import BENCH_LOG, leg_file

_REP = re.compile(r"geak: repetition -> rep_(\d+)\.json")
_TQDM = re.compile(r"(\d+)/(\d+) \[")
_WARM = "Warming up with"
_MAIN = "Starting main benchmark run"
TAIL_BYTES = 8192
PLAIN_EVERY_S = 60.0


@dataclass(frozen=True)
class BenchState:
    rep: int | None = None  # index of the repetition the client is on (0 = the warm-up rep when there is one)
    stage: str = "server start-up and probes"
    done: int | None = None
    total: int | None = None


def parse_bench_tail(text: str) -> BenchState:
    """Where the benchmark client is, from the end of its log (tqdm's carriage returns included)."""
    text = text.replace("\r", "\n")
    reps = list(_REP.finditer(text))
    if not reps:
        return BenchState()
    last = reps[-1]
    after = text[last.end() :]
    if _MAIN in after:
        stage, part = "requests", after[after.rindex(_MAIN) :]
    elif _WARM in after:
        stage, part = "warm-up requests", after[after.rindex(_WARM) :]
    else:
        return BenchState(rep=int(last.group(1)), stage="client start-up")
    bars = list(_TQDM.finditer(part))
    done, total = (int(bars[-1].group(1)), int(bars[-1].group(2))) if bars else (0, None)
    return BenchState(rep=int(last.group(1)), stage=stage, done=done, total=total)


@dataclass(frozen=True)
class LegProgress:
    leg_id: str
    devices: str
    role: str | None
    state: BenchState
    reps_planned: int | None
    requests_per_rep: int | None
    elapsed_s: float
    eta_s: float | None

    def fields(self) -> dict[str, str]:
        s = self.state
        rep = f"{s.rep + 1}/{self.reps_planned or '?'}" if s.rep is not None else "-"
        total = s.total or self.requests_per_rep
        req = f"{s.done}/{total}" if s.done is not None else "-"
        return {
            "leg": self.leg_id,
            "devices": self.devices,
            "stage": s.stage,
            "rep": rep,
            "requests": req,
            "elapsed": clock(self.elapsed_s),
            "eta": clock(self.eta_s) if self.eta_s is not None else "-",
        }

    def line(self) -> str:
        f = self.fields()
        return (
            f"leg {f['leg']} [{f['devices']}]: {f['stage']}; rep {f['rep']}, requests {f['requests']}; "
            f"elapsed {f['elapsed']}, ETA {f['eta']}"
        )


def clock(s: float) -> str:
    s = max(0, int(s))
    h, rem = divmod(s, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60:02d}:{rem % 60:02d}"


def eta_s(state: BenchState, reps_planned: int | None, rep_s: float | None) -> float | None:
    """Seconds left in the leg: the reps not begun at the measured seconds per rep, and the rest of
    the current one by its requests. None until one rep has been timed."""
    if rep_s is None or reps_planned is None or state.rep is None:
        return None
    frac = (state.done or 0) / state.total if state.total else 0.0
    return max(0.0, (reps_planned - state.rep - frac) * rep_s)


@dataclass
class _Seen:
    first: float
    rep: int | None = None
    rep_started: float | None = None
    rep_s: list[float] = field(default_factory=list)
    stage: str = ""
    printed: float = 0.0


def _tail(store: RunStore, leg_id: str) -> str:
    try:
        with open(store.path(leg_file(leg_id, BENCH_LOG)), "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - TAIL_BYTES))
            return f.read().decode(errors="replace")
    except (OSError, ValueError):
        return ""


class Reporter:
    """Polls the run directory in a daemon thread and shows every running leg (module docstring).
    ``console``: a rich Console; ``live``: a table redrawn in place (a terminal) or plain lines."""

    def __init__(
        self,
        store: RunStore,
        console: Any,
        *,
        live: bool | None = None,
        interval_s: float = 1.0,
        plain_every_s: float = PLAIN_EVERY_S,
    ):
        self.store, self.console = store, console
        self.live = console.is_terminal if live is None else live
        self.interval_s, self.plain_every_s = interval_s, plain_every_s
        self._seen: dict[str, _Seen] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live_view: Any = None

    def snapshot(self, now: float | None = None) -> list[LegProgress]:
        """Every running leg, and this reporter's memory of them updated (pure of output)."""
        now = time.time() if now is None else now
        out = []
        for e in inflight.live_entries(self.store):
            seen = self._seen.setdefault(e.leg_id, _Seen(first=now))
            st = parse_bench_tail(_tail(self.store, e.leg_id))
            if st.rep is not None and st.rep != seen.rep:
                if seen.rep is not None and seen.rep_started is not None:
                    seen.rep_s.append(now - seen.rep_started)
                seen.rep, seen.rep_started = st.rep, now
            rep_s = sum(seen.rep_s) / len(seen.rep_s) if seen.rep_s else None
            out.append(
                LegProgress(
                    e.leg_id,
                    e.devices,
                    e.role,
                    st,
                    e.reps_planned,
                    e.requests_per_rep,
                    now - e.since,
                    eta_s(st, e.reps_planned, rep_s),
                )
            )
        return out

    def _ended(self, running: set[str]) -> list[str]:
        gone = [k for k in self._seen if k not in running]
        for k in gone:
            del self._seen[k]
        return gone

    def tick(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        rows = self.snapshot(now)
        gone = self._ended({p.leg_id for p in rows})
        if self.live:
            for k in gone:
                self.console.print(f"[dim]leg {k} ended[/dim]")
            if self._live_view is not None:
                self._live_view.update(self._table(rows))
            return
        for k in gone:
            self.console.print(f"progress: leg {k} ended", soft_wrap=True)
        for p in rows:
            seen = self._seen[p.leg_id]
            key = f"{p.state.stage}:{p.state.rep}"
            if key != seen.stage or now - seen.printed >= self.plain_every_s:
                seen.stage, seen.printed = key, now
                self.console.print("progress: " + p.line(), markup=False, highlight=False, soft_wrap=True)

    def _table(self, rows: list[LegProgress]) -> Any:
        from rich.table import Table

        t = Table(box=None, pad_edge=False, show_header=bool(rows))
        for col in ("leg", "devices", "stage", "rep", "requests", "elapsed", "ETA"):
            t.add_column(col, no_wrap=True)
        for p in rows:
            f = p.fields()
            t.add_row(f["leg"], f["devices"], f["stage"], f["rep"], f["requests"], f["elapsed"], f["eta"])
        return t

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:  # a display must never end a run
                continue

    def __enter__(self) -> Reporter:
        if self.live:
            from rich.live import Live

            self._live_view = Live(self._table([]), console=self.console, refresh_per_second=2, transient=True)
            self._live_view.__enter__()
        self._thread = threading.Thread(target=self._loop, name="geak-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._live_view is not None:
            self._live_view.__exit__(None, None, None)
            self._live_view = None
