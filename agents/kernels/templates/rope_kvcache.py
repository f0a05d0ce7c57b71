"""Template candidates for rope_kvcache (agents/kernels/spec_rope_kvcache.py): the rotary
embedding fused with the paged KV-cache write.

``rope_kvcache`` (GPU): one Triton program per token reads its cos/sin row once, rotates every
query head (written to a new q_out) and every key head, and scatters the rotated key and the
value straight into the cache at the token's slot: k and v are read once and the rotated k is
never written to memory on its own, which the served path (Inductor's rotary writing q and k,
then reshape_and_cache_flash reading k and v back) cannot avoid across its split point. Float32
arithmetic, one rounding at each store. ``rope_kvcache_torch`` (CPU): the same in torch.
Triton is imported on first call, so this module imports on a machine without it.
"""

from __future__ import annotations

from typing import Any


def rope_kvcache(
    positions: Any, q: Any, k: Any, v: Any, cache: Any, key_cache: Any, value_cache: Any, slots: Any, head_size: int
) -> Any:
    from ._triton_rope_kvcache import rope_kvcache as impl  # noqa: PLC0415 - Triton is GPU-only here

    return impl(positions, q, k, v, cache, key_cache, value_cache, slots, head_size)


def rope_kvcache_torch(
    positions: Any, q: Any, k: Any, v: Any, cache: Any, key_cache: Any, value_cache: Any, slots: Any, head_size: int
) -> Any:
    import torch

    t = q.shape[0]
    cos, sin = cache.index_select(0, positions).float().chunk(2, dim=-1)
    cos, sin = cos[:, None, :], sin[:, None, :]
    half = head_size // 2

    def rot(x: Any) -> Any:
        x3 = x.float().reshape(t, -1, head_size)
        x1, x2 = x3[..., :half], x3[..., half:]
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

    q_out = rot(q).to(q.dtype).reshape(q.shape)
    keep = slots >= 0
    key_cache.flatten(0, 1)[slots[keep]] = rot(k)[keep].to(key_cache.dtype)
    value_cache.flatten(0, 1)[slots[keep]] = v.reshape(t, -1, head_size)[keep].to(value_cache.dtype)
    return q_out, key_cache, value_cache
