"""Did the change leave what is served alone? P9 (greedy parity, the accuracy probe) and the
accuracy re-scoring F4 uses; the dummy-weights policy.

What a model with dummy weights (``--load-format dummy``: random weights of the model's shape)
can prove, read from the engine's own config, never from a producer's word:
- its accuracy proves nothing: random weights answer no question, so 0% -> 0% "holds" for any
  change. An accuracy probe on dummy weights is never evidence here (P9, F4).
- token-level parity on the same seed is evidence that a lever left the math alone: random
  weights give near-flat logits, so any change in the numerics flips greedy tokens. A lever
  that should not change the math (scheduling, batching, graphs, memory) banks on parity.
- a lever that changes the numerics by design (kv-cache dtype, quantization, dtype,
  speculative decoding, a kernel) cannot bank on dummy weights at all: its parity would only
  show that the numerics moved, and whether that costs quality needs real weights and an
  accuracy file. It is withheld as unverifiable, and the finding says why.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from ..evidence.loader import LegData
from ..evidence.models import EvidencePointer, Finding
from ..scoring import count_correct
from .coherence import looks_coherent
from .config_diff import key_matches
from .registry import GateContext, leg_ptr, ptr, rule
from ..evidence.layout import ACCURACY, ACCURACY_ITEMS, LAUNCH, OUTPUTS, input_path

# Levers that change the numerics served by design (a closed list, matched against geak's knob
# names and the engines' resolved keys). Everything else should leave the math alone, and on
# dummy weights must show it by parity.
CHANGES_MATH = re.compile(
    r"(cache_dtype|kv_cache_dtype|quantiz|(^|\.)dtype$|torch_dtype|specul|spec_decode|draft|"
    r"attention_backend|attn_backend|custom_ops|plugin|kernel|triton|overlay|moe_backend|sampling_backend|"
    r"VLLM_PLUGINS|PYTHONPATH|load_format|(^|\.)model$|model_weights|tokenizer$)",
    re.IGNORECASE,
)
DUMMY = "dummy"

Weights = Literal["dummy", "checkpoint"]


def changes_math(key: str) -> bool:
    return bool(CHANGES_MATH.search(key))


def weights(leg: LegData) -> tuple[Weights | None, EvidencePointer | None]:
    """What the leg's server loaded, from the engine's resolved config (server_info.json, or the
    tool's rows); else from the command the server ran. None: nothing says."""
    resolved, src = leg.resolved()
    for k, v in (resolved or {}).items():
        if key_matches("load_format", k) and v is not None:
            return ("dummy" if str(v).strip().lower() == DUMMY else "checkpoint"), EvidencePointer(file=src, field=k)
    argv = [str(a) for a in (leg.launch.command if leg.launch and leg.launch.command else [])]
    for i, a in enumerate(argv):
        val = (
            a.split("=", 1)[1]
            if a.startswith("--load-format=")
            else argv[i + 1]
            if a == "--load-format" and i + 1 < len(argv)
            else None
        )
        if val is not None:
            return ("dummy" if val.strip().lower() == DUMMY else "checkpoint"), leg_ptr(leg, LAUNCH, field="command")
    return None, None


def rescored(leg: LegData) -> tuple[int, int] | str:
    """(correct, n) re-scored from the leg's accuracy_items.jsonl with accuracy.json's scoring, or
    why it cannot be. A count that differs from accuracy.json's is said by the caller."""
    acc = leg.accuracy
    if acc is None:
        return "no accuracy.json"
    if leg.accuracy_problems:
        return f"unreadable: {leg.accuracy_problems[0]}"
    if not leg.accuracy_items:
        return f"{leg.dir}/{ACCURACY_ITEMS} is missing: accuracy.json's count cannot be re-derived"
    pairs = [(it.output, it.expected) for _, it in leg.accuracy_items]
    return count_correct(pairs, acc.scoring), len(pairs)


def held_to_key(ctx: GateContext, rule_id: str, leg: LegData) -> list[Finding]:
    """The leg's answered questions against the run's own question file (manifest.json
    inputs.accuracy): every question answered once, each item's expected answer the file's. The
    items are the leg runner's copy; a count scored against a changed key is no count."""
    key, prob = ctx.run.answer_key
    if prob is not None:
        return ctx.bad(
            rule_id, f"leg {leg.leg_id}: the accuracy probe's answer key does not read: {prob}", evidence=[ptr(prob)]
        )
    if key is None or not leg.accuracy_items:
        return []  # a run without its own copy (older runs, imports): the items carry the expected answers
    out: list[Finding] = []
    seen: dict[str, int] = {}
    for line, it in leg.accuracy_items:
        at = leg_ptr(leg, ACCURACY_ITEMS, line=line)
        qid = it.prompt_id or ""
        if qid not in key:
            out += ctx.bad(
                rule_id,
                f"leg {leg.leg_id}: {ACCURACY_ITEMS} line {line} field prompt_id {qid!r} is not a question of "
                f"{input_path('accuracy')}",
                evidence=[at.model_copy(update={"field": "prompt_id"})],
            )
        elif qid in seen:
            out += ctx.bad(
                rule_id,
                f"leg {leg.leg_id}: {ACCURACY_ITEMS} line {line} answers {qid!r} again (first at line {seen[qid]})",
                evidence=[at.model_copy(update={"field": "prompt_id"})],
            )
        elif (it.expected or None) != key[qid]:
            out += ctx.bad(
                rule_id,
                f"leg {leg.leg_id}: {ACCURACY_ITEMS} line {line} field expected {it.expected!r} is not "
                f"{input_path('accuracy')}'s {key[qid]!r} for {qid!r}",
                evidence=[at.model_copy(update={"field": "expected"})],
                claimed={"expected": it.expected},
                recomputed={"expected": key[qid]},
            )
        seen.setdefault(qid, line)
    unanswered = [q for q in key if q not in seen]
    if unanswered:
        out += ctx.bad(
            rule_id,
            f"leg {leg.leg_id}: answered {len(seen)} of the {len(key)} questions of {input_path('accuracy')}; "
            f"missing {', '.join(unanswered[:5])}{' ...' if len(unanswered) > 5 else ''}",
            evidence=[leg_ptr(leg, ACCURACY_ITEMS)],
            recomputed={"answered": len(seen), "questions": len(key)},
        )
    return out


def accuracy_of(ctx: GateContext, rule_id: str, leg: LegData) -> tuple[float | None, list[Finding]]:
    """The leg's accuracy as the auditor scores it, and the findings that stop it being used
    (unreadable, missing items, a key the items do not match, a count that does not re-derive)."""
    if leg.accuracy is not None and (bad := held_to_key(ctx, rule_id, leg)):
        return None, bad
    got = rescored(leg)
    if isinstance(got, str):
        ev = [ptr(leg.accuracy_problems[0])] if leg.accuracy_problems else [leg_ptr(leg, ACCURACY_ITEMS)]
        return None, ctx.missing(rule_id, f"leg {leg.leg_id}: accuracy {got}", evidence=ev)
    correct, n = got
    acc = leg.accuracy
    assert acc is not None
    if (acc.correct, acc.n) != (correct, n):
        return None, ctx.bad(
            rule_id,
            f"leg {leg.leg_id}: accuracy.json says {acc.correct}/{acc.n}, its {ACCURACY_ITEMS} re-scores "
            f"({acc.scoring}) to {correct}/{n}",
            evidence=[leg_ptr(leg, ACCURACY, field="correct")],
            claimed={"correct": acc.correct, "n": acc.n},
            recomputed={"correct": correct, "n": n},
        )
    return (correct / n if n else None), []


def unreadable_accuracy(ctx: GateContext, rule_id: str, legs: list[LegData]) -> list[Finding]:
    """An accuracy.json that exists but does not read (an unknown scoring, a count below 0) is a
    FAIL naming file and field, never "no probe was run"."""
    out: list[Finding] = []
    for leg in legs:
        if leg.accuracy is None and leg.accuracy_problems:
            pr = leg.accuracy_problems[0]
            out += ctx.bad(rule_id, f"leg {leg.leg_id}: accuracy.json does not read: {pr}", evidence=[ptr(pr)])
    return out


def _first_pass(leg: LegData) -> dict[str, tuple[int, Any]]:
    return {o.prompt_id: (line, o) for line, o in leg.outputs if o.rerun == 0}


@rule("P9", ["patch", "bundle"], "correctness shown by determinism only", "fail", "eject")
def p9_correctness(ctx: GateContext) -> list[Finding]:
    refs, cands = ctx.reference, ctx.candidate
    if not refs or not cands:
        return ctx.unchecked("P9", "needs a reference and a candidate leg")
    ref, cand = refs[0], cands[-1]
    for leg in (ref, cand):
        if leg.outputs_problems:
            pr = leg.outputs_problems[0]
            return ctx.bad("P9", f"leg {leg.leg_id}: unreadable outputs: {pr}", evidence=[ptr(pr)])
    dummy = [(leg, w) for leg in (ref, cand) for w in [weights(leg)] if w[0] == "dummy"]
    if dummy:
        return _dummy_verdict(ctx, ref, cand, dummy)
    ro, co = _first_pass(ref), _first_pass(cand)
    if not ro or not co:
        return ctx.missing(
            "P9",
            f"greedy outputs missing for leg {ref.leg_id if not ro else cand.leg_id}",
            evidence=[leg_ptr(ref if not ro else cand, OUTPUTS)],
        )
    common = sorted(set(ro) & set(co))
    exact = sum(ro[p][1].output_text == co[p][1].output_text for p in common)
    coherent, coherence_basis = _coherence(ctx, ro)
    rec: dict[str, Any] = {
        "byte_exact": exact,
        "compared": len(common),
        "coherent_reference": coherent,
        "coherence_basis": coherence_basis,
    }
    claimed = {}
    if ctx.decision.claim.parity_byte_exact is not None:
        claimed = {"byte_exact": ctx.decision.claim.parity_byte_exact, "total": ctx.decision.claim.parity_total}
    if coherent:
        verdict = _coherent_verdict(ctx, ref, cand, ro, rec, claimed)
        if verdict is not None:
            return verdict
    # incoherent (or non-deterministic) reference: only an accuracy probe can certify
    acc = _accuracy_verdict(ctx, ref, cand, rec)
    if acc is not None:
        return acc
    return ctx.bad(
        "P9",
        f"reference is not coherent ({coherence_basis}); {exact}/{len(common)} byte-exact parity on it proves nothing "
        "and no accuracy probe was run: unverifiable",
        evidence=[leg_ptr(ref, OUTPUTS)],
        recomputed=rec,
        claimed=claimed,
    )


def _coherence(ctx: GateContext, ro: dict[str, tuple[int, Any]]) -> tuple[bool, str]:
    """Whether the reference's greedy outputs make sense (exact-match on known answers where the
    prompts carry them, else a text heuristic), and on what basis it was judged."""
    expected = {p: o.expected for p, (_, o) in ro.items() if o.expected is not None}
    if expected:
        ref_acc = sum(ro[p][1].output_text.strip() == e.strip() for p, e in expected.items()) / len(expected)
        return ref_acc >= ctx.policy.coherence_min_accuracy, f"reference exact-match {ref_acc:.0%} on known answers"
    coherent, score = looks_coherent([o.output_text for _, o in ro.values()])
    return coherent, f"text heuristic score {score:.2f}"


def _coherent_verdict(
    ctx: GateContext,
    ref: LegData,
    cand: LegData,
    ro: dict[str, tuple[int, Any]],
    rec: dict[str, Any],
    claimed: dict[str, Any],
) -> list[Finding] | None:
    """P9 on a coherent reference: byte parity counts once the reference is shown to reproduce.
    None: the reference is not deterministic, so parity is meaningless and only the accuracy
    probe can certify (the caller's fallback)."""
    exact, compared, coherence_basis = rec["byte_exact"], rec["compared"], rec["coherence_basis"]
    reruns = [(line, o) for line, o in ref.outputs if o.rerun > 0]
    frac = exact / compared if compared else 0.0
    if not reruns:
        if compared and frac >= ctx.policy.min_byte_parity and ref.leg_id != cand.leg_id:
            # the rerun exists to show the outputs reproduce; two server lifetimes (the
            # reference's and the candidate's) agreeing on every byte show it for these prompts
            return ctx.ok(
                "P9",
                f"coherent reference ({coherence_basis}); {exact}/{compared} byte-exact across two server "
                "lifetimes, which shows the outputs reproduce (no determinism rerun was recorded)",
                recomputed=rec,
                claimed=claimed,
            )
        return _accuracy_verdict(ctx, ref, cand, rec) or ctx.bad(
            "P9",
            f"{exact}/{compared} greedy outputs byte-identical to the coherent reference and no determinism rerun: the "
            "differences cannot be told from the reference's own nondeterminism; record a rerun or run an accuracy probe",
            evidence=[leg_ptr(ref, OUTPUTS), leg_ptr(cand, OUTPUTS)],
            recomputed=rec,
            claimed=claimed,
        )
    nondet = [o.prompt_id for _, o in reruns if o.prompt_id in ro and o.output_text != ro[o.prompt_id][1].output_text]
    rec["reference_nondeterministic"] = nondet
    if not nondet and frac >= ctx.policy.min_byte_parity:
        return ctx.ok(
            "P9",
            f"coherent reference ({coherence_basis}); {exact}/{compared} byte-exact; reference deterministic",
            recomputed=rec,
            claimed=claimed,
        )
    if not nondet:
        return ctx.bad(
            "P9",
            f"only {exact}/{compared} greedy outputs byte-identical to the coherent reference",
            evidence=[leg_ptr(cand, OUTPUTS)],
            recomputed=rec,
            claimed=claimed,
        )
    return None  # a non-deterministic reference makes parity meaningless: only the accuracy probe can certify


def _dummy_verdict(
    ctx: GateContext, ref: LegData, cand: LegData, dummy: list[tuple[LegData, tuple[Any, Any]]]
) -> list[Finding]:
    """The dummy-weights policy (module docstring): parity on the same seed, or withheld."""
    from .patch import levers  # patch imports nothing from here; a module-level import would cycle

    on = ", ".join(sorted({leg.leg_id for leg, _ in dummy}))
    ev = [w[1] for _, w in dummy if w[1] is not None]
    lv = levers(ctx)
    math = sorted(k for k in lv if changes_math(k))
    rec: dict[str, Any] = {"weights": "dummy", "dummy_legs": on, "levers": lv, "changes_math": math}
    if math:
        return ctx.bad(
            "P9",
            f"dummy weights ({on}): {', '.join(math)} change(s) the numerics served by design; on random weights parity "
            "can only show that they moved and an accuracy probe scores nothing, so whether quality held is unverifiable: "
            "withheld. Measure it on real weights with an accuracy file (geak run --accuracy-file QA.jsonl)",
            evidence=ev + [ctx.decision_ptr],
            recomputed=rec,
        )
    ro, co = _first_pass(ref), _first_pass(cand)
    if not ro or not co:
        return ctx.missing(
            "P9",
            f"dummy weights ({on}): token-level parity is the only evidence a lever left the math alone, and leg "
            f"{ref.leg_id if not ro else cand.leg_id} has no greedy outputs",
            evidence=[leg_ptr(ref if not ro else cand, OUTPUTS)],
        )
    common = sorted(set(ro) & set(co))
    exact = sum(ro[p][1].output_text == co[p][1].output_text for p in common)
    nondet = [
        o.prompt_id
        for _, o in ref.outputs
        if o.rerun > 0 and o.prompt_id in ro and o.output_text != ro[o.prompt_id][1].output_text
    ]
    frac = exact / len(common) if common else 0.0
    rec.update({"token_identical": exact, "compared": len(common), "reference_nondeterministic": nondet})
    if nondet:
        return ctx.bad(
            "P9",
            f"dummy weights ({on}): the reference's own rerun changed {len(nondet)} greedy output(s) on the same seed, "
            "so parity cannot tell a lever's effect from the engine's nondeterminism: unverifiable",
            evidence=[leg_ptr(ref, OUTPUTS)],
            recomputed=rec,
        )
    if frac < ctx.policy.min_byte_parity or not common:
        return ctx.bad(
            "P9",
            f"dummy weights ({on}): {exact}/{len(common)} greedy outputs token-identical to the reference on the same seed: "
            "the lever moved the numerics, and on random weights that cannot be told from harm: unverifiable, withheld",
            evidence=[leg_ptr(cand, OUTPUTS)],
            recomputed=rec,
        )
    return ctx.ok(
        "P9",
        f"dummy weights ({on}): {exact}/{len(common)} greedy outputs token-identical to the reference on the same seed "
        f"({'reference deterministic' if any(o.rerun for _, o in ref.outputs) else 'across two server lifetimes'}): the lever "
        "left the math alone; accuracy on random weights is unverifiable and not used",
        recomputed=rec,
    )


def _accuracy_verdict(ctx: GateContext, ref: LegData, cand: LegData, rec: dict[str, Any]) -> list[Finding] | None:
    if bad := unreadable_accuracy(ctx, "P9", [ref, cand]):
        return bad
    if cand.accuracy is None:
        return None
    ca, bad = accuracy_of(ctx, "P9", cand)
    if bad:
        return bad
    ca = ca or 0.0
    rec["candidate_accuracy"] = ca
    if ref.accuracy is not None:
        ra, bad = accuracy_of(ctx, "P9", ref)
        if bad:
            return bad
        if ra is not None:
            rec["reference_accuracy"] = ra
            if (ra - ca) * 100 > ctx.policy.accuracy_tolerance_pct_points:
                return ctx.bad(
                    "P9",
                    f"accuracy probe dropped {ra:.1%} -> {ca:.1%}",
                    evidence=[leg_ptr(cand, ACCURACY)],
                    recomputed=rec,
                )
            return ctx.ok(
                "P9", f"accuracy probe holds ({ra:.1%} -> {ca:.1%})", recomputed={**rec, "scored_from": ACCURACY_ITEMS}
            )
    if ca >= ctx.policy.coherence_min_accuracy:
        return ctx.ok("P9", f"accuracy probe {ca:.1%} on the candidate (no reference probe)", recomputed=rec)
    return ctx.bad(
        "P9",
        f"accuracy probe {ca:.1%} on the candidate is not a pass",
        evidence=[leg_ptr(cand, ACCURACY)],
        recomputed=rec,
    )
