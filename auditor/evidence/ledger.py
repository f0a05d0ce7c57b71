"""The run's seal (issue 32): an append-only, hash-chained ledger of what each leg's tool and
engine wrote, sealed by the leg runner the moment the leg closes.

``ledger.jsonl`` holds one ``Seal`` per closed leg: the size and sha256 of every regular file under
``legs/<leg>/`` (the tool's raw output, the /metrics snapshots, geak's normalized copy, launch.json,
server_info.json, the probes) and of the server log the leg measured on (its own, or the owner's
of a reused server), the log sealed as a prefix because its engine may still append teardown
lines. Each line names the sha256 of the line before it; the sha256 of the last line is the
ledger's head. The auditor re-hashes what a seal names: a byte changed, a file gone or added after
the leg closed is a FAIL naming the file (W2).

What it proves and what not (docs/evidence-and-auditor.md, "The seal"): a file edited after its leg
closed is caught, and a rewrite of files and ledger together changes the head, which the
orchestrator holds in memory (the live gates compare it) and shows in the terminal summary and
the report. Offline, a consistent rewrite of files and ledger is caught only by comparing the
head with the one shown when the run ended. What a producer wrote before the seal (an engine
plugin forging a raw file while its leg runs) is for the plausibility rules to catch.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from .models import LegLaunch, Record, RepPlan
from .store import NotEvidence, OutsideRunDir, Problem, RunStore
from .layout import LAUNCH, LEDGER, SERVER_LOG, leg_dir, leg_file

GENESIS = "0" * 64
MAX_SEALED_FILES = 10_000  # a leg holds tens; more is a flood meant to slow the audit


MAX_ID = 200  # a leg id geak writes is tens of characters; a ledger line is a producer-writable file


class SealedFile(BaseModel):
    path: str = Field(max_length=1000, description="run-relative")
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    prefix: bool = Field(False, description="an engine log: the first `size` bytes are sealed, later lines may follow")


class Seal(Record):
    """One line of ledger.jsonl: one leg, closed."""

    kind: Literal["seal"] = "seal"
    seq: int = Field(ge=0)
    prev: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="sha256 of the previous line's bytes (GENESIS for the first)"
    )
    leg_id: str = Field(max_length=MAX_ID)
    status: Literal["ok", "failed"]
    sealed_at: float
    reps_planned: RepPlan | None = None
    files: list[SealedFile] = Field(max_length=MAX_SEALED_FILES)
    set_aside: str | None = Field(
        None,
        max_length=1000,
        description="the leg's directory was moved here, kept, to be measured again "
        "(a resume): its earlier seals close with this line",
    )


@dataclass(frozen=True, order=True)
class Head:
    """Where the ledger stood after a seal: what the orchestrator keeps out of the producers' reach."""

    seq: int
    sha256: str

    @property
    def label(self) -> str:
        """'LINE:SHA256' (the 1-based ledger line): how a run's terminal, summary.json and report show it."""
        return f"{self.seq + 1}:{self.sha256}"

    def __str__(self) -> str:
        return f"ledger.jsonl line {self.seq + 1}, head {self.sha256[:16]}"

    @classmethod
    def from_label(cls, text: str) -> Head | None:
        line, _, sha = text.partition(":")
        return cls(int(line) - 1, sha) if line.isdigit() and len(sha) == 64 else None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leg_files(store: RunStore, leg_dir: str) -> list[str]:
    out: list[str] = []
    stack = [leg_dir]
    while stack and len(out) <= MAX_SEALED_FILES:
        d = stack.pop()
        for name, regular in store.list_dir(d):
            rel = f"{d}/{name}"
            if regular:
                out.append(rel)
            elif _is_plain_dir(store, rel):
                stack.append(rel)
    return sorted(out)


def _is_plain_dir(store: RunStore, rel: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(store._lexical(rel)).st_mode)
    except (OutsideRunDir, NotEvidence, OSError):
        return False


def _log_of(store: RunStore, leg_id: str) -> str:
    lj = store.read_json(leg_file(leg_id, LAUNCH), LegLaunch)[0]
    if lj is not None and lj.server is not None and lj.server.reused and lj.server.owner_leg != leg_id:
        return leg_file(lj.server.owner_leg, SERVER_LOG)
    return leg_file(leg_id, SERVER_LOG)


def seal(store: RunStore, leg_id: str, now: float | None = None) -> Head:
    """Seal a closed leg: append its line under an exclusive lock (legs close in parallel) and
    return the new head. Called by the leg runner after launch.json is written. ``now``: the
    time to record (default the clock; the corpus passes the leg's own end, to stay byte-reproducible)."""
    d = leg_dir(leg_id)
    lj = store.read_json(f"{d}/{LAUNCH}", LegLaunch)[0]
    files: list[SealedFile] = []
    log = _log_of(store, leg_id)
    for rel in sorted(set(_leg_files(store, d)) | {log}):
        data, prob = store.read_evidence(rel)
        if data is None:
            continue
        files.append(SealedFile(path=rel, size=len(data), sha256=_sha(data), prefix=rel.endswith(".log")))
    return _append(
        store,
        lambda seq, prev: Seal(
            seq=seq,
            prev=prev,
            leg_id=leg_id,
            status=lj.status if lj else "failed",
            sealed_at=time.time() if now is None else now,
            reps_planned=lj.reps_planned if lj else None,
            files=files,
        ),
    )


def reseal(store: RunStore, recorded: Seal) -> Head:
    """Seal a recorded leg copied into a replay as the recording sealed it: the same files and
    sizes (a log sealed as a prefix while its server stayed up keeps that prefix, though the copy
    holds the whole log) and the same time, so a replay that closes legs in the recorded order
    rebuilds the recorded chain line for line. Only for copies the recording's own ledger
    verified (agents/runners/legs.RecordedLegs checks them first)."""
    return _append(store, lambda seq, prev: recorded.model_copy(update={"seq": seq, "prev": prev}))


def set_aside(store: RunStore, leg_id: str, moved_to: str) -> Head | None:
    """Record that a leg's directory was moved aside to be measured again (a resume): the seals
    before this line are history, not a leg replaced after it closed. Only in a sealed run."""
    if not store.exists(LEDGER):
        return None
    return _append(
        store,
        lambda seq, prev: Seal(
            seq=seq, prev=prev, leg_id=leg_id, status="failed", sealed_at=time.time(), files=[], set_aside=moved_to
        ),
    )


def _append(store: RunStore, make: Callable[..., Any]) -> Head:
    path = store.path(LEDGER)
    store._lexical(LEDGER)  # never append through a planted link
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        body = os.pread(fd, size, 0) if size else b""
        lines = body.splitlines(keepends=True)
        if lines and not lines[-1].endswith(b"\n"):
            # a line cut short by a crash: sealed over, so the chain stays readable (W2 reports it)
            os.write(fd, b"\n")
        rec = make(len(lines), _sha(lines[-1].rstrip(b"\n")) if lines else GENESIS)
        line = json.dumps(rec.model_dump(mode="json"), separators=(",", ":")).encode()
        os.write(fd, line + b"\n")
        os.fsync(fd)
        return Head(rec.seq, _sha(line))
    finally:
        os.close(fd)


# ---------------------------------------------------------------- reading and verifying


@dataclass
class LedgerView:
    present: bool
    problems: list[Problem] = field(default_factory=list)  # the chain itself: a line unreadable, a link broken
    seals: dict[str, list[tuple[int, Seal]]] = field(default_factory=dict)  # leg -> (line, seal), in order
    head: Head | None = None

    def latest(self, leg_id: str) -> tuple[int, Seal] | None:
        got = self.seals.get(leg_id)
        return got[-1] if got else None


def read_ledger(store: RunStore) -> LedgerView:
    data, prob = store.read_evidence(LEDGER)
    if data is None:
        missing = prob is not None and prob.message == "file is missing"
        return LedgerView(present=not missing, problems=[] if missing else [prob])  # type: ignore[list-item]
    view = LedgerView(present=True)
    prev = GENESIS
    for i, raw in enumerate(data.split(b"\n"), start=1):
        if not raw:
            continue
        try:
            s = Seal.model_validate_json(raw)
        except (ValidationError, ValueError) as e:
            view.problems.append(
                Problem(
                    LEDGER,
                    f"line {i} is not a seal ({str(e).splitlines()[0][:160]}): the chain cannot be followed past it",
                    i,
                )
            )
            prev = _sha(raw)
            continue
        if s.prev != prev:
            view.problems.append(
                Problem(
                    LEDGER,
                    f"line {i} names {s.prev[:12]}... as the line before it, but that line "
                    f"hashes to {prev[:12]}...: the ledger was edited after it was sealed",
                    i,
                    "prev",
                )
            )
        view.seals.setdefault(s.leg_id, []).append((i, s))
        prev = _sha(raw)
        view.head = Head(s.seq, prev)
    return view


def check_leg(store: RunStore, view: LedgerView, leg_id: str) -> list[Problem]:
    """Where the leg's files differ from its latest seal: changed, gone or added after it closed,
    or resealed after it closed ok (a resumed run seals again only a leg that had not finished)."""
    got = view.latest(leg_id)
    if got is None:
        return [Problem(LEDGER, f"leg {leg_id} has no seal: geak seals every leg it closes, so its files are unsealed")]
    line, s = got
    if s.set_aside is not None:
        return [
            Problem(
                LEDGER,
                f"leg {leg_id} was set aside to {s.set_aside} at line {line} and not sealed since: its files "
                "are not the ones measured",
                line,
                "set_aside",
            )
        ]
    out: list[Problem] = []
    history = view.seals[leg_id][:-1]
    cut = max((i for i, (_, e) in enumerate(history) if e.set_aside is not None), default=-1)
    earlier_ok = [ln for ln, e in history[cut + 1 :] if e.status == "ok"]
    if earlier_ok:
        out.append(
            Problem(
                LEDGER,
                f"leg {leg_id} was sealed ok at line {earlier_ok[0]} and sealed again at line {line}: a "
                "closed leg is never measured again, so its files were replaced after they were sealed",
                line,
                "leg_id",
            )
        )
    named = set()
    own = leg_dir(leg_id) + "/"
    for f in s.files:
        named.add(f.path)
        if not (f.path.startswith(own) or f.path.endswith("/server.log") and f.prefix):
            # a seal speaks for its own leg's files (and the log it measured on), nothing else
            out.append(
                Problem(
                    LEDGER,
                    f"line {line} seals {f.path[:200]!r} for leg {leg_id}: not a file of that leg",
                    line,
                    "files",
                )
            )
            continue
        data, prob = store.read_evidence(f.path)
        if data is None:
            out.append(
                Problem(
                    f.path,
                    f"sealed at ledger line {line} ({f.size} bytes) but now {prob.message if prob else 'unreadable'}: "
                    "removed after the leg closed",
                )
            )
            continue
        body = data[: f.size] if f.prefix else data
        if len(body) != f.size or _sha(body) != f.sha256:
            what = "its first bytes differ from" if f.prefix else "its bytes differ from"
            out.append(
                Problem(
                    f.path,
                    f"{what} what ledger line {line} sealed when leg {leg_id} closed ({f.size} bytes, "
                    f"sha256 {f.sha256[:12]}...; now {len(data)} bytes, {_sha(body)[:12]}...): changed after measurement",
                )
            )
    for rel in _leg_files(store, leg_dir(leg_id)):
        if rel not in named and not rel.endswith(".log"):
            out.append(
                Problem(
                    rel,
                    f"is not among the files ledger line {line} sealed when leg {leg_id} closed: added after "
                    "measurement",
                )
            )
    return out
