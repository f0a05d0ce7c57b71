"""Legs of one run that ran at the same time (the leg scheduler's batches): on which devices,
and whether they could have contended. Used by B5 and by the noise band (every A/A leg).

The auditor does not take the scheduler's word (scheduler/batches.jsonl, a claim) for what
ran at once: it re-derives overlap from every leg's own start and end times and from the
benchmark tool's own per-request times (which launch.json cannot contradict), and each leg's
devices from the engine's own log where it says (vLLM CPU: ``local_rank=0, core ids=[1]``),
else from the device set launch.json names. Two overlapping legs that share a core or a GPU
contend, whatever anyone declared; siblings on disjoint sets do not, but their processes'
load on the leg's own cores (an unpinned sibling, a foreign process) is still contention.
Legs on different hosts (the leg scheduler's Ray mode) share no device and no host load, whatever
their device-set names say (cuda:0 on two boxes is two GPUs). Which host a leg ran on is shown by
the benchmark tool's own clock: every rep's wall date minus its monotonic request times is one
number per boot of one host (evidence/pairing.same_clock), so two legs whose offsets differ were
timed on two machines (or across a reboot: not at once either), and two whose offsets agree ran on
one, whatever launch.json's host fingerprints claim. Only where a leg has no such rep does the
fingerprint's hostname (geak's claim) decide, and then it is said.
Its own small parser of device-set names: the auditor imports nothing of the producers.
"""

from __future__ import annotations

from ..evidence.engine_log import omp_core_ids
from ..evidence.loader import LegData, RunEvidence
from ..evidence.pairing import RepWindow, overlap_s, same_clock, window_of
from ..policy import AuditPolicy


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
    devices = (launch.launch_config.get("devices") if launch else None) or (
        launch.host.device_set if launch and launch.host else None
    )
    cpu_count = launch.host.cpu_count if launch and launch.host else None
    declared = units(str(devices) if devices is not None else None, cpu_count)
    own = omp_core_ids(leg.server_log)
    if own and devices != "cpu":
        cores, line = own
        return {
            f"cpu{i}" for i in cores
        }, f"{leg.server_log_file or leg.dir + '/server.log'}:{line} (the engine's core binding)"
    return declared, f"{leg.dir}/launch.json launch_config.devices = {devices!r}" if devices is not None else "unknown"


RAW_MIN_SHARE = 0.1


def _windows(leg: LegData) -> list[RepWindow]:
    return [w for r in leg.reps if r.raw is not None and (w := window_of(r.raw)) is not None]


def host_apart(a: LegData, b: LegData, wa: list[RepWindow] | None = None) -> str | None:
    """Why legs a and b ran on different hosts; None when on one host, or when nothing shows it.
    ``wa``: a's rep windows when the caller has them already."""
    wa, wb = _windows(a) if wa is None else wa, _windows(b)
    if wa and wb:
        same = same_clock(wa[0], wb[0])
        if same is not None:
            return (
                None
                if same
                else (
                    f"the benchmark tool's own clocks of legs {a.leg_id} and {b.leg_id} differ by "
                    f"{abs((wa[0].offset or 0.0) - (wb[0].offset or 0.0)):.0f} s (date minus monotonic request time): two hosts, or a reboot between"
                )
            )
    ha, hb = (x.launch.host.hostname if x.launch and x.launch.host else None for x in (a, b))
    if ha and hb and ha != hb:
        return f"launch.json's host fingerprints name hosts {ha!r} and {hb!r} (no request times of both to confirm it)"
    return None


def _overlaps(run: RunEvidence, leg: LegData, min_overlap_s: float) -> list[tuple[LegData, float, str]]:
    """(other leg, seconds, how it shows) for every other leg that ran at the same time as this
    one by more than ``min_overlap_s``: by launch.json's start and end (the leg runner's clock,
    a claim), or else by the benchmark tool's own request times (its per-request starts on the
    host's clock, evidence/pairing.py), which a producer editing launch.json cannot move."""
    times = run.leg_times
    mine = _windows(leg)
    out = []
    for other_id in run.leg_ids():
        if other_id == leg.leg_id:
            continue
        if leg.leg_id in times and other_id in times:
            (s0, e0), (s1, e1) = times[leg.leg_id], times[other_id]
            ov = min(e0, e1) - max(s0, s1)
            if ov > min_overlap_s:
                other = run.leg(other_id)
                if host_apart(leg, other, mine) is None:  # a leg on another host shares none of its devices or load
                    out.append((other, ov, "launch"))
                continue
        if mine:
            other = run.leg(other_id)
            theirs = _windows(other)
            ov_raw = overlap_s(mine, theirs)
            # request times are exact to the microsecond: reps shorter than min_overlap_s that
            # share a tenth of the shorter side's measured time ran together
            short = min(sum(w.end - w.start for w in mine), sum(w.end - w.start for w in theirs)) if theirs else 0.0
            if ov_raw is not None and ov_raw > min(min_overlap_s, RAW_MIN_SHARE * short) and ov_raw > 0:
                out.append((other, ov_raw, "raw"))
    return out


def overlapping(run: RunEvidence, leg: LegData, min_overlap_s: float) -> list[tuple[LegData, float]]:
    """Other legs of the run that ran at the same time as this one by more than ``min_overlap_s``
    seconds, by their launch times or by the tool's own request times (``_overlaps``)."""
    return [(o, ov) for o, ov, _ in _overlaps(run, leg, min_overlap_s)]


def contention(run: RunEvidence, leg: LegData, *, min_overlap_s: float, max_shared_core_load: float) -> list[str]:
    """Why this leg was contended by the run's own concurrent legs (empty: it was not)."""
    reasons = []
    mine, src = leg_units(leg)
    for other, ov, how in _overlaps(run, leg, min_overlap_s):
        if how == "raw":
            reasons.append(
                f"launch.json's times put leg {other.leg_id} apart from it, but the benchmark tool's own request "
                f"times show their repetitions ran {ov:.1f} s at the same time"
            )
        theirs, osrc = leg_units(other)
        ov_s = f"{ov:.1f}" if ov < 10 else f"{ov:.0f}"
        if mine is None or theirs is None:
            reasons.append(
                f"ran {ov_s} s at the same time as leg {other.leg_id} and the device sets cannot be compared "
                f"({src}; {osrc})"
            )
        elif mine & theirs:
            reasons.append(
                f"ran {ov_s} s at the same time as leg {other.leg_id} on shared device(s) "
                f"{sorted(mine & theirs)} ({src}; {osrc})"
            )
    host = leg.launch.host if leg.launch else None
    cores = [u for u in (mine or set()) if u.startswith("cpu")]
    if host is not None and host.shared_core_busy_cores is not None and cores and host.device_set not in (None, "cpu"):
        per = host.shared_core_busy_cores / len(cores)
        if per > max_shared_core_load:
            reasons.append(
                f"other processes (sibling legs {host.sibling_legs or 'none'} and foreign ones) used "
                f"{host.shared_core_busy_cores:.2f} core(s) on its {len(cores)} core(s) ({per:.2f}/core > {max_shared_core_load:g})"
            )
    return reasons


def leg_contention(run: RunEvidence, leg: LegData, policy: AuditPolicy) -> list[str] | None:
    """Why one leg's measurement was contended (empty: it was not; None: it has no host
    fingerprint to judge by). B5 asks it of a gate's legs, the noise band of every A/A leg:
    a band measured on a busy host is that load's noise, not this machine's."""
    host = leg.launch.host if leg.launch else None
    if host is None:
        return None
    reasons = []
    for g in host.gpus:
        if g.foreign_processes:
            reasons.append(f"GPU {g.index} runs foreign processes {g.foreign_processes}")
    if host.other_legs_running:
        reasons.append(f"other legs running: {host.other_legs_running}")
    reasons += contention(
        run, leg, min_overlap_s=policy.concurrent_overlap_s, max_shared_core_load=policy.max_shared_core_load
    )
    if not host.gpus and host.cpu_count:
        # prefer what others used (the leg's own server is not contention); the 1-min load
        # average includes the server itself and is only a fallback
        busy, what = (
            (host.foreign_cpu_busy_cores, "foreign processes used")
            if host.foreign_cpu_busy_cores is not None
            else (host.load_avg_1m, "CPU load")
        )
        if busy is not None and busy / host.cpu_count > policy.max_load_per_core:
            reasons.append(
                f"{what} {busy:.2f} of {host.cpu_count} cores ({busy / host.cpu_count:.2f}/core > {policy.max_load_per_core:g})"
            )
    return reasons


def hosts_split(ref: list[LegData], cand: list[LegData]) -> str | None:
    """Why a gate's reference and candidate were measured on different hosts (None: one host, as
    far as the bytes show): a delta across two machines is the machines' difference too."""
    for a in ref:
        for b in cand:
            if (why := host_apart(a, b)) is not None:
                return why
    return None


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
    return (
        f"the compared legs ran under different concurrency: {beside}, but {', '.join(alone)} alone; a leg run "
        "beside another is slowed even on disjoint cores, so the delta carries that difference"
    )
