"""Backtest the auditor against answer keys. Blind: the auditor sees only ``<case>/run``.

A case is a directory holding ``key.yaml`` and, beside it, ``run/`` (a run directory); the key
stays outside the run, so the auditor never reads it:

    gates: {<gate_id>: {verdict: FAIL|FLAG|PASS, rules: [P4, ...], why: ...}}
    default_verdict: PASS        # every gate not listed
    run: ../../recorded/NAME     # optional: the run lives elsewhere (a real recorded run,
                                 # labelled by hand by whoever recorded it), relative to key.yaml

Scoring. Per gate: expected vs actual verdict (confusion table; UNAUDITED when the
auditor produced none). Per rule: a rule "fires" on a gate when it has a fail or flag
finding there; a key rule that fires is a true positive, a key rule that does not is a
false negative, a firing rule the key does not list is a false positive.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from .audit import audit_run
from .runpack import resolve_run
from .policy import AuditPolicy

VERDICTS = ("PASS", "FLAG", "FAIL", "UNAUDITED")


class GateResult(BaseModel):
    case: str
    gate_id: str
    expected: str
    actual: str
    expected_rules: list[str]
    fired_rules: list[str]

    @property
    def ok(self) -> bool:
        return self.expected == self.actual and set(self.expected_rules) <= set(self.fired_rules)


class RuleScore(BaseModel):
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


class BacktestReport(BaseModel):
    gates: list[GateResult] = Field(default_factory=list)
    rules: dict[str, RuleScore] = Field(default_factory=dict)
    confusion: dict[str, dict[str, int]] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)

    @property
    def recall(self) -> float | None:
        tp = sum(r.tp for r in self.rules.values())
        fn = sum(r.fn for r in self.rules.values())
        return tp / (tp + fn) if tp + fn else None

    @property
    def precision(self) -> float | None:
        tp = sum(r.tp for r in self.rules.values())
        fp = sum(r.fp for r in self.rules.values())
        return tp / (tp + fp) if tp + fp else None

    @property
    def false_fail_rate(self) -> float | None:
        """Share of gates expected not to FAIL that the auditor FAILed."""
        neg = [g for g in self.gates if g.expected != "FAIL"]
        return sum(g.actual == "FAIL" for g in neg) / len(neg) if neg else None

    @property
    def verdict_accuracy(self) -> float | None:
        return sum(g.expected == g.actual for g in self.gates) / len(self.gates) if self.gates else None


def load_key(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not isinstance(data.get("gates", {}), dict):
        raise ValueError(f"{path}: expected a mapping with 'gates: {{gate_id: {{verdict, rules}}}}'")
    for g, spec in data.get("gates", {}).items():
        if not isinstance(spec, dict) or spec.get("verdict") not in ("PASS", "FLAG", "FAIL"):
            raise ValueError(f"{path}: gates.{g}.verdict must be PASS, FLAG or FAIL")
    return data


def find_cases(cases_dir: Path) -> list[Path]:
    return sorted(p.parent for p in cases_dir.glob("*/key.yaml"))


def case_run(case: Path, key: dict[str, Any]) -> Path:
    """The run a key labels: ``run/`` beside it, or the key's ``run:`` path (relative to the key)."""
    rel = key.get("run", "run")
    if not isinstance(rel, str) or not rel:
        raise ValueError(f"{case / 'key.yaml'}: run must be a path relative to the key, got {rel!r}")
    # a shipped recording is an archive beside the path the key names (runs/recorded/NAME.tar.xz)
    run = resolve_run((case / rel).resolve())
    if not run.is_dir():
        raise ValueError(f"{case / 'key.yaml'}: run {rel!r} is not a directory ({run})")
    return run


def backtest(cases_dirs: str | Path | list[Path], policy: AuditPolicy | None = None) -> BacktestReport:
    """Score every case under each of ``cases_dirs`` (a case's name is its directory's)."""
    dirs = [Path(d) for d in (cases_dirs if isinstance(cases_dirs, list) else [cases_dirs])]
    report = BacktestReport()
    rules: dict[str, RuleScore] = defaultdict(RuleScore)
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    cases = [c for d in dirs for c in find_cases(d)]
    # a rule the key names that could not be checked FLAGs the gate (unchecked_is_flag): it
    # fired. Other rules left unchecked by a flaw elsewhere are not scored.
    unchecked_fires = (policy or AuditPolicy()).unchecked_is_flag
    if not cases:
        report.problems.append(f"{', '.join(map(str, dirs))}: no case directories (each needs key.yaml and run/)")
    for case in cases:
        try:
            key = load_key(case / "key.yaml")
            run = case_run(case, key)
        except (ValueError, yaml.YAMLError) as e:
            report.problems.append(str(e))
            continue
        default = key.get("default_verdict", "PASS")
        verdicts = {v.gate_id: v for v in audit_run(run, policy=policy, write=False)}
        gates = set(verdicts) | set(key.get("gates", {}))
        for gate_id in sorted(gates):
            spec = key.get("gates", {}).get(gate_id, {"verdict": default, "rules": []})
            v = verdicts.get(gate_id)
            actual = (v.verdict or "UNAUDITED") if v else "UNAUDITED"
            exp_rules = list(spec.get("rules", []))
            fired = (
                sorted(
                    {
                        f.rule_id
                        for f in v.findings
                        if f.outcome in ("fail", "flag")
                        or (unchecked_fires and f.outcome == "unchecked" and f.rule_id in exp_rules)
                    }
                )
                if v
                else []
            )
            report.gates.append(
                GateResult(
                    case=case.name,
                    gate_id=gate_id,
                    expected=spec["verdict"],
                    actual=actual,
                    expected_rules=exp_rules,
                    fired_rules=fired,
                )
            )
            confusion[spec["verdict"]][actual] += 1
            for r in exp_rules:
                if r in fired:
                    rules[r].tp += 1
                else:
                    rules[r].fn += 1
            for r in fired:
                if r not in exp_rules:
                    rules[r].fp += 1
    report.rules = dict(rules)
    report.confusion = {e: {a: confusion[e][a] for a in VERDICTS} for e in VERDICTS[:3]}
    return report
