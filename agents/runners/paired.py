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
from typing import Any, Literal
from collections.abc import Callable

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.leg import LegResult
from geak.agents.engines.rep_barrier import RepBarrier
from geak.auditor.evidence.store import RunStore

from .scheduler import LegJob, LocalScheduler

Design = Literal["crossover", "abba"]
RunOne = Callable[[RunStore, LegJob], LegResult]
# a leg runner's batch (agents/runners/legs.LegRunner.batch): resumes legs already on disk, and
# runs legs that meet at a barrier on local threads
Batch = Callable[[RunStore, list[LegJob], str], list[LegResult]]
Ids = tuple[list[str], list[str]]


def local_batch(one: RunOne) -> Batch:
    """A batch that runs ``one`` on local threads, one per device set (benchmarks, tests)."""
    sched = LocalScheduler()

    def batch(store: RunStore, jobs: list[LegJob], node: str = "") -> Any:
        return sched.run(store, jobs, one, node=node)

    return batch


@dataclass
class PairedLegs:
    design: Design
    a_legs: list[str]
    b_legs: list[str]
    results: dict[str, LegResult]

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.results.values())


def crossover_jobs(
    legs: Ids,
    a: LaunchConfig,
    b: LaunchConfig,
    sets: tuple[str, str],
    roles: tuple[str, str],
    kw: dict[str, Any],
    barrier_root: Path,
) -> list[list[LegJob]]:
    """One batch per period (``legs``: the A and B leg ids, one per period, as workflow/ids.py
    names them): the A and B legs of that period, on sets swapped every period, meeting at the
    period's barrier (``<barrier_root>/<A leg id>/``)."""
    out = []
    for p, (ia, ib) in enumerate(zip(*legs), start=1):
        sa, sb = (sets[0], sets[1]) if p % 2 else (sets[1], sets[0])
        bar = RepBarrier(barrier_root / ia)
        out.append(
            [
                LegJob(ia, roles[0], a.model_copy(update={"devices": sa}), {**kw, "rep_barrier": bar}, own_server=True),
                LegJob(ib, roles[1], b.model_copy(update={"devices": sb}), {**kw, "rep_barrier": bar}, own_server=True),
            ]
        )
    return out


def abba_order(n_pairs: int) -> list[str]:
    """ "ab", "ba", "ab", ...: each pair's order, alternating so a linear drift cancels."""
    return ["ab" if k % 2 == 0 else "ba" for k in range(n_pairs)]


def abba_sequence(legs: Ids) -> list[tuple[str, int]]:
    """The A B B A design's legs in run order, as (leg id, side: 0 = A, 1 = B)."""
    return [
        (pair[0] if side == "a" else pair[1], 0 if side == "a" else 1)
        for pair, order in zip(zip(*legs), abba_order(len(legs[0])))
        for side in order
    ]


def run_crossover(
    store: RunStore,
    batch: Batch,
    *,
    legs: Ids,
    a: LaunchConfig,
    b: LaunchConfig,
    sets: tuple[str, str],
    roles: tuple[str, str] = ("reference", "candidate"),
    **kw: Any,
) -> PairedLegs:
    """Every period of a 2x2 crossover (two periods per crossover); a period whose leg failed
    ends the design (the auditor would have no pair from it)."""
    if sets[0] == sets[1]:
        raise ValueError(
            f"a crossover needs two disjoint device sets, got {sets[0]!r} twice; with one set use the abba design"
        )
    results: dict[str, LegResult] = {}
    for jobs in crossover_jobs(legs, a, b, sets, roles, kw, store.path("pairs")):
        for j in jobs:
            j.kw["rep_barrier"].prepare()
        for j, r in zip(jobs, batch(store, jobs, f"crossover {jobs[0].leg_id} | {jobs[1].leg_id}")):
            results[j.leg_id] = r
        if any(r.status != "ok" for r in results.values()):
            break
    done_a = [i for i in legs[0] if i in results]
    return PairedLegs("crossover", done_a, [i for i in legs[1] if i in results], results)


def run_abba(
    store: RunStore,
    batch: Batch,
    *,
    legs: Ids,
    a: LaunchConfig,
    b: LaunchConfig,
    roles: tuple[str, str] = ("reference", "candidate"),
    **kw: Any,
) -> PairedLegs:
    """Pairs of short legs on one set (``legs``: one A and one B id per pair), in alternating order."""
    results: dict[str, LegResult] = {}
    sides: tuple[list[str], list[str]] = ([], [])
    for leg_id, side in abba_sequence(legs):
        r = batch(store, [LegJob(leg_id, roles[side], (a, b)[side], dict(kw), own_server=True)], f"abba {leg_id}")[0]
        results[leg_id] = r
        sides[side].append(leg_id)
        if r.status != "ok":
            break
    return PairedLegs("abba", sides[0], sides[1], results)


def run_design(
    design: str,
    store: RunStore,
    batch: Batch,
    *,
    legs: Ids,
    a: LaunchConfig,
    b: LaunchConfig,
    sets: list[str],
    roles: tuple[str, str] = ("reference", "candidate"),
    **kw: Any,
) -> PairedLegs:
    """One paired design of the workflow: a crossover on the first two sets, or A B B A on the first."""
    if design == "crossover":
        if len(sets) < 2:
            raise ValueError(
                f"a crossover needs two disjoint device sets, got {sets}; with one set use the abba design"
            )
        return run_crossover(store, batch, legs=legs, a=a, b=b, sets=(sets[0], sets[1]), roles=roles, **kw)
    if design == "abba":
        return run_abba(store, batch, legs=legs, a=a, b=b, roles=roles, **kw)
    raise ValueError(f"{design!r} is not a paired design (known: crossover, abba)")
