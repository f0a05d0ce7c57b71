"""Import an AMD GEAK v4 e2e_workflow run directory as a geak run directory.

Source layout (facts from GEAK's role docs and scripts): bench_e2e.sh leg dirs holding
bench_runs.jsonl (one bench-client result object per timed round, no GEAK fields added),
server.log and server_start.json, at baseline/, config/<trial>/, overlay/cand_<short>/{ref,cand*}/
and validation/{base,final}/; LLM-written summaries integrate_result.json (flat, or nested
under ``e2e`` / ``accepted_config``), director_e2e_validation.json (three schema eras),
config/sweep_results.json; op_bench.py's kernels/<op>_task/opbench_result.json.

Summaries become *claims* (decisions.jsonl); only the raw rows become evidence. A few
optional per-leg files that stock GEAK v4 does not write are picked up when present, so a
hand-built fixture can supply what a rule needs: parity_outputs.jsonl (greedy outputs),
accuracy.json, parity_probe.json, host_fingerprint.json (or a ``host`` block in env_report.json).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..evidence.models import Claim, Decision, HostFingerprint, Manifest
from ..checks.config_diff import lever_class
from ..evidence.store import RunStore
from .geak_v4_kernels import PRODUCER, KernelSide, load_json as _load_json
from .geak_fields import RUN_VALUE_KEYS, flags_of as _flags, get as _get
from ._common import ImportReport, guarded, inside, num, safe_id, unsafe_entries
from ._leg import model_of, server_info_of, workload_of
from .geak_v4_legs import LegSide

INVARIANT_KEYS = (
    "model_path",
    "tp_size",
    "dp_size",
    "ep_size",
    "mem_fraction_static",
    "kv_cache_dtype",
    "dtype",
    "context_length",
    "quantization",
    "max_running_requests",
    "chunked_prefill_size",
)


class _Importer(LegSide, KernelSide):
    def __init__(self, src: Path, run_dir: Path, report: ImportReport):
        self.src = src
        self.store = RunStore(run_dir)
        self.r = report
        self.host = None
        self.first_rows = {}
        self.leg_dirs = {}

    # ------------------------------------------------------------ decisions
    def decide(self, d: Decision) -> None:
        self.store.append_jsonl("decisions.jsonl", d)
        self.r.decisions.append(d.decision_id)

    def run(self) -> None:
        src = self.src
        er = src / "env_report.json"
        if er.is_file():
            obj = _load_json(er, src, self.r)
            if isinstance(obj, dict) and isinstance(obj.get("host"), dict):
                try:
                    self.host = HostFingerprint.model_validate(obj["host"])
                except ValidationError as e:
                    self.r.problems.append(f"env_report.json field 'host': {str(e).splitlines()[0]}")
        if self.host is None:
            self.r.unchecked_notes.append("no host fingerprint in the source: contention (B5) is unchecked")
        if (src / "director_validation.json").is_file():  # a kernel run's EVAL_DIR, imported on its own
            self.director(src / "director_validation.json", None)
        base = self.leg(src / "baseline", "baseline", "baseline") if (src / "baseline").is_dir() else None
        baseline_claim = None
        bo = src / "baseline" / "baseline_official.json"
        if bo.is_file():
            obj = _load_json(bo, src, self.r)
            if isinstance(obj, dict):
                baseline_claim = num(obj.get("baseline_throughput_tok_s", obj.get("plateau_median_tok_s")))
        if base:
            self.decide(
                Decision(
                    decision_id="d-baseline",
                    gate_id="baseline",
                    scope="baseline",
                    producer=f"{PRODUCER}:director",
                    reference_legs=[base],
                    claim=Claim(baseline_value=baseline_claim),
                )
            )
        ops = self.kernels()
        patch_ids = self.overlays(ops) + self.sweep(base)
        self.bundle(patch_ids)
        self.manifest(base)

    def claim(self, ir: dict[str, Any], path: Path, lever: str) -> Claim:
        fields = {
            "reference_value": ("ref_med", "ref_median_tok_s"),
            "candidate_value": ("cand_med", "cand_median_tok_s", "e2e_throughput_tok_s"),
            "delta_pct": ("e2e_delta_pct", "delta_pct"),
            "isolated_speedup": ("isolated_speedup", "isolated_speedup_geomean"),
            "op_share_pct": ("pct_gpu_time",),
            "baseline_value": ("baseline_throughput_tok_s", "provided_baseline_throughput", "baseline_throughput"),
        }
        vals: dict[str, Any] = {}
        for f, keys in fields.items():
            v = _get(ir, *keys)
            if v is not None and num(v) is None:
                self.r.problems.append(f"{self.rel(path)} field '{keys[0]}': {v!r} is not a finite number; ignored")
            vals[f] = num(v)
        for f, key in (("reference_runs", "ref_runs"), ("candidate_runs", "cand_runs")):
            vals[f] = self._runs(_get(ir, key), path, key)
        no = _get(ir, "non_overlapping", "non_overlap", "nonoverlap")
        overlap = _get(ir, "distributions_overlap")
        vals["non_overlap"] = no if isinstance(no, bool) else (not overlap if isinstance(overlap, bool) else None)
        return Claim(lever_class=lever, **vals)

    def _runs(self, v: Any, path: Path, key: str) -> list[float] | None:
        """A summary's per-run list: numbers, or bench rows carrying a throughput (kept as a claim)."""
        if v is None:
            return None
        if isinstance(v, list) and len(v) <= 10_000:
            out = [
                num(x)
                if not isinstance(x, dict)
                else num(next((x[k] for k in RUN_VALUE_KEYS if x.get(k) is not None), None))
                for x in v
            ]
            if all(x is not None for x in out):
                return out  # type: ignore[return-value]
        self.r.problems.append(
            f"{self.rel(path)} field '{key}': not a list of numbers or of bench rows with a throughput; ignored"
        )
        return None

    def sweep(self, base: str | None) -> list[tuple[str, bool, list[str]]]:
        out: list[tuple[str, bool, list[str]]] = []
        f = self.src / "config" / "sweep_results.json"
        if not f.is_file():
            return out
        obj = _load_json(f, self.src, self.r)
        trials = obj.get("trials") if isinstance(obj, dict) else None
        if not isinstance(trials, list):
            if obj is not None:
                self.r.problems.append(f"{self.rel(f)} field 'trials': missing or not a list")
            return out
        for i, t in enumerate(trials):
            if not isinstance(t, dict) or not isinstance(t.get("id"), str):
                self.r.problems.append(f"{self.rel(f)} field 'trials[{i}]': not an object with an id")
                continue
            tid = safe_id(t["id"])
            ldir = self.src / "config" / t["id"]
            if not ldir.is_dir():
                self.r.problems.append(f"{self.rel(f)} field 'trials[{i}]': leg dir config/{t['id']} missing")
                continue
            cand = self.leg(ldir, f"config_{tid}", "candidate")
            knobs = list(_flags(t.get("change")))
            if not knobs and isinstance(t.get("axis"), str):
                knobs = [t["axis"].replace("-", "_")]
            claim = Claim(
                lever_class="config", candidate_value=num(t.get("throughput_tok_s")), delta_pct=num(t.get("delta_pct"))
            )
            # the engine logs its server args at start-up: the knob's new value there proves it took effect
            fl = _flags(t.get("change"))
            marker = None
            for k, val in fl.items():
                if lever_class(k) == "kernel":
                    marker = rf"{re.escape(k)}=['\"]?{re.escape(val)}['\"]?[,)]"
                    break
            d = Decision(
                decision_id=f"d-config-{tid}",
                gate_id=f"config-{tid}",
                scope="patch",
                producer=f"{PRODUCER}:config_tuner",
                accepted=bool(t.get("kept")),
                claim=claim,
                reference_legs=[base] if base else [],
                candidate_legs=[cand] if cand else [],
                declared_knobs=knobs,
                engagement_marker=marker,
            )
            self.decide(d)
            out.append((d.decision_id, d.accepted, knobs))
        return out

    def bundle(self, patches: list[tuple[str, bool, list[str]]]) -> None:
        v = self.src / "validation"
        if not v.is_dir():
            return
        base = self.leg(v / "base", "validation_base", "validation_base") if (v / "base").is_dir() else None
        final = self.leg(v / "final", "validation_final", "validation_final") if (v / "final").is_dir() else None
        f = self.src / "director_e2e_validation.json"
        dj = _load_json(f, self.src, self.r) if f.is_file() else None
        if not isinstance(dj, dict):
            if f.is_file() and dj is not None:
                self.r.problems.append("director_e2e_validation.json: expected a JSON object")
            elif not f.is_file():
                self.r.problems.append("director_e2e_validation.json missing: the bundle decision carries no claim")
            dj = {}

        def sub(k: str, *ks: str) -> Any:
            b = dj.get(k)
            if isinstance(b, dict):
                for kk in ks:
                    if b.get(kk) is not None:
                        return b[kk]
            return None

        ref_v = sub("drift_corrected_baseline", "median") or sub("base_block", "warm_median_tok_s")
        cand_v = (
            sub("final", "median")
            or dj.get("director_verified_throughput_tok_s")
            or sub("final_block", "warm_median_tok_s")
            or sub("arbitration", "director_verified_throughput_tok_s")
        )
        delta = dj.get("delta_pct_drift_corrected")
        if delta is None:
            delta = sub("drift_corrected_same_session", "delta_pct_warm")
        base_v = (
            dj.get("provided_baseline_throughput")
            or sub("vs_provided_baseline", "baseline_throughput_tok_s")
            or dj.get("baseline_throughput_tok_s")
        )
        got_sc = dj.get("serving_config")
        sc: dict[str, Any] = got_sc if isinstance(got_sc, dict) else {}
        bflags, fflags = _flags(sc.get("baseline_flags")), _flags(sc.get("final_flags"))
        settings: dict[str, dict[str, Any]] = {}
        inv = dj.get("serving_invariant")
        for leg_id, fl in ((base, bflags), (final, fflags)):
            if not leg_id:
                continue
            s: dict[str, Any] = dict(fl)
            if isinstance(inv, dict):
                s.update({k: val for k, val in inv.items() if not isinstance(val, (dict, list))})
            if s:
                settings[leg_id] = s
        declared = sorted(
            {k for k in set(bflags) | set(fflags) if bflags.get(k) != fflags.get(k)}
            | {k for _, acc, knobs in patches if acc for k in knobs}
        )
        claim = Claim(
            reference_value=num(ref_v),
            candidate_value=num(cand_v),
            delta_pct=num(delta),
            baseline_value=num(base_v),
            reported_settings=settings,
        )
        self.decide(
            Decision(
                decision_id="d-bundle",
                gate_id="bundle",
                scope="bundle",
                producer=f"{PRODUCER}:director",
                accepted=str(dj.get("validation_status", "accepted")) == "accepted",
                claim=claim,
                reference_legs=[base] if base else [],
                candidate_legs=[final] if final else [],
                declared_knobs=declared,
                accepted_decisions=[did for did, acc, _ in patches if acc],
            )
        )

    def manifest(self, base: str | None) -> None:
        first = self.first_rows.get(base or "") or next(iter(self.first_rows.values()), {})
        resolved, _ = server_info_of(first) if first else (None, None)
        invariants = {k: resolved[k] for k in INVARIANT_KEYS if resolved and k in resolved}
        if not invariants:
            self.r.unchecked_notes.append(
                "the baseline rows carry no server_info: the manifest declares no invariants (B4 unchecked)"
            )
        wl = None
        try:
            wl = workload_of(first) if first else None
        except (ValidationError, TypeError, ValueError):
            pass
        engine = ("sglang" if ("server_info" in first or "total_throughput" in first) else "vllm") if first else None
        self.store.write_json(
            "manifest.json",
            Manifest(
                run_id=self.src.name,
                imported_from="geak-v4",
                model=model_of(first) if first else None,
                engine=engine,
                workload=wl,
                host=self.host,
                invariants=invariants,
                args={"source": str(self.src)},
            ),
        )


def import_geak_v4(src: Path, run_dir: Path) -> ImportReport:
    report = ImportReport()
    with guarded(report, "geak-v4 import"):
        src, run_dir = Path(src), Path(run_dir)
        if not src.is_dir():
            report.problems.append(f"{src}: not a directory")
            return report
        if inside(run_dir, src):
            report.problems.append(
                f"{run_dir}: refused, the run directory lies inside the source {src} (the source is never modified)"
            )
            return report
        if (run_dir / "manifest.json").exists():
            report.problems.append(f"{run_dir}: already holds a run (manifest.json); import into an empty directory")
            return report
        unsafe = unsafe_entries(src)
        if unsafe:
            report.problems += [f"{src}/{u}" for u in unsafe[:10]] + [
                f"refused: {src} holds {len(unsafe)} entr(y/ies) an import must not follow; nothing was imported"
            ]
            return report
        run_dir.mkdir(parents=True, exist_ok=True)
        _Importer(src, run_dir, report).run()
    return report
