"""A new engine is two files (issue 35): an adapter (how geak launches and drives it) and a
dialect (how the auditor reads what it wrote). The stub engine of tests/data/stub_engine/ is
added from exactly those two files, nothing else of geak changes, and a real leg runs through
it (a real server process on a free port, its own client, its own /metrics) and is audited."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from geak.agents.engines.base import LaunchConfig, get_engine
from geak.agents.engines.leg import LegSpec, run_leg
from geak.auditor.audit import audit_run
from geak.auditor.evidence import dialects
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import Decision, WorkloadSpec
from geak.auditor.evidence.store import RunStore
from geak.orchestrator.manifest import ensure_manifest, pin_invariants

STUB = Path(__file__).resolve().parents[2] / "data" / "stub_engine"
WORKLOAD = WorkloadSpec(dataset="random", num_prompts=20, input_len=6, output_len=5, max_concurrency=1, seed=0)


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"geak_test_{name}", STUB / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_an_unknown_engine_names_the_known_ones():
    with pytest.raises(KeyError, match="known: sglang, vllm"):
        dialects.get("nosuch")
    with pytest.raises(KeyError, match="known engines: .*vllm"):
        get_engine("nosuch")


@pytest.fixture(scope="module")
def stub_run(tmp_path_factory):
    _load("stub_dialect")
    _load("stub_adapter")
    assert "stub" in dialects.known() and get_engine("stub").name == "stub"
    store = RunStore(tmp_path_factory.mktemp("stub") / "run")
    cfg = LaunchConfig(model="stub-words", max_num_seqs=4)
    ensure_manifest(store, run_id="stub-test", engine="stub", cfg=cfg, workload=WORKLOAD)
    for leg_id, role in (("aa_1", "aa"), ("aa_2", "aa"), ("baseline", "baseline")):
        res = run_leg(store, "stub", LegSpec(leg_id, role, cfg, WORKLOAD, reps=3))
        assert res.status == "ok", res.reason
    assert pin_invariants(store, "aa_1") == {"model": "stub-words"}  # the invariants its dialect names
    store.append_jsonl(
        "decisions.jsonl",
        Decision(decision_id="d-b", gate_id="baseline", scope="baseline", producer="test", reference_legs=["baseline"]),
    )
    yield store
    from geak.agents.engines.base import ENGINES

    ENGINES.pop("stub", None)
    dialects.unregister("stub")


def test_a_leg_runs_through_the_two_files(stub_run):
    run = RunEvidence(stub_run)
    leg = run.leg("baseline")
    assert not leg.problems and not leg.mismatches and len(leg.counted) == 3 and len(leg.warmups) == 1, (
        leg.problems + leg.mismatches
    )
    assert {r.rep.tool for r in leg.counted} == {"stub-bench"}  # normalized in the stub's dialect
    # its config answer, flattened by its dialect; its log lines name the lifetime
    assert leg.launch.resolved_config["stub_config.max_batch"] == 4
    ids = run.lifetimes
    assert ids["aa_1"].pid and ids["aa_1"].port and not ids["aa_1"].same(ids["aa_2"])
    # the engine's own counters, read by the stub's metric names, bracket every counted rep
    windows = [w.window for w in leg.witness]
    assert len(windows) == 4 and all(w is not None for w in windows), [w.problem for w in leg.witness]
    assert all(w.counters["requests"] == 20 and w.counters["generation_tokens"] == 100 for w in windows)


def test_the_auditor_reads_the_new_engine_like_a_built_in_one(stub_run):
    v = next(v for v in audit_run(stub_run.root, write=False) if v.gate_id == "baseline")
    got = {f.rule_id: f.outcome for f in v.findings}
    assert got.get("W1") == "pass", [f.message for f in v.findings if f.rule_id == "W1"]  # the second witness agrees
    assert got.get("E1", "pass") == "pass" and got.get("P1", "pass") == "pass", [
        (f.rule_id, f.message) for f in v.findings
    ]
    # the band comes from its two A/A lifetimes: the per-launch boot_id (its dialect's ignored key) is no
    # confound, and the two logs name two lifetimes. (A busy host makes the band unknown, rightly: the
    # suite's own neighbours on a 2-core CI machine can do that to reps of ~10 ms.)
    unknown = v.policy.get("noise_band_unknown") or ""
    assert v.policy["noise_band_source"] == "measured A/A legs" or "contended" in unknown, v.policy
    assert "one server lifetime" not in unknown and "unusable" not in unknown, unknown
    # reps of ~10 ms can FLAG on a busy machine; nothing of the new engine's evidence fails
    assert v.verdict in ("PASS", "FLAG") and not [f for f in v.findings if f.outcome == "fail"], [
        (f.rule_id, f.outcome, f.message) for f in v.findings if f.outcome != "pass"
    ]


def test_it_is_the_dialect_that_reads_them(stub_run):
    """Without the stub's dialect the same bytes say nothing: its metric names and log lines are
    known to no other engine (so the test above is not passing on vLLM's reading)."""
    stub = dialects.get("stub")
    dialects.unregister("stub")
    try:
        run = RunEvidence(stub_run)
        assert all(not (w.window and w.window.counters) for w in run.leg("baseline").witness)
        assert run.lifetimes["aa_1"].pid is None and run.lifetimes["aa_1"].port is None
    finally:
        dialects.register(stub)
    assert RunEvidence(stub_run).lifetimes["aa_1"].pid is not None
