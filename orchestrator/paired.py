"""Paired A/B designs (issue 18): the reference and the candidate measured so that drift cancels.

``crossover`` (two device sets): the two servers run at the same time, one per set, and their
benchmark clients start every repetition together (agents/engines/rep_barrier.py), so each
pair of repetitions sees the same moment of the host. Then the sets swap (period 2), so a
set that is faster than the other favours each side once. Four legs: ``<gate>_a_p1`` on set 0
and ``<gate>_b_p1`` on set 1, then ``<gate>_a_p2`` on set 1 and ``<gate>_b_p2`` on set 0.

``abba`` (one device set): short legs one after another in A B B A A B ... order, each its
own server lifetime, so a linear drift lands on both sides equally. A pair is two adjacent legs.

This module only runs legs and names them; which legs form a pair is the auditor's to
re-derive from the benchmark tool's timestamps and the engine's own log (auditor/paired.py),
never from these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.leg import LegResult
from geak.agents.engines.rep_barrier import RepBarrier
from geak.auditor.evidence.store import RunStore

from .scheduler import LegJob, LocalScheduler

Design = Literal["crossover", "abba"]
RunOne = Callable[[RunStore, LegJob], LegResult]


@dataclass
class PairedLegs:
    design: Design
    a_legs: list[str]
    b_legs: list[str]
    results: dict[str, LegResult]

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.results.values())


def crossover_jobs(gate: str, a: LaunchConfig, b: LaunchConfig, sets: tuple[str, str], roles: tuple[str, str],
                   kw: dict[str, Any], barrier_root: Path, periods: int = 2) -> list[list[LegJob]]:
    """One batch per period: the A and B legs of that period, on swapped sets each period."""
    out = []
    for p in range(1, periods + 1):
        sa, sb = (sets[0], sets[1]) if p % 2 else (sets[1], sets[0])
        bar = RepBarrier(barrier_root / f"{gate}_p{p}")
        out.append([LegJob(f"{gate}_a_p{p}", roles[0], a.model_copy(update={"devices": sa}), {**kw, "rep_barrier": bar}),
                    LegJob(f"{gate}_b_p{p}", roles[1], b.model_copy(update={"devices": sb}), {**kw, "rep_barrier": bar})])
    return out


def abba_order(n_pairs: int) -> list[str]:
    """"ab", "ba", "ab", ...: each pair's order, alternating so a linear drift cancels."""
    return ["ab" if k % 2 == 0 else "ba" for k in range(n_pairs)]


def run_crossover(store: RunStore, one: RunOne, *, gate: str, a: LaunchConfig, b: LaunchConfig, sets: tuple[str, str],
                  roles: tuple[str, str] = ("reference", "candidate"), periods: int = 2, **kw: Any) -> PairedLegs:
    """Both periods of a 2x2 crossover; a period whose leg failed ends the design (the auditor
    would have no pair from it)."""
    if sets[0] == sets[1]:
        raise ValueError(f"a crossover needs two disjoint device sets, got {sets[0]!r} twice; with one set use the abba design")
    results: dict[str, LegResult] = {}
    sched = LocalScheduler()
    for jobs in crossover_jobs(gate, a, b, sets, roles, kw, store.path("pairs"), periods):
        for j in jobs:
            j.kw["rep_barrier"].prepare()
        for j, r in zip(jobs, sched.run(store, jobs, one, node=f"crossover {gate}")):
            results[j.leg_id] = r
        if any(r.status != "ok" for r in results.values()):
            break
    a_legs = [i for i in results if "_a_p" in i]
    return PairedLegs("crossover", a_legs, [i for i in results if i not in a_legs], results)


def run_abba(store: RunStore, one: RunOne, *, gate: str, a: LaunchConfig, b: LaunchConfig, n_pairs: int,
             roles: tuple[str, str] = ("reference", "candidate"), **kw: Any) -> PairedLegs:
    """``n_pairs`` pairs of short legs on one set, in alternating order."""
    results: dict[str, LegResult] = {}
    a_legs: list[str] = []
    b_legs: list[str] = []
    for k, order in enumerate(abba_order(n_pairs), start=1):
        for side in order:
            leg_id = f"{gate}_{side}{k}"
            cfg, role = (a, roles[0]) if side == "a" else (b, roles[1])
            r = one(store, LegJob(leg_id, role, cfg, dict(kw)))
            results[leg_id] = r
            (a_legs if side == "a" else b_legs).append(leg_id)
            if r.status != "ok":
                return PairedLegs("abba", a_legs, b_legs, results)
    return PairedLegs("abba", a_legs, b_legs, results)
