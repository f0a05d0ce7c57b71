"""A leg's benchmark repetitions (split from leg.py): the engine's own client, pinned where the
leg's pin plan says, each rep's output kept verbatim and normalized the moment it exists."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from geak.auditor.evidence.layout import BENCH_LOG, BENCH_RUNS, leg_dir
from geak.auditor.evidence.models import WorkloadSpec
from geak.auditor.evidence.store import RunStore

from .base import EngineAdapter, LaunchConfig
from .leg_server import log_tail
from .process import LaunchError, ServerProcess
from .rep_barrier import RepBarrier


def client_command(argv: list[str], cfg: LaunchConfig) -> list[str]:
    """The benchmark client's argv, pinned where the leg's pin plan says."""
    pin = cfg.pin_plan()
    return (["taskset", "-c", pin[1]] + argv) if pin and shutil.which("taskset") else argv


@dataclass(frozen=True)
class BenchClient:
    """The engine's own benchmark client as a leg runs it."""

    ad: EngineAdapter
    python: str
    base_url: str
    model: str
    workload: WorkloadSpec
    env: dict[str, str]
    timeout_s: float
    cfg: LaunchConfig


def run_reps(
    store: RunStore,
    client: BenchClient,
    leg_id: str,
    plan: list[bool],
    server: ServerProcess,
    barrier: RepBarrier | None = None,
) -> Iterator[tuple[int, bool]]:
    """Run the repetitions with the engine's own client; yield (index, warm-up?) per recorded rep.

    One client process for all reps when the adapter supports it (the server stays hot), else
    one per rep. Each rep's output is kept verbatim in raw/ and normalized into bench_runs.jsonl
    as soon as it exists, so a failure part-way keeps what was measured.
    """
    ad, d = client.ad, leg_dir(leg_id)
    raw_dir = store.path(f"{d}/raw")
    raw_dir.mkdir(parents=True, exist_ok=True)
    files = [f"rep_{i}.json" for i in range(len(plan))]
    kw: dict[str, Any] = dict(
        python=client.python,
        base_url=client.base_url,
        model=client.model,
        workload=client.workload,
        result_dir=str(raw_dir),
    )
    multi = ad.bench_argv_multi(result_files=files, **kw)
    if multi and barrier is not None:
        multi += ["--geak-rep-barrier", barrier.spec]  # the client meets its partner before each rep
    batches = (
        [(multi, list(range(len(plan))))]
        if multi
        else [(ad.bench_argv(result_file=f, **kw), [i]) for i, f in enumerate(files)]
    )
    batches = [(client_command(argv, client.cfg), idxs) for argv, idxs in batches]
    for argv, idxs in batches:
        if barrier is not None and not multi:
            barrier.meet(idxs[0], token=leg_id)  # one client per rep: meet here, right before it starts
        log = store.path(f"{d}/{BENCH_LOG}")
        with open(log, "ab") as f:
            try:
                r = subprocess.run(
                    argv,
                    stdout=f,
                    stderr=subprocess.STDOUT,
                    env=client.env,
                    timeout=client.timeout_s * len(idxs),
                    start_new_session=True,
                )
                code: int | None = r.returncode
            except subprocess.TimeoutExpired:
                code = None
        for i in idxs:
            raw_path = raw_dir / files[i]
            if not raw_path.exists():
                break
            raw = json.loads(raw_path.read_text())
            store.append_jsonl(
                f"{d}/{BENCH_RUNS}",
                ad.normalize_bench(raw, leg_id=leg_id, rep_index=i, warmup=plan[i], raw_file=f"raw/{files[i]}"),
            )
            yield i, plan[i]
        if not server.alive():
            raise LaunchError(
                f"server died during the benchmark (after {len(list(raw_dir.glob('rep_*.json')))} recorded repetition(s))",
                server.fatal_line() or log_tail(server.log_text()),
            )
        if code != 0:
            why = "timed out" if code is None else f"exited {code}"
            raise LaunchError(f"benchmark client {why}", log_tail(log.read_text(errors="replace")))
