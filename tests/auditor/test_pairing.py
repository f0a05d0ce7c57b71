"""Which reps of two legs ran side by side, re-derived from vLLM's own --save-detailed bytes
(auditor/evidence/pairing.py), on a real recording whose two A/A legs ran at once on two cores."""

import copy
import json
from pathlib import Path

import pytest

from geak.auditor.evidence.pairing import rep_window, same_clock, simultaneous

LEGS = Path(__file__).resolve().parents[2] / "runs" / "recorded" / "tiny-cpu-parallel" / "legs"


def _raws(leg):
    return [(str(f), json.loads(f.read_text())) for f in sorted((LEGS / leg / "raw").glob("rep_*.json"))]


def _windows(raws):
    return [rep_window(r, f) for f, r in raws]


def test_a_reps_window_is_its_requests_span_on_the_hosts_clock():
    f, raw = _raws("aa_1")[1]
    w = rep_window(raw, f)
    ends = [s + lat for s, lat in zip(raw["start_times"], raw["latencies"])]
    assert (w.start, w.end) == (min(raw["start_times"]), max(ends))
    assert 0 < w.end - w.start <= raw["duration"] + 0.5  # the tool's own duration spans the same requests
    assert w.wall_end is not None and w.offset is not None


def test_two_legs_at_once_on_one_host_share_a_clock_but_their_reps_were_not_side_by_side():
    a, b = _windows(_raws("aa_1")), _windows(_raws("aa_2"))
    assert all(same_clock(x, y) for x in a for y in b)
    p = simultaneous(a, b, min_evenness=0.8)
    # the two legs' clients were not synchronized: aa_2's server was up ~2.6 s before aa_1's, so
    # its four ~0.4 s reps ran almost all before aa_1's first; the one rep of each that overlapped
    # ran 63% evenly and is dropped (the recording of 2026-12-07; of 2026-12-02: 2 of 3 dropped)
    assert p.unverifiable is None and p.pairs == []
    assert len(p.dropped) == 1 and all(f < 0.8 for _, _, f, _ in p.dropped)


def test_reps_that_ran_together_pair_and_drift_does_not_matter():
    ra = _raws("aa_1")
    rb = copy.deepcopy(ra)  # the same spans, as a client started at the same moments would give
    for _, r in rb:
        r["start_times"] = [s + 0.01 for s in r["start_times"]]
    p = simultaneous(_windows(ra), _windows(rb), min_evenness=0.8)
    assert len(p.pairs) == len(ra) and not p.dropped
    assert [x[0].file for x in p.pairs] == [f for f, _ in ra]  # in time order


def test_another_clock_makes_the_pairing_unverifiable():
    ra = _raws("aa_1")
    rb = copy.deepcopy(ra)
    for _, r in rb:
        r["date"] = (
            r["date"][:9] + str((int(r["date"][9:11]) + 1) % 24).zfill(2) + r["date"][11:]
        )  # an hour later, same clock values
    p = simultaneous(_windows(ra), _windows(rb), min_evenness=0.8)
    assert p.pairs == [] and "different clocks" in p.unverifiable


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.pop("start_times"),
        lambda r: r.update(latencies=[]),
        lambda r: r.update(start_times=["x"] * len(r["start_times"])),
        lambda r: r.update(date="yesterday"),
    ],
)
def test_odd_bytes_give_none_never_an_exception(mutate):
    f, raw = _raws("aa_1")[0]
    r = copy.deepcopy(raw)
    mutate(r)
    w = rep_window(r, f)
    assert w is None or w.wall_end is None
    assert rep_window("not a dict", f) is None


def test_reps_started_together_are_even_whatever_their_lengths():
    # a candidate 25% faster ends first: that is the effect, not an uneven pair
    from geak.auditor.evidence.pairing import RepWindow, evenness

    ref, fast = RepWindow("a", 0.0, 10.0, None), RepWindow("b", 0.0, 7.5, None)
    assert evenness(ref, fast) == 1.0
    assert evenness(ref, RepWindow("c", 3.0, 10.5, None)) < 0.8  # started 3 s late into a 7.5 s rep
    assert evenness(ref, RepWindow("d", 20.0, 25.0, None)) == 0.0
    assert evenness(ref, RepWindow("e", 1.0, 1.0, None)) is None
