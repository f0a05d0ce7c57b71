"""orchestrator/progress.py: what the running legs are doing, from the run directory alone."""

import io
import os
import shutil
from pathlib import Path

from rich.console import Console

from geak.agents.engines import inflight
from geak.auditor.evidence.store import RunStore
from geak.orchestrator.progress import BenchState, Reporter, clock, eta_s, parse_bench_tail

DATA = Path(__file__).resolve().parents[1] / "data" / "progress"


def test_the_bench_log_says_which_rep_which_stage_and_how_many_requests():
    assert parse_bench_tail((DATA / "bench_rep1_48of64.log").read_text()) == BenchState(
        rep=1, stage="requests", done=48, total=64
    )
    assert parse_bench_tail((DATA / "bench_rep0_warmup.log").read_text()) == BenchState(
        rep=0, stage="warm-up requests", done=16, total=32
    )
    assert parse_bench_tail("") == BenchState()  # no client yet: the server is starting, or the probes run
    assert parse_bench_tail("geak: repetition -> rep_2.json\nNamespace(...)\n").stage == "client start-up"


def test_eta_counts_the_reps_left_at_the_measured_pace():
    st = BenchState(rep=1, stage="requests", done=32, total=64)  # rep 2 of 4, half done
    assert eta_s(st, 4, 10.0) == 25.0
    assert eta_s(st, 4, None) is None  # no rep timed yet: no estimate rather than a guess
    assert clock(25.0) == "00:25" and clock(3725) == "1:02:05"


def _running_leg(tmp_path: Path, log: str) -> RunStore:
    store = RunStore(tmp_path / "run")
    inflight.register(store, "aa_1", "cpu:0", role="aa", reps_planned=4, requests_per_rep=64)
    store.path("legs/aa_1").mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / log, store.path("legs/aa_1/bench.log"))
    return store


def test_off_a_terminal_plain_lines_on_change_and_once_a_minute_and_when_a_leg_ends(tmp_path):
    store = _running_leg(tmp_path, "bench_rep0_warmup.log")
    out = io.StringIO()
    rep = Reporter(store, Console(file=out, force_terminal=False, width=200), plain_every_s=60)
    assert not rep.live
    t0 = 1_000_000.0
    rep.tick(t0)
    rep.tick(t0 + 5)  # nothing moved: nothing printed
    shutil.copy(DATA / "bench_rep1_48of64.log", store.path("legs/aa_1/bench.log"))
    rep.tick(t0 + 15)
    rep.tick(t0 + 80)  # a minute without a change: once more
    inflight.unregister(store, "aa_1")
    rep.tick(t0 + 81)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4, lines
    assert lines[0].startswith("progress: leg aa_1 [cpu:0]: warm-up requests; rep 1/4, requests 16/32")
    assert "requests; rep 2/4, requests 48/64" in lines[1] and "ETA" in lines[1]
    assert "rep 2/4, requests 48/64" in lines[2]
    assert lines[3] == "progress: leg aa_1 ended"
    assert "\x1b[" not in out.getvalue()


def test_on_a_terminal_one_row_per_running_leg(tmp_path):
    store = _running_leg(tmp_path, "bench_rep1_48of64.log")
    inflight.register(store, "aa_2", "cpu:1", role="aa", reps_planned=4, requests_per_rep=64)
    rep = Reporter(store, Console(file=io.StringIO(), force_terminal=True, width=200), live=True)
    rows = rep.snapshot()
    assert {(p.leg_id, p.devices) for p in rows} == {("aa_1", "cpu:0"), ("aa_2", "cpu:1")}
    by = {p.leg_id: p.fields() for p in rows}
    assert by["aa_1"]["rep"] == "2/4" and by["aa_1"]["requests"] == "48/64"
    assert by["aa_2"]["stage"] == "server start-up and probes" and by["aa_2"]["requests"] == "-"


def test_a_dead_runners_entry_is_not_shown(tmp_path):
    store = _running_leg(tmp_path, "bench_rep0_warmup.log")
    e = store.path("scheduler/inflight/aa_1.json")
    e.write_text(
        e.read_text()
        .replace(f'"runner_pid":{os.getpid()}', '"runner_pid":999999999')
        .replace(f'"runner_pid": {os.getpid()}', '"runner_pid": 999999999')
    )
    assert Reporter(store, Console(file=io.StringIO())).snapshot() == []
