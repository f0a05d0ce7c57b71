"""`geak replay` copies recorded legs into --out: only regular files and folders. A link in a
recording (to a file or folder outside it, or to a device) or a FIFO is refused by name, nothing
is read through it, and the partial replay is removed (issue 32: a linked raw file the source
audit FAILs once replayed as "reproduced" and audited PASS; a linked folder copied files from
outside the run; a linked device was read until something else stopped it)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REC = REPO / "runs" / "recorded" / "tiny-cpu-run"


def _replay(run: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "geak.orchestrator.cli", "replay", str(run), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )


@pytest.mark.parametrize("plant", ["linked_raw_file", "linked_folder", "linked_device", "fifo"])
def test_replay_refuses_links_and_special_files_in_a_recording(tmp_path, plant):
    run = tmp_path / "rec"
    shutil.copytree(REC, run, ignore=shutil.ignore_patterns("audits"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not the run's")
    raw = run / "legs" / "baseline" / "raw"
    if plant == "linked_raw_file":
        good = raw / "rep_1.json"
        shutil.move(good, outside / "rep_1.json")
        good.symlink_to(outside / "rep_1.json")
    elif plant == "linked_folder":
        (run / "legs" / "baseline" / "extra").symlink_to(outside, target_is_directory=True)
    elif plant == "linked_device":
        (raw / "rep_9.json").symlink_to("/dev/zero")
    else:
        os.mkfifo(raw / "rep_9.json")
    out = tmp_path / "out"
    got = _replay(run, out)
    assert got.returncode == 7, got.stdout + got.stderr  # a recording the replay cannot follow: a run error
    assert "replay copies nothing through" in got.stderr and "Traceback" not in got.stderr
    assert not out.exists(), "the partial replay is removed"


def test_an_honest_recording_still_replays(tmp_path):
    run = tmp_path / "rec"
    shutil.copytree(REC, run, ignore=shutil.ignore_patterns("audits"))
    got = _replay(run, tmp_path / "out")
    assert got.returncode == 0 and "reproduced exactly" in got.stdout, got.stderr
