"""The torch eager ops a candidate is timed against: vLLM's ``forward_native`` formulas.

These are what a vLLM layer runs when its custom op is disabled and nothing compiles it, so
a speedup over them is a speedup over "the torch eager op". They are not references: they
round intermediates (e.g. rmsnorm casts to the model dtype before the weight multiply), which
the float64 references in specs.py do not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    orig = x.dtype
    xf = x.to(torch.float32)
    var = xf.pow(2).mean(dim=-1, keepdim=True)
    return (xf * torch.rsqrt(var + eps)).to(orig) * weight


def fused_add_rmsnorm(x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    s = x + residual
    return rmsnorm(s, weight, eps), s


def silu_and_mul(x: torch.Tensor) -> torch.Tensor:
    d = x.shape[-1] // 2
    return F.silu(x[..., :d]) * x[..., d:]


def rotary(positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor, cache: torch.Tensor, head_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    cos_sin = cache.index_select(0, positions)
    cos, sin = cos_sin.chunk(2, dim=-1)

    def apply(x: torch.Tensor) -> torch.Tensor:
        shp = x.shape
        x = x.view(shp[0], -1, head_size)
        c, s = cos.unsqueeze(-2).to(x.dtype), sin.unsqueeze(-2).to(x.dtype)
        x1, x2 = torch.chunk(x, 2, dim=-1)
        return torch.cat((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1).reshape(shp)

    return apply(q), apply(k)


BASELINES = {"rmsnorm": rmsnorm, "fused_add_rmsnorm": fused_add_rmsnorm, "silu_and_mul": silu_and_mul, "rotary": rotary}


def backend_name(op: str) -> str:
    return f"{__name__}:{op}"
