"""A repetition copied with its bytes altered is found by what it measured (evidence/copies.py),
and no repetition of a real recording is ever taken for a copy."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest

from geak.auditor.evidence.copies import fingerprint
from geak.auditor.evidence.copies import same_measurement as _same
from geak.auditor.evidence.raw import parse_raw as read_raw

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "runs" / "recorded"
REP = RECORDED / "tiny-cpu-run" / "legs" / "baseline" / "raw"


def same_measurement(a, b):
    return _same(fingerprint(a), fingerprint(b))


def _rr(obj: dict, tmp_path: Path, name: str):
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    rr, probs = read_raw(p.read_bytes(), name)
    assert not [pr for pr in probs if pr.field], probs
    return rr


@pytest.fixture()
def real() -> dict:
    return json.loads((REP / "rep_1.json").read_text())


def test_no_two_reps_of_any_shipped_recording_are_one_measurement():
    pairs = 0
    for leg in sorted(RECORDED.glob("*/legs/*/raw")):
        reps = []
        for f in sorted(leg.glob("rep_*.json")):
            rr, _ = read_raw(f.read_bytes(), str(f))
            reps.append(rr)
        for i, a in enumerate(reps):
            for b in reps[i + 1 :]:
                pairs += 1
                assert same_measurement(a, b) is None, (a.file, b.file, same_measurement(a, b))
    assert pairs > 200  # every leg of all seven recordings, not a handful


@pytest.mark.parametrize("alter", ["nudge", "scale", "shuffle", "drop_one"])
def test_a_copy_altered_is_the_same_measurement(real, tmp_path, alter):
    c = copy.deepcopy(real)
    if alter == "nudge":
        c["duration"] *= 1.0000003
    elif alter == "scale":
        for k in ("ttfts", "latencies"):
            c[k] = [x * 0.97 for x in c[k]]
        c["duration"] *= 0.97
    elif alter == "shuffle":
        order = list(range(len(c["ttfts"])))
        random.Random(1).shuffle(order)
        for k in (
            "ttfts",
            "latencies",
            "input_lens",
            "output_lens",
            "itls",
            "start_times",
            "errors",
            "generated_texts",
        ):
            c[k] = [c[k][i] for i in order]
    else:  # one request fewer: another count, another file, the same measurement
        for k in (
            "ttfts",
            "latencies",
            "input_lens",
            "output_lens",
            "itls",
            "start_times",
            "errors",
            "generated_texts",
        ):
            c[k] = c[k][1:]
        c["num_prompts"] = c["completed"] = len(c["ttfts"])
    why = same_measurement(_rr(real, tmp_path, "a.json"), _rr(c, tmp_path, "b.json"))
    assert why is not None and "a.json" in why


def test_two_real_reps_of_one_leg_are_two_measurements(tmp_path):
    a = json.loads((REP / "rep_1.json").read_text())
    b = json.loads((REP / "rep_2.json").read_text())
    assert same_measurement(_rr(a, tmp_path, "a.json"), _rr(b, tmp_path, "b.json")) is None


def _aggregates_only(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if not isinstance(v, list)}


def test_aggregates_only_a_copy_scaled_is_one_measurement_and_another_rep_is_not(tmp_path):
    a = _aggregates_only(json.loads((REP / "rep_1.json").read_text()))
    scaled = {
        k: (
            v * 1.05
            if isinstance(v, float) and (k.endswith("throughput"))
            else v / 1.05
            if isinstance(v, float) and (k.endswith("_ms") or k == "duration")
            else v
        )
        for k, v in a.items()
    }
    other = _aggregates_only(json.loads((REP / "rep_2.json").read_text()))
    ra = _rr(a, tmp_path, "a.json")
    assert same_measurement(ra, _rr(dict(a), tmp_path, "same.json")) is not None
    assert same_measurement(ra, _rr(scaled, tmp_path, "scaled.json")) is not None
    assert same_measurement(ra, _rr(other, tmp_path, "other.json")) is None
