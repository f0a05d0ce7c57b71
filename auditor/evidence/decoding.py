"""Decoding what a producer wrote without trusting it: values or Problems, never a traceback.

JSON nested past any evidence's depth, a gzip file that inflates past a cap, a record that
fails its model: each becomes a ValueError or a ``Problem`` naming file, line and field. Apart
from store.py, which confines where bytes are read and written, because these rules are about
what the bytes say, and readers that hold bytes from elsewhere (raw/, /metrics, traces) use them.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .models import SUPPORTED_VERSIONS


@dataclass(frozen=True)
class Problem:
    """Why a record could not be read. ``line`` is 1-based; ``field`` is a dotted path."""

    file: str
    message: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        what = f" field '{self.field}'" if self.field else ""
        return f"{where}{what}: {self.message}"


# Evidence is records of numbers, not trees: nothing geak or an engine writes nests deeper
# than a few levels. A limit far below Python's recursion limit keeps every later walk
# (flatten, model_dump, the checks) safe from a producer's 100k nested brackets.
MAX_JSON_DEPTH = 64


def json_depth(obj: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of a parsed JSON value, iteratively; stops counting past ``limit``."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if not isinstance(o, (dict, list)):
            continue
        children: Iterable[Any] = o.values() if isinstance(o, dict) else o
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def loads(text: str | bytes) -> Any:
    """json.loads that turns hostile nesting into a ValueError naming the limit.

    NaN/Infinity are accepted (Python's json writes them) so that the auditor can name the
    exact field holding one, rather than rejecting the whole line."""
    try:
        obj = json.loads(text)
    except RecursionError:
        raise ValueError(
            f"nested deeper than Python can parse; evidence nests at most {MAX_JSON_DEPTH} levels"
        ) from None
    if isinstance(obj, (dict, list)) and json_depth(obj) > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels; evidence is flat records, not trees")
    return obj


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_problems(exc: ValidationError, file: str, line: int | None) -> list[Problem]:
    return [
        Problem(file=file, line=line, field=_fmt_loc(tuple(e["loc"])) or None, message=e["msg"])
        for e in exc.errors()[:5]
    ]


def version_problem(obj: Any, file: str, line: int | None) -> Problem | None:
    if not isinstance(obj, dict):
        return Problem(file, f"expected a JSON object, got {type(obj).__name__}", line)
    v = obj.get("schema_version")
    if v is None:
        return Problem(file, "missing schema_version", line, "schema_version")
    if v not in SUPPORTED_VERSIONS:
        return Problem(
            file,
            f"schema_version {v!r} is not supported (this geak reads {list(SUPPORTED_VERSIONS)}); "
            "upgrade geak or re-export the run",
            line,
            "schema_version",
        )
    return None


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def gunzip_capped(data: bytes, cap: int) -> bytes:
    """Decompress gzip ``data`` to at most ``cap`` bytes. ValueError (with the reason) for a
    corrupt file or one that decompresses beyond the cap (a bomb)."""
    import gzip
    import zlib

    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            raw = f.read(cap + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"not a readable gzip file: {e}") from None
    if len(raw) > cap:
        raise ValueError(f"decompresses to more than {cap >> 20} MiB")
    return raw
