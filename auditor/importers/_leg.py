"""Writing one imported leg: a tool's rows into legs/<id>/ (raw rows verbatim, the normalized
bench_runs.jsonl, launch.json), and what a launch record reads from a row (the engine's resolved
config, the workload, the model). Every importer ends here; it stands apart from _common.py's
lenient readers because it is the one place an import writes a leg.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..evidence.models import HostFingerprint, LegLaunch, WorkloadSpec
from ..evidence.normalize import content_tool, detect_tool, from_result, resolved_from_server_info
from ..evidence.store import RunStore
from ._common import ImportReport, Row, nonfinite_paths, num, scrub, where

# ---------------------------------------------------------------- launch config from a row


def server_info_of(obj: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """(flat resolved config, note) from a row's ``server_info``, non-finite numbers as None."""
    si = obj.get("server_info")
    if si is None:
        return None, None
    try:
        return scrub(resolved_from_server_info(si)), None
    except ValueError as e:
        return None, f"{e}: resolved config not importable"


def workload_of(obj: dict[str, Any]) -> WorkloadSpec:
    rate = obj.get("request_rate")
    rate_f = num(rate)
    if rate_f is not None and math.isinf(float(rate_f)):
        rate_f = None
    n = obj.get("num_prompts")
    if not isinstance(n, int):
        lens = obj.get("output_lens") or obj.get("input_lens")
        n = (
            len(lens)
            if isinstance(lens, list)
            else (obj.get("completed") if isinstance(obj.get("completed"), int) else 0)
        )

    def _int(v: Any) -> int | None:
        f = num(v)
        return int(f) if f is not None else None

    return WorkloadSpec(
        dataset=str(obj.get("dataset_name") or obj.get("dataset") or "unknown"),
        num_prompts=int(n or 0),
        input_len=_int(obj.get("random_input_len")),
        output_len=_int(obj.get("random_output_len")),
        request_rate=rate_f,
        max_concurrency=_int(obj.get("max_concurrency")),
        seed=_int(obj.get("seed")) if obj.get("seed") is not None else None,
        **({"random_range_ratio": obj["random_range_ratio"]} if "random_range_ratio" in obj else {}),
    )


def model_of(obj: dict[str, Any]) -> str | None:
    got = obj.get("server_info")
    si: dict[str, Any] = got if isinstance(got, dict) else {}
    for v in (obj.get("model_id"), si.get("model_path"), obj.get("model")):
        if isinstance(v, str) and v:
            return v
    return None


# ---------------------------------------------------------------- writing one leg


@dataclass
class ImportedLeg:
    """One leg as an importer found it: the tool's rows (a str: a row that is not JSON, kept as
    .invalid), what the tool was (None: read from each row's keys), whether the first row is a
    warm-up, the engine's log and the host where the source kept them, how the leg ended, and
    what else launch.json should say of its source."""

    leg_id: str
    role: str
    rows: list[Row | str]
    tool: str | None = None
    warmup_first: bool = False
    server_log: str | None = None
    host: HostFingerprint | None = None
    status: str = "ok"
    failure_reason: str | None = None
    extra: dict[str, Any] | None = None


def write_leg(store: RunStore, report: ImportReport, leg: ImportedLeg) -> dict[str, Any] | None:
    """Write legs/<leg_id>/: raw rows verbatim, bench_runs.jsonl, launch.json. Returns the first
    parsed row (for manifest fields) or None."""
    d = f"legs/{leg.leg_id}"
    if store.exists(f"{d}/bench_runs.jsonl") or store.exists(f"{d}/launch.json"):
        report.problems.append(f"{d}: leg already exists in the run directory; not imported again")
        return None
    w = _write_reps(store, report, leg, d)
    first = w.first
    if first is None:
        report.problems.append(f"{d}: no importable repetition")
        first = {}
    _note_gaps(report, leg.leg_id, first, w)
    try:
        workload = workload_of(first) if first else None
    except (ValidationError, TypeError, ValueError) as e:
        report.problems.append(f"leg {leg.leg_id}: workload not importable: {str(e).splitlines()[0]}")
        workload = None
    launch = LegLaunch(
        leg_id=leg.leg_id,
        role=leg.role,
        engine=w.engine or "unknown",
        resolved_config=w.resolved,
        host=leg.host,
        workload=workload,
        status=leg.status,
        failure_reason=leg.failure_reason,
        launch_config={"imported": True, **(leg.extra or {})},
    )
    store.write_json(f"{d}/launch.json", launch)
    if leg.server_log is not None:
        store.write_text(f"{d}/server.log", leg.server_log)
    report.legs.append(leg.leg_id)
    return first


@dataclass
class _Written:
    """What writing a leg's rows found: the first normalized row and its resolved config (the
    leg's), the engine the rows read as, and how many repetitions were written."""

    first: dict[str, Any] | None = None
    resolved: dict[str, Any] | None = None
    engine: str | None = None
    reps: int = 0


def _write_reps(store: RunStore, report: ImportReport, leg: ImportedLeg, d: str) -> _Written:
    """Every row kept verbatim under raw/; each that normalizes appended to bench_runs.jsonl."""
    w = _Written()
    for n, row in enumerate(leg.rows):
        if isinstance(row, str):
            store.write_text(f"{d}/raw/row_{n}.invalid", row)
            continue
        raw_rel = f"raw/row_{n}.json"
        store.write_text(f"{d}/{raw_rel}", row.raw)
        bad = nonfinite_paths(row.obj)
        for p in bad[:5]:
            report.problems.append(f"{where(row.file, row.line, p)}: NaN or infinite value; imported as null (missing)")
        obj = scrub(row.obj)
        kind = _row_tool(report, row, obj, leg.tool)
        w.engine = w.engine or kind
        try:
            rep = from_result(
                obj,
                kind,
                leg_id=leg.leg_id,
                rep_index=w.reps,
                warmup=leg.warmup_first and w.reps == 0,
                raw_file=raw_rel,
            )
        except (ValidationError, TypeError, ValueError, KeyError) as e:
            report.problems.append(f"{where(row.file, row.line)}: cannot normalize row: {str(e).splitlines()[0]}")
            continue
        store.append_jsonl(f"{d}/bench_runs.jsonl", rep)
        _note_server_info(report, row, obj, w)
        w.reps += 1
    return w


def _row_tool(report: ImportReport, row: Row, obj: dict[str, Any], tool: str | None) -> str:
    """The dialect a row reads as."""
    # the file's own keys over the format the user named: SGLang rows read as vLLM's lose
    # server_info, and the reverse misreads throughput
    seen = content_tool(obj)
    if (
        tool
        and seen
        and seen != tool
        and not any("were written by" in n and row.file in n for n in report.unchecked_notes)
    ):
        report.unchecked_notes.append(
            f"{where(row.file, row.line)}: the rows were written by {seen} (their keys say so), not {tool}: "
            f"read as {seen}"
        )
    return seen or tool or detect_tool(obj)


def _note_server_info(report: ImportReport, row: Row, obj: dict[str, Any], w: _Written) -> None:
    """The first written row's server_info is the leg's; a later row's that differs is noted."""
    if w.first is None:
        w.first = obj
        w.resolved, note = server_info_of(obj)
        if note:
            report.problems.append(f"{where(row.file, row.line, 'server_info')}: {note}")
        return
    other, _ = server_info_of(obj)
    if other is not None and w.resolved is not None and other != w.resolved:
        report.unchecked_notes.append(
            f"{where(row.file, row.line, 'server_info')}: differs from the leg's first row; the first row's is used"
        )


def _note_gaps(report: ImportReport, leg_id: str, first: dict[str, Any], w: _Written) -> None:
    """What the leg's rows do not carry, so the rules needing it report unchecked."""
    if w.resolved is None:
        report.unchecked_notes.append(
            f"leg {leg_id}: rows carry no server_info, so its resolved engine config is unknown (rules needing it report unchecked)"
        )
    if w.reps and first and not any(k in first for k in ("output_lens", "ttfts")):
        report.unchecked_notes.append(
            f"leg {leg_id}: rows carry no per-request arrays; throughput is the tool's own aggregate and latency percentiles are unchecked"
        )
