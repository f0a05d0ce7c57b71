"""Audit thresholds. Starting points from FAILURES.md; a workflow or `--policy FILE` overrides them.

The noise band is the one number everything else is measured against. Its default is a
placeholder that a run replaces with a measured A/A band (see bench/); a verdict records
the policy it was judged under so it can be reproduced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field


class AuditPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine_baseline_slack: float = Field(
        1.25,
        description="H12: how much slower than the engine's own kernels (the run's profile trace) a harness "
        "baseline may time at a step size before its speedup is not the engine's (cold L2 costs some)",
    )
    noise_band_pct: float = Field(0.5, description="declared A/A noise band of the headline metric, percent")
    noise_band_unknown: str | None = Field(
        None,
        description="set by the auditor, not by a policy file: why the run's declared A/A legs give no band "
        "(B1/P3/F1 then FLAG: a band that cannot be measured is never narrowed to the default)",
    )
    noisy_factor: float = Field(3.0, description="B1: spread > factor x band is noisy")
    warmup_mad_k: float = Field(5.0, description="B2: first rep beyond median +- k*MAD(rest)")
    min_counted_reps: int = 3
    require_warmup_rep: bool = True
    max_load_per_core: float = Field(0.5, description="B5 on CPU hosts: 1-min load / cores above this is contention")
    max_shared_core_load: float = Field(
        0.25,
        description="B5 on a core set (concurrent legs): CPU that processes other than the leg's own (an unpinned "
        "sibling leg, a foreign process) used on the leg's cores, per core of the set; above this the pair was contended",
    )
    concurrent_overlap_s: float = Field(
        1.0, description="B5: two legs whose start-to-end times overlap by more than this ran at the same time"
    )
    clock_tolerance_pct: float = 5.0
    rounding_rel: float = Field(0.005, description="P2: reported vs raw agree within this relative error")
    min_reps_for_test: int = Field(
        5, description="P3: reps per side before a significance test may replace non-overlap"
    )
    alpha: float = 0.05
    pair_min_evenness: float = Field(
        0.8,
        description="P3 paired (crossover): two reps run at once pair up when they ran at least this evenly (the share of the "
        "shorter rep the other covered, less their start offset over it: evidence/pairing.evenness); a matched pair below it "
        "is dropped and counted",
    )
    min_pairs: int = Field(6, description="P3 paired: verified pairs needed before the per-pair claim can be judged")
    paired_noise_band_pct: dict[str, float] = Field(
        default_factory=dict,
        description="set by the auditor, not by a policy file: design -> the paired A/A band the run's "
        "A/A legs of that design give (auditor/noise.py)",
    )
    paired_noise_band_unknown: dict[str, str] = Field(
        default_factory=dict, description="set by the auditor: design -> why the declared paired A/A legs give no band"
    )
    latency_tolerance_pct: float = Field(5.0, description="P7: latency percentile may worsen by this much")
    latency_percentiles: list[float] = Field(default_factory=lambda: [50.0, 99.0])
    latency_degenerate_ms: float = Field(
        0.1,
        description="P7: a reference percentile below this is not a latency (tokens arrived in one stream chunk); not compared",
    )
    min_samples_per_tail_pct: float = Field(
        1.0,
        description="P7: a percentile q is compared only with >= this many samples beyond it on each side "
        "(p99 needs >= 100 requests: below that it is just the max)",
    )
    min_byte_parity: float = Field(1.0, description="P9: fraction of byte-identical greedy outputs required")
    coherence_min_accuracy: float = Field(0.5, description="P9: reference exact match above this = coherent")
    accuracy_tolerance_pct_points: float = Field(1.0, description="F4/P9: accuracy may drop by this many points")
    min_cosine: float = 0.99
    caching_ratio: float = Field(1.10, description="F2: audit/reference throughput at or above this = caching")
    caching_ratio_single_stream: float = 1.20
    routing_share_tolerance: float = Field(0.05, description="R1: |claimed - trace| share, absolute")
    routing_top_k: int = 5
    tolerances: dict[str, float] = Field(
        default_factory=lambda: {
            "fp32": 1e-5,
            "float32": 1e-5,
            "bf16": 1e-3,
            "bfloat16": 1e-3,
            "fp16": 1e-3,
            "float16": 1e-3,
            "fp8": 1e-2,
            "float8": 1e-2,
        }
    )
    max_plausible_speedup: float = 10.0
    min_event_wall_ratio: float = Field(0.5, description="H4: event time < ratio x wall time = escaped work")
    min_timed_ms: float = Field(100.0, description="H10: adaptive iterations reach this much timed time")
    witness_below_rel: float = Field(
        0.02,
        description="W1: the client's latency sums and percentiles may be this far below the engine's "
        "(the client times every request from before it is sent to after its last byte, so it never sees less). "
        "There is no upper bound: a busy client or API server adds any amount (measured 1.03-31x on vLLM-on-CPU)",
    )
    unchecked_is_flag: bool = Field(True, description="a rule that could not be checked never counts as passed")

    @classmethod
    def load(cls, path: str | Path | None) -> AuditPolicy:
        if path is None:
            return cls()
        data: Any = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of policy fields")
        return cls.model_validate(data)
