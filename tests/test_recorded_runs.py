"""Runs recorded for real (vLLM on this CPU) and shipped in runs/recorded: the auditor re-verifies them."""

from pathlib import Path

from geak.auditor.audit import audit_run
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.store import RunStore

RECORDED = Path(__file__).resolve().parents[1] / "runs" / "recorded" / "tiny-cpu-baseline"


def test_recorded_baseline_run_re_audits_to_pass():
    vs = audit_run(RECORDED, write=False)
    assert [(v.gate_id, v.verdict) for v in vs] == [("baseline", "PASS")], [
        (f.rule_id, f.outcome, f.message) for v in vs for f in v.findings if f.outcome != "pass"]


def test_recorded_run_band_comes_from_its_aa_legs():
    v = audit_run(RECORDED, write=False)[0]
    assert v.policy["noise_band_source"] == "measured A/A legs" and v.policy["noise_band_pct"] > 0.5


def test_recorded_run_holds_real_vllm_output():
    run = RunEvidence(RunStore(RECORDED))
    leg = run.leg("baseline")
    assert leg.launch.engine == "vllm" and leg.launch.status == "ok"
    assert (RECORDED / "legs" / "baseline" / leg.counted[0].rep.raw_file).exists()
    assert leg.accuracy.correct / leg.accuracy.n >= 0.95


# ---------------------------------------------------------------- the real runs, scored blind against hand-written keys

RUNS = Path(__file__).resolve().parents[1] / "runs"


def _gates_named(run: Path) -> set[str]:
    return {d.gate_id for _, d in RunEvidence(RunStore(run)).decisions}


def test_every_recorded_run_has_a_hand_written_key_labelling_each_of_its_gates():
    from geak.auditor.backtest import case_run, load_key

    keyed = {}
    for k in sorted((RUNS / "keys").glob("*/key.yaml")):
        key = load_key(k)
        keyed[case_run(k.parent, key).name] = key
        assert "default_verdict" not in key, f"{k}: one label per gate, none by default"
        assert all(spec.get("why") for spec in key["gates"].values()), f"{k}: every label says why"
        assert set(key["gates"]) == _gates_named(case_run(k.parent, key)), k
    assert sorted(keyed) == sorted(p.name for p in (RUNS / "recorded").iterdir() if p.is_dir())


def test_geak_backtest_scores_the_real_runs_against_their_keys():
    from geak.auditor.backtest import backtest

    rep = backtest(RUNS / "keys")
    assert not rep.problems, rep.problems
    assert {g.case for g in rep.gates} == {p.name for p in (RUNS / "recorded").iterdir() if p.is_dir()}
    assert rep.verdict_accuracy == 1.0 and rep.recall == 1.0, [g for g in rep.gates if not g.ok]
    # where the key and the auditor part: B6 calls the noisy validation base of tiny-cpu-run a
    # handicapped reference; the recorder knows nothing handicapped it (see its key)
    extra = {(g.case, g.gate_id, r) for g in rep.gates for r in set(g.fired_rules) - set(g.expected_rules)}
    assert ("tiny-cpu-run", "bundle", "B6") in extra, extra
