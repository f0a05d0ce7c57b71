"""The auditor's public face: what the rest of geak (the orchestrator, the agents, bench/) may call.

Producers build evidence with the contract (geak.auditor.evidence: models, store, layout, loader,
ledger, normalize, metrics) and use the auditor's verdicts, bands and classifications only through
here, never through a rule module: a rule's internals can then change without a producer noticing,
and a producer cannot come to depend on how a rule decides (tests/auditor/test_public_api.py
holds every import to it). The commands' own modules (audit_cmds: coverage, backtest, importers,
runpack, policy, schema) and the pure helpers (stats, scoring) are public too.
"""

from __future__ import annotations

from .aa_pairs import sequences, span_of
from .audit import audit_decision, audit_file, audit_gate, audit_run, audit_stem, history_file, latest_per_gate
from .checks import RULES, sorted_rule_ids
from .checks.harness import op_speedup
from .checks.engine_time import step_tokens_of
from .checks.op_classes import DEVICE_CATS, FUSED_ALSO, device_name, launch_ops, op_family, op_share
from .noise import aa_band_pct, effective_policy, paired_bands
from .paired import PairedResult, derive as derive_pairs
from .paired import band_pct as paired_band_pct
from .paired import clears as paired_clears

__all__ = [
    "DEVICE_CATS",
    "FUSED_ALSO",
    "PairedResult",
    "RULES",
    "aa_band_pct",
    "audit_decision",
    "audit_file",
    "audit_gate",
    "audit_run",
    "audit_stem",
    "derive_pairs",
    "device_name",
    "effective_policy",
    "history_file",
    "latest_per_gate",
    "launch_ops",
    "op_family",
    "op_share",
    "op_speedup",
    "paired_band_pct",
    "paired_bands",
    "paired_clears",
    "sequences",
    "sorted_rule_ids",
    "span_of",
    "step_tokens_of",
]
