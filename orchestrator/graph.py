"""The workflow as a LangGraph StateGraph: producers, auditor gates, fix-until-pass loops.

    setup -> baseline -> [audit_baseline] -> profile -> strategize -> screen ->
    config_measure -> config_submit -> [audit_config] -> config_bank | config_withhold -> ...
    -> kernel -> finalize -> validate_leg -> bundle_submit -> [audit_bundle] -> done

Bracketed nodes exist only with the auditor on; without it every router sends a producer's
submission straight to the bank, which is exactly what the graph decided before auditors.
The state holds ids, counters and small dicts only (it is checkpointed after every node);
evidence lives on disk in the run directory. Every node is idempotent under resume: legs
already on disk are reused (orchestrator/legs.py), decisions are keyed by id.

Routing semantics at a gate (the issue's contract):
- PASS banks. An explicit FAIL never banks.
- FAIL, or a FLAG whose actions ask for work (remeasure, eject...), goes back to the producer
  with the findings while attempts remain; at the bound nothing is banked.
- A FLAG whose actions are only labels (flag, downgrade_headline, replace_headline_with_e2e)
  banks with the label: the claim stands, its headline is qualified in the report.
- No verdict (the auditor itself failed) fails open: banked, recorded as unaudited.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, TypedDict

from langgraph.graph import END, START, StateGraph

from geak.auditor import stats
from geak.auditor.audit import audit_gate, history_file
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import AuditVerdict, Claim, Consequence, Decision, WorkloadSpec
from geak.auditor.evidence.store import RunStore
from geak.auditor.noise import effective_policy
from geak.auditor.policy import AuditPolicy

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.leg import Prompt

from . import policies
from .baseline import pin_invariants
from .events import GateOutcome, RunEvent, RunSummary
from .legs import LegRunner
from .roles import AuditJudgment, BundleClaim, ConfigProposal, IntegrationClaim, KernelCandidate, StrategyPlan, knob
from .workflow_config import Phase, WorkflowConfig

LABEL_ACTIONS = {"pass", "flag", "downgrade_headline", "replace_headline_with_e2e"}
SEVERITY = {"PASS": 0, "FLAG": 1, "FAIL": 2}


class RunState(TypedDict, total=False):
    run_id: str
    started_at: float
    base_config: dict[str, Any]  # LaunchConfig of the baseline (engine-neutral knobs)
    incumbent: dict[str, Any]  # the configuration every later candidate changes one knob of
    incumbent_legs: list[str]
    baseline_legs: list[str]
    attempts: dict[str, int]  # gate id -> submissions so far (the loop bound lives here)
    measure_rounds: dict[str, int]  # gate id -> re-measure rounds so far
    strategy: dict[str, Any] | None
    candidates: list[dict[str, Any]]  # [{cid, knob, value}] in plan order
    screened: dict[str, dict[str, Any]]  # cid -> {leg_id, median}
    promoted: list[str]  # cids still to take to the gate
    current: str | None  # cid at the gate now
    proposal: dict[str, Any] | None
    feedback: dict[str, Any] | None  # the last verdict of the current gate, for the producer
    decision_id: str | None
    banked: list[str]
    gates: list[dict[str, Any]]  # GateOutcome dumps, in order
    val_legs: list[list[str]]  # [[leg_id, role], ...] planned validation legs, in run order
    val_done: list[str]
    phases_done: list[str]
    passthrough: dict[str, str]
    halt: str | None  # why the run stopped early (a baseline that never passed)
    routing: dict[str, Any] | None  # the profile round's routing (family shares, routed, note)
    kernel: dict[str, Any] | None  # the kernel candidate in flight: op, candidate, harness verdict, marker, mode, plugin env


@dataclass
class Runtime:
    """What nodes need besides the state: never checkpointed, rebuilt on resume."""

    store: RunStore
    wf: WorkflowConfig
    legs: LegRunner
    engine: str
    workload: WorkloadSpec
    use_auditor: bool
    policy: AuditPolicy = field(default_factory=AuditPolicy)
    llm: Any = None  # orchestrator.llm.LLMClient, or None for the built-in policies
    llm_auditor: bool = True  # with an LLM, the patch_auditor role may escalate the floor's verdict
    parity: list[Prompt] | None = None
    accuracy: list[Prompt] | None = None
    on_event: Callable[[RunEvent], None] = lambda e: None
    llm_mode: str = "none"
    profiles: Any = None  # orchestrator.legs.LiveProfiles / RecordedProfiles; None: profile phase cannot run
    harness: Any = None  # orchestrator.legs.LiveHarness / RecordedHarness; None: no op harness

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.wf.phases if p.name == name), None)

    def emit(self, event: str, node: str, message: str, **kw: Any) -> None:
        ev = RunEvent(event=event, node=node, message=message, **kw)  # type: ignore[arg-type]
        self.store.append_jsonl("events.jsonl", ev)
        self.on_event(ev)

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
        s = RunSummary(run_id=st.get("run_id", self.store.root.name), status=status, use_auditor=self.use_auditor,  # type: ignore[arg-type]
                       llm_mode=self.llm_mode, phases_done=st.get("phases_done", []), passthrough=st.get("passthrough", {}),
                       gates=[GateOutcome(**g) for g in st.get("gates", [])], banked_decisions=st.get("banked", []),
                       final_config=st.get("incumbent", {}), bundle_decision=_bundle_decision(st), error=error)
        self.store.write_json("summary.json", s)


def _bundle_decision(st: RunState) -> str | None:
    for g in reversed(st.get("gates", [])):
        if g.get("scope") == "bundle":
            return g.get("decision_id")
    return None


def _slug(v: Any) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", str(v)).lower() or "x"


def _decision_exists(store: RunStore, decision_id: str) -> bool:
    return any(d.decision_id == decision_id for _, d in RunEvidence(store).decisions)


def _append_decision(store: RunStore, d: Decision) -> None:
    # resume safety: a node re-run after a crash must not submit the same decision twice
    if not _decision_exists(store, d.decision_id):
        store.append_jsonl("decisions.jsonl", d)


def _claim(c: Any) -> Claim:
    return Claim(**c.model_dump(exclude_none=False))


def _patch_decision(did: str, gate: str, producer: str, prop: Any, refs: list[str], cands: list[str], **extra: Any) -> Decision:
    """A patch-scope decision from a producer's answer (ConfigProposal, IntegrationClaim): its
    claim and declarations as given, the legs it names or else the ones the graph measured."""
    return Decision(decision_id=did, gate_id=gate, scope="patch", producer=producer, claim=_claim(prop.claim),
                    reference_legs=prop.reference_legs or refs, candidate_legs=prop.candidate_legs or cands,
                    declared_knobs=prop.declared_knobs, declared_levers=prop.declared_levers,
                    consequences=[Consequence(**x.model_dump()) for x in prop.consequences],
                    declared_regressions=prop.declared_regressions, **extra)


# ==================================================================== graph construction


def build_graph(rt: Runtime):
    """The StateGraph for this workflow; auditor nodes only when rt.use_auditor."""
    g = StateGraph(RunState)
    A = rt.use_auditor
    bound = {p.name: p.max_attempts for p in rt.wf.phases}

    # ------------------------------------------------------------ setup + baseline
    def setup(st: RunState) -> RunState:
        rt.emit("phase", "setup", f"run {st['run_id']}: {rt.engine}, {len(rt.wf.phases)} phases, auditor {'on' if A else 'off'}")
        aa = rt.wf.engine_defaults.aa_legs
        cfg = LaunchConfig(**st["base_config"])
        for i in range(1, aa + 1):
            res = rt.legs(rt.store, leg_id=f"aa_{i}", role="aa", cfg=cfg, workload=rt.workload, reps=rt.wf.engine_defaults.reps)
            rt.emit("leg", "setup", f"A/A leg aa_{i}: {res.status}" + (f" ({res.reason})" if res.reason else ""), leg_id=f"aa_{i}")
        return {"phases_done": st.get("phases_done", []) + ["setup"]}

    def baseline(st: RunState) -> RunState:
        n = st.get("attempts", {}).get("baseline", 0)
        leg_id = "baseline" if n == 0 else f"baseline_r{n}"
        reps = rt.wf.engine_defaults.reps + 2 * n  # a re-measure adds reps: B1-B3 FLAG too few / too noisy reps
        cfg = LaunchConfig(**st["base_config"])
        res = rt.legs(rt.store, leg_id=leg_id, role="baseline", cfg=cfg, workload=rt.workload, reps=reps,
                      parity=rt.parity, accuracy=rt.accuracy)
        rt.emit("leg", "baseline", f"baseline leg {leg_id}: {res.status}, {res.counted_reps} counted reps" +
                (f" ({res.reason})" if res.reason else ""), leg_id=leg_id)
        if res.status == "ok":
            pin_invariants(rt.store, leg_id)
        did = f"d-baseline-{n}"
        _append_decision(rt.store, Decision(decision_id=did, gate_id="baseline", scope="baseline", producer="setup", reference_legs=[leg_id]))
        rt.emit("submit", "baseline", f"baseline submitted ({leg_id})", gate_id="baseline", decision_id=did)
        return {"attempts": {**st.get("attempts", {}), "baseline": n + 1}, "decision_id": did,
                "baseline_legs": [leg_id], "incumbent_legs": [leg_id]}

    def audit_baseline(st: RunState) -> RunState:
        return _audit(rt, st, "baseline", "baseline")

    def route_baseline(st: RunState) -> Literal["baseline", "profile"]:
        fb = st.get("feedback") or {}
        v = fb.get("verdict")
        n = st.get("attempts", {}).get("baseline", 0)
        if v == "PASS" or (v is None and fb.get("unaudited_reason")):
            return "profile"
        # the baseline's only fix is to measure again, with more reps; at the bound, profile
        # records the outcome and halts the run on a FAIL
        return "baseline" if n < bound["baseline"] else "profile"

    def baseline_outcome(st: RunState) -> RunState:
        fb = st.get("feedback") or {}
        v = fb.get("verdict") if A else None
        gates = _set_gate(st, GateOutcome(gate_id="baseline", scope="baseline", decision_id=st.get("decision_id"),
                                          attempts=st.get("attempts", {}).get("baseline", 0), verdict=v,
                                          banked=(not A) or v in ("PASS", "FLAG") or (v is None and bool(fb.get("unaudited_reason"))),
                                          unaudited_reason=fb.get("unaudited_reason")))
        return {"gates": gates}

    # ------------------------------------------------------------ profile (pass-through until the kernel track lands)
    def profile(st: RunState) -> RunState:
        st2 = baseline_outcome(st)
        if A and (st.get("feedback") or {}).get("verdict") == "FAIL":
            why = "the baseline gate FAILed at its bound: no trusted reference to gate wins on"
            rt.emit("withhold", "profile", why, gate_id="baseline", verdict="FAIL")
            return {**st2, "halt": why}
        p = rt.phase("profile")
        pt = dict(st.get("passthrough", {}))
        done_upd = {**st2, "phases_done": st.get("phases_done", []) + ["baseline", "profile"], "feedback": None}
        if p is not None and (p.passthrough or rt.profiles is None):
            pt["profile"] = ("profile phase set to passthrough in the workflow: no profiler trace captured, so nothing is "
                             "routed to the kernel track")
            rt.emit("passthrough", "profile", pt["profile"])
        if p is None or p.passthrough or rt.profiles is None:
            return {**done_upd, "passthrough": pt}
        upd = _profile_round(rt, st)
        if not A and upd.get("decision_id"):
            done_upd["gates"] = _set_gate({**st, **done_upd}, GateOutcome(gate_id="profile-1", scope="profile", decision_id=upd["decision_id"],  # type: ignore[typeddict-item]
                                                                     attempts=1, banked=True, note=upd["routing"].get("note")))
        return {**done_upd, "passthrough": pt, **upd}

    def route_profile(st: RunState) -> Literal["audit_profile", "strategize", "done"]:
        if st.get("halt"):
            return "done"
        if A and (st.get("decision_id") or "").startswith("d-profile"):
            return "audit_profile"
        return "strategize"

    def audit_profile(st: RunState) -> RunState:
        upd = _audit(rt, st, "profile-1", "profile")
        fb = upd["feedback"]
        gates = _set_gate(st, GateOutcome(gate_id="profile-1", scope="profile", decision_id=st.get("decision_id"), attempts=1,
                                          verdict=fb.get("verdict"), banked=_bankable(fb), unaudited_reason=fb.get("unaudited_reason"),
                                          note=(st.get("routing") or {}).get("note")))
        return {"feedback": None, "gates": gates}

    # ------------------------------------------------------------ strategize
    def strategize(st: RunState) -> RunState:
        p = rt.phase("config_tune")
        if p is None:
            return {"candidates": [], "phases_done": st.get("phases_done", []) + ["strategize"]}
        if rt.llm is None:
            plan = policies.strategist(device=LaunchConfig(**st["base_config"]).devices, current_config=st["incumbent"],
                                       max_candidates=p.max_candidates or 4, concurrency=rt.workload.max_concurrency)
        else:
            plan = _producer(rt, "strategize", "strategist", StrategyPlan, _prompt_state(rt, st)) or \
                StrategyPlan(notes="the strategist's answer was rejected: no plan, no config candidates")
        cands = []
        for it in plan.plan:
            if it.track != "config" or not it.knob:
                continue
            try:
                knob(it.knob)
            except ValueError as e:
                rt.emit("error", "strategize", f"plan item {it.id} dropped: {e}")
                continue
            for v in it.values:
                cands.append({"cid": f"{it.knob}-{_slug(v)}", "knob": it.knob, "value": v})
        cands = cands[: p.max_candidates or len(cands)]
        rt.store.write_json("strategy.json", plan.model_dump(mode="json"))
        rt.emit("phase", "strategize", f"plan: {len(cands)} config candidate(s): {', '.join(c['cid'] for c in cands) or 'none'}")
        return {"strategy": plan.model_dump(mode="json"), "candidates": cands, "screened": {}, "promoted": [],
                "phases_done": st.get("phases_done", []) + ["strategize"]}

    # ------------------------------------------------------------ config tuning
    def screen(st: RunState) -> RunState:
        """Successive halving, rung 0: every candidate one short leg; the better half goes to the gate."""
        p = rt.phase("config_tune")
        if p is None:  # a workflow without config tuning (the kernel track alone)
            return {"promoted": [], "screened": {}}
        done = dict(st.get("screened", {}))
        todo = [c for c in st.get("candidates", []) if c["cid"] not in done]
        if p.screen_reps is None:
            return {"promoted": [c["cid"] for c in st.get("candidates", [])], "screened": done}
        if todo:
            c = todo[0]
            if _over_budget(rt, st):
                done[c["cid"]] = {"leg_id": None, "median": None, "skipped": "wall-clock budget spent"}
            else:
                cfg = LaunchConfig(**{**st["incumbent"], c["knob"]: c["value"]})
                leg_id = f"screen_{c['cid']}"
                res = rt.legs(rt.store, leg_id=leg_id, role="candidate", cfg=cfg, workload=rt.workload, reps=p.screen_reps)
                med = stats.median(rt.values([leg_id])) if res.status == "ok" else None
                done[c["cid"]] = {"leg_id": leg_id, "median": med, "status": res.status, "reason": res.reason}
                rt.emit("screen", "screen", f"screen {c['cid']}: {res.status}" + (f", median {med:.1f} tok/s" if med else "") +
                        (f" ({res.reason})" if res.reason else ""), leg_id=leg_id)
            if len(todo) > 1:
                return {"screened": done}
        # every candidate screened: this same step promotes (the router reads `promoted` next)
        ok = sorted([cid for cid, s in done.items() if s.get("median") is not None], key=lambda cid: -done[cid]["median"])
        keep = ok[: math.ceil(len(ok) / 2)] if ok else []
        base_med = stats.median(rt.values(st.get("incumbent_legs", [])))
        rt.emit("screen", "screen", f"rung 0 done: promoted {keep or 'nothing'} of {len(done)} (incumbent median "
                f"{base_med:.1f} tok/s)" if base_med else f"rung 0 done: promoted {keep or 'nothing'}")
        return {"promoted": keep, "screened": done}

    def route_screen(st: RunState) -> Literal["screen", "config_measure", "kernel"]:
        p = rt.phase("config_tune")
        if p is not None and p.screen_reps is not None and any(c["cid"] not in st.get("screened", {}) for c in st.get("candidates", [])):
            return "screen"
        return "config_measure" if st.get("promoted") else "kernel"

    def config_measure(st: RunState) -> RunState:
        promoted = list(st.get("promoted", []))
        cur = st.get("current")
        upd: RunState = {}
        if cur is None:
            cur = promoted.pop(0)
            upd = {"current": cur, "promoted": promoted, "feedback": None, "proposal": None}
        c = next(c for c in st["candidates"] if c["cid"] == cur)
        gate = f"config-{cur}"
        k = st.get("measure_rounds", {}).get(gate, 0)
        reps = rt.wf.engine_defaults.reps + 2 * k
        cand_cfg = LaunchConfig(**{**st["incumbent"], c["knob"]: c["value"]})
        if k > 0:  # a re-measure: a fresh reference leg right before the fresh candidate leg
            ref_id = f"ref_{cur}_m{k}"
            r = rt.legs(rt.store, leg_id=ref_id, role="reference", cfg=LaunchConfig(**st["incumbent"]), workload=rt.workload,
                        reps=reps, parity=rt.parity, accuracy=rt.accuracy)
            rt.emit("leg", "config_measure", f"reference leg {ref_id}: {r.status}", leg_id=ref_id, gate_id=gate)
        leg_id = f"cfg_{cur}" + (f"_m{k}" if k else "")
        r = rt.legs(rt.store, leg_id=leg_id, role="candidate", cfg=cand_cfg, workload=rt.workload, reps=reps,
                    parity=rt.parity, accuracy=rt.accuracy)
        rt.emit("leg", "config_measure", f"candidate leg {leg_id} ({c['knob']}={c['value']!r}): {r.status}" +
                (f" ({r.reason})" if r.reason else ""), leg_id=leg_id, gate_id=gate)
        # the findings that asked for this measurement are answered by it
        return {**upd, "feedback": None, "measure_rounds": {**st.get("measure_rounds", {}), gate: k + 1}}

    def config_submit(st: RunState) -> RunState:
        cur = st["current"]
        assert cur is not None
        c = next(c for c in st["candidates"] if c["cid"] == cur)
        gate = f"config-{cur}"
        rounds = st.get("measure_rounds", {}).get(gate, 1)
        ref_legs = list(st["incumbent_legs"]) + [f"ref_{cur}_m{k}" for k in range(1, rounds)]
        cand_legs = [f"cfg_{cur}"] + [f"cfg_{cur}_m{k}" for k in range(1, rounds)]
        fb = st.get("feedback")
        if rt.llm is None:
            prop = policies.config_tuner(gate_id=gate, knob_name=c["knob"], candidate_config={c["knob"]: c["value"]},
                                         reference_legs=ref_legs, candidate_legs=cand_legs, values=rt.values, feedback=fb,
                                         latencies=rt.latencies)
        else:
            ps = _prompt_state(rt, st, gate_id=gate, audit_feedback=fb, current_config=st["incumbent"],
                               measurements=_measurements(rt, ref_legs, cand_legs), candidate={"knob": c["knob"], "value": c["value"]})
            prop = _producer(rt, "config_submit", "config_tuner", ConfigProposal, ps) or \
                ConfigProposal(gate_id=gate, knob=c["knob"], candidate_config={c["knob"]: c["value"]}, withdraw=True)
        n = st.get("attempts", {}).get(gate, 0)
        upd: RunState = {"proposal": prop.model_dump(mode="json")}
        if prop.withdraw:
            rt.emit("withdraw", "config_submit", f"{gate}: withdrawn by the config tuner (claim {prop.claim.delta_pct}%)", gate_id=gate)
            return upd
        if prop.remeasure:
            rt.emit("submit", "config_submit", f"{gate}: the config tuner asks for a re-measure", gate_id=gate)
            return upd
        did = f"d-{gate}-{n}"
        _append_decision(rt.store, _patch_decision(did, gate, "config_tuner", prop, ref_legs, cand_legs))
        rt.emit("submit", "config_submit", f"{gate}: claims {prop.claim.delta_pct:+.2f}% ({c['knob']}={c['value']!r})"
                if prop.claim.delta_pct is not None else f"{gate}: submitted", gate_id=gate, decision_id=did)
        return {**upd, "decision_id": did, "attempts": {**st.get("attempts", {}), gate: n + 1}}

    def route_submit(st: RunState) -> Literal["audit_config", "config_bank", "config_measure", "config_next"]:
        prop = st.get("proposal") or {}
        if prop.get("withdraw"):
            return "config_next"
        if prop.get("remeasure"):
            gate = f"config-{st['current']}"
            return "config_measure" if st.get("measure_rounds", {}).get(gate, 0) < bound["config_tune"] else "config_next"
        return "audit_config" if A else "config_bank"

    def audit_config(st: RunState) -> RunState:
        return _audit(rt, st, f"config-{st['current']}", "patch")

    def route_config(st: RunState) -> Literal["config_bank", "config_submit", "config_next"]:
        return _route_gate(st, f"config-{st['current']}", bound["config_tune"], "config_bank", "config_submit", "config_next")

    def config_bank(st: RunState) -> RunState:
        cur = st["current"]
        gate = f"config-{cur}"
        c = next(c for c in st["candidates"] if c["cid"] == cur)
        d = next(d for _, d in RunEvidence(rt.store).decisions if d.decision_id == st["decision_id"])
        fb = st.get("feedback") or {}
        rt.emit("bank", "config_bank", f"{gate} banked ({c['knob']}={c['value']!r})" + ("" if not A else f", verdict {fb.get('verdict') or 'UNAUDITED'}"),
                gate_id=gate, decision_id=d.decision_id, verdict=fb.get("verdict"))
        gates = _set_gate(st, GateOutcome(gate_id=gate, scope="patch", decision_id=d.decision_id, attempts=st.get("attempts", {}).get(gate, 0),
                                          verdict=fb.get("verdict") if A else None, banked=True, unaudited_reason=fb.get("unaudited_reason")))
        return {"incumbent": {**st["incumbent"], c["knob"]: c["value"]}, "incumbent_legs": d.candidate_legs,
                "banked": st.get("banked", []) + [d.decision_id], "gates": gates, "current": None, "feedback": None, "proposal": None}

    def config_next(st: RunState) -> RunState:
        """The current candidate ends without a bank: withdrawn, or withheld at the gate's bound."""
        cur = st["current"]
        gate = f"config-{cur}"
        fb = st.get("feedback") or {}
        prop = st.get("proposal") or {}
        note = "withdrawn by the producer" if prop.get("withdraw") else "re-measure bound reached" if prop.get("remeasure") \
            else f"withheld: {fb.get('verdict')} at the bound of {bound['config_tune']} attempt(s)"
        if not prop.get("withdraw") and fb.get("verdict"):
            rt.emit("withhold", "config_next", f"{gate}: {note}", gate_id=gate, decision_id=st.get("decision_id"), verdict=fb.get("verdict"))
        gates = _set_gate(st, GateOutcome(gate_id=gate, scope="patch", decision_id=st.get("decision_id") if st.get("attempts", {}).get(gate) else None,
                                          attempts=st.get("attempts", {}).get(gate, 0), verdict=fb.get("verdict"), banked=False, note=note))
        return {"gates": gates, "current": None, "feedback": None, "proposal": None}

    def route_next(st: RunState) -> Literal["config_measure", "kernel"]:
        if st.get("promoted") and not _over_budget(rt, st):
            return "config_measure"
        if st.get("promoted"):
            rt.emit("budget", "config", f"wall-clock budget of {rt.wf.budgets.wall_clock_s:.0f} s spent: {len(st['promoted'])} candidate(s) not taken to the gate")
        return "kernel"

    # ------------------------------------------------------------ kernel track
    def kernel(st: RunState) -> RunState:
        """A candidate for the routed op (the template library, or the kernel author with the
        harness gate's findings on a retry), run through the op harness in a subprocess. The
        isolated result is audited by the harness gate and never banked."""
        from geak.agents.kernels.templates import TEMPLATES

        pt = dict(st.get("passthrough", {}))
        p = rt.phase("kernel")
        done = {"phases_done": list(dict.fromkeys(st.get("phases_done", []) + ["config_tune", "kernel"]))}
        dev = "cpu" if LaunchConfig(**st["base_config"]).devices == "cpu" else "cuda"
        routed = (st.get("routing") or {}).get("routed") or []
        ops = [op for op in routed if (op, dev) in TEMPLATES] if rt.llm is None else [op for op in routed if _has_spec(op)]
        if p is None:
            return {"passthrough": pt, **done}
        if p.passthrough or rt.harness is None or not ops:
            why = "set to passthrough in the workflow" if p.passthrough else "no routed op" + (
                " has a template" if rt.llm is None else " has an op spec") if rt.harness else "no harness"
            pt["kernel"] = (f"kernel phase did nothing ({why}): no kernel decision made; the bundle holds config changes only")
            rt.emit("passthrough", "kernel", pt["kernel"])
            return {"passthrough": pt, **done}
        op = ops[0]
        gate = f"harness-{op}"
        n = st.get("attempts", {}).get(gate, 0)
        tokens = ((st.get("routing") or {}).get("served_tokens") or {}).get(op) or None
        kn = dict(st.get("kernel") or {})
        if rt.llm is None:
            cand, name = TEMPLATES[(op, dev)], "template"
        else:
            got = _author(rt, st, op, dev, tokens, kn.get("tried", []))
            if got is None:
                pt["kernel"] = "kernel author's answer rejected: no candidate to measure; nothing kernel-side is banked"
                return {"passthrough": pt, **done, "kernel": {**kn, "op": op, "harness_ok": False}}
            cand, name = got
        _archive_op(rt.store, op, _in_run(rt, cand))
        status = rt.harness(rt.store, op=op, candidate=_in_run(rt, cand), device=dev, profile=_harness_profile(st), tokens=tokens)
        rt.emit("leg", "kernel", f"op harness {op} ({cand}): {status}, served tokens "
                f"{tokens if tokens else 'from the model profile (the trace recorded none)'}")
        did = f"d-{gate}-{n}"
        _append_decision(rt.store, Decision(decision_id=did, gate_id=gate, scope="harness",
                                            producer="kernel_author" if rt.llm is not None else "op_benchmarker", op=op))
        rt.emit("submit", "kernel", f"{gate}: {'template' if rt.llm is None else 'candidate'} {cand}", gate_id=gate, decision_id=did)
        upd: RunState = {"passthrough": pt, "decision_id": did, "attempts": {**st.get("attempts", {}), gate: n + 1},
                         "kernel": {**kn, "op": op, "candidate": cand, "name": name, "device": dev, "harness_status": status}, **done}
        if not A:
            upd["gates"] = _set_gate(st, GateOutcome(gate_id=gate, scope="harness", decision_id=did, attempts=n + 1,
                                                     banked=False, note="isolated result: never banked without e2e legs"))
        return upd

    def route_kernel(st: RunState) -> Literal["audit_harness", "kernel_measure", "finalize"]:
        if not (st.get("decision_id") or "").startswith("d-harness"):
            return "finalize"
        if A:
            return "audit_harness"
        kn = st.get("kernel") or {}
        return "kernel_measure" if kn.get("harness_status") == "ok" and _integrable(kn["op"]) else "finalize"

    def audit_harness(st: RunState) -> RunState:
        kn = dict(st.get("kernel") or {})
        gate = f"harness-{kn['op']}"
        fb = _audit(rt, st, gate, "harness")["feedback"]
        ok = _bankable(fb)
        gates = _set_gate(st, GateOutcome(gate_id=gate, scope="harness", decision_id=st.get("decision_id"),
                                          attempts=st.get("attempts", {}).get(gate, 0), verdict=fb.get("verdict"), banked=False,
                                          unaudited_reason=fb.get("unaudited_reason"),
                                          note="isolated result: never banked; integration follows only a PASS (or a label-only FLAG)"))
        if not ok:
            rt.emit("withhold", "audit_harness", f"{gate}: {fb.get('verdict')}: {kn.get('candidate')} is not integrated", gate_id=gate,
                    verdict=fb.get("verdict"))
        elif not _integrable(kn["op"]):
            rt.emit("passthrough", "audit_harness", f"{kn['op']}: harness PASS but no engine integration for it "
                    "(agents/kernels/integrate.LAYERS): measured in isolation only, nothing banked", gate_id=gate)
        tried = kn.get("tried", []) + [{"name": kn.get("name"), "candidate": kn.get("candidate"), "status": fb.get("verdict") or "UNAUDITED",
                                        "note": "; ".join(f"{f['rule_id']} {f['outcome']}: {f['message']}" for f in fb.get("findings", []))[:600]}]
        return {"gates": gates, "feedback": None if ok else fb,
                "kernel": {**kn, "harness_verdict": fb.get("verdict"), "harness_ok": ok, "tried": tried}}

    def route_harness(st: RunState) -> Literal["kernel_measure", "kernel", "finalize"]:
        kn = st.get("kernel") or {}
        if kn.get("harness_ok"):
            return "kernel_measure" if _integrable(kn["op"]) else "finalize"
        # a rejected candidate goes back to its author with the findings; a template cannot change
        if rt.llm is not None and st.get("attempts", {}).get(f"harness-{kn.get('op')}", 0) < bound["kernel"]:
            return "kernel"
        return "finalize"

    def kernel_measure(st: RunState) -> RunState:
        """Package the candidate as a plugin, then a reference leg (recording the probe's top-k)
        and a candidate leg (probed against it before benchmarking; ejected = failed leg)."""
        from geak.agents.kernels.integrate import LAYERS, PROBE_PROMPTS, package_plugin, parity_probe_against, record_topk
        from geak.auditor.evidence.models import KernelPlugin, TopKLogprobs

        kn = dict(st.get("kernel") or {})
        op = kn["op"]
        gate = f"kernel-{op}"
        k = st.get("measure_rounds", {}).get(gate, 0)
        mod, fn = _in_run(rt, kn["candidate"]).rsplit(":", 1)
        inc = LaunchConfig(**st["incumbent"])
        # the first calls are logged: P5's marker is a call, proof the candidate ran in the forward
        b = package_plugin(rt.store.root, op, mod, fn, eager=bool(inc.enforce_eager), call_log=3)
        plugin = KernelPlugin(op=op, layer=LAYERS[op], candidate=b.candidate, candidate_sha256=b.candidate_sha256, mode=b.mode,
                              plugin_dir=str(b.root.relative_to(rt.store.root.resolve())))
        reps = rt.wf.engine_defaults.reps + 2 * k
        sfx = f"_m{k}" if k else ""
        ref_id, cand_id = f"kref_{op}{sfx}", f"kcand_{op}{sfx}"
        # the probe needs prompts, any prompts: the run's parity set, else a few generic ones
        prompts = rt.parity or [Prompt(prompt_id=f"probe{i}", prompt=t) for i, t in enumerate(PROBE_PROMPTS)]
        r = rt.legs(rt.store, leg_id=ref_id, role="reference", cfg=inc, workload=rt.workload, reps=reps, parity=rt.parity,
                    accuracy=rt.accuracy, topk=lambda url, model: record_topk(url, prompts, model=model))
        rt.emit("leg", "kernel_measure", f"reference leg {ref_id}: {r.status}" + (f" ({r.reason})" if r.reason else ""),
                leg_id=ref_id, gate_id=gate)
        ref_rows, _ = rt.store.read_jsonl(f"legs/{ref_id}/first_token_topk.jsonl", TopKLogprobs) \
            if rt.store.exists(f"legs/{ref_id}/first_token_topk.jsonl") else ([], [])
        rows = [x for _, x in ref_rows]

        def probe(url: str, model: str):
            return parity_probe_against(rows, url, op=op, reference_leg=ref_id, model=model)

        c = rt.legs(rt.store, leg_id=cand_id, role="candidate", cfg=b.apply(inc), workload=rt.workload, reps=reps, parity=rt.parity,
                    accuracy=rt.accuracy, probe=probe, plugin=plugin, engagement_markers=[b.marker, b.call_marker])
        rt.emit("leg", "kernel_measure", f"candidate leg {cand_id} ({b.candidate}, {b.mode}): {c.status}" +
                (f" ({c.reason})" if c.reason else ""), leg_id=cand_id, gate_id=gate)
        kn.update({"marker": b.call_marker, "mode": b.mode, "plugin_env": b.env, "sha256": b.candidate_sha256})
        return {"kernel": kn, "feedback": None, "measure_rounds": {**st.get("measure_rounds", {}), gate: k + 1}}

    def kernel_submit(st: RunState) -> RunState:
        from geak.auditor.evidence.models import LegLaunch, OpBenchRecord

        kn = st["kernel"]  # type: ignore[typeddict-item]
        op = kn["op"]
        gate = f"kernel-{op}"
        rounds = st.get("measure_rounds", {}).get(gate, 1)
        refs = [f"kref_{op}"] + [f"kref_{op}_m{k}" for k in range(1, rounds)]
        cands = [f"kcand_{op}"] + [f"kcand_{op}_m{k}" for k in range(1, rounds)]
        launches = [rt.store.read_json(f"legs/{c}/launch.json", LegLaunch)[0] for c in cands]
        ok = all(x is not None and x.status == "ok" for x in launches)
        ob, _ = rt.store.read_json(f"ops/{op}/opbench.json", OpBenchRecord)
        iso = _isolated_speedup(ob)
        fb = st.get("feedback")
        if rt.llm is None:
            ic = policies.integrator(gate_id=gate, op=op, candidate=kn["candidate"], marker=kn["marker"], reference_legs=refs,
                                     candidate_legs=cands, candidate_ok=ok, isolated_speedup=iso, values=rt.values, feedback=fb,
                                     latencies=rt.latencies)
        else:
            ps = _prompt_state(rt, st, gate_id=gate, audit_feedback=fb, op=op, measurements=_measurements(rt, refs, cands),
                               op_spec={"location": kn.get("layer"), "engagement_marker": kn["marker"], "mode": kn.get("mode")},
                               opbench=_opbench_brief(ob, kn["candidate"]) if ob else None,
                               candidate={"op": op, "candidate": kn["candidate"], "candidate_ok": ok,
                                          "failure": [x.failure_reason for x in launches if x is not None and x.status != "ok"]})
            ic = _producer(rt, "kernel_submit", "integrator", IntegrationClaim, ps) or \
                IntegrationClaim(gate_id=gate, op=op, candidate=kn["candidate"], reference_legs=refs, candidate_legs=cands, withdraw=True)
        n = st.get("attempts", {}).get(gate, 0)
        upd: RunState = {"proposal": ic.model_dump(mode="json")}
        if n > 0 and ic.withdraw:
            rt.emit("withdraw", "kernel_submit", f"{gate}: withdrawn by the integrator after the gate's findings", gate_id=gate)
            return upd
        if ic.remeasure:
            rt.emit("submit", "kernel_submit", f"{gate}: the integrator asks for a re-measure", gate_id=gate)
            return upd
        did = f"d-{gate}-{n}"
        # the profile round that routed the op: its share bounds what the kernel can give e2e (P8)
        _append_decision(rt.store, _patch_decision(did, gate, "integrator", ic, refs, cands, accepted=not ic.withdraw, op=op,
                                                   profile_round=(st.get("routing") or {}).get("round"),
                                                   engagement_marker=ic.engagement_marker or kn["marker"]))
        dp = ic.claim.delta_pct
        rt.emit("submit", "kernel_submit", f"{gate}: e2e {dp:+.2f}%" if dp is not None else f"{gate}: no e2e number (candidate leg failed)",
                gate_id=gate, decision_id=did, data={"accepted": not ic.withdraw, "isolated_speedup": iso})
        return {"proposal": {**ic.model_dump(mode="json"), "submitted": True}, "decision_id": did,
                "attempts": {**st.get("attempts", {}), gate: n + 1}}

    def route_kernel_submit(st: RunState) -> Literal["audit_kernel", "kernel_bank", "kernel_measure", "kernel_next"]:
        prop = st.get("proposal") or {}
        gate = f"kernel-{(st.get('kernel') or {}).get('op')}"
        if not prop.get("submitted"):
            if prop.get("remeasure") and st.get("measure_rounds", {}).get(gate, 0) < bound["kernel"]:
                return "kernel_measure"
            return "kernel_next"
        if A:
            return "audit_kernel"
        return "kernel_next" if prop.get("withdraw") else "kernel_bank"

    def audit_kernel(st: RunState) -> RunState:
        return _audit(rt, st, f"kernel-{st['kernel']['op']}", "patch")  # type: ignore[typeddict-item]

    def route_kernel_gate(st: RunState) -> Literal["kernel_bank", "kernel_submit", "kernel_next"]:
        fb = st.get("feedback") or {}
        gate = f"kernel-{st['kernel']['op']}"  # type: ignore[typeddict-item]
        if (st.get("proposal") or {}).get("withdraw"):
            return "kernel_next"  # a submitted rejection is audited for the record, never banked
        if _bankable(fb):
            return "kernel_bank"
        if "eject" in (fb.get("actions") or []):
            return "kernel_next"  # ejected: measuring the same candidate again cannot cure it
        return "kernel_submit" if st.get("attempts", {}).get(gate, 0) < bound["kernel"] else "kernel_next"

    def kernel_bank(st: RunState) -> RunState:
        kn = st["kernel"]  # type: ignore[typeddict-item]
        gate = f"kernel-{kn['op']}"
        fb = st.get("feedback") or {}
        d = next(d for _, d in RunEvidence(rt.store).decisions if d.decision_id == st["decision_id"])
        rt.emit("bank", "kernel_bank", f"{gate} banked ({kn['candidate']}, {kn.get('mode')})" +
                ("" if not A else f", verdict {fb.get('verdict') or 'UNAUDITED'}"), gate_id=gate, decision_id=d.decision_id,
                verdict=fb.get("verdict"))
        gates = _set_gate(st, GateOutcome(gate_id=gate, scope="patch", decision_id=d.decision_id, attempts=st.get("attempts", {}).get(gate, 0),
                                          verdict=fb.get("verdict") if A else None, banked=True, unaudited_reason=fb.get("unaudited_reason"),
                                          note=f"kernel {kn['candidate']} ({kn.get('mode')}), e2e {d.claim.delta_pct}%"))
        inc = dict(st["incumbent"])
        inc["env"] = {**(inc.get("env") or {}), **kn.get("plugin_env", {})}
        return {"incumbent": inc, "incumbent_legs": d.candidate_legs, "banked": st.get("banked", []) + [d.decision_id], "gates": gates,
                "feedback": None, "proposal": None}

    def kernel_next(st: RunState) -> RunState:
        kn = st["kernel"]  # type: ignore[typeddict-item]
        gate = f"kernel-{kn['op']}"
        fb = st.get("feedback") or {}
        prop = st.get("proposal") or {}
        d = next((d for _, d in RunEvidence(rt.store).decisions if d.decision_id == st.get("decision_id")), None)
        dp = d.claim.delta_pct if d is not None and d.gate_id == gate else None
        if prop.get("withdraw"):
            note = f"rejected by the integrator (e2e {dp:+.2f}%)" if dp is not None else "rejected by the integrator: the candidate leg failed"
        elif prop.get("remeasure"):
            note = "re-measure bound reached"
        else:
            note = f"withheld: {fb.get('verdict')} ({', '.join(fb.get('actions') or [])})"
        did = st.get("decision_id") if st.get("attempts", {}).get(gate) else None
        # withdrawn after a re-measure: the feedback is gone, the audit of the decision is not
        verdict = fb.get("verdict") or (_recorded_verdict(rt, gate, did) if A and did else None)
        if A and verdict:
            note += f"; auditor {verdict}"
        rt.emit("withhold", "kernel_next", f"{gate}: {note}", gate_id=gate, decision_id=st.get("decision_id"), verdict=verdict)
        gates = _set_gate(st, GateOutcome(gate_id=gate, scope="patch", decision_id=did,
                                          attempts=st.get("attempts", {}).get(gate, 0), verdict=verdict if A else None,
                                          banked=False, unaudited_reason=fb.get("unaudited_reason"), note=note))
        return {"gates": gates, "feedback": None, "proposal": None}

    # ------------------------------------------------------------ finalize + validate
    def finalize(st: RunState) -> RunState:
        p = rt.phase("validate")
        banked = [b for b in st.get("banked", []) if not b.startswith("d-baseline")]
        _write_bundle(rt, st)
        if not banked or p is None:
            why = "no change was banked: the bundle is the baseline configuration, nothing to validate" if not banked else "no validate phase"
            rt.emit("phase", "finalize", why)
            return {"val_legs": [], "phases_done": st.get("phases_done", []) + ["finalize"]}
        pairs = p.interleaved_pairs or 2
        plan = []
        for i in range(1, pairs + 1):
            plan += [[f"val_base_{i}", "validation_base"], [f"val_final_{i}", "validation_final"]]
        if p.caching_audit:
            plan.append(["caching_audit", "caching_audit"])
        rt.emit("phase", "finalize", f"bundle of {len(banked)} decision(s); validation plan {' '.join(x[0] for x in plan)}")
        return {"val_legs": plan, "val_done": [], "phases_done": st.get("phases_done", []) + ["finalize"]}

    def validate_leg(st: RunState) -> RunState:
        done = list(st.get("val_done", []))
        todo = [x for x in st.get("val_legs", []) if x[0] not in done]
        leg_id, role = todo[0]
        base, final = LaunchConfig(**st["base_config"]), LaunchConfig(**st["incumbent"])
        cfg = base if role == "validation_base" else final
        if role == "caching_audit":
            # TEST04 asks whether answers are cached: with prefix caching on, one repeated prompt
            # reuses its KV blocks and runs faster for that reason alone (F2 would be confounded)
            cfg = final.model_copy(update={"prefix_caching": False})
        w = rt.workload.model_copy(update={"repeated_sample": True}) if role == "caching_audit" else rt.workload
        probe = role != "caching_audit"
        res = rt.legs(rt.store, leg_id=leg_id, role=role, cfg=cfg, workload=w, reps=rt.wf.engine_defaults.reps,
                      parity=rt.parity if probe else None, accuracy=rt.accuracy if probe else None)
        rt.emit("leg", "validate", f"validation leg {leg_id} ({role}): {res.status}" + (f" ({res.reason})" if res.reason else ""), leg_id=leg_id)
        return {"val_done": done + [leg_id]}

    def route_validate(st: RunState) -> Literal["validate_leg", "bundle_submit", "done"]:
        if not st.get("val_legs"):
            return "done"
        return "validate_leg" if any(x[0] not in st.get("val_done", []) for x in st["val_legs"]) else "bundle_submit"

    def bundle_submit(st: RunState) -> RunState:
        gate = "bundle"
        refs = [x[0] for x in st["val_legs"] if x[1] == "validation_base"]
        cands = [x[0] for x in st["val_legs"] if x[1] == "validation_final"]
        audits = [x[0] for x in st["val_legs"] if x[1] == "caching_audit"]
        order = "".join("A" if x[1] == "validation_base" else "B" for x in st["val_legs"] if x[1] != "caching_audit")
        ds = {d.decision_id: d for _, d in RunEvidence(rt.store).decisions}
        accepted = [{"decision_id": b, "reference_legs": ds[b].reference_legs, "candidate_legs": ds[b].candidate_legs,
                     "lever_class": ds[b].claim.lever_class} for b in st.get("banked", []) if b in ds and ds[b].scope == "patch"]
        fb = st.get("feedback")
        if rt.llm is None:
            bc = policies.finalizer(accepted=accepted, reference_legs=refs, candidate_legs=cands, audit_legs=audits, order=order,
                                    values=rt.values, feedback=fb, latencies=rt.latencies)
        else:
            ps = _prompt_state(rt, st, gate_id=gate, audit_feedback=fb, accepted_decisions=[a["decision_id"] for a in accepted],
                               measurements=_measurements(rt, refs, cands + audits))
            bc = _producer(rt, "bundle_submit", "finalizer", BundleClaim, ps)
            if bc is None:  # rejected: no claim to audit, so nothing is headlined
                return {"proposal": {"rejected": True}, "decision_id": None}
        n = st.get("attempts", {}).get(gate, 0)
        if bc.remeasure:
            k = len(refs) + 1
            rt.emit("submit", "bundle_submit", f"bundle: re-measure requested, adding pair {k}", gate_id=gate)
            extra = [[f"val_base_{k}", "validation_base"], [f"val_final_{k}", "validation_final"]]
            return {"val_legs": [x for x in st["val_legs"] if x[1] != "caching_audit"] + extra +
                    [x for x in st["val_legs"] if x[1] == "caching_audit"], "proposal": bc.model_dump(mode="json"),
                    "attempts": {**st.get("attempts", {}), gate: n + 1}}
        did = f"d-bundle-{n}"
        kn = sorted({k for d in accepted for k in ds[d["decision_id"]].declared_knobs})
        d = Decision(decision_id=did, gate_id=gate, scope="bundle", producer="finalizer", claim=_claim(bc.claim),
                     reference_legs=bc.reference_legs or refs, candidate_legs=bc.candidate_legs or cands, audit_legs=bc.audit_legs or audits,
                     declared_knobs=kn, accepted_decisions=bc.accepted_decisions, prefix_cache_flushed=bc.prefix_cache_flushed,
                     declared_regressions=bc.declared_regressions)
        _append_decision(rt.store, d)
        rt.emit("submit", "bundle_submit", f"bundle: claims {bc.claim.delta_pct:+.2f}% over the baseline ({order})"
                if bc.claim.delta_pct is not None else "bundle submitted", gate_id=gate, decision_id=did)
        return {"decision_id": did, "attempts": {**st.get("attempts", {}), gate: n + 1}, "proposal": bc.model_dump(mode="json")}

    def route_bundle_submit(st: RunState) -> Literal["validate_leg", "audit_bundle", "bundle_done"]:
        if (st.get("proposal") or {}).get("rejected"):
            return "bundle_done"
        if (st.get("proposal") or {}).get("remeasure"):
            return "validate_leg" if st.get("attempts", {}).get("bundle", 0) < bound["validate"] else "bundle_done"
        return "audit_bundle" if A else "bundle_done"

    def audit_bundle(st: RunState) -> RunState:
        return _audit(rt, st, "bundle", "bundle")

    def route_bundle(st: RunState) -> Literal["bundle_done", "bundle_submit"]:
        r = _route_gate(st, "bundle", bound["validate"], "bundle_done", "bundle_submit", "bundle_done")
        return r  # type: ignore[return-value]

    def bundle_done(st: RunState) -> RunState:
        fb = st.get("feedback") or {}
        v = fb.get("verdict") if A else None
        did = st.get("decision_id") if (st.get("decision_id") or "").startswith("d-bundle") else None
        banked = did is not None and ((not A) or _bankable(fb))
        rt.emit("bank" if banked else "withhold", "bundle", f"bundle {'banked' if banked else 'withheld'}" + (f": verdict {v or 'UNAUDITED'}" if A else ""),
                gate_id="bundle", decision_id=did, verdict=v)
        gates = _set_gate(st, GateOutcome(gate_id="bundle", scope="bundle", decision_id=did, attempts=st.get("attempts", {}).get("bundle", 0),
                                          verdict=v, banked=banked, unaudited_reason=fb.get("unaudited_reason")))
        return {"gates": gates, "banked": st.get("banked", []) + ([did] if banked and did else []), "phases_done": st.get("phases_done", []) + ["validate"]}

    def done(st: RunState) -> RunState:
        rt.emit("end", "done", "workflow finished" + (f": {st['halt']}" if st.get("halt") else ""))
        return {}

    # ------------------------------------------------------------ wiring
    nodes: dict[str, Callable[..., Any]] = dict(
        setup=setup, baseline=baseline, profile=profile, strategize=strategize, screen=screen, config_measure=config_measure,
        config_submit=config_submit, config_bank=config_bank, config_next=config_next, kernel=kernel, kernel_measure=kernel_measure,
        kernel_submit=kernel_submit, kernel_bank=kernel_bank, kernel_next=kernel_next, finalize=finalize,
        validate_leg=validate_leg, bundle_submit=bundle_submit, bundle_done=bundle_done, done=done)
    if A:
        nodes.update(audit_baseline=audit_baseline, audit_profile=audit_profile, audit_config=audit_config, audit_bundle=audit_bundle,
                     audit_harness=audit_harness, audit_kernel=audit_kernel)
    for name, fn in nodes.items():
        g.add_node(name, _checkpointed(rt, name, fn))
    g.add_edge(START, "setup")
    g.add_edge("setup", "baseline")
    if A:
        g.add_edge("baseline", "audit_baseline")
        g.add_conditional_edges("audit_baseline", route_baseline)
    else:
        g.add_edge("baseline", "profile")
    g.add_conditional_edges("profile", route_profile, ["audit_profile", "strategize", "done"] if A else ["strategize", "done"])
    if A:
        g.add_edge("audit_profile", "strategize")
    g.add_edge("strategize", "screen")
    g.add_conditional_edges("screen", route_screen)
    g.add_edge("config_measure", "config_submit")
    g.add_conditional_edges("config_submit", route_submit, ["audit_config", "config_bank", "config_measure", "config_next"] if A
                            else ["config_bank", "config_measure", "config_next"])
    if A:
        g.add_conditional_edges("audit_config", route_config)
    g.add_conditional_edges("config_bank", route_next)
    g.add_conditional_edges("config_next", route_next)
    g.add_conditional_edges("kernel", route_kernel, ["audit_harness", "finalize"] if A else ["kernel_measure", "finalize"])
    if A:
        g.add_conditional_edges("audit_harness", route_harness, ["kernel_measure", "kernel", "finalize"])
    g.add_edge("kernel_measure", "kernel_submit")
    g.add_conditional_edges("kernel_submit", route_kernel_submit, ["audit_kernel", "kernel_measure", "kernel_next"] if A
                            else ["kernel_bank", "kernel_measure", "kernel_next"])
    if A:
        g.add_conditional_edges("audit_kernel", route_kernel_gate)
    g.add_edge("kernel_bank", "finalize")
    g.add_edge("kernel_next", "finalize")
    g.add_conditional_edges("finalize", route_validate)
    g.add_conditional_edges("validate_leg", route_validate)
    g.add_conditional_edges("bundle_submit", route_bundle_submit, ["validate_leg", "audit_bundle", "bundle_done"] if A
                            else ["validate_leg", "bundle_done"])
    if A:
        g.add_conditional_edges("audit_bundle", route_bundle)
    g.add_edge("bundle_done", "done")
    g.add_edge("done", END)
    return g


def _checkpointed(rt: Runtime, name: str, fn: Callable[[RunState], RunState]) -> Callable[[RunState], RunState]:
    """Run a node, then rewrite summary.json so a crash leaves an honest account of progress."""

    def node(st: RunState) -> RunState:
        upd = fn(st)
        rt.summary({**st, **upd}, status="complete" if name == "done" else "running")  # type: ignore[typeddict-item]
        return upd

    node.__name__ = name
    return node


# ==================================================================== profile


def _profile_round(rt: Runtime, st: RunState) -> dict[str, Any]:
    """One profile round on the incumbent: capture, re-aggregate, route (none policy), submit.
    The profiler's routing claim is what the profile gate audits against the raw trace."""
    from geak.agents.profiler import op_breakdown, route

    rid = "round_1"
    status, reason = rt.profiles(rt.store, round_id=rid, cfg=LaunchConfig(**st["incumbent"]), workload=rt.workload)
    if status != "ok":
        rt.emit("error", "profile", f"profile round {rid} failed: {reason}")
        return {"routing": {"note": f"capture failed: {reason}"}}
    bd = op_breakdown(rt.store.path(f"profile/{rid}/trace.json.gz"))
    ph = rt.phase("profile")
    prop = route(bd, **({"min_share": ph.min_share} if ph is not None and ph.min_share else {}))
    rt.store.write_json(f"profile/{rid}/routing.json", prop.claim("trace.json.gz"))
    top = ", ".join(f"{f.family} {f.share:.0%}" for f in bd.families[:4])
    rt.emit("phase", "profile", f"profile {rid}: {top}; {prop.note}")
    did = "d-profile-1"
    _append_decision(rt.store, Decision(decision_id=did, gate_id="profile-1", scope="profile", producer="profiler", profile_round=rid))
    rt.emit("submit", "profile", f"profile-1: routes {[r.family for r in prop.routed] or 'nothing'}", gate_id="profile-1", decision_id=did)
    routing = {"round": rid, "note": prop.note, "routed": [r.family for r in prop.routed], "breakdown": prop.breakdown,
               "served_tokens": {r.family: _served_tokens(bd.family(r.family)) for r in prop.routed}}
    return {"routing": routing, "decision_id": did}


def _served_tokens(fam: Any, keep: int = 4) -> list[int]:
    """Token counts the routed family really ran with (the leading dim of its first input, from
    the trace's recorded shapes): the smallest, the largest and evenly spaced ones between."""
    seen = sorted({int(s.input_dims[0][0]) for s in (fam.shapes if fam else [])
                   if s.input_dims and isinstance(s.input_dims[0], list) and len(s.input_dims[0]) >= 2
                   and isinstance(s.input_dims[0][0], int) and s.input_dims[0][0] > 0})
    if len(seen) <= keep:
        return seen
    idx = sorted({round(i * (len(seen) - 1) / (keep - 1)) for i in range(keep)})
    return [seen[i] for i in idx]


# ==================================================================== gates


def _bankable(fb: dict[str, Any]) -> bool:
    v = fb.get("verdict")
    if v == "PASS":
        return True
    if v is None:
        return bool(fb.get("unaudited_reason"))  # the auditor failed: fail open
    if v == "FLAG":
        return set(fb.get("actions") or []) <= LABEL_ACTIONS
    return False


def _route_gate(st: RunState, gate: str, max_attempts: int, bank: str, retry: str, give_up: str) -> Any:
    fb = st.get("feedback") or {}
    if _bankable(fb):
        return bank
    if st.get("attempts", {}).get(gate, 0) < max_attempts:
        return retry
    return give_up


def _set_gate(st: RunState, g: GateOutcome) -> list[dict[str, Any]]:
    gates = [x for x in st.get("gates", []) if x["gate_id"] != g.gate_id]
    return gates + [g.model_dump(mode="json", exclude={"schema_version", "kind"})]


def _audit(rt: Runtime, st: RunState, gate: str, scope: str) -> RunState:
    """The auditor node: the code floor, then (with an LLM) a judgment that may only escalate."""
    did = st["decision_id"]
    judge = (lambda v, d: _llm_judgment(rt, st, v, d)) if rt.llm is not None and rt.llm_auditor else None
    v = audit_gate(rt.store, did, rt.policy, gate, judge=judge)
    bad = [f for f in v.findings if f.outcome in ("fail", "flag", "unchecked")]
    rt.emit("audit" if v.verdict is not None else "unaudited", f"audit_{scope}",
            f"{gate}: {v.verdict or 'UNAUDITED'}" + (f" ({', '.join(sorted({f.rule_id for f in bad}))})" if bad else "") +
            (f"; {v.unaudited_reason.splitlines()[0]}" if v.unaudited_reason else ""),
            gate_id=gate, decision_id=did, verdict=v.verdict, data={"actions": v.actions})
    fb = {"gate_id": gate, "verdict": v.verdict, "actions": list(v.actions), "unaudited_reason": v.unaudited_reason,
          "findings": [{"rule_id": f.rule_id, "scope": f.scope, "outcome": f.outcome, "action": f.action, "message": f.message,
                        "evidence": [str(e) for e in f.evidence]} for f in bad]}
    return {"feedback": fb}


def _recorded_verdict(rt: Runtime, gate: str, decision_id: str) -> str | None:
    v, _ = rt.store.read_json(history_file(gate, decision_id), AuditVerdict)
    return v.verdict if v is not None else None


def _llm_judgment(rt: Runtime, st: RunState, v: AuditVerdict, d: Decision) -> AuditVerdict:
    from geak.auditor.evidence.models import Finding

    ps = _prompt_state(rt, st, gate_id=v.gate_id, scope=v.scope, decision=d.model_dump(mode="json"),
                       deterministic_verdict=v.verdict,
                       deterministic_findings=[f.model_dump(mode="json") for f in v.findings if f.outcome != "n/a"],
                       evidence_files=sorted(str(p.relative_to(rt.store.root)) for p in rt.store.root.rglob("*")
                                             if p.is_file() and "legs" in p.parts)[:200])
    try:
        j = _llm(rt, "patch_auditor", AuditJudgment, ps)
    except Exception as e:  # a broken LLM auditor fails open, loudly; an objective FAIL still stands
        reason = f"LLM auditor failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        if v.verdict == "FAIL":
            return v.model_copy(update={"unaudited_reason": reason})
        return v.model_copy(update={"verdict": None, "unaudited_reason": reason})
    if SEVERITY[j.verdict] <= SEVERITY[v.verdict or "PASS"]:
        return v  # the judgment may escalate, never downgrade the floor
    extra = [Finding(rule_id=f.rule_id, scope=v.scope or "patch", outcome=f.outcome, action=f.action,  # type: ignore[arg-type]
                     message=f"[LLM judgment] {f.message}") for f in j.findings if f.outcome != "pass"]
    actions = list(dict.fromkeys(list(v.actions) + [f.action for f in extra]))
    return v.model_copy(update={"verdict": j.verdict, "findings": v.findings + extra, "actions": [a for a in actions if a != "pass"] or ["pass"]})


# ==================================================================== LLM plumbing


class BudgetSpent(RuntimeError):
    pass


def _llm(rt: Runtime, role: str, schema: type, state: dict[str, Any]) -> Any:
    from .llm import LLM_CALLS_FILE
    from .skills import render

    p = rt.store.path(LLM_CALLS_FILE)
    used = sum(1 for _ in p.open()) if p.exists() else 0
    if used >= rt.wf.budgets.llm_calls:
        raise BudgetSpent(f"the workflow's LLM budget of {rt.wf.budgets.llm_calls} calls is spent ({used} recorded)")
    prompt = render(role, state)
    return rt.llm.complete(role, [{"role": "user", "content": prompt}], schema)


def _producer(rt: Runtime, node: str, role: str, schema: type, state: dict[str, Any]) -> Any:
    """A producer's LLM answer, or None when it was rejected: invalid after the retries, the
    provider failing, or the budget spent. A replay miss is not a rejection: it propagates."""
    from .llm import InvalidOutput, LLMCallFailed

    try:
        return _llm(rt, role, schema, state)
    except (InvalidOutput, LLMCallFailed, BudgetSpent) as e:
        rt.emit("budget" if isinstance(e, BudgetSpent) else "error", node,
                f"{role}: answer rejected ({type(e).__name__}: {str(e).splitlines()[0]})")
        return None


def _measurements(rt: Runtime, ref: list[str], cand: list[str]) -> list[dict[str, Any]]:
    run = RunEvidence(rt.store)
    out = []
    for side, legs in (("reference", ref), ("candidate", cand)):
        for leg in legs:
            ld = run.leg(leg)
            vals = [v for v in ld.values("output_throughput")[0] if v is not None]
            lat = {}
            for metric in ("ttft_ms", "tpot_ms"):
                a = ld.pooled(metric)
                for q in (50, 99):
                    lat[f"p{q}_{metric}"] = round(float(stats.percentile(a, q)), 3) if len(a) else None
            out.append({"side": side, "leg_id": leg, "role": ld.launch.role if ld.launch else None,
                        "status": ld.launch.status if ld.launch else "missing",
                        "output_throughput_per_rep": [round(x, 3) for x in vals], "median": stats.median(vals), "latency": lat})
    return out


def _prompt_state(rt: Runtime, st: RunState, **kw: Any) -> dict[str, Any]:
    from geak.auditor.evidence.models import Manifest

    m, _ = rt.store.read_json("manifest.json", Manifest)
    pol, _ = effective_policy(RunEvidence(rt.store), rt.policy)
    base_vals = rt.values(st.get("baseline_legs", []))
    s: dict[str, Any] = {
        "run_id": st.get("run_id"), "model": m.model if m else None, "engine": rt.engine,
        "workload": rt.workload.model_dump(mode="json"), "invariants": (m.invariants if m else {}) or {},
        "noise_band_pct": round(pol.noise_band_pct, 3), "gate_id": None, "scope": None,
        "baseline": {"gate_id": "baseline", "legs": st.get("baseline_legs", []),
                     "claim": {"metric": "output_throughput", "reference_value": stats.median(base_vals)}},
        "current_config": st.get("incumbent", {}), "strategy": st.get("strategy"), "audit_feedback": None,
        "routing": None, "profile": None, "budget": {"max_legs": None, "max_llm_calls": rt.wf.budgets.llm_calls,
                                                      "max_fix_attempts": max(p.max_attempts for p in rt.wf.phases),
                                                      "wall_clock_s": rt.wf.budgets.wall_clock_s},
        "accepted_decisions": st.get("banked", []), "decision": None, "deterministic_verdict": None,
        "deterministic_findings": [], "evidence_files": [], "measurements": [], "candidate": None,
    }
    s.update(kw)
    return s


# ==================================================================== small helpers


def _harness_profile(st: RunState) -> str:
    """The served-shape profile of agents/kernels/specs.py for this model (shipped model, else GPU llama)."""
    return "tiny-arith" if "tiny-arith" in str(st["base_config"].get("model", "")) else "llama-gpu"


def _isolated_speedup(ob: Any) -> float | None:
    """The harness's speedup as the auditor derives it (H9), rounded: context only, never a headline."""
    from geak.auditor.checks.harness import op_speedup

    k = op_speedup(ob) if ob is not None else None
    return None if k is None else round(k, 3)


def _integrable(op: str) -> bool:
    from geak.agents.kernels.integrate import LAYERS

    return op in LAYERS


def _has_spec(op: str) -> bool:
    from geak.agents.kernels.specs import OPS

    return op in OPS


def _author(rt: Runtime, st: RunState, op: str, dev: str, tokens: list[int] | None, tried: list[dict[str, Any]]) -> tuple[str, str] | None:
    """Ask the kernel author for a candidate; write its source into the run directory. None: rejected."""
    from geak.agents.kernels.specs import spec_for

    spec = spec_for(op, _harness_profile(st), tokens=tokens)
    ps = _prompt_state(rt, st, op=op, op_spec={**spec.model_dump(mode="json"), "device": dev}, candidates=tried)
    kc = _producer(rt, "kernel", "kernel_author", KernelCandidate, ps)
    if kc is None:
        return None
    n = len(tried)
    rel = f"kernels/{op}/{kc.name}_a{n}.py"  # one file per attempt: an earlier candidate is never overwritten
    rt.store.write_text(rel, kc.source if kc.source.endswith("\n") else kc.source + "\n")
    rt.emit("submit", "kernel", f"kernel author: {kc.name} ({kc.language}) -> {rel}" +
            (f"; expected {kc.expected_speedup.value}x ({kc.expected_speedup.basis})" if kc.expected_speedup else ""))
    # run-relative in state, prompts and records: a replay elsewhere must render the same prompts
    return f"{rel}:{kc.entry_point}", kc.name


def _opbench_brief(ob: Any, candidate: str) -> dict[str, Any]:
    """What an LLM needs of a harness record: not its thousands of raw times."""
    d = ob.model_dump(mode="json", include={"op", "baseline_backend", "candidate_backend", "served_shapes", "timed_shapes",
                                            "correctness", "oracle", "status"})
    return {**d, "candidate": candidate, "isolated_speedup": _isolated_speedup(ob)}


def _in_run(rt: Runtime, candidate: str) -> str:
    """A run-relative candidate file (``kernels/<op>/x.py:fn``) as the path a subprocess can load;
    a module name (a template) as it is."""
    path, _, fn = candidate.rpartition(":")
    return f"{rt.store.path(path)}:{fn}" if path.endswith(".py") and not path.startswith("/") else candidate


def _archive_op(store: RunStore, op: str, candidate: str) -> None:
    """Move an earlier candidate's harness record aside (ops/_attempts/) so the next one is measured;
    the record of the same candidate (a resumed node) stays where it is."""
    import shutil

    from .legs import recorded_candidate

    if not store.path(f"ops/{op}/opbench.json").exists():
        return
    if recorded_candidate(store.path(f"ops/{op}")) != candidate:
        dest = store.path(f"ops/_attempts/{op}-{int(time.time() * 1000)}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(store.path(f"ops/{op}")), str(dest))


def _over_budget(rt: Runtime, st: RunState) -> bool:
    return time.time() - st.get("started_at", time.time()) > rt.wf.budgets.wall_clock_s


def _write_bundle(rt: Runtime, st: RunState) -> None:
    """bundle/: the launch config of the baseline and of the bundle, and a launch script for each."""
    import json
    import shlex
    import sys

    from geak.agents.engines.base import get_engine

    ad = get_engine(rt.engine)
    for name, cfg in (("baseline", st["base_config"]), ("bundle", st["incumbent"])):
        lc = LaunchConfig(**cfg)
        rt.store.write_text(f"bundle/{name}.json", json.dumps(lc.knobs(), indent=2, sort_keys=True) + "\n")
        argv = ad.server_argv(lc, 8000, sys.executable)
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(ad.server_env(lc).items()))
        rt.store.write_text(f"bundle/{'launch' if name == 'bundle' else 'launch_baseline'}.sh",
                            "#!/bin/sh\n# written by geak: the " + name + " configuration; banked decisions: "
                            + (", ".join(st.get("banked", [])) or "none") + "\nexec env " + env + " " + shlex.join(argv) + ' "$@"\n')
