"""Deterministic checks, one module per scope. Importing this package fills the registry."""

# registration side effects: importing each module fills the registry
from . import (  # noqa: F401
    baseline,
    bundle,
    engagement,
    experiments,
    harness,
    harness_served,
    isolated,
    latency,
    launch,
    lifetime,
    patch,
    profile,
    quality,
    seal,
    witness,
)
from .registry import RULES, GateContext, Rule, get_rule, rules_for, sorted_rule_ids

__all__ = ["RULES", "GateContext", "Rule", "get_rule", "rules_for", "sorted_rule_ids"]
