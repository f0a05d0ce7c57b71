"""A prompt state built from a run directory (`geak skills render ROLE --run RUN`): what a role
would be shown at one of the run's gates, from its files, with the sample state's keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geak.auditor.evidence.store import RunStore

from .skills import SkillError, load_sample_state
from geak.auditor.evidence.layout import (
    DECISIONS,
    LAUNCH,
    MANIFEST,
    OPBENCH,
    ROUTING,
    leg_dir,
    leg_file,
    op_dir,
    op_file,
    profile_dir,
    profile_file,
)


def _read_json(store: RunStore, rel: str) -> Any:
    """A run file as JSON through the run's store (confined to the run, regular files only), or
    None: a prompt state shows what is there and leaves the rest null."""
    data, _ = store.read_evidence(rel)
    try:
        return json.loads(data) if data is not None else None
    except ValueError:
        return None


def _files_under(run: Path, rel: str, limit: int = 400) -> list[str]:
    base = run / rel
    if base.is_file() and not base.is_symlink():
        return [rel]
    if not base.is_dir() or base.is_symlink():
        return []
    return sorted(p.relative_to(run).as_posix() for p in base.rglob("*") if p.is_file() and not p.is_symlink())[:limit]


def _pointer(e: Any) -> str:
    """An evidence pointer (dict as stored in audits/*.json) as one string: file:line#record [field]."""
    if not isinstance(e, dict):
        return str(e)
    out = str(e.get("file") or "?")
    if e.get("line") is not None:
        out += f":{e['line']}"
    if e.get("record_id"):
        out += f"#{e['record_id']}"
    if e.get("field"):
        out += f" [{e['field']}]"
    return out


def _finding_row(f: Any) -> dict[str, Any]:
    return {
        "rule_id": f.rule_id,
        "scope": f.scope,
        "outcome": f.outcome,
        "action": f.action,
        "message": f.message,
        "evidence": [str(e) for e in f.evidence],
        "recomputed": f.recomputed,
        "claimed": f.claimed,
    }


def state_from_run(
    run_dir: str | Path, gate: str | None = None, *, audit: bool = False, root: str | Path | None = None
) -> dict[str, Any]:
    """A state dict with every field of sample_state.yaml, filled from a run directory.

    manifest.json -> run fields; the gate's latest decision in decisions.jsonl -> gate fields
    (gate None: the last decision); ``audit`` -> deterministic findings from
    ``geak.auditor.audit.audit_run(run_dir, gate=..., write=False)``. What a run directory does not
    hold (a strategy, a budget) stays null.
    """
    from geak.auditor.api import latest_per_gate
    from geak.auditor.evidence.loader import RunEvidence
    from geak.auditor.policy import AuditPolicy

    run = Path(run_dir)
    if not (run / MANIFEST).is_file() and not (run / DECISIONS).is_file():
        raise FileNotFoundError(f"{run}: not a run directory (no manifest.json or decisions.jsonl)")
    try:
        sample_keys = list(load_sample_state(root))
    except SkillError:
        sample_keys = []
    state: dict[str, Any] = {k: None for k in sample_keys}

    store = RunStore(run)
    ev = RunEvidence(store)
    manifest = ev.manifest
    if manifest is not None:
        state.update(
            run_id=manifest.run_id,
            model=manifest.model,
            engine=manifest.engine,
            workload=manifest.workload.model_dump() if manifest.workload else None,
            invariants=manifest.invariants or {},
        )
    else:
        state["run_id"] = run.name
    state["noise_band_pct"] = AuditPolicy().noise_band_pct

    latest = latest_per_gate(ev.decisions)
    if gate is None and ev.decisions:
        gate = ev.decisions[-1][1].gate_id
    if gate is not None and gate not in latest:
        raise KeyError(f"gate {gate!r} has no decision in {run / DECISIONS}; gates: {', '.join(latest) or '(none)'}")
    if "baseline" in latest:
        bl = latest["baseline"][1]
        state["baseline"] = {"gate_id": bl.gate_id, "legs": bl.reference_legs, "claim": bl.claim.model_dump()}

    if gate is not None:
        files = _gate_fields(state, store, run, gate, latest[gate])
        if audit:
            files += _audit_fields(state, run, gate)
        state["evidence_files"] = sorted(dict.fromkeys(f for f in files if (run / f).exists()))
    return state


def _gate_fields(state: dict[str, Any], store: RunStore, run: Path, gate: str, latest: tuple[int, Any]) -> list[str]:
    """The gate's decision, profile, op record, config and prior audit into ``state``; the files they came from."""
    from geak.auditor.api import audit_file

    line, d = latest
    state.update(
        gate_id=gate,
        scope=d.scope,
        decision={**d.model_dump(), "line": line},
        op=d.op,
        accepted_decisions=list(d.accepted_decisions),
    )
    files = [MANIFEST, DECISIONS]
    for leg in [*d.reference_legs, *d.candidate_legs, *d.audit_legs]:
        files += _files_under(run, leg_dir(leg))
    rnd = d.profile_round
    if rnd:
        files += _files_under(run, profile_dir(rnd))
        routing = _read_json(store, profile_file(rnd, ROUTING))
        if isinstance(routing, dict):
            state["profile"] = {
                "round": rnd,
                "trace_file": routing.get("trace_file"),
                "breakdown": routing.get("breakdown"),
            }
            state["routing"] = {"routed": routing.get("routed"), "skipped": routing.get("skipped")}
    if d.op:
        files += _files_under(run, op_dir(d.op))
        ob = _read_json(store, op_file(d.op, OPBENCH))
        if ob is not None:
            state["opbench"] = ob
    if d.reference_legs:
        launch = _read_json(store, leg_file(d.reference_legs[0], LAUNCH))
        if isinstance(launch, dict):
            state["current_config"] = launch.get("launch_config")
    # the auditor's one name for the gate's verdict file (a sanitized id alone would read another
    # gate's verdict for ids that differ only in the characters it replaces)
    prior = _read_json(store, audit_file(gate))
    if isinstance(prior, dict) and prior.get("gate_id") == gate:
        state["audit_feedback"] = {
            "gate_id": prior.get("gate_id"),
            "verdict": prior.get("verdict"),
            "actions": prior.get("actions") or [],
            "unaudited_reason": prior.get("unaudited_reason"),
            "findings": [
                {**f, "evidence": [_pointer(e) for e in f.get("evidence") or []]}
                for f in prior.get("findings") or []
                if isinstance(f, dict)
            ],
        }
    return files


def _audit_fields(state: dict[str, Any], run: Path, gate: str) -> list[str]:
    """The deterministic auditor's verdict on the gate, now, into ``state``; the evidence files it cites."""
    from geak.auditor.api import audit_run

    verdicts = [v for v in audit_run(run, gate=gate, write=False) if v.gate_id == gate]
    if not verdicts:
        return []
    v = verdicts[0]
    state["deterministic_verdict"] = v.verdict or "UNAUDITED"
    state["deterministic_findings"] = [_finding_row(f) for f in v.findings]
    if v.unaudited_reason:
        state["deterministic_findings"].append(
            {
                "rule_id": "-",
                "scope": v.scope,
                "outcome": "unchecked",
                "action": "flag",
                "message": v.unaudited_reason.splitlines()[0],
                "evidence": [],
                "recomputed": {},
                "claimed": {},
            }
        )
    if isinstance(v.policy.get("noise_band_pct"), (int, float)):
        state["noise_band_pct"] = v.policy["noise_band_pct"]
    return [e.file for f in v.findings for e in f.evidence if e.file]
