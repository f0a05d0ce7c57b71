"""geak: LLM-serving optimisation with an independent auditor."""

__version__ = "0.1.0"
