"""GEAK v4's kernel-level director_validation.json (its kernel workflow's Director, written to the
kernel run's EVAL_DIR) as an op-harness record and claim. Pure.

Shape (GEAK's role docs and orchestrator schema): kernel_name, director_verified_speedup_geomean
(and _arithmetic, _weighted when workload-aligned), tech_lead_reported_speedup_geomean,
validation_status "accepted|flagged", correctness "pass|fail", per_case [{name, baseline_ms,
optimized_ms, speedup}], applied_to_original, timing_basis, final_patch. The per-case times are
the Director's medians, not raw reps: H9 holds the headline to them; H2 to the correctness verdict.
"""

from __future__ import annotations

from typing import Any

from ..evidence.models import CaseTime, Claim, CorrectnessCase, OpBenchRecord
from ._common import num


def director_record(obj: dict[str, Any], op: str) -> tuple[OpBenchRecord, Claim, list[str]]:
    """(record, claim, problems naming the field) for one director_validation.json object."""
    problems: list[str] = []
    cases: list[CaseTime] = []
    raw_cases = obj.get("per_case")
    if raw_cases is not None and not isinstance(raw_cases, list):
        problems.append("field 'per_case': not a list; ignored")
        raw_cases = []
    for i, c in enumerate(raw_cases or []):
        if not isinstance(c, dict):
            problems.append(f"field 'per_case[{i}]': not an object; ignored")
            continue
        cases.append(
            CaseTime(
                name=str(c.get("name") or f"case{i}"),
                baseline_ms=num(c.get("baseline_ms")),
                candidate_ms=num(c.get("optimized_ms", c.get("candidate_ms"))),
                claimed_speedup=num(c.get("speedup")),
            )
        )
    headline = next(
        (
            num(obj.get(k))
            for k in ("director_verified_speedup_weighted", "director_verified_speedup_geomean")
            if num(obj.get(k)) is not None
        ),
        None,
    )
    verdict = str(obj.get("correctness") or "").strip().lower()
    correctness = (
        [
            CorrectnessCase(
                shape=[],
                dtype="unrecorded",
                reference_dtype="unrecorded",
                passed={"pass": True, "fail": False}.get(verdict),
            )
        ]
        if verdict
        else []
    )
    rec = OpBenchRecord(
        op=op,
        candidate=str(obj.get("final_patch") or "director-verified"),
        baseline_backend=None,
        candidate_backend=None,
        correctness=correctness,
        claimed_speedup=headline,
        per_case=cases,
        validation_status=obj.get("validation_status"),
        timing_basis=obj.get("timing_basis"),
        tech_lead_reported_speedup_geomean=num(obj.get("tech_lead_reported_speedup_geomean")),
    )
    return rec, Claim(isolated_speedup=headline, headline_source="isolated"), problems
