"""P10: a kernel change's one-token parity probe, re-derived from both legs' recorded top-k
logprobs rather than taken from parity_probe.json."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import stats
from ..evidence.layout import PARITY_PROBE
from ..evidence.loader import LegData
from ..evidence.models import EvidencePointer, Finding
from .patch import is_kernel_decision
from .registry import GateContext, leg_ptr, rule


# ---------------------------------------------------------------- P10


@rule("P10", ["patch"], "numerics drift", "fail", "eject")
def p10_numerics(ctx: GateContext) -> list[Finding]:
    if not is_kernel_decision(ctx):
        return ctx.na("P10", "not a kernel change: no new numeric path to probe")
    out: list[Finding] = []
    for cand in ctx.candidate:
        pp = cand.parity_probe
        if pp is None:
            out += ctx.missing(
                "P10",
                f"leg {cand.leg_id} has no one-token parity probe (fail closed)",
                evidence=[leg_ptr(cand, PARITY_PROBE)],
            )
            continue
        rec: dict[str, Any] = {
            "cosine": pp.cosine,
            "argmax_equal": pp.argmax_equal,
            "min_cosine": ctx.policy.min_cosine,
        }
        if pp.reference_leg is not None:
            # the probe names its raw sides: re-derive it rather than trust the record
            again = _rederive_probe(ctx.run.leg(pp.reference_leg), cand)
            if isinstance(again, str):
                out += ctx.missing(
                    "P10",
                    f"leg {cand.leg_id}: the parity probe cannot be re-derived: {again}",
                    evidence=[EvidencePointer(file=cand.topk_file)],
                )
                continue
            cos, arg_eq = again
            rec.update({"recomputed_cosine": cos, "recomputed_argmax_equal": arg_eq, "reference_leg": pp.reference_leg})
            cos_differs = pp.cosine is not None and np.isfinite(cos) and not stats.rel_close(pp.cosine, cos, 1e-6, 1e-9)
            if cos_differs or pp.argmax_equal != arg_eq:
                out += ctx.bad(
                    "P10",
                    f"leg {cand.leg_id}: parity_probe.json says cosine {pp.cosine} argmax_equal={pp.argmax_equal}, "
                    f"the recorded top-k logprobs re-derive {cos:.6f} / {arg_eq}",
                    evidence=[leg_ptr(cand, PARITY_PROBE), EvidencePointer(file=cand.topk_file)],
                    claimed={"cosine": pp.cosine, "argmax_equal": pp.argmax_equal},
                    recomputed=rec,
                )
                continue
            pp = pp.model_copy(update={"cosine": cos if np.isfinite(cos) else None, "argmax_equal": arg_eq})
        if (
            pp.cosine is None
            or not np.isfinite(pp.cosine)
            or pp.cosine < ctx.policy.min_cosine
            or pp.argmax_equal is not True
        ):
            out += ctx.bad(
                "P10",
                f"leg {cand.leg_id}: parity probe cosine {pp.cosine} (need >= {ctx.policy.min_cosine}) argmax_equal={pp.argmax_equal}: eject",
                evidence=[leg_ptr(cand, PARITY_PROBE)],
                recomputed=rec,
            )
        else:
            how = f"re-derived from {pp.reference_leg}'s and its own top-k" if pp.reference_leg else "as recorded"
            out += ctx.ok("P10", f"leg {cand.leg_id}: cosine {pp.cosine:.4f}, argmax equal ({how})", recomputed=rec)
    return out


def _rederive_probe(ref: LegData, cand: LegData) -> tuple[float, bool] | str:
    """(worst cosine, argmax equal on every prompt) from both legs' first_token_topk.jsonl, or why not."""
    for leg in (ref, cand):
        if leg.topk_problems:
            return f"{leg.topk_file}: {leg.topk_problems[0]}"
        if not leg.topk:
            return f"{leg.topk_file} is missing or empty"
    ref_rows = {r.prompt_id: r.top_logprobs for _, r in ref.topk}
    cand_rows = {r.prompt_id: r.top_logprobs for _, r in cand.topk}
    if set(ref_rows) != set(cand_rows):
        return f"the two legs probed different prompts ({sorted(set(ref_rows) ^ set(cand_rows))[:5]})"
    worst, arg_eq = stats.topk_agreement((r, cand_rows[pid]) for pid, r in ref_rows.items())
    assert worst is not None and arg_eq is not None  # both legs hold rows (checked above)
    return worst, arg_eq
