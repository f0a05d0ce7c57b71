"""Runs recorded for real (vLLM on this CPU) and shipped in runs/recorded: the auditor re-verifies them."""

import json
from pathlib import Path

from geak.auditor.audit import audit_file, audit_run
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.store import RunStore

RECORDED = Path(__file__).resolve().parents[1] / "runs" / "recorded" / "tiny-cpu-baseline"


def test_recorded_baseline_run_re_audits_to_pass():
    vs = audit_run(RECORDED, write=False)
    assert [(v.gate_id, v.verdict) for v in vs] == [("baseline", "PASS")], [
        (f.rule_id, f.outcome, f.message) for v in vs for f in v.findings if f.outcome != "pass"
    ]


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


def _shipped() -> list[str]:
    """The recordings the tree ships: its archives (an unpacked directory may be a stale local one)."""
    from geak.auditor.runpack import SUFFIX, shipped

    return [a.name[: -len(SUFFIX)] for a in shipped(RUNS / "recorded")]


def test_every_recorded_run_has_a_hand_written_key_labelling_each_of_its_gates():
    from geak.auditor.backtest import case_run, load_key

    keyed = {}
    for k in sorted((RUNS / "keys").glob("*/key.yaml")):
        key = load_key(k)
        keyed[case_run(k.parent, key).name] = key
        assert "default_verdict" not in key, f"{k}: one label per gate, none by default"
        assert all(spec.get("why") for spec in key["gates"].values()), f"{k}: every label says why"
        assert set(key["gates"]) == _gates_named(case_run(k.parent, key)), k
    assert sorted(keyed) == _shipped()


def test_geak_backtest_scores_the_real_runs_against_their_keys():
    from geak.auditor.backtest import backtest

    rep = backtest(RUNS / "keys")
    assert not rep.problems, rep.problems
    assert sorted({g.case for g in rep.gates}) == _shipped()
    assert rep.verdict_accuracy == 1.0 and rep.recall == 1.0, [g for g in rep.gates if not g.ok]
    # where the key and the auditor part: B6 calls the noisy validation base of tiny-cpu-run a
    # handicapped reference; the recorder knows nothing handicapped it (see its key)
    extra = {(g.case, g.gate_id, r) for g in rep.gates for r in set(g.fired_rules) - set(g.expected_rules)}
    assert ("tiny-cpu-run", "bundle", "B6") in extra, extra


PARALLEL = RUNS / "recorded" / "tiny-cpu-parallel"


def test_the_parallel_recordings_batches_ran_at_once_on_disjoint_cores_without_contention():
    from geak.auditor.checks.concurrency import contention, leg_units, overlapping
    from geak.auditor.evidence.loader import RunEvidence
    from geak.auditor.evidence.store import RunStore

    run = RunEvidence(RunStore(PARALLEL))
    batches = [json.loads(line) for line in (PARALLEL / "scheduler" / "batches.jsonl").read_text().splitlines()]
    assert [sorted(b["legs"].values()) for b in batches] == [["cpu:0", "cpu:1"]] * 3
    for b in batches:
        a, c = (run.leg(i) for i in b["legs"])
        assert [o.leg_id for o, _ in overlapping(run, a, 1.0)] == [c.leg_id]  # the auditor finds the overlap itself
        ua, uc = leg_units(a), leg_units(c)
        assert "server.log" in ua[1] and "server.log" in uc[1] and not (ua[0] & uc[0])  # the engines' own core lines
        for leg in (a, c):
            assert contention(run, leg, min_overlap_s=1.0, max_shared_core_load=0.25) == []
    # the gate legs ran alone, on the first set
    for lid in ("baseline", "cfg_max_num_batched_tokens-512"):
        assert overlapping(run, run.leg(lid), 1.0) == [] and run.leg(lid).launch.launch_config["devices"] == "cpu:0"


def test_the_parallel_recording_replays_one_leg_at_a_time_to_the_same_verdicts(tmp_path):
    from typer.testing import CliRunner

    from geak.orchestrator.cli import app

    r = CliRunner().invoke(app, ["replay", str(PARALLEL), "--out", str(tmp_path / "rp")])
    assert r.exit_code == 0 and "reproduced exactly" in r.output, r.output
    assert (tmp_path / "rp" / "decisions.jsonl").read_bytes() == (PARALLEL / "decisions.jsonl").read_bytes()


REUSE = RUNS / "recorded" / "tiny-cpu-reuse"


def test_the_reuse_recordings_baseline_measured_on_the_aa_legs_server_and_the_auditor_placed_it():
    """A real run with server reuse (runs/recorded/tiny-cpu-reuse, 2026-12-02): the baseline
    measured on aa_2's server (the last leg on the host's set before it); every other leg has
    its own lifetime; E2 re-derives all of it from the engine's logs and passes."""
    from geak.auditor.audit import audit_run
    from geak.auditor.evidence.lifetime import resets
    from geak.auditor.evidence.loader import RunEvidence
    from geak.auditor.evidence.store import RunStore

    run = RunEvidence(RunStore(REUSE))
    reused = {lid: lj.server.owner_leg for lid, lj in run.launches.items() if lj.server and lj.server.reused}
    assert reused == {"baseline": "aa_2"}
    base = run.leg("baseline")
    assert base.server_log_file == "legs/aa_2/server.log" and not (REUSE / "legs" / "baseline" / "server.log").exists()
    s = base.launch.server
    assert resets(base.server_log, s.log_offset_start, s.log_offset_end)
    assert not run.lifetimes["aa_1"].same(run.lifetimes["aa_2"])  # the A/A legs: two launches
    v = next(v for v in audit_run(REUSE, write=False) if v.gate_id == "baseline")
    e2 = [f for f in v.findings if f.rule_id == "E2"]
    assert v.verdict == "PASS" and [f.outcome for f in e2] == ["pass"], [
        (f.outcome, f.message) for f in v.findings if f.outcome != "pass"
    ]


def test_the_reuse_recording_replays_to_the_same_decisions(tmp_path):
    from typer.testing import CliRunner

    from geak.orchestrator.cli import app

    r = CliRunner().invoke(app, ["replay", str(REUSE), "--out", str(tmp_path / "rp")])
    assert r.exit_code == 0 and "reproduced exactly" in r.output, r.output


CROSSOVER = RUNS / "recorded" / "tiny-cpu-crossover"


def test_the_crossover_recordings_pairs_are_re_derived_from_the_bytes():
    """A real `geak run --workflow runs/recorded/tiny-cpu-crossover/workflow.yaml --devices cpu:0-1
    --cores-per-leg 1 --max-num-seqs 8 --num-prompts 200` (2026-12-07; workflows/paired.yaml without
    its validate phase, for the lean tree): the A/A legs and the config gate ran as 2x2 crossovers. The
    auditor finds the A/A crossover itself (not from the manifest), verifies the gate's pairing
    from vLLM's request times and the engines' core lines, and banks the change per pair."""
    from geak.auditor import aa_pairs, paired, stats
    from geak.auditor.policy import AuditPolicy

    run = RunEvidence(RunStore(CROSSOVER))
    spans = [aa_pairs.span_of(run.leg(i)) for i in ("aa1_a_p1", "aa1_b_p1", "aa1_a_p2", "aa1_b_p2")]
    assert all(spans) and {s.cores for s in spans} == {frozenset({0}), frozenset({1})}
    found, left = aa_pairs.crossovers(spans)
    # one crossover: each side ran once on each core (an A/A's side labels are arbitrary)
    assert (
        len(found) == 1
        and left == []
        and {frozenset(found[0][0]), frozenset(found[0][1])}
        == {frozenset({"aa1_a_p1", "aa1_a_p2"}), frozenset({"aa1_b_p1", "aa1_b_p2"})}
    )
    d = next(d for _, d in run.decisions if d.gate_id == "config-max_num_seqs-32")
    assert d.design == "crossover" and d.reference_legs == ["xref_max_num_seqs-32_p1", "xref_max_num_seqs-32_p2"]
    res = paired.derive(
        "crossover",
        [run.leg(i) for i in d.reference_legs],
        [run.leg(i) for i in d.candidate_legs],
        "output_throughput",
        True,
        AuditPolicy().pair_min_evenness,
    )
    assert res.unverifiable is None and len(res.deltas) == 8 and min(res.deltas) > 10 and stats.median(res.deltas) > 30
    v = next(v for v in audit_run(CROSSOVER, write=False) if v.gate_id == "config-max_num_seqs-32")
    p3 = next(f for f in v.findings if f.rule_id == "P3")
    assert v.verdict == "PASS" and "paired crossover A/A band" in p3.message, p3.message
    assert v.policy["paired_aa"]["crossover_1"]["source"].startswith("crossover found from the bytes")


def test_the_crossover_recording_replays_to_the_same_decisions(tmp_path):
    from typer.testing import CliRunner

    from geak.orchestrator.cli import app

    r = CliRunner().invoke(app, ["replay", str(CROSSOVER), "--out", str(tmp_path / "rp")])
    assert r.exit_code == 0 and "reproduced exactly" in r.output, r.output
    assert (tmp_path / "rp" / "decisions.jsonl").read_bytes() == (CROSSOVER / "decisions.jsonl").read_bytes()


def test_a_crossover_period_cut_short_is_measured_again_whole(tmp_path):
    """A resumed run whose crash left one half of a period: that half has no partner to pair
    with any more, so both halves are measured again and the half is kept under abandoned/."""
    import shutil

    from geak.agents.engines.base import LaunchConfig
    from geak.agents.engines.leg import LegResult
    from geak.auditor.evidence.models import LegLaunch
    from geak.agents.runners.legs import LiveLegs
    from geak.agents.runners.paired import crossover_jobs
    from geak.orchestrator.workflow import ids

    store = RunStore(tmp_path / "run")
    shutil.copytree(CROSSOVER / "legs" / "aa1_a_p1", store.path("legs/aa1_a_p1"))
    lj, _ = RunStore(CROSSOVER).read_json("legs/aa1_a_p1/launch.json", LegLaunch)
    cfg = LaunchConfig(**{**json.loads((CROSSOVER / "run_args.json").read_text())["launch"], **lj.launch_config})
    p1, _ = crossover_jobs(
        ids.paired_legs("aa1_a", "aa1_b", "crossover", 2),
        cfg,
        cfg,
        ("cpu:0", "cpu:1"),
        ("aa", "aa"),
        {"workload": lj.workload, "reps": 4},
        store.path("pairs"),
    )

    class Counting(LiveLegs):  # the engine is not what this tests: the batch's resume rule is
        def one(self, store, job):
            return LegResult(job.leg_id, "ok", None, 4, None)

    legs = Counting("vllm")
    got = legs.batch(store, p1)
    assert [r.leg_id for r in got] == ["aa1_a_p1", "aa1_b_p1"] and sorted(legs.measured) == ["aa1_a_p1", "aa1_b_p1"]
    assert [p.name.split("-")[0] for p in store.path("abandoned").iterdir()] == ["aa1_a_p1"]
    # with both halves on disk the period is kept, nothing measured again
    shutil.copytree(CROSSOVER / "legs" / "aa1_a_p1", store.path("legs/aa1_a_p1"))
    shutil.copytree(CROSSOVER / "legs" / "aa1_b_p1", store.path("legs/aa1_b_p1"))
    again = Counting("vllm")
    assert [r.status for r in again.batch(store, p1)] == ["ok", "ok"] and again.measured == []


def test_every_shipped_recordings_audits_are_what_the_auditor_says_today():
    """audits/<gate>.json of each recording is today's verdict (a replay is held to them): after a
    change to the auditor, scripts/refresh_recorded_audits.py re-audits and packs them again."""
    stale = []
    for run in sorted(p for p in RECORDED.parent.iterdir() if p.is_dir() and (p / "legs").is_dir()):
        for v in audit_run(run, write=False):
            name = audit_file(v.gate_id, run_level=v.scope is None)
            got = json.loads(v.model_dump_json())
            try:
                kept = json.loads((run / name).read_text())
            except FileNotFoundError:
                stale.append(f"{run.name}/{name}: no audit file")
                continue
            if {k: x for k, x in got.items() if k != "created_at"} != {
                k: x for k, x in kept.items() if k != "created_at"
            }:
                stale.append(f"{run.name}/{v.gate_id}: {kept.get('verdict')} kept, {v.verdict} today")
    assert not stale, f"{stale}: run scripts/refresh_recorded_audits.py"
