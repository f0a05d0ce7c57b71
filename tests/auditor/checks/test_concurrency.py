"""auditor/checks/concurrency.py: which host a leg ran on is the benchmark tool's own clock first,
launch.json's fingerprint (geak's claim) only where a leg has no timed rep; legs on other hosts do
not contend, and a gate whose compared legs ran on two hosts is flagged (corpus cases c_*)."""

from __future__ import annotations

import shutil
from pathlib import Path

from geak.auditor import audit
from geak.auditor.checks.concurrency import host_apart, hosts_split, overlapping
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.store import RunStore

CASES = Path(__file__).resolve().parents[3] / "runs" / "cases"


def _run(case: str, tmp: Path | None = None) -> RunEvidence:
    src = CASES / case / "run"
    if tmp is not None:
        shutil.copytree(src, tmp / case)
        src = tmp / case
    return RunEvidence(RunStore(src))


def test_the_tools_clock_beats_the_fingerprints_hostname():
    run = _run("c_claimed_other_host")  # fingerprints say node-a and node-b; the request times are one host's
    a, b = run.leg("baseline"), run.leg("cfg_seqs512")
    assert (a.launch.host.hostname, b.launch.host.hostname) == ("node-a", "node-b")
    assert host_apart(a, b) is None
    assert [o.leg_id for o, _ in overlapping(run, a, 5.0)] == ["cfg_seqs512"]


def test_another_boots_clock_is_another_host():
    run = _run("c_cross_host_gate")
    why = host_apart(run.leg("baseline"), run.leg("cfg_seqs512"))
    assert why is not None and "differ by 86400 s" in why
    assert hosts_split([run.leg("baseline")], [run.leg("cfg_seqs512")]) == why
    assert hosts_split([run.leg("baseline")], [run.leg("kernel_rmsnorm")]) is None  # both on node-a's clock


def test_without_timed_reps_the_hostname_decides_and_says_so(tmp_path):
    _run("c_cross_host_gate", tmp_path)  # a copy to edit
    for f in (tmp_path / "c_cross_host_gate" / "legs" / "cfg_seqs512" / "raw").glob("rep_*.json"):
        f.unlink()
    run = RunEvidence(RunStore(tmp_path / "c_cross_host_gate"))
    why = host_apart(run.leg("baseline"), run.leg("cfg_seqs512"))
    assert why is not None and "'node-a' and 'node-b'" in why and "no request times" in why


def test_a_sibling_on_another_host_is_not_contention():
    run = _run("c_remote_sibling")  # caching_audit ran at once on node-b's core 0, the baseline on this box's core 0
    assert overlapping(run, run.leg("baseline"), 5.0) == []
    got = {v.gate_id: v.verdict for v in audit.audit_run(CASES / "c_remote_sibling" / "run", write=False)}
    assert set(got.values()) == {"PASS"} and "bundle" in got


def test_a_gate_across_two_hosts_flags_b5():
    vs = {v.gate_id: v for v in audit.audit_run(CASES / "c_cross_host_gate" / "run", write=False)}
    b5 = [f for f in vs["config-accept-1"].findings if f.rule_id == "B5" and f.outcome == "flag"]
    assert vs["config-accept-1"].verdict == "FLAG" and any("ran on different hosts" in f.message for f in b5)
    assert vs["baseline"].verdict == "PASS"
