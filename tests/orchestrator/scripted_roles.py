"""Scripted answers for geak's LLM roles, read off the prompts geak renders: what "the LLM"
says in the tests and in the shipped recording runs/recorded/tiny-cpu-llm (recorded with
scripts/record_llm_run.py against fake_openai.FakeOpenAI).

The strategist plans one config candidate; the config tuner and the finalizer claim what the
Measurements table of their prompt shows (optionally inflated, to play a producer that
misreports); the auditor agrees with the code floor unless its prompt carries ESCALATE, a line
an edited patch_auditor template can add, and then FLAGs the gate with a cited finding.
"""

from __future__ import annotations

import json
import re
import statistics
from typing import Any
from collections.abc import Callable

from geak.agents.roles.answers import declared_for

# a line an edited auditor prompt may carry; the scripted auditor then escalates to FLAG
ESCALATE = "Escalate every config win to FLAG"

PLAN = {
    "plan": [
        {
            "id": "s1",
            "track": "config",
            "knob": "max_num_seqs",
            "values": [32],
            "lever_class": "config",
            "why": "decode batch capped at 4 below the client's concurrency of 32",
        }
    ]
}


def prompt(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def role(body: dict) -> str:
    m = re.search(r"geak role `(\w+)`", prompt(body))
    assert m, prompt(body)[:200]
    return m.group(1)


def measured(body: dict) -> dict[str, list]:
    """(side -> [(leg, values)]) parsed from the Measurements table of the prompt."""
    out: dict[str, list] = {"reference": [], "candidate": [], "audit": []}
    for ln in prompt(body).splitlines():
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in out and cells[1].startswith("`"):
            out[cells[0]].append((cells[1].strip("`"), json.loads(cells[4])))
    return out


def gate(body: dict) -> str:
    return re.search(r"gate: `([^`]+)`", prompt(body)).group(1)


def regressions(body: dict) -> list[str]:
    """Latency percentiles worse on every candidate leg than on the first reference leg, from the prompt."""
    lat = {
        leg: dict(kv.split("=") for kv in rest.split(", "))
        for leg, rest in re.findall(r"^- `([^`]+)`: (p\d.*)$", prompt(body), re.M)
    }
    m = measured(body)
    ref = lat[m["reference"][0][0]]
    out = set()
    for leg, _ in m["candidate"]:
        out |= {
            k for k, v in lat[leg].items() if v != "unknown" and ref[k] != "unknown" and float(v) > float(ref[k]) * 1.05
        }
    return sorted(out)


def honest(body: dict, inflate: float = 1.0) -> dict:
    m = measured(body)
    ref = [v for _, vs in m["reference"] for v in vs]
    cand = [v for _, vs in m["candidate"] for v in vs]
    r, c = statistics.median(ref), statistics.median(cand) * inflate
    return {
        "reference_legs": [x for x, _ in m["reference"]],
        "candidate_legs": [x for x, _ in m["candidate"]],
        "declared_regressions": regressions(body),
        "claim": {
            "metric": "output_throughput",
            "reference_value": round(r, 3),
            "candidate_value": round(c, 3),
            "delta_pct": round((c - r) / r * 100, 2),
            "non_overlap": min(cand) * inflate > max(ref),
        },
    }


def judgment(body: dict) -> str:
    """The auditor: the floor's verdict, or FLAG on a patch gate when the prompt says ESCALATE."""
    p = prompt(body)
    g = gate(body)
    scope = re.search(r"scope: \*\*(\w+)\*\*", p).group(1)
    floor = (re.search(r"Deterministic verdict: \*\*(\w+)\*\*", p) or [None, "PASS"])[1]
    if ESCALATE in p and scope == "patch" and floor == "PASS":
        return json.dumps(
            {
                "gate_id": g,
                "scope": scope,
                "verdict": "FLAG",
                "actions": ["flag"],
                "findings": [
                    {
                        "rule_id": "J1",
                        "outcome": "flag",
                        "action": "flag",
                        "evidence": [f"audits/{g}.json"],
                        "message": "one A/A leg cannot bound launch-to-launch noise for a +60% claim",
                    }
                ],
                "summary": "escalated by the edited prompt",
            }
        )
    return json.dumps(
        {
            "gate_id": g,
            "scope": scope,
            "verdict": floor if floor in ("PASS", "FLAG", "FAIL") else "PASS",
            "findings": [],
            "actions": [],
            "summary": "agrees with the deterministic findings",
        }
    )


def script(
    tuner_inflate: list[float] = (),
    auditor: str | None = None,
    tuner: str | None = None,
    plan: dict[str, Any] | None = None,
) -> Callable[[dict, Any], Any]:
    """Reply by role: the strategist's plan; the config tuner's claims (inflated by the given
    factors, one per submission, then honest); the finalizer honest; the auditor as given, or
    judgment() when auditor == "judge"."""
    state = {"tuner": 0}

    def reply(body, headers):
        r = role(body)
        if r == "strategist":
            return json.dumps(plan or PLAN)
        if r == "config_tuner" and tuner is not None:
            return tuner
        if r == "config_tuner":
            i = state["tuner"]
            state["tuner"] += 1
            f = tuner_inflate[i] if i < len(tuner_inflate) else 1.0
            knob, val = next(iter(_candidate(body).items()))
            return json.dumps(
                {
                    "gate_id": gate(body),
                    "knob": knob,
                    "candidate_config": {knob: val},
                    "declared_knobs": declared_for(knob),
                    "declared_levers": {knob: "config"},
                    **honest(body, f),
                    "fixes": [] if i == 0 else [{"rule_id": "P2", "change": "reported the raw medians"}],
                }
            )
        if r == "finalizer":
            audit = [x for x, _ in measured(body)["audit"]]
            return json.dumps(
                {
                    "gate_id": "bundle",
                    "accepted_decisions": [],
                    **honest(body),
                    "audit_legs": audit,
                    "prefix_cache_flushed": True,
                }
            )
        if r == "patch_auditor":
            if auditor == "judge":
                return judgment(body)
            return auditor if auditor is not None else (500, {"error": {"message": "no auditor scripted"}})
        raise AssertionError(r)

    return reply


def _candidate(body: dict) -> dict[str, Any]:
    """The knob and value under test, from the gate id config-<knob>-<value>."""
    m = re.fullmatch(r"config-(\w+?)-(.+)", gate(body))
    assert m, gate(body)
    v: Any = m.group(2)
    try:
        v = json.loads(v)
    except ValueError:
        pass
    return {m.group(1): v}
