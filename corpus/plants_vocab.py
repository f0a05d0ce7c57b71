"""Plants of a producer choosing a value the auditor reads (issue 32): the claim's metric and its
direction, and integers in the tool's own file that no tool writes. The metric is a free string in decisions.jsonl; a name that is an attribute of the
auditor's own objects (a rep's line number, its record, a method, a dunder) or a tool aggregate
that is a count, not a measurement, once made a rule throw (UNAUDITED, banked by fail-open) or
compared line numbers and PASSed. The tool's bytes are untouched: only the claim names the metric.
"""

from __future__ import annotations

from .plants import Plant, _claim, plant
from .plants_tamper import BOTH_CFG, CFG, _each_rep
from geak.auditor.evidence.layout import SERVER_LOG, leg_file

TAG = ("vocabulary",)

# name -> why a producer might choose it
HOSTILE_METRICS = {
    "rep": "the rep's own record object: a rule once threw on it",
    "line": "the rep's line number in bench_runs.jsonl: P3 once compared line numbers",
    "value": "a method of the rep",
    "__class__": "a dunder every object has",
    "completed": "a count the tool reports, not a measurement of speed",
}

for name, why in HOSTILE_METRICS.items():
    slug = name.strip("_").replace("_", "") or "dunder"
    plant(
        Plant(
            f"v_metric_{slug}",
            ("P1",),
            f"the config tuner's claim names metric {name!r} ({why})",
            {"config-accept-1": ("FAIL", ["P1"])},
            decisions_mod=_claim("d-cfg-1", metric=name),
            source="issue 32",
            tags=TAG,
        )
    )

plant(
    Plant(
        "v_metric_on_the_baseline",
        ("P1",),
        "the baseline's claim names metric 'arrays' (the rep's per-request arrays)",
        {"baseline": ("FAIL", ["P1"])},
        decisions_mod=_claim("d-baseline", metric="arrays"),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "v_metric_on_the_bundle",
        ("P1",),
        "the bundle's claim names metric 'errors' (a list the auditor keeps per rep)",
        {"bundle": ("FAIL", ["P1"])},
        decisions_mod=_claim("d-bundle", metric="errors"),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "v_direction_flipped",
        ("P1",),
        "the claim says output_throughput is lower-is-better: a slower candidate would read as a win",
        {"config-accept-1": ("FAIL", ["P1"])},
        decisions_mod=_claim("d-cfg-1", higher_is_better=False),
        source="issue 32",
        tags=TAG,
    )
)


# ---------------------------------------------------------------- numbers no tool writes (issue 32)


def _raw_only(leg: str, rep: int, fn):
    """Edit the tool's file alone (geak's normalized copy keeps the honest numbers): P2 sees the two part."""

    def f(s) -> None:
        import json

        p = s.path(f"legs/{leg}/raw/rep_{rep}.json")
        obj = json.loads(p.read_text())
        fn(obj)
        p.write_text(json.dumps(obj, separators=(",", ":")) + "\n")

    return f


plant(
    Plant(
        "v_huge_count",
        ("P1", "P2"),
        "the tool's count of completed requests is 10**400 in one rep (it overflowed every rule that read it)",
        {g: ("FAIL", ["P1", "P2"]) for g in BOTH_CFG},
        after=_raw_only(CFG, 1, lambda o: o.update(completed=10**400)),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "v_huge_array_entry",
        ("P1", "P2"),
        "one request's output length is 2**70 in the tool's per-request array",
        {g: ("FAIL", ["P1", "P2"]) for g in BOTH_CFG},
        after=_raw_only(CFG, 2, lambda o: o["output_lens"].__setitem__(3, 2**70)),
        source="issue 32",
        tags=TAG,
    )
)


# ---------------------------------------------------------------- a scope chosen by the decision (issue 32)


def _scope(did: str, scope: str):
    def f(ds) -> None:
        ds[did].scope = scope

    return f


plant(
    Plant(
        "v_scope_patch_as_baseline",
        ("P1", "P3"),
        "the config decision, 0.3% faster (inside the band), says scope 'baseline': "
        "the baseline rules would look at its reference alone and never weigh the candidate",
        {"config-accept-1": ("FAIL", ["P1", "P3"])},
        legs_mod=lambda legs: setattr(legs["cfg_seqs512"], "tput", legs["baseline"].tput * 1.003),
        decisions_mod=_scope("d-cfg-1", "baseline"),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "v_scope_patch_as_harness",
        ("P1",),
        "the kernel's integration decision says scope 'harness': only the op record's rules would run",
        {"integrate-rmsnorm": ("FAIL", ["P1"])},
        decisions_mod=_scope("d-integrate-rmsnorm", "harness"),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "v_scope_bundle_as_patch",
        ("P1",),
        "the bundle decision says scope 'patch': its validation legs would skip the "
        "bundle's interleaving and caching checks",
        {"bundle": ("FAIL", ["P1"])},
        decisions_mod=_scope("d-bundle", "patch"),
        source="issue 32",
        tags=TAG,
    )
)


# ---------------------------------------------------------------- evidence others wrote (issue 32)


def _empty_successes(o) -> None:
    """Two requests the tool counts completed that served nothing: 0 output tokens, TTFT 0.0."""
    for i in (3, 7):
        o["output_lens"][i], o["ttfts"][i], o["latencies"][i], o["itls"][i] = 0, 0.0, 0.0, []
    # the tool's own aggregates as it computes them: the empties add no tokens, and count as completed
    o["total_output_tokens"] = sum(o["output_lens"])
    o["output_throughput"] = o["total_output_tokens"] / o["duration"]
    o["total_token_throughput"] = (o["total_output_tokens"] + o["total_input_tokens"]) / o["duration"]


plant(
    Plant(
        "v_empty_successes",
        ("P11", "P3"),
        "the candidate's tool counts two requests per rep completed that served nothing "
        "(0 output tokens, TTFT 0.0): counted, they pull its mean TTFT down; they are failures, and without their tokens "
        "the candidate is slower (P3)",
        {"config-accept-1": ("FAIL", ["P11", "P3"])},
        after=_each_rep(CFG, _empty_successes),
        source="issue 32",
        tags=TAG,
    )
)


SEQS512_LEGS = ("cfg_seqs512", "kernel_rmsnorm", "val_final_1", "val_final_2", "caching_audit")


def _derived_budget(legs) -> None:
    for lid in SEQS512_LEGS:
        legs[lid].resolved = {**legs[lid].resolved, "scheduler_config.max_num_batched_tokens": 4096}


def _not_in_args(s) -> None:
    """The engine derived it: its non-default args line shows only what was set."""
    for lid in SEQS512_LEGS:
        p = s.path(leg_file(lid, SERVER_LOG))
        p.write_text(p.read_text().replace(", 'max_num_batched_tokens': 4096", ""))


plant(
    Plant(
        "v_derived_budget_is_the_knobs",
        (),
        "the config candidate declares max_num_seqs only; the engine derived a smaller "
        "token budget from it (max_num_batched_tokens 8192 -> 4096 in its server info, absent from its non-default args): "
        "the knob's consequence, not an undeclared confound (clean)",
        {},
        legs_mod=_derived_budget,
        after=_not_in_args,
        source="issue 32",
        tags=TAG,
    )
)
