"""Shared by the GPU scripts: run the harness on one candidate and audit its record."""

from __future__ import annotations

from pathlib import Path

from geak.agents.kernels.harness import run_harness
from geak.auditor.api import audit_decision
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import AuditVerdict, Decision, OpBenchRecord
from geak.auditor.evidence.store import RunStore
from geak.auditor.policy import AuditPolicy

REPO = Path(__file__).resolve().parents[2]
CHEATS = REPO / "tests" / "data" / "kernels" / "cheats"


def graph_of(fn, args):
    """A CUDA graph holding one call (warmed on a side stream, as capture requires). Replaying it
    costs the host a few microseconds whatever the call's Python dispatch costs."""
    import torch

    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            fn(*args)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn(*args)
    torch.cuda.synchronize()
    return g


def harness(op: str, candidate: str, out: Path, *extra: str) -> OpBenchRecord:
    return run_harness(
        ["--op", op, "--candidate", candidate, "--out", str(out), "--device", "cuda", "--profile", "llama-gpu", *extra]
    )


def audit(run_dir: Path, op: str) -> AuditVerdict:
    d = Decision(
        decision_id=f"d-harness-{op}", gate_id=f"harness-{op}", scope="harness", producer="op_benchmarker", op=op
    )
    return audit_decision(RunEvidence(RunStore(run_dir)), d, 1, AuditPolicy())


def failing(v: AuditVerdict) -> list[str]:
    return sorted({f.rule_id for f in v.findings if f.outcome == "fail"}, key=lambda r: int(r[1:]))


def flagged(v: AuditVerdict) -> list[str]:
    return sorted({f.rule_id for f in v.findings if f.outcome in ("flag", "unchecked")}, key=lambda r: int(r[1:]))
