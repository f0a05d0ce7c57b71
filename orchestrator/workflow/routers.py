"""Where the graph goes after a node: pure functions of the state and the run's fixed settings.

No router reads the clock, the disk or emits an event; what they need to know (a spent budget,
a verdict, a bound) is in the state or in RouteSettings, so each is unit-tested on plain dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from collections.abc import Mapping

from . import ids
from .gate import bankable, route_gate
from .state import RunState


@dataclass(frozen=True)
class RouteSettings:
    use_auditor: bool
    bounds: Mapping[str, int] = field(default_factory=dict)  # phase -> max attempts at its gate
    screening: bool = False  # the config phase screens candidates with short legs first
    llm: bool = False  # roles answer through an LLM (a rejected kernel goes back to its author)
    integrable: frozenset[str] = frozenset()  # ops the engine integration can plug in
    fail_open: bool = True  # workflow auditor.fail_open_on_error: an unjudged gate banks

    def bound(self, phase: str) -> int:
        return self.bounds.get(phase, 1)


def route_baseline(st: RunState, s: RouteSettings) -> Literal["baseline", "baseline_done"]:
    """The one re-measure rule (geak run and geak baseline alike): measure the baseline again, with
    more reps, while the verdict asks for it (an action "remeasure": too few or noisy reps, a
    contended host, an unknown band) and nothing ejects it, up to the bound. A FAIL that ejects
    (a handicapped launch, a drifted claim) is the configuration's, and measuring it again
    cannot cure it; a label-only FLAG stands as it is."""
    fb = st.get("feedback") or {}
    acts = set(fb.get("actions") or [])
    again = fb.get("verdict") in ("FLAG", "FAIL") and "remeasure" in acts and "eject" not in acts
    return (
        "baseline"
        if again and st.get("attempts", {}).get(ids.BASELINE_GATE, 0) < s.bound("baseline")
        else "baseline_done"
    )


def route_baseline_done(st: RunState, s: RouteSettings) -> Literal["profile", "done"]:
    return "done" if st.get("halt") else "profile"


def route_profile(st: RunState, s: RouteSettings) -> Literal["audit_profile", "strategize"]:
    return "audit_profile" if s.use_auditor and ids.is_profile_decision(st.get("decision_id")) else "strategize"


def route_screen(st: RunState, s: RouteSettings) -> Literal["screen", "config_measure", "kernel"]:
    if s.screening and any(c["cid"] not in st.get("screened", {}) for c in st.get("candidates", [])):
        return "screen"
    return "config_measure" if st.get("promoted") else "kernel"


def route_submit(
    st: RunState, s: RouteSettings
) -> Literal["audit_config", "config_bank", "config_measure", "config_next"]:
    prop = st.get("proposal") or {}
    if prop.get("withdraw"):
        return "config_next"
    if prop.get("remeasure"):
        gate = ids.config_gate(str(st.get("current")))
        return "config_measure" if st.get("measure_rounds", {}).get(gate, 0) < s.bound("config_tune") else "config_next"
    return "audit_config" if s.use_auditor else "config_bank"


def route_config(st: RunState, s: RouteSettings) -> Literal["config_bank", "config_submit", "config_next"]:
    return route_gate(
        st,
        ids.config_gate(str(st.get("current"))),
        s.bound("config_tune"),
        "config_bank",
        "config_submit",
        "config_next",
        s.fail_open,
    )


def route_next(st: RunState, s: RouteSettings) -> Literal["config_measure", "kernel"]:
    return "config_measure" if st.get("promoted") and not st.get("budget_spent") else "kernel"


def route_kernel(st: RunState, s: RouteSettings) -> Literal["audit_harness", "kernel_measure", "finalize"]:
    if not ids.is_harness_decision(st.get("decision_id")):
        return "finalize"
    if s.use_auditor:
        return "audit_harness"
    kn = st.get("kernel") or {}
    return "kernel_measure" if kn.get("harness_status") == "ok" and kn.get("op") in s.integrable else "finalize"


def route_harness(st: RunState, s: RouteSettings) -> Literal["kernel_measure", "kernel", "finalize"]:
    kn = st.get("kernel") or {}
    if kn.get("harness_ok"):
        return "kernel_measure" if kn.get("op") in s.integrable else "finalize"
    # a rejected candidate goes back to its author with the findings; a template cannot change
    if s.llm and st.get("attempts", {}).get(ids.harness_gate(str(kn.get("op"))), 0) < s.bound("kernel"):
        return "kernel"
    return "finalize"


def route_kernel_submit(
    st: RunState, s: RouteSettings
) -> Literal["audit_kernel", "kernel_bank", "kernel_measure", "kernel_next"]:
    prop = st.get("proposal") or {}
    gate = ids.kernel_gate(str((st.get("kernel") or {}).get("op")))
    if not prop.get("submitted"):
        if prop.get("remeasure") and st.get("measure_rounds", {}).get(gate, 0) < s.bound("kernel"):
            return "kernel_measure"
        return "kernel_next"
    if s.use_auditor:
        return "audit_kernel"
    return "kernel_next" if prop.get("withdraw") else "kernel_bank"


def route_kernel_gate(st: RunState, s: RouteSettings) -> Literal["kernel_bank", "kernel_submit", "kernel_next"]:
    fb = st.get("feedback") or {}
    if (st.get("proposal") or {}).get("withdraw"):
        return "kernel_next"  # a submitted rejection is audited for the record, never banked
    if bankable(fb, s.fail_open):
        return "kernel_bank"
    if "eject" in (fb.get("actions") or []):
        return "kernel_next"  # ejected: measuring the same candidate again cannot cure it
    gate = ids.kernel_gate(str((st.get("kernel") or {}).get("op")))
    return "kernel_submit" if st.get("attempts", {}).get(gate, 0) < s.bound("kernel") else "kernel_next"


def route_validate(st: RunState, s: RouteSettings) -> Literal["validate_leg", "bundle_submit", "done"]:
    if not st.get("val_legs"):
        return "done"
    return "validate_leg" if any(x[0] not in st.get("val_done", []) for x in st["val_legs"]) else "bundle_submit"


def route_bundle_submit(st: RunState, s: RouteSettings) -> Literal["validate_leg", "audit_bundle", "bundle_done"]:
    prop = st.get("proposal") or {}
    if prop.get("rejected"):
        return "bundle_done"
    if prop.get("remeasure"):
        return "validate_leg" if st.get("attempts", {}).get(ids.BUNDLE_GATE, 0) < s.bound("validate") else "bundle_done"
    return "audit_bundle" if s.use_auditor else "bundle_done"


def route_bundle(st: RunState, s: RouteSettings) -> Literal["bundle_done", "bundle_submit"]:
    return route_gate(
        st, ids.BUNDLE_GATE, s.bound("validate"), "bundle_done", "bundle_submit", "bundle_done", s.fail_open
    )
