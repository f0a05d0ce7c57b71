"""Honest CPU templates: correct against the float64 reference, pass the independent oracle,
and one full harness run audits PASS (the harness does not FAIL honest work)."""

from __future__ import annotations

import json

import pytest
import torch
from kernel_helpers import audit, harness_args

from geak.agents.kernels import specs
from geak.agents.kernels.correctness import as_outputs, compare
from geak.agents.kernels.harness import run_harness
from geak.agents.kernels.loading import load_candidate
from geak.agents.kernels.oracles import run_oracle
from geak.agents.kernels.templates import TEMPLATES


@pytest.mark.parametrize("op", specs.OPS)
def test_cpu_template_matches_the_float64_reference(op):
    spec = specs.spec_for(op, "tiny-arith")
    fn, _ = load_candidate(TEMPLATES[(op, "cpu")])
    for i, shape in enumerate(spec.served_shapes):
        args = specs.make_inputs(spec, shape, "fp32", "cpu", i)
        before = specs.pristine(op, args)  # an op that writes a cache in place is judged from what it was given
        cmp = compare(as_outputs(fn(*args)), specs.reference(op, before), torch.float32)
        assert cmp["rel_err"] <= spec.tolerances["fp32"], (op, shape, cmp)


@pytest.mark.parametrize("op", specs.OPS)
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_cpu_template_passes_the_independent_oracle(op, dtype):
    res = run_oracle(specs.spec_for(op, "tiny-arith"), load_candidate(TEMPLATES[(op, "cpu")])[0], "cpu", dtype)
    assert res.author_independent and res.cases >= 7
    assert res.failures == 0, res.failed_cases


def test_honest_template_harness_record_audits_pass(tmp_path):
    args = harness_args(
        "silu_and_mul", TEMPLATES[("silu_and_mul", "cpu")], tmp_path, ["--min-timed-ms", "100", "--max-reps", "20000"]
    )
    rec = run_harness(args)
    v = audit(tmp_path, "silu_and_mul")
    assert rec.status == "ok", getattr(rec, "error", None)
    assert v.verdict == "PASS", [(f.rule_id, f.outcome, f.message) for f in v.findings]


def test_the_harness_times_what_a_compiled_server_runs_with_eager_as_a_second_column(tmp_path):
    args = harness_args("silu_and_mul", TEMPLATES[("silu_and_mul", "cpu")], tmp_path, ["--serving-mode", "compiled"])
    rec = run_harness(args)
    assert rec.status == "ok", getattr(rec, "error", None)
    assert rec.serving_mode == "compiled" and rec.baseline_kind == "compiled"
    assert rec.baseline_backend == "torch.compile(inductor):geak.agents.kernels.baselines:silu_and_mul"
    assert rec.eager_backend == "geak.agents.kernels.baselines:silu_and_mul" and rec.eager_speedup is not None
    for ps in rec.timing.per_shape:  # the eager column timed interleaved with the other two, labelled
        assert len(ps.eager_times_ms) == len(ps.baseline_times_ms) == ps.reps and ps.speedup_vs_eager > 0
    v = audit(tmp_path, "silu_and_mul")
    h11 = [f for f in v.findings if f.rule_id == "H11"]
    assert [f.outcome for f in h11] == ["pass"], h11
    # the same record claiming the eager formula as its baseline: not what a compiled server runs
    p = tmp_path / "ops" / "silu_and_mul" / "opbench.json"
    d = json.loads(p.read_text())
    d["baseline_backend"] = d["eager_backend"]
    p.write_text(json.dumps(d))
    h11 = [f for f in audit(tmp_path, "silu_and_mul").findings if f.rule_id == "H11"]
    assert [(f.outcome, f.action) for f in h11] == [("flag", "downgrade_headline")] and "never runs" in h11[
        0
    ].message, h11
