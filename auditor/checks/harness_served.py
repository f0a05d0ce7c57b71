"""H11, H12 (scope harness): is the isolated baseline the path the live engine actually serves,
and do its times at each step size match what the engine's own kernels took there?

Split from harness.py because it is the one harness rule that reads beyond the op's record: it
reads the engine's resolved config from the run's legs to learn whether the server compiles the op
(Inductor) or calls a custom/eager one, and holds the harness's named baseline to that.
"""

from __future__ import annotations

import math
from typing import TypeGuard

from .. import stats
from ..evidence.layout import profile_file
from ..evidence.models import EvidencePointer, Finding
from .engine_time import engine_call_ms
from .harness import _guard
from .profile import load_trace
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


def _positive(x: float | None) -> TypeGuard[float]:
    return x is not None and math.isfinite(x) and x > 0


def _profile_rounds(ctx: GateContext) -> list[str]:
    """Every round the run's profile decisions name: the harness decision names none (a decision
    naming a profile round is judged as a profile gate), and its producer cannot pick the yardstick."""
    return list(
        dict.fromkeys(d.profile_round for _, d in ctx.run.decisions if d.scope == "profile" and d.profile_round)
    )


def _engine_yardstick(ctx: GateContext, op: str) -> tuple[dict[int, float], str, list[Finding]]:
    """(step tokens -> the engine's ms per call of the op, the trace read, the finding that stops
    H12 when there is no usable yardstick)."""
    rounds = _profile_rounds(ctx)
    if not rounds:
        return {}, "", ctx.na("H12", "the run has no profile round: no engine yardstick for the isolated times")
    for rid in rounds:
        claim, _ = ctx.run.profile(rid)
        if claim is None:
            continue
        rel = profile_file(rid, claim.trace_file)
        ev = [EvidencePointer(file=rel)]
        try:
            engine = engine_call_ms(load_trace(ctx.run.store.read_bytes(rel)), op)
        except (OSError, ValueError) as e:
            return {}, rel, ctx.unchecked("H12", f"profile trace {rel} unreadable: {e}", evidence=ev)
        except (TypeError, KeyError, OverflowError) as e:
            return {}, rel, ctx.bad("H12", f"a trace event is malformed: {type(e).__name__}: {e}", evidence=ev)
        odd = sorted(t for t, ms in engine.items() if not _positive(ms))
        if odd:  # a NaN or negative duration would make every comparison after false: a silent pass
            msg = f"the trace's kernel durations at step sizes {odd} give no positive finite time"
            return {}, rel, ctx.bad("H12", msg, evidence=ev)
        if engine:
            return engine, rel, []
    return {}, "", ctx.na("H12", f"the profile trace shows no GPU-side engine steps with {op}'s kernels")


@rule("H12", ["harness"], "isolated times are not the engine's", "flag", "replace_headline_with_e2e")
def h12_engine_yardstick(ctx: GateContext) -> list[Finding]:
    """Hold the harness's times at each step size to what the op's kernels took in the live engine
    at that size (the run's profile trace, engine_time.py). A baseline timed well above the
    engine's own kernels (host launches, a cold cache, another formula) inflates the speedup;
    a candidate slower than the engine's kernels at a size loses there whatever the harness says."""
    rec, errs, p = _guard(ctx, "H12")
    if rec is None:
        return errs
    engine, src, why = _engine_yardstick(ctx, str(ctx.decision.op))
    if why:
        return why
    rows = []
    for i, st in enumerate(rec.timing.per_shape if rec.timing is not None else []):
        t = st.shape[0] if st.shape else None
        if t not in engine:
            continue
        b, c = stats.median(st.baseline_times_ms), stats.median(st.candidate_times_ms)
        if not _positive(b) or not _positive(c):
            return ctx.bad(
                "H12",
                f"timed shape {st.shape}: baseline and candidate medians {b} / {c} ms are not positive finite times",
                evidence=[EvidencePointer(file=p.file, field=f"timing.per_shape[{i}]")],
            )
        row = {"tokens": t, "engine_ms": engine[t], "baseline_ms": b, "candidate_ms": c, "row": i}
        gb, gc = stats.median(st.graph_baseline_times_ms), stats.median(st.graph_candidate_times_ms)
        if _positive(gb) and _positive(gc):  # the labelled second reading, shown when it is one
            row.update(graph_baseline_ms=gb, graph_candidate_ms=gc)
        rows.append(row)
    if not rows:
        return ctx.na("H12", f"no timed shape is a step size the engine ran ({sorted(engine)} tokens in {src})")
    slack = ctx.policy.engine_baseline_slack
    slow_base = [r for r in rows if r["baseline_ms"] > slack * r["engine_ms"]]
    losing = [r for r in rows if r["candidate_ms"] > r["engine_ms"]]
    ev = [EvidencePointer(file=p.file, field="timing.per_shape"), EvidencePointer(file=src)]
    rec_ = {"rows": rows, "slack": slack, "trace": src}

    def say(r: dict[str, float]) -> str:
        g = (
            f"; in a warm CUDA graph {r['graph_baseline_ms'] * 1e3:.1f} / {r['graph_candidate_ms'] * 1e3:.1f} us "
            f"({r['engine_ms'] / r['graph_candidate_ms']:.2f}x)"
            if "graph_candidate_ms" in r
            else ""
        )
        return (
            f"T={r['tokens']:g}: engine {r['engine_ms'] * 1e3:.1f} us, harness baseline {r['baseline_ms'] * 1e3:.1f} us, "
            f"candidate {r['candidate_ms'] * 1e3:.1f} us ({r['engine_ms'] / r['candidate_ms']:.2f}x the engine){g}"
        )

    if slow_base or losing:
        parts = []
        if slow_base:
            parts.append(
                f"the harness baseline times over {slack:g}x the engine's own kernels at {len(slow_base)} of "
                f"{len(rows)} step sizes, so its speedup is not the engine's"
            )
        if losing:
            parts.append(f"the candidate is slower than the engine's kernels at {len(losing)} of {len(rows)}")
        return ctx.bad("H12", "; ".join(parts) + ": " + "; ".join(say(r) for r in rows), evidence=ev, recomputed=rec_)
    return ctx.ok(
        "H12", "against the engine's own kernels: " + "; ".join(say(r) for r in rows), evidence=ev, recomputed=rec_
    )
