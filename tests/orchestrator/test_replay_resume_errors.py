"""`geak replay` and `geak run --resume` on directories they cannot use: a clear error, the
documented exit code, and nothing left behind or changed (issue 14)."""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geak.orchestrator.cli import app

REC = Path(__file__).resolve().parents[2] / "runs" / "recorded" / "tiny-cpu-run"
runner = CliRunner()


def _copy(tmp_path: Path) -> Path:
    src = tmp_path / "rec"
    shutil.copytree(REC, src)
    return src


def _same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)

    def ok(c: filecmp.dircmp) -> bool:
        return not (c.left_only or c.right_only or c.diff_files or c.funny_files) and all(
            ok(s) for s in c.subdirs.values()
        )

    return ok(cmp)


@pytest.mark.parametrize(
    "break_it, says",
    [
        (lambda s: (s / "workflow.yaml").unlink(), "workflow.yaml: missing"),
        (lambda s: (s / "workflow.yaml").write_text("phases: [\n"), "not valid YAML"),
        (lambda s: (s / "manifest.json").unlink(), "manifest.json: missing"),
        (lambda s: (s / "run_args.json").unlink(), "run_args.json"),
    ],
)
def test_replay_of_an_incomplete_directory_is_a_usage_error_with_no_output(tmp_path, break_it, says):
    src = _copy(tmp_path)
    break_it(src)
    r = runner.invoke(app, ["replay", str(src), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and says in r.output, r.output
    assert "Traceback" not in r.output and not (tmp_path / "out").exists()


def test_replay_out_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "afile"
    f.write_text("keep me")
    r = runner.invoke(app, ["replay", str(REC), "--out", str(f)])
    assert r.exit_code == 2 and "is a file" in r.output and f.read_text() == "keep me"


def test_replay_that_cannot_follow_the_recording_leaves_nothing(tmp_path):
    src = _copy(tmp_path)
    shutil.rmtree(src / "legs" / "cfg_max_num_seqs-32")  # a leg the graph will ask for
    r = runner.invoke(app, ["replay", str(src), "--out", str(tmp_path / "out")])
    assert r.exit_code == 7 and "replay failed" in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "out").exists()


def test_resume_of_a_finished_run_says_so_and_changes_nothing(tmp_path):
    src = _copy(tmp_path)
    r = runner.invoke(app, ["run", "--resume", str(src)])
    assert r.exit_code == 0 and "already finished" in r.output, r.output
    assert _same_tree(REC, src)  # no summary rewrite, no event, no checkpoint file


def test_resume_without_a_checkpoint_is_refused_and_leaves_the_summary(tmp_path):
    src = _copy(tmp_path)
    s = json.loads((src / "summary.json").read_text())
    s["status"] = "interrupted"
    (src / "summary.json").write_text(json.dumps(s))
    before = (src / "summary.json").read_bytes()
    r = runner.invoke(app, ["run", "--resume", str(src)])
    assert r.exit_code == 2 and "no checkpoint to resume from" in r.output, r.output
    assert (src / "summary.json").read_bytes() == before and not (src / "checkpoints.sqlite").exists()
