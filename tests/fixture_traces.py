"""The profiler traces under tests/data/profile are kept as .json.xz (a third of their gzip size: the
tree travels to the GPU machine, issue 31); the product reads traces as the profiler writes them
(gzip), so a test takes a fixture through here."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

PROFILE = Path(__file__).resolve().parent / "data" / "profile"


def trace_json(rel: str) -> bytes:
    """The trace's JSON bytes (rel: under tests/data/profile, without .json.xz)."""
    return lzma.decompress((PROFILE / f"{rel}.json.xz").read_bytes())


def trace_gz(rel: str, dest: Path) -> Path:
    """The trace written to ``dest`` gzipped, as vLLM's profiler writes one."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(gzip.compress(trace_json(rel), mtime=0))
    return dest


# the served model's config.json behind vllm026_h100_8b.trace (scripts/gpu/shape_model.py wrote it on
# the GPU box): the shapes the readings and the harness size ops by
LLAMA3_8B_CONFIG = {
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 8192,
    "rope_theta": 500000.0,
    "rms_norm_eps": 1e-5,
    "torch_dtype": "bfloat16",
}
