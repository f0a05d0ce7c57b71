"""Plants of the noise band and the reps (issue 32): A/A legs deleted, relabelled, contended or
short; reps copied with their bytes altered; reps deleted with every trace of them. Each edits the
clean run as a producer with write access to the run directory would, keeping geak's normalized
copy consistent with the tool's file it altered (so P2 cannot see them apart by comparing the two).
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any
from collections.abc import Callable

from geak.auditor.evidence.store import RunStore

from .plants import Plant, _both, _edit_json, _edit_raw, plant
from .plants_lifetime import BAND_UNKNOWN
from .plants_tamper import BOTH_CFG, CFG
from geak.auditor.evidence.layout import BENCH_RUNS, LAUNCH, MANIFEST, leg_dir, leg_file

TAG = ("reps",)
PER_REQUEST = ("input_lens", "output_lens", "ttfts", "itls", "latencies", "start_times", "errors", "generated_texts")


# ---------------------------------------------------------------- reps copied, their bytes altered


def _nudge(o: dict[str, Any]) -> None:
    o["duration"] *= 1.0000003  # one digit of the duration: the bytes differ, the measurement does not


def _scale(k: float) -> Callable[[dict[str, Any]], None]:
    """Every time the tool measured scaled by k, every rate by 1/k: a faster-looking rep of one measurement."""

    def f(o: dict[str, Any]) -> None:
        o["duration"] *= k
        for key in list(o):
            if key.endswith("_ms") and isinstance(o[key], (int, float)):
                o[key] *= k
            elif "throughput" in key and isinstance(o[key], (int, float)):
                o[key] /= k
        o["ttfts"] = [t * k for t in o["ttfts"]]
        o["latencies"] = [t * k for t in o["latencies"]]
        o["itls"] = [[t * k for t in row] for row in o["itls"]]

    return f


def _shuffle(o: dict[str, Any]) -> None:
    n = len(o["ttfts"])
    order = list(range(n))
    random.Random(7).shuffle(order)
    for key in PER_REQUEST:
        if isinstance(o.get(key), list) and len(o[key]) == n:
            o[key] = [o[key][i] for i in order]
    _nudge(o)


def _clone(
    leg: str, src: int, dsts: tuple[int, ...], alter: Callable[[dict[str, Any]], None]
) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        base = json.loads(s.path(f"legs/{leg}/raw/rep_{src}.json").read_text())
        for dst in dsts:

            def put(o: dict[str, Any]) -> None:
                o.clear()
                o.update(copy.deepcopy(base))
                alter(o)

            _edit_raw(leg, dst, put)(s)

    return f


plant(
    Plant(
        "r_aa_rep_cloned",
        ("B1", "P3", "F1"),
        "aa_1's first counted rep copied over its other two with one digit of "
        "the duration changed (and geak's copy rewritten to match): the A/A spread narrows to nothing",
        BAND_UNKNOWN,
        after=_clone("aa_1", 1, (2, 3), _nudge),
        source="issue 32",
        tags=TAG,
    )
)
# a copy is counted once, so the leg holds fewer reps than it planned (P1) and than a gate weighs (P3)
plant(
    Plant(
        "r_cand_rep_scaled",
        ("P1", "P2", "P3"),
        "the candidate's second counted rep is its first with every time scaled by 0.97 "
        "and every rate by 1/0.97: a faster copy, no byte in common",
        {g: ("FAIL", ["P1", "P2", "P3"]) for g in BOTH_CFG},
        after=_clone(CFG, 1, (2,), _scale(0.97)),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "r_base_rep_shuffled",
        ("P1", "P2", "B3", "P3"),
        "the baseline's third counted rep is its first with the requests reordered and the duration nudged",
        {"baseline": ("FAIL", ["P1", "P2", "B3"]), "config-accept-1": ("FAIL", ["P1", "P2", "P3"])},
        after=_clone("baseline", 1, (3,), _shuffle),
        source="issue 32",
        tags=TAG,
    )
)


# ---------------------------------------------------------------- reps deleted with every trace


def _drop_rep(leg: str, rep: int, *, replan: bool = False) -> Callable[[RunStore], None]:
    """The rep's raw file, its /metrics snapshots and its line gone; ``replan`` also lowers the
    plan in launch.json, so nothing in the leg contradicts the deletion."""

    def f(s: RunStore) -> None:
        for suffix in (".json", ".metrics_before.prom.gz", ".metrics_after.prom.gz"):
            p = s.path(f"legs/{leg}/raw/rep_{rep}{suffix}")
            if p.exists():
                p.unlink()
        bench = s.path(leg_file(leg, BENCH_RUNS))
        lines = [ln for ln in bench.read_text().splitlines() if ln.strip() and json.loads(ln)["rep_index"] != rep]
        bench.write_text("\n".join(lines) + "\n")
        if replan:
            _edit_json(
                leg_file(leg, LAUNCH), lambda o: o["reps_planned"].update(counted=o["reps_planned"]["counted"] - 1)
            )(s)

    return f


plant(
    Plant(
        "r_cand_rep_deleted",
        ("P1", "P3"),
        "the candidate's slowest counted rep deleted: its raw file, both snapshots and its "
        "line; the two left still beat the reference",
        {g: ("FAIL", ["P1", "P3"]) for g in BOTH_CFG},
        after=_drop_rep(CFG, 2),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "r_cand_rep_deleted_replanned",
        ("P3",),
        "as r_cand_rep_deleted, and launch.json's plan lowered to 2 counted reps: "
        "nothing contradicts the deletion, but two reps are fewer than a gate weighs",
        {g: ("FLAG", ["P3"]) for g in BOTH_CFG},
        after=_drop_rep(CFG, 2, replan=True),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "r_aa_rep_deleted_replanned",
        ("B1", "P3", "F1"),
        "aa_2's noisiest rep deleted and its plan lowered to match: two reps are fewer than a band needs",
        BAND_UNKNOWN,
        after=_drop_rep("aa_2", 3, replan=True),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "r_bundle_rep_deleted",
        ("P1", "F1"),
        "a validation leg's counted rep deleted with every trace",
        {"bundle": ("FAIL", ["P1", "F1"])},
        after=_drop_rep("val_final_1", 1),
        source="issue 32",
        tags=TAG,
    )
)


# ---------------------------------------------------------------- no usable A/A legs


def _rm_aa(s: RunStore) -> None:
    import shutil

    for leg in ("aa_1", "aa_2"):
        shutil.rmtree(s.path(leg_dir(leg)))


def _host(leg: str, **kv: Any) -> Callable[[RunStore], None]:
    return _edit_json(leg_file(leg, LAUNCH), lambda o: o["host"].update(kv))


NO_AA = _edit_json(MANIFEST, lambda o: o.update(aa_legs=[]))
plant(
    Plant(
        "n_aa_deleted",
        ("B1", "P3", "F1"),
        "both A/A legs deleted and manifest.aa_legs emptied: no leg says what this "
        "machine's noise is (the band once fell back to the 0.5% default)",
        BAND_UNKNOWN,
        after=_both(_rm_aa, NO_AA),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "n_aa_relabelled",
        ("B1", "P3", "F1"),
        "both A/A legs' launch.json say role 'reference' and manifest.aa_legs is "
        "emptied: the legs stay, no A/A leg is left",
        BAND_UNKNOWN,
        after=_both(
            *(_edit_json(leg_file(lg, LAUNCH), lambda o: o.update(role="reference")) for lg in ("aa_1", "aa_2")), NO_AA
        ),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "n_aa_contended",
        ("B1", "P3", "F1"),
        "aa_1's launch record shows foreign processes using 1.52 of 2 cores (as a fresh "
        "clone's main job once did): the band is that load's noise",
        BAND_UNKNOWN,
        after=_host("aa_1", foreign_cpu_busy_cores=1.52),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "n_aa_sibling",
        ("B1", "P3", "F1"),
        "aa_2 ran while another of the run's legs was running, by its own host record",
        BAND_UNKNOWN,
        after=_host("aa_2", other_legs_running=["cfg_seqs512"]),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "n_aa_overlaps_baseline",
        ("B1", "B5", "P3", "F1"),
        "aa_2 started 30 s before the baseline and measured beside it "
        "on the same cores (launch.json's times; the tool's request times agree): both are contended",
        {**BAND_UNKNOWN, "baseline": ("FLAG", ["B1", "B5"]), "config-accept-1": ("FLAG", ["B5", "P3"])},
        legs_mod=lambda legs: setattr(legs["aa_2"], "started_at", legs["baseline"].started_at - 30),
        source="issue 32",
        tags=TAG,
    )
)
