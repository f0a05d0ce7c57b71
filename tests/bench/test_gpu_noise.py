"""bench/gpu_noise.py: its statistics on hand-computed numbers, and the command on synthetic runs built the
way the auditor's corpus builds a clean run, with A/A legs added (role "aa", their own server lifetimes)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import gpu_noise as gn  # noqa: E402

from geak.auditor.audit import audit_run  # noqa: E402
from corpus.synthetic import BASE_TPUT, LegSpec, build_clean_run  # noqa: E402
from geak.auditor.policy import AuditPolicy  # noqa: E402
from geak.orchestrator.workflow import ids  # noqa: E402

CARD = "NVIDIA H100 80GB HBM3, 81559 MiB, 550.54.15"
# six more A/A legs: within-leg wobble up to ~1.2%, launch-to-launch offsets up to ~1.5%
EXTRA = {
    f"aa_{i}": [BASE_TPUT * f * (1 + w) for w in ws]
    for i, f, ws in [
        (3, 0.995, (0.0, 0.006, -0.004)),
        (4, 1.010, (0.002, -0.006, 0.004)),
        (5, 0.998, (0.0, 0.005, -0.005)),
        (6, 1.005, (-0.003, 0.003, 0.006)),
        (7, 0.993, (0.004, -0.002, 0.0)),
        (8, 1.002, (0.001, -0.004, 0.003)),
    ]
}


def _add_aa(legs: dict) -> None:
    for k, (lid, vals) in enumerate(EXTRA.items()):
        legs[lid] = LegSpec(lid, "aa", vals, started_at=1_700_000_000.0 - 3000 + 100 * k, outputs="none")


@pytest.fixture(scope="module")
def big_run(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("gpu") / "run"
    build_clean_run(d, legs_mod=_add_aa)
    verdicts = {
        v.gate_id: v.verdict or "UNAUDITED" for v in audit_run(d)
    }  # a run as geak leaves it: audits/<gate>.json
    (d / "device.txt").write_text(CARD + "\n")
    return d, verdicts


def _main(capsys, *args) -> tuple[int, str, str]:
    rc = gn.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


# ---------------------------------------------------------------- statistics


def test_leg_figures_by_hand():
    g = gn.leg_figures([90.0, 100.0, 110.0])
    assert g["median"] == 100 and g["spread_pct"] == pytest.approx(20.0) and g["cv_pct"] == pytest.approx(10.0)
    assert gn.cv_pct([1.0, 2.0, 3.0]) == pytest.approx(50.0)  # stdev 1 (ddof 1) over mean 2
    assert gn.cv_pct([5.0]) is None


def test_pairwise_gaps_and_summary_by_hand():
    gaps = gn.pairwise_gaps_pct([100.0, 110.0, 120.0])
    assert gaps == pytest.approx([10.0, 20.0, 100 / 11])
    assert gn.med_max(gaps) == (pytest.approx(10.0), pytest.approx(20.0))  # the max is the auditor's (max - min) / min
    assert gn.med_max([]) == (None, None)


def test_relative_takes_each_run_to_its_own_level():
    rel = gn.relative([[[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], [[10.0, 10.0]]])
    want = [[1 / 3, 2 / 3, 1.0], [2 / 3, 4 / 3, 2.0], [1.0, 1.0]]  # medians 2 and 4: base 3; the other run's own 10
    assert len(rel) == 3 and all(r == pytest.approx(w) for r, w in zip(rel, want))


def test_bank_shares_and_the_smallest_banked():
    legs = [[1.0, 1.01, 0.99]] * 6  # every band 2% (the within-leg spread), no gap between legs
    shares = gn.bank_shares(legs, (1, 3), 20, 2, 0, AuditPolicy())
    # 1%: 1.01 x 0.99 does not beat 1.01; 3%: every candidate rep beats every reference rep, 3% > 2%
    assert shares == {1: 0.0, 3: 1.0}
    assert gn.smallest_banked({1: 0.0, 3: 0.79, 5: 0.8, 7: 1.0}) == 5
    assert gn.smallest_banked({1: 0.5}) is None


# ---------------------------------------------------------------- the command


def test_six_or_more_aa_legs_give_every_figure(big_run, capsys, tmp_path):
    big_run, verdicts = big_run
    rc, out, _ = _main(capsys, big_run, "--trials", "50", "--json", tmp_path / "o" / "n.json")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == f"[NVIDIA H100 80GB HBM3] card: {CARD}"
    assert all(x.startswith("[NVIDIA H100 80GB HBM3] ") for x in lines)
    assert sum(" within aa_" in x for x in lines) == 8
    m = re.search(r"within one server lifetime, over 8 A/A leg\(s\): spread median (\S+)% max (\S+)%", out)
    assert m and 0 < float(m[1]) <= float(m[2]) < 2
    gaps = re.search(r"between server lifetimes: leg medians .*; pairwise gaps median (\S+)% max (\S+)%", out)
    band = re.search(r"the auditor's band \(aa_band_pct\): (\S+)%; it gates with (\S+)% \(measured A/A legs\)", out)
    assert gaps and band and float(band[1]) == float(band[2]) >= float(gaps[2]) > 1
    assert "A B B A: not measured in these runs" in out
    small = re.search(r"smallest effect banked 4 times in 5: (\d+)%", out)
    assert small and int(small[1]) in gn.LADDER and "draws whole measured legs" in out
    # the verdict as the audit wrote it (the gate's claim is +8%, the kernel's +3% on top of it)
    for gate, delta in (("config-accept-1", 8.0), ("integrate-rmsnorm", 3.0)):
        live = re.search(
            rf"checked once live, run {gate}: \+(\S+)%, (\S+); estimate says effects >= (\d+)% bank 4 in 5", out
        )
        assert (
            live
            and float(live[1]) == pytest.approx(delta, abs=0.1)
            and live[2] == verdicts[gate]
            and live[3] == small[1]
        )
    js = json.loads((tmp_path / "o" / "n.json").read_text())
    assert js["estimate"]["legs"] == 8 and js["estimate"]["smallest_banked_pct"] == int(small[1])
    assert js["runs"][0]["auditor_band_pct"] == pytest.approx(float(band[1]), abs=0.05)
    assert not list((tmp_path / "o").glob(".*"))  # the temporary file was renamed into place


def test_fewer_than_six_say_the_estimate_needs_six(clean_run, capsys):
    rc, out, _ = _main(capsys, clean_run)
    assert rc == 0
    assert "[card unknown] card: card unknown (no device.txt)" in out
    assert "estimate: needs 6 A/A legs, these runs have 2: skipped" in out
    assert "checked once live: no audited patch gate in these runs" in out
    assert not (clean_run / "audits").exists()  # read-only


def test_two_runs_of_different_cards_are_each_named(big_run, clean_run, capsys):
    big_run, _ = big_run
    rc, out, _ = _main(capsys, big_run, clean_run, "--trials", "10")
    assert rc == 0
    assert f"[NVIDIA H100 80GB HBM3] card of {big_run}: {CARD}" in out
    assert f"[card unknown] card of {clean_run}: card unknown (no device.txt)" in out
    assert "estimate: 10 trials over 10 A/A legs" in out


def test_an_abba_design_is_read_with_the_auditors_paired_bands(tmp_path, capsys):
    def abba(legs: dict) -> None:  # the A/A legs under the ids setup gives an A B B A design
        for old, new in zip(("aa_1", "aa_2"), [i for ab in ids.aa_designs(2, "abba", 1)[0] for i in ab]):
            legs[new] = replace(legs.pop(old), leg_id=new)

    build_clean_run(tmp_path / "run", legs_mod=abba)
    rc, out, _ = _main(capsys, tmp_path / "run")
    assert rc == 0 and "not measured in these runs" not in out
    # a synthetic leg has no request spans to pair (and the manifest still names aa_1, aa_2): both bands unknown, said why
    assert "why unknown: A/A leg aa_1 is declared in manifest.json but legs/aa_1 is missing" in out
    assert "run: A B B A: paired band n/a (unknown: the auditor finds no A B B A chain" in out


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    (tmp_path / "empty" / "legs").mkdir(parents=True)
    rc, out, err = _main(capsys, tmp_path / "empty")
    assert rc == 2 and err.startswith("gpu_noise: no usable A/A legs") and len(err.splitlines()) == 1
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu_noise.py"), str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert p.returncode == 2 and p.stdout == ""
    assert (
        p.stderr.strip()
        == f"gpu_noise: {tmp_path / 'nope'} is not a run directory (no such directory, or no legs/ in it)"
    )


def test_the_abba_estimate_needs_a_larger_effect_on_noisier_pairs():
    pol = AuditPolicy()
    quiet = gn.abba_estimate([0.4, -0.6, 0.9, -0.2, 0.5, -0.8], 60, 0, pol)
    loud = gn.abba_estimate([4.0, -6.0, 9.0, -2.0, 5.0, -8.0], 60, 0, pol)
    assert quiet is not None and loud is not None and quiet["pairs"] == 6
    assert quiet["smallest_banked_pct"] is not None and loud["smallest_banked_pct"] is not None
    assert quiet["smallest_banked_pct"] < loud["smallest_banked_pct"]
    for est in (quiet, loud):  # more effect never banks less often on the same draws
        shares = list(est["shares"].values())
        assert shares == sorted(shares) and shares[0] < 0.8 <= shares[-1]
    assert gn.abba_estimate([1.0], 10, 0, pol) is None  # one pair delta is no distribution


def test_a_measured_abba_aa_chain_gives_the_paired_band_and_its_estimate(tmp_path, capsys):
    from corpus.plants_paired import abba_run  # A/A A B B A chain of 6 pairs, B 3% above A in each, then a gate

    abba_run(tmp_path / "run", ["ab", "ba", "ab", "ba", "ab", "ba"], aa_gains=(1.03,))
    rc, out, _ = _main(capsys, tmp_path / "run", "--trials", "40")
    assert rc == 0, out
    m = re.search(r"A B B A: paired band (\d+\.\d)%", out)
    assert m and float(m.group(1)) == pytest.approx(3.0, abs=0.1), out
    assert "estimate (A B B A): 40 trials, seed 0: each gate 6 pairs drawn from the 6 measured A/A pair deltas" in out
    assert re.search(r"estimate \(A B B A\): smallest effect banked 4 times in 5: \d+%", out), out
