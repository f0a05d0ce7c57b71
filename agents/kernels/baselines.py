"""What a candidate is timed against: the implementation the engine serves for the op.

The formulas below are vLLM's ``forward_native`` (vllm/ir/ops, vllm 0.32). They are not
references: they round intermediates (rmsnorm casts to the model dtype before the weight
multiply), which the float64 references in specs.py do not. Which implementation a live vLLM
server runs depends on its compilation mode (vllm/platforms/cuda.py get_default_ir_op_priority;
vllm/platforms/cpu.py):

| device | served mode | what runs | baseline here |
|---|---|---|---|
| cuda | compiled (default) | forward_native traced by Inductor (IR priority "native") | torch.compile(forward_native) |
| cuda | eager (--enforce-eager) | vLLM's CUDA op (IR priority "vllm_c") | torch.ops._C.<op> when vllm is installed |
| cpu | compiled (default) | forward_native traced by Inductor (DYNAMO_TRACE_ONCE) | torch.compile(forward_native) |
| cpu | eager | forward_native (x86 has no vllm_c for these ops) | forward_native |

A speedup over a path the server never runs is the gamed isolated number the auditor catches
in others (H11), so the harness times the served path and keeps eager forward_native as a
second, labelled column. Inside a compiled model Inductor also fuses the op into its
neighbours, which a standalone compiled op cannot show: the served baseline is still the
kinder side, and the e2e patch gate stays the judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

import torch
import torch.nn.functional as F


def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    orig = x.dtype
    xf = x.to(torch.float32)
    var = xf.pow(2).mean(dim=-1, keepdim=True)
    return (xf * torch.rsqrt(var + eps)).to(orig) * weight


def fused_add_rmsnorm(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    s = x + residual
    return rmsnorm(s, weight, eps), s


def silu_and_mul(x: torch.Tensor) -> torch.Tensor:
    d = x.shape[-1] // 2
    return F.silu(x[..., :d]) * x[..., d:]


def rotary(
    positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor, cache: torch.Tensor, head_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    cos_sin = cache.index_select(0, positions)
    cos, sin = cos_sin.chunk(2, dim=-1)

    def apply(x: torch.Tensor) -> torch.Tensor:
        shp = x.shape
        x = x.view(shp[0], -1, head_size)
        c, s = cos.unsqueeze(-2).to(x.dtype), sin.unsqueeze(-2).to(x.dtype)
        x1, x2 = torch.chunk(x, 2, dim=-1)
        return torch.cat((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1).reshape(shp)

    return apply(q), apply(k)


def cache_write(
    key: torch.Tensor, value: torch.Tensor, key_cache: torch.Tensor, value_cache: torch.Tensor, slots: torch.Tensor
) -> None:
    """The paged KV-cache write in torch (what reshape_and_cache_flash does; slots < 0 are padding)."""
    nkv, hs = key_cache.shape[2], key_cache.shape[3]
    keep = slots >= 0
    key_cache.flatten(0, 1)[slots[keep]] = key.reshape(-1, nkv, hs)[keep]
    value_cache.flatten(0, 1)[slots[keep]] = value.reshape(-1, nkv, hs)[keep]


def rope_kvcache(
    positions: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cache: torch.Tensor,
    key_cache: torch.Tensor,
    value_cache: torch.Tensor,
    slots: torch.Tensor,
    head_size: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The unfused path: rotary (forward_native), then the cache write."""
    q_out, k_rot = rotary(positions, q, k, cache, head_size)
    cache_write(k_rot, v, key_cache, value_cache, slots)
    return q_out, key_cache, value_cache


BASELINES = {
    "rmsnorm": rmsnorm,
    "fused_add_rmsnorm": fused_add_rmsnorm,
    "silu_and_mul": silu_and_mul,
    "rotary": rotary,
    "rope_kvcache": rope_kvcache,
}
SERVING_MODES = ("compiled", "eager")
# the name prefixes the auditor's H11 reads the baseline's kind from (it imports nothing from here)
COMPILED_PREFIX = "torch.compile(inductor):"
VLLM_OP_PREFIX = "vllm._C:"


def backend_name(op: str) -> str:
    """The eager forward_native formula's name (the second column)."""
    return f"{__name__}:{op}"


@dataclass(frozen=True)
class Baseline:
    fn: Callable[..., Any]
    backend: str  # what opbench.json names
    kind: str  # compiled | vllm_custom_op | eager
    note: str = ""


def _vllm_op(op: str) -> Callable[..., Any] | None:
    """vLLM's own CUDA op, called as vllm/kernels/vllm_c.py calls it, or None where vllm's
    extension is not importable (the device here has no vllm)."""
    try:
        import vllm._custom_ops  # noqa: F401  (registers torch.ops._C)

        C = torch.ops._C
    except Exception:
        return None
    if op == "rmsnorm" and hasattr(C, "rms_norm"):

        def f(x, weight, eps):
            out = torch.empty_like(x)
            C.rms_norm(out, x, weight, eps)
            return out

        return f
    if op == "silu_and_mul" and hasattr(C, "silu_and_mul"):

        def g(x):
            out = torch.empty(x.shape[:-1] + (x.shape[-1] // 2,), dtype=x.dtype, device=x.device)
            C.silu_and_mul(out, x)
            return out

        return g
    return None  # fused_add_rmsnorm / rotary work in place: not a drop-in baseline here


def served(op: str, device: str, mode: str) -> Baseline:
    """The baseline that is what the engine serves for ``op`` on ``device`` in ``mode``, or,
    where that cannot run here, the nearest one with a note saying what it is not."""
    if mode not in SERVING_MODES:
        raise ValueError(f"unknown serving mode {mode!r}; known: {', '.join(SERVING_MODES)}")
    native = BASELINES[op]
    if op == "rope_kvcache":
        from .baselines_rope_kvcache import served_rope_kvcache

        return served_rope_kvcache(device, mode)
    if mode == "compiled":
        # what vLLM's piecewise graph gives Inductor: static shapes per captured size
        return Baseline(
            torch.compile(native, dynamic=False, fullgraph=True), COMPILED_PREFIX + backend_name(op), "compiled"
        )
    if device.startswith("cuda"):
        f = _vllm_op(op)
        if f is not None:
            return Baseline(f, VLLM_OP_PREFIX + op, "vllm_custom_op")
        return Baseline(
            native,
            backend_name(op),
            "eager",
            note="vLLM's CUDA op is what an eager GPU server runs and is not importable here: the eager "
            "forward_native stands in, which is not the served path",
        )
    return Baseline(native, backend_name(op), "eager")
