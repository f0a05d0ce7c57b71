"""What the engine itself said about its configuration, read from its own log bytes.

vLLM logs, at start-up, every argument that differs from its defaults:

    (APIServer pid=764) INFO 11-23 16:48:25 [api_utils.py:286] non-default args: {'host': ..., 'max_num_seqs': 4}

That line is the engine's witness of how it was launched, independent of launch.json (which
geak's leg runner writes, a producer's claim). Everything here is total: a hostile or odd
line gives (None, reason), never an exception.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from . import dialects

# the engine's start-up line of launch arguments (its dialect's launch_args_lines: one group, a dict literal)
NON_DEFAULT = dialects.Union(lambda: dialects.fragments((), "launch_args_lines") or "(?!)", re.MULTILINE)
MAX_ARGS_CHARS = 20_000
# a value whose repr is not a Python literal (an object) still has a key: keep its text
_KEY = re.compile(r"'([A-Za-z_][A-Za-z0-9_]*)':\s*")
# launch details that differ between any two lifetimes of one config
RUNTIME_ARGS = frozenset({"host", "port", "api_key", "uvicorn_log_level", "disable_log_requests"})


class Opaque(str):
    """A value whose repr is not a literal (an object): compared by its text, never to a
    launch.json value."""


def _value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        return Opaque(text)


def _literal(text: str) -> dict[str, Any] | None:
    try:
        v = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        return None
    return v if isinstance(v, dict) and all(isinstance(k, str) for k in v) else None


def _keys_only(text: str) -> dict[str, Any]:
    """Top-level keys with their value text, for a dict repr holding non-literal objects."""
    body = text.strip()[1:-1] if text.strip().endswith("}") else text.strip()[1:]
    out: dict[str, Any] = {}
    depth, start, key = 0, None, None
    i = 0
    while i < len(body):
        c = body[i]
        if depth == 0:
            m = _KEY.match(body, i)
            if m and (i == 0 or body[i - 1] in " ,"):
                if key is not None and start is not None:
                    out[key] = _value(body[start:i].rstrip(", "))
                key, start = m.group(1), m.end()
                i = m.end()
                continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        i += 1
    if key is not None and start is not None:
        out[key] = _value(body[start:].rstrip(", "))
    return out


def non_default_args(log: str | None) -> tuple[dict[str, Any] | None, int | None, str | None]:
    """(args, 1-based line, None) from vLLM's own start-up line, or (None, None, why not)."""
    if not log:
        return None, None, "no server log"
    m = NON_DEFAULT.search(log)
    if m is None:
        return None, None, "the engine's log has no 'non-default args' line"
    line = log.count("\n", 0, m.start()) + 1
    text = next(g for g in m.groups() if g is not None).strip()
    if len(text) > MAX_ARGS_CHARS:
        return None, line, f"the 'non-default args' line is {len(text)} characters long; an engine writes a few hundred"
    args = _literal(text)
    if args is None:
        args = _keys_only(text)
        if not args:
            return None, line, "the 'non-default args' line cannot be parsed"
    return args, line, None


def launch_args(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in RUNTIME_ARGS}


# the cores a CPU engine bound (its dialect's core_ids_lines: two groups, a rank and the ids)
CORE_IDS = dialects.Union(lambda: dialects.fragments((), "core_ids_lines") or "(?!)")


def omp_core_ids(log: str | None) -> tuple[set[int], int] | None:
    """The cores vLLM's CPU engine says it bound its OpenMP threads to (``local_rank=0, core
    ids=[1]``, printed by vllm/utils/ompmultiprocessing.py at start-up), with the line of the
    first such line; None when the log has none (a GPU engine, SGLang, an older vLLM)."""
    if not log:
        return None
    cores: set[int] = set()
    first = None
    for n, line in enumerate(log.splitlines(), 1):
        m = CORE_IDS.search(line)
        if m:
            first = first or n
            ids = [g for g in m.groups() if g is not None][-1]
            cores |= {int(x) for x in ids.replace(" ", "").split(",") if x.isdigit()}
    return (cores, first) if first else None
