"""The op harness: run ONE candidate in a subprocess with a timeout, confined to a run directory.

    python -m geak.agents.kernels.harness --op rmsnorm --candidate MODULE:FN --device cpu|cuda --out RUN_DIR
        [--serving-mode compiled|eager] [--tokens 2,4,66]

The measuring worker (worker.py) writes RUN_DIR/ops/<op>/opbench.json (atomic, via RunStore)
and its output goes to ops/<op>/harness.log; its working directory is ops/<op>/work. A worker
that crashes, hangs past --timeout-s or writes no record still leaves a record here, with
``status`` crashed / timeout and nothing measured, so the harness gate fails it on evidence
rather than the run dying. Nothing is raised for a bad candidate.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path

from geak.auditor.evidence.models import OpBenchRecord
from geak.auditor.evidence.store import RunStore

from .worker import base_record, parse, record_path, spec_and_timed
from geak.auditor.evidence.layout import HARNESS_LOG, OP_WORK, op_file


def run_harness(argv: list[str]) -> OpBenchRecord:
    """Run the worker for ``argv`` (worker.py's arguments) and return the record it left."""
    a = parse(argv)
    argv = _absolute(argv, a)  # the worker runs in ops/<op>/work: relative paths would move
    store = RunStore(a.out)
    rel = record_path(a.op)
    work = store.path(op_file(a.op, OP_WORK))
    work.mkdir(parents=True, exist_ok=True)
    rec_file = store.path(rel)
    rec_file.unlink(missing_ok=True)  # never mistake a stale record for this run's
    log = store.path(op_file(a.op, HARNESS_LOG))
    env = dict(os.environ)
    # the worker must import geak from wherever this process does, whatever its cwd
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [*(str(Path(p).resolve()) for p in sys.path if p), env.get("PYTHONPATH", "")] if p
    )
    # OpenMP workers spin after each parallel region by default: on a loaded 2-core host that
    # tail (10-20 ms of CPU after the calls returned) read as work outside the timer (H4 0.43 on
    # the honest CPU template, 2026-11-23). Sleeping workers leave only real escaped work.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    t0 = time.monotonic()
    status, rc = "ok", None
    with open(log, "wb") as lf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "geak.agents.kernels.worker", *argv],
            cwd=work,
            env=env,
            stdout=lf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=a.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the candidate's children go too
            proc.wait()
            status = "timeout"
    elapsed = time.monotonic() - t0
    rec, probs = store.read_json(rel, OpBenchRecord) if rec_file.exists() else (None, [])
    if rec is not None and status == "ok":
        rec.worker_exit_code = rc  # type: ignore[attr-defined]
        rec.wall_s = elapsed  # type: ignore[attr-defined]
        store.write_json(rel, rec)
        return rec
    spec, timed = spec_and_timed(a)
    fail = base_record(spec, a.candidate, timed, a.serving_mode)
    fail.status = status if status == "timeout" else "crashed"  # type: ignore[attr-defined]
    fail.worker_exit_code = rc  # type: ignore[attr-defined]
    fail.wall_s = elapsed  # type: ignore[attr-defined]
    tail = log.read_bytes()[-2000:].decode(errors="replace")
    fail.error = (
        f"worker timed out after {a.timeout_s:g} s"
        if status == "timeout"
        else f"worker exited with {rc} and wrote no record{': ' + str(probs[0]) if probs else ''}"
    ) + f"\n{tail}"  # type: ignore[attr-defined]
    store.write_json(rel, fail)
    return fail


def _absolute(argv: list[str], a: Namespace) -> list[str]:
    mod, _, fn = a.candidate.rpartition(":")
    cand = f"{Path(mod).resolve()}:{fn}" if (mod.endswith(".py") or "/" in mod) else a.candidate
    out, skip = [], False
    for x in argv:
        if skip:
            skip = False
            continue
        if x in ("--candidate", "--out"):
            out += [x, cand if x == "--candidate" else str(Path(a.out).resolve())]
            skip = True
        elif x.startswith(("--candidate=", "--out=")):
            k = x.split("=", 1)[0]
            out.append(f"{k}={cand if k == '--candidate' else Path(a.out).resolve()}")
        else:
            out.append(x)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rec = run_harness(argv)
    print(f"{rec.op} {rec.candidate}: {getattr(rec, 'status', '?')} -> {record_path(rec.op)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
