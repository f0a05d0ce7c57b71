"""The independent auditor: evidence contract, deterministic checks, verdicts. Imports nothing of geak outside itself."""

__version__ = "0.1.0"
