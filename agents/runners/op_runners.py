"""Where the kernel track's evidence comes from: profile rounds and op harness records, from the
live engine and harness, or byte for byte from a recorded run (replay). The legs' runners are
in legs.py; both kinds share its copy of a recorded directory and its LegReplayMiss."""

from __future__ import annotations

import shutil
from pathlib import Path

from geak.agents.engines.base import LaunchConfig
from geak.auditor.evidence.layout import (
    OPBENCH,
    OP_ATTEMPTS,
    ROUTING,
    TRACE,
    op_dir,
    op_file,
    profile_dir,
    profile_file,
)
from geak.auditor.evidence.models import WorkloadSpec
from geak.auditor.evidence.store import RunStore

from .legs import LegReplayMiss, copy_recorded


# ---------------------------------------------------------------- profile rounds


class LiveProfiles:
    """Capture a profile round on the real engine (agents/engines/profile.capture_profile)."""

    def __init__(self, engine: str):
        self.engine = engine

    def __call__(
        self,
        store: RunStore,
        *,
        round_id: str,
        cfg: LaunchConfig,
        workload: WorkloadSpec,
        num_requests: int | None = None,
    ) -> tuple[str, str | None]:
        from geak.agents.engines.profile import PROFILE_REQUESTS, capture_profile

        if store.path(profile_file(round_id, TRACE)).exists():
            return "ok", None  # resume: a captured round is kept, never captured twice
        res = capture_profile(
            store,
            round_id=round_id,
            engine=self.engine,
            cfg=cfg,
            workload=workload,
            num_requests=num_requests or PROFILE_REQUESTS,
        )
        return res.status, res.reason


class RecordedProfiles:
    """Serve a profile round from a recorded run, byte for byte."""

    def __init__(self, source: str | Path):
        self.source = RunStore(source)

    def __call__(
        self,
        store: RunStore,
        *,
        round_id: str,
        cfg: LaunchConfig,
        workload: WorkloadSpec,
        num_requests: int | None = None,
    ) -> tuple[str, str | None]:
        src = self.source.path(profile_dir(round_id))
        if not (src / TRACE).exists():
            raise LegReplayMiss(f"{self.source.root}: no recorded profile round {round_id!r} with a trace")
        # the routing claim is the producer's, re-made by the replayed graph; only the evidence is copied
        copy_recorded(src, store.path(profile_dir(round_id)), ignore=shutil.ignore_patterns(ROUTING))
        return "ok", None


# ---------------------------------------------------------------- op harness records


class LiveHarness:
    """Run a candidate through the op harness (a subprocess with a timeout, confined to the run dir)."""

    def __call__(
        self,
        store: RunStore,
        *,
        op: str,
        candidate: str,
        device: str,
        profile: str,
        timeout_s: float = 300.0,
        tokens: list[int] | None = None,
        serving_mode: str = "compiled",
        devices: str | None = None,
        extra: list[str] | None = None,
    ) -> str:
        """``tokens``: the token counts the profile saw the op served with (else the model profile's);
        ``serving_mode``: how the run's engine runs the op (the baseline the harness times);
        ``devices``: the device set it holds (locked like a leg's; a GPU set is its CUDA_VISIBLE_DEVICES,
        a core set pins it), so harness runs on disjoint sets can go through the scheduler at once."""
        import contextlib
        import os
        import subprocess
        import sys

        from geak.agents.engines.base import LaunchConfig, device_env
        from geak.agents.engines.leg_reps import client_command
        from geak.agents.engines.lock import DeviceLock

        if store.path(op_file(op, OPBENCH)).exists():
            return "ok"  # resume: a measured op is kept
        argv = [
            sys.executable,
            "-m",
            "geak.agents.kernels.harness",
            "--op",
            op,
            "--candidate",
            candidate,
            "--device",
            device,
            "--out",
            str(store.root),
            "--profile",
            profile,
            "--timeout-s",
            str(timeout_s),
            "--serving-mode",
            serving_mode,
        ]
        if tokens:
            argv += ["--tokens", ",".join(str(t) for t in tokens)]
        argv += list(extra or [])  # more harness flags (bench/harness_parallel.py: timing budget)
        env = None
        if devices is not None:
            ds = LaunchConfig(model=op, devices=devices)
            env = {**os.environ, **device_env(ds)}
            argv = (
                client_command(argv, ds) if ds.device_set().ids else argv
            )  # a core set pins it; a GPU set has no pin plan
        # the harness supervises its own worker's timeout; this outer bound only guards the supervisor
        with DeviceLock(devices, timeout_s=timeout_s) if devices is not None else contextlib.nullcontext():
            subprocess.run(
                argv,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout_s + 120,
                start_new_session=True,
                env=env,
            )
        return "ok" if store.path(op_file(op, OPBENCH)).exists() else "failed"


class RecordedHarness:
    """Serve the op harness record of the requested candidate from a recorded run. With several
    attempts (a kernel author's retries) the earlier ones are under ops/_attempts/; the record
    is picked by its candidate, compared run-relative (the run directory differs in replay)."""

    def __init__(self, source: str | Path):
        self.source = RunStore(source)

    def __call__(
        self,
        store: RunStore,
        *,
        op: str,
        candidate: str,
        device: str,
        profile: str,
        timeout_s: float = 300.0,
        tokens: list[int] | None = None,
        serving_mode: str = "compiled",
        devices: str | None = None,
    ) -> str:
        dirs = [self.source.path(op_dir(op))] + sorted(self.source.path(OP_ATTEMPTS).glob(f"{op}-*"))
        want = _run_relative(candidate, store.root)
        for src in dirs:
            got = recorded_candidate(src)
            if got is not None and _run_relative(got, self.source.root) == want:
                copy_recorded(src, store.path(op_dir(op)))
                return "ok"
        raise LegReplayMiss(f"{self.source.root}: no recorded op harness record for {op!r} with candidate {want!r}")


def recorded_candidate(op_dir: Path) -> str | None:
    """The ``candidate`` an op directory's opbench.json names; None when there is no readable record."""
    import json

    try:
        got = json.loads((op_dir / OPBENCH).read_text()).get("candidate")
        return got if isinstance(got, str) else None
    except (OSError, ValueError):
        return None


def _run_relative(candidate: str, root: Path) -> str:
    for r in {str(root), str(Path(root).resolve())}:
        if candidate.startswith(r + "/"):
            return candidate[len(r) + 1 :]
    return candidate
