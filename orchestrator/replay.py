"""`geak replay`: re-run a recorded run's graph from its recorded legs and LLM calls, with no
engine, and check that every decision and gate outcome is reproduced exactly; or, what-if, the
same under a changed policy, workflow, skill root or model (what_if.py diffs the decisions)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from collections.abc import Callable

from geak.auditor.evidence.layout import MANIFEST, RUN_ARGS, SUMMARY, WORKFLOW
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.store import RunStore
from geak.auditor.policy import AuditPolicy

from .events import RunEvent, RunSummary
from .run import RunArgs, RunError, copy_recorded_inputs, execute, load_args, skills_record
from .workflow_config import WorkflowConfig


def decisions_signature(run_dir: Path) -> list[dict[str, Any]]:
    """What a replay must reproduce: every decision (in order) and every gate's outcome."""
    run = RunEvidence(RunStore(run_dir))
    out = [d.model_dump(mode="json") for _, d in run.decisions]
    s, _ = RunStore(run_dir).read_json(SUMMARY, RunSummary)
    if s is not None:
        out.append(
            {
                "gates": [g.model_dump(mode="json") for g in s.gates],
                "banked": s.banked_decisions,
                "final_config": s.final_config,
            }
        )
    return out


def replay(
    src: Path,
    out: Path,
    on_event: Callable[[RunEvent], None] = lambda e: None,
    *,
    policy: Path | None = None,
    workflow: Path | None = None,
    skills: Path | None = None,
    llm: str | None = None,
    api_base: str | None = None,
    api_key_env: str | None = None,
) -> tuple[bool, list[str]]:
    """Re-run src's workflow from its recorded legs and LLM calls; (reproduced?, differences).

    What-if (any of ``policy``, ``workflow``, ``skills``, ``llm`` given): the same under the
    changed auditor policy, workflow, skill root (skills/ + prompts/) or model. With ``llm``
    the roles answer live through litellm over the recorded legs; without it they answer from
    the recording, so an edited skill needs ``llm`` (its prompts were never answered). A leg
    the recording lacks ends its branch as "not recorded"; the decision diff is written to
    OUT/what_if.json (see what_if.py) and the differences are the diff's lines."""
    src, out = Path(src), Path(out)
    recorded = load_args(src)
    wf_file, args, changed = _replay_args(
        src,
        out,
        recorded,
        policy=policy,
        workflow=workflow,
        skills=skills,
        llm=llm,
        api_base=api_base,
        api_key_env=api_key_env,
    )
    what_if = bool(changed)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copy(wf_file, out / WORKFLOW)
        RunStore(out).write_json(RUN_ARGS, args.model_dump(mode="json"))
        if skills is None:
            RunStore(out).write_text(MANIFEST, (src / MANIFEST).read_bytes())
        else:  # the replay's manifest says which skills its roles rendered from
            import json

            m = json.loads((src / MANIFEST).read_text())
            RunStore(out).write_json(MANIFEST, {**m, **skills_record(args.skills_root)})
        copy_recorded_inputs(RunStore(src), RunStore(out))
        execute(out, on_event=on_event)
        if what_if:
            from .what_if import decision_diff

            # the recording's own policy: what the what-if is compared against
            wi = decision_diff(
                src, out, changed, AuditPolicy.model_validate(recorded.policy) if recorded.policy else AuditPolicy()
            )
            RunStore(out).write_json("what_if.json", wi)
    except BaseException:
        # a replay that did not finish leaves nothing behind to be mistaken for one that did
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for p in out.iterdir():
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
        raise
    if what_if:
        return not any(g.changed for g in wi.gates), [_gate_line(g) for g in wi.gates if g.changed]
    want, got = decisions_signature(src), decisions_signature(out)
    diffs = []
    for i in range(max(len(want), len(got))):
        w = want[i] if i < len(want) else None
        g = got[i] if i < len(got) else None
        if w != g:
            diffs.append(f"record {i + 1}: " + _diff(w, g))
    return not diffs, diffs


def _replay_args(
    src: Path,
    out: Path,
    a: RunArgs,
    *,
    policy: Path | None,
    workflow: Path | None,
    skills: Path | None,
    llm: str | None,
    api_base: str | None,
    api_key_env: str | None,
) -> tuple[Path, RunArgs, dict[str, str]]:
    """(the workflow file to run, the replay's run args, what a what-if changed), or a RunError
    saying what is wrong with the recording, the changes or --out before anything is written."""
    for name in (WORKFLOW, MANIFEST):
        if not (src / name).is_file():
            raise RunError(f"{src / name}: missing; replay needs a run directory `geak run` wrote in full")
    wf_file = Path(workflow) if workflow is not None else src / WORKFLOW
    try:
        WorkflowConfig.load(wf_file)
    except ValueError as e:
        raise RunError(str(e)) from None
    pol = dict(a.policy)
    if policy is not None:
        try:
            pol = AuditPolicy.load(policy).model_dump()
        except (OSError, ValueError) as e:
            raise RunError(f"policy {policy}: {e}") from None
    if skills is not None:
        if llm is None:
            raise RunError(
                f"--skills {skills}: the recording's answers belong to the old prompts; add --llm MODEL "
                "(and --api-base) so the roles answer the edited ones"
            )
        from geak.agents.roles.skills import validate_all

        problems = (
            validate_all(skills)
            if Path(skills).is_dir()
            else [f"{skills} is not a directory (it must hold skills/ and prompts/)"]
        )
        if problems:
            raise RunError(f"--skills {skills}: " + "; ".join(problems[:5]))
    if out.exists() and not out.is_dir():
        raise RunError(f"{out} is a file: --out names the directory the replay creates")
    if out.exists() and any(out.iterdir()):
        raise RunError(f"{out} is not empty: replay writes a fresh run directory")
    changed = {
        k: str(v)
        for k, v in (("policy", policy), ("workflow", workflow), ("skills", skills), ("llm", llm))
        if v is not None
    }
    llm_args = (
        {
            "llm_mode": "live",
            "llm_model": llm,
            "api_base": api_base,
            "api_key_env": api_key_env,
            "llm_replay_from": None,
        }
        if llm is not None
        else {
            "llm_mode": "replay" if a.llm_mode != "none" else "none",
            "llm_replay_from": str(src.resolve()) if a.llm_mode != "none" else None,
        }
    )
    args = a.model_copy(
        update={
            "legs_from": str(src.resolve()),
            **llm_args,
            "policy": pol,
            "what_if": bool(changed),
            "skills_root": str(Path(skills).resolve()) if skills is not None else a.skills_root,
        }
    )
    return wf_file, args, changed


def _gate_line(g: Any) -> str:
    from .what_if import diff_row

    gate, rec, rep, rules, note = diff_row(g)
    return f"{gate}: {rec} -> {rep}" + (f"; rules {rules}" if g.rules else "") + (f"; {note}" if note else "")


def _diff(w: Any, g: Any, path: str = "") -> str:
    """The first few differing fields, dotted: what a user needs to see, not two JSON blobs."""
    if isinstance(w, list) and isinstance(g, list) and len(w) == len(g):
        parts = [_diff(a, b, f"{path}[{i}]") for i, (a, b) in enumerate(zip(w, g)) if a != b]
        return "; ".join(parts[:5]) + (f"; and {len(parts) - 5} more" if len(parts) > 5 else "")
    if isinstance(w, dict) and isinstance(g, dict):
        parts = [
            _diff(w.get(k), g.get(k), f"{path}.{k}" if path else k)
            for k in sorted(set(w) | set(g))
            if w.get(k) != g.get(k)
        ]
        return "; ".join(parts[:5]) + (f"; and {len(parts) - 5} more" if len(parts) > 5 else "")
    return f"{path or 'record'}: recorded {_short(w)}, replayed {_short(g)}"


def _short(x: Any) -> str:
    import json

    s = json.dumps(x, sort_keys=True)
    return s if len(s) < 200 else s[:200] + "..."
