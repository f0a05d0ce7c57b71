"""What a synthetic leg's engine itself would have written: its /server_info answer and the
/metrics answers around each repetition, in vLLM's formats (the exposition text as vLLM 0.32
on this CPU serves it, reduced to the families the auditor reads plus a few it must skip).

Part of the backtest corpus generator (corpus/synthetic.py): a clean case's engine agrees with
its benchmark tool, so a planted disagreement is the plant's alone.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from typing import Any

# vLLM 0.32's bucket edges (vllm/v1/metrics/loggers.py)
TTFT_EDGES = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
)
E2E_EDGES = (
    0.3,
    0.5,
    0.8,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    120.0,
    240.0,
    480.0,
    960.0,
    1920.0,
    7680.0,
)
# the engine times a request from its arrival to its last token; the client from before it
# sends to after the last byte. Measured on vLLM-on-CPU: the engine's sums are 0.94-0.955x.
ENGINE_SHARE = 0.95


@dataclass
class EngineCounters:
    """Running totals of one engine lifetime (a leg), in vLLM's metric families."""

    model: str
    prompt_tokens: float = 0.0
    generation_tokens: float = 0.0
    requests: float = 0.0
    hist: dict[str, list[float]] = field(
        default_factory=lambda: {"ttft": [0.0] * (len(TTFT_EDGES) + 1), "e2e": [0.0] * (len(E2E_EDGES) + 1)}
    )
    sums: dict[str, float] = field(default_factory=lambda: {"ttft": 0.0, "e2e": 0.0})

    def serve(self, raw: dict[str, Any]) -> None:
        """Count a rep's requests (the tool's file) as the engine saw them."""
        for i, err in enumerate(raw["errors"]):
            if err:
                continue
            self.prompt_tokens += raw["input_lens"][i]
            self.generation_tokens += raw["output_lens"][i]
            self.requests += 1
            for fam, edges, v in (("ttft", TTFT_EDGES, raw["ttfts"][i]), ("e2e", E2E_EDGES, raw["latencies"][i])):
                seen = v * ENGINE_SHARE
                self.hist[fam][bisect.bisect_left(edges, seen)] += 1
                self.sums[fam] += seen

    def serve_extra(self, raw: dict[str, Any], n: int) -> None:
        """The tool's test prompt and warm-ups: ``n`` copies of its first request, timed like it."""
        one = {k: raw[k][:1] for k in ("errors", "input_lens", "output_lens", "ttfts", "latencies")}
        for _ in range(n):
            self.serve(one)

    def text(self) -> str:
        lab = f'engine="0",model_name="{self.model}"'
        out = [
            "# HELP python_gc_objects_collected_total Objects collected during gc",
            "# TYPE python_gc_objects_collected_total counter",
            'python_gc_objects_collected_total{generation="0"} 1187.0',
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{{lab}}} 0.0",
            "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
            "# TYPE vllm:prompt_tokens_total counter",
            f"vllm:prompt_tokens_total{{{lab}}} {self.prompt_tokens:.1f}",
            "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
            "# TYPE vllm:generation_tokens_total counter",
            f"vllm:generation_tokens_total{{{lab}}} {self.generation_tokens:.1f}",
            "# HELP vllm:request_success_total Count of successfully processed requests.",
            "# TYPE vllm:request_success_total counter",
        ]
        for reason, v in (("stop", 0.0), ("length", self.requests), ("abort", 0.0)):
            out.append(
                f'vllm:request_success_total{{engine="0",finished_reason="{reason}",model_name="{self.model}"}} {v:.1f}'
            )
        for fam, name, edges in (
            ("ttft", "vllm:time_to_first_token_seconds", TTFT_EDGES),
            ("e2e", "vllm:e2e_request_latency_seconds", E2E_EDGES),
        ):
            out += [f"# HELP {name} Histogram of {fam} in seconds.", f"# TYPE {name} histogram"]
            cum = 0.0
            for le, c in zip([*map(str, edges), "+Inf"], self.hist[fam]):
                cum += c
                out.append(f'{name}_bucket{{{lab.split(",")[0]},le="{le}",{lab.split(",")[1]}}} {cum:.1f}')
            out.append(f"{name}_count{{{lab}}} {cum:.1f}")
            out.append(f"{name}_sum{{{lab}}} {self.sums[fam]!r}")
        return "\n".join(out) + "\n"


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys back into vLLM's nested VllmConfig dump."""
    out: dict[str, Any] = {}
    for k, v in flat.items():
        *parents, leaf = k.split(".")
        node = out
        for p in parents:
            if not isinstance(node.get(p), dict):
                node[p] = {}  # "speculative_config": None next to "speculative_config.method"
            node = node[p]
        node[leaf] = v
    return out


def server_info(resolved: dict[str, Any]) -> str:
    """vLLM's GET /server_info?config_format=json answer for a resolved config."""
    return json.dumps({"vllm_config": nest(resolved), "vllm_env": {"VLLM_CPU_KVCACHE_SPACE": "1"}}, indent=1)
