"""The paired designs' runner (agents/runners/paired.py) and the clients' meeting point
(agents/engines/rep_barrier.py), with a leg runner that only meets its partner: the real
barrier, real threads, no engine."""

from __future__ import annotations

import threading
import time

import pytest

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.leg import LegResult
from geak.agents.engines.rep_barrier import PartnerLost, RepBarrier
from geak.auditor.evidence.store import RunStore
from geak.agents.runners.paired import abba_order, crossover_jobs, local_batch, run_abba, run_crossover
from geak.orchestrator.workflow import ids

X = ids.paired_legs("g_a", "g_b", "crossover", 2)

A = LaunchConfig(model="m", max_num_seqs=24)
B = LaunchConfig(model="m", max_num_seqs=32)


def test_a_crossover_swaps_the_sets_between_its_periods(tmp_path):
    p1, p2 = crossover_jobs(X, A, B, ("cpu:0", "cpu:1"), ("reference", "candidate"), {"reps": 3}, tmp_path)
    assert [(j.leg_id, j.cfg.devices, j.cfg.max_num_seqs) for j in p1] == [
        ("g_a_p1", "cpu:0", 24),
        ("g_b_p1", "cpu:1", 32),
    ]
    assert [(j.leg_id, j.cfg.devices, j.cfg.max_num_seqs) for j in p2] == [
        ("g_a_p2", "cpu:1", 24),
        ("g_b_p2", "cpu:0", 32),
    ]
    # the two legs of a period share one barrier; the periods do not
    assert p1[0].kw["rep_barrier"] == p1[1].kw["rep_barrier"] != p2[0].kw["rep_barrier"]


def test_abba_alternates_which_side_goes_first():
    assert abba_order(4) == ["ab", "ba", "ab", "ba"]


def test_a_crossover_needs_two_sets(tmp_path):
    with pytest.raises(ValueError, match="abba"):
        run_crossover(RunStore(tmp_path), local_batch(lambda s, j: None), legs=X, a=A, b=B, sets=("cpu:0", "cpu:0"))


def _meeting_leg(arrivals: dict[str, list[float]], delay: dict[str, float], fail: set[str] = frozenset()):
    def one(store, job):
        bar: RepBarrier = job.kw["rep_barrier"]
        arrivals[job.leg_id] = []
        try:
            for rep in range(3):
                time.sleep(delay.get(job.leg_id, 0.0))
                if job.leg_id in fail:
                    bar.abort()
                    return LegResult(job.leg_id, "failed", "planted", 0, None)
                bar.meet(rep, token=job.leg_id, wait_s=10)
                arrivals[job.leg_id].append(time.monotonic())
        except PartnerLost as e:
            return LegResult(job.leg_id, "failed", str(e), 0, None)
        return LegResult(job.leg_id, "ok", None, 3, None)

    return one


def test_the_partners_start_every_repetition_together(tmp_path):
    arrivals: dict[str, list[float]] = {}
    r = run_crossover(
        RunStore(tmp_path),
        local_batch(_meeting_leg(arrivals, {"g_b_p1": 0.3, "g_a_p2": 0.2})),
        legs=X,
        a=A,
        b=B,
        sets=("cpu:0", "cpu:1"),
    )
    assert r.ok and r.a_legs == ["g_a_p1", "g_a_p2"] and r.b_legs == ["g_b_p1", "g_b_p2"]
    for p in ("p1", "p2"):
        # the faster leg waited for the slower one at each repetition
        assert all(abs(x - y) < 0.1 for x, y in zip(arrivals[f"g_a_{p}"], arrivals[f"g_b_{p}"]))


def test_a_failed_partner_ends_the_wait_and_the_design(tmp_path):
    arrivals: dict[str, list[float]] = {}
    t = time.monotonic()
    r = run_crossover(
        RunStore(tmp_path),
        local_batch(_meeting_leg(arrivals, {}, fail={"g_b_p1"})),
        legs=X,
        a=A,
        b=B,
        sets=("cpu:0", "cpu:1"),
    )
    assert time.monotonic() - t < 5  # not the 10 s wait
    assert r.results["g_a_p1"].status == "failed" and "partner leg failed" in (r.results["g_a_p1"].reason or "")
    assert "g_a_p2" not in r.results  # period 2 never started


def test_the_barrier_gives_up_on_a_partner_that_never_comes(tmp_path):
    bar = RepBarrier(tmp_path / "b").prepare()
    with pytest.raises(PartnerLost, match="did not arrive"):
        bar.meet(0, token="alone", wait_s=0.2)


def test_abba_runs_pairs_in_alternating_order_and_stops_at_a_failure(tmp_path):
    seen: list[str] = []
    lock = threading.Lock()

    def one(store, job):
        with lock:
            seen.append(job.leg_id)
        return LegResult(job.leg_id, "failed" if job.leg_id == "g_a_3" else "ok", None, 1, None)

    r = run_abba(RunStore(tmp_path), local_batch(one), legs=ids.paired_legs("g_a", "g_b", "abba", 4), a=A, b=B)
    assert seen == ["g_a_1", "g_b_1", "g_b_2", "g_a_2", "g_a_3"]
    assert not r.ok and r.a_legs == ["g_a_1", "g_a_2", "g_a_3"] and r.b_legs == ["g_b_1", "g_b_2"]
