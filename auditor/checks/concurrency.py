"""Legs of one run that ran at the same time (the leg scheduler's batches): on which devices,
and whether they could have contended. Used by B5.

The auditor does not take the scheduler's word (scheduler/batches.jsonl, a claim) for what
ran at once: it re-derives overlap from every leg's own start and end times, and each leg's
devices from the engine's own log where it says (vLLM CPU: ``local_rank=0, core ids=[1]``),
else from the device set launch.json names. Two overlapping legs that share a core or a GPU
contend, whatever anyone declared; siblings on disjoint sets do not, but their processes'
load on the leg's own cores (an unpinned sibling, a foreign process) is still contention.
Its own small parser of device-set names: the auditor imports nothing of the producers.
"""

from __future__ import annotations

from ..evidence.engine_log import omp_core_ids
from ..evidence.loader import LegData, RunEvidence


def units(devices: str | None, cpu_count: int | None) -> set[str] | None:
    """The cores / GPUs a device-set name holds; None for a name this parser does not know."""
    if not devices:
        return None
    d = devices.strip()
    if d == "cpu":
        return {f"cpu{i}" for i in range(cpu_count)} if cpu_count else None
    if d and all(c.isdigit() or c in ",-" for c in d):
        d = "cuda:" + d
    kind, _, ids = d.partition(":")
    if kind not in ("cpu", "cuda") or not ids:
        return None
    out: set[str] = set()
    for part in ids.split(","):
        a, _, b = part.partition("-")
        if not a.isdigit() or (b and not b.isdigit()):
            return None
        out |= {f"{kind}{i}" for i in range(int(a), int(b or a) + 1)}
    return out


def leg_units(leg: LegData) -> tuple[set[str] | None, str]:
    """(units, where from): the engine's own core binding beats launch.json's device set. A
    whole-host CPU leg binds its engine to one core but its client runs on the others: all of
    them are its units."""
    launch = leg.launch
    devices = (launch.launch_config.get("devices") if launch else None) or (launch.host.device_set if launch and launch.host else None)
    cpu_count = launch.host.cpu_count if launch and launch.host else None
    declared = units(str(devices) if devices is not None else None, cpu_count)
    own = omp_core_ids(leg.server_log)
    if own and devices != "cpu":
        cores, line = own
        return {f"cpu{i}" for i in cores}, f"{leg.server_log_file or leg.dir + '/server.log'}:{line} (the engine's core binding)"
    return declared, f"{leg.dir}/launch.json launch_config.devices = {devices!r}" if devices is not None else "unknown"


def overlapping(run: RunEvidence, leg: LegData, min_overlap_s: float) -> list[tuple[LegData, float]]:
    """Other legs of the run whose [started_at, ended_at] overlaps this leg's by more than
    ``min_overlap_s`` seconds (only those are loaded)."""
    times = run.leg_times
    if leg.leg_id not in times:
        return []
    s0, e0 = times[leg.leg_id]
    out = []
    for other_id, (s1, e1) in times.items():
        ov = min(e0, e1) - max(s0, s1)
        if other_id != leg.leg_id and ov > min_overlap_s:
            out.append((run.leg(other_id), ov))
    return out


def contention(run: RunEvidence, leg: LegData, *, min_overlap_s: float, max_shared_core_load: float) -> list[str]:
    """Why this leg was contended by the run's own concurrent legs (empty: it was not)."""
    reasons = []
    mine, src = leg_units(leg)
    for other, ov in overlapping(run, leg, min_overlap_s):
        theirs, osrc = leg_units(other)
        if mine is None or theirs is None:
            reasons.append(f"ran {ov:.0f} s at the same time as leg {other.leg_id} and the device sets cannot be compared "
                           f"({src}; {osrc})")
        elif mine & theirs:
            reasons.append(f"ran {ov:.0f} s at the same time as leg {other.leg_id} on shared device(s) "
                           f"{sorted(mine & theirs)} ({src}; {osrc})")
    host = leg.launch.host if leg.launch else None
    cores = [u for u in (mine or set()) if u.startswith("cpu")]
    if host is not None and host.shared_core_busy_cores is not None and cores and host.device_set not in (None, "cpu"):
        per = host.shared_core_busy_cores / len(cores)
        if per > max_shared_core_load:
            reasons.append(f"other processes (sibling legs {host.sibling_legs or 'none'} and foreign ones) used "
                           f"{host.shared_core_busy_cores:.2f} core(s) on its {len(cores)} core(s) ({per:.2f}/core > {max_shared_core_load:g})")
    return reasons


def mixed_concurrency(run: RunEvidence, legs: list[LegData], min_overlap_s: float) -> str | None:
    """Why the legs a gate compares were measured under different conditions: some at the same
    time as other legs, some alone (None: all alone, or all at once). Disjoint cores do not make
    running at once free: on this project's 2-core VM the op harness ran 1.07-1.79x slower beside
    a sibling on the other core (bench/harness_parallel.py), which no CPU-time sample shows."""
    at_once = {leg.leg_id: sorted(o.leg_id for o, _ in overlapping(run, leg, min_overlap_s)) for leg in legs}
    busy = {k: v for k, v in at_once.items() if v}
    alone = sorted(k for k, v in at_once.items() if not v)
    if not busy or not alone:
        return None
    beside = "; ".join(f"{k} beside {', '.join(v)}" for k, v in sorted(busy.items()))
    return (f"the compared legs ran under different concurrency: {beside}, but {', '.join(alone)} alone; a leg run "
            "beside another is slowed even on disjoint cores, so the delta carries that difference")
