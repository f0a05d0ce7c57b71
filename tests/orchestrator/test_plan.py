"""`geak run --plan` and the launch flags of `geak run`: every leg, its device set, its engine and
client command, which legs run at once; nothing started, nothing written. 1, 2 and 8 GPUs with
TP 1 and 2 (the GPU count from a fake NVML where --devices all asks for it), and core sets."""

import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geak.orchestrator.cli import app
from geak.orchestrator.plan import build

from fake_nvml import fake_nvml

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def plan(*args, cwd=None):
    r = runner.invoke(app, ["run", "--plan", "--model", "Qwen/Qwen3-8B", *map(str, args)])
    assert r.exit_code == 0, r.output
    return r.output


def _legs(out: str) -> list[tuple[str, str]]:
    return re.findall(r"^  (\S+) \(\w+\) on (\S+),", out, re.M)


@pytest.mark.parametrize(
    "gpus,tp,sets",
    [
        (1, 1, ["cuda:0"]),
        (1, 2, None),
        (2, 1, ["cuda:0", "cuda:1"]),
        (2, 2, ["cuda:0-1"]),
        (8, 1, [f"cuda:{i}" for i in range(8)]),
        (8, 2, ["cuda:0-1", "cuda:2-3", "cuda:4-5", "cuda:6-7"]),
    ],
)
def test_plan_splits_the_box_into_device_sets(monkeypatch, tmp_path, gpus, tp, sets):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(gpus, {}))
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["run", "--plan", "--model", "Qwen/Qwen3-8B", "--devices", "all", "--tp", str(tp)])
    if sets is None:  # one GPU cannot hold a TP-2 set
        assert r.exit_code == 2 and "do not split into sets of 2" in r.output
        return
    assert r.exit_code == 0, r.output
    out = r.output
    assert f"device sets: {', '.join(sets)}" in out
    legs = dict(_legs(out))
    # the A/A legs spread over the sets; ordered (gate) legs stay on the first
    assert legs["aa_1"] == sets[0] and legs["aa_2"] == sets[1 % len(sets)]
    assert legs["baseline"] == sets[0] and legs["val_base_1"] == sets[0]
    screens = [d for leg, d in _legs(out) if leg.startswith("screen_")]
    assert screens == [sets[i % len(sets)] for i in range(len(screens))] and len(screens) == 4
    assert ("AT ONCE" in out) == (len(sets) > 1)
    for line in out.splitlines():
        if line.strip().startswith("engine:"):
            vis = re.search(r"CUDA_VISIBLE_DEVICES=(\S+)", line).group(1)
            assert vis in {",".join(map(str, range(int(s[5]), int(s[5]) + tp))) for s in sets}
            assert (f"--tensor-parallel-size {tp}" in line) == (tp > 1) or tp == 1
    assert not any(tmp_path.iterdir())  # nothing written


def test_plan_on_core_sets_pins_server_and_client_to_their_core(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = plan("--devices", "cpu:0-1", "--cores-per-leg", "1", "--workflow", REPO / "workflows" / "default.yaml")
    legs = _legs(out)
    assert ("aa_1", "cpu:0") in legs and ("aa_2", "cpu:1") in legs
    eng = [ln for ln in out.splitlines() if "engine:" in ln]
    assert any("VLLM_CPU_OMP_THREADS_BIND=1" in ln and "taskset -c 1 " in ln for ln in eng)
    bench = [ln for ln in out.splitlines() if "bench:" in ln]
    assert all(ln.split("bench:")[1].strip().startswith("taskset -c ") for ln in bench)
    # a core set is still a CPU box: the CPU plan's candidates, not the GPU one's
    assert "screen_enforce_eager-true" in out or "screen_enforce_eager-True" in out
    assert not any(tmp_path.iterdir())


def test_launch_and_workload_flags_reach_the_commands(tmp_path, monkeypatch):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "1+1="}) + "\n")
    monkeypatch.chdir(tmp_path)
    out = plan(
        "--devices",
        "0,1",
        "--dtype",
        "bfloat16",
        "--max-model-len",
        "4096",
        "--memory-fraction",
        "0.8",
        "--dataset",
        f"prompts:{prompts}",
        "--request-rate",
        "4",
    )
    eng = next(ln for ln in out.splitlines() if "engine:" in ln)
    assert "--dtype bfloat16" in eng and "--max-model-len 4096" in eng and "--gpu-memory-utilization 0.8" in eng
    bench = next(ln for ln in out.splitlines() if "bench:" in ln)
    assert "--dataset-name custom" in bench and f"--dataset-path {prompts}" in bench and "--request-rate 4.0" in bench
    assert "--skip-chat-template" in bench and "--random-input-len" not in bench
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prompts.jsonl"]


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--devices", "0,1,2", "--tp", "2"], "do not split"),
        (["--dataset", "sharegpt:/nonexistent.json"], "is not a file"),
        (["--dataset", "alpaca"], "use random, sharegpt:FILE or prompts:FILE"),
        (["--scheduler", "slurm"], "known schedulers: local, ray"),
        (["--devices", "tpu:0"], "not a device id"),
    ],
)
def test_bad_flags_are_usage_errors(args, msg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["run", "--plan", *args])
    assert r.exit_code == 2 and msg in r.output, r.output


def test_an_llm_strategist_plan_is_said_to_be_decided_at_run_time():
    from geak.auditor.evidence.models import WorkloadSpec
    from geak.orchestrator.workflow_config import DEFAULT, WorkflowConfig

    steps = build(
        engine="vllm",
        launch={"model": "m"},
        workload=WorkloadSpec(dataset="random", num_prompts=8),
        wf=WorkflowConfig.load(DEFAULT),
        device_sets=["cuda:0", "cuda:1"],
        llm_mode="live",
    )
    strat = next(s for s in steps if s.node == "strategize")
    assert not strat.legs and "at run time" in strat.why
    assert not any(s.node in ("screen", "config_measure") for s in steps)


def test_the_device_flags_reach_the_run_and_reassign_the_recorded_runs_sets(tmp_path):
    """`geak run` with the parallel recording's flags, its legs taken from the recording: the sets
    reach run_args.json, and every leg asks for the device set the live run gave it (a leg on
    another set would be a replay miss), so the run reproduces the recording's decisions."""
    rec = REPO / "runs" / "recorded" / "tiny-cpu-parallel"
    out = tmp_path / "run"
    r = runner.invoke(
        app,
        [
            "run",
            "--run-dir",
            str(out),
            "--legs-from",
            str(rec),
            "--use-auditor",
            "--devices",
            "cpu:0-1",
            "--cores-per-leg",
            "1",
            "--num-prompts",
            "40",
            "--no-report",
            "--model",
            json.loads((rec / "run_args.json").read_text())["launch"]["model"],
        ],
    )
    assert r.exit_code == 0, r.output
    args = json.loads((out / "run_args.json").read_text())
    assert (
        args["device_sets"] == ["cpu:0", "cpu:1"]
        and args["launch"]["devices"] == "cpu:0"
        and args["scheduler"] == "local"
    )
    assert (out / "decisions.jsonl").read_bytes() == (rec / "decisions.jsonl").read_bytes()


@pytest.mark.parametrize(
    "devices,owner",
    [
        (["--devices", "cpu"], "aa_2"),
        (["--devices", "cpu:0-1", "--cores-per-leg", "1"], "aa_1"),
        (["--devices", "0,1"], "aa_1"),
    ],
)
def test_plan_says_which_leg_measures_on_a_kept_server(devices, owner):
    """The baseline follows the A/A leg that last held its set with the same argv and env: it
    measures on that server (the run does the same: agents/runners/legs.py's roles)."""
    out = plan(*devices)
    kept = re.findall(r"^  (\S+) \((\w+)\) on \S+, .*on the server (\S+) kept up", out, re.M)
    assert kept == [("baseline", "baseline", owner)], kept
    assert "kept up" not in plan(*devices, "--no-server-reuse")


def test_plan_reuses_nothing_for_an_engine_without_a_cache_reset(monkeypatch):
    from geak.agents.engines.sglang import SglangAdapter

    assert "kept up" in plan("--engine", "sglang")  # SGLang's radix cache has a flush route
    monkeypatch.setattr(SglangAdapter, "cache_reset_path", None)
    assert "kept up" not in plan("--engine", "sglang")


def test_plan_of_the_crossover_design_pairs_every_leg_with_its_partner_on_the_other_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = plan("--devices", "cpu:0-1", "--cores-per-leg", "1", "--ab-design", "crossover", "--max-num-seqs", "8")
    legs = _legs(out)
    # the A/A crossover, then the gate's: period 1 A on set 0, B on set 1; period 2 swapped
    assert legs[:4] == [("aa1_a_p1", "cpu:0"), ("aa1_b_p1", "cpu:1"), ("aa1_a_p2", "cpu:1"), ("aa1_b_p2", "cpu:0")]
    gate = [(i, d) for i, d in legs if i.startswith(("xref_", "xcfg_"))]
    assert gate[:4] == [
        ("xref_max_num_seqs-32_p1", "cpu:0"),
        ("xcfg_max_num_seqs-32_p1", "cpu:1"),
        ("xref_max_num_seqs-32_p2", "cpu:1"),
        ("xcfg_max_num_seqs-32_p2", "cpu:0"),
    ]
    assert out.count("crossover period") >= 4 and "AT ONCE on cpu:0 | cpu:1" in out
    # every paired leg starts its own server: the baseline after the A/A crossover reuses none
    assert "kept up" not in out
    assert not any(tmp_path.iterdir())


def test_plan_of_the_abba_design_alternates_short_legs_on_one_set(tmp_path, monkeypatch):
    from geak.auditor.evidence.models import WorkloadSpec
    from geak.orchestrator.workflow_config import DEFAULT, WorkflowConfig

    wf = WorkflowConfig.load(DEFAULT)
    wf.engine_defaults.ab_design, wf.engine_defaults.abba_pairs = "abba", 2
    steps = build(
        engine="vllm",
        launch={"model": "m", "max_num_seqs": 8, "devices": "cpu"},
        device_sets=[],
        workload=WorkloadSpec(dataset="random", num_prompts=8, max_concurrency=32),
        wf=wf,
    )
    setup = [x.leg_id for s in steps if s.node == "setup" for x in s.legs]
    assert setup == ["aa_a_1", "aa_b_1", "aa_b_2", "aa_a_2"]
    gate = [x.leg_id for s in steps if s.node == "config_measure" for x in s.legs][:4]
    assert gate == [
        "xref_max_num_seqs-32_1",
        "xcfg_max_num_seqs-32_1",
        "xcfg_max_num_seqs-32_2",
        "xref_max_num_seqs-32_2",
    ]


@pytest.mark.parametrize("args", [["--ab-design", "crossover"], ["--ab-design", "crossover", "--devices", "cpu:0"]])
def test_a_crossover_on_one_device_set_is_a_usage_error(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for cmd in (["run", "--plan"], ["run", "--run-dir", str(tmp_path / "r")]):
        r = runner.invoke(app, [*cmd, *args])
        assert r.exit_code == 2 and "two disjoint device sets" in r.output and "abba" in r.output, r.output
    assert not (tmp_path / "r" / "run_args.json").exists()


def test_an_unknown_design_lists_the_known_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["run", "--plan", "--ab-design", "latin-square"])
    assert r.exit_code == 2 and "ab_design" in r.output and "crossover" in r.output, r.output


def test_aa_legs_on_the_command_line_overrides_the_workflows_and_lands_in_the_manifest(tmp_path):
    """`geak run --aa-legs 6` (the recorded H100 run): six A/A server lifetimes where gpu-quick.yaml says 2."""
    out = plan("--workflow", REPO / "workflows" / "gpu-quick.yaml", "--devices", "cpu", "--aa-legs", 6)
    assert [leg for leg, _ in _legs(out) if leg.startswith("aa_")] == [f"aa_{i}" for i in range(1, 7)]
    from geak.orchestrator.cli.run_setup import RunRequest, new_run

    new_run(
        tmp_path / "run",
        RunRequest(
            workflow=REPO / "workflows" / "gpu-quick.yaml",
            engine="vllm",
            model=None,
            use_auditor=True,
            engine_defaults={"aa_legs": 3},
        ),
    )
    import json

    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["aa_legs"] == ["aa_1", "aa_2", "aa_3"]
    bad = runner.invoke(app, ["run", "--plan", "--model", "m", "--aa-legs", "-1"])
    assert bad.exit_code == 2
