"""The SGLang client shim (agents/engines/sglang.CLIENT_SHIM) run for real, as a subprocess, over
a stand-in for SGLang's client module and a real HTTP server. SGLang does not install here, so the
stand-in follows the control flow of sglang/benchmark/serving.py as the 0.5.17 wheel has it:
cli_main parses its flags and calls benchmark(), which sends the warm-up requests, calls the module
global flush_server_cache(base_url, backend) when --flush-cache is given, sleeps, times the
requests, then calls the module global calculate_metrics(...) and appends one JSON line to
--output-file. What this proves: one process runs every repetition into its own file with seed +
i, and the /metrics snapshots bracket exactly the timed requests (not the warm-ups); what it
cannot: that SGLang's real client still has those names (the GPU run checks that)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from geak.agents.engines.base import get_engine
from geak.auditor.evidence.metrics import SUFFIX_AFTER, SUFFIX_BEFORE
from geak.auditor.evidence.models import WorkloadSpec

STAND_IN = """
import argparse, json, time, urllib.request

def _post(url):
    urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=10).read()

def flush_server_cache(base_url, backend):
    _post(base_url + "/flush_cache")

def calculate_metrics(outputs, dur_s):
    return {"completed": len(outputs), "duration": dur_s}

def benchmark(args):
    for _ in range(args.warmup_requests):
        _post(args.base_url + "/generate")
    if args.flush_cache:
        flush_server_cache(args.base_url, args.backend)
    t = time.perf_counter()
    outputs = [_post(args.base_url + "/generate") for _ in range(args.num_prompts)]
    m = calculate_metrics(outputs, time.perf_counter() - t)
    with open(args.output_file, "a") as f:
        f.write(json.dumps({**m, "seed": args.seed}) + "\\n")

def cli_main():
    p = argparse.ArgumentParser()
    for flag in ("--backend", "--base-url", "--model", "--dataset-name", "--output-file"):
        p.add_argument(flag)
    for flag in ("--num-prompts", "--seed", "--warmup-requests", "--random-input-len", "--random-output-len",
                 "--max-concurrency"):
        p.add_argument(flag, type=int)
    p.add_argument("--random-range-ratio", type=float)
    p.add_argument("--output-details", action="store_true")
    p.add_argument("--flush-cache", action="store_true")
    benchmark(p.parse_args())
"""


class _Engine(BaseHTTPRequestHandler):
    generated = 0
    flushes = 0

    def do_POST(self):  # noqa: N802 - http.server's name
        if self.path == "/generate":
            type(self).generated += 1
        elif self.path == "/flush_cache":
            type(self).flushes += 1
        self._send(b"{}")

    def do_GET(self):  # noqa: N802
        self._send(f"sglang:num_requests_total {type(self).generated}\n".encode())

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):  # quiet
        pass


@pytest.fixture
def engine():
    _Engine.generated = _Engine.flushes = 0
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Engine)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def _stand_in(root: Path, with_hooks: bool = True) -> Path:
    pkg = root / "sglang" / "benchmark"
    pkg.mkdir(parents=True)
    (root / "sglang" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    src = STAND_IN if with_hooks else STAND_IN.replace("flush_server_cache", "flush_cache_renamed")
    (pkg / "serving.py").write_text(src)
    return root


def _run(tmp_path: Path, base_url: str, with_hooks: bool = True) -> tuple[subprocess.CompletedProcess, Path]:
    site, raw = _stand_in(tmp_path / "site", with_hooks), tmp_path / "raw"
    raw.mkdir()
    w = WorkloadSpec(dataset="random", num_prompts=5, input_len=8, output_len=4, max_concurrency=3, seed=7)
    argv = get_engine("sglang").bench_argv_multi(
        result_files=["rep_0.json", "rep_1.json"],
        python=sys.executable,
        base_url=base_url,
        model="m",
        workload=w,
        result_dir=str(raw),
    )
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(site)})
    return p, raw


def _count(path: Path) -> int:
    return int(gzip.decompress(path.read_bytes()).decode().split()[-1])


def test_every_repetition_has_its_file_its_seed_and_metrics_around_exactly_its_timed_requests(tmp_path, engine):
    p, raw = _run(tmp_path, engine)
    assert p.returncode == 0, p.stderr
    assert [json.loads((raw / f"rep_{i}.json").read_text())["seed"] for i in (0, 1)] == [7, 8]
    for i in (0, 1):
        before, after = raw / f"rep_{i}{SUFFIX_BEFORE}", raw / f"rep_{i}{SUFFIX_AFTER}"
        # 3 warm-ups then 5 timed requests per rep: the window holds the 5 and none of the warm-ups
        assert _count(after) - _count(before) == 5
        assert _count(before) == 8 * i + 3
    assert _Engine.flushes == 2 and p.stdout.count("geak: repetition ->") == 2


def test_a_client_without_the_hooks_runs_but_keeps_no_snapshots_and_says_so(tmp_path, engine):
    p, raw = _run(tmp_path, engine, with_hooks=False)
    assert p.returncode == 0 and "no /metrics snapshots" in p.stdout
    assert not list(raw.glob("*.prom.gz"))
