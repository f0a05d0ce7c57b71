"""Import engine benchmark outputs you already have as one leg of a geak run directory.

``vllm bench serve --save-result`` writes one JSON object per file (``--append-result``
adds one per line); SGLang ``bench_serving --output-file`` appends one JSON line per run.
Each object becomes one repetition; the object is kept verbatim at legs/<id>/raw/row_<n>.json.
"""

from __future__ import annotations

from typing import Any

from pathlib import Path

from ..evidence.models import Claim, Decision, Manifest
from ..evidence.normalize import content_tool
from ..evidence.store import RunStore
from ..evidence.workload import differing, workload_fields
from ._common import ImportReport, Row, guarded, not_serving, read_rows, safe_id
from ._leg import ImportedLeg, model_of, workload_of, write_leg


def _import(tool: str, fmt: str, files: list[Path], run_dir: Path, leg_id: str, warmup_first: bool) -> ImportReport:
    report = ImportReport()
    with guarded(report, f"{fmt} import"):
        files = [Path(f) for f in files]
        run_dir = Path(run_dir)
        store = RunStore(run_dir)
        lid = safe_id(leg_id)
        if lid != leg_id:
            report.unchecked_notes.append(f"leg id {leg_id!r} stored as {lid!r}")
        rows = []
        for f in files:
            got = read_rows(f, str(f), report, whole_file_first=True)
            kinds = [k for r in got if isinstance(r, Row) and (k := not_serving(r.obj)) is not None]
            if kinds:
                # one line for the file, not one problem per line of a pretty-printed object
                report.problems.append(f"{f}: not a serving benchmark result: {kinds[0]}; nothing imported from it")
                continue
            rows += got
        if not any(isinstance(r, Row) for r in rows):
            report.problems.append(f"no serving benchmark result among the {len(files)} file(s) given: no leg imported")
            return report
        store.root.mkdir(parents=True, exist_ok=True)
        fresh = not store.exists("manifest.json")
        groups = experiments(rows, lid)
        if len(groups) > 1:
            report.unchecked_notes.append(
                f"the rows are {len(groups)} experiments, not repetitions of one: imported as legs "
                + ", ".join(f"{g} ({len(rs)} row(s))" for g, rs in groups.items())
                + ("" if fresh else "; each is compared with the run's first leg")
            )
        for g, rs in groups.items():
            _import_rows(tool, fmt, files, store, report, g, rs, warmup_first, fresh)
    return report


def experiments(rows: list[Row | str], lid: str) -> dict[str, list[Row | str]]:
    """Rows grouped by the workload they ran (evidence/workload.py), in order of first appearance;
    one group named ``lid`` when every row ran the same one. Unreadable rows stay with the first."""
    sigs = [workload_fields(r.raw.encode()) if isinstance(r, Row) else None for r in rows]
    diff = differing([s for s in sigs if s is not None])
    if not diff:
        return {lid: rows}
    out: dict[str, list[Row | str]] = {}
    for r, sig in zip(rows, sigs):
        name = lid if sig is None else safe_id(lid + "-" + "-".join(f"{k}{sig.get(k, 'none')}" for k in list(diff)[:3]))
        if sig is None and out:
            name = next(iter(out))
        out.setdefault(name, []).append(r)
    return out


def _import_rows(
    tool: str,
    fmt: str,
    files: list[Path],
    store: RunStore,
    report: ImportReport,
    lid: str,
    rows: list[Row | str],
    warmup_first: bool,
    fresh: bool,
) -> dict[str, Any] | None:
    """One leg from ``rows``. ``fresh``: the run directory had no manifest before this import,
    so the leg is a baseline with its own gate; else it is a candidate against the first leg."""
    first_leg = None if fresh else _first_reference_leg(store)
    first = write_leg(
        store,
        report,
        ImportedLeg(
            lid,
            "baseline" if fresh else "candidate",
            rows,
            tool=tool,
            warmup_first=warmup_first,
            extra={"source_files": [str(f) for f in files]},
        ),
    )
    if first is None:
        return None
    tool = content_tool(first) or tool
    if fresh:
        if not store.exists("manifest.json"):
            _write_manifest(store, fmt, tool, first)
        _decide(
            store,
            report,
            Decision(
                decision_id=f"d-baseline-{lid}",
                gate_id=f"baseline-{lid}",
                scope="baseline",
                producer=f"import:{fmt}",
                reference_legs=[lid],
                claim=Claim(),
            ),
        )
    elif first_leg is not None and first_leg != lid:
        d = _candidate_decision(fmt, lid, first_leg)
        _decide(store, report, d)
        report.unchecked_notes.append(
            f"decision {d.decision_id} compares {lid} with {first_leg} and declares no knob: "
            "edit declared_knobs in decisions.jsonl to name what changed"
        )
    if tool == "vllm" and not any("carry no server_info" in n for n in report.unchecked_notes):
        report.unchecked_notes.append(
            "vLLM bench rows carry no server_info: launch parity (B4, P4) cannot be checked from them"
        )
    return first


def _first_reference_leg(store: RunStore) -> str | None:
    """The run's first reference leg (sorted), what a later import's candidate is compared with."""
    from ..evidence.loader import RunEvidence

    run = RunEvidence(store)
    legs = sorted({lg for _, d in run.decisions for lg in d.reference_legs})
    return legs[0] if legs else None


def _write_manifest(store: RunStore, fmt: str, tool: str, first: dict[str, Any]) -> None:
    """The run's manifest, from the first leg a fresh import wrote."""
    wl = None
    try:
        wl = workload_of(first) if first else None
    except Exception:  # noqa: BLE001 - already reported by write_leg
        pass
    store.write_json(
        "manifest.json",
        Manifest(
            run_id=store.root.name,
            imported_from=fmt,
            engine=tool,
            model=model_of(first) if first else None,
            workload=wl,
        ),
    )


def _candidate_decision(fmt: str, lid: str, first_leg: str) -> Decision:
    """A later import's leg as a patch candidate against the run's first leg; it declares no knob."""
    return Decision(
        decision_id=f"d-import-{lid}",
        gate_id=f"import-{lid}",
        scope="patch",
        producer=f"import:{fmt}",
        reference_legs=[first_leg],
        candidate_legs=[lid],
        claim=Claim(),
    )


def _decide(store: RunStore, report: ImportReport, d: Decision) -> None:
    store.append_jsonl("decisions.jsonl", d)
    report.decisions.append(d.decision_id)


def import_vllm_bench(files: list[Path], run_dir: Path, leg_id: str, warmup_first: bool = False) -> ImportReport:
    return _import("vllm", "vllm-bench", files, run_dir, leg_id, warmup_first)


def import_sglang_bench(files: list[Path], run_dir: Path, leg_id: str, warmup_first: bool = False) -> ImportReport:
    return _import("sglang", "sglang-bench", files, run_dir, leg_id, warmup_first)
