"""Which server lifetime a leg's engine log belongs to, from the log's own bytes.

vLLM's API server names itself on every line and says where it listens:

    (APIServer pid=27251) INFO 12-02 02:44:54 [entry.py:140] Starting vLLM server on http://127.0.0.1:35691
    INFO:     Started server process [27251]

and logs the prefix-cache reset a reused leg asks for (SGLang logs its flush):

    (APIServer pid=27251) INFO 12-02 02:45:09 [api_router.py:39] Resetting prefix cache...

Two logs naming the same server pid and port (or, lacking those, opening with the same bytes)
are one lifetime, whatever launch.json says. Total: odd bytes give None, never an exception.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from . import dialects

# a uvicorn server (vLLM's and SGLang's both) says its pid and port; each engine's dialect adds its own lines
_PID = dialects.Union(
    lambda: r"^(?:" + dialects.fragments((r"INFO:\s+Started server process \[(\d+)\]",), "pid_lines") + ")",
    re.MULTILINE,
)
_PORT = dialects.Union(lambda: dialects.fragments((r"Uvicorn running on https?://[^\s:/]+:(\d+)",), "port_lines"))
_RESET = dialects.Union(
    lambda: r"^.{0,200}?(?:" + (dialects.fragments((), "reset_lines") or "(?!)") + ")", re.MULTILINE
)
HEAD_BYTES = 4096  # a start-up's first bytes: timestamps, pids, ports; no two launches share them


@dataclass(frozen=True)
class Identity:
    pid: int | None
    port: int | None
    head_sha: str  # of the log's first HEAD_BYTES

    def same(self, other: Identity) -> bool:
        if None not in (self.pid, self.port, other.pid, other.port):
            return (self.pid, self.port) == (other.pid, other.port)
        return self.head_sha == other.head_sha


def identity(log: str) -> Identity | None:
    """The lifetime a log belongs to; None for an empty log (no start-up to identify)."""
    if not log.strip():
        return None
    m = _PID.search(log)
    pid = int(next(g for g in m.groups() if g)) if m else None
    p = _PORT.search(log)
    port = int(next(g for g in p.groups() if g)) if p else None
    return Identity(pid, port, hashlib.sha256(log[:HEAD_BYTES].encode(errors="replace")).hexdigest())


def resets(log: str, start: int, end: int | None) -> list[int]:
    """1-based line numbers of the engine's cache-reset lines inside the byte window [start, end)."""
    raw = log.encode(errors="replace")
    lo = max(0, min(start, len(raw)))
    hi = len(raw) if end is None else max(lo, min(end, len(raw)))
    out = []
    base = raw[:lo].count(b"\n") + 1
    text = raw[lo:hi].decode(errors="replace")
    for m in _RESET.finditer(text):
        out.append(base + text.count("\n", 0, m.start()))
    return out


def log_size(log: str) -> int:
    return len(log.encode(errors="replace"))
