"""Secret redaction for everything an LLM call writes to a run directory.

``redact(obj)`` returns a copy of ``obj`` in which every string (dict keys and values, list
and tuple items, recursively) has its secrets replaced by ``[REDACTED]``:

- the value of every environment variable whose name ends with ``_API_KEY``, ``_TOKEN`` or
  ``_SECRET`` and is longer than 8 characters (read at call time, so a key exported after
  import is still caught);
- any extra literal secrets the caller passes (the LLM client passes the key it uses);
- well-known key shapes: OpenAI ``sk-...`` / Anthropic ``sk-ant-...``, AWS ``AKIA...``,
  ``Bearer <token>``, GitHub ``ghp_...`` and friends, Slack ``xox?-...``.

Non-string scalars are returned unchanged. The function never raises on odd input.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"
SECRET_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET")
MIN_SECRET_LEN = 9  # "longer than 8 characters"

# Order matters only for readability; each pattern replaces its whole match.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer " + REDACTED),
    (re.compile(r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{16,}"), REDACTED),
    (re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{16,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}\b"), REDACTED),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"), REDACTED),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), REDACTED),
)


def secret_env_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of secret-named environment variables, longest first (so a key that contains
    another key is replaced whole)."""
    env = os.environ if env is None else env
    vals = {
        v
        for k, v in env.items()
        if k.upper().endswith(SECRET_ENV_SUFFIXES) and isinstance(v, str) and len(v) >= MIN_SECRET_LEN
    }
    return sorted(vals, key=len, reverse=True)


def _literals(extra: Iterable[str] | None, env: Mapping[str, str] | None) -> list[str]:
    lits = set(secret_env_values(env))
    for s in extra or ():
        if isinstance(s, str) and len(s) >= MIN_SECRET_LEN:
            lits.add(s)
    return sorted(lits, key=len, reverse=True)


def redact_text(text: str, literals: list[str] | None = None) -> str:
    """Redact one string; ``literals`` defaults to the secret-named environment values."""
    if not text:
        return text
    for lit in secret_env_values() if literals is None else literals:
        if lit in text:
            text = text.replace(lit, REDACTED)
    for pat, repl in _PATTERNS:
        text = pat.sub(repl, text)
    return text


def redact(obj: Any, *, extra_secrets: Iterable[str] | None = None, env: Mapping[str, str] | None = None) -> Any:
    """A redacted copy of ``obj`` (str / dict / list / tuple, recursively)."""
    lits = _literals(extra_secrets, env)
    return _walk(obj, lits, 0)


def _walk(obj: Any, lits: list[str], depth: int) -> Any:
    if depth > 100:  # pathological nesting: refuse to write it rather than recurse forever
        return REDACTED
    if isinstance(obj, str):
        return redact_text(obj, lits)
    if isinstance(obj, Mapping):
        return {
            (_walk(k, lits, depth + 1) if isinstance(k, str) else k): _walk(v, lits, depth + 1) for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_walk(v, lits, depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_walk(v, lits, depth + 1) for v in obj)
    return obj
