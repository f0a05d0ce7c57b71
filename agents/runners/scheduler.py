"""The leg scheduler: independent legs at once on disjoint device sets, on this box or as Ray tasks.

Which legs are independent is the workflow's call (the A/A legs, one screening rung); which set
each leg runs on is ``assign`` (pure, by the leg's position, so a resumed run gives a leg the set
it had). A scheduler only runs a batch: every set's legs in order, the sets at once. The run
directory stays the one source of truth: every leg writes its own directory as a serial leg does,
a finished leg is reused on resume (agents/runners/legs.existing), and each batch is appended to
``scheduler/batches.jsonl`` (what ran at once: a claim; the auditor re-derives overlap from the
legs' own times). Ctrl-C tears every server of the batch down before it propagates.

Modes (one registry): ``local`` runs each set's legs on a thread (a leg is a supervisor of
subprocesses, so threads suffice); ``ray`` submits each leg as a Ray task that needs one unit of
the custom resource ``geak_set:<set>`` (declare it where the devices are: ``ray start
--resources '{"geak_set:cuda:0,1": 1}'``), so Ray places it on a node holding that set.
"""

from __future__ import annotations

import io
import os
import socket
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol
from collections.abc import Callable

from pydantic import BaseModel, Field

from geak.auditor.evidence.store import RunStore

from geak.agents.engines import inflight
from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.leg import LegResult
from geak.agents.engines.process import cancel_all, reset_cancel
from geak.auditor.evidence.layout import LEGS, leg_dir

RESOURCE = "geak_set:"


@dataclass
class LegJob:
    """One leg of a batch: what the leg runner is called with (cfg.devices already its set)."""

    leg_id: str
    role: str
    cfg: LaunchConfig
    kw: dict[str, Any] = field(default_factory=dict)  # workload, reps, parity, accuracy
    # a paired design's leg: it starts its own server and keeps none, so no half of a pair is
    # served warm by a server an earlier leg left up
    own_server: bool = False


class LegBatch(BaseModel):
    """scheduler/batches.jsonl: one batch of legs dispatched at once."""

    schema_version: int = 1
    kind: Literal["leg_batch"] = "leg_batch"
    mode: str
    node: str = Field(description="the workflow step that dispatched it")
    legs: dict[str, str] = Field(description="leg id -> device set")
    started_at: float
    ended_at: float | None = None
    cancelled: bool = False


def assign(n: int, sets: list[str], offset: int = 0) -> list[str]:
    """The device set of each of ``n`` legs: round robin from position ``offset`` (a leg's index
    among its kind in the run, so the assignment survives a resume that skips finished legs)."""
    if not sets:
        raise ValueError("no device set to run legs on")
    return [sets[(offset + i) % len(sets)] for i in range(n)]


def by_set(jobs: list[LegJob]) -> dict[str, list[LegJob]]:
    out: dict[str, list[LegJob]] = {}
    for j in jobs:
        out.setdefault(j.cfg.devices, []).append(j)
    return out


RunOne = Callable[[RunStore, LegJob], LegResult]


class Scheduler(Protocol):
    mode: str

    def run(self, store: RunStore, jobs: list[LegJob], one: RunOne, node: str = "") -> list[LegResult]: ...


def _record(store: RunStore, b: LegBatch) -> None:
    store.append_jsonl("scheduler/batches.jsonl", b)


class LocalScheduler:
    """Each device set's legs in order on its own thread; the sets at once."""

    mode = "local"

    def run(self, store: RunStore, jobs: list[LegJob], one: RunOne, node: str = "") -> list[LegResult]:
        if not jobs:
            return []
        groups = by_set(jobs)
        if len(groups) == 1:  # nothing runs at once: no thread, no batch record (a serial run is unchanged)
            return [one(store, j) for j in jobs]
        reset_cancel()
        batch = LegBatch(
            mode=self.mode, node=node, legs={j.leg_id: j.cfg.devices for j in jobs}, started_at=time.time()
        )
        results: dict[str, LegResult] = {}
        errors: list[BaseException] = []

        done = {dev: threading.Event() for dev in groups}

        def worker(dev: str, queue: list[LegJob]) -> None:
            try:
                for j in queue:
                    try:
                        results[j.leg_id] = one(store, j)
                    except BaseException as e:  # re-raised in the caller's thread, after the others finish
                        errors.append(e)
                        return
            finally:
                done[dev].set()

        threads = [
            threading.Thread(target=worker, args=(dev, q), name=f"leg-set-{dev}", daemon=True)
            for dev, q in groups.items()
        ]
        for t in threads:
            t.start()
        try:
            # wait on events, not Thread.join: a KeyboardInterrupt inside join() can leave that thread
            # looking finished (CPython), and the teardown below must really wait for every leg
            while not all(e.is_set() for e in done.values()):
                time.sleep(0.2)
        except KeyboardInterrupt:
            batch.cancelled = True
            cancel_all()  # every live server down; the threads' legs fail and return
            for e in done.values():
                e.wait(30)
            raise
        finally:
            batch.ended_at = time.time()
            _record(store, batch)
        if errors:
            raise errors[0]
        return [results[j.leg_id] for j in jobs]


# ---------------------------------------------------------------- Ray


class _OnCores:
    """The task's own thread (and the threads it starts: the probes' pool) on the leg's core set
    while the leg runs, its affinity restored after: a Ray worker is a process of its own that
    drives the leg (HTTP probes, polling), and unpinned it lands on a sibling leg's core, where that
    leg's fingerprint rightly books it as load (seen in CI: 0.61 of a core on a one-core sibling).
    A pooled worker runs later tasks too, hence the restore. Not a core set (cpu, a GPU set): no-op."""

    def __init__(self, cfg: LaunchConfig):
        ds = cfg.device_set()
        self.cores = set(ds.ids) if ds.kind == "cpu" and ds.ids and hasattr(os, "sched_setaffinity") else None
        self.before: set[int] | None = None

    def __enter__(self) -> _OnCores:
        if self.cores:
            self.before = set(os.sched_getaffinity(0))
            os.sched_setaffinity(0, self.cores & self.before or self.cores)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.before is not None:
            os.sched_setaffinity(0, self.before)


def _ray_leg(
    run_root: str, driver_host: str, job: LegJob, one: RunOne, ship: bool | None
) -> tuple[LegResult, bytes | None]:
    """A Ray task: the leg, written into the run directory when this node shares it (same host),
    else into a node-local scratch copy whose leg directory is shipped back as a tar."""
    with _OnCores(job.cfg):
        return _ray_leg_here(run_root, driver_host, job, one, ship)


def _ray_leg_here(
    run_root: str, driver_host: str, job: LegJob, one: RunOne, ship: bool | None
) -> tuple[LegResult, bytes | None]:
    local = (socket.gethostname() == driver_host) if ship is None else not ship
    if local:
        return one(RunStore(run_root), job), None
    import tempfile

    scratch = Path(tempfile.gettempdir()) / "geak-ray" / Path(run_root).name
    store = RunStore(scratch)
    res = one(store, job)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(store.path(leg_dir(job.leg_id)), arcname=job.leg_id)
    return res, buf.getvalue()


def unpack_leg(store: RunStore, leg_id: str, blob: bytes) -> None:
    """A shipped leg directory into legs/<leg_id>: regular files and folders only, confined."""
    dest = store.path(LEGS)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tf:
        members = [
            m
            for m in tf.getmembers()
            if (m.isfile() or m.isdir()) and (m.name == leg_id or m.name.startswith(leg_id + "/"))
        ]
        tf.extractall(dest, members=members, filter="data")


class RayScheduler:
    """Each leg a Ray task needing one ``geak_set:<set>`` unit; Ray queues legs of one set."""

    mode = "ray"

    def __init__(
        self,
        address: str | None = None,
        ship: bool | None = None,
        init_kw: dict[str, Any] | None = None,
        sets: list[str] | None = None,
    ):
        """``address``: the cluster to join; None starts a local one on this box that declares one
        unit of ``geak_set:<set>`` for each of ``sets`` (the run's device sets)."""
        self.address = address
        self.ship = ship
        self.init_kw = dict(init_kw or {})
        if address is None and sets and "resources" not in self.init_kw:
            self.init_kw["resources"] = {RESOURCE + s: 1 for s in sets}
            self.init_kw.setdefault("include_dashboard", False)

    def _ray(self) -> Any:
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False, **self.init_kw)
        return ray

    def missing(self, sets: list[str]) -> list[str]:
        """The sets no node of the cluster declares (a leg for one would wait forever)."""
        have = self._ray().cluster_resources()
        return [s for s in sets if have.get(RESOURCE + s, 0) < 1]

    def run(self, store: RunStore, jobs: list[LegJob], one: RunOne, node: str = "") -> list[LegResult]:
        if not jobs:
            return []
        ray = self._ray()
        if lack := self.missing(sorted(by_set(jobs))):
            raise RuntimeError(
                f"no Ray node declares device set(s) {lack}: start the node with "
                f"ray start --resources '{{\"{RESOURCE}{lack[0]}\": 1}}'"
            )
        task = ray.remote(_ray_leg)
        batch = LegBatch(
            mode=self.mode, node=node, legs={j.leg_id: j.cfg.devices for j in jobs}, started_at=time.time()
        )
        refs = [
            task.options(num_cpus=0, resources={RESOURCE + j.cfg.devices: 1}, max_retries=0).remote(
                str(store.root), socket.gethostname(), j, one, self.ship
            )
            for j in jobs
        ]
        try:
            out = ray.get(refs)
        except KeyboardInterrupt:
            batch.cancelled = True
            for r in refs:
                ray.cancel(r)  # not force: the task's own teardown (ServerProcess.__exit__) runs
            _reap_registered(store)
            raise
        finally:
            batch.ended_at = time.time()
            _record(store, batch)
        results = []
        for j, (res, blob) in zip(jobs, out):
            if blob is not None:
                unpack_leg(store, j.leg_id, blob)
            results.append(res)
        return results


def _reap_registered(store: RunStore, wait_s: float = 15.0) -> None:
    """After a cancel: any server a leg of this run registered on this host and that is still
    up is killed by its process group (a task that could not tear down its own)."""
    import signal

    deadline = time.time() + wait_s
    while time.time() < deadline and inflight.entries(store):
        time.sleep(0.5)
    for s in inflight.entries(store, live_runner=False):
        try:
            os.killpg(s.pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        inflight.unregister(store, s.leg_id)


SCHEDULERS: dict[str, Callable[..., Scheduler]] = {"local": LocalScheduler, "ray": RayScheduler}


def get_scheduler(name: str, **kw: Any) -> Scheduler:
    try:
        return SCHEDULERS[name](**kw)
    except KeyError:
        raise KeyError(f"unknown scheduler {name!r}; known: {', '.join(sorted(SCHEDULERS))}") from None
