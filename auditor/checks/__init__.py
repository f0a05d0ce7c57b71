"""Deterministic checks, one module per scope. Importing this package fills the registry."""

from . import baseline, bundle, engagement, experiments, harness, isolated, latency, launch, lifetime, patch, profile, quality, seal, witness  # noqa: F401  (registration side effects)
from .registry import RULES, GateContext, Rule, get_rule, rules_for, sorted_rule_ids

__all__ = ["RULES", "GateContext", "Rule", "get_rule", "rules_for", "sorted_rule_ids"]
