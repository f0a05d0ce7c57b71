"""Correctness of a candidate's outputs against the float64 reference of specs.py.

rel_err = ||out - round(ref)|| / ||ref|| over all outputs of the call, where round() rounds the
float64 answer once to the output dtype. Why round the reference: a bf16 output cannot be
closer to the exact answer than bf16's own rounding (2^-9 relative, ~1e-3 in the norm), so
comparing with the unrounded answer would fail every correct bf16 kernel at the 1e-3 policy
tolerance and measure the format, not the kernel. The unrounded error is kept beside it
(``rel_err_vs_exact``) so a reader sees both. A wrong kernel is wrong by far more than one
rounding, and NaN/inf or a shape/dtype mismatch is never within tolerance.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from geak.auditor.evidence.models import CorrectnessCase

from .specs import dtype_name


def as_outputs(out: Any) -> tuple[Any, ...]:
    return out if isinstance(out, tuple) else (out,)


def compare(outs: tuple[Any, ...], refs: tuple[torch.Tensor, ...], dtype: torch.dtype) -> dict[str, Any]:
    """max_abs_err, rel_err (vs the rounded reference), rel_err_vs_exact, and why it is None if it is."""
    if len(outs) != len(refs):
        return {"why": f"{len(outs)} output(s), the spec has {len(refs)}"}
    num = den = num_exact = 0.0
    max_abs = 0.0
    for o, r in zip(outs, refs):
        if not isinstance(o, torch.Tensor):
            return {"why": f"output is {type(o).__name__}, not a tensor"}
        if tuple(o.shape) != tuple(r.shape):
            return {"why": f"output shape {tuple(o.shape)} != {tuple(r.shape)}"}
        if o.dtype != dtype:
            return {"why": f"output dtype {o.dtype} != {dtype}"}
        o64 = o.detach().to("cpu", torch.float64)
        r64 = r.detach().to("cpu", torch.float64)
        if not bool(torch.isfinite(o64).all()):
            return {"why": "non-finite values in the output"}
        rr = r64.to(dtype).to(torch.float64)
        num += float(((o64 - rr) ** 2).sum())
        num_exact += float(((o64 - r64) ** 2).sum())
        den += float((r64**2).sum())
        max_abs = max(max_abs, float((o64 - r64).abs().max()) if o64.numel() else 0.0)
    if den == 0.0:  # an all-zero answer: any nonzero output is wrong
        return {
            "max_abs_err": max_abs,
            "rel_err": 0.0 if num == 0.0 else math.inf,
            "rel_err_vs_exact": 0.0 if num_exact == 0.0 else math.inf,
        }
    return {"max_abs_err": max_abs, "rel_err": math.sqrt(num / den), "rel_err_vs_exact": math.sqrt(num_exact / den)}


def case(shape: list[int], dtype: torch.dtype, cmp: dict[str, Any], tol: float) -> CorrectnessCase:
    rel = cmp.get("rel_err")
    finite = rel is not None and math.isfinite(rel)
    c = CorrectnessCase(
        shape=list(shape),
        dtype=dtype_name(dtype),
        reference_dtype="fp64",
        max_abs_err=cmp.get("max_abs_err"),
        rel_err=rel if finite else None,
        passed=bool(finite and rel <= tol),
    )
    extra = {"tolerance": tol, "reference_rounding": "float64 answer rounded once to the output dtype"}
    if cmp.get("rel_err_vs_exact") is not None and math.isfinite(cmp["rel_err_vs_exact"]):
        extra["rel_err_vs_exact"] = cmp["rel_err_vs_exact"]
    if not finite:
        extra["why"] = cmp.get("why", "rel_err infinite (nonzero output where the answer is zero)")
    for k, v in extra.items():
        setattr(c, k, v)
    return c
