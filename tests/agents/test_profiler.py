"""The profiler on a real vLLM-on-CPU trace: breakdown, routing, and the profile gate (R1-R3)
re-deriving the same numbers from the same raw file."""

import shutil
import tempfile
from pathlib import Path

import pytest

from fixture_traces import PROFILE, trace_gz
from geak.agents.profiler import op_breakdown
from geak.agents.routing import VLLM_EDITABLE, route
from geak.auditor.audit import audit_run
from geak.auditor.checks.profile import family_shares, load_trace, op_family, self_times_us
from geak.auditor.evidence.models import Decision, ProfileClaim, RoutedOp
from geak.auditor.evidence.store import RunStore

FIXTURE = PROFILE / "vllm_cpu_tiny.trace.json.xz"
TRACE = trace_gz("vllm_cpu_tiny.trace", Path(tempfile.mkdtemp(prefix="geak-trace-")) / "vllm_cpu_tiny.trace.json.gz")
ATTENTION = {"attention": "vllm.v1.attention.backends.cpu_attn (attention backend registry)"}


@pytest.fixture(scope="module")
def bd():
    return op_breakdown(TRACE)


def test_fixture_is_small_and_real():
    assert FIXTURE.stat().st_size < 200_000
    ev = load_trace(TRACE.read_bytes())
    assert {e.get("cat") for e in ev if e.get("ph") == "X"} >= {"cpu_op", "user_annotation"}
    assert any(e.get("name") == "_C::onednn_mm" for e in ev)


def test_cpu_breakdown_families_shapes_dtypes(bd):
    assert bd.source == "cpu_ops"
    shares = bd.shares()
    assert list(shares)[0] == "gemm" and 0.35 < shares["gemm"] < 0.55
    assert {"gemm", "attention", "compiled_region"} <= set(list(shares)[:4])
    assert abs(sum(shares.values()) - 1) < 1e-9
    # op time is a part of the step time (the rest is host glue in vLLM's step annotations)
    assert bd.step_us and 0.5 < bd.total_us / bd.step_us < 1.0
    gemm = bd.family("gemm")
    assert gemm.ops and next(iter(gemm.ops)) == "_C::onednn_mm" and gemm.calls > 0
    assert gemm.dtypes == ["bf16"]
    assert all(len(s.input_dims[0]) == 2 and s.input_dims[0][1] in (64, 128, 384, 512, 1024) for s in gemm.shapes)
    att = bd.family("attention")
    assert {"_C::cpu_attention_with_kv_cache", "vllm::unified_kv_cache_update"} <= set(att.ops)
    # nested calls of one family count once: unified_attention_with_output wraps cpu_attention_with_kv_cache
    assert att.calls < sum(1 for e in load_trace(TRACE.read_bytes()) if op_family(str(e.get("name"))) == "attention")
    assert bd.family("compiled_region").self_us > 0


def test_breakdown_agrees_with_the_auditors_reaggregation(bd):
    a = family_shares(self_times_us(load_trace(TRACE.read_bytes())))
    assert list(a) == list(bd.shares())
    for fam, share in a.items():
        assert share == pytest.approx(bd.shares()[fam], abs=1e-9)


def test_route_default_templates_routes_nothing_and_says_why(bd):
    # with torch.compile on, rmsnorm/silu/rotary are fused: no template family is visible
    r = route(bd, VLLM_EDITABLE)
    assert r.routed == []
    reasons = {s.family: s.reason for s in r.skipped}
    assert reasons["compiled_region"].startswith("fused inside torch.compile region: not separately replaceable")
    assert reasons["gemm"].startswith("vendor GEMM (oneDNN)")
    assert "torch.compile" in r.note


def _run_dir(tmp_path, claim: ProfileClaim) -> Path:
    store = RunStore(tmp_path / "run")
    store.path("profile/round_1").mkdir(parents=True)
    shutil.copyfile(TRACE, store.path("profile/round_1/trace.json.gz"))
    store.write_json("profile/round_1/routing.json", claim)
    store.append_jsonl(
        "decisions.jsonl",
        Decision(
            decision_id="d-profile-1",
            gate_id="profile-1",
            scope="profile",
            producer="profiler",
            profile_round="round_1",
        ),
    )
    return store.root


def _verdict(run: Path):
    # the run-level verdict (this minimal dir has no manifest) comes too, whatever gate is asked for
    v = next(v for v in audit_run(run, gate="profile-1") if v.gate_id == "profile-1")
    return v, {f.rule_id: f.outcome for f in v.findings}


def test_routed_claim_passes_r1_r3(tmp_path, bd):
    r = route(bd, {**VLLM_EDITABLE, **ATTENTION})
    assert [x.family for x in r.routed] == ["attention"] and r.routed[0].editable
    v, outcomes = _verdict(_run_dir(tmp_path, r.claim("trace.json.gz")))
    assert v.verdict == "PASS", [f.message for f in v.findings]
    assert set(outcomes) == {"R1", "R2", "R3"}


def test_minor_family_routed_as_top_fails_r1(tmp_path, bd):
    r = route(bd, {**VLLM_EDITABLE, **ATTENTION})
    top = bd.families[0]
    minor = bd.families[-1]
    assert minor.share < 0.01
    claim = r.claim("trace.json.gz").model_copy(
        update={
            "routed": [RoutedOp(family=minor.family, claimed_share=round(top.share, 3), editable=True, location="x")],
            "breakdown": {minor.family: round(top.share, 3), top.family: round(minor.share, 3)},
        }
    )
    v, outcomes = _verdict(_run_dir(tmp_path, claim))
    assert v.verdict == "FAIL" and outcomes["R1"] == "fail"
    (f,) = [f for f in v.findings if f.rule_id == "R1"]
    assert f.recomputed["trace_share"] == pytest.approx(minor.share, abs=1e-9)


def test_gpu_trace_uses_device_kernels(tmp_path):
    import gzip
    import json

    evs = [
        {
            "ph": "X",
            "cat": "cpu_op",
            "name": "aten::mm",
            "ts": 0,
            "dur": 50,
            "pid": 1,
            "tid": 1,
            "args": {"Input Dims": [[8, 128], [128, 256]], "Input type": ["c10::BFloat16", "c10::BFloat16"]},
        },
        {"ph": "X", "cat": "kernel", "name": "sm90_xmma_gemm_bf16bf16", "ts": 10, "dur": 30, "pid": 0, "tid": 7},
        {"ph": "X", "cat": "kernel", "name": "vllm::rms_norm_kernel", "ts": 50, "dur": 10, "pid": 0, "tid": 7},
    ]
    p = tmp_path / "t.json.gz"
    p.write_bytes(gzip.compress(json.dumps({"traceEvents": evs}).encode()))
    b = op_breakdown(p)
    assert b.source == "device_kernels" and b.shares() == {"gemm": 0.75, "rmsnorm": 0.25}
    assert b.family("gemm").dtypes == ["bf16"] and b.family("gemm").shapes[0].input_dims == [[8, 128], [128, 256]]
    r = route(b, VLLM_EDITABLE)
    assert [x.family for x in r.routed] == ["rmsnorm"]
    assert "cuBLAS" in {s.family: s.reason for s in r.skipped}["gemm"]


def test_capture_failure_is_recorded_not_raised(tmp_path):
    from geak.agents.engines.base import LaunchConfig
    from geak.agents.engines.profile import ProfileLaunch, ProfileLimits, capture_profile
    from geak.auditor.evidence.models import WorkloadSpec

    store = RunStore(tmp_path / "run")
    wl = WorkloadSpec(dataset="random", num_prompts=8, input_len=8, output_len=4, max_concurrency=2, seed=0)
    res = capture_profile(
        store,
        round_id="round_1",
        engine="vllm",
        cfg=LaunchConfig(model="/nonexistent", devices="cpu:0"),
        workload=wl,
        python="/bin/false",
        limits=ProfileLimits(health_deadline_s=20),
    )
    assert res.status == "failed" and "exited" in res.reason
    launch, probs = store.read_json("profile/round_1/launch.json", ProfileLaunch)
    assert launch is not None and not probs and launch.status == "failed" and launch.trace_file is None
    assert launch.command[0] == "/bin/false" and "--profiler-config" in launch.command
    assert not store.exists("profile/round_1/trace.json.gz")


def test_served_tokens_come_from_the_traced_shapes():
    from geak.agents.profiler import FamilyStat, ShapeStat, served_tokens

    shapes = [ShapeStat(op="aten::silu", input_dims=[[t, 512]], input_types=["float"]) for t in (1, 2, 3, 4, 7, 32, 64)]
    fam = FamilyStat(
        family="silu_and_mul",
        self_us=1.0,
        share=0.1,
        calls=7,
        shapes=shapes + [ShapeStat(op="x", input_dims=[[]], input_types=[])],
    )
    assert served_tokens(fam) == [1, 3, 7, 64]  # smallest, largest, evenly spaced between; a scalar input ignored
    assert served_tokens(None) == []


def test_served_tokens_of_a_gpu_trace_count_batch_times_sequence():
    """A transformers model's activations are [batch, seq, hidden]: the H200 trace's prefill of
    8 x 512 and its decode steps of 8 x 1 are 4096 and 8 tokens, what the harness then times."""
    from pathlib import Path

    from geak.agents.profiler import op_breakdown, served_tokens

    bd = op_breakdown(
        trace_gz("h200/trace_eager", Path(tempfile.mkdtemp(prefix="geak-trace-")) / "trace_eager.json.gz")
    )
    assert served_tokens(bd.family("silu_and_mul")) == [8, 4096]


def test_a_compiled_rotary_takes_its_token_counts_from_the_cache_write(bd):
    # under torch.compile the rotary runs inside a compiled region with no shapes of its own; the
    # KV-cache write vLLM calls from Python at the split point records the step's keys (issue 36)
    from geak.agents.profiler import cache_write_tokens, family_tokens

    got = cache_write_tokens(bd)
    assert got and all(isinstance(t, int) and t > 0 for t in got) and got == sorted(got)
    assert bd.family("rotary") is None and family_tokens(bd, "rotary") == got
    assert family_tokens(bd, "silu_and_mul") == []  # no fallback for a family the cache write says nothing of
    att = bd.family("attention")
    rows = {s.input_dims[0][0] for s in att.shapes if s.op == "vllm::unified_kv_cache_update"}
    assert set(got) <= rows and len(got) <= 4
