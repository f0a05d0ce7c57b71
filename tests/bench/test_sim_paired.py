"""bench/sim_paired.py and search_vs_sweep --design crossover: the pair noise is what the auditor itself
derives from the recorded A/A crossover's bytes, the simulated P3 decides as the auditor's paired P3
does on a real recorded gate, and a crossover changes the wall time and nothing else with N."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from geak.auditor import audit, noise as audit_noise, paired, stats
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.store import RunStore
from geak.auditor.policy import AuditPolicy

REPO = Path(__file__).resolve().parents[2]
RUNS = REPO / "runs" / "recorded"
XRUN = RUNS / "tiny-cpu-crossover"
SUFFIX = re.compile(r"engine-time ratio geak/sweep: (\S+), wall-time ratio vs serial: (\S+)$")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


svs = _load("search_vs_sweep")
sp = sys.modules["sim_paired"]  # the one search_vs_sweep imported: one copy of its classes


@pytest.fixture(scope="module")
def pairs():
    return sp.load_pair_noise(RUNS, AuditPolicy())


def _run() -> RunEvidence:
    return RunEvidence(RunStore(XRUN))


def test_pair_noise_is_the_auditors_own_pairing_of_the_recorded_aa_crossover(pairs):
    run = _run()
    # an A/A's side labels are arbitrary: the auditor's discovery took the b legs as its reference
    own = paired.derive(
        "crossover",
        [run.leg("aa1_b_p1"), run.leg("aa1_b_p2")],
        [run.leg("aa1_a_p1"), run.leg("aa1_a_p2")],
        "output_throughput",
        True,
        AuditPolicy().pair_min_evenness,
    )
    assert own.unverifiable is None and len(own.deltas) == 8
    assert sorted(pairs.deltas) == pytest.approx(sorted(own.deltas))
    assert pairs.designs == 1 and pairs.runs == ("tiny-cpu-crossover",) and pairs.bandwidth > 0


def test_no_crossover_no_pair_noise(tmp_path):
    shutil.copytree(RUNS / "tiny-cpu-run", tmp_path / "tiny-cpu-run")  # blocks A/A legs only
    assert sp.load_pair_noise(tmp_path, AuditPolicy()) is None


def test_simulated_p3_decides_the_recorded_gate_as_the_auditor_does():
    run, policy = _run(), AuditPolicy()
    bands, unknown, _ = audit_noise.paired_bands(run, policy, claimed=frozenset({"crossover"}))
    assert not unknown
    gate = paired.derive(
        "crossover",
        [run.leg("xref_max_num_seqs-32_p1"), run.leg("xref_max_num_seqs-32_p2")],
        [run.leg("xcfg_max_num_seqs-32_p1"), run.leg("xcfg_max_num_seqs-32_p2")],
        "output_throughput",
        True,
        policy.pair_min_evenness,
    )
    verdict = next(
        v
        for v in audit.audit_run(XRUN, gate="config-max_num_seqs-32", write=False)
        if v.gate_id == "config-max_num_seqs-32"
    )
    (p3,) = [f for f in verdict.findings if f.rule_id == "P3"]
    assert p3.outcome == "pass" and p3.recomputed["pair_deltas_pct"] == pytest.approx(gate.deltas)
    assert p3.recomputed["noise_band_pct"] == pytest.approx(bands["crossover"])
    assert (
        sp.p3_paired(gate.deltas, bands["crossover"], policy) is True
    )  # the auditor's verdict on the same pairs and band
    # the same pairs judged against a band above their CI's low end, or with too few pairs, do not pass
    ci = stats.bootstrap_pairs_ci(gate.deltas)
    assert not sp.p3_paired(gate.deltas, ci[0] + 0.1, policy)
    assert not sp.p3_paired(gate.deltas[: policy.min_pairs - 1], bands["crossover"], policy)


def test_pair_deltas_carry_the_true_ratio(pairs):
    rng = np.random.default_rng(0)
    null = sp.pair_deltas(pairs, rng, 1.0, 4000)
    win = sp.pair_deltas(pairs, rng, 1.5, 4000)
    assert abs(stats.median(null)) < 1.0  # A/A labels are arbitrary: the draws are symmetric about 0
    assert stats.median(win) == pytest.approx(50.0, abs=2.0)
    assert min(win) > -100.0  # a leg serves >= 0 tok/s


def test_paired_band_never_below_the_policy(pairs):
    policy = AuditPolicy()
    rng = np.random.default_rng(1)
    bands = [sp.paired_band(pairs, rng, 1, 8, policy) for _ in range(200)]
    assert min(bands) >= policy.noise_band_pct
    # two A/A crossovers: the wider of two draws, so never narrower on average
    rng2 = np.random.default_rng(1)
    assert np.mean([sp.paired_band(pairs, rng2, 2, 8, policy) for _ in range(200)]) > np.mean(bands)


def test_periods_wall():
    assert sp.periods_wall([10.0, 20.0, 30.0, 5.0], 2) == 50.0  # each period as long as its longer leg
    assert sp.periods_wall([10.0, 20.0, 30.0, 5.0], 8) == 50.0  # a crossover uses two sets whatever N is
    assert sp.periods_wall([10.0, 20.0, 30.0, 5.0], 1) == 65.0  # one set: the legs' sum (the engine time)


@pytest.fixture(scope="module")
def xwf():
    return replace(svs.load_workflow(REPO / "workflows" / "default.yaml"), design="crossover")


def test_crossover_gates_are_periods_of_four_legs_and_n_changes_only_the_wall(xwf, pairs):
    noise, policy = svs.load_noise(RUNS), AuditPolicy()
    surface = svs.make_surface(np.random.default_rng(3), 4, noise.base)
    runs = {n: svs.run_geak(surface, noise, xwf, policy, np.random.default_rng(7), n, pairs) for n in (1, 2, 8)}
    g = runs[2]
    kinds = [k for k, _ in g.steps]
    assert kinds[0] == "periods" and len(g.steps[0][1]) == 4  # aa_legs 2 rounds up to one crossover of 4 legs
    assert kinds[1] == "serial"  # the baseline
    gates = [s for k, s in g.steps[2:] if k == "periods"]
    assert len(gates) == len(g.decisions) and all(len(s) == 4 for s in gates)
    assert all(r.decisions == g.decisions and r.config == g.config and r.band == g.band for r in runs.values())
    assert runs[1].wall() == pytest.approx(g.wall(1))
    assert runs[8].wall() <= g.wall() < g.wall(1)


def test_a_large_real_win_is_banked_by_the_crossover_and_a_null_is_not(xwf, pairs):
    noise, policy = svs.load_noise(RUNS), AuditPolicy()
    base = noise.base
    big = svs.Surface((2,), (np.log(np.array([1.0, 1.6])),), {}, base)
    none = svs.Surface((2,), (np.zeros(2),), {}, base)
    wf1 = replace(xwf, max_candidates=1, screen_reps=None)
    banked = sum(
        svs.run_geak(big, noise, wf1, policy, np.random.default_rng(s), 2, pairs).decisions[0][2] for s in range(40)
    )
    nulls = sum(
        svs.run_geak(none, noise, wf1, policy, np.random.default_rng(s), 2, pairs).decisions[0][2] for s in range(40)
    )
    assert banked >= 30  # +60% clears a ~5% paired band in most trials
    assert nulls <= 2  # alpha 0.05 and a band: an A/A gate is almost never banked


def test_crossover_without_pair_noise_is_refused(xwf):
    noise = svs.load_noise(RUNS)
    surface = svs.make_surface(np.random.default_rng(0), 2, noise.base)
    with pytest.raises(svs.UsageError, match="pair noise"):
        svs.run_geak(surface, noise, xwf, AuditPolicy(), np.random.default_rng(0), 2, None)


def test_cli_crossover(capsys):
    assert svs.main(["--simulate", "--design", "crossover", "--trials", "3", "--knobs", "2", "--sets", "1,2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(
        line.startswith("pair noise: 8 A/A pairs of 1 recorded crossover(s) (tiny-cpu-crossover)") for line in out
    )
    assert any("a crossover needs two device sets" in line for line in out)
    cases = [line for line in out if line.startswith("knobs=")]
    assert len(cases) == 2 and all(SUFFIX.search(c) and "crossover band" in c for c in cases)
    assert any(line.startswith("goal knobs=2 sets=2:") for line in out)


def test_cli_crossover_with_no_recorded_crossover_is_exit_2(tmp_path, capsys):
    shutil.copytree(RUNS / "tiny-cpu-run", tmp_path / "tiny-cpu-run")
    shutil.copytree(RUNS / "tiny-cpu-reuse", tmp_path / "tiny-cpu-reuse")
    assert svs.main(["--simulate", "--design", "crossover", "--trials", "2", "--runs", str(tmp_path)]) == 2
    assert "no A/A crossover the auditor can derive pairs from" in capsys.readouterr().err


def test_workflow_design_is_read_and_checked(tmp_path):
    assert svs.load_workflow(REPO / "workflows" / "paired.yaml").design == "crossover"
    bad = tmp_path / "w.yaml"
    bad.write_text("name: w\nengine_defaults: {ab_design: latin_square}\nphases: []\n")
    with pytest.raises(svs.UsageError, match=r"ab_design 'latin_square' is not simulated \(known: blocks, crossover\)"):
        svs.load_workflow(bad)
