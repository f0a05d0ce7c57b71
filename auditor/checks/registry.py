"""The registry of deterministic checks. Adding a rule is one decorated function.

A check is a function ``(ctx) -> list[Finding]``. It reads only ``ctx`` (loaded,
validated evidence plus the policy) and returns findings; it never writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterable

from ..evidence.loader import LegData, RunEvidence
from ..evidence.normalize import flatten  # noqa: F401  (re-exported for the checks)
from ..evidence.models import METRICS, Action, Decision, EvidencePointer, Finding, Outcome, Scope, judged_metric
from ..evidence.store import Problem
from ..policy import AuditPolicy
from ..evidence.layout import DECISIONS, LAUNCH, SERVER_LOG

CheckFn = Callable[["GateContext"], list[Finding]]
# launch parity, engagement, correctness: without their evidence an imported claim stays FLAG
GUARDS = frozenset({"P4", "P5", "P9"})


@dataclass(frozen=True)
class Rule:
    rule_id: str
    scopes: tuple[str, ...]
    title: str
    violation: Outcome  # "fail" or "flag": what a violated rule yields
    action: Action
    fn: CheckFn


RULES: dict[str, Rule] = {}


def rule(
    rule_id: str, scopes: Iterable[Scope], title: str, violation: Outcome, action: Action
) -> Callable[[CheckFn], CheckFn]:
    def deco(fn: CheckFn) -> CheckFn:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        RULES[rule_id] = Rule(rule_id, tuple(scopes), title, violation, action, fn)
        return fn

    return deco


def rules_for(scope: str) -> list[Rule]:
    return [r for r in RULES.values() if scope in r.scopes]


def get_rule(rule_id: str) -> Rule:
    try:
        return RULES[rule_id]
    except KeyError:
        raise KeyError(
            f"unknown rule {rule_id!r}; known rules: {', '.join(sorted(RULES, key=_rule_sort_key))}"
        ) from None


def _rule_sort_key(rid: str) -> tuple[str, int]:
    m = re.match(r"([A-Z]+)(\d+)", rid)
    return (m.group(1), int(m.group(2))) if m else (rid, 0)


def sorted_rule_ids(ids: Iterable[str]) -> list[str]:
    return sorted(ids, key=_rule_sort_key)


@dataclass
class GateContext:
    run: RunEvidence
    decision: Decision
    decision_line: int
    scope: Scope
    policy: AuditPolicy
    memo: dict[Any, Any] = field(default_factory=dict)  # per-gate cache shared by the rules

    # ------------------------------------------------------------ evidence access
    @property
    def imported(self) -> bool:
        return self.run.imported

    def legs(self, ids: list[str]) -> list[LegData]:
        return [self.run.leg(i) for i in ids]

    @property
    def reference(self) -> list[LegData]:
        return self.legs(self.decision.reference_legs)

    @property
    def candidate(self) -> list[LegData]:
        return self.legs(self.decision.candidate_legs)

    @property
    def all_legs(self) -> list[LegData]:
        """Every leg the decision names (reference, candidate, audit), each once."""
        d = self.decision
        return self.legs(list(dict.fromkeys(d.reference_legs + d.candidate_legs + d.audit_legs)))

    @property
    def metric_known(self) -> bool:
        return self.decision.claim.metric in METRICS

    @property
    def metric(self) -> str:
        """The claim's metric when the vocabulary has it, else the default (P1 FAILs the claim):
        no rule ever looks a producer's name up."""
        return judged_metric(self.decision.claim.metric)[0]

    @property
    def higher_is_better(self) -> bool:
        """The metric's own direction; the claim's is checked against it (P1), never used."""
        return METRICS[self.metric]

    def side_values(self, legs: list[LegData], metric: str | None = None) -> list[float]:
        metric = metric or self.metric
        vals: list[float] = []
        for leg in legs:
            vals += leg.values(metric)[0]
        return vals

    @property
    def decision_ptr(self) -> EvidencePointer:
        return EvidencePointer(file=DECISIONS, line=self.decision_line, record_id=self.decision.decision_id)

    def decision_field(self, name: str) -> EvidencePointer:
        return EvidencePointer(file=DECISIONS, line=self.decision_line, field=name, record_id=self.decision.decision_id)

    # ------------------------------------------------------------ finding builders
    def finding(
        self,
        rule_id: str,
        outcome: Outcome,
        message: str,
        *,
        action: Action | None = None,
        evidence: list[EvidencePointer] | None = None,
        recomputed: dict[str, Any] | None = None,
        claimed: dict[str, Any] | None = None,
    ) -> Finding:
        r = RULES[rule_id]
        if action is None:
            action = r.action if outcome in ("fail", "flag") else ("remeasure" if outcome == "unchecked" else "pass")
        return Finding(
            rule_id=rule_id,
            scope=self.scope,
            outcome=outcome,
            message=message,
            action=action,
            evidence=evidence or [],
            recomputed=recomputed or {},
            claimed=claimed or {},
        )

    def band_unknown(self, rule_id: str) -> list[Finding]:
        """A FLAG when the run's declared A/A legs give no noise band: gating against the
        policy's default band would narrow it to a number nobody measured."""
        why = self.policy.noise_band_unknown
        if not why:
            return []
        return [
            self.finding(
                rule_id,
                "flag",
                f"noise band unknown: {why}; measure the A/A legs again (the "
                f"{self.policy.noise_band_pct:g}% default is not a measurement)",
                action="remeasure",
            )
        ]

    def too_few_reps(self, rule_id: str, legs: list[LegData]) -> list[Finding]:
        """A FLAG per compared leg with fewer counted reps than the policy's minimum (B3's): a
        gate's median of two reps is one rep's noise, and a deleted rep must not leave a gate
        that still passes on what is left."""
        n = self.policy.min_counted_reps
        return [
            self.finding(
                rule_id,
                "flag",
                f"leg {leg.leg_id} has {len(leg.counted)} counted rep(s); a gate weighs a delta "
                f"only on legs of at least {n} (the policy's minimum, as B3 holds the baseline to)",
                action="remeasure",
                evidence=[EvidencePointer(file=leg.bench_file)],
            )
            for leg in legs
            if leg.counted and len(leg.counted) < n
        ]

    def ok(self, rule_id: str, message: str, **kw: Any) -> list[Finding]:
        return [self.finding(rule_id, "pass", message, **kw)]

    def bad(self, rule_id: str, message: str, **kw: Any) -> list[Finding]:
        return [self.finding(rule_id, RULES[rule_id].violation, message, **kw)]

    def unchecked(self, rule_id: str, message: str, **kw: Any) -> list[Finding]:
        if self.imported and rule_id not in GUARDS:
            # another tool's format that never holds this evidence is no gap in the run: n/a,
            # shown in the coverage line; the rules that guard correctness and attribution
            # stay "cannot check" (FLAG) without it
            return [self.finding(rule_id, "n/a", f"no evidence for this in the imported format: {message}", **kw)]
        return [self.finding(rule_id, "unchecked", f"could not be checked: {message}", **kw)]

    def na(self, rule_id: str, message: str, **kw: Any) -> list[Finding]:
        return [self.finding(rule_id, "n/a", message, **kw)]

    def missing(self, rule_id: str, what: str, **kw: Any) -> list[Finding]:
        """Evidence the contract requires is absent: FAIL for a geak run, unchecked for an import."""
        if self.imported:
            return self.unchecked(rule_id, f"{what} (not present in the imported evidence)", **kw)
        return [
            self.finding(
                rule_id, "fail", f"{what}; the contract requires it, so the claim is unverifiable", action="eject", **kw
            )
        ]


def ptr(problem: Problem) -> EvidencePointer:
    return EvidencePointer(file=problem.file, line=problem.line, field=problem.field)


def leg_ptr(leg: LegData, fname: str = LAUNCH, field: str | None = None, line: int | None = None) -> EvidencePointer:
    # a reused server's log is its owner's file (loader.py): point where the bytes are
    f = leg.server_log_file if fname == SERVER_LOG and leg.server_log_file else f"{leg.dir}/{fname}"
    return EvidencePointer(file=f, field=field, line=line, record_id=leg.leg_id)
