"""The leg side of a GEAK v4 import (geak_v4.py): one bench_e2e.sh leg directory (its rows,
server.log, server_start.json status and host) written as a leg, and the optional per-leg files a
hand-built fixture may add (greedy outputs, GEAK's parity dumps, accuracy and parity probes). A
mixin of geak_v4._Importer, beside KernelSide: it reads that importer's source, report and host,
and records each leg's first row and directory for the decisions and the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..evidence.models import AccuracyProbe, HostFingerprint, ParityOutput, ParityProbe
from ..evidence.store import RunStore
from ._common import NOT_PARITY, ImportReport, parity_dump, read_rows, read_source
from ._leg import ImportedLeg, write_leg
from .geak_v4_kernels import load_json as _load_json


class LegSide:
    # what the importer it is mixed into sets up (geak_v4._Importer.__init__), declared for the type checker
    src: Path
    store: RunStore
    r: ImportReport
    host: HostFingerprint | None
    first_rows: dict[str, dict[str, Any]]
    leg_dirs: dict[str, Path]

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.src))

    def leg(self, path: Path, leg_id: str, role: str) -> str | None:
        bench = path / "bench_runs.jsonl"
        if not bench.is_file():
            self.r.problems.append(f"{self.rel(path)}: no bench_runs.jsonl; leg {leg_id} not imported")
            return None
        rows = read_rows(bench, self.rel(bench), self.r)
        status, reason = "ok", None
        ss = path / "server_start.json"
        if ss.is_file():
            obj = _load_json(ss, self.src, self.r)
            if isinstance(obj, dict) and obj.get("status") == "failed":
                status, reason = "failed", f"server_start.json: {obj.get('reason')}: {obj.get('phase_hint', '')}"[:300]
        log = None
        if (path / "server.log").is_file() or (path / "server.log").is_symlink():
            try:
                log = read_source(path / "server.log").decode(errors="replace")
            except OSError as e:
                self.r.problems.append(f"{self.rel(path / 'server.log')}: cannot read: {e}")
        host = self.host
        hf = path / "host_fingerprint.json"
        if hf.is_file():
            try:
                host = HostFingerprint.model_validate(_load_json(hf, self.src, self.r))
            except ValidationError as e:
                self.r.problems.append(f"{self.rel(hf)}: {str(e).splitlines()[0]}")
        first = write_leg(
            self.store,
            self.r,
            ImportedLeg(
                leg_id,
                role,
                rows,
                server_log=log,
                host=host,
                status=status,
                failure_reason=reason,
                extra={"source_dir": self.rel(path)},
            ),
        )
        if first is None:
            return None
        if log is None:
            self.r.unchecked_notes.append(
                f"leg {leg_id}: no server.log in {self.rel(path)} (engagement and crash checks are unchecked)"
            )
        self.first_rows[leg_id] = first
        self.leg_dirs[leg_id] = path
        self._extras(path, leg_id)
        return leg_id

    def _extras(self, path: Path, leg_id: str) -> None:
        d = f"legs/{leg_id}"
        po = path / "parity_outputs.jsonl"
        if po.is_file():
            for row in read_rows(po, self.rel(po), self.r):
                if isinstance(row, str):
                    continue
                o = row.obj
                try:
                    rec = ParityOutput(
                        prompt_id=str(o.get("prompt_id", o.get("id"))),
                        prompt=str(o.get("prompt", "")),
                        output_text=str(o.get("output_text", o.get("text", o.get("output", "")))),
                        expected=o.get("expected"),
                        rerun=int(o.get("rerun", 0) or 0),
                    )
                except (ValidationError, TypeError, ValueError) as e:
                    self.r.problems.append(
                        f"{row.file}:{row.line}: parity output not importable: {str(e).splitlines()[0]}"
                    )
                    continue
                self.store.append_jsonl(f"{d}/outputs.jsonl", rec)
        if not self.store.exists(f"{d}/outputs.jsonl"):
            self._parity_dumps(sorted(path.glob("*.json")), leg_id)
        for name, model in (("accuracy.json", AccuracyProbe), ("parity_probe.json", ParityProbe)):
            f = path / name
            if f.is_file():
                obj = _load_json(f, self.src, self.r)
                if isinstance(obj, dict):
                    try:
                        self.store.write_json(
                            f"{d}/{name}", model.model_validate({k: v for k, v in obj.items() if k != "schema_version"})
                        )
                    except ValidationError as e:
                        self.r.problems.append(f"{self.rel(f)}: {str(e).splitlines()[0]}")

    def _parity_dumps(self, files: list[Path], leg_id: str) -> bool:
        """GEAK's parity probe output (a JSON list of {prompt, output} under a name the caller
        chose) as the leg's greedy outputs, so P9 can judge the reference's coherence."""
        for f in files:
            if f.name in NOT_PARITY or not f.is_file() or f.stat().st_size > 8 << 20:
                continue
            pairs = parity_dump(_load_json(f, self.src, self.r))
            if pairs is None:
                continue
            for i, (prompt, text) in enumerate(pairs):
                self.store.append_jsonl(
                    f"legs/{leg_id}/outputs.jsonl", ParityOutput(prompt_id=f"p{i:02d}", prompt=prompt, output_text=text)
                )
            self.r.unchecked_notes.append(
                f"leg {leg_id}: greedy outputs from GEAK's parity dump {self.rel(f)} ({len(pairs)} prompts)"
            )
            return True
        return False
