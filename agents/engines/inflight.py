"""Which legs of a run are alive right now, and on what: the run directory's in-flight registry.

A leg registers itself (its device set, its server's process group, this host) once its
server is up and removes the entry when it ends, so a sibling leg's fingerprint can tell a
concurrent leg of the same run (on a disjoint device set) from a foreign process. Files, not
memory: legs dispatched as Ray tasks run in other processes on the same run directory.
Entries of a dead runner are ignored (a crash leaves a file; the next reader skips it).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from geak.auditor.evidence.store import RunStore

from .process import pid_alive

DIR = "scheduler/inflight"
LOG = "scheduler/inflight.jsonl"  # append-only start/end of every registered leg: who overlapped whom


@dataclass(frozen=True)
class Sibling:
    leg_id: str
    devices: str
    pgid: int


class Entry(BaseModel):
    """scheduler/inflight/<leg>.json: a live leg (removed when it ends)."""

    schema_version: int = 1
    leg_id: str
    devices: str
    pgid: int
    runner_pid: int
    host: str
    since: float
    # what the leg will measure, for a progress display (orchestrator/progress.py)
    role: str | None = None
    reps_planned: int | None = None  # warm-up included
    requests_per_rep: int | None = None


class Mark(BaseModel):
    """scheduler/inflight.jsonl: one leg's registration or its end."""

    schema_version: int = 1
    leg_id: str
    event: Literal["start", "end"]
    t: float
    host: str
    devices: str | None = None


def register(
    store: RunStore,
    leg_id: str,
    devices: str,
    pgid: int = -1,
    *,
    role: str | None = None,
    reps_planned: int | None = None,
    requests_per_rep: int | None = None,
) -> None:
    """From the moment the leg holds its device set (its server's start-up included: two legs
    whose start-ups overlap ran at once); ``pgid`` once the server is up (``started``)."""
    now, host = time.time(), socket.gethostname()
    store.write_json(
        f"{DIR}/{leg_id}.json",
        Entry(
            leg_id=leg_id,
            devices=devices,
            pgid=pgid,
            runner_pid=os.getpid(),
            host=host,
            since=now,
            role=role,
            reps_planned=reps_planned,
            requests_per_rep=requests_per_rep,
        ),
    )
    store.append_jsonl(LOG, Mark(leg_id=leg_id, event="start", t=now, host=host, devices=devices))


def started(store: RunStore, leg_id: str, pgid: int) -> None:
    """The leg's server is up: its process group, so siblings can book its CPU."""
    p = f"{DIR}/{leg_id}.json"
    e, _ = store.read_json(p, Entry)
    if e is not None:
        store.write_json(p, e.model_copy(update={"pgid": pgid}))


def unregister(store: RunStore, leg_id: str) -> None:
    try:
        store.path(f"{DIR}/{leg_id}.json").unlink()
    except (OSError, ValueError):
        return
    store.append_jsonl(LOG, Mark(leg_id=leg_id, event="end", t=time.time(), host=socket.gethostname()))


def overlapped(store: RunStore, leg_id: str) -> list[str]:
    """Every other leg whose registered lifetime on this host overlapped this leg's so far (a
    fingerprint samples twice; a sibling that came and went between the samples is still named)."""
    host = socket.gethostname()
    spans: dict[str, list[float]] = {}
    try:
        text = store.path(LOG).read_text()
    except (OSError, ValueError):
        return []
    for line in text.splitlines():
        try:
            m = Mark.model_validate_json(line)
        except ValueError:
            continue
        if m.host != host:
            continue
        if m.event == "start":
            spans[m.leg_id] = [m.t, float("inf")]
        elif m.leg_id in spans:
            spans[m.leg_id][1] = m.t
    if leg_id not in spans:
        return []
    s0, e0 = spans[leg_id]
    return sorted(k for k, (s1, e1) in spans.items() if k != leg_id and min(e0, e1) > max(s0, s1))


def _all(store: RunStore) -> list[Entry]:
    d = store.path(DIR)
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            out.append(Entry.model_validate_json(p.read_bytes()))
        except (
            OSError,
            ValueError,
        ):  # half-written or foreign (ValidationError is a ValueError): never a reason to fail a leg
            continue
    return out


def entries(store: RunStore, *, live_runner: bool = True) -> list[Sibling]:
    """This run's registered legs on this host (by default only those whose runner is alive)."""
    host = socket.gethostname()
    return [
        Sibling(e.leg_id, e.devices, e.pgid)
        for e in _all(store)
        if e.host == host and (not live_runner or pid_alive(e.runner_pid)) and e.pgid > 0
    ]


def siblings(store: RunStore, leg_id: str) -> list[Sibling]:
    """The other legs of this run alive on this host now."""
    return [s for s in entries(store) if s.leg_id != leg_id]


def live_entries(store: RunStore) -> list[Entry]:
    """Every registered leg whose runner is alive (one on another host, a Ray task's, is taken as alive)."""
    host = socket.gethostname()
    return [e for e in _all(store) if e.host != host or pid_alive(e.runner_pid)]
