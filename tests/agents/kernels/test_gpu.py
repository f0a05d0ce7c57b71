"""GPU: Triton templates through the harness on CUDA (complete at the end event, H4 passes), and the
side-stream cheats caught (H4), by the event/wall ratio or by the readiness probe.
Skips cleanly without a CUDA device or without Triton (CI, this 2-core box)."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from kernel_helpers import CHEATS, audit, failing_rules

from geak.agents.kernels.harness import run_harness
from geak.agents.kernels.templates import TEMPLATES

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available() or importlib.util.find_spec("triton") is None, reason="needs a CUDA device and Triton"
)

GPU_ARGS = [
    "--device",
    "cuda",
    "--serving-mode",
    "compiled",
    "--profile",
    "llama-gpu",
    "--tokens",
    "1,32",
    "--min-timed-ms",
    "20",
]


@pytest.mark.parametrize("op", ["rmsnorm", "fused_add_rmsnorm", "silu_and_mul", "rotary"])
def test_triton_template_passes_correctness_and_oracle(op, tmp_path):
    rec = run_harness(["--op", op, "--candidate", TEMPLATES[(op, "cuda")], "--out", str(tmp_path), *GPU_ARGS])
    assert rec.status == "ok", getattr(rec, "error", None)
    assert rec.correctness and all(c.passed for c in rec.correctness), [c.model_dump() for c in rec.correctness]
    assert rec.oracle.failures == 0, rec.oracle.failed_cases
    # stream order guarantees an honest kernel's output is complete at the end event
    trials = rec.anti_gaming.ready_probe["trials"]
    assert rec.anti_gaming.output_ready_at_end_event is True and trials and all(t["ready"] for t in trials), trials
    # queued behind the lead, its output cannot be complete before the timed stream reaches it
    assert rec.anti_gaming.output_complete_before_timed_call is False, trials
    v = audit(tmp_path, op)
    assert "H4" not in failing_rules(v), [(f.rule_id, f.message) for f in v.findings if f.rule_id == "H4"]


def test_side_stream_cheat_is_caught_h4(tmp_path):
    rec = run_harness(
        [
            "--op",
            "silu_and_mul",
            "--candidate",
            f"{CHEATS}/side_stream.py:silu_and_mul",
            "--out",
            str(tmp_path),
            "--device",
            "cuda",
            "--profile",
            "llama-gpu",
            "--tokens",
            "4096",
            "--min-timed-ms",
            "20",
        ]
    )
    v = audit(tmp_path, "silu_and_mul")
    assert rec.anti_gaming.event_ms < 0.5 * rec.anti_gaming.wall_ms
    assert rec.anti_gaming.output_ready_at_end_event is False
    assert v.verdict == "FAIL" and "H4" in failing_rules(v)


@pytest.mark.parametrize("cheat", ["rmsnorm", "rmsnorm_triton"])
def test_short_side_stream_work_is_caught_by_readiness_h4(cheat, tmp_path):
    # escaped work about as long as its launch: the event/wall ratio can stay near 1 (0.39-0.66
    # for the eager one on the H100, 0.95-0.97 for the Triton one); the readiness probe sees it
    # in the lead trials (the side stream waits for the current stream)
    rec = run_harness(
        [
            "--op",
            "rmsnorm",
            "--candidate",
            f"{CHEATS}/side_stream.py:{cheat}",
            "--out",
            str(tmp_path),
            "--device",
            "cuda",
            "--profile",
            "llama-gpu",
            "--tokens",
            "32,4096",
            "--min-timed-ms",
            "20",
        ]
    )
    v = audit(tmp_path, "rmsnorm")
    trials = rec.anti_gaming.ready_probe["trials"]
    assert rec.anti_gaming.output_ready_at_end_event is False
    # caught in the lead trials (not necessarily all: the side kernel can win the race to the
    # SMs); the trials without a lead find these outputs written, the host being slower
    assert any(not t["ready"] for t in trials if t["lead_ms"] and t["enqueued_under_lead"]), trials
    assert v.verdict == "FAIL" and "H4" in failing_rules(v)


def test_side_work_that_does_not_wait_is_caught_before_the_call_h4(tmp_path):
    # its side stream ignores the current stream, so it runs during the lead and is complete
    # before the timed stream reaches the call (ratio ~0.95, ready at the end event)
    rec = run_harness(
        [
            "--op",
            "rmsnorm",
            "--candidate",
            f"{CHEATS}/side_stream.py:rmsnorm_nowait",
            "--out",
            str(tmp_path),
            "--device",
            "cuda",
            "--profile",
            "llama-gpu",
            "--tokens",
            "32,4096",
            "--min-timed-ms",
            "20",
        ]
    )
    v = audit(tmp_path, "rmsnorm")
    trials = rec.anti_gaming.ready_probe["trials"]
    assert rec.anti_gaming.output_complete_before_timed_call is True, trials
    assert v.verdict == "FAIL" and "H4" in failing_rules(v)


@pytest.mark.parametrize("op", ["rope_kvcache", "silu_and_mul"])
def test_the_in_graph_reading_times_both_sides_per_call(op, tmp_path):
    # the second, labelled reading (issue 36): both sides replayed from a CUDA graph of many calls,
    # warm, as a compiled server's step replays them; the flushed headline stays as it was
    rec = run_harness(["--op", op, "--candidate", TEMPLATES[(op, "cuda")], "--out", str(tmp_path), *GPU_ARGS])
    assert rec.status == "ok", getattr(rec, "error", None)
    for ps in rec.timing.per_shape:
        assert not getattr(ps, "graph_error", None), ps.graph_error
        assert ps.graph_calls and ps.graph_calls >= 1
        assert len(ps.graph_baseline_times_ms) == len(ps.graph_candidate_times_ms) == 50
        assert all(t > 0 for t in ps.graph_baseline_times_ms + ps.graph_candidate_times_ms)
