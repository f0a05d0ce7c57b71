"""The served path of rope_kvcache: two ops in a vLLM 0.26 server, timed as the server runs them.

Compiled (the default): the rotary is forward_native inside an Inductor-compiled piece, and the
cache write is ``vllm::unified_kv_cache_update``, a splitting op that runs vLLM's CUDA
``reshape_and_cache_flash`` on the rotated k and v. So the baseline is torch.compile(rotary)
followed by vLLM's own cache op where vllm's extension is importable (the GPU box), else by the
same scatter in torch, with a note saying it is not the served op. Eager servers run vLLM's CUDA
rotary in place; that is not wired as a baseline (the note says so).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .baselines import COMPILED_PREFIX, VLLM_OP_PREFIX, Baseline, backend_name, cache_write, served

OP = "rope_kvcache"
VLLM_CACHE_OP = "reshape_and_cache_flash"


def vllm_cache_write() -> Callable[..., None] | None:
    """vLLM's cache op, called as its flash-attention backend calls it (kv dtype "auto", unit
    scales), or None where vllm's extension is not importable."""
    try:
        import vllm._custom_ops  # noqa: F401  (registers torch.ops._C_cache_ops)

        op = torch.ops._C_cache_ops.reshape_and_cache_flash
    except Exception:
        return None
    scales: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def write(key: Any, value: Any, key_cache: Any, value_cache: Any, slots: Any) -> None:
        ks, vs = scales.setdefault(key.device, (torch.ones((), device=key.device), torch.ones((), device=key.device)))
        nkv, hs = key_cache.shape[2], key_cache.shape[3]
        op(key.view(-1, nkv, hs), value.view(-1, nkv, hs), key_cache, value_cache, slots, "auto", ks, vs)

    return write


def served_rope_kvcache(device: str, mode: str) -> Baseline:
    rot = served("rotary", device, mode).fn  # the rotary as the server runs it (compiled: torch.compile)
    write = vllm_cache_write() if device.startswith("cuda") else None
    note = ""
    if write is None and device.startswith("cuda"):
        note = (
            f"vLLM's {VLLM_CACHE_OP} is what a server runs for the cache write and is not importable here: "
            "the same scatter in torch stands in"
        )
    elif write is None:
        note = "a CPU server writes its cache with its attention backend's own op: the same scatter in torch stands in"
    write = write or cache_write
    if mode != "compiled" and device.startswith("cuda"):
        note = (note + "; " if note else "") + (
            "an eager GPU server runs vLLM's CUDA rotary in place, not wired here: the torch rotary stands in, "
            "which is not the served path"
        )

    def fn(
        positions: Any, q: Any, k: Any, v: Any, cache: Any, key_cache: Any, value_cache: Any, slots: Any, hs: int
    ) -> tuple[Any, Any, Any]:
        q_out, k_rot = rot(positions, q, k, cache, hs)
        write(k_rot, v, key_cache, value_cache, slots)
        return q_out, key_cache, value_cache

    name = backend_name(OP) + ("" if write is cache_write else f"+{VLLM_OP_PREFIX}{VLLM_CACHE_OP}")
    if mode == "compiled":
        return Baseline(fn, COMPILED_PREFIX + name, "compiled", note=note)
    return Baseline(fn, name, "eager", note=note)
