"""bench/search_vs_sweep.py: the noise model read from the recorded A/A legs, the auditor's rules as the
simulation applies them, geak's policy as the workflow runs it (one capped plan, one rung, serial gates),
batching, and the CLI's shape."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "search_vs_sweep.py"
RUNS = REPO / "runs" / "recorded"
SUFFIX = re.compile(r"engine-time ratio geak/sweep: (\S+), wall-time ratio vs serial: (\S+)$")


def _load():
    spec = importlib.util.spec_from_file_location("search_vs_sweep", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


svs = _load()


@pytest.fixture(scope="module")
def noise():
    return svs.load_noise(RUNS)


@pytest.fixture(scope="module")
def wf():
    return svs.load_workflow(REPO / "workflows" / "default.yaml")


def _leg(run: str, leg: str) -> tuple[list[float], list[float], dict]:
    d = RUNS / run / "legs" / leg
    rows = [json.loads(x) for x in (d / "bench_runs.jsonl").read_text().splitlines() if x.strip()]
    counted = [r["reported"]["output_throughput"] for r in rows if not r["warmup"]]
    return counted, [r["duration_s"] for r in rows], json.loads((d / "launch.json").read_text())


def test_noise_is_read_from_the_recorded_aa_legs(noise):
    legs = [p for p in RUNS.glob("*/legs/aa_*") if (p / "bench_runs.jsonl").exists()]
    assert noise.legs == len(legs) >= 2
    assert min(noise.overheads) > 0 and min(noise.rep_s) > 0 and min(noise.gaps) > 0
    # one leg recomputed here by hand: its rep deviations and its overhead are in the model
    vals, durations, lj = _leg("tiny-cpu-baseline", "aa_2")
    med = sorted(vals)[len(vals) // 2]
    for v in vals:
        assert any(math.isclose(v / med - 1, d, abs_tol=1e-12) for d in noise.deviations)
    overhead = lj["ended_at"] - lj["started_at"] - sum(durations)
    assert 10 < overhead < lj["ended_at"] - lj["started_at"]  # start-up dominates a leg on this VM
    assert any(math.isclose(overhead, o, rel_tol=1e-9) for o in noise.overheads)
    # the only in-run A/A pair: its gap is one of the launch-to-launch gaps
    a, b = (sorted(_leg("tiny-cpu-baseline", x)[0])[1] for x in ("aa_1", "aa_2"))
    assert any(math.isclose(abs(a - b) / ((a + b) / 2), g, rel_tol=1e-9) for g in noise.gaps)
    assert len(noise.deviations) == 3 * noise.legs


def test_too_few_aa_legs_is_a_usage_error(tmp_path, capsys):
    shutil.copytree(RUNS / "tiny-cpu-run" / "legs" / "aa_1", tmp_path / "r" / "legs" / "aa_1")
    with pytest.raises(svs.UsageError, match=re.escape(str(tmp_path))):
        svs.load_noise(tmp_path)
    assert svs.main(["--simulate", "--runs", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_batch_wall_is_the_longest_leg_of_each_batch():
    secs = [10.0, 30.0, 20.0, 5.0, 7.0]
    assert svs.batched_wall(secs, 1) == svs.queued_wall(secs, 1) == sum(secs)
    assert svs.batched_wall(secs, 2) == 30 + 20 + 7  # a rung: todo[:N], then the next N
    assert svs.batched_wall(secs, 3) == 30 + 7
    assert svs.batched_wall(secs, 8) == 30
    # one batch (the A/A legs): leg i on set i % N, each set's legs back to back
    assert svs.queued_wall(secs, 2) == max(10 + 20 + 7, 30 + 5)
    assert svs.queued_wall(secs, 3) == max(10 + 5, 30 + 7, 20)
    assert svs.queued_wall(secs, 8) == 30 and svs.queued_wall([], 4) == 0


def test_band_and_p3_follow_the_auditor():
    from geak.auditor.policy import AuditPolicy

    pol = AuditPolicy()
    # within spreads 2% and 1%, medians 100 vs 110: the gap (10%) is the band
    assert svs.band_pct([[99.0, 100.0, 101.0], [109.0, 110.0, 110.1]]) == pytest.approx(10.0)
    ref, cand = [100.0, 101.0, 102.0], [110.0, 111.0, 112.0]  # +9.9%, no overlap
    assert svs.p3_pass(ref, cand, 5.0, pol)
    assert not svs.p3_pass(ref, cand, 10.0, pol)  # inside the band
    assert not svs.p3_pass(ref, [99.0, 111.0, 112.0], 5.0, pol)  # the reps overlap
    # a measured band of 0 never narrows the policy's
    assert not svs.p3_pass([100.0] * 3, [100.4] * 3, 0.0, pol)


def test_sweep_measures_every_grid_point(noise, wf):
    from geak.auditor.policy import AuditPolicy

    for k in (2, 4):
        surface = svs.make_surface(np.random.default_rng(k), k, noise.base)
        sw = svs.run_sweep(surface, noise, wf, AuditPolicy(), np.random.default_rng(0))
        assert sw["configs"] == math.prod(surface.sizes) == surface.grid().size
        assert sw["engine_s"] >= sw["configs"] * (min(noise.overheads) + (wf.reps + 1) * min(noise.rep_s))
        assert sw["best_true"] == pytest.approx(float(surface.grid().max()))
        # the grid the sweep measures is the surface geak's legs are drawn from, point for point
        for cfg in itertools.product(*map(range, surface.sizes)):
            assert surface.grid()[cfg] == pytest.approx(surface.true(cfg), rel=1e-12)


def _geak(noise, wf, seed, sets, k=4, **over):
    from geak.auditor.policy import AuditPolicy

    surface = svs.make_surface(np.random.default_rng(seed), k, noise.base)
    return surface, svs.run_geak(
        surface, noise, replace(wf, **over), AuditPolicy(), np.random.default_rng(100 + seed), sets
    )


def test_device_sets_change_only_the_wall_time(noise, wf):
    for seed in range(6):
        for cap in (1, 2, 4, None):
            # one A/A leg: nothing batches but the rung, so a plan of one candidate gains nothing from sets
            (_, one), (_, four) = (_geak(noise, wf, seed, n, max_candidates=cap, aa_legs=1) for n in (1, 4))
            assert one.decisions == four.decisions and one.config == four.config and one.steps == four.steps
            assert one.wall() == one.wall(1) == four.wall(1) == pytest.approx(sum(sum(s) for _, s in one.steps))
            assert four.wall(sys.maxsize) <= four.wall() <= one.wall()
            if len(one.plan) >= 2:
                assert four.wall() < one.wall()
            else:
                assert four.wall() == one.wall()
        # the default's two A/A legs run at once on two sets: the shorter one's time is saved, and nothing else
        (_, one), (_, two) = (_geak(noise, wf, seed, n, max_candidates=1) for n in (1, 2))
        aa = next(s for kind, s in one.steps if kind == "queue")
        assert len(aa) == wf.aa_legs == 2 and two.wall() == pytest.approx(one.wall() - min(aa))


def test_the_rung_screens_the_whole_plan_and_promotes_the_better_half(noise, wf):
    assert wf.screen_reps and wf.max_candidates == 4  # the default workflow's config_tune
    for seed in range(6):
        surface, g = _geak(noise, wf, seed, 2, max_candidates=None)
        singles = [(i, x) for i, n in enumerate(surface.sizes) for x in range(1, n)]
        assert g.plan == singles  # every knob's other values, knob by knob
        rung = [s for kind, s in g.steps if kind == "rung"]
        assert len(rung) == 1 and len(rung[0]) == len(g.plan) and set(g.screen) == set(g.plan)
        assert all(s >= min(noise.overheads) + (wf.screen_reps + 1) * min(noise.rep_s) for s in rung[0])
        gated = [(i, x) for i, x, _ in g.decisions]
        assert len(gated) == math.ceil(len(g.plan) / 2)
        assert [g.screen[c] for c in gated] == sorted((g.screen[c] for c in gated), reverse=True)
        assert min(g.screen[c] for c in gated) >= max(g.screen[c] for c in g.plan if c not in gated)
        # serial: the baseline leg, then one gate leg per promoted candidate
        assert [len(s) for kind, s in g.steps if kind == "serial"] == [1] * (1 + len(gated))
    # no screen_reps: no rung, every planned candidate to the gate in plan order
    _, g = _geak(noise, wf, 0, 2, screen_reps=None)
    assert not g.screen and [kind for kind, _ in g.steps].count("rung") == 0
    assert [(i, x) for i, x, _ in g.decisions] == g.plan


def test_max_candidates_caps_the_plan(noise, wf):
    for cap in (1, 3, 4, 7, None):
        surface, g = _geak(noise, wf, 1, 2, k=8, max_candidates=cap)
        singles = [(i, x) for i, n in enumerate(surface.sizes) for x in range(1, n)]
        assert g.plan == singles[:cap] and len(g.plan) == (cap or len(singles))
        assert len(g.decisions) == math.ceil(len(g.plan) / 2)
    assert svs.load_workflow(REPO / "workflows" / "ci.yaml").max_candidates == 1


def test_a_bank_moves_the_incumbent(noise, wf):
    """Without noise every leg measures the truth: the gates must bank exactly the true gains above
    the policy's band, each candidate one knob of the incumbent as it stands after earlier banks."""
    from geak.auditor import stats
    from geak.auditor.policy import AuditPolicy

    quiet, chained = replace(noise, scale=0.0), 0
    for seed in range(20):
        surface, g = _geak(quiet, wf, seed, 1, max_candidates=None)
        inc, banks = (0,) * len(surface.sizes), 0
        for i, x, ok in g.decisions:
            c = inc[:i] + (x,) + inc[i + 1 :]
            assert ok == (stats.delta_pct(surface.true(inc), surface.true(c)) > AuditPolicy().noise_band_pct)
            chained += banks > 0 and c != (0,) * i + (x,) + (0,) * (len(inc) - i - 1)
            inc, banks = (c, banks + 1) if ok else (inc, banks)
        assert g.config == inc and g.false_banks == 0
    assert chained  # some gate did measure a candidate on top of an earlier bank


def test_same_seed_same_results(noise, wf):
    from geak.auditor.policy import AuditPolicy

    run = lambda seed: svs.simulate(noise, wf, AuditPolicy(), [2], [1, 2], 4, seed)  # noqa: E731
    assert run(3) == run(3)
    assert run(3) != run(4)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120, cwd=REPO
    )


def test_cli_small_run(tmp_path):
    out = tmp_path / "res.json"
    p = _cli(
        "--simulate", "--trials", "3", "--knobs", "2", "--sets", "1,2", "--max-candidates", "all", "--json", str(out)
    )
    assert p.returncode == 0, p.stderr
    lines = [x for x in p.stdout.splitlines() if x.startswith("knobs=")]
    assert [x.split(":")[0] for x in lines] == ["knobs=2 sets=1", "knobs=2 sets=2"]
    for x in lines:
        m = SUFFIX.search(x)
        assert m, x
        float(m.group(1)), float(m.group(2))
        assert 2 <= len(m.group(1).lstrip("0.").replace(".", "").split("e")[0]) <= 3
        assert re.search(r"within band of it \d+%", x)
    assert SUFFIX.search(lines[0]).group(2) == "1.00"
    assert p.stdout.startswith("noise model: ") and "A/A legs" in p.stdout.splitlines()[0]
    assert "max_candidates all" in p.stdout.splitlines()[1]
    res = json.loads(out.read_text())
    assert len(res["cases"]) == 2 and res["workflow"]["max_candidates"] is None
    assert all(c["planned"] == c["singles"] for c in res["cases"])


def test_cli_max_candidates_flag(capsys):
    for bad in ("0", "-1", "x", "2,3"):
        with pytest.raises(SystemExit) as e:
            svs.main(["--simulate", "--max-candidates", bad])
        assert e.value.code == 2
    assert svs.cap_arg("all") is None and svs.cap_arg("3") == 3


def test_cli_live_refuses_a_grid_it_will_not_run():
    p = _cli("--live", "--live-knobs", "9")
    assert p.returncode == 2
    assert "--live-knobs 1..3" in p.stderr
