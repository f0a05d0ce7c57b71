"""SGLang adapter. SGLang has no CPU wheel here: command building and output parsing are
tested against the documented formats; nothing of it has been run against a real server.

Sources of the formats (sgl-project/sglang):
- flags: python/sglang/srt/server_args.py (--model-path, --mem-fraction-static,
  --max-running-requests, --chunked-prefill-size, --disable-radix-cache, --tp-size,
  --speculative-algorithm, --speculative-num-steps, --context-length, --random-seed,
  --load-format, --dtype);
- GET /get_server_info (python/sglang/srt/entrypoints/http_server.py): a flat dict of all
  ServerArgs fields merged with scheduler info (max_total_num_tokens, ...), internal_states,
  version; behind a PD load balancer {"prefill": [...], "decode": [...]};
- bench: python -m sglang.bench_serving --output-file F --output-details, one JSON line per
  run (python/sglang/bench_serving.py).
"""

from __future__ import annotations

import re
from typing import Any

from .base import COMMON_FATAL, EngineAdapter, LaunchConfig, device_env, flag_args, register
from .process import FatalPattern


@register
class SglangAdapter(EngineAdapter):
    name = "sglang"
    health_path = "/health"
    server_info_path = "/get_server_info"
    server_module = "sglang.launch_server"
    fatal_patterns = COMMON_FATAL + [
        FatalPattern(re.compile(r"Scheduler hit an exception|Rank \d+ scheduler is dead"), "scheduler died"),
        FatalPattern(re.compile(r"Capture (cuda|CUDA) graph failed"), "graph capture failed"),
    ]

    def server_argv(self, cfg: LaunchConfig, port: int, python: str) -> list[str]:
        a = [python, "-m", self.server_module, "--model-path", cfg.model, "--host", "127.0.0.1", "--port", str(port)]
        # SGLang has one knob for both: a chunk size, or -1 to turn chunked prefill off
        chunk = -1 if cfg.chunked_prefill is False else cfg.max_num_batched_tokens
        a += flag_args(
            ("--dtype", cfg.dtype),
            ("--mem-fraction-static", cfg.memory_fraction),
            ("--max-running-requests", cfg.max_num_seqs),
            ("--chunked-prefill-size", chunk),
            ("--disable-radix-cache", cfg.prefix_caching is False),
            ("--tp-size", cfg.tensor_parallel),
            ("--context-length", cfg.max_model_len),
            ("--load-format", cfg.load_format),
            ("--disable-cuda-graph", bool(cfg.enforce_eager)),
            ("--random-seed", cfg.seed),
            ("--kv-cache-dtype", cfg.kv_cache_dtype),
            ("--cuda-graph-max-bs", cfg.max_cudagraph_capture_size),
        )
        if cfg.async_scheduling is not None:
            # an unknown knob silently dropped would make a candidate leg measure the reference
            raise ValueError(
                "SGLang has no async_scheduling knob (it overlaps scheduling by default; --disable-overlap-schedule "
                "turns that off): leave async_scheduling unset for --engine sglang"
            )
        a += flag_args(*((f"--speculative-{k.replace('_', '-')}", v) for k, v in (cfg.speculative or {}).items()))
        return a + list(cfg.extra_args)

    def server_env(self, cfg: LaunchConfig) -> dict[str, str]:
        return {**device_env(cfg), **cfg.env}

    def bench_argv(
        self, *, python: str, base_url: str, model: str, workload: Any, result_dir: str, result_file: str
    ) -> list[str]:
        a = [
            python,
            "-m",
            "sglang.bench_serving",
            "--backend",
            "sglang",
            "--base-url",
            base_url,
            "--model",
            model,
            "--dataset-name",
            workload.dataset,
            "--num-prompts",
            str(workload.num_prompts),
            "--seed",
            str(workload.seed or 0),
            "--output-file",
            f"{result_dir}/{result_file}",
            "--output-details",
        ]
        return a + flag_args(
            ("--random-input-len", workload.input_len),
            ("--random-range-ratio", "1.0" if workload.input_len is not None else None),
            ("--random-output-len", workload.output_len),
            ("--max-concurrency", workload.max_concurrency),
            ("--request-rate", workload.request_rate),
        )
