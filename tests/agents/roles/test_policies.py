"""The built-in (--llm none) producer policies: pure functions over measured values."""

from __future__ import annotations

from geak.agents.roles import policies
from geak.orchestrator.workflow.gate import bankable as _bankable

VALUES = {"ref": [100.0, 101.0, 99.0], "fast": [130.0, 131.0, 129.0], "slow": [80.0, 81.0, 79.0]}


def values(legs):
    return [v for leg in legs for v in VALUES[leg]]


def tuner(cand: str, feedback=None):
    return policies.config_tuner(
        gate_id="config-x",
        knob_name="max_num_seqs",
        candidate_config={"max_num_seqs": 32},
        reference_legs=["ref"],
        candidate_legs=[cand],
        values=values,
        feedback=feedback,
    )


def test_tuner_submits_an_honest_claim_for_a_win():
    p = tuner("fast")
    assert not p.withdraw and not p.remeasure
    assert p.claim.reference_value == 100.0 and p.claim.candidate_value == 130.0
    assert p.claim.delta_pct == 30.0 and p.claim.non_overlap is True


def test_tuner_withdraws_a_loss():
    assert tuner("slow").withdraw


def test_tuner_asks_for_a_remeasure_when_the_auditor_does():
    assert tuner("fast", {"verdict": "FLAG", "actions": ["remeasure"]}).remeasure


def test_tuner_withdraws_what_it_cannot_fix():
    assert tuner("fast", {"verdict": "FAIL", "actions": ["eject"]}).withdraw


def test_tuner_declares_the_knob_with_its_derived_keys_and_lever():
    p = policies.config_tuner(
        gate_id="g",
        knob_name="max_num_batched_tokens",
        candidate_config={},
        reference_legs=["ref"],
        candidate_legs=["fast"],
        values=values,
        feedback=None,
    )
    assert p.declared_knobs == [
        "max_num_batched_tokens",
        "compile_ranges_endpoints",
        "encoder_cache_size",
        "max_num_encoder_input_tokens",
    ]
    assert p.declared_levers == {"max_num_batched_tokens": "config"}


def test_strategist_raises_a_decode_batch_capped_below_concurrency_first():
    plan = policies.strategist(device="cpu", current_config={"max_num_seqs": 4}, max_candidates=2, concurrency=32)
    assert plan.plan[0].knob == "max_num_seqs" and plan.plan[0].values == [32]
    assert sum(len(i.values) for i in plan.plan) == 2


def test_strategist_drops_values_equal_to_the_current_config():
    plan = policies.strategist(device="cpu", current_config={"enforce_eager": True}, max_candidates=8, concurrency=32)
    assert all(i.knob != "enforce_eager" for i in plan.plan)


def test_bankable_semantics():
    assert _bankable({"verdict": "PASS"})
    assert not _bankable({"verdict": "FAIL", "actions": ["eject"]})
    assert _bankable(
        {"verdict": "FLAG", "actions": ["flag", "downgrade_headline"]}
    )  # labels only: banked with the label
    assert not _bankable({"verdict": "FLAG", "actions": ["remeasure"]})  # asks for work: not a win yet
    assert _bankable({"verdict": None, "unaudited_reason": "auditor error"})  # fail open
    assert not _bankable({})


def test_tuner_declares_the_latency_percentiles_that_got_worse():
    lat = {
        ("ref", "tpot_ms"): [3.0] * 100,
        ("fast", "tpot_ms"): [9.0] * 100,
        ("ref", "ttft_ms"): [50.0] * 100,
        ("fast", "ttft_ms"): [40.0] * 100,
    }

    def latencies(legs, metric):
        return [v for leg in legs for v in lat.get((leg, metric), [])]

    p = policies.config_tuner(
        gate_id="g",
        knob_name="max_num_seqs",
        candidate_config={},
        reference_legs=["ref"],
        candidate_legs=["fast"],
        values=values,
        feedback=None,
        latencies=latencies,
    )
    assert p.declared_regressions == ["p50_tpot_ms", "p99_tpot_ms"]


def test_tuner_does_not_remeasure_a_confound():
    assert tuner("fast", {"verdict": "FAIL", "actions": ["remeasure", "eject"]}).withdraw


def integrator(cand: str, ok: bool = True, feedback=None):
    return policies.integrator(
        policies.KernelUnderTest("kernel-silu_and_mul", "silu_and_mul", "m:f", "geak-plugin: x"),
        reference_legs=["ref"],
        candidate_legs=[cand],
        candidate_ok=ok,
        isolated_speedup=1.4,
        values=values,
        feedback=feedback,
    )


def test_integrator_submits_a_kernel_win_with_e2e_as_the_headline():
    p = integrator("fast")
    assert not p.withdraw and p.claim.delta_pct == 30.0 and p.claim.lever_class == "kernel"
    assert p.claim.headline_source == "e2e" and p.claim.isolated_speedup == 1.4
    assert set(p.declared_knobs) == {"PYTHONPATH", "VLLM_PLUGINS"} and set(p.declared_levers.values()) == {"kernel"}


def test_integrator_submits_a_slower_kernel_as_a_rejection_not_silence():
    p = integrator("slow")
    assert p.withdraw and p.claim.delta_pct == -20.0  # the measured loss is the submission


def test_integrator_rejects_a_candidate_whose_leg_failed():
    p = integrator("fast", ok=False)
    assert p.withdraw and not p.remeasure


def test_integrator_remeasures_on_request_but_never_an_eject():
    assert integrator("fast", feedback={"verdict": "FLAG", "actions": ["remeasure"]}).remeasure
    p = integrator("fast", feedback={"verdict": "FAIL", "actions": ["remeasure", "eject"]})
    assert not p.remeasure and p.withdraw
