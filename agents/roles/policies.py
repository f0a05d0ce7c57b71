"""The ``none`` LLM mode: deterministic built-in policies per producer role.

They return the same pydantic models an LLM must return (agents/roles/answers.py), computed
honestly from the measured legs, so ``geak run`` is useful with no API key and its
decisions are reproducible. They are also the yardstick the LLM roles are compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping

from geak.auditor import stats

from .answers import (
    BundleClaim,
    ClaimIn,
    ConfigProposal,
    IntegrationClaim,
    DecompositionItem,
    PlanItem,
    StrategyPlan,
    declared_for,
    knob,
)

# Config items per engine and device class, most promising first. Values are absolute
# settings; an item whose value equals the current config is dropped.
CONFIG_PLANS: dict[str, list[tuple[str, list[Any], str]]] = {
    "cpu": [
        ("enforce_eager", [True], "torch.compile on CPU buys little for a tiny model and costs warm-up; measure both"),
        ("max_num_batched_tokens", [512], "smaller scheduler steps interleave prefill and decode more finely"),
        (
            "max_num_seqs",
            [16],
            "a decode batch below the client's concurrency: expected slower, the honest negative control",
        ),
        ("chunked_prefill", [False], "whole prompts per step: fewer scheduler iterations for short prompts"),
    ],
    # the levers GPU users tune, in the order the built-in strategist tries them (issue 33)
    "gpu": [
        (
            "kv_cache_dtype",
            ["fp8"],
            "a quality lever: half the KV bytes per token; the auditor withholds it without real "
            "weights and an accuracy file",
        ),
        (
            "max_num_batched_tokens",
            [16384],
            "larger prefill steps at high concurrency (vLLM's throughput mode doubles it)",
        ),
        ("enforce_eager", [True], "control: CUDA graphs should win; a loss here says the capture sizes are wrong"),
        ("max_num_seqs", [512], "a larger decode batch than the offered concurrency needs: expected flat"),
        ("max_cudagraph_capture_size", [512], "graphs up to the largest decode batch the client can offer"),
        ("async_scheduling", [False], "control: vLLM schedules step n+1 while step n runs by default"),
        ("chunked_prefill", [False], "whole prompts per step"),
        ("memory_fraction", [0.95], "more KV memory: an orthogonal lever (more hardware, not faster code)"),
    ],
}


def strategist(
    *, device: str, current_config: dict[str, Any], max_candidates: int, concurrency: int | None = None
) -> StrategyPlan:
    kind = "cpu" if device == "cpu" or device.startswith("cpu:") else "gpu"  # a core set is a CPU box too
    items: list[PlanItem] = []
    rows = list(CONFIG_PLANS[kind])
    cap = current_config.get("max_num_seqs")
    if cap is not None and concurrency is not None and cap < concurrency:
        # the configured decode batch is below what the client offers: requests queue
        rows.insert(
            0, ("max_num_seqs", [concurrency], f"max_num_seqs {cap} is below the offered concurrency {concurrency}")
        )
    for name, values, why in rows:
        if any(it.knob == name for it in items):
            continue
        vals = [v for v in values if current_config.get(name) != v]
        if vals:
            items.append(
                PlanItem(
                    id=f"s{len(items) + 1}",
                    track="config",
                    knob=name,
                    values=vals,
                    lever_class=knob(name).lever_class,
                    why=why,
                )
            )
    # bound the number of candidates, not items: an item with two values is two legs
    out, n = [], 0
    for it in items:
        take = it.values[: max(0, max_candidates - n)]
        if take:
            out.append(it.model_copy(update={"values": take}))
            n += len(take)
    return StrategyPlan(
        plan=out,
        budget_split={"config_legs": n},
        stop_when=["every planned candidate screened"],
        notes="built-in policy (--llm none)",
    )


def honest_claim(ref: list[float], cand: list[float], lever_class: str | None) -> ClaimIn:
    r, c = stats.median(ref), stats.median(cand)
    d = stats.delta_pct(r, c)
    return ClaimIn(
        reference_value=None if r is None else round(r, 3),
        candidate_value=None if c is None else round(c, 3),
        delta_pct=None if d is None else round(d, 2),
        non_overlap=stats.non_overlap(ref, cand) if ref and cand else None,
        lever_class=lever_class,
    )


LATENCY = ("ttft_ms", "tpot_ms", "e2e_ms")
PERCENTILES = (50.0, 99.0)
REGRESSION_PCT = 5.0  # what the card asks a producer to declare; the auditor's tolerance is its own


def regressions(ref: Callable[[str], list[float]], cand: Callable[[str], list[float]]) -> list[str]:
    """Latency percentiles that got worse, named as the auditor names them (p50_tpot_ms...).
    A producer states its trade-offs; hiding one behind a throughput headline is P7."""
    out = []
    for metric in LATENCY:
        r, c = ref(metric), cand(metric)
        if not r or not c:
            continue
        for q in PERCENTILES:
            pr, pc = stats.percentile(r, q), stats.percentile(c, q)
            if pr and pc is not None and (pc - pr) / pr * 100 > REGRESSION_PCT:
                out.append(f"p{q:g}_{metric}")
    return out


def config_tuner(
    *,
    gate_id: str,
    knob_name: str,
    candidate_config: dict[str, Any],
    reference_legs: list[str],
    candidate_legs: list[str],
    values: Callable[[list[str]], list[float]],
    feedback: Mapping[str, Any] | None,
    latencies: Callable[[list[str], str], list[float]] | None = None,
) -> ConfigProposal:
    """Submit when the measured median improved, withdraw otherwise; on a re-measure request
    from the auditor ask for one; any other finding cannot be fixed by this policy (its claims
    are already computed from raw), so it withdraws rather than resubmit the same thing."""
    k = knob(knob_name)
    ref, cand = values(reference_legs), values(candidate_legs)
    claim = honest_claim(ref, cand, k.lever_class)
    regs = (
        regressions(lambda m: latencies(reference_legs, m), lambda m: latencies(candidate_legs, m)) if latencies else []
    )
    base = dict(
        gate_id=gate_id,
        knob=knob_name,
        candidate_config=candidate_config,
        declared_knobs=declared_for(knob_name),
        declared_levers={knob_name: k.lever_class},
        reference_legs=reference_legs,
        candidate_legs=candidate_legs,
        claim=claim,
        declared_regressions=regs,
    )
    if feedback:
        actions = set(feedback.get("actions") or [])
        fixable = {"remeasure", "pass", "flag", "downgrade_headline"}
        if "remeasure" in actions and actions <= fixable:
            return ConfigProposal(**base, remeasure=True)
        if feedback.get("verdict") in ("FAIL", "FLAG"):
            # an eject (a confound, a crash, a wrong answer) is not cured by measuring again
            return ConfigProposal(**base, withdraw=True)
    if claim.delta_pct is None or claim.delta_pct <= 0:
        return ConfigProposal(**base, withdraw=True)
    return ConfigProposal(**base)


# what a packaged plugin changes in a leg's launch: both are kernel levers (auditor/checks/config_diff.py).
# Bare names: they match the launch env (env.X) and the engine's own view of it (vLLM: vllm_env.X).
PLUGIN_KNOBS = ("PYTHONPATH", "VLLM_PLUGINS")


@dataclass(frozen=True)
class KernelUnderTest:
    """The kernel an integration submits: its gate, the op, the candidate (module:function) and
    the line its plugin logs when it is engaged."""

    gate_id: str
    op: str
    candidate: str
    marker: str


def integrator(
    k: KernelUnderTest,
    *,
    reference_legs: list[str],
    candidate_legs: list[str],
    candidate_ok: bool,
    isolated_speedup: float | None,
    values: Callable[[list[str]], list[float]],
    feedback: Mapping[str, Any] | None,
    latencies: Callable[[list[str], str], list[float]] | None = None,
) -> IntegrationClaim:
    """Submit what the e2e legs measured, whatever it says: a slower or ejected candidate is
    submitted as a rejection (``withdraw``) so the gate records why, never dropped unseen. The
    isolated speedup rides along as context; the headline is the e2e number (P8)."""
    ref, cand = values(reference_legs), values(candidate_legs)
    claim = honest_claim(ref, cand, "kernel").model_copy(update={"isolated_speedup": isolated_speedup})
    regs = (
        regressions(lambda m: latencies(reference_legs, m), lambda m: latencies(candidate_legs, m))
        if latencies and cand
        else []
    )
    base = dict(
        gate_id=k.gate_id,
        op=k.op,
        candidate=k.candidate,
        declared_knobs=list(PLUGIN_KNOBS),
        declared_levers={n: "kernel" for n in PLUGIN_KNOBS},
        engagement_marker=k.marker,
        reference_legs=reference_legs,
        candidate_legs=candidate_legs,
        claim=claim,
        declared_regressions=regs,
    )
    actions = set((feedback or {}).get("actions") or [])
    if candidate_ok and "remeasure" in actions and "eject" not in actions:
        return IntegrationClaim(**base, remeasure=True)
    loss = claim.delta_pct is None or claim.delta_pct <= 0
    return IntegrationClaim(
        **base, withdraw=not candidate_ok or loss or bool(feedback and feedback.get("verdict") == "FAIL")
    )


def finalizer(
    *,
    accepted: list[dict[str, Any]],
    reference_legs: list[str],
    candidate_legs: list[str],
    audit_legs: list[str],
    order: str,
    values: Callable[[list[str]], list[float]],
    feedback: Mapping[str, Any] | None,
    latencies: Callable[[list[str], str], list[float]] | None = None,
) -> BundleClaim:
    ref, cand = values(reference_legs), values(candidate_legs)
    regs = (
        regressions(lambda m: latencies(reference_legs, m), lambda m: latencies(candidate_legs, m)) if latencies else []
    )
    decomposition = []
    for d in accepted:
        dr, dc = values(d["reference_legs"]), values(d["candidate_legs"])
        c = honest_claim(dr, dc, d.get("lever_class"))
        decomposition.append(
            DecompositionItem(decision_id=d["decision_id"], lever_class=d.get("lever_class"), delta_pct=c.delta_pct)
        )
    remeasure = bool(feedback and "remeasure" in (feedback.get("actions") or []))
    return BundleClaim(
        accepted_decisions=[d["decision_id"] for d in accepted],
        reference_legs=reference_legs,
        candidate_legs=candidate_legs,
        audit_legs=audit_legs,
        order=order,
        # every leg is a fresh server: nothing cached survives between legs
        prefix_cache_flushed=True,
        claim=honest_claim(ref, cand, None),
        decomposition=decomposition,
        launch_script="bundle/launch.sh",
        remeasure=remeasure,
        declared_regressions=regs,
    )
