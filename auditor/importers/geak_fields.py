"""Pure readers of the fields GEAK v4's LLM-written summaries hold, in the shapes seen in its
role docs and fixtures (flat, nested under ``e2e`` / ``accepted_config``, flags as a string)."""

from __future__ import annotations

import shlex
from typing import Any

RUN_VALUE_KEYS = ("output_throughput", "output_tok_s", "throughput_tok_s", "tok_s", "throughput")
MAX_HINTS, HINT_CHARS = 16, (6, 400)


def cited_lines(v: Any) -> list[str]:
    """The log lines a summary's engagement_detail names: its lines of text, however nested one
    level (a string, a list, an object of either). Too short to identify anything, or too long
    for a log line, is dropped."""
    parts: list[Any] = [v] if not isinstance(v, (list, dict)) else list(v.values()) if isinstance(v, dict) else list(v)
    flat: list[str] = []
    for p in parts:
        for q in p if isinstance(p, list) else [p]:
            if isinstance(q, str):
                flat += q.splitlines()
    lo, hi = HINT_CHARS
    return list(dict.fromkeys(t.strip() for t in flat if lo <= len(t.strip()) <= hi))[:MAX_HINTS]


def get(d: dict[str, Any], *keys: str) -> Any:
    """GEAK's reader rule: top level, then ``e2e``, then ``accepted_config``; first non-null wins."""
    for scope in (d, d.get("e2e"), d.get("accepted_config")):
        if isinstance(scope, dict):
            for k in keys:
                if scope.get(k) is not None:
                    return scope[k]
    return None


def flags_of(s: Any) -> dict[str, str]:
    """'--attention-backend triton --enable-x' -> {'attention_backend': 'triton', 'enable_x': 'true'}."""
    if not isinstance(s, str) or not s.strip():
        return {}
    try:
        toks = shlex.split(s)
    except ValueError:
        toks = s.split()
    out: dict[str, str] = {}
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.startswith("--"):
            key, _, val = t[2:].partition("=")
            key = key.replace("-", "_")
            if not val and i + 1 < len(toks) and not toks[i + 1].startswith("--"):
                val = toks[i + 1]
                i += 1
            out[key] = val or "true"
        i += 1
    return out


def env_of(s: Any) -> dict[str, str]:
    if isinstance(s, dict):
        return {str(k): str(v) for k, v in s.items()}
    if not isinstance(s, str):
        return {}
    return dict(kv.split("=", 1) for kv in s.split() if "=" in kv)
