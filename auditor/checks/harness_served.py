"""H11 (scope harness): is the isolated baseline the path the live engine actually serves?

Split from harness.py because it is the one harness rule that reads beyond the op's record: it
reads the engine's resolved config from the run's legs to learn whether the server compiles the op
(Inductor) or calls a custom/eager one, and holds the harness's named baseline to that.
"""

from __future__ import annotations

from ..evidence.models import EvidencePointer, Finding
from .harness import _guard
from .registry import GateContext, rule

# how vLLM runs these ops (vllm/platforms/cuda.py get_default_ir_op_priority; platforms/cpu.py):
# under Inductor the forward_native formula is compiled; without codegen a GPU server calls
# vLLM's own CUDA op and a CPU one runs forward_native eagerly. The harness names its baseline
# by these prefixes (agents/kernels/baselines.py; the auditor imports nothing from agents/).
COMPILED_PREFIX = "torch.compile("
VLLM_OP_PREFIX = "vllm._C:"


def baseline_kind(backend: str | None) -> str | None:
    """compiled | vllm_custom_op | eager (forward_native run as is) | other (an implementation
    no vLLM server runs for the op), read from the backend's name; None when unnamed."""
    if not backend:
        return None
    b = backend.strip()
    if b.startswith(COMPILED_PREFIX):
        return "compiled"
    if b.startswith(VLLM_OP_PREFIX):
        return "vllm_custom_op"
    if "baselines:" in b or "forward_native" in b or "eager" in b:
        return "eager"
    return "other"


def served_kind(mode: str, device: str) -> str:
    return "compiled" if mode == "compiled" else ("vllm_custom_op" if device.startswith("cuda") else "eager")


def engine_mode(ctx: GateContext) -> tuple[str | None, str]:
    """(compiled | eager, the file that says so) from the engine's own resolved config of the
    run's baseline legs (else any leg): enforce_eager, or compilation mode 0, is eager."""
    legs = [ctx.run.leg(x) for x in ctx.run.leg_ids()]
    legs.sort(key=lambda ld: ld.launch is None or ld.launch.role != "baseline")
    for ld in legs:
        cfg, src = ld.resolved()
        if not cfg:
            continue
        # vLLM >= 0.11 says compilation_config.mode; older releases said level (0 = none)
        eager = cfg.get("model_config.enforce_eager")
        mode = cfg.get("compilation_config.mode", cfg.get("compilation_config.level"))
        if eager is None and mode is None:
            continue
        return ("eager" if eager is True or mode in (0, "0", "NONE") else "compiled"), src
    return None, ""


@rule("H11", ["harness"], "baseline is not what the engine serves", "flag", "downgrade_headline")
def h11_served_baseline(ctx: GateContext) -> list[Finding]:
    rec, errs, p = _guard(ctx, "H11")
    if rec is None:
        return errs
    kind = baseline_kind(rec.baseline_backend)
    if kind is None:
        return ctx.missing("H11", "baseline backend not recorded: what the speedup is over is unknown", evidence=[p])
    mode, src = engine_mode(ctx)
    if mode is None and rec.serving_mode in ("compiled", "eager"):
        mode, src = (
            rec.serving_mode,
            f"{p.file} field 'serving_mode' (the harness's claim: the run has no engine config)",
        )
    if mode is None:
        return ctx.unchecked(
            "H11",
            "no leg holds the engine's config and the record names no serving mode: what the "
            "engine serves for this op is unknown",
            evidence=[p],
        )
    device = (rec.timing.device if rec.timing is not None else "") or ""
    want = served_kind(mode, device)
    ptr = EvidencePointer(file=p.file, field="baseline_backend")
    if kind != want:
        note = f" ({rec.baseline_note})" if rec.baseline_note else ""
        return ctx.bad(
            "H11",
            f"baseline {rec.baseline_backend!r} is {kind}, but a {mode} server on {device.split(' ')[0] or 'this device'} "
            f"runs {want} ({src}){note}: the isolated speedup is over a path the live server never runs",
            evidence=[ptr, EvidencePointer(file=src.split(" ")[0])] if src else [ptr],
        )
    return ctx.ok("H11", f"baseline {rec.baseline_backend} is what a {mode} server runs ({src})", evidence=[ptr])
