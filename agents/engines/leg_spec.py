"""What run_leg is asked (issue 35): what to measure (LegSpec), what a caller hooks in
(LegHooks) and how the server comes (Serving); leg_parts sorts a workflow's loose leg options
into the three and refuses an unknown one by name."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any
from collections.abc import Callable

from geak.auditor.evidence.models import KernelPlugin, ParityProbe, TopKLogprobs, WorkloadSpec

from .base import LaunchConfig
from .process import ServerProcess
from .questions import Prompt, QuestionSet
from .rep_barrier import RepBarrier


@dataclass(frozen=True)
class LegSpec:
    """What one leg measures: one server lifetime of ``cfg`` under ``workload``, ``reps`` counted
    repetitions after a warm-up, and the quality probes every leg answers (``parity`` greedily,
    twice, ``max_tokens`` each; ``accuracy``)."""

    leg_id: str
    role: str
    cfg: LaunchConfig
    workload: WorkloadSpec
    reps: int = 3
    warmup: bool = True
    parity: list[Prompt] | None = None
    accuracy: list[Prompt] | QuestionSet | None = None
    max_tokens: int = 8


@dataclass(frozen=True)
class LegHooks:
    """What a caller adds around the measurement. ``topk(base_url, model)``: record first-token
    top-k logprobs (a reference for a later parity probe). ``probe(base_url, model)``: the
    one-token parity probe of a kernel candidate, run before anything is benchmarked; an ejected
    candidate fails the leg (fail closed) with the probe's tagged line as the reason.
    ``plugin``/``engagement_markers`` are recorded in launch.json as what the leg loaded and what
    its log must show. ``rep_barrier``: the leg is one half of a pair (agents/runners/paired.py):
    each repetition starts when the partner leg's starts, and a failure here ends the partner's
    wait. ``on_started``: called with the server process once it is started (the profiler)."""

    on_started: Callable[[ServerProcess], None] | None = None
    topk: Callable[[str, str], list[TopKLogprobs]] | None = None
    probe: Callable[[str, str], tuple[ParityProbe, list[TopKLogprobs]]] | None = None
    plugin: KernelPlugin | None = None
    engagement_markers: list[str] | None = None
    rep_barrier: RepBarrier | None = None

    @property
    def own_server_only(self) -> bool:
        """A leg whose server is hooked into never shares it (a kernel leg, a profiled one)."""
        return bool(self.plugin or self.probe or self.topk or self.on_started)


@dataclass(frozen=True)
class Serving:
    """How the leg gets its server. ``reuse``: measure on a server an earlier leg of the same
    launch kept up (pool.py), declared in launch.json's ``server``; ``keep``: leave this leg's
    server up for such a leg (a hooked leg never does). ``python``: the interpreter the engine
    and its client run under (default: this one)."""

    reuse: bool = False
    keep: bool = False
    python: str | None = None
    port: int | None = None
    health_deadline_s: float = 600.0
    bench_timeout_s: float = 900.0


def leg_parts(leg_id: str, role: str, cfg: LaunchConfig, **kw: Any) -> tuple[LegSpec, LegHooks, Serving]:
    """A leg runner's loose options (the workflow's LegJob.kw, a phase's keywords) sorted into
    run_leg's three typed groups; an unknown option is a TypeError naming the known ones."""
    groups = {LegSpec: {}, LegHooks: {}, Serving: {}}  # type: dict[type, dict[str, Any]]
    names = {cls: {f.name for f in fields(cls)} for cls in groups}
    for k, v in kw.items():
        cls = next((c for c, n in names.items() if k in n), None)
        if cls is None:
            known = sorted(n for c, ns in names.items() for n in ns if n not in ("leg_id", "role", "cfg"))
            raise TypeError(f"run_leg has no option {k!r} (known: {', '.join(known)})")
        groups[cls][k] = v
    return (
        LegSpec(leg_id=leg_id, role=role, cfg=cfg, **groups[LegSpec]),
        LegHooks(**groups[LegHooks]),
        Serving(**groups[Serving]),
    )
