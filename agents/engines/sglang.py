"""SGLang adapter. SGLang has no CPU wheel here: command building and output parsing are
tested against its formats (read in the 0.5.17 wheel's own source, 2026-12-08: the flush route,
the /metrics names, the client's control flow); nothing of it has yet run against a real server.

Sources of the formats (sgl-project/sglang):
- flags: python/sglang/srt/server_args.py (--model-path, --mem-fraction-static,
  --max-running-requests, --chunked-prefill-size, --disable-radix-cache, --tp-size,
  --speculative-algorithm, --speculative-num-steps, --context-length, --random-seed,
  --load-format, --dtype);
- GET /get_server_info (python/sglang/srt/entrypoints/http_server.py): a flat dict of all
  ServerArgs fields merged with scheduler info (max_total_num_tokens, ...), internal_states,
  version; behind a PD load balancer {"prefill": [...], "decode": [...]};
- bench: the client (``sglang.benchmark.serving``, ``sglang.bench_serving`` before 0.5.15) with
  --output-file F --output-details, one JSON line per run, run by CLIENT_SHIM below;
- POST /flush_cache drops the radix cache (the scheduler logs "Cache flushed successfully!");
- /metrics with --enable-metrics: sglang:prompt_tokens_total, sglang:generation_tokens_total, ...
  (srt/observability/metrics_collector.py).
"""

from __future__ import annotations

import re
from typing import Any

from .base import COMMON_FATAL, EngineAdapter, LaunchConfig, device_env, flag_args, register
from .client_shim import KEEP_METRICS, REP_ARGS
from .process import FatalPattern

# One client process for every repetition of a leg (as vLLM's, agents/engines/vllm.py): rep i
# runs the tool's own cli_main with its --output-file and --seed + i. The second witness: with
# --flush-cache the client drops the radix cache after its warm-up requests through its module's
# flush_server_cache, then times the requests and computes its metrics with calculate_metrics
# right after the last one returns; the shim wraps both, so /metrics is kept verbatim (gzipped)
# right after the flush and right after the timed requests: the engine's own counters bracket
# exactly what the tool timed. A client without those names gets no snapshots (the auditor says
# unchecked), never a window that includes the warm-ups.
CLIENT_SHIM = (
    "import gzip, os, sys, urllib.request\n"
    "try:\n"
    "    import sglang.benchmark.serving as S\n"
    "except ImportError:\n"
    "    import sglang.bench_serving as S\n"
    "if not hasattr(S, 'cli_main'):\n"
    "    sys.exit('geak: this sglang client has no cli_main (SGLang >= 0.5.15 has): cannot run its repetitions')\n"
    + REP_ARGS
    + KEEP_METRICS
    + "W = {'stem': None, 'base': None}\n"
    "def _snap(which):\n"
    "    try:\n"
    "        with urllib.request.urlopen(W['base'] + '/metrics', timeout=30) as r:\n"
    "            body = r.read()\n"
    "        _keep(W['stem'], which, body)\n"
    "    except Exception as e:\n"
    "        print(f'geak: /metrics scrape ({which}) failed: {e}', flush=True)\n"
    "_flush, _calc = getattr(S, 'flush_server_cache', None), getattr(S, 'calculate_metrics', None)\n"
    "def _flushed(base_url, backend):\n"
    "    _flush(base_url, backend)\n"
    "    W['base'] = base_url.rstrip('/'); _snap('before')\n"
    "def _timed(*a, **k):\n"
    "    if W['base']:\n"
    "        _snap('after')\n"
    "    return _calc(*a, **k)\n"
    "if _flush is not None and _calc is not None:\n"
    "    S.flush_server_cache, S.calculate_metrics = _flushed, _timed\n"
    "else:\n"
    "    print('geak: this sglang client has no flush_server_cache/calculate_metrics: no /metrics snapshots', flush=True)\n"
    "def _set(a, flag, value):\n"
    "    a = list(a); i = a.index(flag); a[i + 1] = value; return a\n"
    "out0 = argv[argv.index('--output-file') + 1]\n"
    "seed0 = int(argv[argv.index('--seed') + 1])\n"
    "for i, f in enumerate(files or [None]):\n"
    "    out = os.path.join(os.path.dirname(out0), f) if f else out0\n"
    "    a = _set(_set(argv, '--output-file', out), '--seed', str(seed0 + i))  # new prompts each rep\n"
    "    W['stem'], W['base'] = out.rsplit('.json', 1)[0], None\n"
    "    sys.argv = ['sglang.benchmark.serving'] + a\n"
    "    if barrier:\n"
    "        _meet(i)\n"
    "    print(f'geak: repetition -> {f}', flush=True)\n"
    "    S.cli_main()\n"
)


@register
class SglangAdapter(EngineAdapter):
    name = "sglang"
    health_path = "/health"
    server_info_path = "/get_server_info"
    server_module = "sglang.launch_server"
    cache_reset_path = "/flush_cache"  # GET or POST (srt/entrypoints/http_server.py)
    fatal_patterns = COMMON_FATAL + [
        FatalPattern(re.compile(r"Scheduler hit an exception|Rank \d+ scheduler is dead"), "scheduler died"),
        FatalPattern(re.compile(r"Capture (cuda|CUDA) graph failed"), "graph capture failed"),
    ]

    def server_argv(self, cfg: LaunchConfig, port: int, python: str) -> list[str]:
        a = [python, "-m", self.server_module, "--model-path", cfg.model, "--host", "127.0.0.1", "--port", str(port)]
        a += ["--enable-metrics"]  # the second witness: the engine's own counters around each rep
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
            "-c",
            CLIENT_SHIM,
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
            # the timed requests start on an empty radix cache, after the warm-up's (the tool's own
            # flush, the moment the shim's first /metrics snapshot is taken)
            "--flush-cache",
            "--warmup-requests",
            str(workload.max_concurrency or 1),
        ]
        return a + flag_args(
            ("--random-input-len", workload.input_len),
            ("--random-range-ratio", "1.0" if workload.input_len is not None else None),
            ("--random-output-len", workload.output_len),
            ("--max-concurrency", workload.max_concurrency),
            ("--request-rate", workload.request_rate),
        )

    def bench_argv_multi(self, *, result_files: list[str], **kw: Any) -> list[str]:
        return self.bench_argv(result_file=result_files[0], **kw) + ["--geak-rep-files", ",".join(result_files)]
