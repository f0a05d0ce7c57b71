"""bench/ab_noise_report.ladder: the 4-of-5 trial ladder of each design's smallest banked effect,
and bench/ab_noise's trial bookkeeping (a trial whose legs did not all finish is no decision)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import ab_noise  # noqa: E402
import ab_noise_report  # noqa: E402


def _rows(design: str, seqs: str, verdicts: list[str], deltas: list[float]) -> list[dict]:
    r, c = seqs.split(":")
    return [
        {"design": design, "gate": f"eff{r}_{c}_t{k + 1}", "verdict": v, "delta_pct": d}
        for k, (v, d) in enumerate(zip(verdicts, deltas))
    ]


def test_the_smallest_effect_banked_in_four_of_five():
    rows = (
        _rows("paired", "8:32", ["PASS"] * 5, [38, 40, 36, 41, 37])
        + _rows("paired", "12:32", ["PASS", "PASS", "FLAG", "PASS", "PASS"], [18, 20, 9, 17, 19])
        + _rows("paired", "16:32", ["FLAG", "PASS", "FLAG", "FLAG", "FLAG"], [5, 8, 3, 4, 6])
    )
    lad = ab_noise_report.ladder(rows)["paired"]
    assert lad["smallest_banked"] == "12:32"
    by = {t["seqs"]: t for t in lad["sizes"]}
    assert (by["12:32"]["passes"], by["12:32"]["trials"], by["12:32"]["median_delta_pct"]) == (4, 5, 18)
    assert not by["16:32"]["banked"] and by["8:32"]["banked"]


def test_three_of_five_or_too_few_trials_bank_nothing():
    rows = _rows("sequential", "8:32", ["PASS", "FLAG", "PASS", "FLAG", "PASS"], [30, 70, 29, -5, 40]) + _rows(
        "sequential", "4:32", ["PASS"] * 4, [60, 61, 62, 63]
    )
    lad = ab_noise_report.ladder(rows)["sequential"]
    assert lad["smallest_banked"] is None
    assert [t["banked"] for t in lad["sizes"]] == [False, False]


def test_more_trials_need_the_same_share():
    # six sequential trials (three rounds of two sets): 5 of 6 is >= 4/5, 4 of 6 is not
    five = _rows("sequential", "8:32", ["PASS"] * 5 + ["FLAG"], [1] * 6)
    four = _rows("sequential", "8:32", ["PASS"] * 4 + ["FLAG"] * 2, [1] * 6)
    assert ab_noise_report.ladder(five)["sequential"]["smallest_banked"] == "8:32"
    assert ab_noise_report.ladder(four)["sequential"]["smallest_banked"] is None


def test_a_trial_cut_short_is_left_out(tmp_path):
    from corpus.plants_paired import T0, WOB, _leg

    store = ab_noise.RunStore(tmp_path / "paired")
    a, b = ab_noise._xlegs("eff8_32_t1")
    a2, b2 = ab_noise._xlegs("eff8_32_t2")
    for k, leg in enumerate(a + b + a2[:1] + b2[:1]):
        _leg(store, leg, "reference", [1000 * w for w in WOB[:3]], start=T0 + 100 * k, core=k % 2)
    # the second trial's period 2: one leg was cut short before its launch.json, one failed
    (tmp_path / "paired" / "legs" / a2[1]).mkdir()
    lj = tmp_path / "paired" / "legs" / b2[0] / "launch.json"
    lj.write_text(json.dumps({**json.loads(lj.read_text()), "status": "failed"}))
    whole = ab_noise.finished(store, {g: ab_noise._xlegs(g) for g in ("eff8_32_t1", "eff8_32_t2")})
    assert list(whole) == ["eff8_32_t1"]
    assert whole["eff8_32_t1"] == (a, b)


def _measured(out: Path) -> None:
    """A small stand-in of what ``measure`` writes, built by the corpus's leg writer (vLLM's own
    shapes, the engines' core-id lines): sequential A/A chains on both sets at once with a drift
    between legs, sequential effect trials, paired A/A crossovers and paired effect trials."""
    from corpus.plants_paired import T0, WOB, _leg, crossover
    from geak.auditor.evidence.models import Manifest, PairedAA, WorkloadSpec
    from geak.auditor.evidence.store import RunStore

    # what vLLM resolves from max_num_seqs 32 (the keys the tuner declares with it)
    SEQS = {"scheduler_config.max_num_seqs": 32, "scheduler_config.max_num_batched_tokens": 2048}

    seq = RunStore(out / "seq")
    drift = [1.0, 0.8, 1.1, 0.9, 1.05, 0.75, 1.0, 0.85, 1.1, 0.95, 0.8, 1.0]
    aa = []
    for i, d in enumerate(drift, start=1):
        for s in (0, 1):
            _leg(seq, f"aa_s{s}_{i}", "aa", [1000 * d * w for w in WOB[:3]], start=T0 + 300 * i, core=s)
            aa.append(f"aa_s{s}_{i}")
    for t in (1, 2, 3):
        for s in (0, 1):
            g = f"eff8_32_t{t}_s{s}"
            _leg(seq, f"{g}_ref", "reference", [1000 * w for w in WOB[:3]], start=T0 + 5000 + 600 * t, core=s)
            _leg(
                seq,
                f"{g}_cand",
                "candidate",
                [1000 * 1.3 * (0.6 if s else 1) * w for w in WOB[:3]],
                start=T0 + 5300 + 600 * t,
                core=s,
                resolved=SEQS,
            )
    seq.write_json("manifest.json", Manifest(run_id="seq", aa_legs=aa))
    par = RunStore(out / "paired")
    designs = [
        PairedAA(design="crossover", a_legs=a, b_legs=b)
        for k in (1, 2)
        for a, b in [crossover(par, f"aa{k}", "aa", "aa", 1.004, noise=0.003, t0=T0 + 10_000 * k)]
    ]
    for t in range(1, 6):
        crossover(par, f"eff8_32_t{t}", "reference", "candidate", 1.3, t0=T0 + 40_000 + 1000 * t, b_resolved=SEQS)
    par.write_json(
        "manifest.json",
        Manifest(run_id="paired", aa_legs=[x for d in designs for x in d.a_legs + d.b_legs], aa_designs=designs),
    )
    from corpus.synthetic import seal_legs

    for st in (seq, par):  # as the leg runner seals each leg it closes
        seal_legs(st)
    w = WorkloadSpec(dataset="random", num_prompts=16, input_len=32, output_len=16, max_concurrency=8, seed=0)
    (out / "measured.json").write_text(
        json.dumps({"seqs": [8, 32], "reps": 3, "wall_s": None, "sets": ["cpu:0", "cpu:1"], "workload": w.model_dump()})
    )


def test_the_report_audits_every_gate_and_prints_the_ladder(tmp_path, capsys):
    _measured(tmp_path)
    ab_noise.decide(tmp_path)
    assert ab_noise_report.report(tmp_path) == 0
    res = json.loads((tmp_path / "report.json").read_text())
    printed = capsys.readouterr().out
    assert "the measure did not finish" in printed
    # 22 consecutive sequential A/A pairs, each gated against the other chain's band
    assert res["seq"]["aa_gates"] == 22 and len(res["seq"]["pair_gaps_pct"]) == 22
    # the same chains read alone as A B B A A/A designs of 6 pairs: the drift between legs is
    # what the counterbalanced order cancels, and the auditor derives each chain's band
    for s in ("set0", "set1"):
        assert res["abba"]["chains"][s]["n_pairs"] == 6 and res["abba"]["chains"][s]["band_pct"] is not None
    assert res["abba"]["aa_gates"] == 2
    # two quiet A/A crossovers: each gated against the other is within its band
    assert res["paired"]["aa_gates"] == 2 and res["paired"]["aa_banked"] == 0
    # five paired trials of +30% bank; the six sequential trials (+30% on set 0, -22% on set 1)
    # are all inside the chains' drift band, so none banks
    lad = res["ladder"]
    top = lad["paired"]["sizes"][0]
    assert (top["seqs"], top["trials"], top["passes"], top["banked"]) == ("8:32", 5, 5, True)
    assert 28 < top["median_delta_pct"] < 32 and lad["paired"]["smallest_banked"] == "8:32"
    seq = lad["sequential"]["sizes"][0]
    assert (seq["trials"], seq["passes"], lad["sequential"]["smallest_banked"]) == (6, 0, None)
    assert "ladder, paired: 8:32: 5/5 PASS" in printed
