"""bench/engine_time.py on a small hand-made run: a leg with its own server, one on a reused
server (no start-up), and the gap the kept server sat idle between them."""

import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import engine_time  # noqa: E402

T0 = dt.datetime(2026, 12, 2, 3, 0, 0, tzinfo=dt.UTC).timestamp()


def _leg(
    run: Path, leg: str, t0: float, t1: float, reps: list[tuple[float, float]], server: dict | None, up: float | None
):
    d = run / "legs" / leg
    (d / "raw").mkdir(parents=True)
    (d / "launch.json").write_text(json.dumps({"started_at": t0, "ended_at": t1, "server": server}))
    if up is not None:
        stamp = dt.datetime.fromtimestamp(up, dt.UTC).strftime("%m-%d %H:%M:%S")
        (d / "server.log").write_text(
            f"(APIServer pid=1) INFO {stamp} [api_server.py:1] up\nINFO:     Application startup complete.\n"
        )
    for i, (start, dur) in enumerate(reps):
        date = dt.datetime.fromtimestamp(start + dur, dt.UTC).strftime("%Y%m%d-%H%M%S")
        (d / "raw" / f"rep_{i}.json").write_text(json.dumps({"date": date, "duration": dur}))


def test_a_reused_leg_pays_no_start_up_and_idle_time_counts(tmp_path):
    run = tmp_path / "run"
    _leg(run, "aa_1", T0, T0 + 100, [(T0 + 70, 10), (T0 + 80, 10)], {"owner_leg": "aa_1", "reused": False}, up=T0 + 60)
    _leg(
        run,
        "baseline",
        T0 + 110,
        T0 + 150,
        [(T0 + 120, 10), (T0 + 130, 10)],
        {"owner_leg": "aa_1", "reused": True},
        up=None,
    )
    legs, _ = engine_time.run_times(run)
    by = {t.leg_id: t for t in legs}
    assert by["aa_1"].startup_s == 60 and by["baseline"].startup_s == 0
    assert by["baseline"].probes_s == 10 and by["baseline"].reps_s == 20
    s = engine_time.summary(run, legs, None)
    assert (s["servers"], s["reused_legs"], s["idle_s"]) == (1, 1, 10)
    assert s["engine_s"] == 100 + 40 + 10
    assert abs(s["measure_share"] - 40 / 150) < 1e-9
    assert engine_time.main([str(run)]) == 0


def test_no_legs_is_usage(tmp_path):
    (tmp_path / "legs").mkdir()
    assert engine_time.main([str(tmp_path)]) == 2
