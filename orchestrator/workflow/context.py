"""What nodes need besides the state (LangGraph's ``context_schema``): never checkpointed,
rebuilt on resume from run_args.json and workflow.yaml."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from collections.abc import Callable

from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import WorkloadSpec
from geak.auditor.evidence.store import RunStore
from geak.auditor.policy import AuditPolicy

from geak.agents.engines.questions import Prompt
from geak.agents.engines.questions import QuestionSet

from ..events import GateOutcome, RunEvent, RunSummary
from geak.agents.runners.legs import LegRunner
from ..workflow_config import Phase, WorkflowConfig
from .ids import BUNDLE_GATE
from .state import RunState
from geak.auditor.evidence.layout import EVENTS, SUMMARY


@dataclass
class RunContext:
    store: RunStore
    wf: WorkflowConfig
    legs: LegRunner
    engine: str
    workload: WorkloadSpec
    use_auditor: bool
    policy: AuditPolicy = field(default_factory=AuditPolicy)
    llm: Any = None  # agents.roles.llm.LLMClient, or None for the built-in policies
    llm_auditor: bool = True  # with an LLM, the patch_auditor role may escalate the floor's verdict
    parity: list[Prompt] | None = None
    accuracy: list[Prompt] | QuestionSet | None = None
    on_event: Callable[[RunEvent], None] = lambda e: None
    llm_mode: str = "none"
    profiles: Any = None  # agents.runners.op_runners.LiveProfiles / RecordedProfiles; None: profile phase cannot run
    harness: Any = None  # agents.runners.op_runners.LiveHarness / RecordedHarness; None: no op harness
    skills_root: Path | None = None  # where the roles' skills/ and prompts/ live; None: the installed ones
    device_sets: list[str] = field(
        default_factory=list
    )  # disjoint sets legs may use at once; [] = the base config's only

    def sets(self, base_devices: str) -> list[str]:
        """The device sets of independent legs; the first is the one ordered (gate) legs use."""
        return list(self.device_sets) or [base_devices]

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.wf.phases if p.name == name), None)

    @cached_property
    def bounds(self) -> dict[str, int]:
        """phase name -> max attempts at its gate (the fix-until-pass loop bound)."""
        return {p.name: p.max_attempts for p in self.wf.phases}

    @property
    def fail_open(self) -> bool:
        """workflow auditor.fail_open_on_error: a gate the auditor could not judge banks, recorded unaudited."""
        return self.wf.auditor.fail_open_on_error

    def emit(self, event: str, node: str, message: str, **kw: Any) -> None:
        ev = RunEvent(event=event, node=node, message=message, **kw)
        self.store.append_jsonl(EVENTS, ev)
        self.on_event(ev)

    def over_budget(self, st: RunState) -> bool:
        return time.time() - st.get("started_at", time.time()) > self.wf.budgets.wall_clock_s

    # ---------------------------------------------------------------- evidence helpers
    def latencies(self, legs: list[str], metric: str) -> list[float]:
        """Per-request values of one latency metric pooled over the legs' counted reps."""
        run = RunEvidence(self.store)
        return [float(x) for leg in legs for x in run.leg(leg).pooled(metric)]

    def values(self, legs: list[str], metric: str = "output_throughput") -> list[float]:
        run = RunEvidence(self.store)
        out: list[float] = []
        for leg in legs:
            out += [v for v in run.leg(leg).values(metric)[0] if v is not None]
        return out

    def summary(self, st: RunState, status: str = "running", error: str | None = None) -> None:
        s = RunSummary(
            run_id=st.get("run_id", self.store.root.name),
            status=status,
            use_auditor=self.use_auditor,
            llm_mode=self.llm_mode,
            phases_done=st.get("phases_done", []),
            passthrough=st.get("passthrough", {}),
            gates=[GateOutcome(**g) for g in st.get("gates", [])],
            banked_decisions=st.get("banked", []),
            final_config=st.get("incumbent", {}),
            bundle_decision=_bundle_decision(st),
            error=error,
            ledger_head=(h.label if (h := getattr(self.legs, "sealed", None)) is not None else None),
        )
        self.store.write_json(SUMMARY, s)


def _bundle_decision(st: RunState) -> str | None:
    for g in reversed(st.get("gates", [])):
        if g.get("scope") == BUNDLE_GATE:
            did = g.get("decision_id")
            return did if isinstance(did, str) else None
    return None
