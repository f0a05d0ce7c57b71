"""The kernel track of `geak run` without an engine: runs/recorded/tiny-cpu-kernel (a real
vLLM-on-CPU run of tests/data/graph/kernel.yaml: profile -> routed silu_and_mul -> harness gate
-> plugin -> parity probe -> e2e legs -> patch gate) replayed, and driven by a kernel author
through litellm against a local OpenAI-compatible server, with the op harness run for real on
the author's candidates (a subprocess on this CPU) and the legs served from the recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai import KEY_ENV, FakeOpenAI
from scripted_roles import honest as _honest, role as _role
from test_graph import _events, _summary

from geak.orchestrator import replay as RP
from geak.orchestrator import run as R
from geak.agents.runners.legs import LegReplayMiss
from geak.agents.runners.op_runners import LiveHarness

REPO = Path(__file__).resolve().parents[2]
KREC = REPO / "runs" / "recorded" / "tiny-cpu-kernel"
OP = "silu_and_mul"
TEMPLATE_SRC = (REPO / "agents" / "kernels" / "templates" / "cpu.py").read_text()
# forgets the SiLU: the harness's correctness check and oracle must reject it
WRONG_SRC = "import torch\n\n\ndef silu_and_mul(x):\n    d = x.shape[-1] // 2\n    return x[..., :d] * x[..., d:]\n"


@pytest.fixture(scope="module", autouse=True)
def _the_recorded_trace_read_once():
    """Every run of this module (two replays, three kernel-author runs) profiles from the same
    recorded trace, byte for byte, and reads it three or four times a run (the profile phase, R1,
    H12, P8): 59 MB of JSON each time, then the op breakdown over its 136k events, the same
    every time. Here each distinct byte string is parsed once, and the breakdown of those events
    computed once (a deep copy handed out); the rest (routing, shares, the engine yardstick, every
    gate) runs on every read, and nothing writes to the events. A test run alone computes it all.
    Parsing and the breakdown themselves: tests/agents/test_profiler.py,
    tests/agents/engines/test_profile_real.py, tests/orchestrator/test_run_real.py."""
    import hashlib

    from geak.agents import profiler
    from geak.auditor.checks import harness_served, profile

    def parse_once(parse):
        seen: dict[bytes, list] = {}

        def once(src):
            raw = src if isinstance(src, bytes) else Path(src).read_bytes()
            key = hashlib.sha256(raw).digest()
            if key not in seen:
                seen[key] = parse(src)
            return seen[key]

        return once

    breakdown, computed = profiler.op_breakdown, {}

    def breakdown_once(trace_path, *, max_shapes=24, events=None):
        if events is None:
            return breakdown(trace_path, max_shapes=max_shapes)
        key = (id(events), max_shapes)  # the events a parse above keeps alive: their id stays theirs
        if key not in computed:
            computed[key] = (events, breakdown(trace_path, max_shapes=max_shapes, events=events))
        return computed[key][1].model_copy(deep=True)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(profiler, "load_events", parse_once(profiler.load_events))
        mp.setattr(profiler, "op_breakdown", breakdown_once)
        trace = parse_once(profile.load_trace)
        mp.setattr(profile, "load_trace", trace)
        mp.setattr(harness_served, "load_trace", trace)
        yield


def _kstart(tmp_path: Path, **kw) -> Path:
    import yaml

    a = R.load_args(KREC).model_copy(update={"legs_from": str(KREC), **kw})
    wf = yaml.safe_load((KREC / "workflow.yaml").read_text())
    wf["budgets"]["llm_calls"] = 50  # the recording ran with --llm none and a budget of 0
    (tmp_path / "kernel.yaml").write_text(yaml.safe_dump(wf))
    out = tmp_path / "krun"
    R.prepare(out, a, tmp_path / "kernel.yaml")
    return out


def _gates(run: Path) -> dict:
    return {g.gate_id: g for g in _summary(run).gates}


def test_recorded_kernel_run_is_complete_and_every_kernel_gate_audited():
    g = _gates(KREC)
    assert g[f"harness-{OP}"].verdict == "PASS"
    k = g[f"kernel-{OP}"]
    assert k.verdict is not None and (KREC / "audits" / f"kernel-{OP}.json").exists()
    probe = json.loads((KREC / "legs" / f"kcand_{OP}" / "parity_probe.json").read_text())
    assert probe["reference_leg"] == f"kref_{OP}" and not probe["ejected"]


def test_replay_reproduces_the_kernel_track(tmp_path):
    ok, diffs = RP.replay(KREC, tmp_path / "replayed")
    assert ok, diffs
    assert _gates(tmp_path / "replayed")[f"kernel-{OP}"].verdict == _gates(KREC)[f"kernel-{OP}"].verdict
    # the recorded template is slower than the served baseline at every timed shape: said, and no win claimed
    lost = [
        e.message for e in _events(tmp_path / "replayed") if e.event == "withdraw" and "served baseline" in e.message
    ]
    assert lost and "no isolated win is claimed" in lost[0] and "(0.8" in lost[0], lost


@pytest.fixture(scope="module")
def authored(tmp_path_factory):
    """One kernel-author run shared by the tests that read it: a wrong first candidate, then the
    template's exact bytes (so the recorded legs ran this very code). The server is stopped after."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, "sk-kerneltest-0123456789abcdef")
        s = FakeOpenAI()
        try:
            out, state = _run_llm(tmp_path_factory.mktemp("authored"), s, [WRONG_SRC, TEMPLATE_SRC])
        finally:
            s.stop()
    return out, state


def _author_script(sources: list[str]):
    """The kernel author answers the given sources in turn; the integrator answers honestly."""
    state = {"n": 0, "author_prompts": []}

    def reply(body, headers):
        role = _role(body)
        if role == "kernel_author":
            i = min(state["n"], len(sources) - 1)
            state["n"] += 1
            state["author_prompts"].append(next(m["content"] for m in body["messages"] if m["role"] == "user"))
            return json.dumps(
                {
                    "name": f"silu_v{i}",
                    "language": "torch",
                    "entry_point": "silu_and_mul",
                    "source": sources[i],
                    "expected_speedup": {"basis": "one read + one write, bandwidth bound", "value": 1.0},
                }
            )
        if role == "integrator":
            h = _honest(body)
            return json.dumps(
                {
                    "gate_id": f"kernel-{OP}",
                    "op": OP,
                    "candidate": "silu",
                    "declared_knobs": ["PYTHONPATH", "VLLM_PLUGINS"],
                    "declared_levers": {"PYTHONPATH": "kernel", "VLLM_PLUGINS": "kernel"},
                    **h,
                    "withdraw": h["claim"]["delta_pct"] <= 0,
                }
            )
        raise AssertionError(role)

    return reply, state


def _run_llm(tmp_path, server, sources):
    reply, state = _author_script(sources)
    server.script = [reply] * 50
    out = _kstart(
        tmp_path,
        llm_mode="live",
        llm_model="openai/test-model",
        api_base=server.api_base,
        api_key_env=KEY_ENV,
        llm_auditor=False,
    )
    R.execute(out, harness=LiveHarness())
    return out, state


def test_a_rejected_candidate_goes_back_to_its_author_with_the_findings(authored):
    out, state = authored
    hist = sorted((out / "audits" / "history").glob(f"harness-{OP}-*.json"))
    assert [json.loads(p.read_text())["verdict"] for p in hist] == ["FAIL", "PASS"]
    assert (
        "FAIL" in state["author_prompts"][1] and "silu_v0" in state["author_prompts"][1]
    )  # the findings reached the author
    assert (out / "kernels" / OP / "silu_v0_a0.py").read_text() == WRONG_SRC
    assert list((out / "ops" / "_attempts").glob(f"{OP}-*/opbench.json")), "the first attempt's record is kept"
    # the passing candidate has the template's bytes: the recorded legs ran this very code, and the
    # call marker names it by content, so engagement and parity hold for the author's file
    v = json.loads((out / "audits" / f"kernel-{OP}.json").read_text())
    outcome = {f["rule_id"]: f["outcome"] for f in v["findings"]}
    assert v["verdict"] is not None and outcome["P5"] == "pass" and outcome["P10"] == "pass"


def test_an_authored_kernel_run_replays_attempt_by_attempt_with_no_server(tmp_path, authored):
    out, _ = authored  # its LLM server is already stopped
    ok, diffs = RP.replay(out, tmp_path / "replayed")
    assert ok, diffs


def test_a_candidate_the_recording_never_measured_is_a_replay_miss(tmp_path, llm_server):
    other = TEMPLATE_SRC + "\n# a different file: a different kernel as far as the legs know\n"
    with pytest.raises(LegReplayMiss, match="kernel plugin differs"):
        _run_llm(tmp_path, llm_server, [other])


def test_author_that_never_passes_the_harness_stops_at_the_bound(tmp_path, llm_server):
    out, _ = _run_llm(tmp_path, llm_server, [WRONG_SRC])
    g = _gates(out)[f"harness-{OP}"]
    assert g.verdict == "FAIL" and g.attempts == 2 and f"kernel-{OP}" not in _gates(out)
    assert not (out / "legs" / f"kcand_{OP}").exists(), "a candidate the harness rejected never reaches the server"
    assert any(e.event == "withhold" and e.gate_id == f"harness-{OP}" for e in _events(out))
