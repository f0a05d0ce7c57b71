"""One leg of a run read into plain, checked data (RunEvidence.leg): its launch, the tool's raw
repetitions with bench_runs.jsonl held to them, the engine's log and /server_info bytes, the
quality probes and the /metrics witness. Read-only; every malformed value is a Problem."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .models import AccuracyItem, AccuracyProbe, BenchRep, LegLaunch, ParityOutput, ParityProbe, RepPlan, TopKLogprobs
from .devices import DeviceSet, device_set, gpu_set
from .metrics import Snapshot, Window, decode_snapshot, parse_snapshot, snapshot_names, window
from .normalize import flatten, resolved_from_server_info
from .raw import RawRep, parse_raw
from .reconcile import reconcile
from .reps import RepData, derive_rep, fast_claim
from .decoding import Problem, loads
from .store import RunStore
from .layout import (
    ACCURACY,
    ACCURACY_ITEMS,
    BENCH_RUNS,
    LAUNCH,
    OUTPUTS,
    PARITY_PROBE,
    SERVER_INFO,
    SERVER_LOG,
    TOPK,
    leg_dir,
    leg_file,
)

RAW_SUFFIXES = (".json", ".jsonl")


@dataclass
class RepWitness:
    """The engine's counters over one rep's window (metrics.py), or why there are none."""

    rep: RepData
    files: tuple[str, str]  # run-relative before/after snapshot files
    window: Window | None
    problem: str | None  # why there is no window
    # True: no snapshot, or half a pair (an older vLLM, a failed scrape, a recording made
    # before geak kept them): cannot be checked. False with a problem: a snapshot file that
    # cannot serve (a link, a FIFO, unreadable): that is a finding.
    missing: bool
    before: Snapshot | None = None
    after: Snapshot | None = None


LEGACY_ITEM_KEYS = {"prompt", "expected", "output"}


def _unversioned_item(raw: bytes) -> AccuracyItem | None:
    """A line the leg runner wrote before issue 33: exactly {prompt, expected, output}, unversioned
    (the shipped recordings hold such lines under their seal). Any other shape takes the
    validating path, which names what is wrong."""
    if b'"schema_version"' in raw:
        return None
    try:
        o = json.loads(raw)
    except ValueError:
        return None
    if (
        not isinstance(o, dict)
        or set(o) != LEGACY_ITEM_KEYS
        or not isinstance(o["prompt"], str)
        or not isinstance(o["output"], str)
        or not isinstance(o["expected"], (str, type(None)))
    ):
        return None
    return AccuracyItem(prompt=o["prompt"], expected=o["expected"], output=o["output"])


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
    # accuracy_items.jsonl: the answers accuracy.json's count claims to score (re-scored by P9/F4)
    accuracy_items: list[tuple[int, AccuracyItem]] = field(default_factory=list)
    accuracy_problems: list[Problem] = field(default_factory=list)
    topk: list[tuple[int, TopKLogprobs]] = field(default_factory=list)
    topk_problems: list[Problem] = field(default_factory=list)
    # bench_runs.jsonl (geak's copy) says what raw/ (the tool's bytes) does not: P2 FAILs
    mismatches: list[Problem] = field(default_factory=list)
    # the tool's own output is absent: P1 FAILs on a geak run, cannot-check on an import
    raw_missing: list[Problem] = field(default_factory=list)
    server_log_problem: Problem | None = None
    # the engine's own answer to /server_info (legs/<leg>/server_info.json, kept verbatim by
    # the leg runner, or embedded in the bench tool's raw rows by SGLang), flat dotted keys
    engine_config: dict[str, Any] | None = None
    engine_config_source: str | None = None
    # the GPUs the engine's own /server_info shows it could use (evidence/devices.py); None: not shown
    engine_gpus: DeviceSet | None = None
    # the engine's /metrics around each rep the tool timed (the second witness, W1)
    witness: list[RepWitness] = field(default_factory=list)
    # where server_log came from: the leg's own, or (a declared reused server) its owner's
    server_log_file: str = ""

    @cached_property
    def devices(self) -> DeviceSet | None:
        """The cores (CPU) or cards (GPU) the engine's own bytes show this leg ran on; None: not shown."""
        return device_set(self.server_log, self.engine_gpus)

    @property
    def reused_from(self) -> str | None:
        """The owner leg of the server this leg declares it reused; None: its own server."""
        s = self.launch.server if self.launch else None
        return s.owner_leg if s is not None and s.reused else None

    def resolved(self) -> tuple[dict[str, Any] | None, str]:
        """(flat resolved config, the file it came from): the engine's bytes when the leg has
        them, else launch.json (geak's copy: a claim, which P2 holds to the engine's log)."""
        if self.engine_config is not None:
            return self.engine_config, self.engine_config_source or ""
        if self.launch is not None and self.launch.resolved_config is not None:
            return flatten(self.launch.resolved_config), f"{self.dir}/{LAUNCH}"
        return None, ""

    @property
    def topk_file(self) -> str:
        return f"{self.dir}/{TOPK}"

    @property
    def bench_file(self) -> str:
        return f"{self.dir}/{BENCH_RUNS}"

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
        parts = [
            r.arrays[name][r.arrays["ok"]]
            for r in self.counted
            if name in r.arrays and len(r.arrays[name]) == len(r.arrays["ok"])
        ]
        if not parts:
            return np.array([], dtype=float)
        a = np.concatenate(parts)
        out: np.ndarray = a[np.isfinite(a)]
        return out


def load_leg(store: RunStore, leg_id: str, leg_ids: list[str]) -> LegData:
    """One leg of a run, read and checked (RunEvidence.leg caches it)."""
    d = leg_dir(leg_id)
    problems: list[Problem] = []
    launch, p = store.read_json(f"{d}/{LAUNCH}", LegLaunch)
    problems += p
    raws, raw_probs = _raw_files(store, d)
    claims: list[RepData] = []
    bench = f"{d}/{BENCH_RUNS}"
    complete = True
    # with raw/ there, a line is a claim held to raw: the lean decoder reads what compare() needs
    for line, rec, p in store.iter_jsonl(bench, BenchRep, fast=fast_claim if raws else None):
        problems += p
        complete = complete and not p
        if rec is None:
            continue
        rd, p = derive_rep(line, rec, bench, claim_only=bool(raws))
        problems += p
        claims.append(rd)
    rec_ = reconcile(leg_id, d, claims, raws, raw_probs, claims_complete=complete)
    problems += rec_.problems
    if launch is not None and launch.status == "ok" and launch.reps_planned is not None and raws:
        rec_.raw_missing += _held_to_plan(launch.reps_planned, len(rec_.reps), d)
    reps = rec_.reps
    engine_cfg, engine_src, engine_gpus, p = _engine_config(store, d, raws)
    problems += p
    outputs: list[tuple[int, ParityOutput]] = []
    out_probs: list[Problem] = []
    if store.exists(f"{d}/{OUTPUTS}"):
        outputs, out_probs = store.read_jsonl(f"{d}/{OUTPUTS}", ParityOutput)
    acc, acc_items, acc_probs = _accuracy(store, d)
    probe = store.read_json(f"{d}/{PARITY_PROBE}", ParityProbe)[0] if store.exists(f"{d}/{PARITY_PROBE}") else None
    topk: list[tuple[int, TopKLogprobs]] = []
    topk_probs: list[Problem] = []
    if store.exists(f"{d}/{TOPK}"):
        topk, topk_probs = store.read_jsonl(f"{d}/{TOPK}", TopKLogprobs)
    log_file = f"{d}/{SERVER_LOG}"
    owner = (
        launch.server.owner_leg if launch is not None and launch.server is not None and launch.server.reused else None
    )
    if owner is not None and owner != leg_id and owner in leg_ids:
        # a declared reused server has one log, its owner's: start-up, args and core
        # binding are there (E2 holds the declaration to those bytes)
        log_file = leg_file(owner, SERVER_LOG)
    log_bytes, log_problem = store.read_evidence(log_file)
    log = None if log_bytes is None else log_bytes.decode(errors="replace")
    return LegData(
        topk=topk,
        topk_problems=topk_probs,
        leg_id=leg_id,
        dir=d,
        launch=launch,
        reps=reps,
        problems=problems,
        server_log=log,
        server_log_problem=log_problem,
        server_log_file=log_file,
        mismatches=rec_.mismatches,
        engine_config=engine_cfg,
        engine_config_source=engine_src,
        engine_gpus=engine_gpus,
        raw_missing=rec_.raw_missing,
        outputs=outputs,
        outputs_problems=out_probs,
        accuracy=acc,
        accuracy_items=acc_items,
        accuracy_problems=acc_probs,
        parity_probe=probe,
        witness=[_witness(store, r) for r in reps if r.raw is not None],
    )


def _accuracy(store: RunStore, d: str) -> tuple[AccuracyProbe | None, list[tuple[int, AccuracyItem]], list[Problem]]:
    """accuracy.json and the items it scored. The items are read from the one name the leg
    runner writes; a probe naming another file is a problem, never a path to follow."""
    if not store.exists(f"{d}/{ACCURACY}"):
        return None, [], []
    acc, probs = store.read_json(f"{d}/{ACCURACY}", AccuracyProbe)
    probs = list(probs)
    if acc is not None and acc.items_file not in (None, ACCURACY_ITEMS):
        probs.append(
            Problem(
                file=f"{d}/{ACCURACY}",
                field="items_file",
                message=f"items_file {str(acc.items_file)[:80]!r} is not {ACCURACY_ITEMS!r}, the leg runner's name for it",
            )
        )
    if not store.exists(f"{d}/{ACCURACY_ITEMS}"):
        return acc, [], probs
    items: list[tuple[int, AccuracyItem]] = []
    for line, rec, p in store.iter_jsonl(f"{d}/{ACCURACY_ITEMS}", AccuracyItem, fast=_unversioned_item):
        probs += p
        if rec is not None:
            items.append((line, rec))
    return acc, items, probs


def _witness(store: RunStore, r: RepData) -> RepWitness:
    files = snapshot_names(r.file)
    snaps: list[Snapshot | None] = []
    for rel in files:
        data, prob = store.read_evidence(rel)
        if data is None:
            if prob is not None and prob.message == "file is missing":
                snaps.append(None)
                continue
            return RepWitness(r, files, None, f"{rel}: {prob.message if prob else 'unreadable'}", False)
        try:
            snaps.append(parse_snapshot(decode_snapshot(data)))
        except ValueError as e:
            return RepWitness(r, files, None, f"{rel}: {e}", False)
    if snaps[0] is None or snaps[1] is None:
        gone = [f for f, s_ in zip(files, snaps) if s_ is None]
        why = (
            f"{files[0]} and {files[1]} are missing" if len(gone) == 2 else f"{gone[0]} is missing (its pair is there)"
        )
        return RepWitness(r, files, None, why, True)
    return RepWitness(r, files, window(snaps[0], snaps[1]), None, False, snaps[0], snaps[1])


def _engine_config(
    store: RunStore, d: str, raws: dict[str, RawRep]
) -> tuple[dict[str, Any] | None, str | None, DeviceSet | None, list[Problem]]:
    rel = f"{d}/{SERVER_INFO}"
    data, prob = store.read_evidence(rel)
    info, src = None, None
    if data is not None:
        try:
            info, src = loads(data.decode()), rel
        except (ValueError, UnicodeDecodeError) as e:
            return None, None, None, [Problem(rel, f"not valid JSON: {e}")]
    elif prob is not None and prob.message != "file is missing":
        return None, None, None, [prob]
    else:
        first = next((r for _, r in sorted(raws.items()) if r.server_info is not None), None)
        if first is not None:
            info, src = first.server_info, f"{first.file} field 'server_info'"
    if info is None:
        return None, None, None, []
    try:
        return resolved_from_server_info(info), src, gpu_set(info), []
    except ValueError as e:
        return None, None, gpu_set(info), [Problem(src or rel, f"the engine's server info cannot be read: {e}")]


def _raw_files(store: RunStore, d: str) -> tuple[dict[str, RawRep], list[Problem]]:
    """Every result file the tool wrote in <leg>/raw/, parsed by the auditor itself."""
    out: dict[str, RawRep] = {}
    probs: list[Problem] = []
    for name, ok_kind in store.list_dir(f"{d}/raw"):
        rel = f"{d}/raw/{name}"
        if not name.endswith(RAW_SUFFIXES):
            continue
        if not ok_kind:
            probs.append(
                Problem(rel, "is not a regular file (a link, FIFO or folder); the tool's output must be a plain file")
            )
            continue
        data, prob = store.read_evidence(rel)
        if prob is not None or data is None:
            probs += [prob] if prob is not None else []
            continue
        rr, p = parse_raw(data, rel)
        probs += p
        if rr is not None:
            out[rel] = rr
    by_size: dict[int, list[RawRep]] = {}
    for rr in out.values():
        by_size.setdefault(rr.size, []).append(rr)
    for same in (g for g in by_size.values() if len(g) > 1):
        for rr in same:  # rare: re-read to compare content
            data, _ = store.read_evidence(rr.file)
            rr.sha256 = hashlib.sha256(data).hexdigest() if data is not None else None
    return out, probs


def _held_to_plan(plan: RepPlan, found: int, d: str) -> list[Problem]:
    """The reps raw/ holds against those the leg runner asked the tool for: a deleted rep (its raw
    file, snapshots and line all gone) leaves nothing else behind to notice it by."""
    want = plan.counted + plan.warmup
    if found == want:
        return []
    what = "is missing" if found < want else "was never asked for"
    return [
        Problem(
            f"{d}/{LAUNCH}",
            f"plans {want} repetitions ({plan.counted} counted + {plan.warmup} warm-up) but raw/ "
            f"holds {found} distinct one(s) the tool wrote: a measured repetition {what}",
            None,
            "reps_planned",
        )
    ]
