"""A built-in async benchmark client for any OpenAI-compatible /v1/completions endpoint.

For engines without a benchmark tool of their own. It writes the same per-request arrays
vLLM's ``bench serve --save-detailed`` writes (``ttfts``, ``itls`` and ``latencies`` in
seconds, ``input_lens``, ``output_lens``, ``errors``...), so one normalizer serves both.
Failed requests are recorded in place (error text, zero latency), never raised. Standard
library only: asyncio streams, HTTP/1.1, server-sent events.

    python -m geak.agents.engines.client --base-url http://127.0.0.1:8000 --model m \\
        --num-prompts 100 --input-len 32 --output-len 16 --max-concurrency 8 --out r.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from typing import Any
from urllib.parse import urlparse


async def _one(host: str, port: int, path: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    start = time.perf_counter()
    out: dict[str, Any] = {"start": start, "ttft": 0.0, "itl": [], "latency": 0.0, "tokens": 0, "text": "", "error": ""}
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        payload = json.dumps(body).encode()
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: text/event-stream\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), timeout_s)
        if b" 200 " not in status:
            rest = await asyncio.wait_for(reader.read(), timeout_s)
            raise RuntimeError(
                f"HTTP {status.decode(errors='replace').strip()}: {rest[-300:].decode(errors='replace')}"
            )
        while (await asyncio.wait_for(reader.readline(), timeout_s)) not in (b"\r\n", b""):
            pass  # headers
        last = start
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout_s)
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            chunk = json.loads(data)
            text = chunk["choices"][0].get("text", "")
            now = time.perf_counter()
            if out["tokens"] == 0:
                out["ttft"] = now - start
            else:
                out["itl"].append(now - last)
            last = now
            out["tokens"] += 1
            out["text"] += text
        out["latency"] = time.perf_counter() - start
        writer.close()
    except Exception as e:  # recorded, not raised: one failed request must not end the run
        out.update(error=f"{type(e).__name__}: {e}"[:500], ttft=0.0, latency=0.0, itl=[], tokens=0)
    return out


def random_prompts(n: int, input_len: int, seed: int, alphabet: str = "0123456789+=") -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(input_len)) for _ in range(n)]


async def run_benchmark(
    base_url: str,
    model: str,
    prompts: list[str],
    *,
    output_len: int,
    max_concurrency: int = 8,
    timeout_s: float = 300.0,
    input_lens: list[int] | None = None,
) -> dict[str, Any]:
    u = urlparse(base_url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    sem = asyncio.Semaphore(max_concurrency)

    async def limited(p: str) -> dict[str, Any]:
        async with sem:
            body = {
                "model": model,
                "prompt": p,
                "max_tokens": output_len,
                "temperature": 0,
                "stream": True,
                "ignore_eos": True,
                "min_tokens": output_len,
            }
            return await _one(host, port, "/v1/completions", body, timeout_s)

    t0 = time.perf_counter()
    results = await asyncio.gather(*(limited(p) for p in prompts))
    duration = time.perf_counter() - t0
    ok = [r for r in results if not r["error"]]
    total_out = sum(r["tokens"] for r in ok)
    in_lens = input_lens or [len(p) for p in prompts]
    return {
        "backend": "geak-client",
        "model_id": model,
        "num_prompts": len(prompts),
        "max_concurrency": max_concurrency,
        "duration": duration,
        "completed": len(ok),
        "failed": len(results) - len(ok),
        "total_input_tokens": sum(n for n, r in zip(in_lens, results) if not r["error"]),
        "total_output_tokens": total_out,
        "request_throughput": len(ok) / duration,
        "output_throughput": total_out / duration,
        "total_token_throughput": (total_out + sum(n for n, r in zip(in_lens, results) if not r["error"])) / duration,
        "input_lens": in_lens,
        "output_lens": [r["tokens"] for r in results],
        "ttfts": [r["ttft"] for r in results],
        "itls": [r["itl"] for r in results],
        "latencies": [r["latency"] for r in results],
        "start_times": [r["start"] - t0 for r in results],
        "generated_texts": [r["text"] for r in results],
        "errors": [r["error"] for r in results],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--num-prompts", type=int, default=100)
    ap.add_argument("--input-len", type=int, default=32)
    ap.add_argument("--output-len", type=int, default=16)
    ap.add_argument("--max-concurrency", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    res = asyncio.run(
        run_benchmark(
            a.base_url,
            a.model,
            random_prompts(a.num_prompts, a.input_len, a.seed),
            output_len=a.output_len,
            max_concurrency=a.max_concurrency,
        )
    )
    with open(a.out, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()
