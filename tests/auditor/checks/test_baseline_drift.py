"""B6 against the run's own baseline leg: a reference re-measured in another server lifetime must
reproduce the baseline of the same config (GEAK's gate 2), in the synthetic run and on the
shipped recording."""

from __future__ import annotations

from pathlib import Path

from corpus.synthetic import BASE_TPUT, build_clean_run
from geak.auditor.audit import audit_run
from geak.auditor.checks.baseline import drift_side

REPO = Path(__file__).resolve().parents[3]


def _b6(run: Path, gate: str):
    v = next(v for v in audit_run(run, write=False) if v.gate_id == gate)
    return v, [f for f in v.findings if f.rule_id == "B6"]


def _val_base(factor: float):
    def f(legs):
        for lid in ("val_base_1", "val_base_2"):
            legs[lid].tput = BASE_TPUT * factor

    return f


def test_reference_reproducing_the_baseline_leg_passes(tmp_path):
    build_clean_run(tmp_path / "run")
    v, b6 = _b6(tmp_path / "run", "bundle")
    assert [f.outcome for f in b6] == ["pass"]
    assert b6[0].recomputed["baseline_leg"] == "baseline" and abs(b6[0].recomputed["drift_pct"]) < 0.5


def test_handicapped_reference_fails_and_a_favourable_drift_flags(tmp_path):
    build_clean_run(tmp_path / "low", legs_mod=_val_base(0.97))
    v, b6 = _b6(tmp_path / "low", "bundle")
    assert v.verdict == "FAIL" and [f.outcome for f in b6] == ["fail"]
    assert "handicapped" in b6[0].message and b6[0].recomputed["drift_pct"] < -2.5
    # a reference above the baseline does not inflate the delta, but the band evidently
    # understates the noise between lifetimes
    build_clean_run(tmp_path / "high", legs_mod=_val_base(1.03))
    v, b6 = _b6(tmp_path / "high", "bundle")
    assert [f.outcome for f in b6] == ["flag"] and b6[0].action == "remeasure"


def test_drift_side_follows_the_metric_direction():
    assert drift_side(-3.0, 0.5, True) == "worse" and drift_side(3.0, 0.5, True) == "better"
    # lower is better (a latency): a reference slower than the baseline is the handicapped one
    assert drift_side(3.0, 0.5, False) == "worse" and drift_side(-3.0, 0.5, False) == "better"
    assert drift_side(0.5, 0.5, True) == "within" and drift_side(-0.5, 0.5, False) == "within"


def test_a_reference_of_another_config_is_not_a_baseline_measurement(tmp_path):
    build_clean_run(tmp_path / "run")
    _, b6 = _b6(tmp_path / "run", "integrate-rmsnorm")  # its reference is the accepted config leg
    assert [f.outcome for f in b6] == ["n/a"]
    assert "cfg_seqs512 differs in scheduler_config.max_num_seqs" in b6[0].message


def test_shipped_kernel_recording_reference_reproduces_its_baseline():
    # measured: kref_silu_and_mul -8.86% vs the baseline leg against the run's 10.84% A/A band
    _, b6 = _b6(REPO / "runs" / "recorded" / "tiny-cpu-kernel", "kernel-silu_and_mul")
    assert [f.outcome for f in b6] == ["pass"]
    assert b6[0].recomputed["noise_band_pct"] > abs(b6[0].recomputed["drift_pct"])
