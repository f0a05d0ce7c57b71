"""The noise band, re-derived from the run's own A/A legs when it has them.

A/A legs (role "aa") run the identical config twice. The band the auditor gates against
is the larger of the policy's declared band and what the A/A raw records show: the widest
within-leg spread of counted reps, and the gap between the A/A legs' medians. A producer
cannot narrow it: the auditor computes it from raw, and only ever widens the declared one.
No usable A/A legs (none, one unreadable, one contended, one on a reused server) leave the
band unknown: the gates that weigh a delta against it FLAG.
"""

from __future__ import annotations

from typing import Any

from . import aa_pairs, paired, stats
from .checks.concurrency import leg_contention
from .evidence.loader import LegData, RunEvidence
from .evidence.models import LegLaunch
from .policy import AuditPolicy
from .evidence.layout import LAUNCH, leg_file


NO_AA_LEGS = (
    'the run has no A/A legs (no launch.json says role "aa", manifest.json declares none): nothing measured '
    "this machine's noise"
)


def _unusable(run: RunEvidence, lid: str, leg: LegData, by_role: bool, policy: AuditPolicy) -> str | None:
    """Why one A/A leg gives the band nothing it can stand on (None: its values can be read)."""
    if not by_role:
        return (
            f"A/A leg {lid} is declared in manifest.json but its launch.json says role "
            f"{leg.launch.role if leg.launch else 'nothing (unreadable)'!r}"
        )
    bad = leg.problems + leg.mismatches + leg.raw_missing
    if bad or (leg.launch and leg.launch.status != "ok"):
        return f"A/A leg {lid} is unusable: {bad[0] if bad else leg.launch.failure_reason if leg.launch else 'no launch.json'}"
    if run.ledger.present and (changed := run.seal_problems(lid)):
        return (
            f"A/A leg {lid} does not hold what was sealed when it closed ({changed[0]}): a band from edited "
            "reps is not a measurement"
        )
    busy = leg_contention(run, leg, policy)
    if busy:
        return (
            f"A/A leg {lid} was contended ({'; '.join(busy)}): a band from a busy host is that load's noise, "
            "not this machine's"
        )
    if leg.reused_from is not None:
        return (
            f"A/A leg {lid} declares it measured on the server {leg.reused_from} left up: the band must include "
            "launch-to-launch variance, so every A/A leg starts its own server"
        )
    return None


def _too_few(few: dict[int, list[str]], metric: str, need: int) -> list[str]:
    """One reason per count of values: a design of 12 short legs is one finding, not 12."""
    out: list[str] = []
    for n, lids in sorted(few.items()):
        who = f"A/A leg {lids[0]} has" if len(lids) == 1 else f"A/A legs {', '.join(lids)} have"
        out.append(
            f"{who} {n} counted value(s) of {metric}{' each' if len(lids) > 1 else ''}; a band needs "
            f"{need} (the policy's minimum of counted reps)"
        )
    return out


def _one_lifetime(run: RunEvidence, aa_ids: set[str]) -> list[str]:
    """A/A legs whose logs name one server: two reads of one launch, not two launches."""
    ids = run.lifetimes
    aa = sorted(lid for lid in aa_ids if lid in ids)
    out: list[str] = []
    for i, a in enumerate(aa):
        twin = next((b for b in aa[i + 1 :] if ids[a].same(ids[b])), None)
        if twin is not None:
            out.append(
                f"A/A legs {a} and {twin} ran on one server lifetime (their logs name one server): no launch-to-launch variance"
            )
    return out


def aa_band_pct(
    run: RunEvidence, policy: AuditPolicy | None = None, metric: str = "output_throughput"
) -> tuple[float | None, dict[str, Any], str | None]:
    """(band, detail, why unknown). A/A legs are those the manifest declares plus any leg
    whose launch.json says role "aa"; every one must be usable and uncontended, or the band
    is unknown. A run with none has no band either: the policy's default is a number nobody
    measured here, so gating against it would let deleting the A/A legs narrow the band."""
    policy = policy or AuditPolicy()
    # read only launch.json to find the A/A legs: loading every leg's raw records here would
    # parse legs no gate refers to
    present = set(run.leg_ids())
    by_role = {
        i
        for i in present
        if (lj := run.store.read_json(leg_file(i, LAUNCH), LegLaunch)[0]) is not None and lj.role == "aa"
    }
    declared = set(run.manifest.aa_legs) if run.manifest else set()
    why: list[str] = []
    meds: dict[str, float] = {}
    within: dict[str, float] = {}
    few: dict[int, list[str]] = {}  # counted values -> A/A legs with too few
    need = max(2, policy.min_counted_reps)
    for lid in sorted(declared | by_role):
        if lid not in present:
            why.append(f"A/A leg {lid} is declared in manifest.json but legs/{lid} is missing")
            continue
        leg = run.leg(lid)
        if (reason := _unusable(run, lid, leg, lid in by_role, policy)) is not None:
            why.append(reason)
            continue
        vals, _ = leg.values(metric)
        if len(vals) < need:
            few.setdefault(len(vals), []).append(lid)
            continue
        within[lid] = stats.spread_pct(vals) or 0.0
        meds[lid] = stats.median(vals) or 0.0
    why += _too_few(few, metric, need)
    why += _one_lifetime(run, (declared | by_role) & present)
    if why:
        return None, {"aa_legs": sorted(declared | by_role)}, "; ".join(why)
    if not within:
        return None, {}, NO_AA_LEGS
    m = list(meds.values())
    between = (max(m) - min(m)) / min(m) * 100 if len(m) >= 2 and min(m) else 0.0
    band = stats.aa_band(list(within.values()), m)
    return band, {"aa_legs": sorted(within), "within_spread_pct": within, "between_gap_pct": between}, None


def paired_bands(
    run: RunEvidence,
    policy: AuditPolicy,
    metric: str = "output_throughput",
    claimed: frozenset[str] = frozenset({"crossover", "abba"}),
) -> tuple[dict[str, float], dict[str, str], dict[str, Any]]:
    """(design -> paired A/A band, design -> why unknown, detail) for the ``claimed`` designs.
    The A/A designs are those found from the bytes among every leg whose launch.json says role
    "aa" (auditor/aa_pairs.py: crossovers from legs that ran at once, A B B A chains from those
    in no crossover), plus those the manifest declares that the bytes did not show as such. Each
    is re-derived as any paired gate is (auditor/paired.py); the band of a design is the widest
    any of its A/A designs gives, never below the policy's declared band."""
    bands: dict[str, float] = {}
    unknown: dict[str, str] = {}
    detail: dict[str, Any] = {}
    present = set(run.leg_ids())
    aa_ids = sorted(i for i, lj in run.launches.items() if lj.role == "aa" and lj.status == "ok")
    designs: list[tuple[str, str, list[str], list[str]]] = []  # (name, design, A legs, B legs)

    def no(design: str, why: str) -> None:
        unknown[design] = f"{unknown[design]}; {why}" if design in unknown else why

    spans = [s for i in aa_ids if (s := aa_pairs.span_of(run.leg(i))) is not None]
    found, left = aa_pairs.crossovers(spans)
    if "crossover" in claimed:
        designs += [(f"crossover found from the bytes ({', '.join(a + b)})", "crossover", a, b) for a, b in found]
        if left:
            no("crossover", "; ".join(left))
    if "abba" in claimed:
        # a leg of a crossover is that crossover's; every other A/A leg is in its core set's chain
        chains, broken = aa_pairs.sequences(spans, {i for a, b in found for i in a + b}, policy.min_pairs)
        designs += [(f"A B B A chain found from the bytes ({', '.join(a + b)})", "abba", a, b) for a, b in chains]
        if broken:
            no("abba", "; ".join(broken))
    seen = {frozenset(a + b) for _, _, a, b in designs}
    for k, d in enumerate(run.manifest.aa_designs if run.manifest else []):
        if d.design in claimed and frozenset(d.a_legs + d.b_legs) not in seen:
            designs.append((f"paired A/A design {k + 1} of manifest.json", d.design, d.a_legs, d.b_legs))
    for k, (name, design, a_ids, b_ids) in enumerate(designs):
        gone = [i for i in a_ids + b_ids if i not in present]
        if gone:
            no(design, f"{name} names leg(s) {', '.join(gone)} that the run does not have")
            continue
        legs = [run.leg(i) for i in a_ids + b_ids]
        not_aa = [lg.leg_id for lg in legs if lg.launch is None or lg.launch.role != "aa"]
        if not_aa:
            no(design, f"{name}: leg(s) {', '.join(not_aa)} are not A/A legs by their launch.json")
            continue
        busy = [f"{lg.leg_id}: {'; '.join(r)}" for lg in legs if (r := leg_contention(run, lg, policy))]
        if busy:
            no(
                design,
                f"{name}: A/A leg(s) contended ({' | '.join(busy)}): a band from a busy host is not this machine's noise",
            )
            continue
        if (why := aa_pairs.config_differs(legs)) is not None:
            no(design, f"{name}: {why}")
            continue
        res = paired.derive(design, legs[: len(a_ids)], legs[len(a_ids) :], metric, True, policy.pair_min_evenness)
        if res.unverifiable or len(res.deltas) < policy.min_pairs:
            no(
                design,
                f"{name}: {res.unverifiable or f'{len(res.deltas)} verified pair(s), fewer than {policy.min_pairs}'}",
            )
            continue
        b = paired.band_pct(res) or 0.0
        detail[f"{design}_{k + 1}"] = {
            **res.summary(policy.alpha),
            "band_pct": b,
            "a_legs": a_ids,
            "b_legs": b_ids,
            "source": name,
        }
        bands[design] = max(bands.get(design, 0.0), b, policy.noise_band_pct)
    for design in unknown:
        bands.pop(design, None)  # one unusable A/A design of a kind leaves that kind's band unknown
    return bands, unknown, detail


def effective_policy(run: RunEvidence, policy: AuditPolicy) -> tuple[AuditPolicy, dict[str, Any]]:
    # the paired bands only judge paired claims: a run without one is not asked for them (nor
    # are its A/A legs that ran at once, in blocks, read as a crossover)
    claimed = frozenset(d.design for _, d in run.decisions if d.design != "blocks")
    pb, pu, pdetail = paired_bands(run, policy, claimed=claimed) if claimed else ({}, {}, {})
    if pb or pu:
        policy = policy.model_copy(update={"paired_noise_band_pct": pb, "paired_noise_band_unknown": pu})
    band, detail, unknown = aa_band_pct(run, policy)
    if pdetail:
        detail = {**detail, "paired_aa": pdetail}
    if unknown is not None:
        return (
            policy.model_copy(update={"noise_band_unknown": unknown}),
            {"noise_band_source": "unknown: the declared A/A legs give no band", **detail},
        )
    if band is None or band <= policy.noise_band_pct:
        return policy, {"noise_band_source": "policy", **detail}
    return policy.model_copy(update={"noise_band_pct": band}), {"noise_band_source": "measured A/A legs", **detail}
