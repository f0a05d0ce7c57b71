"""Shared pieces of the importers: reading tool rows leniently (writing one leg is _leg.py).

Nothing here raises on bad input: every problem is a string naming file, line and field.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..evidence.store import OutsideRunDir


class ImportReport(BaseModel):
    legs: list[str] = Field(default_factory=list)
    decisions: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    unchecked_notes: list[str] = Field(default_factory=list)


def where(file: str, line: int | None = None, field: str | None = None) -> str:
    s = file + (f":{line}" if line is not None else "")
    return s + (f" field '{field}'" if field else "")


def safe_id(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", s) or "leg"


def num(v: Any) -> float | None:
    """A finite float or None (LLM-written files hold strings like "62.7" too)."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, str):
        try:
            f = float(v.strip().rstrip("%").replace("x", ""))
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def nonfinite_paths(obj: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(obj, float) and not math.isfinite(obj):
        if not (prefix.endswith("request_rate") and obj == math.inf):  # inf = unlimited rate, by design
            out.append(prefix or "<root>")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out += nonfinite_paths(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += nonfinite_paths(v, f"{prefix}[{i}]")
    return out


def scrub(obj: Any) -> Any:
    """Non-finite numbers become None (missing is None, never a made-up value)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    return obj


# ---------------------------------------------------------------- reading what another tool wrote

MAX_SOURCE_BYTES = 1 << 30  # one file of another tool's output; a serving result is megabytes
MAX_SOURCE_ENTRIES = 200_000  # entries walked in a source directory before the import is refused


def read_source(path: Path, limit: int = MAX_SOURCE_BYTES) -> bytes:
    """A regular file's bytes, never through a link, never from a device or FIFO, at most
    ``limit`` bytes. OSError says why not (what an importer reports, naming the file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OSError("is a symbolic link; importers copy nothing through links (copy the file itself)") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError("is not a regular file (a device, FIFO or socket); importers read only files")
        if st.st_size > limit:
            raise OSError(f"is {st.st_size} bytes, more than the {limit} an import reads from one file")
        with io.FileIO(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise OSError(f"grew past {limit} bytes while it was read")
        return data
    finally:
        os.close(fd)


def unsafe_entries(src: Path) -> list[str]:
    """Entries of a source directory an importer must not follow or read: links (to files,
    folders, /proc), devices, FIFOs, sockets; also a tree too large to walk. Checked before
    anything is imported, so a refused source leaves no partial run."""
    out: list[str] = []
    seen = 0
    for root, dirs, files in os.walk(src, followlinks=False):
        for name in dirs + files:
            seen += 1
            p = Path(root) / name
            try:
                mode = os.lstat(p).st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode):
                out.append(
                    f"{p.relative_to(src)}: a symbolic link (to {os.readlink(p)[:120]!r}); importers follow no link"
                )
            elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                out.append(f"{p.relative_to(src)}: not a regular file or folder (a device, FIFO or socket)")
        if seen > MAX_SOURCE_ENTRIES:
            out.append(f"more than {MAX_SOURCE_ENTRIES} entries under {src}: not a run directory of one tool")
            break
    return out


# ---------------------------------------------------------------- what a file is

_OFFLINE = {
    "elapsed_time",
    "tokens_per_second",
    "requests_per_second",
    "total_num_tokens",
    "num_requests",
    "total_throughput",
    "output_throughput_tokens_per_s",
}
_SERVING_TIMES = ("ttfts", "mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_e2el_ms", "median_e2e_latency_ms")


def not_serving(obj: Any) -> str | None:
    """What a row is when it is not one serving benchmark result (None: it is one). A serving
    result timed requests against a server: a duration, a count of requests, and latencies."""
    if not isinstance(obj, dict):
        return f"a JSON {type(obj).__name__}, not a result object"
    keys = set(obj)
    if any(k in keys for k in _SERVING_TIMES) and "duration" in keys and ("completed" in keys or "num_prompts" in keys):
        return None
    off = sorted(keys & _OFFLINE)
    if len(off) >= 2:
        return (
            f"an offline throughput result ({', '.join(off[:3])}: vLLM's benchmark_throughput or SGLang's "
            "bench_offline_throughput); it timed no request against a server, so it is no serving leg"
        )
    return (
        f"an object of {len(keys)} key(s) ({', '.join(sorted(keys)[:5])}{', ...' if len(keys) > 5 else ''}) with none of a "
        "serving result's duration, request count and latencies (another tool's summary?)"
    )


# ---------------------------------------------------------------- reading rows


class Row(BaseModel):
    """One tool result object with where it came from."""

    obj: dict[str, Any]
    raw: str
    file: str
    line: int | None


def read_rows(path: Path, label: str, report: ImportReport, *, whole_file_first: bool = False) -> list[Row | str]:
    """Rows of a JSONL file (or one JSON object file). An unparseable row yields its raw text
    (a str) so that it can still be kept verbatim; the problem is reported."""
    try:
        data = read_source(path)
    except OSError as e:
        report.problems.append(f"{where(label)}: cannot read: {e}")
        return []
    text = data.decode("utf-8", errors="replace")
    if whole_file_first:
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            return [Row(obj=obj, raw=text, file=label, line=None)]
        if isinstance(obj, list) and obj and all(isinstance(o, dict) for o in obj):
            return [Row(obj=o, raw=json.dumps(o), file=label, line=i) for i, o in enumerate(obj, start=1)]
    out: list[Row | str] = []
    lines = text.split("\n")
    truncated_tail = bool(text) and not text.endswith("\n")
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as e:
            if i == len(lines) and truncated_tail:
                report.problems.append(
                    f"{where(label, i)}: truncated last line (the writer stopped mid-record); row not imported"
                )
            else:
                report.problems.append(f"{where(label, i)}: not valid JSON ({e}); row not imported")
            out.append(raw)
            continue
        if not isinstance(obj, dict):
            report.problems.append(
                f"{where(label, i)}: expected a JSON object, got {type(obj).__name__}; row not imported"
            )
            out.append(raw)
            continue
        out.append(Row(obj=obj, raw=raw + "\n", file=label, line=i))
    if not out:
        report.problems.append(f"{where(label)}: no rows")
    return out


def guarded(report: ImportReport, what: str) -> Any:
    """Context manager: any exception becomes a problem, never a traceback."""

    class _G:
        def __enter__(self) -> None:
            return None

        def __exit__(self, et: Any, ev: Any, tb: Any) -> bool:
            if ev is None:
                return False
            if isinstance(ev, OutsideRunDir):
                report.problems.append(f"{what}: refused, path outside the run directory: {ev}")
            else:
                report.problems.append(f"{what}: import error {type(ev).__name__}: {ev}")
            return isinstance(ev, Exception)

    return _G()


def inside(child: Path, parent: Path) -> bool:
    c, p = child.resolve(), parent.resolve()
    return c == p or p in c.parents


# ---------------------------------------------------------------- GEAK's parity probe dumps

# bench_e2e.sh and the orchestrator's own files: never a parity dump
NOT_PARITY = (
    "bench_summary.json",
    "server_start.json",
    "integrate_result.json",
    "host_fingerprint.json",
    "accuracy.json",
    "parity_probe.json",
    "env_report.json",
)


def parity_dump(obj: Any) -> list[tuple[str, str]] | None:
    """GEAK's parity_probe.py output, a JSON list of {"prompt", "output"} (the caller picks the
    file name), as (prompt, output) pairs; None for anything else."""
    if not isinstance(obj, list) or not obj:
        return None
    out = []
    for o in obj:
        if not isinstance(o, dict) or not isinstance(o.get("prompt"), str) or not isinstance(o.get("output"), str):
            return None
        out.append((o["prompt"], o["output"]))
    return out
