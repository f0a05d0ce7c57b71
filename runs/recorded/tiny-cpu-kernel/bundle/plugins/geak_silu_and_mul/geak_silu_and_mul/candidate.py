"""CPU candidates in plain torch, written independently of the float64 references.

Each computes in float32 and rounds once to the input dtype (no intermediate cast, unlike
the eager baselines), and allocates its outputs fresh: no input is written.
"""

from __future__ import annotations

import math

import torch


def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    xf = x.float()
    # ||x||_2 / sqrt(H) is the root mean square; one reduction kernel instead of pow+mean.
    rms = torch.linalg.vector_norm(xf, ord=2, dim=-1, keepdim=True) / math.sqrt(x.shape[-1])
    return (xf * torch.rsqrt(rms * rms + eps) * weight.float()).to(x.dtype)


def fused_add_rmsnorm(x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.add(x, residual)  # rounded to the model dtype: the stored residual stream
    return rmsnorm(s, weight, eps), s


def silu_and_mul(x: torch.Tensor) -> torch.Tensor:
    a, b = x.float().chunk(2, dim=-1)
    return (a * torch.sigmoid(a) * b).to(x.dtype)


def rotary(positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor, cache: torch.Tensor, head_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    half = head_size // 2
    cs = cache.float()[positions]                     # [T, hs]
    cos, sin = cs[:, None, :half], cs[:, None, half:head_size]

    def apply(x: torch.Tensor) -> torch.Tensor:
        v = x.float().view(x.shape[0], -1, 2, half)   # [T, heads, (x1|x2), half]
        x1, x2 = v[:, :, 0], v[:, :, 1]
        out = torch.stack((torch.addcmul(x1 * cos, x2, sin, value=-1.0), torch.addcmul(x2 * cos, x1, sin)), dim=2)
        return out.reshape(x.shape).to(x.dtype)

    return apply(q), apply(k)
