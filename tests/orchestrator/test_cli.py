"""The `geak` console script, run as a user runs it: a real subprocess, real files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corpus.plants import PLANTS, build_clean_run

REPO = Path(__file__).resolve().parents[2]


def geak(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "geak.orchestrator.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
    )


def _plant(tmp_path, name):
    p = PLANTS[name]
    return build_clean_run(tmp_path / "run", legs_mod=p.legs_mod, decisions_mod=p.decisions_mod, after=p.after).root


def test_audit_clean_run_exits_0(clean_run):
    r = geak("audit", clean_run)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout


@pytest.mark.parametrize("case,code", [("b1_noisy", 1), ("b4_handicapped_seed", 3)])
def test_audit_exit_code_follows_worst_verdict(tmp_path, case, code):
    assert geak("audit", _plant(tmp_path, case)).returncode == code


def test_audit_json_is_machine_readable(clean_run):
    r = geak("audit", clean_run, "--json", "--gate", "baseline")
    data = json.loads(r.stdout)
    assert [v["gate_id"] for v in data] == ["baseline"] and data[0]["verdict"] == "PASS"


@pytest.mark.parametrize(
    "case,file,needle",
    [
        ("p1_truncated_line", "legs/cfg_seqs512/bench_runs.jsonl", "bench_runs.jsonl:4"),
        # a bad value the tool itself wrote is named where it wrote it: raw/, by its own field name
        ("p1_nan_latency", "legs/cfg_seqs512/raw/rep_1.json", "ttfts[3]"),
        ("p1_negative_latency", "legs/cfg_seqs512/raw/rep_2.json", "latencies[5]"),
        ("p1_schema_version", "legs/cfg_seqs512/bench_runs.jsonl", "schema_version"),
        ("p1_missing_raw", "legs/cfg_seqs512/bench_runs.jsonl", "file is missing"),
    ],
)
def test_bad_raw_gives_a_finding_naming_file_line_field_never_a_traceback(tmp_path, case, file, needle):
    r = geak("audit", _plant(tmp_path, case), "--gate", "config-accept-1", "--json")
    assert r.returncode == 3
    assert "Traceback" not in r.stdout + r.stderr
    findings = json.loads(r.stdout)[0]["findings"]
    p1 = [f for f in findings if f["rule_id"] == "P1" and f["outcome"] == "fail"]
    text = json.dumps(p1)
    assert needle in text, text[:2000]
    assert file in text


def test_audit_of_a_missing_directory_is_a_usage_error(tmp_path):
    r = geak("audit", tmp_path / "nope")
    assert r.returncode == 2 and "not a directory" in r.stderr and "Traceback" not in r.stderr


def test_unknown_scope_lists_known_ones(clean_run):
    r = geak("audit", clean_run, "--scope", "kernel")
    assert r.returncode == 2 and "baseline" in r.stderr and "bundle" in r.stderr


def test_audit_of_an_empty_directory_fails_with_findings(tmp_path):
    r = geak("audit", tmp_path, "--json")
    assert r.returncode == 3
    data = json.loads(r.stdout)
    assert data[0]["gate_id"] == "run" and "manifest.json" in json.dumps(data)


def test_backtest_shipped_corpus_meets_the_bar():
    r = geak("backtest", REPO / "runs" / "cases", "--min-recall", "1.0", "--max-false-fail", "0")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert "recall 1.00" in r.stdout


def test_backtest_bar_can_fail(tmp_path):
    # a key that expects a rule the auditor cannot see drops recall below 1
    case = tmp_path / "cases" / "wrong_key"
    build_clean_run(case / "run")
    (case / "key.yaml").write_text("gates:\n  baseline: {verdict: FAIL, rules: [B4]}\n")
    r = geak("backtest", tmp_path / "cases", "--min-recall", "1.0")
    assert r.returncode == 3 and "miss" in r.stdout


def test_unknown_importer_lists_known_ones(tmp_path):
    r = geak("import", "mystery", tmp_path, "--out", tmp_path / "run")
    assert r.returncode == 2 and "geak-v4" in r.stderr


def test_nothing_to_audit_is_not_a_pass(clean_run):
    # a --scope that matches no gate, or an empty decisions.jsonl: n/a, exit 5, never 0
    r = geak("audit", clean_run, "--scope", "harness")
    assert r.returncode == 0  # the clean run has a harness gate: PASS
    (clean_run / "decisions.jsonl").write_text("")
    r = geak("audit", clean_run)
    assert r.returncode == 5 and "nothing audited" in r.stderr and "not a PASS" in r.stderr, r.stdout + r.stderr


def test_a_refused_write_is_an_internal_error_in_one_line_not_a_traceback(clean_run):
    import os

    os.symlink("legs", clean_run / "audits")  # writing verdicts there would overwrite evidence
    r = geak("audit", clean_run)
    assert r.returncode == 123, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "symbolic link" in r.stderr


def test_every_option_of_the_commands_that_start_engines_says_what_it_does():
    import typer.main

    from geak.orchestrator.cli import app

    cmd = typer.main.get_command(app)
    bare = {
        name: [
            p.name for p in cmd.commands[name].params if not getattr(p, "hidden", False) and not (p.help or "").strip()
        ]
        for name in ("run", "leg", "baseline")
    }
    assert bare == {"run": [], "leg": [], "baseline": []}, bare


def test_a_malformed_accuracy_file_exits_2_naming_line_and_field_before_anything_starts(tmp_path):
    bad = tmp_path / "qa.jsonl"
    bad.write_text(
        '{"question": "Ann has 2 apples and buys 3. How many?", "answer": "#### 5"}\n'
        '{"question": "How many?", "answer": "five"}\n'
    )
    r = geak(
        "run", "--run-dir", tmp_path / "run", "--accuracy-file", bad, "--workflow", REPO / "workflows" / "gpu.yaml"
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{bad}:2: field 'answer' has no '####" in " ".join((r.stdout + r.stderr).split())
    assert not (tmp_path / "run" / "run_args.json").exists()


def test_the_gpu_workflow_names_its_accuracy_file_and_the_run_records_it_absolute(tmp_path):
    from geak.orchestrator.cli.run_setup import RunRequest, new_run

    new_run(
        tmp_path / "run",
        RunRequest(workflow=REPO / "workflows" / "gpu.yaml", engine="vllm", model=None, use_auditor=True),
    )
    args = json.loads((tmp_path / "run" / "run_args.json").read_text())
    assert args["accuracy_file"] == str(REPO / "workflows" / "gsm8k_mini.jsonl")
    assert args["parity_file"] == str(REPO / "models" / "tiny-arith" / "parity.jsonl")


def test_a_run_keeps_its_own_copy_of_the_question_files_and_its_legs_answer_that_copy(tmp_path):
    import hashlib

    from geak.auditor.evidence.loader import RunEvidence
    from geak.auditor.evidence.store import RunStore
    from geak.orchestrator import run as R
    from geak.orchestrator.cli.run_setup import RunRequest, new_run

    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "Ann has 2 apples and buys 3. How many?", "answer": "#### 5"}\n')
    new_run(
        tmp_path / "run",
        RunRequest(
            workflow=REPO / "workflows" / "gpu.yaml", engine="vllm", model=None, use_auditor=True, accuracy_file=qa
        ),
    )
    run = tmp_path / "run"
    m = json.loads((run / "manifest.json").read_text())
    assert m["inputs"]["accuracy"] == {
        "path": "inputs/accuracy.jsonl",
        "source": str(qa),
        "size_bytes": qa.stat().st_size,
        "sha256": hashlib.sha256(qa.read_bytes()).hexdigest(),
    }
    assert (run / "inputs" / "accuracy.jsonl").read_bytes() == qa.read_bytes()
    assert (run / "inputs" / "parity.jsonl").read_bytes() == (
        REPO / "models" / "tiny-arith" / "parity.jsonl"
    ).read_bytes()
    qa.write_text('{"question": "changed after the run started", "answer": "#### 9"}\n')  # the user's file moves on
    rt = R.runtime(run, R.load_args(run))
    assert [p.expected for p in rt.accuracy.prompts] == ["5"]  # the legs answer the run's copy
    assert RunEvidence(RunStore(run)).answer_key == ({"q0001": "5"}, None)


def test_readmes_exit_code_table_is_the_one_every_command_uses():
    import re

    from geak.orchestrator.cli.common import Exit

    table = (REPO / "README.md").read_text().split("#### Exit codes", 1)[1].split("\n\n", 3)[2]
    codes = [int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)]
    assert codes == sorted(int(e) for e in Exit), codes


def test_a_switch_shows_no_value_type_in_help():
    r = geak("run", "--help")
    assert r.returncode == 0 and "<bool>" not in r.stdout and "--use-auditor" in r.stdout


@pytest.mark.parametrize("args", [("run", "--resume", "runs/nope"), ("replay", "runs/nope")])
def test_a_run_directory_that_does_not_exist_is_said_so(args):
    r = geak(*args)
    assert r.returncode == 2 and "runs/nope: no such directory" in r.stderr, r.stderr


def test_read_only_audit_writes_nothing(clean_run):
    before = sorted(p.relative_to(clean_run) for p in clean_run.rglob("*"))
    r = geak("audit", clean_run, "--read-only")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.relative_to(clean_run) for p in clean_run.rglob("*")) == before


def test_a_run_whose_question_copy_became_a_link_is_refused_not_followed(tmp_path):
    from geak.orchestrator import run as R
    from geak.orchestrator.cli.run_setup import RunRequest, new_run

    new_run(
        tmp_path / "run",
        RunRequest(workflow=REPO / "workflows" / "gpu.yaml", engine="vllm", model=None, use_auditor=True),
    )
    copy = tmp_path / "run" / "inputs" / "accuracy.jsonl"
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_text('{"prompt": "1+1=", "expected": "2"}\n')
    copy.unlink()
    copy.symlink_to(outside)
    with pytest.raises(R.RunError, match="a link, not the copy"):
        R.runtime(tmp_path / "run", R.load_args(tmp_path / "run"))


def test_every_exit_of_every_command_is_a_member_of_the_one_table():
    """README "Exit codes" is common.Exit; a bare number in a command would be a second table."""
    import ast

    bare = []
    for p in sorted((REPO / "orchestrator" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("typer.Exit", "sys.exit", "Exit"):
                for a in list(node.args) + [k.value for k in node.keywords]:
                    if any(isinstance(n, ast.Constant) and isinstance(n.value, int) for n in ast.walk(a)):
                        bare.append(f"{p.name}:{node.lineno}: {ast.unparse(node)}")
    assert bare == []
