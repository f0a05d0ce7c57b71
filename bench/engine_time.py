"""Where a run's engine time goes: server start-up, probes, benchmark reps, teardown.

    python bench/engine_time.py RUN_DIR [RUN_DIR ...] [--json OUT]

Everything is read from the legs' own bytes: launch.json's start and end (the leg runner's
clock), the engine's "Application startup complete." line in server.log (vLLM's clock, second
resolution), and each raw rep's ``duration`` and ``date`` (vLLM's bench client: the date is when
the rep's result was saved, so a rep ran from date - duration to date). Engine time is the sum of
the legs' lifetimes; with legs at once (the leg scheduler) the run's wall time is less than that,
and the line says by how much. A leg on a reused server (launch.json ``server.reused``) paid no
start-up; the time a kept server sat idle between its legs is engine time no leg holds, and the
line adds it (``idle``) so the measured share is of every second a server was up.
Exit codes: 0, 2 usage (a directory with no legs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

STAMP = re.compile(r"INFO (\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) ")
# uvicorn prints this line without a time: the engine's last stamped line before it is when it came up
UP = "Application startup complete"


@dataclass
class LegTime:
    leg_id: str
    wall_s: float
    startup_s: float | None  # leg start -> the engine says it is up
    reps_s: float  # every rep the client ran, warm-up included
    probes_s: float | None  # up -> first rep start: smoke request, /server_info, parity, accuracy, fingerprint
    teardown_s: float | None  # last rep end -> leg end
    reps: int
    owner: str = ""  # the leg whose server it measured on (itself unless reused)
    started_at: float = 0.0
    ended_at: float = 0.0


def _log_time(line_m: re.Match[str], year: int) -> float:
    mo, d, h, mi, s = map(int, line_m.groups())
    return dt.datetime(year, mo, d, h, mi, s, tzinfo=dt.UTC).timestamp()


def _raw_date(s: str) -> float | None:
    try:
        return dt.datetime.strptime(s, "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC).timestamp()
    except (TypeError, ValueError):
        return None


def leg_time(d: Path) -> LegTime | None:
    try:
        launch = json.loads((d / "launch.json").read_text())
        t0, t1 = float(launch["started_at"]), float(launch["ended_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    year = dt.datetime.fromtimestamp(t0, dt.UTC).year
    up = None
    srv = launch.get("server") or {}
    reused = bool(srv.get("reused"))
    if reused:
        up = t0  # the server was up before the leg began: no start-up
    try:
        last = None
        for line in [] if reused else (d / "server.log").read_text(errors="replace").splitlines():
            if m := STAMP.search(line):
                last = m
            elif UP in line and last is not None:
                up = _log_time(last, year)
                break
    except OSError:
        pass
    spans = []
    for f in sorted((d / "raw").glob("rep_*.json")):
        try:
            o = json.loads(f.read_text())
            end, dur = _raw_date(o.get("date")), float(o["duration"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        spans.append((None if end is None else end - dur, end, dur))
    reps_s = sum(s[2] for s in spans)
    first = min((s[0] for s in spans if s[0] is not None), default=None)
    last = max((s[1] for s in spans if s[1] is not None), default=None)
    return LegTime(
        d.name,
        t1 - t0,
        None if up is None else up - t0,
        reps_s,
        None if up is None or first is None else max(0.0, first - up),
        None if last is None else max(0.0, t1 - last),
        len(spans),
        str(srv.get("owner_leg") or d.name),
        t0,
        t1,
    )


def idle_s(legs: list[LegTime]) -> float:
    """Seconds kept servers sat idle between the legs measured on them (gaps inside a lifetime)."""
    by: dict[str, list[LegTime]] = {}
    for t in legs:
        by.setdefault(t.owner, []).append(t)
    gap = 0.0
    for users in by.values():
        users.sort(key=lambda t: t.started_at)
        gap += sum(max(0.0, b.started_at - a.ended_at) for a, b in zip(users, users[1:]))
    return gap


def run_times(run: Path) -> tuple[list[LegTime], float | None]:
    legs = [t for d in sorted((run / "legs").glob("*")) if d.is_dir() and (t := leg_time(d)) is not None]
    wall = None
    try:
        ts = [json.loads(line)["t"] for line in (run / "events.jsonl").read_text().splitlines() if line.strip()]
        wall = max(ts) - min(ts) if ts else None
    except (OSError, ValueError, KeyError):
        pass
    return legs, wall


def summary(run: Path, legs: list[LegTime], wall: float | None) -> dict[str, float | int | str | None]:
    idle = idle_s(legs)
    eng = sum(t.wall_s for t in legs) + idle

    def tot(f: str) -> float | None:
        vals = [getattr(t, f) for t in legs]
        return None if any(v is None for v in vals) else sum(vals)

    return {
        "run": str(run),
        "legs": len(legs),
        "reused_legs": sum(t.owner != t.leg_id for t in legs),
        "servers": len({t.owner for t in legs}),
        "idle_s": idle,
        "engine_s": eng,
        "run_wall_s": wall,
        "reps_s": tot("reps_s"),
        "startup_s": tot("startup_s"),
        "probes_s": tot("probes_s"),
        "teardown_s": tot("teardown_s"),
        "measure_share": tot("reps_s") / eng if eng else None,
        "concurrency": eng / wall if wall else None,
    }


def _pct(x: float | None, of: float) -> str:
    return "?" if x is None else f"{x:.0f} s ({x / of * 100:.0f}%)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    out = []
    for run in a.runs:
        legs, wall = run_times(run)
        if not legs:
            print(f"{run}: no legs with a launch.json (start and end) under {run}/legs", file=sys.stderr)
            return 2
        s = summary(run, legs, wall)
        eng = float(s["engine_s"])  # type: ignore[arg-type]
        print(
            f"{run.name}: {len(legs)} legs on {s['servers']} server lifetimes ({s['reused_legs']} on a reused server), "
            f"engine time {eng:.0f} s"
            + (f" in {wall:.0f} s of run wall time ({eng / wall:.2f} legs at once on average)" if wall else "")
            + f"; benchmark reps (warm-up included) {_pct(s['reps_s'], eng)}, start-up {_pct(s['startup_s'], eng)}, "  # type: ignore[arg-type]
            f"probes {_pct(s['probes_s'], eng)}, teardown {_pct(s['teardown_s'], eng)}, "  # type: ignore[arg-type]
            f"kept idle {_pct(s['idle_s'], eng)}"
        )  # type: ignore[arg-type]
        out.append({**s, "per_leg": [asdict(t) for t in legs]})
    if a.json:
        tmp = a.json.with_suffix(a.json.suffix + ".tmp")
        tmp.write_text(json.dumps(out, indent=1))
        tmp.replace(a.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
