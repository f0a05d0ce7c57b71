"""What experiment one result row says it ran, for telling repetitions from experiments.

A file of benchmark results often holds several experiments: `benchmark_serving.py
--request-rate 10,30,inf` loops, a deployment matrix tagged with `--metadata deployment=...`,
`vllm bench sweep` points whose overrides (max_num_seqs, max_concurrency) are merged into each
run's JSON. Read as repetitions of one leg, their spread is the experiments' difference, not
noise. The signature is every top-level scalar of the row except what the run measured; rows
of one leg must share it (rule E1).

Pure. Small rows (aggregates only, a few kB) are decoded whole, so unknown --metadata keys are
seen; a row with per-request arrays is decoded through a Struct of the known workload fields
only, so its megabytes of arrays are skipped.
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec

SMALL_ROW = 256 << 10
# what a run measured or stamped, never what it was asked to run
MEASURED = re.compile(
    r"^(date|duration|completed|failed|total_\w+|\w*throughput\w*|\w+_ms|request_goodput:?|max_output_tokens_per_s|"
    r"max_concurrent_requests|concurrency|rtfx|accept_length|run_number|server_info|endpoint_type|tokenizer_id|"
    r"spec_decode_\w+|probe_\w+|rps_change_events|cache_report)$"
)
# the fields a big row is read for (vLLM bench serve, SGLang bench_serving, vllm bench sweep)
KNOWN = (
    "backend",
    "model_id",
    "dataset_name",
    "num_prompts",
    "request_rate",
    "burstiness",
    "max_concurrency",
    "random_input_len",
    "random_output_len",
    "random_range_ratio",
    "sharegpt_output_len",
    "label",
    "tag",
    "max_num_seqs",
    "max_num_batched_tokens",
    "tensor_parallel_size",
    "ramp_up_strategy",
)
_Known = msgspec.defstruct("_Known", [(k, Any, None) for k in KNOWN])


def _norm(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return "inf" if isinstance(v, float) and math.isinf(v) else float(v)
    if isinstance(v, str):
        t = v.strip()
        if t.lower() in ("inf", "infinity"):
            return "inf"
        try:
            return float(t)
        except ValueError:
            return t
    return None  # lists, objects: not a workload setting


def workload_fields(body: bytes, decoded: Any = None) -> dict[str, Any]:
    """The row's workload signature (normalized scalars); {} when the row cannot be read.
    ``decoded``: an object already decoded from a big row with the KNOWN fields as attributes
    (raw.py's ToolResult), so its megabytes are not scanned a second time."""
    obj: Any = None
    try:
        if len(body) <= SMALL_ROW:
            obj = msgspec.json.decode(body)
        else:
            k = decoded if decoded is not None else msgspec.json.decode(body, type=_Known)
            obj = {f: getattr(k, f, None) for f in KNOWN}
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        try:  # NaN / Infinity literals (Python's json, SGLang's request_rate): a tolerant reader
            import json

            obj = json.loads(body) if len(body) <= SMALL_ROW else None
        except (ValueError, RecursionError):
            return {}
    if not isinstance(obj, dict):
        return {}
    out = {}
    for k, v in obj.items():
        if not isinstance(k, str) or MEASURED.match(k):
            continue
        n = _norm(v)
        if n is not None:
            out[k] = n
    return out


def differing(signatures: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Fields whose value is not the same on every row (absent counts as a value)."""
    keys = sorted({k for s in signatures for k in s})
    out = {}
    for k in keys:
        vals = [s.get(k, "<absent>") for s in signatures]
        if len({repr(v) for v in vals}) > 1:
            out[k] = vals
    return out
