"""The StateGraph: wiring only. Nodes are the phase modules' functions, routers are pure
(routers.py), the run's context reaches nodes through LangGraph's ``context_schema``.

    setup -> baseline -> [audit_baseline] -> baseline_done -> profile -> [audit_profile] ->
    strategize -> screen -> config_measure -> config_submit -> [audit_config] ->
    config_bank | config_next -> ... -> kernel -> [audit_harness] -> kernel_measure ->
    kernel_submit -> [audit_kernel] -> kernel_bank | kernel_next -> finalize -> validate_leg ->
    bundle_submit -> [audit_bundle] -> bundle_done -> done

Bracketed nodes exist only with the auditor on; without it every router sends a producer's
submission straight to the bank, which is exactly what the graph decided before auditors.
Every node is idempotent under resume: legs already on disk are reused (agents/runners/legs.py),
decisions are keyed by id (ids.py).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from . import routers as R
from .context import RunContext
from .phases import baseline as B, config as C, kernel as K, profile as P, validate as V
from .state import RunState

Node = Callable[[RunState, RunContext], RunState]


def settings(rt: RunContext) -> R.RouteSettings:
    cfg = rt.phase("config_tune")
    return R.RouteSettings(
        use_auditor=rt.use_auditor,
        bounds=dict(rt.bounds),
        screening=cfg is not None and cfg.screen_reps is not None,
        llm=rt.llm is not None,
        integrable=K.integrable_ops(),
        fail_open=rt.fail_open,
    )


def _node(name: str, fn: Node) -> Callable[..., RunState]:
    """A node, then summary.json rewritten so a crash leaves an honest account of progress."""

    def node(st: RunState, runtime: Runtime[RunContext]) -> RunState:
        rt = runtime.context
        upd = fn(st, rt)
        rt.summary({**st, **upd}, status="complete" if name == "done" else "running")
        return upd

    node.__name__ = name
    return node


def _router(fn: Callable[[RunState, R.RouteSettings], Any], s: R.RouteSettings) -> Callable[[RunState], Any]:
    def route(st: RunState) -> Any:
        return fn(st, s)

    route.__name__ = fn.__name__
    return route


def build_graph(rt: RunContext) -> StateGraph[RunState, RunContext, RunState, RunState]:
    """The StateGraph for this workflow; auditor nodes only when rt.use_auditor."""
    A = rt.use_auditor
    s = settings(rt)
    g = StateGraph(RunState, context_schema=RunContext)
    nodes: dict[str, Node] = dict(
        setup=B.setup,
        baseline=B.baseline,
        baseline_done=B.baseline_done,
        profile=P.profile,
        strategize=C.strategize,
        screen=C.screen,
        config_measure=C.config_measure,
        config_submit=C.config_submit,
        config_bank=C.config_bank,
        config_next=C.config_next,
        kernel=K.kernel,
        kernel_measure=K.kernel_measure,
        kernel_submit=K.kernel_submit,
        kernel_bank=K.kernel_bank,
        kernel_next=K.kernel_next,
        finalize=V.finalize,
        validate_leg=V.validate_leg,
        bundle_submit=V.bundle_submit,
        bundle_done=V.bundle_done,
        done=V.done,
    )
    if A:
        nodes.update(
            audit_baseline=B.audit_baseline,
            audit_profile=P.audit_profile,
            audit_config=C.audit_config,
            audit_harness=K.audit_harness,
            audit_kernel=K.audit_kernel,
            audit_bundle=V.audit_bundle,
        )
    for name, fn in nodes.items():
        g.add_node(name, _node(name, fn))

    def edge(src: str, fn: Callable[[RunState, R.RouteSettings], Any], dests: list[str]) -> None:
        g.add_conditional_edges(src, _router(fn, s), [d for d in dests if d in nodes])

    g.add_edge(START, "setup")
    g.add_edge("setup", "baseline")
    if A:
        g.add_edge("baseline", "audit_baseline")
        edge("audit_baseline", R.route_baseline, ["baseline", "baseline_done"])
    else:
        g.add_edge("baseline", "baseline_done")
    edge("baseline_done", R.route_baseline_done, ["profile", "done"])
    edge("profile", R.route_profile, ["audit_profile", "strategize"])
    if A:
        g.add_edge("audit_profile", "strategize")
    g.add_edge("strategize", "screen")
    edge("screen", R.route_screen, ["screen", "config_measure", "kernel"])
    g.add_edge("config_measure", "config_submit")
    edge("config_submit", R.route_submit, ["audit_config", "config_bank", "config_measure", "config_next"])
    if A:
        edge("audit_config", R.route_config, ["config_bank", "config_submit", "config_next"])
    edge("config_bank", R.route_next, ["config_measure", "kernel"])
    edge("config_next", R.route_next, ["config_measure", "kernel"])
    edge("kernel", R.route_kernel, ["audit_harness", "kernel_measure", "finalize"])
    if A:
        edge("audit_harness", R.route_harness, ["kernel_measure", "kernel", "finalize"])
    g.add_edge("kernel_measure", "kernel_submit")
    edge("kernel_submit", R.route_kernel_submit, ["audit_kernel", "kernel_bank", "kernel_measure", "kernel_next"])
    if A:
        edge("audit_kernel", R.route_kernel_gate, ["kernel_bank", "kernel_submit", "kernel_next"])
    g.add_edge("kernel_bank", "finalize")
    g.add_edge("kernel_next", "finalize")
    edge("finalize", R.route_validate, ["validate_leg", "bundle_submit", "done"])
    edge("validate_leg", R.route_validate, ["validate_leg", "bundle_submit", "done"])
    edge("bundle_submit", R.route_bundle_submit, ["validate_leg", "audit_bundle", "bundle_done"])
    if A:
        edge("audit_bundle", R.route_bundle, ["bundle_done", "bundle_submit"])
    g.add_edge("bundle_done", "done")
    g.add_edge("done", END)
    return g
