"""File 1 of a new engine (tests/auditor/evidence/test_stub_engine.py): how geak launches and
drives the stub engine. Run as a script it is the engine itself (``serve``) and its benchmark
client (``bench``): a word-echo server speaking just enough HTTP (health, config, completions,
Prometheus metrics), and a client that writes one result row per repetition in the common shape
plus the stub's telling key, with the engine's /metrics before and after its timed requests."""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
import urllib.request
from typing import Any

from geak.agents.engines.base import EngineAdapter, LaunchConfig, register

HERE = os.path.abspath(__file__)


@register
class StubAdapter(EngineAdapter):
    name = "stub"
    server_info_path = "/stub_info"
    server_module = "stub"

    def server_argv(self, cfg: LaunchConfig, port: int, python: str) -> list[str]:
        return [python, HERE, "serve", str(port), str(cfg.max_num_seqs or 8), cfg.model]

    def server_env(self, cfg: LaunchConfig) -> dict[str, str]:
        return dict(cfg.env)

    def bench_argv(self, *, python: str, base_url: str, model: str, workload: Any, result_dir: str, result_file: str) -> list[str]:
        return [python, HERE, "bench", base_url, model, str(workload.num_prompts), str(workload.input_len or 8),
                str(workload.output_len or 8), f"{result_dir}/{result_file}"]


def _serve(port: int, max_batch: int, model: str) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    stats = {"prompt": 0, "gen": 0, "done": 0, "sum": 0.0, "n": 0}
    edges = (0.001, 0.01, 0.1, 1.0)
    buckets = [0] * len(edges)

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def _send(self, code: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/health":
                return self._send(200, b"ok", "text/plain")
            if self.path == "/stub_info":
                cfg = {"model": model, "max_batch": max_batch, "boot_id": f"{os.getpid()}-{time.time()}"}
                return self._send(200, json.dumps({"stub_config": cfg, "status": "serving"}).encode())
            if self.path == "/metrics":
                lines = [f"stub:prompt_words_total {stats['prompt']}", f"stub:generated_words_total {stats['gen']}",
                         f"stub:requests_done_total {stats['done']}"]
                for fam in ("stub:first_word_seconds", "stub:request_seconds"):
                    lines += [f'{fam}_bucket{{le="{e}"}} {c}' for e, c in zip(edges, buckets)]
                    lines += [f'{fam}_bucket{{le="+Inf"}} {stats["n"]}', f"{fam}_sum {stats['sum']}", f"{fam}_count {stats['n']}"]
                return self._send(200, ("\n".join(lines) + "\n").encode(), "text/plain")
            self._send(404, b"{}")

        def do_POST(self) -> None:  # noqa: N802
            t0 = time.perf_counter()
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            words = str(body.get("prompt", "")).split()
            n = int(body.get("max_tokens", 1))
            text = " ".join((words or ["x"])[i % max(1, len(words))] for i in range(n))
            took = time.perf_counter() - t0
            stats["prompt"] += len(words)
            stats["gen"] += n
            stats["done"] += 1
            stats["sum"] += took
            stats["n"] += 1
            for i, e in enumerate(edges):
                buckets[i] += took <= e
            self._send(200, json.dumps({"choices": [{"text": text}],
                                        "usage": {"prompt_tokens": len(words), "completion_tokens": n}}).encode())

    srv = ThreadingHTTPServer(("127.0.0.1", port), H)
    print(f"[stub] server pid {os.getpid()}", flush=True)
    print(f"[stub] listening on port {port}", flush=True)
    srv.serve_forever()


def _bench(base_url: str, model: str, n: int, in_len: int, out_len: int, out_file: str) -> None:
    def get(path: str) -> bytes:
        with urllib.request.urlopen(base_url + path, timeout=30) as r:
            return r.read()

    stem = out_file[: -len(".json")]
    before = get("/metrics")
    ins, outs, ttfts, lats, starts = [], [], [], [], []
    t_start = time.perf_counter()
    for i in range(n):
        prompt = " ".join(f"w{i}_{j}" for j in range(in_len))
        req = urllib.request.Request(base_url + "/v1/completions", json.dumps(
            {"model": model, "prompt": prompt, "max_tokens": out_len}).encode(), {"Content-Type": "application/json"})
        wall, t0 = time.time(), time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as r:
            usage = json.loads(r.read())["usage"]
        lat = time.perf_counter() - t0
        starts.append(wall)  # epoch seconds, as vLLM's client writes them: the auditor orders reps by them
        ins.append(usage["prompt_tokens"])
        outs.append(usage["completion_tokens"])
        ttfts.append(lat)
        lats.append(lat)
    duration = time.perf_counter() - t_start
    after = get("/metrics")
    for suffix, data in ((".metrics_before.prom.gz", before), (".metrics_after.prom.gz", after)):
        with open(stem + suffix, "wb") as f:
            f.write(gzip.compress(data, mtime=0))
    row = {"stub_client_version": 1, "duration": duration, "completed": n, "failed": 0, "num_prompts": n,
           "max_concurrency": 1, "request_throughput": n / duration, "output_throughput": sum(outs) / duration,
           "total_input_tokens": sum(ins),
           "total_output_tokens": sum(outs), "input_lens": ins, "output_lens": outs, "ttfts": ttfts, "latencies": lats,
           "itls": [[] for _ in range(n)], "start_times": starts, "errors": [""] * n}
    with open(out_file, "w") as f:
        json.dump(row, f)


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "serve":
        _serve(int(args[0]), int(args[1]), args[2])
    else:
        _bench(args[0], args[1], int(args[2]), int(args[3]), int(args[4]), args[5])
