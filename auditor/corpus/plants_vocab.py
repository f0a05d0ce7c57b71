"""Plants of a producer choosing a value the auditor reads (issue 32): the claim's metric and its
direction. The metric is a free string in decisions.jsonl; a name that is an attribute of the
auditor's own objects (a rep's line number, its record, a method, a dunder) or a tool aggregate
that is a count, not a measurement, once made a rule throw (UNAUDITED, banked by fail-open) or
compared line numbers and PASSed. The tool's bytes are untouched: only the claim names the metric.
"""

from __future__ import annotations

from .plants import Plant, _claim, plant

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
    plant(Plant(f"v_metric_{slug}", ("P1",), f"the config tuner's claim names metric {name!r} ({why})",
                {"config-accept-1": ("FAIL", ["P1"])}, decisions_mod=_claim("d-cfg-1", metric=name), source="issue 32", tags=TAG))

plant(Plant("v_metric_on_the_baseline", ("P1",), "the baseline's claim names metric 'arrays' (the rep's per-request arrays)",
            {"baseline": ("FAIL", ["P1"])}, decisions_mod=_claim("d-baseline", metric="arrays"), source="issue 32", tags=TAG))
plant(Plant("v_metric_on_the_bundle", ("P1",), "the bundle's claim names metric 'errors' (a list the auditor keeps per rep)",
            {"bundle": ("FAIL", ["P1"])}, decisions_mod=_claim("d-bundle", metric="errors"), source="issue 32", tags=TAG))
plant(Plant("v_direction_flipped", ("P1",), "the claim says output_throughput is lower-is-better: a slower candidate would read as a win",
            {"config-accept-1": ("FAIL", ["P1"])}, decisions_mod=_claim("d-cfg-1", higher_is_better=False), source="issue 32", tags=TAG))
