"""The baseline phase: measure the reference, audit it, re-measure (bounded) while it FLAGs.

Each attempt is a new leg (a fresh server lifetime) and a new decision on the same gate,
so the audit trail keeps every attempt; the auditor audits the latest. A re-measure adds
repetitions, since B1-B3 FLAGs are about too few or too noisy counted reps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from geak.auditor.audit import audit_gate
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import AuditVerdict, Decision, Manifest, WorkloadSpec
from geak.auditor.evidence.store import RunStore
from geak.auditor.policy import AuditPolicy

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.leg import LegResult, Prompt, run_leg

GATE = "baseline"


@dataclass
class BaselineOutcome:
    verdict: str | None
    attempts: list[LegResult] = field(default_factory=list)
    audits: list[AuditVerdict] = field(default_factory=list)

    @property
    def leg_id(self) -> str | None:
        return self.attempts[-1].leg_id if self.attempts else None


def ensure_manifest(store: RunStore, *, run_id: str, engine: str, cfg: LaunchConfig, workload: WorkloadSpec) -> Manifest:
    m, _ = store.read_json("manifest.json", Manifest)
    if m is not None:
        return m
    from geak import __version__

    m = Manifest(run_id=run_id, geak_version=__version__, model=cfg.model, engine=engine, workload=workload)
    store.write_json("manifest.json", m)
    return m


# serving settings every later leg must share unless a decision declares the knob (B4, P4)
INVARIANT_KEYS = ("model_config.dtype", "model_config.max_model_len", "cache_config.gpu_memory_utilization",
                  "cache_config.cache_dtype", "parallel_config.tensor_parallel_size")


def pin_invariants(store: RunStore, leg_id: str) -> dict:
    """Fill the manifest's invariants from the first leg's resolved config, if none were declared."""
    m, _ = store.read_json("manifest.json", Manifest)
    if m is None or m.invariants:
        return m.invariants if m else {}
    launch = RunEvidence(store).leg(leg_id).launch
    rc = (launch.resolved_config or {}) if launch else {}
    inv = {k.split(".")[-1]: rc[k] for k in INVARIANT_KEYS if k in rc}
    if inv:
        m.invariants = inv
        store.write_json("manifest.json", m)
    return inv


def run_aa(store: RunStore, *, engine: str, cfg: LaunchConfig, workload: WorkloadSpec, legs: int = 2, reps: int = 3,
           on_event: Callable[[str], None] = lambda s: None, **leg_kw) -> list[LegResult]:
    """A/A legs (role "aa"): the identical config measured as separate server lifetimes.
    The auditor re-derives its noise band from them (auditor/noise.py)."""
    out = []
    for i in range(1, legs + 1):
        on_event(f"leg aa_{i}: A/A noise measurement, {reps} counted reps + 1 warm-up")
        out.append(run_leg(store, leg_id=f"aa_{i}", role="aa", engine=engine, cfg=cfg, workload=workload, reps=reps, **leg_kw))
    return out


def run_baseline(store: RunStore, *, engine: str, cfg: LaunchConfig, workload: WorkloadSpec, reps: int = 3,
                 max_remeasures: int = 2, extra_reps_per_remeasure: int = 2, parity: list[Prompt] | None = None,
                 accuracy: list[Prompt] | None = None, policy: AuditPolicy | None = None, use_auditor: bool = True,
                 on_event: Callable[[str], None] = lambda s: None, **leg_kw) -> BaselineOutcome:
    policy = policy or AuditPolicy()
    out = BaselineOutcome(verdict=None)
    for attempt in range(max_remeasures + 1):
        leg_id = "baseline" if attempt == 0 else f"baseline_r{attempt}"
        n = reps + attempt * extra_reps_per_remeasure
        on_event(f"leg {leg_id}: {n} counted reps + 1 warm-up")
        res = run_leg(store, leg_id=leg_id, role="baseline", engine=engine, cfg=cfg, workload=workload, reps=n,
                      parity=parity, accuracy=accuracy, **leg_kw)
        out.attempts.append(res)
        if res.status == "ok":
            pin_invariants(store, leg_id)
        d = Decision(decision_id=f"d-baseline-{attempt}", gate_id=GATE, scope="baseline", producer="setup", reference_legs=[leg_id])
        store.append_jsonl("decisions.jsonl", d)
        if not use_auditor:
            out.verdict = None
            return out
        v = audit_gate(store, d.decision_id, policy, GATE)
        out.audits.append(v)
        out.verdict = v.verdict
        on_event(f"audit {GATE}: {v.verdict or 'UNAUDITED'}")
        if v.verdict != "FLAG" or "remeasure" not in v.actions:
            return out
    return out
