"""Fixtures of the kernel-track tests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from kernel_helpers import CHEAT_RUNS, audit, harness_args

from geak.agents.kernels.harness import run_harness
from geak.auditor.evidence.models import AuditVerdict, OpBenchRecord


@pytest.fixture(scope="session")
def cheat_results(tmp_path_factory) -> dict[str, tuple[OpBenchRecord, AuditVerdict]]:
    """Every planted CPU cheat through the real harness (subprocess per candidate), two at a time."""
    root = tmp_path_factory.mktemp("cheats")

    def one(name: str) -> tuple[str, tuple[OpBenchRecord, AuditVerdict]]:
        op, cand, extra = CHEAT_RUNS[name]
        rec = run_harness(harness_args(op, cand, root / name, extra))
        return name, (rec, audit(root / name, op))

    with ThreadPoolExecutor(2) as ex:
        return dict(ex.map(one, CHEAT_RUNS))
