"""Where the workflow's legs come from: a live engine, or a recorded run (replay, tests).

Both runners are idempotent per leg id: a leg already on disk with the same launch knobs,
role and workload and status ok is reused, so a resumed run never re-measures a banked leg.
A leg left half-written by a crash (no launch.json, or one that says it did not finish) is
moved aside to ``abandoned/`` (kept, not deleted) and measured again.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any, Protocol
from collections.abc import Callable

from geak.auditor.evidence.models import BenchRep, LegLaunch, WorkloadSpec
from geak.auditor.evidence.store import RunStore

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.leg import UNFINISHED, LegResult, run_leg
from geak.agents.engines.leg_spec import leg_parts
from geak.agents.engines.questions import Prompt
from geak.agents.engines.questions import QuestionSet
from geak.auditor.evidence.ledger import Head, check_leg, read_ledger, reseal, seal
from geak.auditor.evidence.ledger import set_aside as ledger_set_aside
from geak.agents.engines.pool import POOL

from .scheduler import LegJob, LocalScheduler, Scheduler
from geak.auditor.evidence.layout import BENCH_RUNS, LAUNCH, LEDGER, LEGS, leg_dir, leg_file


NOT_RECORDED = "not_recorded"  # a LegResult status only a what-if replay returns


class LegReplayMiss(LookupError):
    """A replayed workflow asked for a leg the recorded run does not hold (or holds differently)."""


def _same_leg(launch: LegLaunch, *, role: str, knobs: dict[str, Any], workload: WorkloadSpec) -> list[str]:
    why = []
    if launch.role != role:
        why.append(f"role {launch.role!r} != {role!r}")
    if launch.launch_config != knobs:
        diff = {
            k: (launch.launch_config.get(k), knobs.get(k))
            for k in set(launch.launch_config) | set(knobs)
            if launch.launch_config.get(k) != knobs.get(k)
        }
        why.append(f"launch knobs differ (recorded, requested): {diff}")
    if launch.workload is None or launch.workload.model_dump() != workload.model_dump():
        why.append("workload differs")
    return why


def _counted(store: RunStore, leg_id: str) -> int:
    p = store.path(leg_file(leg_id, BENCH_RUNS))
    if not p.exists():
        return 0
    rows, _ = store.read_jsonl(leg_file(leg_id, BENCH_RUNS), BenchRep)
    return sum(1 for _, r in rows if not r.warmup)


def existing(
    store: RunStore,
    leg_id: str,
    *,
    role: str,
    cfg: LaunchConfig,
    workload: WorkloadSpec,
    reps: int,
    on_seal: Callable[[Head | None], None] = lambda h: None,
) -> LegResult | None:
    """The leg already on disk if it is the same leg and finished ok; else None (after moving a
    stale one aside: ``on_seal`` gets the ledger's head after that record)."""
    d = store.path(leg_dir(leg_id))
    if not d.exists():
        return None
    launch, _ = store.read_json(leg_file(leg_id, LAUNCH), LegLaunch)
    same = launch is not None and not _same_leg(launch, role=role, knobs=cfg.knobs(), workload=workload)
    if same and launch.status == "ok":  # type: ignore[union-attr]
        n = _counted(store, leg_id)
        if n >= reps:
            return LegResult(leg_id, "ok", None, n, None)
    if same and launch.status == "failed" and not (launch.failure_reason or "").startswith(UNFINISHED):  # type: ignore[union-attr]
        return LegResult(leg_id, "failed", launch.failure_reason, _counted(store, leg_id), None)  # type: ignore[union-attr]
    on_seal(set_aside(store, leg_id))
    return None


def set_aside(store: RunStore, leg_id: str) -> Head | None:
    """Move a leg's directory to ``abandoned/`` (kept, never deleted) so it is measured again, and
    say so in the ledger (its earlier seal is history, not a leg replaced after it closed)."""
    d = store.path(leg_dir(leg_id))
    if not d.exists():
        return None
    rel = f"abandoned/{leg_id}-{int(time.time())}"
    dest = store.path(rel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(d), str(dest))
    return ledger_set_aside(store, leg_id, rel)


MAX_REPLAY_COPY_BYTES = 8 << 30  # a recorded leg is megabytes; past this the recording is not one


def copy_recorded(src: Path, dest: Path, ignore: Any = None) -> None:
    """Replay: a recorded directory copied byte for byte, once (a resumed replay keeps its copy).
    Only regular files and folders: a link (whose target may lie outside the recording, or be a
    device) or a FIFO in a recording is refused by name, nothing is read through it, and the bytes
    copied are bounded. Raises ValueError; the replay then stops and removes what it wrote."""
    if dest.exists():
        return
    if src.is_symlink() or not src.is_dir():
        raise ValueError(
            f"the recording's {src.name} is {'a link' if src.is_symlink() else 'not a directory'}: replay copies nothing through it"
        )
    todo: list[tuple[Path, Path]] = []
    total = 0
    for root, dirs, files in os.walk(src, followlinks=False):
        here = Path(root)
        skip = set(ignore(root, dirs + files)) if ignore is not None else set()
        dirs[:] = [d for d in dirs if d not in skip]
        for name in dirs + [f for f in files if f not in skip]:
            p = here / name
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode) or not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                kind = "a link" if stat.S_ISLNK(st.st_mode) else "not a regular file (a FIFO or a device)"
                raise ValueError(f"the recording's {p} is {kind}: replay copies nothing through links or special files")
            total += st.st_size if stat.S_ISREG(st.st_mode) else 0
            todo.append((p, dest / p.relative_to(src)))
        if total > MAX_REPLAY_COPY_BYTES:
            raise ValueError(
                f"the recording's {src} holds more than {MAX_REPLAY_COPY_BYTES >> 30} GiB: not a recorded leg"
            )
    tmp = dest.with_name(dest.name + ".copying")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for a, b in todo:
        b = tmp / b.relative_to(dest)
        if a.is_dir():
            b.mkdir(parents=True, exist_ok=True)
            continue
        b.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(a, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh, open(b, "wb") as out:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # swapped since it was looked at
                raise ValueError(f"the recording's {a} is not a regular file: replay copies nothing through it")
            shutil.copyfileobj(fh, out)
    os.replace(tmp, dest)


class LegRunner(Protocol):
    """``hooks``: run_leg's kernel-leg extras (topk, probe, plugin, engagement_markers); a
    recorded leg already holds what they produced, so replay ignores them. ``batch``: legs
    the workflow says are independent, each on the device set its cfg names (scheduler.assign);
    the results in the jobs' order."""

    def __call__(
        self,
        store: RunStore,
        *,
        leg_id: str,
        role: str,
        cfg: LaunchConfig,
        workload: WorkloadSpec,
        reps: int,
        parity: list[Prompt] | None = None,
        accuracy: list[Prompt] | QuestionSet | None = None,
        **hooks: Any,
    ) -> LegResult: ...

    def batch(self, store: RunStore, jobs: list[LegJob], node: str = "") -> list[LegResult]: ...


class _SealWatch:
    """The ledger's newest head as this process sealed it (each leg's result, each set-aside):
    held here, out of the files' reach, so a live gate can tell a rewrite of files and ledger
    together (auditor/checks/seal.py)."""

    sealed: Head | None = None

    def _saw(self, head: Head | None) -> None:
        if head is not None:
            self.sealed = max(head, self.sealed) if self.sealed else head

    def _keep(self, results: list[LegResult]) -> list[LegResult]:
        for r in results:
            self._saw(r.sealed)
        return results


# Server reuse (agents/engines/pool.py): a leg of these roles may measure on a server the last
# leg of the same launch on its set left up; these roles leave theirs up. A/A legs keep theirs
# (the baseline after them reuses one) but never reuse (the band needs launch-to-launch
# variance); candidates and validation legs neither (a candidate served warm is a cached result;
# the bundle's A B A B alternates launches anyway).
REUSE_ROLES = frozenset({"baseline", "reference"})
KEEP_ROLES = frozenset({"aa", "baseline", "reference"})


class LiveLegs(_SealWatch):
    """Measure each leg on the real engine (agents/engines/leg.run_leg); a batch through the
    scheduler (default: local threads, one per device set). ``reuse``: server reuse on (above)."""

    def __init__(self, engine: str, scheduler: Scheduler | None = None, reuse: bool = True, **leg_kw: Any):
        self.engine = engine
        self.leg_kw = leg_kw
        self.scheduler = scheduler or LocalScheduler()
        self.reuse = reuse
        self.measured: list[str] = []
        self.sealed: Head | None = None

    def _reuse_kw(self, role: str, in_process: bool = True) -> dict[str, bool]:
        # a Ray task's process is not the driver's: a server kept there would hold its set's
        # lock where no later leg of the run can take it back
        on = self.reuse and in_process
        return {"reuse": on and role in REUSE_ROLES, "keep": on and role in KEEP_ROLES}

    def one(self, store: RunStore, job: LegJob) -> LegResult:
        """A batch's leg (in a thread or a Ray task): measured, never looked up (batch did that).
        A paired design's leg (``own_server``) neither reuses nor keeps a server."""
        reuse = self._reuse_kw(job.role, isinstance(self.scheduler, LocalScheduler) and not job.own_server)
        return run_leg(store, self.engine, *leg_parts(job.leg_id, job.role, job.cfg, **job.kw, **self.leg_kw, **reuse))

    def batch(self, store: RunStore, jobs: list[LegJob], node: str = "") -> list[LegResult]:
        done = {
            j.leg_id: existing(
                store, j.leg_id, role=j.role, cfg=j.cfg, workload=j.kw["workload"], reps=j.kw["reps"], on_seal=self._saw
            )
            for j in jobs
        }
        paired = any(j.kw.get("rep_barrier") is not None for j in jobs)
        if paired and any(v is None for v in done.values()):
            # a period cut short (a crash, Ctrl-C) left one half: it has no partner to pair with
            # now, so the whole period is measured again and the half kept under abandoned/
            for j in jobs:
                if done[j.leg_id] is not None:
                    self._saw(set_aside(store, j.leg_id))
            done = {j.leg_id: None for j in jobs}
        todo = [j for j in jobs if done[j.leg_id] is None]
        self.measured += [j.leg_id for j in todo]
        # legs that meet per rep run on this host's threads: the barrier is a folder in the run
        # dir, and the pairing needs one host clock
        sched = LocalScheduler() if paired else self.scheduler
        if todo and not isinstance(sched, LocalScheduler):
            # a Ray task's lock request cannot reach this process's pool: a server kept here
            # would hold the set the task waits for
            POOL.close()
        got = dict(zip([j.leg_id for j in todo], self._keep(sched.run(store, todo, self.one, node=node))))
        return [done[j.leg_id] or got[j.leg_id] for j in jobs]

    def __call__(
        self,
        store: RunStore,
        *,
        leg_id: str,
        role: str,
        cfg: LaunchConfig,
        workload: WorkloadSpec,
        reps: int,
        parity: list[Prompt] | None = None,
        accuracy: list[Prompt] | QuestionSet | None = None,
        **hooks: Any,
    ) -> LegResult:
        prev = existing(store, leg_id, role=role, cfg=cfg, workload=workload, reps=reps, on_seal=self._saw)
        if prev is not None:
            return prev
        self.measured.append(leg_id)
        parts = leg_parts(
            leg_id,
            role,
            cfg,
            workload=workload,
            reps=reps,
            parity=parity,
            accuracy=accuracy,
            **hooks,
            **self.leg_kw,
            **self._reuse_kw(role),
        )
        return self._keep([run_leg(store, self.engine, *parts)])[0]


class RecordedLegs(_SealWatch):
    """Serve legs from a recorded run directory, byte for byte, with no engine.

    The requested leg must match the recorded one (role, launch knobs, workload); anything
    else is a LegReplayMiss naming the difference, never a silent substitution.
    """

    def __init__(self, source: str | Path, not_recorded: bool = False):
        """``not_recorded``: a what-if replay (a changed policy, workflow or skill): a leg the
        recording lacks is answered with status "not_recorded" (nothing written) so that branch
        ends with a named outcome, instead of a LegReplayMiss."""
        self.source = RunStore(source)
        if not self.source.path(LEGS).is_dir():
            raise ValueError(f"{source}: no legs/ directory to replay from")
        self.served: list[str] = []
        self.not_recorded = not_recorded
        self.missed: list[tuple[str, str]] = []
        self.source_ledger = read_ledger(self.source)
        self.sealed: Head | None = None  # the replay's own ledger, sealed as each recorded leg is copied

    def batch(self, store: RunStore, jobs: list[LegJob], node: str = "") -> list[LegResult]:
        """A recorded batch is served leg by leg: the bytes are the same whatever ran at once."""
        return [self(store, leg_id=j.leg_id, role=j.role, cfg=j.cfg, **j.kw) for j in jobs]

    def _miss(self, leg_id: str, why: str) -> LegResult:
        if not self.not_recorded:
            raise LegReplayMiss(why)
        self.missed.append((leg_id, why))
        return LegResult(leg_id, NOT_RECORDED, why, 0, None)

    def __call__(
        self,
        store: RunStore,
        *,
        leg_id: str,
        role: str,
        cfg: LaunchConfig,
        workload: WorkloadSpec,
        reps: int,
        parity: list[Prompt] | None = None,
        accuracy: list[Prompt] | QuestionSet | None = None,
        **hooks: Any,
    ) -> LegResult:
        prev = existing(store, leg_id, role=role, cfg=cfg, workload=workload, reps=reps, on_seal=self._saw)
        if prev is not None:
            return prev
        launch, probs = self.source.read_json(leg_file(leg_id, LAUNCH), LegLaunch)
        if launch is None:
            return self._miss(
                leg_id,
                f"{self.source.root}: no recorded leg {leg_id!r} ({probs[0] if probs else 'absent'}); "
                "the replayed workflow asked for a leg the recorded run never measured",
            )
        why = _same_leg(launch, role=role, knobs=cfg.knobs(), workload=workload)
        want, had = hooks.get("plugin"), launch.kernel_plugin
        if (want is None) != (had is None) or (
            want is not None and had is not None and want.candidate_sha256 != had.candidate_sha256
        ):
            # the knobs cannot tell two kernel candidates apart: the packaged source can
            why.append(
                f"kernel plugin differs (recorded {had and had.candidate_sha256}, requested {want and want.candidate_sha256})"
            )
        if why:
            return self._miss(
                leg_id, f"{self.source.root}/legs/{leg_id}: recorded leg differs from the request: {'; '.join(why)}"
            )
        unsealed = self._unsealed(leg_id, launch)
        if unsealed:
            # re-sealing a recording's tampered bytes would launder them into a clean replay
            raise LegReplayMiss(
                f"{self.source.root}/legs/{leg_id}: the recording does not hold what was sealed when it was "
                f"measured: {unsealed}; replay refuses it (geak audit {self.source.root} names every file)"
            )
        copy_recorded(self.source.path(leg_dir(leg_id)), store.path(leg_dir(leg_id)))
        self.served.append(leg_id)
        # the copy is sealed as the recording sealed it; a recording from before sealing replays as one
        latest = self.source_ledger.latest(leg_id) if self.source_ledger.present else None
        head = (
            reseal(store, latest[1])
            if latest is not None
            else seal(store, leg_id)
            if self.source_ledger.present
            else None
        )
        return self._keep(
            [LegResult(leg_id, launch.status, launch.failure_reason, _counted(store, leg_id), None, head)]
        )[0]

    def _unsealed(self, leg_id: str, launch: LegLaunch) -> str | None:
        view = self.source_ledger
        if not view.present:
            return (
                (
                    f"its launch.json plans {launch.reps_planned.counted} counted reps, so a ledger sealed it, and "
                    f"{LEDGER} is missing"
                )
                if launch.reps_planned is not None
                else None
            )
        probs = view.problems + check_leg(self.source, view, leg_id)
        return "; ".join(str(p) for p in probs[:2]) if probs else None
