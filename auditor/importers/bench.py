"""Import engine benchmark outputs you already have as one leg of a geak run directory.

``vllm bench serve --save-result`` writes one JSON object per file (``--append-result``
adds one per line); SGLang ``bench_serving --output-file`` appends one JSON line per run.
Each object becomes one repetition; the object is kept verbatim at legs/<id>/raw/row_<n>.json.
"""

from __future__ import annotations

from pathlib import Path

from ..evidence.models import Claim, Decision, Manifest
from ..evidence.store import RunStore
from ._common import ImportReport, guarded, model_of, read_rows, safe_id, workload_of, write_leg


def _import(tool: str, fmt: str, files: list[Path], run_dir: Path, leg_id: str, warmup_first: bool) -> ImportReport:
    report = ImportReport()
    with guarded(report, f"{fmt} import"):
        files = [Path(f) for f in files]
        run_dir = Path(run_dir)
        store = RunStore(run_dir)
        store.root.mkdir(parents=True, exist_ok=True)
        lid = safe_id(leg_id)
        if lid != leg_id:
            report.unchecked_notes.append(f"leg id {leg_id!r} stored as {lid!r}")
        rows = []
        for f in files:
            rows += read_rows(f, str(f), report, whole_file_first=(tool == "vllm"))
        had_manifest = store.exists("manifest.json")
        first_leg = None
        if had_manifest:
            from ..evidence.loader import RunEvidence

            run = RunEvidence(store)
            legs = sorted({lg for _, d in run.decisions for lg in d.reference_legs})
            first_leg = legs[0] if legs else None
        first = write_leg(store, report, leg_id=lid, role="baseline" if not had_manifest else "candidate", rows=rows,
                          tool=tool, warmup_first=warmup_first, extra={"source_files": [str(f) for f in files]})
        if first is None:
            return report
        if not had_manifest:
            wl = None
            try:
                wl = workload_of(first) if first else None
            except Exception:  # noqa: BLE001 - already reported by write_leg
                pass
            store.write_json("manifest.json", Manifest(run_id=store.root.name, imported_from=fmt, engine=tool,
                                                       model=model_of(first) if first else None, workload=wl))
            d = Decision(decision_id=f"d-baseline-{lid}", gate_id=f"baseline-{lid}", scope="baseline", producer=f"import:{fmt}",
                         reference_legs=[lid], claim=Claim())
            store.append_jsonl("decisions.jsonl", d)
            report.decisions.append(d.decision_id)
        elif first_leg is not None and first_leg != lid:
            d = Decision(decision_id=f"d-import-{lid}", gate_id=f"import-{lid}", scope="patch", producer=f"import:{fmt}",
                         reference_legs=[first_leg], candidate_legs=[lid], claim=Claim())
            store.append_jsonl("decisions.jsonl", d)
            report.decisions.append(d.decision_id)
            report.unchecked_notes.append(f"decision {d.decision_id} compares {lid} with {first_leg} and declares no knob: "
                                          "edit declared_knobs in decisions.jsonl to name what changed")
        if tool == "vllm":
            report.unchecked_notes.append("vLLM bench rows carry no server_info: launch parity (B4, P4) cannot be checked from them")
    return report


def import_vllm_bench(files: list[Path], run_dir: Path, leg_id: str, warmup_first: bool = False) -> ImportReport:
    return _import("vllm", "vllm-bench", files, run_dir, leg_id, warmup_first)


def import_sglang_bench(files: list[Path], run_dir: Path, leg_id: str, warmup_first: bool = False) -> ImportReport:
    return _import("sglang", "sglang-bench", files, run_dir, leg_id, warmup_first)
