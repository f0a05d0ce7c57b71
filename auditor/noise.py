"""The noise band, re-derived from the run's own A/A legs when it has them.

A/A legs (role "aa") run the identical config twice. The band the auditor gates against
is the larger of the policy's declared band and what the A/A raw records show: the widest
within-leg spread of counted reps, and the gap between the A/A legs' medians. A producer
cannot narrow it: the auditor computes it from raw, and only ever widens the declared one.
"""

from __future__ import annotations

from typing import Any

from . import stats
from .evidence.loader import RunEvidence
from .evidence.models import LegLaunch
from .policy import AuditPolicy


def aa_band_pct(run: RunEvidence, metric: str = "output_throughput") -> tuple[float | None, dict[str, Any]]:
    # read only launch.json to find the A/A legs: loading every leg's raw records here would
    # parse legs no gate refers to
    aa_ids = [i for i in run.leg_ids() if (lj := run.store.read_json(f"legs/{i}/launch.json", LegLaunch)[0]) is not None and lj.role == "aa"]
    aa = [leg for leg in (run.leg(i) for i in aa_ids) if not leg.problems]
    meds: dict[str, float] = {}
    within: dict[str, float] = {}
    for leg in aa:
        vals, _ = leg.values(metric)
        if len(vals) >= 2:
            within[leg.leg_id] = stats.spread_pct(vals) or 0.0
            meds[leg.leg_id] = stats.median(vals) or 0.0
    if not within:
        return None, {}
    between = 0.0
    if len(meds) >= 2:
        m = list(meds.values())
        between = (max(m) - min(m)) / min(m) * 100 if min(m) else 0.0
    band = max(max(within.values()), between)
    return band, {"aa_legs": sorted(within), "within_spread_pct": within, "between_gap_pct": between}


def effective_policy(run: RunEvidence, policy: AuditPolicy) -> tuple[AuditPolicy, dict[str, Any]]:
    band, detail = aa_band_pct(run)
    if band is None or band <= policy.noise_band_pct:
        return policy, {"noise_band_source": "policy", **detail}
    return policy.model_copy(update={"noise_band_pct": band}), {"noise_band_source": "measured A/A legs", **detail}
