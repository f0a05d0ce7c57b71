"""GPU candidates: Triton kernels. This module imports on a machine without Triton; the
kernels (``_triton_impl``) are imported on first call, so a CPU run never touches Triton."""

from __future__ import annotations

from typing import Any


def _impl() -> Any:
    from . import _triton_impl  # noqa: PLC0415 - lazy on purpose: Triton is GPU-only here
    return _triton_impl


def rmsnorm(x: Any, weight: Any, eps: float) -> Any:
    return _impl().rmsnorm(x, weight, eps)


def fused_add_rmsnorm(x: Any, residual: Any, weight: Any, eps: float) -> Any:
    return _impl().fused_add_rmsnorm(x, residual, weight, eps)


def silu_and_mul(x: Any) -> Any:
    return _impl().silu_and_mul(x)


def rotary(positions: Any, q: Any, k: Any, cache: Any, head_size: int) -> Any:
    return _impl().rotary(positions, q, k, cache, head_size)
