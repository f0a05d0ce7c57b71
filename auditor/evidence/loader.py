"""Read a run directory into plain, checked data for the auditor. Read-only.

Nothing here trusts a summary: per-repetition values are recomputed from the per-request
arrays when they exist, and every malformed value becomes a Problem naming file, line and
field (e.g. ``legs/cand/bench_runs.jsonl:3 field 'requests.ttft_ms[17]': negative``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .models import (
    AccuracyProbe,
    BenchRep,
    Decision,
    LegLaunch,
    Manifest,
    OpBenchRecord,
    ParityOutput,
    ParityProbe,
    TopKLogprobs,
    ProfileClaim,
)
from .store import Problem, RunStore

LATENCY_FIELDS = ("ttft_ms", "e2e_ms", "tpot_ms")


@dataclass
class RepData:
    """One repetition, with its recomputed numbers."""

    line: int
    rep: BenchRep
    file: str
    # recomputed from per-request arrays; None where arrays are absent
    output_throughput: float | None = None
    request_throughput: float | None = None
    total_token_throughput: float | None = None
    failed_requests: int | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def record_id(self) -> str:
        return f"rep{self.rep.rep_index}"

    def value(self, metric: str) -> tuple[float | None, str]:
        """(value, source): recomputed from requests when possible, else the tool's report."""
        v = getattr(self, metric, None)
        if v is not None:
            return v, "requests"
        r = self.rep.reported.get(metric)
        if isinstance(r, (int, float)) and not isinstance(r, bool) and np.isfinite(r):
            return float(r), "reported"
        return None, "missing"


def _check_array(name: str, values: list[Any], ok: np.ndarray, file: str, line: int) -> tuple[np.ndarray, list[Problem]]:
    """Float array with None -> NaN; NaN/inf/negative on an ok request is a Problem."""
    arr = np.array(values, dtype=float)  # None -> nan
    probs: list[Problem] = []
    if len(arr) != len(ok):
        probs.append(Problem(file, f"has {len(arr)} entries, expected {len(ok)} (one per request)", line, f"requests.{name}"))
        return arr, probs
    bad_nonfinite = ok & ~np.isfinite(arr)
    with np.errstate(invalid="ignore"):
        bad_negative = ok & (arr < 0)
    for mask, what in ((bad_nonfinite, "is NaN, infinite or null on a successful request"), (bad_negative, "is negative")):
        idx = np.flatnonzero(mask)
        if len(idx):
            extra = f" ({len(idx)} entries in all)" if len(idx) > 1 else ""
            probs.append(Problem(file, f"{what}: {arr[idx[0]]!r}{extra}", line, f"requests.{name}[{int(idx[0])}]"))
    return arr, probs


def derive_rep(line: int, rep: BenchRep, file: str) -> tuple[RepData, list[Problem]]:
    rd = RepData(line=line, rep=rep, file=file)
    probs: list[Problem] = []
    req = rep.requests
    if req is None:
        return rd, probs
    ok = np.array(req.ok, dtype=bool)
    n = len(ok)
    out_lens, p = _check_array("output_lens", req.output_lens, ok, file, line)
    probs += p
    in_lens, p = _check_array("input_lens", req.input_lens, ok, file, line)
    probs += p
    rd.arrays = {"ok": ok, "output_lens": out_lens, "input_lens": in_lens}
    for name in LATENCY_FIELDS:
        vals = getattr(req, name)
        if vals is None:
            continue
        arr, p = _check_array(name, vals, ok, file, line)
        probs += p
        rd.arrays[name] = arr
    if rd.arrays.get("tpot_ms") is None and "ttft_ms" in rd.arrays and "e2e_ms" in rd.arrays and len(out_lens) == n:
        with np.errstate(invalid="ignore", divide="ignore"):
            decode = out_lens - 1
            tpot = (rd.arrays["e2e_ms"] - rd.arrays["ttft_ms"]) / np.where(decode > 0, decode, np.nan)
        rd.arrays["tpot_ms"] = tpot
    rd.failed_requests = int(n - ok.sum())
    dur = rep.duration_s
    if dur is None or not np.isfinite(dur) or dur <= 0:
        probs.append(Problem(file, f"duration_s is {dur!r}: throughput cannot be re-derived", line, "duration_s"))
        return rd, probs
    if len(out_lens) == n and len(in_lens) == n:
        good_out = np.where(ok, out_lens, 0.0)
        good_in = np.where(ok, in_lens, 0.0)
        if np.isfinite(good_out).all():
            rd.output_throughput = float(good_out.sum() / dur)
            rd.request_throughput = float(ok.sum() / dur)
            if np.isfinite(good_in).all():
                rd.total_token_throughput = float((good_out.sum() + good_in.sum()) / dur)
    return rd, probs


@dataclass
class LegData:
    leg_id: str
    dir: str
    launch: LegLaunch | None
    reps: list[RepData]
    problems: list[Problem]
    server_log: str | None
    outputs: list[tuple[int, ParityOutput]]
    outputs_problems: list[Problem]
    accuracy: AccuracyProbe | None
    parity_probe: ParityProbe | None
    topk: list[tuple[int, TopKLogprobs]] = field(default_factory=list)
    topk_problems: list[Problem] = field(default_factory=list)

    @property
    def topk_file(self) -> str:
        return f"{self.dir}/first_token_topk.jsonl"

    @property
    def bench_file(self) -> str:
        return f"{self.dir}/bench_runs.jsonl"

    @property
    def counted(self) -> list[RepData]:
        return [r for r in self.reps if not r.rep.warmup]

    @property
    def warmups(self) -> list[RepData]:
        return [r for r in self.reps if r.rep.warmup]

    def values(self, metric: str) -> tuple[list[float], set[str]]:
        vals, sources = [], set()
        for r in self.counted:
            v, src = r.value(metric)
            sources.add(src)
            if v is not None:
                vals.append(v)
        return vals, sources

    def pooled(self, name: str) -> np.ndarray:
        """One per-request array over all counted reps, successful requests only."""
        parts = [r.arrays[name][r.arrays["ok"]] for r in self.counted if name in r.arrays and len(r.arrays[name]) == len(r.arrays["ok"])]
        if not parts:
            return np.array([], dtype=float)
        a = np.concatenate(parts)
        return a[np.isfinite(a)]


class RunEvidence:
    """Lazy view of one run directory."""

    def __init__(self, store: RunStore):
        self.store = store
        self._legs: dict[str, LegData] = {}
        # derived views shared by the gates of one audit (a parsed profile trace is seconds of work)
        self.memo: dict[Any, Any] = {}

    @cached_property
    def manifest_and_problems(self) -> tuple[Manifest | None, list[Problem]]:
        return self.store.read_json("manifest.json", Manifest)

    @property
    def manifest(self) -> Manifest | None:
        return self.manifest_and_problems[0]

    @cached_property
    def decisions_and_problems(self) -> tuple[list[tuple[int, Decision]], list[Problem]]:
        return self.store.read_jsonl("decisions.jsonl", Decision)

    @property
    def decisions(self) -> list[tuple[int, Decision]]:
        return self.decisions_and_problems[0]

    def leg_ids(self) -> list[str]:
        d = self.store.root / "legs"
        return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []

    def leg(self, leg_id: str) -> LegData:
        if leg_id not in self._legs:
            self._legs[leg_id] = self._load_leg(leg_id)
        return self._legs[leg_id]

    def _load_leg(self, leg_id: str) -> LegData:
        d = f"legs/{leg_id}"
        problems: list[Problem] = []
        launch, p = self.store.read_json(f"{d}/launch.json", LegLaunch)
        problems += p
        reps: list[RepData] = []
        bench = f"{d}/bench_runs.jsonl"
        for line, rec, p in self.store.iter_jsonl(bench, BenchRep):
            problems += p
            if rec is None:
                continue
            rd, p = derive_rep(line, rec, bench)
            problems += p
            reps.append(rd)
        outputs: list[tuple[int, ParityOutput]] = []
        out_probs: list[Problem] = []
        if self.store.exists(f"{d}/outputs.jsonl"):
            outputs, out_probs = self.store.read_jsonl(f"{d}/outputs.jsonl", ParityOutput)
        acc = self.store.read_json(f"{d}/accuracy.json", AccuracyProbe)[0] if self.store.exists(f"{d}/accuracy.json") else None
        probe = self.store.read_json(f"{d}/parity_probe.json", ParityProbe)[0] if self.store.exists(f"{d}/parity_probe.json") else None
        topk: list[tuple[int, TopKLogprobs]] = []
        topk_probs: list[Problem] = []
        if self.store.exists(f"{d}/first_token_topk.jsonl"):
            topk, topk_probs = self.store.read_jsonl(f"{d}/first_token_topk.jsonl", TopKLogprobs)
        return LegData(
            topk=topk,
            topk_problems=topk_probs,
            leg_id=leg_id,
            dir=d,
            launch=launch,
            reps=reps,
            problems=problems,
            server_log=self.store.read_text(f"{d}/server.log"),
            outputs=outputs,
            outputs_problems=out_probs,
            accuracy=acc,
            parity_probe=probe,
        )

    def profile(self, round_id: str) -> tuple[ProfileClaim | None, list[Problem]]:
        return self.store.read_json(f"profile/{round_id}/routing.json", ProfileClaim)

    def opbench(self, op: str) -> tuple[OpBenchRecord | None, list[Problem]]:
        return self.store.read_json(f"ops/{op}/opbench.json", OpBenchRecord)
