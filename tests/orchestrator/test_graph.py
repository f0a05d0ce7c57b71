"""The workflow graph on the shipped recorded run (real vLLM-on-CPU legs, replayed; no engine).

runs/recorded/tiny-cpu-run was written by `geak run --workflow workflows/ci.yaml
--max-num-seqs 4 --use-auditor` on vLLM-on-CPU (see its README). These tests drive the same
graph over its recorded legs: replay, audit, the graph without auditor nodes, resume after a
kill, and the LLM roles through litellm against a local OpenAI-compatible server.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_openai import KEY_ENV
from scripted_roles import script

from geak.auditor.audit import audit_run
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import AuditVerdict
from geak.auditor.evidence.store import RunStore
from geak.orchestrator import replay as RP
from geak.orchestrator import run as R
from geak.orchestrator.events import RunEvent
from geak.orchestrator.workflow import build_graph
from geak.agents.runners.legs import LegReplayMiss, RecordedLegs

REPO = Path(__file__).resolve().parents[2]
REC = REPO / "runs" / "recorded" / "tiny-cpu-run"


def _args(**kw) -> R.RunArgs:
    a = R.load_args(REC)
    return a.model_copy(update={"legs_from": str(REC), **kw})


def _start(tmp_path: Path, name: str = "run", **kw) -> Path:
    out = tmp_path / name
    R.prepare(out, _args(**kw), REC / "workflow.yaml")
    return out


def _decisions(run: Path) -> list[dict]:
    return [d.model_dump(mode="json") for _, d in RunEvidence(RunStore(run)).decisions]


def _events(run: Path) -> list[RunEvent]:
    rows, probs = RunStore(run).read_jsonl("events.jsonl", RunEvent)
    assert probs == []
    return [e for _, e in rows]


def _summary(run: Path):
    from geak.orchestrator.events import RunSummary

    s, probs = RunStore(run).read_json("summary.json", RunSummary)
    assert s is not None, probs
    return s


# ---------------------------------------------------------------- structure


def _nodes(tmp_path: Path, use_auditor: bool) -> set[str]:
    out = _start(tmp_path, use_auditor=use_auditor)
    rt = R.runtime(out, R.load_args(out))
    return set(build_graph(rt).compile().get_graph().nodes)


def test_graph_without_auditor_has_no_auditor_nodes(tmp_path):
    assert not {n for n in _nodes(tmp_path, False) if n.startswith("audit")}


def test_graph_with_auditor_has_an_auditor_node_per_gate_kind(tmp_path):
    assert {"audit_baseline", "audit_config", "audit_bundle"} <= _nodes(tmp_path, True)


# ---------------------------------------------------------------- the shipped recording


def test_shipped_recording_completed_with_a_signed_bundle():
    s = _summary(REC)
    assert s.status == "complete"
    bundle = next(g for g in s.gates if g.gate_id == "bundle")
    v, _ = RunStore(REC).read_json("audits/bundle.json", AuditVerdict)
    assert v is not None and v.decision_id == bundle.decision_id
    assert bundle.verdict == v.verdict and bundle.banked == (v.verdict in ("PASS", "FLAG"))


def test_geak_audit_reverifies_the_shipped_recording(tmp_path):
    run = tmp_path / "rec"
    shutil.copytree(REC, run)
    recorded = {p.stem: json.loads(p.read_text())["verdict"] for p in (REC / "audits").glob("*.json")}
    fresh = {v.gate_id: v.verdict for v in audit_run(run)}
    # the latest decision of every gate re-audits to the verdict the run recorded for it
    assert fresh == {g: recorded[g] for g in fresh}


def test_replay_reproduces_every_decision_exactly(tmp_path):
    ok, diffs = RP.replay(REC, tmp_path / "replay")
    assert ok, diffs
    assert _decisions(tmp_path / "replay") == _decisions(REC)


def test_replay_reports_a_recording_whose_claims_were_edited(tmp_path):
    src = tmp_path / "edited"
    shutil.copytree(REC, src)
    lines = (src / "decisions.jsonl").read_text().splitlines()
    i = next(i for i, ln in enumerate(lines) if '"scope":"patch"' in ln.replace(" ", ""))
    d = json.loads(lines[i])
    d["claim"]["candidate_value"] = (d["claim"]["candidate_value"] or 0) * 2  # what a producer summary might say
    lines[i] = json.dumps(d)
    (src / "decisions.jsonl").write_text("\n".join(lines) + "\n")
    ok, diffs = RP.replay(src, tmp_path / "replay")
    assert not ok and any("candidate_value" in x for x in diffs)


def test_recorded_leg_with_other_knobs_is_a_clear_miss(tmp_path):
    from geak.agents.engines.base import LaunchConfig

    a = R.load_args(REC)
    cfg = LaunchConfig(**{**a.launch, "max_num_seqs": 999})
    with pytest.raises(LegReplayMiss, match=r"legs/baseline: recorded leg differs.*max_num_seqs.*999"):
        RecordedLegs(REC)(
            RunStore(tmp_path / "x"), leg_id="baseline", role="baseline", cfg=cfg, workload=a.workload, reps=3
        )


# ---------------------------------------------------------------- without the auditor


def test_graph_without_auditor_submits_what_the_audited_run_first_submitted(tmp_path):
    out = _start(tmp_path, use_auditor=False)
    R.execute(out)
    rec = {d["decision_id"]: d for d in _decisions(REC)}
    mine = _decisions(out)
    assert mine, "the producers submitted nothing"
    for d in mine:
        first = d["decision_id"]  # the same producers make the same first submission on the same legs
        assert rec.get(first) == d, f"{first} differs from the audited run's first submission"
    assert not (out / "audits").exists()
    assert all(g.verdict is None for g in _summary(out).gates)


# ---------------------------------------------------------------- resume


KILL_SCRIPT = """
import sys, time
from pathlib import Path
from geak.orchestrator import run as R
from geak.agents.runners.legs import RecordedLegs

class SlowConfigLegs(RecordedLegs):
    def __call__(self, store, **kw):
        if kw["leg_id"].startswith("cfg_"):
            print("IN_CONFIG_TUNING", flush=True)
            time.sleep(600)
        return super().__call__(store, **kw)

R.execute(Path(sys.argv[1]), legs=SlowConfigLegs(sys.argv[2]))
"""


def test_resume_after_a_kill_in_config_tuning_redoes_no_banked_leg(tmp_path):
    out = _start(tmp_path)
    p = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(out), str(REC)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        line = ""
        while time.time() < deadline and "IN_CONFIG_TUNING" not in line:
            line = p.stdout.readline()
            if not line and p.poll() is not None:
                break
        assert "IN_CONFIG_TUNING" in line, "the run never reached config tuning"
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)
    before = sorted(x.name for x in (out / "legs").iterdir())
    assert before and not any(n.startswith("cfg_") and (out / "legs" / n / "launch.json").exists() for n in before)
    legs = RecordedLegs(REC)
    s = R.execute(out, resume=True, legs=legs)
    assert s.status == "complete"
    assert not set(legs.served) & set(before), "a leg measured before the kill was measured again"
    assert any(x.startswith("cfg_") for x in legs.served)
    assert _decisions(out) == _decisions(REC)
    assert any(e.event == "resume" for e in _events(out))


def test_resume_of_a_finished_run_does_nothing(tmp_path):
    out = _start(tmp_path)
    R.execute(out)
    n = len(_decisions(out))
    s = R.execute(out, resume=True)
    assert s.status == "complete" and len(_decisions(out)) == n


def test_a_second_start_in_the_same_directory_is_refused(tmp_path):
    out = _start(tmp_path)
    with pytest.raises(R.RunError, match="--resume"):
        R.prepare(out, _args(), REC / "workflow.yaml")


# ---------------------------------------------------------------- LLM roles, live through litellm


_script = script


def _live(tmp_path, server, reply, llm_auditor=False) -> Path:
    server.script = [reply] * 200
    out = _start(
        tmp_path,
        llm_mode="live",
        llm_model="openai/test-model",
        api_base=server.api_base,
        api_key_env=KEY_ENV,
        llm_auditor=llm_auditor,
    )
    R.execute(out)
    return out


def _config_gate(run: Path):
    return next(g for g in _summary(run).gates if g.gate_id.startswith("config-"))


def test_llm_tuner_that_misreports_is_sent_back_and_banks_once_honest(tmp_path, llm_server):
    out = _live(tmp_path, llm_server, _script([1.5]))
    g = _config_gate(out)
    assert g.banked and g.attempts == 2 and g.verdict == "PASS"
    hist = sorted((out / "audits" / "history").glob(f"{g.gate_id}-*.json"))
    verdicts = [json.loads(p.read_text()) for p in hist]
    assert [v["verdict"] for v in verdicts] == ["FAIL", "PASS"]
    assert "P2" in {f["rule_id"] for f in verdicts[0]["findings"] if f["outcome"] == "fail"}
    # the producer saw the auditor's findings on its second attempt
    tuner_prompts = [
        r["body"]["messages"][0]["content"]
        for r in llm_server.requests
        if "geak role `config_tuner`" in r["body"]["messages"][0]["content"]
    ]
    assert "Verdict: **FAIL**" in tuner_prompts[1] and "P2" in tuner_prompts[1]


def test_llm_tuner_that_never_fixes_stops_at_the_bound_and_banks_nothing(tmp_path, llm_server):
    out = _live(tmp_path, llm_server, _script([1.5] * 10))
    g = _config_gate(out)
    wf = R.runtime(out, R.load_args(out)).phase("config_tune")
    assert not g.banked and g.attempts == wf.max_attempts and g.verdict == "FAIL"
    s = _summary(out)
    assert s.banked_decisions == [x for x in s.banked_decisions if x.startswith("d-baseline")]
    assert s.bundle_decision is None  # nothing banked: nothing validated or headlined
    assert s.final_config == R.load_args(out).launch


def test_llm_auditor_returning_garbage_leaves_the_code_floor_s_verdict_and_is_recorded(tmp_path, llm_server):
    # the judgment may only escalate: when it fails, the deterministic verdict stands (here PASS), said
    out = _live(tmp_path, llm_server, _script([], auditor="I think it is probably fine!"), llm_auditor=True)
    g = _config_gate(out)
    assert g.banked and g.verdict == "PASS" and "LLM auditor failed" in (g.unaudited_reason or "")
    v = json.loads((out / "audits" / f"{g.gate_id}.json").read_text())
    assert v["verdict"] == "PASS" and v["findings"] and "deterministic verdict stands" in v["unaudited_reason"]
    assert any(
        e.event == "audit" and e.gate_id == g.gate_id and "LLM auditor failed" in e.message for e in _events(out)
    )
    calls = [json.loads(x) for x in (out / "llm_calls.jsonl").read_text().splitlines()]
    assert any(c["role"] == "patch_auditor" and c.get("error") for c in calls)


def test_llm_calls_never_hold_the_key(tmp_path, llm_server):
    out = _live(tmp_path, llm_server, _script([]))
    assert "sk-graphtest-0123456789abcdef" not in "".join(
        p.read_text(errors="replace") for p in out.rglob("*") if p.is_file() and p.suffix != ".sqlite"
    )


def test_llm_run_replays_with_no_server(tmp_path, llm_server):
    out = _live(tmp_path, llm_server, _script([1.5]))
    llm_server.stop()
    ok, diffs = RP.replay(out, tmp_path / "replayed")
    assert ok, diffs


def test_llm_tuner_whose_answer_never_validates_is_rejected_and_nothing_banked(tmp_path, llm_server):
    out = _live(tmp_path, llm_server, _script([], tuner='{"gate_id": "x", "knob": 7}'))
    g = _config_gate(out)
    assert not g.banked and g.attempts == 0 and g.note == "withdrawn by the producer"
    assert any(e.event == "error" and "config_tuner: answer rejected (InvalidOutput" in e.message for e in _events(out))
    assert _summary(out).status == "complete"


# ---------------------------------------------------------------- the profile phase


def test_profile_phase_routes_from_the_trace_and_the_profile_gate_audits_it(tmp_path):
    """The recorded legs plus a real vLLM-on-CPU trace (tests/data/profile) as profile round_1."""
    import yaml
    from fixture_traces import trace_gz

    src = tmp_path / "src"
    shutil.copytree(REC, src)
    (src / "profile" / "round_1").mkdir(parents=True)
    trace_gz("vllm_cpu_tiny.trace", src / "profile" / "round_1" / "trace.json.gz")
    wf = yaml.safe_load((REC / "workflow.yaml").read_text())
    for ph in wf["phases"]:
        if ph["name"] == "profile":
            ph["passthrough"] = False
    (src / "workflow.yaml").write_text(yaml.safe_dump(wf, sort_keys=False))
    out = tmp_path / "run"
    R.prepare(out, R.load_args(REC).model_copy(update={"legs_from": str(src)}), src / "workflow.yaml")
    R.execute(out)
    claim = json.loads((out / "profile" / "round_1" / "routing.json").read_text())
    assert claim["breakdown"]["gemm"] > 0.3  # oneDNN GEMMs lead on this model (helper-measured 57% live)
    v = json.loads((out / "audits" / "profile-1.json").read_text())
    assert v["verdict"] is not None and {f["rule_id"] for f in v["findings"]} >= {"R1", "R2", "R3"}
    g = next(g for g in _summary(out).gates if g.gate_id == "profile-1")
    assert g.verdict == v["verdict"] and g.note
    assert "profile" not in _summary(out).passthrough
