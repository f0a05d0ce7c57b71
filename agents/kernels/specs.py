"""Op specs: what each served op computes, at which shapes and dtypes, with which tolerance.

The float64 references here are written from the semantics text, not from any candidate:
they upcast every tensor input to float64 and follow the formula literally. Where the spec
defines an intermediate rounding (the residual stream of fused_add_rmsnorm is stored in the
model dtype, and the next layer normalises the stored value), the reference rounds there too,
because that rounding is part of the op, not an error of it.

Shapes: one list per call, the primary input's shape ([M, H] for the norms, [M, 2*d] for
silu_and_mul, [T, num_heads*head_size] for rotary). Model-dependent constants (eps, head
counts, max positions) live in ``params`` of the model profile the shapes were served for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field

from . import spec_rope_kvcache as rkv

OPS = ("rmsnorm", "fused_add_rmsnorm", "silu_and_mul", "rotary", "rope_kvcache")

# Relative-error tolerance per dtype, ||out - ref|| / ||ref||; the auditor's H2 policy table
# (fp32 1e-5, bf16/fp16 1e-3). ref is the float64 answer rounded once to the output dtype:
# see correctness.py for why the unavoidable output rounding is excluded.
DTYPE_TOLERANCE = {"fp32": 1e-5, "bf16": 1e-3, "fp16": 1e-3}

DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "fp64": torch.float64,
}


def dtype_name(dt: torch.dtype) -> str:
    return {v: k for k, v in DTYPES.items()}[dt]


class OpSpec(BaseModel):
    op: str
    family: str = Field(description="profile family the op is routed under (auditor op_family)")
    semantics: str
    signature: str = Field(description="the candidate's call signature")
    profile: str = Field(description="model profile the served shapes come from")
    params: dict[str, Any] = Field(default_factory=dict)
    served_shapes: list[list[int]]
    dtypes: list[str]
    tolerances: dict[str, float] = Field(default_factory=lambda: dict(DTYPE_TOLERANCE))


SEMANTICS = {
    "rmsnorm": "out[m, :] = x[m, :] / sqrt(mean_j(x[m, j]^2) + eps) * weight, computed exactly and "
    "rounded once to x.dtype. A new tensor; inputs unchanged.",
    "fused_add_rmsnorm": "s = round_dtype(x + residual) (the residual stream is stored in the model dtype); "
    "out = rmsnorm(s, weight, eps). Returns (out, s) as new tensors; inputs unchanged.",
    "silu_and_mul": "x has last dim 2*d; a = x[..., :d], b = x[..., d:]; out = a * sigmoid(a) * b, computed "
    "exactly and rounded once. A new tensor of last dim d.",
    "rotary": "neox-style rotary embedding. For token t, p = positions[t]; cos = cache[p, :r/2], "
    "sin = cache[p, r/2:r] (r = rotary_dim = head_size). For every head of q and of k, with "
    "x1 = x[:r/2], x2 = x[r/2:r]: out1 = x1*cos - x2*sin, out2 = x2*cos + x1*sin. Positions "
    "are arbitrary (not contiguous, may repeat, any value < max_position). Returns new (q, k).",
    "rope_kvcache": rkv.SEMANTICS,
}

SIGNATURES = {
    "rmsnorm": "fn(x[M,H], weight[H], eps: float) -> out[M,H]",
    "fused_add_rmsnorm": "fn(x[M,H], residual[M,H], weight[H], eps: float) -> (out[M,H], residual_out[M,H])",
    "silu_and_mul": "fn(x[M,2d]) -> out[M,d]",
    "rotary": "fn(positions[T] int64, q[T,nq*hs], k[T,nkv*hs], cos_sin_cache[P,hs], head_size: int) -> (q_out, k_out)",
    "rope_kvcache": rkv.SIGNATURE,
}

FAMILIES = {
    "rmsnorm": "rmsnorm",
    "fused_add_rmsnorm": "rmsnorm",
    "silu_and_mul": "silu_and_mul",
    "rotary": "rotary",
    "rope_kvcache": "rotary",
}
# ops that write some of their arguments in place (indices into the call's arguments)
INPLACE_ARGS: dict[str, tuple[int, ...]] = {"rope_kvcache": rkv.INPLACE_ARGS}

# Model profiles: the constants and the shapes a server of that model runs.
# llama-8b-like: hidden 4096, head 128, 32 q heads / 8 kv heads, intermediate 11008 (Llama-2-7B's).
# tiny-arith: the shipped CPU model (models/tiny-arith/config.json): hidden 128, intermediate
# 512, 2 heads of 64, 64 positions, fp32.
PROFILES: dict[str, dict[str, Any]] = {
    "llama-gpu": {
        "params": {
            "eps": 1e-6,
            "hidden": 4096,
            "intermediate": 11008,
            "head_size": 128,
            "num_heads": 32,
            "num_kv_heads": 8,
            "max_position": 8192,
            "rope_theta": 10000.0,
        },
        "tokens": [1, 32, 512, 4096],
        "dtypes": ["bf16"],
    },
    "tiny-arith": {
        "params": {
            "eps": 1e-5,
            "hidden": 128,
            "intermediate": 512,
            "head_size": 64,
            "num_heads": 2,
            "num_kv_heads": 2,
            "max_position": 64,
            "rope_theta": 10000.0,
        },
        "tokens": [1, 7, 64],
        "dtypes": ["fp32"],
    },
}


# "hf:<config.json>": the served model's own Hugging Face config, so a harness times the shapes
# of the model the server loaded (a Llama-3-8B has intermediate 14336, not llama-gpu's 11008)
HF_PREFIX = "hf:"
HF_TOKENS = [1, 32, 512, 4096]
_HF_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}


def hf_profile(config_json: str | Path) -> dict[str, Any]:
    """A model profile read from a Llama-type config.json (the keys every such config has; a
    missing one is a KeyError naming it, since a guessed hidden size times the wrong shapes)."""
    path = Path(config_json)
    try:
        c = json.loads(path.read_text())
        heads, hidden = int(c["num_attention_heads"]), int(c["hidden_size"])
        rope = c.get("rope_parameters") or {}
        dtype = str(c.get("torch_dtype") or c.get("dtype") or "bfloat16")
        params = {
            "eps": float(c.get("rms_norm_eps", 1e-6)),
            "hidden": hidden,
            "intermediate": int(c["intermediate_size"]),
            "head_size": int(c.get("head_dim") or hidden // heads),
            "num_heads": heads,
            "num_kv_heads": int(c.get("num_key_value_heads") or heads),
            "max_position": int(c.get("max_position_embeddings", 8192)),
            "rope_theta": float(c.get("rope_theta") or rope.get("rope_theta") or 10000.0),
        }
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a readable model config ({e})") from e
    except KeyError as e:
        raise ValueError(f"{path}: the model config has no {e.args[0]!r}; name a profile instead") from e
    return {"params": params, "tokens": list(HF_TOKENS), "dtypes": [_HF_DTYPES.get(dtype, "bf16")]}


def profile_named(profile: str) -> dict[str, Any]:
    """A model profile by name (PROFILES) or from a model's config.json ("hf:<path>")."""
    if profile.startswith(HF_PREFIX):
        return hf_profile(profile[len(HF_PREFIX) :])
    if profile not in PROFILES:
        raise KeyError(f"unknown model profile {profile!r}; known: {sorted(PROFILES)} or hf:<config.json>")
    return PROFILES[profile]


def served_shape(op: str, tokens: int, p: dict[str, Any]) -> list[int]:
    if op in ("rmsnorm", "fused_add_rmsnorm"):
        return [tokens, p["hidden"]]
    if op == "silu_and_mul":
        return [tokens, 2 * p["intermediate"]]
    if op in ("rotary", "rope_kvcache"):
        return [tokens, p["num_heads"] * p["head_size"]]
    raise KeyError(op)


def spec_for(
    op: str, profile: str = "llama-gpu", *, tokens: list[int] | None = None, dtypes: list[str] | None = None
) -> OpSpec:
    """The spec of ``op`` as served by ``profile``; ``tokens``/``dtypes`` narrow it (an extractor
    that read the served set from a trace passes what it saw)."""
    if op not in OPS:
        raise KeyError(f"unknown op {op!r}; known: {OPS}")
    prof = profile_named(profile)
    p = dict(prof["params"])
    return OpSpec(
        op=op,
        family=FAMILIES[op],
        semantics=SEMANTICS[op],
        signature=SIGNATURES[op],
        profile=profile,
        params=p,
        served_shapes=[served_shape(op, t, p) for t in (tokens or prof["tokens"])],
        dtypes=list(dtypes or prof["dtypes"]),
    )


# ---------------------------------------------------------------- inputs


def cos_sin_cache(max_position: int, rotary_dim: int, theta: float, dtype: torch.dtype, device: str) -> torch.Tensor:
    """[P, r]: cos then sin of p * theta^(-2i/r), i < r/2 (vLLM's layout), built in float64."""
    inv = theta ** (-torch.arange(0, rotary_dim, 2, dtype=torch.float64) / rotary_dim)
    ang = torch.arange(max_position, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cat([ang.cos(), ang.sin()], dim=-1).to(dtype).to(device)


def make_inputs(spec: OpSpec, shape: list[int], dtype: str, device: str, seed: int) -> tuple[Any, ...]:
    """Random inputs for one call. Never zeros: zeros hide unwritten outputs (they are an oracle case)."""
    g = torch.Generator().manual_seed(seed)
    dt = DTYPES[dtype]
    p = spec.params

    def randn(*s: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*s, generator=g, dtype=torch.float32) * scale).to(dt).to(device)

    if spec.op == "rmsnorm":
        m, h = shape
        return randn(m, h), (1.0 + randn(h, scale=0.1).float()).to(dt), float(p["eps"])
    if spec.op == "fused_add_rmsnorm":
        m, h = shape
        return randn(m, h), randn(m, h), (1.0 + randn(h, scale=0.1).float()).to(dt), float(p["eps"])
    if spec.op == "silu_and_mul":
        m, d2 = shape
        return (randn(m, d2, scale=2.0),)
    if spec.op == "rotary":
        t, _ = shape
        hs, nkv, P = p["head_size"], p["num_kv_heads"], p["max_position"]
        positions = torch.randint(0, P, (t,), generator=g, dtype=torch.int64).to(device)
        cache = cos_sin_cache(P, hs, p["rope_theta"], dt, device)
        return positions, randn(t, shape[1]), randn(t, nkv * hs), cache, int(hs)
    if spec.op == "rope_kvcache":
        return rkv.make_inputs(p, shape, randn, g, dt, device)
    raise KeyError(spec.op)


def tensor_args(args: tuple[Any, ...]) -> list[torch.Tensor]:
    return [a for a in args if isinstance(a, torch.Tensor)]


# ---------------------------------------------------------------- float64 references


def _f64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64)


def ref_rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    x64 = _f64(x)
    ms = (x64 * x64).sum(dim=-1, keepdim=True) / x64.shape[-1]
    return x64 / torch.sqrt(ms + eps) * _f64(weight)


def ref_fused_add_rmsnorm(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    s = (_f64(x) + _f64(residual)).to(x.dtype)  # the stored residual stream, per the spec
    return ref_rmsnorm(s, weight, eps), _f64(s)


def ref_silu_and_mul(x: torch.Tensor) -> torch.Tensor:
    x64 = _f64(x)
    d = x64.shape[-1] // 2
    a, b = x64[..., :d], x64[..., d:]
    return a / (1.0 + torch.exp(-a)) * b


def ref_rotary(
    positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor, cache: torch.Tensor, head_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    c = _f64(cache)[positions.long()]  # [T, r]
    half = head_size // 2
    cos, sin = c[:, None, :half], c[:, None, half:head_size]

    def rot(x: torch.Tensor) -> torch.Tensor:
        x64 = _f64(x).reshape(x.shape[0], -1, head_size)
        x1, x2 = x64[..., :half], x64[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).reshape(x.shape)

    return rot(q), rot(k)


REFERENCES: dict[str, Callable[..., Any]] = {
    "rmsnorm": ref_rmsnorm,
    "fused_add_rmsnorm": ref_fused_add_rmsnorm,
    "silu_and_mul": ref_silu_and_mul,
    "rotary": ref_rotary,
    "rope_kvcache": rkv.reference,
}


def pristine(op: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The call's arguments with those the op writes in place copied, for a reference computed
    from what the candidate was given (not from what it left behind)."""
    keep = INPLACE_ARGS.get(op, ())
    return tuple(a.clone() if i in keep and isinstance(a, torch.Tensor) else a for i, a in enumerate(args))


def reference(op: str, args: tuple[Any, ...]) -> tuple[torch.Tensor, ...]:
    out = REFERENCES[op](*args)
    return out if isinstance(out, tuple) else (out,)


# ---------------------------------------------------------------- roofline


def bytes_moved(spec: OpSpec, shape: list[int], dtype: str) -> int:
    """The fewest bytes one call must move: each input read once, each output written once."""
    b = DTYPES[dtype].itemsize
    if spec.op == "rmsnorm":
        m, h = shape
        return (2 * m * h + h) * b
    if spec.op == "fused_add_rmsnorm":
        m, h = shape
        return (4 * m * h + h) * b
    if spec.op == "silu_and_mul":
        m, d2 = shape
        return (m * d2 + m * d2 // 2) * b
    if spec.op == "rotary":
        t, qw = shape
        kw = spec.params["num_kv_heads"] * spec.params["head_size"]
        return 2 * t * (qw + kw) * b + t * 8 + t * spec.params["head_size"] * b  # q,k in+out, positions, cache rows
    if spec.op == "rope_kvcache":
        return rkv.bytes_moved(spec.params, shape, b)
    raise KeyError(spec.op)
