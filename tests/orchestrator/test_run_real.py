"""`geak run` end to end on a real vLLM-on-CPU server (marker: engine; about 5 minutes).

The smallest workflow that crosses every gate (tests/data/graph/live.yaml), with the shipped
model served eagerly (faster start-up) and a decode batch capped at 4, so the built-in
strategist has a real candidate (max_num_seqs 32). Whatever the numbers say is the verdict;
the test checks the run is complete, self-consistent, replayable and leaves no process behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parents[2]
GEAK = [sys.executable, "-m", "geak.orchestrator.cli"]


def _vllm_available() -> bool:
    try:
        import vllm  # noqa: F401
    except Exception:
        return False
    return True


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    if not _vllm_available():
        pytest.skip("vLLM is not installed (bash scripts/setup.sh)")
    run = tmp_path_factory.mktemp("live") / "run"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    p = subprocess.run(
        GEAK
        + [
            "run",
            "--run-dir",
            str(run),
            "--workflow",
            str(REPO / "tests/data/graph/live.yaml"),
            "--use-auditor",
            "--max-num-seqs",
            "4",
            "--enforce-eager",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1500,
        cwd=REPO,
    )
    return run, p


def test_run_completes_with_every_gate_recorded(live_run):
    run, p = live_run
    assert p.returncode in (0, 3), p.stdout[-3000:] + p.stderr[-3000:]
    s = json.loads((run / "summary.json").read_text())
    assert s["status"] == "complete", s
    gates = {g["gate_id"]: g for g in s["gates"]}
    assert "baseline" in gates and "profile-1" in gates and any(g.startswith("config-max_num_seqs-32") for g in gates)
    assert (run / "profile" / "round_1" / "trace.json.gz").exists() and (
        run / "profile" / "round_1" / "routing.json"
    ).exists()
    routed = json.loads((run / "profile" / "round_1" / "routing.json").read_text())["routed"]
    if routed:  # the op harness ran on the routed op's template and its gate was audited, never banked
        h = gates[f"harness-{routed[0]['family']}"]
        assert (
            (run / "ops" / routed[0]["family"] / "opbench.json").exists()
            and h["verdict"] is not None
            and not h["banked"]
        )
    for g in gates.values():
        if g["attempts"]:
            assert (run / "audits" / f"{g['gate_id']}.json").exists()
    # the last gate: a banked change is validated (the interleaved pair, the caching audit, the
    # bundle gate); with nothing banked the run says there is nothing to validate. Either way it is
    # said, so a run that skipped validation with a change banked fails here
    if [b for b in s["banked_decisions"] if not b.startswith("d-baseline")]:
        legs = {d.name for d in (run / "legs").iterdir()}
        assert "bundle" in gates and {"val_base_1", "val_final_1", "caching_audit"} <= legs, (
            sorted(gates),
            sorted(legs),
        )
    else:
        assert "nothing to validate" in (run / "events.jsonl").read_text()


def test_kernel_track_runs_end_to_end_and_the_gate_says_what_the_legs_say(live_run):
    run, _ = live_run
    routed = json.loads((run / "profile" / "round_1" / "routing.json").read_text())["routed"]
    if not routed:
        pytest.skip(
            "the profile round routed nothing this time (every editable family under min_share): no kernel track"
        )
    op = routed[0]["family"]
    gates = {g["gate_id"]: g for g in json.loads((run / "summary.json").read_text())["gates"]}
    if gates[f"harness-{op}"]["verdict"] != "PASS":
        pytest.skip(
            f"the harness gate did not pass the template ({gates[f'harness-{op}']['verdict']}): nothing integrated"
        )
    g = gates[f"kernel-{op}"]
    assert g["verdict"] in ("PASS", "FLAG", "FAIL") and (run / "audits" / f"kernel-{op}.json").exists()
    ref, cand = run / "legs" / f"kref_{op}", run / "legs" / f"kcand_{op}"
    plugin = json.loads((cand / "launch.json").read_text())["kernel_plugin"]
    assert plugin["op"] == op and plugin["mode"] == "eager+opaque_custom_op" and (run / plugin["plugin_dir"]).is_dir()
    assert (ref / "first_token_topk.jsonl").exists() and not (ref / "parity_probe.json").exists()
    probe = json.loads((cand / "parity_probe.json").read_text())
    assert probe["reference_leg"] == f"kref_{op}" and probe["n_prompts"] >= 1
    log = (cand / "server.log").read_text(errors="replace")
    assert "geak-plugin: call 1 " in log and "geak-plugin: call" not in (ref / "server.log").read_text(errors="replace")
    d = [json.loads(x) for x in (run / "decisions.jsonl").read_text().splitlines() if f'"kernel-{op}"' in x][-1]
    v = json.loads((run / "audits" / f"kernel-{op}.json").read_text())
    p10 = next(f for f in v["findings"] if f["rule_id"] == "P10")
    assert p10["outcome"] == ("pass" if not probe["ejected"] else "fail")
    # banked only when the producer accepted it and the gate let it through
    assert g["banked"] == (
        d["accepted"]
        and v["verdict"] == "PASS"
        or (
            d["accepted"]
            and v["verdict"] == "FLAG"
            and set(v["actions"]) <= {"flag", "downgrade_headline", "replace_headline_with_e2e"}
        )
    )


def test_every_leg_has_raw_records_and_a_resolved_config(live_run):
    run, _ = live_run
    legs = sorted((run / "legs").iterdir())
    assert len(legs) >= 3
    for leg in legs:
        launch = json.loads((leg / "launch.json").read_text())
        assert launch["status"] == "ok", launch.get("failure_reason")
        assert launch["resolved_config"], leg.name
        assert list((leg / "raw").glob("rep_*.json")), leg.name


def test_report_written_and_headline_matches_the_bundle_verdict(live_run):
    run, _ = live_run
    md = (run / "report.md").read_text()
    assert (run / "report.html").exists()
    bundle = run / "audits" / "bundle.json"
    if bundle.exists() and json.loads(bundle.read_text())["verdict"] == "PASS":
        assert "PASS" in md.split("## Summary")[0]
    else:
        assert "Signed by the auditor" not in md.split("## Summary")[0]


def test_audit_reverifies_the_live_run(live_run, tmp_path):
    run, _ = live_run
    recorded = {p.stem: json.loads(p.read_text())["verdict"] for p in (run / "audits").glob("*.json")}
    p = subprocess.run(GEAK + ["audit", str(run), "--json"], capture_output=True, text=True, cwd=REPO)
    fresh = {v["gate_id"]: v["verdict"] for v in json.loads(p.stdout)}
    assert fresh == {g: recorded[g] for g in fresh}


def test_replay_of_the_live_run_reproduces_it_without_an_engine(live_run, tmp_path):
    run, _ = live_run
    p = subprocess.run(
        GEAK + ["replay", str(run), "--out", str(tmp_path / "replay")], capture_output=True, text=True, cwd=REPO
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "reproduced exactly" in p.stdout


def _servers_of(run: Path) -> list[str]:
    """vLLM servers whose stdout goes to a log under ``run`` (other suites may run servers too)."""
    pids = subprocess.run(
        ["pgrep", "-f", "vllm.entrypoints.openai.api_server"], capture_output=True, text=True
    ).stdout.split()
    mine = []
    for pid in pids:
        try:
            if str(run) in os.readlink(f"/proc/{pid}/fd/1"):
                mine.append(pid)
        except OSError:
            pass  # exited meanwhile, or not ours to inspect
    return mine


def test_a_piped_run_prints_plain_progress_lines(live_run):
    _, p = live_run
    progress = [line for line in p.stdout.splitlines() if line.startswith("progress: leg aa_1 [")]
    assert any("requests" in line and "/64" in line for line in progress), p.stdout[-3000:]
    assert "\x1b[" not in p.stdout  # no cursor movement or colour in a log
    # the last word: the headline, the gate that signed it and its verdict (or why there is none)
    head = [line for line in p.stdout.splitlines() if line.startswith("headline:")]
    assert len(head) == 1 and any(w in head[0] for w in (" at gate ", "no verified headline", "no change beat")), (
        p.stdout[-2000:]
    )


def test_no_engine_process_outlives_the_run(live_run):
    run, _ = live_run
    assert _servers_of(run) == [], "orphan vLLM server(s) of this run"


def _read_pty(fd: int, chunks: list, stop) -> None:
    import time

    while not stop.is_set():
        try:
            data = os.read(fd, 65536)
        except OSError:
            return
        if not data:
            return
        chunks.append((time.monotonic(), data.decode(errors="replace")))


ANSI = __import__("re").compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_on_a_terminal_progress_shows_at_least_every_10_s_then_sigterm_tears_the_server_down(tmp_path):
    """`geak run` on a pseudo-terminal: from the first leg's row on, the live table changes at least
    every 10 s (elapsed, rep, requests done of total); a SIGTERM mid-leg ends the run interrupted,
    its server torn down."""
    if not _vllm_available():
        pytest.skip("vLLM is not installed (bash scripts/setup.sh)")
    import pty
    import re
    import signal
    import threading
    import time

    run = tmp_path / "run"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": "160", "LINES": "40", "TERM": "xterm"}
    master, slave = pty.openpty()
    chunks: list = []
    stop = threading.Event()
    p = subprocess.Popen(
        GEAK
        + [
            "run",
            "--run-dir",
            str(run),
            "--workflow",
            str(REPO / "tests/data/graph/live.yaml"),
            "--use-auditor",
            "--enforce-eager",
            "--no-report",
        ],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=REPO,
        start_new_session=True,
    )
    os.close(slave)
    reader = threading.Thread(target=_read_pty, args=(master, chunks, stop), daemon=True)
    reader.start()
    try:
        deadline = time.time() + 300
        rep1 = run / "legs" / "aa_1" / "raw" / "rep_1.json"  # the warm-up rep done: counted reps under way
        while time.time() < deadline and not rep1.exists():
            time.sleep(1)
        assert rep1.exists(), "the first leg never finished its warm-up rep"
        time.sleep(3)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(90)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        stop.set()
        os.close(master)
    rows = [(t, ANSI.sub("", text)) for t, text in chunks]
    times = [t for t, text in rows if re.search(r"aa_1\s+cpu", text)]
    assert len(times) > 5, "".join(text for _, text in rows)[-3000:]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) <= 10.0, f"the leg's row went {max(gaps):.1f} s without an update"
    seen = "".join(text for _, text in rows)
    assert re.search(r"aa_1\s+cpu\S*\s+(warm-up requests|requests)\s+\d/4\s+\d+/\d+", seen), seen[-3000:]
    assert rc == 130
    s = json.loads((run / "summary.json").read_text())
    assert s["status"] == "interrupted" and "--resume" in s["error"]
    assert _servers_of(run) == [], "orphan vLLM server(s) after SIGTERM"
