"""The built-in async client against a real local HTTP server speaking OpenAI SSE."""

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from geak.agents.engines.client import random_prompts, run_benchmark
from geak.auditor.evidence.normalize import from_vllm_result


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["prompt"].startswith("FAIL"):
            msg = b'{"error": "planted failure"}'
            self.send_response(500)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for i in range(body["max_tokens"]):
            time.sleep(0.002)
            chunk = {"choices": [{"text": str(i % 10), "index": 0}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_streams_tokens_and_times_them(server):
    res = asyncio.run(run_benchmark(server, "m", random_prompts(12, 8, 0), output_len=5, max_concurrency=4))
    assert res["completed"] == 12 and res["failed"] == 0
    assert res["output_lens"] == [5] * 12
    assert all(len(i) == 4 for i in res["itls"]) and all(t > 0 for t in res["ttfts"])
    assert all(lat >= t for lat, t in zip(res["latencies"], res["ttfts"]))


def test_failed_request_recorded_not_raised(server):
    res = asyncio.run(run_benchmark(server, "m", ["FAIL please", "12+3="], output_len=3, max_concurrency=2))
    assert res["failed"] == 1 and "HTTP" in res["errors"][0] and res["errors"][1] == ""


def test_output_normalizes_like_vllm_and_agrees_with_itself(server):
    res = asyncio.run(run_benchmark(server, "m", random_prompts(8, 8, 1), output_len=4, max_concurrency=8))
    rep = from_vllm_result(res, leg_id="x", rep_index=0, warmup=False, raw_file="raw/rep_0.json")
    assert sum(rep.requests.output_lens) / rep.duration_s == pytest.approx(res["output_throughput"])


def test_unreachable_endpoint_is_recorded(server):
    res = asyncio.run(run_benchmark("http://127.0.0.1:1", "m", ["1+1="], output_len=2, timeout_s=2))
    assert res["failed"] == 1 and res["errors"][0]
