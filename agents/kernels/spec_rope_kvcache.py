"""rope_kvcache: the rotary embedding fused with the KV-cache write, the op boundary a compiled
vLLM server does not fuse on CUDA (issue 36).

In vLLM 0.26 a Llama layer's rotary runs inside an Inductor-compiled piece, which writes the
rotated q and k to memory; the cache write is ``vllm::unified_kv_cache_update``, a splitting op
of its own (compilation_config.splitting_ops), which reads k and v back and scatters them into the
paged cache with ``reshape_and_cache_flash``. Its rope + KV-cache fusion pass is ROCm/AITER only
(pass_config.fuse_rope_kvcache is forced off on CUDA). One kernel can read q, k, v once, write
the rotated q and scatter the rotated k and v into the cache.

The cache is FlashAttention's in 0.26: one tensor of logical shape (blocks, kv_heads, block_size,
2*head_size) laid out NHD, so the key and value caches are the strided views
``kv.transpose(1, 2).split(head_size, -1)``, each [blocks, block_size, kv_heads, head_size] with
non-contiguous strides. A candidate is given those views and writes through them.
"""

from __future__ import annotations

from typing import Any

import torch

OP = "rope_kvcache"
BLOCK_SIZE = 16  # vLLM's default block size on CUDA
# the arguments the op writes in place (key_cache, value_cache): the harness keeps a copy of
# them for the reference, and the oracle's "inputs unchanged" check leaves them out
INPLACE_ARGS = (5, 6)

SEMANTICS = (
    "neox-style rotary embedding of q and k (as the rotary op: p = positions[t], cos = cache[p, :r/2], "
    "sin = cache[p, r/2:r], r = head_size), then the paged KV-cache write: for each token t with "
    "s = slot_mapping[t] >= 0, block = s // block_size and offset = s % block_size, "
    "key_cache[block, offset] = rotated k[t] and value_cache[block, offset] = v[t] (per kv head). "
    "Slots < 0 are padding and write nothing; every other cache entry keeps its value. key_cache and "
    "value_cache are strided views of one packed tensor and are written in place; q, k, v, positions "
    "and slot_mapping are unchanged. Returns (q_out, key_cache, value_cache), q_out a new tensor."
)
SIGNATURE = (
    "fn(positions[T] int64, q[T,nq*hs], k[T,nkv*hs], v[T,nkv*hs], cos_sin_cache[P,hs], "
    "key_cache[B,S,nkv,hs], value_cache[B,S,nkv,hs], slot_mapping[T] int64, head_size: int) "
    "-> (q_out[T,nq*hs], key_cache, value_cache)"
)


def paged_cache(blocks: int, block_size: int, kv_heads: int, head_size: int, fill: torch.Tensor) -> tuple[Any, Any]:
    """FlashAttention's packed cache and its key/value views, filled from ``fill`` (random old
    contents, so an entry a candidate must leave alone is not zero)."""
    kv = fill.reshape(blocks, block_size, kv_heads, 2 * head_size)  # physical NHD
    return kv[..., :head_size], kv[..., head_size:]


def make_inputs(p: dict[str, Any], shape: list[int], randn: Any, g: torch.Generator, dt: Any, device: str) -> tuple:
    from .specs import cos_sin_cache

    t, qw = shape
    hs, nkv, P = p["head_size"], p["num_kv_heads"], p["max_position"]
    bs = int(p.get("block_size", BLOCK_SIZE))
    blocks = (2 * t + bs - 1) // bs + 1
    positions = torch.randint(0, P, (t,), generator=g, dtype=torch.int64).to(device)
    cache = cos_sin_cache(P, hs, p["rope_theta"], dt, device)
    kc, vc = paged_cache(blocks, bs, nkv, hs, randn(blocks * bs * nkv * 2 * hs))
    slots = torch.randperm(blocks * bs, generator=g)[:t].to(torch.int64).to(device)
    return positions, randn(t, qw), randn(t, nkv * hs), randn(t, nkv * hs), cache, kc, vc, slots, int(hs)


def reference(
    positions: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cache: torch.Tensor,
    key_cache: torch.Tensor,
    value_cache: torch.Tensor,
    slot_mapping: torch.Tensor,
    head_size: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """In float64, on copies: the caches passed here must be the ones from before the call."""
    from .specs import ref_rotary

    q_out, k_rot = ref_rotary(positions, q, k, cache, head_size)
    kc, vc = key_cache.detach().to(torch.float64).clone(), value_cache.detach().to(torch.float64).clone()
    nkv = kc.shape[2]
    k3 = k_rot.reshape(k.shape[0], nkv, head_size)
    v3 = v.detach().to(torch.float64).reshape(v.shape[0], nkv, head_size)
    slots = slot_mapping.detach().to("cpu", torch.int64)
    keep = slots >= 0
    kc.view(-1, nkv, head_size)[slots[keep]] = k3[keep.to(k3.device)].to(kc.device)
    vc.view(-1, nkv, head_size)[slots[keep]] = v3[keep.to(v3.device)].to(vc.device)
    return q_out, kc, vc


def bytes_moved(p: dict[str, Any], shape: list[int], itemsize: int) -> int:
    """q read and written, k and v read and written once into the cache, positions, slots, cos/sin rows."""
    t, qw = shape
    kw = p["num_kv_heads"] * p["head_size"]
    return (2 * t * qw + 4 * t * kw) * itemsize + 2 * t * 8 + t * p["head_size"] * itemsize
