"""Which editable op is worth a kernel: its share of op time times its headroom, read from the
live server's trace (issue 36, step 1).

Share alone routes the largest editable family, even one whose served kernel already streams at
the memory system's pace (a compiled SiLU-and-mul on an H100 does), and it understates a fused op,
whose share includes the kernels it replaces (rope_kvcache replaces the rotary and the KV-cache
write: op_classes.op_share). The reading adds the roofline: the calls whose launches recorded
their shapes (the eager and piecewise launches; a CUDA-graph replay records none) give the
fewest bytes the op must move at those token counts (specs.bytes_moved) and the device time the
served kernels took for them; achieved bandwidth = bytes / time. The ceiling is the best any
editable op achieves in the same trace: a bound the device has shown it reaches on this workload,
not a datasheet figure (an L2-resident pointwise kernel can beat the HBM copy rate). Then
headroom = ceiling / achieved, and gain = share * (1 - 1/headroom) is the fraction of op time a
kernel at the ceiling would save: the Amdahl reading that ranks the routing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from geak.auditor.api import DEVICE_CATS, FUSED_ALSO, device_name, launch_ops, op_family

from .profiler import dtype_name

FLOATS = ("bf16", "fp16", "fp32")  # the harness's float dtypes (specs.DTYPES)


class OpReading(BaseModel):
    """One editable op's share x headroom reading from a device trace."""

    op: str = Field(description="the op's spec name (agents/kernels/specs.OPS)")
    family: str = Field(description="the profile family the op serves (what the routing names)")
    share: float = Field(
        description="fraction of op time in the kernels the op replaces (a fused op's include another family's)"
    )
    timed_calls: int = Field(description="launches with recorded shapes that were timed")
    bytes_moved: int = Field(description="fewest bytes those calls must move")
    served_us: float = Field(description="device time of those calls")
    achieved_GBps: float | None = None
    ceiling_GBps: float | None = Field(None, description="best achieved by any editable op in this trace")
    headroom: float | None = Field(None, description="ceiling / achieved, >= 1")
    gain: float | None = Field(None, description="share * (1 - 1/headroom): op time a kernel at the ceiling saves")

    def line(self) -> str:
        if self.gain is None or self.achieved_GBps is None or self.headroom is None:
            return f"{self.op}: {self.share:.2%} of op time, no timed launch with shapes"
        return (
            f"{self.op}: {self.share:.2%} of op time at {self.achieved_GBps:.0f} GB/s over {self.timed_calls} launches, "
            f"headroom {self.headroom:.2f}x to {self.ceiling_GBps:.0f} GB/s: gain {self.gain:.2%}"
        )


def _tokens(dims: Any) -> int | None:
    """The token count of a launch: the first dim of its first tensor input (vLLM's [tokens, ...])."""
    for d in dims if isinstance(dims, list) else []:
        if isinstance(d, list) and d:
            return d[0] if isinstance(d[0], int) and d[0] > 0 else None
    return None


def _dtype(types: Any) -> str | None:
    """The launch's first float dtype, in the harness's names."""
    names = (dtype_name(str(t)) for t in types) if isinstance(types, list) else iter(())
    return next((n for n in names if n in FLOATS), None)


def _serves(op: str, family: str, fam: str, name: str, also: Any) -> bool:
    """Whether a kernel booked as ``name`` (family ``fam``) is one the op replaces."""
    if also is not None and also.search(name):
        return True
    if fam != family:
        return False
    if op == "fused_add_rmsnorm":
        return "fused_add" in name
    if op == "rmsnorm":
        return "fused_add" not in name
    return True


def readings_for(events: list[dict[str, Any]], model_config: Path | None) -> tuple[list[OpReading], str]:
    """Share x headroom of a device trace's events at the served model's own shapes (the run's copy
    of its config.json, as the harness sizes them: specs' "hf:" profile), and why there are none
    when there are none."""
    from geak.agents.kernels.specs import HF_PREFIX

    if model_config is None or not model_config.is_file():
        return [], "the run holds no copy of the model's config.json to size its ops (a hub model name)"
    try:
        got = readings(events, f"{HF_PREFIX}{model_config}")
    except ValueError as e:
        return [], str(e)
    return got, "" if got else "the trace times no device kernels (a CPU trace times ops, not kernels)"


def readings(events: list[dict[str, Any]], profile: str) -> list[OpReading]:
    """Share x headroom for every op the template library knows, from a device trace's events,
    the ops sized by the model ``profile`` (specs.profile_named); [] for a trace with no device
    kernels (a CPU trace times ops, not kernels)."""
    from geak.agents.kernels.specs import FAMILIES, OPS, bytes_moved, served_shape, spec_for

    xs = [e for e in events if e.get("ph") == "X" and isinstance(e.get("dur"), (int, float))]
    kernels = [e for e in xs if str(e.get("cat", "")).lower() in DEVICE_CATS]
    if not kernels:
        return []
    launches = launch_ops(xs)
    booked = [(e, name, op_family(name)) for e in kernels for name in (device_name(e, launches),)]
    total = sum(float(e["dur"]) for e in kernels)
    out: list[OpReading] = []
    for op in OPS:
        family, also = FAMILIES[op], FUSED_ALSO.get(op)
        spec = spec_for(op, profile)
        calls, nbytes, us, mine = 0, 0, 0.0, 0.0
        for e, name, fam in booked:
            if not _serves(op, family, fam, name, also):
                continue
            mine += float(e["dur"])
            dims, types = launches.shape_of(e)
            t, dt = _tokens(dims), _dtype(types)
            if t is None or dt is None:
                continue  # replayed from a CUDA graph, or a launch that recorded no shapes
            us += float(e["dur"])
            calls += 1
            if fam == family:  # a fused op's bytes are counted once, at its own family's calls
                nbytes += bytes_moved(spec, served_shape(op, t, spec.params), dt)
        share = mine / total if total else 0.0
        if not share:
            continue
        gbps = nbytes / us / 1e3 if us and nbytes else None
        out.append(
            OpReading(
                op=op,
                family=family,
                share=share,
                timed_calls=calls,
                bytes_moved=nbytes,
                served_us=us,
                achieved_GBps=gbps,
            )
        )
    ceiling = max((r.achieved_GBps for r in out if r.achieved_GBps), default=None)
    for r in out:
        if ceiling and r.achieved_GBps:
            r.ceiling_GBps = ceiling
            r.headroom = max(ceiling / r.achieved_GBps, 1.0)
            r.gain = r.share * (1.0 - 1.0 / r.headroom)
    return sorted(out, key=lambda r: -(r.gain or 0.0))
