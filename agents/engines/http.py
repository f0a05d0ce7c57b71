"""The few HTTP calls geak makes to an engine's OpenAI-compatible server: JSON in and out, and
one greedy completion (temperature 0, seed 0)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def http_bytes(url: str, payload: dict[str, Any] | None = None, timeout: float = 60.0) -> bytes:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body: bytes = r.read()
        return body


def http_json(url: str, payload: dict[str, Any] | None = None, timeout: float = 60.0) -> Any:
    return json.loads(http_bytes(url, payload, timeout))


def complete(base_url: str, model: str, prompt: str, max_tokens: int, stop: list[str] | None = None) -> str:
    body: dict[str, Any] = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "seed": 0}
    if stop:
        body["stop"] = stop
    out = http_json(f"{base_url}/v1/completions", body)
    text: str = out["choices"][0]["text"]  # the OpenAI completions answer: a string
    return text
