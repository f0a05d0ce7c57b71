"""The routing: which op families of a live profile the kernel track takes, and why every
other top family is skipped (the claim the profile gate audits, R1-R3)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, Field

from geak.auditor.evidence.models import ProfileClaim, RoutedOp, SkippedOp

from .headroom import OpReading
from .profiler import FamilyStat, OpBreakdown

# Where each template family lives in vLLM (issue 6 item 4 / 5): the layer class a
# CustomOp.register_oot override replaces.
VLLM_EDITABLE: dict[str, str] = {
    "rmsnorm": "vllm.model_executor.layers.layernorm.RMSNorm (CustomOp.register_oot)",
    "silu_and_mul": "vllm.model_executor.layers.activation.SiluAndMul (CustomOp.register_oot)",
    "rotary": "vllm.model_executor.layers.rotary_embedding.RotaryEmbedding (CustomOp.register_oot)",
}


class RoutingProposal(BaseModel):
    """What the profiler routes and why; ``claim()`` is the ProfileClaim the gate audits."""

    trace_file: str
    routed: list[RoutedOp] = Field(default_factory=list)
    skipped: list[SkippedOp] = Field(default_factory=list)
    breakdown: dict[str, float] = Field(default_factory=dict, description="family -> share, as ranked")
    top_k: int
    note: str = ""

    def claim(self, trace_file: str | None = None) -> ProfileClaim:
        return ProfileClaim(
            trace_file=trace_file or self.trace_file,
            routed=self.routed,
            skipped=self.skipped,
            breakdown=dict(self.breakdown),
        )


def _skip_reason(
    f: FamilyStat, editable: Mapping[str, str], min_share: float, top: list[str], best: Mapping[str, OpReading]
) -> str:
    names = " ".join(f.ops).lower()
    if f.family == "compiled_region":
        inside = sorted(x for x in editable if x in ("rmsnorm", "silu_and_mul", "rotary"))
        return "fused inside torch.compile region: not separately replaceable" + (
            f" ({', '.join(inside)} run inside it; profile with them in compilation_config.custom_ops to see their share)"
            if inside
            else ""
        )
    if f.family == "gemm":
        vendor = (
            "oneDNN"
            if any(k in names for k in ("onednn", "mkldnn", "dnnl"))
            else "cuBLAS/CUTLASS"
            if any(k in names for k in ("cublas", "cutlass", "xmma", "sm90", "sm80", "ampere"))
            else "hipBLASLt/rocBLAS"
            if any(k in names for k in ("hipblas", "rocblas", "cijk"))
            else "BLAS library"
        )
        return f"vendor GEMM ({vendor}): not in the template library"
    if f.family == "other":
        return "unattributed glue (views, copies, indexing, host-side ops): no single op to replace"
    if f.family in editable and f.share < min_share:
        return f"editable but under {min_share:.0%} of op time ({f.share:.1%})"
    if f.family == "attention":
        return "attention backend owned by the engine: no replacement path configured"
    if f.family in best:
        return f"editable; {best[f.family].line()}" + (f"; {', '.join(top)} would save more" if top else "")
    if f.family in editable:
        return f"editable; a larger editable family ({', '.join(t for t in top if t in editable)}) is routed first"
    return f"no replacement path in the engine for {f.family}"


def route(
    breakdown: OpBreakdown,
    editable_families: Mapping[str, str] | Iterable[str] = VLLM_EDITABLE,
    *,
    top_k: int = 5,
    max_routed: int = 1,
    min_share: float = 0.02,
    readings: Sequence[OpReading] = (),
) -> RoutingProposal:
    """Route editable families among the top ``top_k`` (at most ``max_routed``); every other top
    family is skipped with a reason. With share x headroom readings of a device trace
    (agents/headroom.py) the family whose best op would save the most op time goes first, and one
    whose ops already run at the trace's ceiling is not routed; without them (a CPU trace, a model
    with no local config), the largest family. ``editable_families``: family -> where it is
    replaced in the engine (an iterable of names means location unknown)."""
    editable = dict(editable_families) if isinstance(editable_families, Mapping) else {f: "" for f in editable_families}
    fams = breakdown.families
    top = [f.family for f in fams[:top_k]]
    best = _best_readings(readings)
    cands = [
        f
        for f in fams[:top_k]
        if f.family in editable
        and f.family not in ("other", "compiled_region")
        and max(f.share, best[f.family].share if f.family in best else 0.0) >= min_share
    ]
    if best:  # by what a kernel at the trace's ceiling would save; nothing where it saves nothing
        gain = {fam: r.gain or 0.0 for fam, r in best.items()}
        cands = sorted((f for f in cands if gain.get(f.family, 0.0) > 0), key=lambda f: -gain[f.family])
    routed = [
        RoutedOp(family=f.family, claimed_share=round(f.share, 4), editable=True, location=editable[f.family] or None)
        for f in cands[:max_routed]
    ]
    picked = {r.family for r in routed}
    skipped = [
        SkippedOp(family=f.family, reason=_skip_reason(f, editable, min_share, [r.family for r in routed], best))
        for f in fams[:top_k]
        if f.family not in picked
    ]
    how = " by share x headroom" if best else ""
    if routed:
        why = "; ".join(best[r.family].line() for r in routed if r.family in best)
        note = f"routed {', '.join(sorted(picked))} of the top {len(top)} families {top}{how}" + (
            f" ({why})" if why else ""
        )
    elif best and any(f in best for f in top):
        note = f"nothing routed among the top {len(top)} families {top}: no editable op has headroom to the trace's ceiling"
    else:
        vis = sorted(set(editable) & {f.family for f in fams})
        note = (
            f"nothing editable among the top {len(top)} families {top}"
            + (f"; editable families present but minor: {vis}" if vis else "")
            + ("; the editable ops are fused inside torch.compile regions" if "compiled_region" in top else "")
        )
    return RoutingProposal(
        trace_file=breakdown.trace_file,
        routed=routed,
        skipped=skipped,
        breakdown={f.family: round(f.share, 4) for f in fams},
        top_k=top_k,
        note=note,
    )


def _best_readings(readings: Sequence[OpReading]) -> dict[str, OpReading]:
    """Per family, the reading of the op that would save the most (a fused op serves its family)."""
    out: dict[str, OpReading] = {}
    for r in readings:
        if r.gain is not None and (r.family not in out or r.gain > (out[r.family].gain or 0.0)):
            out[r.family] = r
    return out
