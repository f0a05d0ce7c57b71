"""Each planted cheat through the real harness on CPU: the record shows the trick, and the
harness gate FAILs it with the rule that names the trick. One behaviour per test."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from kernel_helpers import CHEATS, failing_rules

from geak.agents.kernels import probes
from geak.agents.kernels.templates.cpu import rmsnorm as cpu_rmsnorm
from geak.agents.kernels.timing import Clock


def _caught(cheat_results, name: str, rule: str) -> None:
    rec, verdict = cheat_results[name]
    assert verdict.verdict == "FAIL", (name, [(f.rule_id, f.outcome, f.message) for f in verdict.findings])
    assert rule in failing_rules(verdict), (name, rule, failing_rules(verdict))


def test_background_thread_escapes_the_timer_h4(cheat_results):
    rec, _ = cheat_results["background_thread"]
    ag = rec.anti_gaming
    # the readiness probe is proof by effect; the event/wall ratio only leans the right way
    # (the worker and the enqueuing caller share the GIL, so under load the caller's returned
    # time grows: CI saw 102 of 180 ms)
    assert ag.output_ready_at_end_event is False
    assert ag.event_ms < ag.wall_ms
    _caught(cheat_results, "background_thread", "H4")


def test_background_thread_output_is_still_correct_once_synchronised(cheat_results):
    # the cheat computes the right answer, later: only H4 can see it, not correctness
    rec, _ = cheat_results["background_thread"]
    assert rec.correctness and all(c.passed for c in rec.correctness)


def test_cached_from_setup_is_caught_h6(cheat_results):
    rec, _ = cheat_results["cached_setup"]
    assert rec.anti_gaming.output_from_timed_call is False
    _caught(cheat_results, "cached_setup", "H6")


def test_constant_output_is_caught_h5(cheat_results):
    rec, _ = cheat_results["constant"]
    assert rec.anti_gaming.fresh_input_output_identical is True
    _caught(cheat_results, "constant", "H5")


def test_output_aliasing_an_input_is_caught_h7(cheat_results):
    rec, _ = cheat_results["alias_input"]
    assert rec.anti_gaming.output_aliases_input is True
    _caught(cheat_results, "alias_input", "H7")


def test_lazy_result_is_caught_h7(cheat_results):
    rec, _ = cheat_results["lazy_result"]
    assert rec.anti_gaming.forced_evaluation is False and rec.anti_gaming.output_aliases_input is False
    _caught(cheat_results, "lazy_result", "H7")


def test_lazy_result_passes_correctness_when_forced(cheat_results):
    rec, _ = cheat_results["lazy_result"]
    assert all(c.passed for c in rec.correctness)


def test_same_bug_passes_its_own_test_and_correctness_at_served_shapes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("same_bug_cheat", CHEATS / "same_bug.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.test_rmsnorm()  # the author's own test passes


def test_same_bug_fails_the_independent_oracle_h8(cheat_results):
    rec, _ = cheat_results["same_bug"]
    assert all(c.passed for c in rec.correctness)  # served hidden 128 is a power of two
    assert rec.oracle.failures > 0 and rec.oracle.author_independent
    assert any("not a power of two" in f["case"] or "crosses a block" in f["case"] for f in rec.oracle.failed_cases)
    _caught(cheat_results, "same_bug", "H8")


@pytest.mark.parametrize("name,status", [("crash", "crashed"), ("hang", "timeout")])
def test_crash_and_hang_are_recorded_not_raised(cheat_results, name, status):
    rec, _ = cheat_results[name]
    assert rec.status == status and not rec.correctness and rec.oracle is None
    _caught(cheat_results, name, "H2")


def test_self_comparison_is_caught_h1(cheat_results):
    _caught(cheat_results, "self_compare", "H1")


def test_timing_an_unserved_shape_is_caught_h3(cheat_results):
    rec, _ = cheat_results["unserved_shape"]
    assert [4096, 128] in rec.timed_shapes
    _caught(cheat_results, "unserved_shape", "H3")


def _inputs(n: int) -> list[tuple]:
    return [(torch.randn(4, 64, generator=torch.Generator().manual_seed(i)), torch.ones(64), 1e-6) for i in range(n)]


def _late_writer(x, weight, eps):
    out = torch.zeros_like(x)

    def work():
        time.sleep(0.05)  # long after the call returned: deterministic, unlike the queue cheat
        out.copy_(cpu_rmsnorm(x, weight, eps))

    threading.Thread(target=work).start()
    return out


def test_readiness_probe_sees_an_output_written_after_return():
    rp = probes.ready_probe(Clock("cpu"), _late_writer, None, _inputs(3), deadline_s=2.0)
    trials = rp["ready_probe"]["trials"]
    assert rp["output_ready_at_end_event"] is False
    assert all(not t["ready"] and t["stale_byte_fraction"] > 0.5 for t in trials), trials


def test_readiness_probe_passes_a_synchronous_candidate():
    rp = probes.ready_probe(Clock("cpu"), cpu_rmsnorm, None, _inputs(3), deadline_s=2.0)
    assert rp["output_ready_at_end_event"] is True
    assert rp["output_complete_before_timed_call"] is None  # needs a GPU lead; not judged on CPU
    assert all(t["stale_byte_fraction"] == 0.0 for t in rp["ready_probe"]["trials"])


def test_harness_records_readiness_and_an_honest_template_is_ready(cheat_results):
    rec, _ = cheat_results["unserved_shape"]  # the honest CPU template
    assert rec.anti_gaming.output_ready_at_end_event is True and len(rec.anti_gaming.ready_probe["trials"]) == 8
