"""The kernel side of a GEAK v4 import (geak_v4.py): kernels/<op>_task op-bench records and
director validations as harness records, and the overlay candidates (overlay/cand_<short>/)
as patch decisions on their own ref/cand legs. A mixin of geak_v4._Importer: it uses that
importer's source, report, legs and claims."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..evidence.models import Claim, CorrectnessCase, Decision, OpBenchRecord
from .geak_kernel import director_record
from .geak_fields import cited_lines, env_of as _env, flags_of as _flags, get as _get
from ..evidence.store import RunStore
from ._common import ImportReport, num, read_source, safe_id

PRODUCER = "geak-v4"
OVERLAY_MARKER = r"\[overlay\] rebound |\[overlay-mark\] .*CALLED|\[OVERLAY_ENGAGED\]"


def load_json(path: Path, src: Path, report: ImportReport) -> Any:
    rel = str(path.relative_to(src))
    try:
        return json.loads(read_source(path).decode(errors="replace"))
    except OSError as e:
        report.problems.append(f"{rel}: cannot read: {e}")
    except ValueError as e:
        report.problems.append(f"{rel}: not valid JSON: {e}")
    return None


class KernelSide:
    # what the importer it is mixed into provides (geak_v4._Importer), declared for the type checker
    src: Path
    store: RunStore
    r: ImportReport
    if TYPE_CHECKING:

        def rel(self, path: Path) -> str: ...
        def leg(self, path: Path, leg_id: str, role: str) -> str | None: ...
        def _parity_dumps(self, files: list[Path], leg_id: str) -> bool: ...
        def decide(self, d: Decision) -> None: ...
        def claim(self, ir: dict[str, Any], path: Path, lever: str) -> Claim: ...

    def kernels(self) -> set[str]:
        ops: set[str] = set()
        kdir = self.src / "kernels"
        if not kdir.is_dir():
            return ops
        for task in sorted(p for p in kdir.iterdir() if p.is_dir() and p.name.endswith("_task")):
            op = task.name[: -len("_task")]
            ops.add(op)
            dv = next(
                iter([task / "director_validation.json", *sorted(task.glob("*/director_validation.json"))][:1]), None
            )
            if dv is not None and dv.is_file():
                self.director(dv, f"{op}-director")
            f = task / "opbench_result.json"
            if not f.is_file():
                self.r.unchecked_notes.append(f"{self.rel(task)}: no opbench_result.json; no harness decision")
                continue
            obj = load_json(f, self.src, self.r)
            if not isinstance(obj, dict):
                if obj is not None:
                    self.r.problems.append(f"{self.rel(f)}: expected a JSON object")
                continue
            meta = load_json(task / "meta.json", self.src, self.r) if (task / "meta.json").is_file() else {}
            meta = meta if isinstance(meta, dict) else {}
            winner = obj.get("winner_backend")
            got = obj.get("results")
            results: list[Any] = got if isinstance(got, list) else []
            cases = []
            for row in results:
                if isinstance(row, dict) and row.get("backend") == winner and winner is not None:
                    a_shape = meta.get("a_shape")
                    shape = [int(x) for x in a_shape if isinstance(x, int)] if isinstance(a_shape, list) else []
                    cases.append(
                        CorrectnessCase(
                            shape=shape,
                            dtype=str(meta.get("dtype") or "unrecorded"),
                            reference_dtype="unrecorded",
                            rel_err=num(row.get("max_rel_err")),
                            passed=row.get("correct"),
                        )
                    )
            try:
                rec = OpBenchRecord(
                    op=op,
                    candidate=str(winner or "none"),
                    baseline_backend=obj.get("baseline_backend"),
                    candidate_backend=winner,
                    correctness=cases,
                    claimed_speedup=num(obj.get("isolated_speedup")),
                    geak_results=results,
                    harness_suspect=obj.get("harness_suspect"),
                    measurement_mode=obj.get("measurement_mode"),
                )
            except ValidationError as e:
                self.r.problems.append(f"{self.rel(f)}: {str(e).splitlines()[0]}")
                continue
            self.store.write_json(f"ops/{safe_id(op)}/opbench.json", rec)
            self.decide(
                Decision(
                    decision_id=f"d-harness-{safe_id(op)}",
                    gate_id=f"harness-{safe_id(op)}",
                    scope="harness",
                    producer=f"{PRODUCER}:op_benchmarker",
                    op=safe_id(op),
                    claim=Claim(isolated_speedup=num(obj.get("isolated_speedup")), headline_source="isolated"),
                )
            )
        return ops

    def director(self, f: Path, op: str | None) -> None:
        """A GEAK kernel run's director_validation.json: one harness decision of its own."""
        obj = load_json(f, self.src, self.r)
        if not isinstance(obj, dict):
            if obj is not None:
                self.r.problems.append(f"{self.rel(f)}: expected a JSON object")
            return
        sid = safe_id(op or str(obj.get("kernel_name") or "kernel"))
        rec, claim, probs = director_record(obj, sid)
        self.r.problems += [f"{self.rel(f)} {p}" for p in probs]
        self.store.write_json(f"ops/{sid}/opbench.json", rec)
        self.decide(
            Decision(
                decision_id=f"d-harness-{sid}",
                gate_id=f"harness-{sid}",
                scope="harness",
                producer=f"{PRODUCER}:director",
                accepted=str(obj.get("validation_status", "")).lower().startswith("accept"),
                op=sid,
                claim=claim,
            )
        )

    def overlays(self, ops: set[str]) -> list[tuple[str, bool, list[str]]]:
        out: list[tuple[str, bool, list[str]]] = []
        odir = self.src / "overlay"
        if not odir.is_dir():
            return out
        for cdir in sorted(p for p in odir.iterdir() if p.is_dir() and p.name.startswith("cand_")):
            short = cdir.name[len("cand_") :]
            ir_path = cdir / "integrate_result.json"
            ir = load_json(ir_path, self.src, self.r) if ir_path.is_file() else None
            if ir is not None and not isinstance(ir, dict):
                self.r.problems.append(f"{self.rel(ir_path)}: expected a JSON object")
                ir = None
            ir = ir or {}
            if not ir_path.is_file():
                self.r.problems.append(f"{self.rel(cdir)}: no integrate_result.json; the decision carries no claim")
            short = str(ir.get("short_name") or short)
            sid = safe_id(short)
            ref = self.leg(cdir / "ref", f"overlay_{sid}_ref", "reference") if (cdir / "ref").is_dir() else None
            cands = [
                self.leg(p, f"overlay_{sid}_{safe_id(p.name)}", "candidate")
                for p in sorted(cdir.iterdir())
                if p.is_dir() and p.name.startswith("cand") and (p / "bench_runs.jsonl").is_file()
            ]
            cands = [c for c in cands if c]
            op = next((o for o in (short, short.lstrip("_"), "_" + short) if o in ops), short)
            flags = _flags(_get(ir, "apply_flags", "accepted_flags"))
            env = _env(_get(ir, "apply_env", "accepted_env"))
            declared = list(flags) + [f"env.{k}" for k in env]
            lc_raw = str(ir.get("lever_class") or "").strip()
            wk = str(ir.get("winner_kind") or "").lower()
            lever = {"A": "kernel", "B": "orthogonal"}.get(
                lc_raw.upper(), lc_raw if lc_raw in ("kernel", "config", "orthogonal") else None
            )
            if lever is None:
                lever = "config" if wk in ("env", "flag", "flags", "config") else "kernel"
            claim = self.claim(ir, ir_path, lever)
            gate = str(ir.get("gate") or "")
            # GEAK's overlay sitecustomize prints "[overlay] rebound <target> -> <impl>" when it binds
            # the kernel and the candidate "[overlay-mark] <kernel> OPTIMIZED kernel CALLED" when it
            # runs; the short name alone appears in no real GEAK log line
            marker = ir.get("engagement_marker") if isinstance(ir.get("engagement_marker"), str) else OVERLAY_MARKER
            hints = cited_lines(_get(ir, "engagement_detail", "engagement_evidence"))
            for tag, legs_ in (("ref", [ref] if ref else []), ("cand", cands)):  # parity dumps the caller named
                for lg in legs_:
                    if lg is not None and not self.store.exists(f"legs/{lg}/outputs.jsonl"):
                        self._parity_dumps(sorted(f for f in cdir.glob("*.json") if tag in f.name), lg)
            d = Decision(
                decision_id=f"d-integrate-{sid}",
                gate_id=f"integrate-{sid}",
                scope="patch",
                producer=f"{PRODUCER}:e2e_integrator",
                accepted=gate in ("accepted", "stack"),
                claim=claim,
                reference_legs=[ref] if ref else [],
                candidate_legs=cands,
                declared_knobs=declared,
                op=safe_id(op) if lever == "kernel" else None,
                engagement_marker=marker if lever == "kernel" else None,
                engagement_hints=hints if lever == "kernel" else [],
            )
            self.decide(d)
            if not ref or not cands:
                inline = [k for k in ("ref_runs", "cand_runs") if _get(ir, k) is not None]
                self.r.problems.append(
                    f"{self.rel(cdir)}: missing ref or cand leg (no bench_runs.jsonl)"
                    + (
                        f"; {'/'.join(inline)} in integrate_result.json are the integrator's summary, "
                        "which nothing re-derives"
                        if inline
                        else ""
                    )
                )
            out.append((d.decision_id, d.accepted, declared))
        return out
