"""The kernel track's op library: op specs with float64 references, templates (CPU + Triton),
author-independent oracles, and the op harness that writes ops/<op>/opbench.json.

Dependency direction: this package imports geak.auditor.evidence (the contract) and torch;
Triton only inside GPU template modules, at call time.
"""
