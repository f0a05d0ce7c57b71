"""P3's paired path (auditor/paired.py, checks/paired_gate.py) on small run directories written
the way vLLM writes them (the synthetic corpus's leg writer: real per-request shapes, the host's
monotonic start_times with a matching date, vLLM CPU's 'core ids=[..]' start-up line)."""

from __future__ import annotations

from pathlib import Path

from geak.auditor.audit import audit_run
from geak.auditor.corpus.synthetic import LegSpec, write_leg
from geak.auditor.evidence.models import Decision, Manifest, PairedAA
from geak.auditor.evidence.store import RunStore

T0 = 1_700_000_000.0
CORE = "(EngineCore pid=4{n}) INFO 11-23 12:00:05 [ompmultiprocessing.py:185] \tlocal_rank=0, core ids=[{c}]\n"
# per-rep wobble and a drift shared by both halves of a pair: the host got 30% slower in period 2
WOB = [1.00, 0.97, 1.03, 0.99, 1.02]


SEQS = {"scheduler_config.max_num_seqs": 512}


def _leg(s: RunStore, leg_id: str, role: str, vals: list[float], *, start: float, core: int | None) -> None:
    log = CORE.format(n=len(leg_id) + start % 97, c=core) if core is not None else ""
    write_leg(s, LegSpec(leg_id, role, vals, counted=len(vals), started_at=start, log_extra=log,
                         resolved=SEQS if role == "candidate" else {}))


def _crossover(s: RunStore, gate: str, role_a: str, role_b: str, gain: float, *, swap: bool = True, cores=((0, 1), (1, 0)),
               b_shift_s: float = 0.0, logged: bool = True, noise: float = 0.0, t0: float = T0) -> tuple[list[str], list[str]]:
    a_legs, b_legs = [], []
    for p, (drift, t) in enumerate(((1.0, t0), (0.7, t0 + 300)), start=1):
        ca, cb = cores[p - 1] if swap else cores[0]
        a = [1000 * drift * w for w in WOB]
        b = [1000 * drift * w * gain * (1 + noise * (-1) ** i) for i, w in enumerate(WOB)]
        _leg(s, f"{gate}_a_p{p}", role_a, a, start=t, core=ca if logged else None)
        _leg(s, f"{gate}_b_p{p}", role_b, b, start=t + b_shift_s, core=cb if logged else None)
        a_legs.append(f"{gate}_a_p{p}")
        b_legs.append(f"{gate}_b_p{p}")
    return a_legs, b_legs


def _run(tmp: Path, design: str = "crossover", aa: bool = True, **kw) -> dict:
    s = RunStore(tmp)
    designs = []
    aa_legs: list[str] = []
    if aa:
        for k in (1, 2):
            a, b = _crossover(s, f"aa{k}", "aa", "aa", 1.0 + 0.004 * (-1) ** k, noise=0.003, t0=T0 - 1000 * k)
            designs.append(PairedAA(design="crossover", a_legs=a, b_legs=b))
            aa_legs += a + b
    ref, cand = _crossover(s, "g", "reference", "candidate", kw.pop("gain", 1.08), **kw)
    s.write_json("manifest.json", Manifest(run_id="t", aa_legs=aa_legs, aa_designs=designs))
    s.append_jsonl("decisions.jsonl", Decision(decision_id="d-g", gate_id="g", scope="patch", producer="config_tuner",
                                               reference_legs=ref, candidate_legs=cand, design=design,  # type: ignore[arg-type]
                                               declared_knobs=["scheduler_config.max_num_seqs"]))
    v = next(v for v in audit_run(tmp, write=False) if v.gate_id == "g")
    return {f.rule_id: f for f in v.findings} | {"_verdict": v}


def test_a_verified_crossover_banks_a_gain_the_sequential_design_calls_noise(tmp_path):
    got = _run(tmp_path / "x")
    p3 = got["P3"]
    assert p3.outcome == "pass", p3.message
    assert "paired crossover A/A band" in p3.message and p3.recomputed["n_pairs"] == 10
    assert 7.0 < p3.recomputed["median_pair_delta_pct"] < 9.0
    assert got["_verdict"].verdict == "PASS", [(f.rule_id, f.message) for f in got["_verdict"].findings if f.outcome != "pass"]
    # the same legs judged as blocks: period 2 ran 30% slower for both sides, so the reps overlap
    blocks = _run(tmp_path / "b", design="blocks")["P3"]
    assert blocks.outcome == "flag" and "overlap" in blocks.message


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
    assert p3.outcome == "flag" and "names no core set" in p3.message


def test_unevenly_overlapping_pairs_are_dropped_and_counted(tmp_path):
    # the candidate's reps started 50 ms late (a synthetic rep spans ~150 ms): each pair shares ~65%
    p3 = _run(tmp_path, b_shift_s=0.05)["P3"]
    assert p3.outcome == "flag"
    assert p3.recomputed["n_dropped"] > 0 and "dropped" in p3.message


def test_without_paired_aa_legs_the_gate_is_held_to_the_sequential_band(tmp_path):
    p3 = _run(tmp_path, aa=False)["P3"]
    assert "sequential band" in p3.message


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


def _abba(tmp: Path, orders: list[str], gain: float = 1.08, overlap: bool = False) -> dict:
    s = RunStore(tmp)
    ref, cand = [], []
    t = T0
    for k, order in enumerate(orders, start=1):
        drift = 1.0 - 0.05 * k  # the host slows steadily: a linear drift
        for side in order:
            leg = f"g_{side}{k}"
            v = [1000 * drift * (gain if side == "b" else 1.0) * w for w in WOB[:3]]
            _leg(s, leg, "reference" if side == "a" else "candidate", v, start=t, core=1)
            (ref if side == "a" else cand).append(leg)
            t += 20 if overlap else 200
    s.write_json("manifest.json", Manifest(run_id="t"))
    s.append_jsonl("decisions.jsonl", Decision(decision_id="d-g", gate_id="g", scope="patch", producer="config_tuner",
                                               reference_legs=ref, candidate_legs=cand, design="abba"))
    v = next(v for v in audit_run(tmp, write=False) if v.gate_id == "g")
    return {f.rule_id: f for f in v.findings}


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
