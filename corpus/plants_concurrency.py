"""Plants of legs that ran at the same time (the leg scheduler, issue 17). Two legs of the run
overlap in time; what decides B5 is whether they shared a core (the engine's own binding line,
else launch.json's device set) and what other processes used on the leg's own cores. Keys are
written from the flaw: an honest pair on disjoint cores must not be flagged."""

from __future__ import annotations

import json
from collections.abc import Callable

from geak.auditor.evidence.store import RunStore

from .plants import Plant, plant
from geak.auditor.evidence.layout import LAUNCH, RAW, SERVER_LOG, leg_file

BASE, CFG = "baseline", "cfg_seqs512"


def _concurrent(
    devices: dict[str, str], cores: dict[str, list[int]] | None, shared: dict[str, float]
) -> Callable[[RunStore], None]:
    """BASE and CFG run over the same 90 s (CFG starts 10 s after BASE) on ``devices``; each
    engine's log says which cores it bound (``cores``; None: no such line); ``shared``: the
    fingerprint's load of other processes on the leg's cores."""

    def f(s: RunStore) -> None:
        t0 = json.loads(s.path(leg_file(BASE, LAUNCH)).read_text())["started_at"]
        for i, leg in enumerate((BASE, CFG)):
            p = s.path(leg_file(leg, LAUNCH))
            o = json.loads(p.read_text())
            o["started_at"], o["ended_at"] = t0 + 10 * i, t0 + 10 * i + 90
            o["launch_config"]["devices"] = devices[leg]
            other = CFG if leg == BASE else BASE
            o["host"].update(
                device_set=devices[leg],
                sibling_legs=[other],
                sibling_cpu_busy_cores=0.95,
                shared_core_busy_cores=shared.get(leg, 0.02),
                foreign_cpu_busy_cores=0.05,
            )
            p.write_text(json.dumps(o, indent=1))
            if cores is not None:
                log = s.path(leg_file(leg, SERVER_LOG))
                lines = log.read_text().splitlines(keepends=True)
                line = (
                    f"(EngineCore pid={4100 + i}) INFO 11-23 12:00:05 [ompmultiprocessing.py:185] \t"
                    f"local_rank=0, core ids=[{', '.join(map(str, cores[leg]))}]\n"
                )
                log.write_text("".join(lines[:1] + [line] + lines[1:]))

    return f


# the legs' gates: baseline -> "baseline", "config-accept-1"; cfg_seqs512 -> "config-accept-1", "integrate-rmsnorm"
plant(
    Plant(
        "c_siblings_disjoint",
        ("B5",),
        "the baseline and the config candidate ran at once on cores 0 and 1, each engine "
        "bound to its own core, nothing else on either: their gate compares two legs measured alike (a paired design), "
        "but the kernel gate compares the candidate (run beside the baseline) with the kernel leg (run alone)",
        {"integrate-rmsnorm": ("FLAG", ["B5"])},
        after=_concurrent({BASE: "cpu:0", CFG: "cpu:1"}, {BASE: [0], CFG: [1]}, {}),
    )
)
plant(
    Plant(
        "c_same_core",
        ("B5",),
        "the baseline and the config candidate ran at once; launch.json says cores 0 and 1, but "
        "both engines' own logs say they bound core 1",
        {g: ("FLAG", ["B5"]) for g in ("baseline", "config-accept-1", "integrate-rmsnorm")},
        after=_concurrent({BASE: "cpu:0", CFG: "cpu:1"}, {BASE: [1], CFG: [1]}, {}),
    )
)
plant(
    Plant(
        "c_contended_pair",
        ("B5",),
        "the baseline and the config candidate ran at once on disjoint cores, but other "
        "processes used 0.6 of the baseline's one core (an unpinned sibling client)",
        {g: ("FLAG", ["B5"]) for g in ("baseline", "config-accept-1", "integrate-rmsnorm")},
        after=_concurrent({BASE: "cpu:0", CFG: "cpu:1"}, {BASE: [0], CFG: [1]}, {BASE: 0.6}),
    )
)
plant(
    Plant(
        "c_unknown_sets",
        ("B5",),
        "the baseline and the config candidate ran at once and neither records a device set the auditor can read",
        {g: ("FLAG", ["B5"]) for g in ("baseline", "config-accept-1", "integrate-rmsnorm")},
        after=_concurrent({BASE: "gpu-pool", CFG: "gpu-pool"}, None, {}),
    )
)


def _hidden_overlap(s: RunStore) -> None:
    """CFG's client ran at the same moments as BASE's (its raw reps' request times and dates moved
    onto BASE's), both engines bound core 1, and launch.json still says the legs were 100 s apart."""
    import time as _t

    shift = (
        json.loads(s.path(leg_file(CFG, LAUNCH)).read_text())["started_at"]
        - json.loads(s.path(leg_file(BASE, LAUNCH)).read_text())["started_at"]
    )
    for f in sorted(s.path(leg_file(CFG, RAW)).glob("rep_*.json")):
        o = json.loads(f.read_text())
        o["start_times"] = [x - shift for x in o["start_times"]]
        when = _t.mktime(_t.strptime(o["date"], "%Y%m%d-%H%M%S")) - _t.timezone - shift
        o["date"] = _t.strftime("%Y%m%d-%H%M%S", _t.gmtime(when))
        f.write_text(json.dumps(o, separators=(",", ":")) + "\n")
    for i, leg in enumerate((BASE, CFG)):
        p = s.path(leg_file(leg, LAUNCH))
        o = json.loads(p.read_text())
        o["launch_config"]["devices"] = ("cpu:0", "cpu:1")[i]
        o["host"].update(device_set=o["launch_config"]["devices"])
        p.write_text(json.dumps(o, indent=1))
        log = s.path(leg_file(leg, SERVER_LOG))
        lines = log.read_text().splitlines(keepends=True)
        line = f"(EngineCore pid={4100 + i}) INFO 11-23 12:00:05 [ompmultiprocessing.py:185] \tlocal_rank=0, core ids=[1]\n"
        log.write_text("".join(lines[:1] + [line] + lines[1:]))


plant(
    Plant(
        "c_hidden_overlap",
        ("B5",),
        "the baseline and the config candidate ran at once with both engines on core 1; "
        "launch.json puts them 100 s apart, but the benchmark tool's own request times (start_times on the host's "
        "clock, tied to wall time by its date) show their repetitions running together",
        {g: ("FLAG", ["B5"]) for g in ("baseline", "config-accept-1", "integrate-rmsnorm")},
        after=_hidden_overlap,
    )
)


# ---------------------------------------------------------------- legs on other hosts (Ray beyond one box)
DAY_S = 86400.0  # another host's monotonic clock: booted a day apart, so date - monotonic differs by that


def _on_host(
    s: RunStore,
    leg: str,
    hostname: str | None,
    clock_shift_s: float,
    *,
    devices: str = "cpu:0",
    core: int | None = 0,
    at: float | None = None,
) -> None:
    """``leg`` as measured on another box: its fingerprint names ``hostname`` (None: unchanged), its
    raw reps' monotonic request times moved by ``clock_shift_s`` (the tool's clock of another boot;
    their dates unchanged), its engine bound ``core`` of that box, starting at ``at`` (None: as is)."""
    p = s.path(leg_file(leg, LAUNCH))
    o = json.loads(p.read_text())
    if at is not None:
        o["started_at"], o["ended_at"] = at, at + (o["ended_at"] - o["started_at"])
    o["launch_config"]["devices"] = devices
    o["host"].update(device_set=devices, **({"hostname": hostname} if hostname else {}))
    p.write_text(json.dumps(o, indent=1))
    for f in sorted(s.path(leg_file(leg, RAW)).glob("rep_*.json")):
        r = json.loads(f.read_text())
        r["start_times"] = [x + clock_shift_s for x in r["start_times"]]
        f.write_text(json.dumps(r, separators=(",", ":")) + "\n")
    if core is not None:
        log = s.path(leg_file(leg, SERVER_LOG))
        lines = log.read_text().splitlines(keepends=True)
        line = (
            f"(EngineCore pid=4200) INFO 11-23 12:00:05 [ompmultiprocessing.py:185] \tlocal_rank=0, core ids=[{core}]\n"
        )
        log.write_text("".join(lines[:1] + [line] + lines[1:]))


def _remote_sibling(s: RunStore) -> None:
    t0 = json.loads(s.path(leg_file(BASE, LAUNCH)).read_text())["started_at"]
    _on_host(s, BASE, None, 0.0)
    _on_host(s, "caching_audit", "node-b", DAY_S, at=t0 + 10)


def _cross_host_gate(s: RunStore) -> None:
    _on_host(s, BASE, "node-a", 0.0)
    _on_host(s, CFG, "node-b", DAY_S)


def _claimed_other_host(s: RunStore) -> None:
    _concurrent({BASE: "cpu:0", CFG: "cpu:1"}, {BASE: [1], CFG: [1]}, {})(s)
    for leg, name in ((BASE, "node-a"), (CFG, "node-b")):
        p = s.path(leg_file(leg, LAUNCH))
        o = json.loads(p.read_text())
        o["host"]["hostname"] = name
        p.write_text(json.dumps(o, indent=1))


plant(
    Plant(
        "c_remote_sibling",
        ("B5",),
        "the caching-audit leg ran on another box (node-b) while the baseline ran here, "
        "both engines on their own box's core 0: the benchmark tool's clocks differ by a day, so they shared no core "
        "(honest: nothing to flag)",
        {},
        after=_remote_sibling,
    )
)
plant(
    Plant(
        "c_cross_host_gate",
        ("B5",),
        "the config candidate was measured on another box (node-b) than the baseline "
        "(node-a) and the kernel leg: the tool's clocks differ by a day, so its gates' deltas carry the machines' "
        "difference",
        {g: ("FLAG", ["B5"]) for g in ("config-accept-1", "integrate-rmsnorm")},
        after=_cross_host_gate,
    )
)
plant(
    Plant(
        "c_claimed_other_host",
        ("B5",),
        "the baseline and the config candidate ran at once with both engines on core "
        "1; launch.json's fingerprints name two hosts, but the benchmark tool's clocks are one host's",
        {g: ("FLAG", ["B5"]) for g in ("baseline", "config-accept-1", "integrate-rmsnorm")},
        after=_claimed_other_host,
    )
)
