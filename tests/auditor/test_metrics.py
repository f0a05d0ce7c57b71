"""The engine's /metrics snapshots (auditor/evidence/metrics.py): real vLLM-on-CPU answers
from the shipped recording, and hostile bytes a producer could put in their place."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from geak.auditor.evidence.metrics import (
    MAX_TEXT_BYTES,
    decode_snapshot,
    parse_snapshot,
    quantile_bucket,
    snapshot_names,
    window,
)

REPO = Path(__file__).resolve().parents[2]
LEG = REPO / "runs" / "recorded" / "tiny-cpu-run" / "legs" / "baseline"


def _pair(rep: str = "raw/rep_1.json"):
    b, a = snapshot_names(str(LEG / rep))
    return parse_snapshot(decode_snapshot(Path(b).read_bytes())), parse_snapshot(decode_snapshot(Path(a).read_bytes()))


def test_snapshot_names_sit_beside_the_result_file():
    assert snapshot_names("legs/x/raw/rep_3.json") == (
        "legs/x/raw/rep_3.metrics_before.prom.gz",
        "legs/x/raw/rep_3.metrics_after.prom.gz",
    )


def test_a_real_window_counts_exactly_the_tools_requests_and_tokens():
    before, after = _pair()
    w = window(before, after)
    raw = json.loads((LEG / "raw" / "rep_1.json").read_text())
    assert not w.problems and before.engine == "vllm"
    assert w.counters == {
        "requests": raw["completed"],
        "prompt_tokens": sum(raw["input_lens"]),
        "generation_tokens": sum(raw["output_lens"]),
    }
    # the engine's latencies of the same requests are a little shorter than the client's
    for fam, key in (("ttft_s", "ttfts"), ("e2e_s", "latencies")):
        assert w.counts[fam] == raw["completed"]
        assert 0.85 < w.sums[fam] / sum(raw[key]) <= 1.0, (fam, w.sums[fam], sum(raw[key]))
        assert w.buckets[fam][-1] == (math.inf, raw["completed"])


def test_every_rep_of_the_recording_has_its_pair():
    for rep in sorted((LEG / "raw").glob("rep_*.json")):
        for f in snapshot_names(str(rep)):
            assert Path(f).is_file(), f


def test_quantile_bucket_edges():
    rows = [(0.1, 0.0), (0.5, 60.0), (1.0, 99.0), (math.inf, 100.0)]
    assert quantile_bucket(rows, 0.5) == (0.1, 0.5)
    assert quantile_bucket(rows, 0.99) == (0.5, 1.0)
    assert quantile_bucket(rows, 1.0) == (1.0, math.inf)
    assert quantile_bucket([(1.0, 0.0), (math.inf, 0.0)], 0.5) is None
    assert quantile_bucket([], 0.5) is None


HIST = 'vllm:e2e_request_latency_seconds_bucket{{engine="0",le="{le}",model_name="m"}} {v}\n'


def _text(prompt: float, buckets: dict[str, float]) -> str:
    return f'vllm:prompt_tokens_total{{engine="0",model_name="m"}} {prompt}\n' + "".join(
        HIST.format(le=le, v=v) for le, v in buckets.items()
    )


def test_a_counter_that_goes_down_is_a_problem():
    w = window(parse_snapshot(_text(100, {"1.0": 1, "+Inf": 1})), parse_snapshot(_text(40, {"1.0": 1, "+Inf": 1})))
    assert any("went down" in p for p in w.problems)


def test_buckets_that_are_not_cumulative_or_differ_are_problems():
    before = parse_snapshot(_text(0, {"1.0": 0, "+Inf": 0}))
    w = window(before, parse_snapshot(_text(10, {"1.0": 5, "+Inf": 3})))
    assert any("not cumulative" in p for p in w.problems) and "e2e_s" not in w.buckets
    w = window(before, parse_snapshot(_text(10, {"0.5": 1, "+Inf": 3})))
    assert any("different buckets" in p for p in w.problems)


@pytest.mark.parametrize(
    "text",
    [
        'vllm:prompt_tokens_total{engine="0"} nan\n',
        'vllm:prompt_tokens_total{engine="0"} -5\n',
        'vllm:prompt_tokens_total{engine="0"} 1e999\n',
        'vllm:prompt_tokens_total{engine="0"} twelve\n',
        "vllm:prompt_tokens_total{" + "a" * 100_000 + "} 1\n",
        'vllm:e2e_request_latency_seconds_bucket{le="soon"} 3\n',
        'vllm:e2e_request_latency_seconds_bucket{engine="0"} 3\n',
        "vllm:prompt_tokens_total " + "{" * 50_000 + "\n",
    ],
)
def test_malformed_lines_are_counted_never_raised(text):
    snap = parse_snapshot(text)
    assert snap.bad_lines == [1] and not snap.counters and not snap.buckets


@pytest.mark.parametrize(
    "data, counters",
    [
        (b"", {}),
        (b"\xff\xfe\x00" * 1000, {}),
        (b"# HELP only comments\n# TYPE x counter\n", {}),
        (b"\n" * 100_000, {}),
        (
            b"sglang:prompt_tokens_total 7.0\r\nvllm:generation_tokens_total{} 3\n",
            {"prompt_tokens": 7.0, "generation_tokens": 3.0},
        ),
    ],
)
def test_any_bytes_parse_without_raising(data, counters):
    snap = parse_snapshot(data.decode("utf-8", errors="replace"))
    assert snap.counters == counters and not snap.bad_lines
    w = window(snap, snap)  # and a window of anything is computed, not raised
    assert w.counters == {k: 0.0 for k in counters} and not w.problems


def test_counters_sum_over_labels():
    text = (
        'vllm:request_success_total{engine="0",finished_reason="length",model_name="m"} 7.0\n'
        'vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 2.0\n'
        'vllm:request_success_total{engine="1",finished_reason="length",model_name="m"} 1.0\n'
        'vllm:request_success_created{engine="0",finished_reason="length",model_name="m"} 1.7e9\n'
    )
    assert parse_snapshot(text).counters == {"requests": 10.0}


def test_a_corrupt_or_bomb_snapshot_is_refused_with_the_reason():
    import gzip

    with pytest.raises(ValueError, match="not a readable gzip"):
        decode_snapshot(b"vllm:prompt_tokens_total 3\n")
    with pytest.raises(ValueError, match="decompresses to more than"):
        decode_snapshot(gzip.compress(b"#" * (MAX_TEXT_BYTES + 10)))


# ---------------------------------------------------------------- plausibility (issue 32)


def test_a_histogram_whose_sum_its_buckets_cannot_hold_is_named():
    import copy

    before, after = _pair()
    forged = copy.deepcopy(after)
    # every observation of the window moved into the lowest bucket, the _sum left as it was
    n = forged.counts["e2e_s"] - before.counts["e2e_s"]
    for le in forged.buckets["e2e_s"]:
        forged.buckets["e2e_s"][le] = before.buckets["e2e_s"][le] + n
    w = window(before, forged)
    assert any("histogram e2e_s: _sum" in p and "cannot come from its buckets" in p for p in w.problems), w.problems


def test_a_histogram_whose_count_is_not_its_last_bucket_is_named():
    import copy

    before, after = _pair()
    forged = copy.deepcopy(after)
    forged.counts["ttft_s"] += 3
    assert any("_count says" in p for p in window(before, forged).problems)


def test_counters_that_go_down_between_one_reps_end_and_the_next_ones_start_are_named():
    from geak.auditor.evidence.metrics import went_down

    _, end1 = _pair("raw/rep_1.json")
    start2, _ = _pair("raw/rep_2.json")
    assert went_down(end1, start2) == []
    assert went_down(start2, end1)  # the same answers taken in the wrong order


def test_every_window_of_every_shipped_recording_is_plausible():
    n = 0
    for a in sorted((REPO / "runs" / "recorded").glob("*/legs/*/raw/*.metrics_after.prom.gz")):
        b = Path(str(a).replace(".metrics_after.", ".metrics_before."))
        w = window(parse_snapshot(decode_snapshot(b.read_bytes())), parse_snapshot(decode_snapshot(a.read_bytes())))
        assert not [p for p in w.problems if "histogram" in p], (a, w.problems)
        n += 1
    assert n > 200
