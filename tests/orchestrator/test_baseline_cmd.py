"""`geak baseline` is `geak run` with workflows/baseline.yaml: the same graph, the same re-measure
rule (issue 14), here over the recorded run's baseline leg (no engine)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from geak.orchestrator.cli import app

REC = Path(__file__).resolve().parents[2] / "runs" / "recorded" / "tiny-cpu-run"
runner = CliRunner()


def test_geak_baseline_runs_the_workflow_with_later_phases_off(tmp_path):
    out = tmp_path / "b"
    # the recorded legs were launched with this model path: a replayed leg must ask for the same knobs
    model = json.loads((REC / "run_args.json").read_text())["launch"]["model"]
    r = runner.invoke(
        app,
        [
            "baseline",
            "--run-dir",
            str(out),
            "--legs-from",
            str(REC),
            "--model",
            model,
            "--max-num-seqs",
            "4",
            "--num-prompts",
            "100",
            "--max-remeasures",
            "1",
            "--aa-legs",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output  # the baseline gate PASSes: exit as geak audit
    wf = yaml.safe_load((out / "workflow.yaml").read_text())
    assert [p["name"] for p in wf["phases"]] == ["baseline"] and wf["phases"][0]["max_attempts"] == 2
    assert wf["engine_defaults"]["aa_legs"] == 1  # its band makes the baseline PASS (B1), as in the recording
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "complete" and [g["gate_id"] for g in s["gates"]] == ["baseline"]
    assert s["gates"][0]["verdict"] == "PASS" and s["gates"][0]["banked"]
    ds = [json.loads(x) for x in (out / "decisions.jsonl").read_text().splitlines()]
    assert [d["decision_id"] for d in ds] == ["d-baseline-0"]
    assert (out / "audits" / "baseline.json").exists()


def test_geak_baseline_refuses_a_bad_setting_before_writing(tmp_path):
    out = tmp_path / "b"
    r = runner.invoke(app, ["baseline", "--run-dir", str(out), "--reps", "0"])
    assert r.exit_code == 2 and "reps" in r.output and not (out / "run_args.json").exists()
