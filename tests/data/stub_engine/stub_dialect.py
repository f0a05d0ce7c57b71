"""File 2 of a new engine (tests/auditor/evidence/test_stub_engine.py): how the auditor reads what
the stub engine writes. Everything in it differs from vLLM's and SGLang's dialects on purpose: its
config answer, its metric names, its log lines, a per-launch key."""

from geak.auditor.evidence.dialects import Dialect, register
from geak.auditor.evidence.normalize import flatten

STUB = register(Dialect(
    name="stub",
    bench_tool="stub-bench",
    result_only_keys=("stub_client_version",),
    server_info_key="stub_config",
    server_info_flat=lambda info: flatten({"stub_config": info["stub_config"]}),
    metrics={
        "prompt_tokens": "stub:prompt_words_total",
        "generation_tokens": "stub:generated_words_total",
        "requests": "stub:requests_done_total",
        "ttft_s": "stub:first_word_seconds",
        "e2e_s": "stub:request_seconds",
    },
    pid_lines=(r"\[stub\] server pid (\d+)",),
    port_lines=(r"\[stub\] listening on port (\d+)",),
    reset_lines=(r"\[stub\] cache dropped",),
    ignored_keys=("boot_id",),
    invariant_keys=("stub_config.model",),
))
