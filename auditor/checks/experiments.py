"""E1: the repetitions of one leg are one experiment.

Rows of different request rates, concurrencies, lengths or deployments in one leg make its
spread the experiments' difference, not noise (a 150-255% "band" from three rates), and its
median a number of no experiment at all. The workload signature of each rep comes from the
tool's own row (evidence/workload.py); the tokens per request it served are a second check for
tools that do not record the lengths they were asked for.
"""

from __future__ import annotations

import numpy as np

from ..evidence.loader import LegData
from ..evidence.models import EvidencePointer, Finding
from ..evidence.reps import RepData
from ..evidence.workload import differing
from .registry import GateContext, rule

LENGTH_REL = 0.10  # mean tokens per request differing by more than this between reps: another length setting


def _per_request(r: RepData, key: str, total: str) -> float | None:
    if r.has_arrays:
        ok = r.arrays["ok"]
        vals = r.arrays[key][ok]
        vals = vals[np.isfinite(vals)]
        return float(vals.mean()) if len(vals) else None
    t, c = r.reported.get(total), r.reported.get("completed")
    return float(t) / float(c) if isinstance(t, (int, float)) and isinstance(c, (int, float)) and c > 0 else None


def leg_mix(leg: LegData) -> tuple[str, list[str]] | None:
    """(what differs, the files) when the leg's reps are more than one experiment."""
    reps = [r for r in leg.reps if r.raw is not None]
    if len(reps) < 2:
        return None
    diff = differing([r.raw.workload for r in reps])  # type: ignore[union-attr]
    files = [r.file for r in reps]
    if diff:
        parts = [
            f"{k} {' / '.join(str(v) for v in dict.fromkeys(map(str, vals)))}" for k, vals in list(diff.items())[:3]
        ]
        return "; ".join(parts), files
    for key, total, what in (
        ("input_lens", "total_input_tokens", "prompt"),
        ("output_lens", "total_output_tokens", "output"),
    ):
        per = [_per_request(r, key, total) for r in reps]
        vals = [v for v in per if v is not None and v > 0]
        if len(vals) >= 2 and max(vals) > min(vals) * (1 + LENGTH_REL):
            return f"{what} tokens per request {min(vals):.0f} .. {max(vals):.0f}", files
    return None


@rule("E1", ["baseline", "patch", "bundle"], "different experiments read as repetitions", "flag", "flag")
def e1_one_experiment_per_leg(ctx: GateContext) -> list[Finding]:
    out: list[Finding] = []
    legs = ctx.all_legs
    for leg in legs:
        mix = leg_mix(leg)
        if mix is not None:
            what, files = mix
            out += ctx.bad(
                "E1",
                f"leg {leg.leg_id}: its {len(files)} repetitions are different experiments ({what}); "
                "their spread is not noise and their median is no experiment's: import each as its own leg",
                evidence=[EvidencePointer(file=f) for f in files[:4]],
            )
    if not legs:
        return ctx.na("E1", "no leg to check")
    if not out:
        out += ctx.ok("E1", f"{len(legs)} leg(s): every repetition ran the same workload")
    return out
