"""bench/harness_parallel.py: the op harness at once on two core sets, then serially, one command."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench" / "harness_parallel.py"


def _run(*args):
    return subprocess.run(
        [sys.executable, str(BENCH), *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=600
    )


@pytest.mark.skipif(sys.platform != "linux", reason="core sets need taskset")
def test_two_ops_at_once_then_serially_with_ratios_and_verdicts(tmp_path):
    r = _run(
        "--devices",
        "cpu:0-1",
        "--cores-per-leg",
        "1",
        "--ops",
        "silu_and_mul,rmsnorm",
        "--out",
        tmp_path / "hp",
        "--harness-args",
        "--tokens 1 --min-timed-ms 20 --max-reps 2000",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "summary: 2 shapes" in r.stdout and "verdicts" in r.stdout
    res = json.loads((tmp_path / "hp" / "harness_parallel.json").read_text())
    assert res["sets"] == ["cpu:0", "cpu:1"] and {row["op"] for row in res["rows"]} == {"silu_and_mul", "rmsnorm"}
    for row in res["rows"]:  # each ratio is the two records' own medians
        assert row["ratio"] == pytest.approx(row["concurrent_ms"] / row["serial_ms"])
    # the concurrent pass ran the two ops on the two sets at once, the serial one on the first set
    batch = json.loads((tmp_path / "hp" / "concurrent" / "scheduler" / "batches.jsonl").read_text().splitlines()[0])
    assert sorted(batch["legs"].values()) == ["cpu:0", "cpu:1"]
    assert not (tmp_path / "hp" / "serial" / "scheduler").exists()


@pytest.mark.parametrize(
    "args,msg", [(["--ops", "gemm"], "unknown op"), (["--devices", "0,1,2", "--tp", "2"], "do not split")]
)
def test_bad_arguments_exit_2(tmp_path, args, msg):
    r = _run(*args, "--out", tmp_path / "hp")
    assert r.returncode == 2 and msg in r.stderr
