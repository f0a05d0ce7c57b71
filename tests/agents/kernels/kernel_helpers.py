"""Helpers of the kernel-track tests: harness arguments for small CPU runs, auditing a record."""

from __future__ import annotations

from pathlib import Path

from geak.auditor.audit import audit_decision
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import AuditVerdict, Decision
from geak.auditor.evidence.store import RunStore
from geak.auditor.policy import AuditPolicy

REPO = Path(__file__).resolve().parents[3]
CHEATS = REPO / "tests" / "data" / "kernels" / "cheats"

# Small CPU runs: the tiny-arith model's served shapes, two token counts, fp32. Cheats need no
# 100 ms of timing to be caught, so they time less (H10 may flag them; they FAIL anyway).
CPU_ARGS = [
    "--device",
    "cpu",
    "--serving-mode",
    "eager",
    "--profile",
    "tiny-arith",
    "--tokens",
    "1,7",
    "--min-timed-ms",
    "20",
    "--max-reps",
    "2000",
    "--deadline-s",
    "3",
]

# name -> (op, candidate, extra args)
CHEAT_RUNS: dict[str, tuple[str, str, list[str]]] = {
    "background_thread": ("rmsnorm", f"{CHEATS}/background_thread.py:rmsnorm", []),
    "cached_setup": ("rmsnorm", f"{CHEATS}/cached_setup.py:rmsnorm", []),
    "constant": ("rmsnorm", f"{CHEATS}/constant.py:rmsnorm", []),
    "alias_input": ("rmsnorm", f"{CHEATS}/alias_input.py:rmsnorm", []),
    "lazy_result": ("rmsnorm", f"{CHEATS}/lazy_result.py:rmsnorm", []),
    "same_bug": ("rmsnorm", f"{CHEATS}/same_bug.py:rmsnorm", []),
    "crash": ("rmsnorm", f"{CHEATS}/crash.py:rmsnorm", []),
    "hang": ("rmsnorm", f"{CHEATS}/hang.py:rmsnorm", ["--timeout-s", "6"]),
    "self_compare": ("rmsnorm", "geak.agents.kernels.baselines:rmsnorm", []),
    "unserved_shape": ("rmsnorm", "geak.agents.kernels.templates.cpu:rmsnorm", ["--timed-tokens", "1,4096"]),
}


def harness_args(op: str, candidate: str, out: Path, extra: list[str]) -> list[str]:
    return ["--op", op, "--candidate", candidate, "--out", str(out), *CPU_ARGS, *extra]


def audit(run_dir: Path, op: str) -> AuditVerdict:
    d = Decision(
        decision_id=f"d-harness-{op}", gate_id=f"harness-{op}", scope="harness", producer="op_benchmarker", op=op
    )
    return audit_decision(RunEvidence(RunStore(run_dir)), d, 1, AuditPolicy())


def failing_rules(v: AuditVerdict) -> set[str]:
    return {f.rule_id for f in v.findings if f.outcome == "fail"}
