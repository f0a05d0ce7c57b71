"""Engagement markers: a producer's regex, searched in the engine's log without letting the
pattern crash (re.error) or hang (catastrophic backtracking) the auditor."""

from __future__ import annotations

import re
from typing import Any

try:  # Python 3.11+
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_parse

MAX_MARKER_CHARS = 500
MAX_LINE_CHARS = 4096  # a log line longer than this is searched on its first 4096 characters
_REPEATS = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None)} - {None}


def _nested_repeat(items: Any, inside: bool) -> bool:
    for op, av in items:
        if op in _REPEATS:
            if inside:
                return True
            if _nested_repeat(av[2], True):
                return True
        elif op is sre_parse.SUBPATTERN:
            if _nested_repeat(av[-1], inside):
                return True
        elif op is sre_parse.BRANCH:
            # (a|a)* backtracks exponentially like (a+)+
            if inside or any(_nested_repeat(b, inside) for b in av[1]):
                return True
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            if _nested_repeat(av[1], inside):
                return True
        elif op is sre_parse.GROUPREF or op is getattr(sre_parse, "GROUPREF_EXISTS", None):
            return True  # backreferences: no marker needs one, and they defeat the bound
    return False


def compile_marker(pattern: str) -> tuple[re.Pattern[str] | None, str | None]:
    """(compiled, None), or (None, why the pattern cannot serve as a marker)."""
    if len(pattern) > MAX_MARKER_CHARS:
        return (
            None,
            f"the marker is {len(pattern)} characters; a log-line pattern needs far fewer (at most {MAX_MARKER_CHARS})",
        )
    try:
        parsed = sre_parse.parse(pattern)
        pat = re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as e:
        return None, f"the marker /{pattern[:80]}/ is not a valid regular expression ({e})"
    if _nested_repeat(list(parsed), False):
        return None, (
            f"the marker /{pattern[:80]}/ nests a repetition inside a repetition (or uses a backreference), "
            "which can take exponential time on a log line; write it without nested quantifiers"
        )
    return pat, None


def find_marker(pat: re.Pattern[str], log: str) -> int | None:
    """1-based line of the first match, searching each line on its first MAX_LINE_CHARS."""
    for n, line in enumerate(log.splitlines(), 1):
        if pat.search(line[:MAX_LINE_CHARS]):
            return n
    return None
