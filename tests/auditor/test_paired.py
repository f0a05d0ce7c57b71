"""P3's paired path (auditor/paired.py, checks/paired_gate.py) on small run directories written
the way vLLM writes them (the corpus's builders, corpus/plants_paired.py: real
per-request shapes, the host's monotonic start_times with a matching date, vLLM CPU's
'core ids=[..]' start-up line). The backtest scores the same builders as cases x_*."""

from __future__ import annotations

from pathlib import Path

from geak.auditor.audit import audit_run
from corpus.plants_paired import GATE, abba_run, crossover_run
from geak.auditor.evidence.models import Decision


def _verdict(tmp: Path) -> dict:
    v = next(v for v in audit_run(tmp, write=False) if v.gate_id == GATE)
    return {f.rule_id: f for f in v.findings} | {"_verdict": v}


def _run(tmp: Path, **kw) -> dict:
    crossover_run(tmp, **kw)
    return _verdict(tmp)


def test_a_verified_crossover_banks_a_gain_the_sequential_design_calls_noise(tmp_path):
    got = _run(tmp_path / "x")
    p3 = got["P3"]
    assert p3.outcome == "pass", p3.message
    assert "paired crossover A/A band" in p3.message and p3.recomputed["n_pairs"] == 10
    assert 7.0 < p3.recomputed["median_pair_delta_pct"] < 9.0
    assert got["_verdict"].verdict == "PASS", [
        (f.rule_id, f.message) for f in got["_verdict"].findings if f.outcome != "pass"
    ]
    # the same legs judged as blocks: period 2 ran 30% slower for both sides, so the reps overlap
    blocks = _run(tmp_path / "b", design="blocks")
    assert blocks["P3"].outcome == "flag" and "overlap" in blocks["P3"].message


def test_the_halves_device_binding_differs_by_design_only_in_a_crossover(tmp_path):
    # each half's env binds its own set: P4 takes that as the crossover's, never in blocks
    xo = [f for f in _run(tmp_path / "x")["_verdict"].findings if f.rule_id == "P4"]
    assert all(f.outcome == "pass" for f in xo) and any("crossover's device sets" in f.message for f in xo)
    blocks = [f for f in _run(tmp_path / "b", design="blocks")["_verdict"].findings if f.rule_id == "P4"]
    assert any(f.outcome == "fail" and "VLLM_CPU_OMP_THREADS_BIND" in f.message for f in blocks)


def test_sets_that_never_swapped_are_flagged(tmp_path):
    p3 = _run(tmp_path, swap=False)["P3"]
    assert p3.outcome == "flag" and "never swapped" in p3.message


def test_halves_that_did_not_run_at_once_are_flagged(tmp_path):
    p3 = _run(tmp_path, b_shift_s=150.0)["P3"]
    assert p3.outcome == "flag" and "ran at the same time as no candidate leg" in p3.message


def test_halves_on_shared_cores_are_flagged(tmp_path):
    p3 = _run(tmp_path, cores=((0, 0), (0, 0)))["P3"]
    assert p3.outcome == "flag" and "shared cores" in p3.message


def test_a_log_without_a_core_set_cannot_verify_the_design(tmp_path):
    p3 = _run(tmp_path, logged=False)["P3"]
    assert p3.outcome == "flag" and "name no device set" in p3.message


def test_unevenly_overlapping_pairs_are_dropped_and_counted(tmp_path):
    # the candidate's reps started 50 ms late (a synthetic rep spans ~150 ms): each pair shares ~65%
    p3 = _run(tmp_path, b_shift_s=0.05)["P3"]
    assert p3.outcome == "flag"
    assert p3.recomputed["n_dropped"] > 0 and "dropped" in p3.message


def test_without_any_aa_legs_the_band_is_unknown_not_the_policy_default(tmp_path):
    p3 = _run(tmp_path, aa=False)["P3"]
    assert p3.outcome == "flag" and "noise band unknown" in p3.message and "no A/A legs" in p3.message
    assert p3.recomputed["n_pairs"] >= 3  # the pairs are still shown: only the band is missing


def test_a_gain_inside_the_paired_band_is_not_banked(tmp_path):
    p3 = _run(tmp_path, gain=1.002)["P3"]
    assert p3.outcome == "flag" and "not above" in p3.message


def test_an_unknown_design_name_never_reaches_p3_as_paired(tmp_path):
    # the model refuses it: a producer cannot invent a design the auditor does not know
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError):
        Decision(decision_id="d", gate_id="g", scope="patch", producer="x", design="magic")  # type: ignore[arg-type]


# ---------------------------------------------------------------- abba


def _abba(tmp: Path, orders: list[str], **kw) -> dict:
    abba_run(tmp, orders, **kw)
    return _verdict(tmp)


def test_abba_pairs_adjacent_legs_in_alternating_order(tmp_path):
    p3 = _abba(tmp_path, ["ab", "ba"] * 3)["P3"]
    assert p3.recomputed["n_pairs"] == 6, p3.message
    assert [p["order"] for p in p3.recomputed["pairs"]] == ["ab", "ba"] * 3
    assert 7.5 < p3.recomputed["median_pair_delta_pct"] < 8.5


def test_abba_that_always_runs_the_reference_first_is_not_counterbalanced(tmp_path):
    p3 = _abba(tmp_path, ["ab"] * 6)["P3"]
    assert p3.outcome == "flag" and "not counterbalanced" in p3.message


def test_abba_legs_that_ran_at_once_are_not_a_sequence(tmp_path):
    p3 = _abba(tmp_path, ["ab", "ba"] * 3, overlap=True)["P3"]
    assert p3.outcome == "flag" and "at the same time" in p3.message


def test_an_aa_crossover_the_manifest_leaves_out_still_sets_the_band(tmp_path):
    # the second A/A crossover read B 12% over A; manifest.json declares only the quiet first one
    p3 = _run(tmp_path / "hidden", aa_gains=(0.996, 1.12), declared=1)["P3"]
    assert p3.outcome == "flag" and "paired crossover A/A band" in p3.message and "not above" in p3.message
    # the same legs with both declared: the same verdict (the declaration adds nothing the bytes lack)
    assert _run(tmp_path / "both", aa_gains=(0.996, 1.12))["P3"].message == p3.message
    # and with neither declared the auditor still finds both
    assert _run(tmp_path / "none", aa_gains=(0.996, 1.12), declared=0)["P3"].message == p3.message


def test_aa_legs_of_two_configs_are_no_band(tmp_path):
    from corpus.plants_paired import SEQS

    p3 = _run(tmp_path, aa_b_resolved=SEQS)["P3"]
    assert p3.outcome == "flag" and "paired noise band unknown" in p3.message and "max_num_seqs" in p3.message


def test_an_aa_period_without_its_swapped_partner_leaves_the_band_unknown(tmp_path):
    crossover_run(tmp_path)
    for leg in ("aa2_a_p2", "aa2_b_p2"):  # the second A/A crossover's period 2 is gone
        import shutil

        shutil.rmtree(tmp_path / "legs" / leg)
    p3 = _verdict(tmp_path)["P3"]
    assert p3.outcome == "flag" and "no second period" in p3.message


def test_a_claimed_crossover_the_bytes_do_not_show_excuses_no_binding_difference(tmp_path):
    # the sets never swapped: the halves' different VLLM_CPU_OMP_THREADS_BIND is a confound again
    got = _run(tmp_path, swap=False)
    assert any(
        f.outcome == "fail" and "VLLM_CPU_OMP_THREADS_BIND" in f.message
        for f in got["_verdict"].findings
        if f.rule_id == "P4"
    )
    assert got["_verdict"].verdict == "FAIL"


# ---------------------------------------------------------------- abba A/A found from the bytes


def test_an_abba_aa_chain_sets_the_abba_band(tmp_path):
    got = _abba(tmp_path, ["ab", "ba"] * 3, aa_gains=(1.004,))
    p3 = got["P3"]
    assert p3.outcome == "pass" and "paired abba A/A band" in p3.message, p3.message
    assert got["_verdict"].verdict == "PASS"


def test_an_abba_aa_chain_the_manifest_leaves_out_still_sets_the_band(tmp_path):
    p3 = _abba(tmp_path / "hidden", ["ab", "ba"] * 3, aa_gains=(1.004, 1.12), declared=1)["P3"]
    assert p3.outcome == "flag" and "paired abba A/A band" in p3.message and "not above" in p3.message, p3.message
    # both chains ran on core 1: one chain of 12 pairs, cut into designs of min_pairs, so the
    # noisy six are not averaged away by the quiet six; declaring neither changes nothing
    assert _abba(tmp_path / "none", ["ab", "ba"] * 3, aa_gains=(1.004, 1.12), declared=0)["P3"].message == p3.message


def test_a_leftover_abba_aa_leg_leaves_the_band_unknown(tmp_path):
    p3 = _abba(tmp_path, ["ab", "ba"] * 3, aa_gains=(1.004,), extra=True)["P3"]
    assert p3.outcome == "flag" and "paired noise band unknown" in p3.message and "left over" in p3.message


def _span(leg: str, core: int, start: float, end: float):
    from geak.auditor.aa_pairs import Span

    return Span(leg, frozenset({core}), start, end, None)  # type: ignore[arg-type]


def test_sequences_label_a_chain_counterbalanced_and_cut_it_by_min_pairs():
    from geak.auditor.aa_pairs import sequences

    legs = [_span(f"l{i}", 1, 10.0 * i, 10.0 * i + 5) for i in range(14)] + [_span("other", 0, 0.0, 5.0)]
    found, left = sequences(legs, {"other"}, 3)
    # 7 pairs cut every 3, the seventh joins the second design; labels A B, B A, A B ...
    assert found == [(["l0", "l3", "l4"], ["l1", "l2", "l5"]), (["l7", "l8", "l11", "l12"], ["l6", "l9", "l10", "l13"])]
    assert left == []
    clash, why = sequences([_span("x", 1, 0.0, 10.0), _span("y", 1, 5.0, 15.0)], set(), 6)
    assert clash == [] and "ran at once" in why[0]
