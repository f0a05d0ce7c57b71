"""P11, do no harm: no failed request, no failed leg, no crash in the engine's own log before
geak's teardown marker; a reference that served nothing gates against nothing."""

from __future__ import annotations

from typing import Any, Literal

import re

from ..evidence.layout import SERVER_LOG
from ..evidence.models import TEARDOWN_MARKER, EvidencePointer, Finding
from .registry import GateContext, leg_ptr, rule

CRASH_PATTERNS = re.compile(
    r"(Traceback \(most recent call last\)|HSA_STATUS_ERROR|CUDA error|illegal memory access|"
    r"out of memory|OutOfMemoryError|Segmentation fault|core dumped|EngineDeadError|"
    r"EngineCore encountered a fatal error|RuntimeError:|Fatal Python error)",
)


# vLLM's own shutdown lines, for logs written before geak marked its teardown
ENGINE_SHUTDOWN = re.compile(r"trigger received signal=SIGTERM|\[shutdown\] API server: shutdown triggered")


def _before_teardown(log: str) -> str:
    """The log up to geak's teardown: an engine killed at the end of a leg logs tracebacks
    (EngineDeadError) that are the teardown, not a crash of the measured run.

    geak's marker line is producer-written, so it is honoured only where the engine's own
    acknowledgment of the SIGTERM comes before anything that looks like a crash: a marker
    planted above a CUDA traceback cuts nothing."""
    i = log.find(TEARDOWN_MARKER)
    if i < 0:
        m = ENGINE_SHUTDOWN.search(log)
        return log[: m.start()] if m else log
    ack: re.Match[str] | None = None
    crash: re.Match[str] | Literal[False] | None = None
    while i >= 0:
        # each search moves forward only: a log with 100k planted markers stays one pass
        if ack is None or ack.start() < i:
            ack = ENGINE_SHUTDOWN.search(log, i)
            if ack is None:
                return log  # no acknowledgment after this marker, so none after any later one
        if crash is not False and (crash is None or crash.start() < i):
            crash = CRASH_PATTERNS.search(log, i) or False
        if crash is False or ack.start() < crash.start():
            return log[:i]
        i = log.find(TEARDOWN_MARKER, i + 1)
    return log


# ---------------------------------------------------------------- P11


def failed_requests(r: Any) -> tuple[int | None, str]:
    """(failed requests, the field that says so) from every field the tool writes: the
    per-request errors, its `failed` count, or `completed` 0 (vLLM <= 0.9 writes no `failed`)."""
    if r.failed_requests:
        return r.failed_requests, "requests.ok"
    f, c = r.reported.get("failed"), r.reported.get("completed")
    if isinstance(f, (int, float)) and f > 0:
        return int(f), "failed"
    if isinstance(c, (int, float)) and c == 0:
        return None, "completed"
    return 0, ""


def _served(r: Any) -> bool:
    if r.has_arrays:
        return bool(r.arrays["ok"].any())
    c = r.reported.get("completed")
    return not (isinstance(c, (int, float)) and c == 0)


@rule("P11", ["baseline", "patch", "bundle"], "do no harm", "fail", "eject")
def p11_do_no_harm(ctx: GateContext) -> list[Finding]:
    out: list[Finding] = []
    cand_ids = {c.leg_id for c in ctx.candidate}
    for ref in ctx.reference:  # a reference that served nothing gates against nothing
        if ref.leg_id not in cand_ids and ref.reps and not any(_served(r) for r in ref.reps):
            out += ctx.bad(
                "P11",
                f"reference leg {ref.leg_id}: no repetition completed a request",
                evidence=[EvidencePointer(file=ref.reps[0].file, field="completed")],
            )
    for cand in ctx.candidate:
        if cand.launch and cand.launch.status == "failed":
            out += ctx.bad(
                "P11",
                f"leg {cand.leg_id} failed: {cand.launch.failure_reason}",
                evidence=[leg_ptr(cand, field="status")],
            )
        for r in cand.reps:
            n, fld = failed_requests(r)
            if fld:
                errs = [e for e in r.errors if e]
                what = f"{n} failed request(s)" if n else "no request completed"
                out += ctx.bad(
                    "P11",
                    f"leg {cand.leg_id} rep {r.rep.rep_index}: {what} (the tool's '{fld}')"
                    + (f", e.g. {errs[0][:120]!r}" if errs else ""),
                    evidence=[EvidencePointer(file=r.file, line=r.line, field=fld)],
                )
                break
        if cand.server_log is None:
            # no log, an unreadable one or a link to another leg's: nothing shows the run was clean
            why = cand.server_log_problem.message if cand.server_log_problem else "no server.log"
            out += ctx.missing("P11", f"leg {cand.leg_id}: {why}", evidence=[leg_ptr(cand, SERVER_LOG)])
            continue
        m = CRASH_PATTERNS.search(_before_teardown(cand.server_log))
        if m:
            line_no = cand.server_log.count("\n", 0, m.start()) + 1
            line = cand.server_log.splitlines()[line_no - 1].strip()
            out += ctx.bad(
                "P11",
                f"leg {cand.leg_id} server log shows a crash: {line[:160]!r}",
                evidence=[leg_ptr(cand, SERVER_LOG, line=line_no)],
            )
    if not out:
        out += ctx.ok(
            "P11",
            f"{len(ctx.candidate)} candidate leg(s) ran clean"
            if ctx.candidate
            else f"{len(ctx.reference)} reference leg(s) served requests",
        )
    return out
