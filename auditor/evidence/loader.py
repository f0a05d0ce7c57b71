"""Read a run directory into plain, checked data for the auditor. Read-only.

Nothing here trusts a summary, nor anything geak wrote: a leg's repetitions and their
per-request numbers come from the benchmark tool's own files in raw/ (reps.py), and
bench_runs.jsonl is held to them. Every malformed value becomes a Problem naming file, line
and field (e.g. ``legs/cand/raw/rep_2.json field 'ttfts[17]': is negative``).
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from typing import Any

from .models import Decision, LegLaunch, Manifest, OpBenchRecord, ProfileClaim
from ..scoring import answer_key
from .ledger import Head, LedgerView, check_leg, read_ledger
from .lifetime import HEAD_BYTES, Identity, identity
from .store import Problem, RunStore
from .layout import (
    DECISIONS,
    LAUNCH,
    LEGS,
    LLM_CALLS,
    MANIFEST,
    OPBENCH,
    ROUTING,
    RUN_ARGS,
    SERVER_LOG,
    WORKFLOW,
    input_path,
    leg_file,
    op_file,
    profile_file,
)
from .leg_loader import LegData as LegData, RepWitness as RepWitness, load_leg  # re-exported: older importers


class RunEvidence:
    """Lazy view of one run directory."""

    def __init__(self, store: RunStore, sealed_head: Head | None = None):
        self.store = store
        # the head of ledger.jsonl as the orchestrator sealed it, held in its memory (live gates
        # only): a rewrite of files and ledger together moves the head on disk away from it
        self.sealed_head = sealed_head
        self._legs: dict[str, LegData] = {}
        # derived views shared by the gates of one audit (a parsed profile trace is seconds of work)
        self.memo: dict[Any, Any] = {}

    @cached_property
    def manifest_and_problems(self) -> tuple[Manifest | None, list[Problem]]:
        return self.store.read_json(MANIFEST, Manifest)

    @property
    def manifest(self) -> Manifest | None:
        return self.manifest_and_problems[0]

    @cached_property
    def answer_key(self) -> tuple[dict[str, str | None] | None, Problem | None]:
        """The accuracy probe's expected answers, read from the run's copy of the question file
        (manifest.json inputs.accuracy, its sha256 checked): (None, None) for a run without one
        (older runs, imports: the legs' accuracy_items.jsonl then carry them), (None, Problem)
        when the copy is missing, altered or unreadable."""
        m = self.manifest
        inp = m.inputs.get("accuracy") if m is not None else None
        if inp is None:
            return None, None
        if inp.path != input_path("accuracy"):
            return None, Problem(
                MANIFEST,
                f"names {inp.path!r}; a run's accuracy file is {input_path('accuracy')}",
                field="inputs.accuracy.path",
            )
        data, prob = self.store.read_evidence(inp.path)
        if prob is not None:
            return None, prob
        assert data is not None
        got = hashlib.sha256(data).hexdigest()
        if got != inp.sha256:
            return None, Problem(
                inp.path,
                f"sha256 {got[:16]}... is not the {inp.sha256[:16]}... manifest.json recorded when "
                "the run was prepared: the questions changed after the legs answered them",
                field="sha256",
            )
        try:
            key, errors = answer_key(data.decode())
        except UnicodeDecodeError:
            return None, Problem(inp.path, "not UTF-8 text")
        if errors:
            return None, Problem(inp.path, errors[0])
        return key, None

    @cached_property
    def decisions_and_problems(self) -> tuple[list[tuple[int, Decision]], list[Problem]]:
        return self.store.read_jsonl(DECISIONS, Decision)

    @property
    def decisions(self) -> list[tuple[int, Decision]]:
        return self.decisions_and_problems[0]

    @cached_property
    def geak_run_marks(self) -> list[str]:
        """What in this directory only `geak run` writes: its argument and workflow records,
        and legs whose server geak itself launched (a command in launch.json)."""
        marks = [f for f in (RUN_ARGS, WORKFLOW, LLM_CALLS) if self.store.exists(f)]
        for lid in self.leg_ids():
            lj = self.store.read_json(leg_file(lid, LAUNCH), LegLaunch)[0]
            if lj is not None and lj.command:
                marks.append(f"{leg_file(lid, LAUNCH)} (a launch command)")
                break
        return marks

    @property
    def imported(self) -> bool:
        """Evidence another tool wrote, converted by an importer: rules that need what such
        tools never record say "cannot check" instead of FAIL. manifest.imported_from is a
        claim; a directory geak run wrote does not get the allowance by declaring it."""
        m = self.manifest
        return bool(m and m.imported_from) and not self.geak_run_marks

    @cached_property
    def ledger(self) -> LedgerView:
        return read_ledger(self.store)

    def seal_problems(self, leg_id: str) -> list[Problem]:
        """Where a leg's files differ from its seal (ledger.check_leg), hashed once per audit: the
        gates of a run share legs, and the noise band reads the A/A legs' too."""
        key = ("seal", leg_id)
        if key not in self.memo:
            self.memo[key] = check_leg(self.store, self.ledger, leg_id)
        got: list[Problem] = self.memo[key]
        return got

    @cached_property
    def plans_reps(self) -> bool:
        """A leg here declares the reps it planned: written by a geak that seals its legs, so an
        absent ledger.jsonl is evidence removed, not a run recorded before sealing existed."""
        return any(lj.reps_planned is not None for lj in self.launches.values())

    @cached_property
    def leg_times(self) -> dict[str, tuple[float, float]]:
        """Each leg's (started_at, ended_at) from its launch.json alone (no raw parsed): what
        B5 reads to find legs that ran at the same time. Legs without both times are absent."""
        out = {}
        for lid in self.leg_ids():
            lj = self.store.read_json(leg_file(lid, LAUNCH), LegLaunch)[0]
            if lj is not None and lj.started_at is not None and lj.ended_at is not None:
                out[lid] = (lj.started_at, lj.ended_at)
        return out

    @cached_property
    def lifetimes(self) -> dict[str, Identity]:
        """The server lifetime each leg's own server.log belongs to (lifetime.py), for legs that
        keep one: what exposes one lifetime counted as two legs without saying so (E2)."""
        out = {}
        for lid in self.leg_ids():
            data, _ = self.store.read_evidence(leg_file(lid, SERVER_LOG))
            ident = identity(data[: HEAD_BYTES * 16].decode(errors="replace")) if data else None
            if ident is not None:
                out[lid] = ident
        return out

    @cached_property
    def launches(self) -> dict[str, LegLaunch]:
        """Every leg's launch.json alone (no raw parsed), for rules that look across the run."""
        out = {}
        for lid in self.leg_ids():
            lj = self.store.read_json(leg_file(lid, LAUNCH), LegLaunch)[0]
            if lj is not None:
                out[lid] = lj
        return out

    def leg_ids(self) -> list[str]:
        d = self.store.root / LEGS
        return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []

    def leg(self, leg_id: str) -> LegData:
        if leg_id not in self._legs:
            self._legs[leg_id] = load_leg(self.store, leg_id, self.leg_ids())
        return self._legs[leg_id]

    def profile(self, round_id: str) -> tuple[ProfileClaim | None, list[Problem]]:
        return self.store.read_json(profile_file(round_id, ROUTING), ProfileClaim)

    def opbench(self, op: str) -> tuple[OpBenchRecord | None, list[Problem]]:
        return self.store.read_json(op_file(op, OPBENCH), OpBenchRecord)
