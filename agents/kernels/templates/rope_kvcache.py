"""Template candidates for rope_kvcache (agents/kernels/spec_rope_kvcache.py): the rotary
embedding fused with the paged KV-cache write. One file, so it packages as a plugin candidate.

``rope_kvcache`` (GPU): Triton programs per token read its cos/sin row, rotate the query heads
(written to a new q_out; split over several programs below 1024 tokens, so a decode step fills the
GPU) and, in one more program, every key head, scattering the rotated key and the value straight
into the cache at the token's slot: k and v are read once and the rotated k is
never written to memory on its own, which the served path (Inductor's rotary writing q and k,
then reshape_and_cache_flash reading k and v back) cannot avoid across its split point. Float32
arithmetic, one rounding at each store. ``rope_kvcache_torch`` (CPU): the same in torch.
Triton is optional at import (a CPU box without it has the torch version only).
"""

from __future__ import annotations

from typing import Any

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - a machine without Triton
    triton = None

if triton is not None:


    @triton.jit
    def _rotate(x_ptr, t, sx, h0, NH, cos, sin, d, dm, HALF: tl.constexpr, HS: tl.constexpr, BLOCK_H: tl.constexpr):
        h = h0 + tl.arange(0, BLOCK_H)
        m = (h[:, None] < NH) & dm[None, :]
        src = x_ptr + t * sx + h[:, None] * HS + d[None, :]
        x1 = tl.load(src, mask=m, other=0.0).to(tl.float32)
        x2 = tl.load(src + HALF, mask=m, other=0.0).to(tl.float32)
        c, s = cos[None, :], sin[None, :]
        return x1 * c - x2 * s, x2 * c + x1 * s, h, m


    @triton.jit
    def _rope_kvcache(pos_ptr, q_ptr, k_ptr, v_ptr, c_ptr, qo_ptr, kc_ptr, vc_ptr, slot_ptr,
                      NQ, NKV, sq, sk, sv, sc, BS,
                      skb, sks, skh, svb, svs, svh,
                      HALF: tl.constexpr, HS: tl.constexpr, BLOCK_D: tl.constexpr,
                      BLOCK_HQ: tl.constexpr, BLOCK_HK: tl.constexpr, GQ: tl.constexpr):
        # program (t, g): g < GQ rotates query heads [g*BLOCK_HQ, (g+1)*BLOCK_HQ) of token t;
        # g == GQ rotates the token's keys and writes them and its values into the cache
        t = tl.program_id(0).to(tl.int64)
        g = tl.program_id(1)
        pos = tl.load(pos_ptr + t).to(tl.int64)
        d = tl.arange(0, BLOCK_D)
        dm = d < HALF
        cos = tl.load(c_ptr + pos * sc + d, mask=dm, other=0.0).to(tl.float32)
        sin = tl.load(c_ptr + pos * sc + HALF + d, mask=dm, other=0.0).to(tl.float32)
        if g < GQ:
            # the query: rotated into a new tensor
            o1, o2, h, m = _rotate(q_ptr, t, sq, g * BLOCK_HQ, NQ, cos, sin, d, dm, HALF, HS, BLOCK_HQ)
            dst = qo_ptr + t * (NQ * HS) + h[:, None] * HS + d[None, :]
            tl.store(dst, o1.to(qo_ptr.dtype.element_ty), mask=m)
            tl.store(dst + HALF, o2.to(qo_ptr.dtype.element_ty), mask=m)
        else:
            # the key, rotated, and the value: straight into the paged cache (a slot < 0 is padding)
            slot = tl.load(slot_ptr + t).to(tl.int64)
            if slot >= 0:
                blk, off = slot // BS, slot % BS
                k1, k2, hk, mk = _rotate(k_ptr, t, sk, 0, NKV, cos, sin, d, dm, HALF, HS, BLOCK_HK)
                kdst = kc_ptr + blk * skb + off * sks + hk[:, None] * skh + d[None, :]
                tl.store(kdst, k1.to(kc_ptr.dtype.element_ty), mask=mk)
                tl.store(kdst + HALF, k2.to(kc_ptr.dtype.element_ty), mask=mk)
                vsrc = v_ptr + t * sv + hk[:, None] * HS + d[None, :]
                vdst = vc_ptr + blk * svb + off * svs + hk[:, None] * svh + d[None, :]
                tl.store(vdst, tl.load(vsrc, mask=mk, other=0.0), mask=mk)
                tl.store(vdst + HALF, tl.load(vsrc + HALF, mask=mk, other=0.0), mask=mk)


    # below this many tokens the query heads are split over several programs per token (a decode
    # step's 16-64 tokens would otherwise fill a fraction of the GPU's SMs)
    SPLIT_BELOW_TOKENS = 1024
    SPLIT_HEADS = 8


    def _launch(positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cache: torch.Tensor,
                     key_cache: torch.Tensor, value_cache: torch.Tensor, slots: torch.Tensor,
                     head_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        for x in (q, k, v, cache):
            if x.dim() != 2 or x.stride(-1) != 1:
                raise ValueError(f"expected 2-D tensors with a contiguous last dim, got {tuple(x.shape)} {x.stride()}")
        for c in (key_cache, value_cache):
            if c.dim() != 4 or c.stride(-1) != 1:
                raise ValueError(f"expected a [blocks, block_size, kv_heads, head_size] cache view, got {tuple(c.shape)}")
        if head_size % 2 or q.shape[1] % head_size or k.shape[1] % head_size:
            raise ValueError("head_size must be even and divide the q/k widths")
        t = q.shape[0]
        nq, nkv = q.shape[1] // head_size, k.shape[1] // head_size
        qo = torch.empty_like(q)
        if t == 0:
            return qo, key_cache, value_cache
        half = head_size // 2
        bd, bq, bk = triton.next_power_of_2(half), triton.next_power_of_2(nq), triton.next_power_of_2(nkv)
        if t < SPLIT_BELOW_TOKENS:
            bq = min(bq, SPLIT_HEADS)
        gq = triton.cdiv(nq, bq)
        _rope_kvcache[(t, gq + 1)](positions, q, k, v, cache, qo, key_cache, value_cache, slots,
                            nq, nkv, q.stride(0), k.stride(0), v.stride(0), cache.stride(0), key_cache.shape[1],
                            key_cache.stride(0), key_cache.stride(1), key_cache.stride(2),
                            value_cache.stride(0), value_cache.stride(1), value_cache.stride(2),
                            HALF=half, HS=head_size, BLOCK_D=bd, BLOCK_HQ=bq, BLOCK_HK=bk, GQ=gq, num_warps=4)
        return qo, key_cache, value_cache


def rope_kvcache(
    positions: Any, q: Any, k: Any, v: Any, cache: Any, key_cache: Any, value_cache: Any, slots: Any, head_size: int
) -> Any:
    if triton is None:
        raise RuntimeError("rope_kvcache needs Triton; rope_kvcache_torch is the CPU template")
    return _launch(positions, q, k, v, cache, key_cache, value_cache, slots, head_size)


def rope_kvcache_torch(
    positions: Any, q: Any, k: Any, v: Any, cache: Any, key_cache: Any, value_cache: Any, slots: Any, head_size: int
) -> Any:
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
