"""Plants of server lifetimes (server reuse, issue 17): a leg measured on a server an earlier
leg of the same launch left up. Declared and backed by the engine's log, that is honest and
must PASS; hidden, pointed at the wrong server, on a warm cache, mixed with its owner's
requests, on a candidate, or between A/A legs, it is not. Keys are written from the flaw."""

from __future__ import annotations

import json
import shutil
from typing import Any
from collections.abc import Callable

from geak.auditor.evidence.store import RunStore

from .plants import Plant, plant
from .synthetic import BASE_TPUT, LegSpec
from geak.auditor.evidence.layout import LAUNCH, SERVER_LOG, leg_file

RESET = "(APIServer pid={pid}) INFO 11-23 12:{mm:02d}:00 [api_router.py:39] Resetting prefix cache...\n"
REQUESTS = '(APIServer pid={pid}) INFO:     127.0.0.1:41234 - "POST /v1/completions HTTP/1.1" 200 OK\n'


def _pid(s: RunStore, leg: str) -> int:
    line = s.path(leg_file(leg, SERVER_LOG)).read_text().splitlines()[0]
    return int(line.split("pid=", 1)[1].split(")", 1)[0])


def _reuse(
    leg: str, owner: str, *, reset: bool = True, start_at: float | None = None, pid: int | None = None
) -> Callable[[RunStore], None]:
    """``leg`` measured on ``owner``'s server: its own server.log gone (the engine wrote one log),
    the owner's log grows by this leg's window (a cache reset, then its requests)."""

    def f(s: RunStore) -> None:
        log = s.path(leg_file(owner, SERVER_LOG))
        real = _pid(s, owner)
        start = log.stat().st_size
        with open(log, "a") as fh:
            fh.write((RESET.format(pid=real, mm=30) if reset else "") + REQUESTS.format(pid=real) * 3)
        s.path(leg_file(leg, SERVER_LOG)).unlink()
        p = s.path(leg_file(leg, LAUNCH))
        o: dict[str, Any] = json.loads(p.read_text())
        own = json.loads(s.path(leg_file(owner, LAUNCH)).read_text())
        if start_at is not None:
            o["started_at"], o["ended_at"] = start_at, start_at + 90
        o["server"] = {
            "owner_leg": owner,
            "pid": pid if pid is not None else real,
            "started_at": own["started_at"],
            "reused": True,
            "log_offset_start": start,
            "log_offset_end": log.stat().st_size,
            "cache_reset": '{"success":true}' if reset else None,
        }
        p.write_text(json.dumps(o, indent=1))

    return f


def _copy_log(leg: str, owner: str) -> Callable[[RunStore], None]:
    """``leg`` measured on ``owner``'s server and says nothing: its server.log is the owner's bytes."""

    def f(s: RunStore) -> None:
        shutil.copyfile(s.path(leg_file(owner, SERVER_LOG)), s.path(leg_file(leg, SERVER_LOG)))

    return f


def _add_legs(*specs: LegSpec) -> Callable[[dict[str, Any]], None]:
    def f(legs: dict[str, Any]) -> None:
        for spec in specs:
            legs[spec.leg_id] = spec

    return f


T0 = 1_700_000_000.0
CFG = {"scheduler_config.max_num_seqs": 512}

plant(
    Plant(
        "l_reuse_declared",
        ("E2",),
        "the bundle's second reference leg measured on the server its first reference leg "
        "left up, declared in launch.json, the prefix cache reset in the engine's own log before it measured: honest",
        {},
        after=_reuse("val_base_2", "val_base_1"),
    )
)
plant(
    Plant(
        "l_reuse_hidden",
        ("E2",),
        "the bundle's second reference leg measured on the first one's server, and its "
        "server.log is a copy of the first's: one server lifetime sold as two launches",
        {"bundle": ("FAIL", ["E2"])},
        after=_copy_log("val_base_2", "val_base_1"),
    )
)
plant(
    Plant(
        "l_reuse_no_reset",
        ("E2",),
        "the bundle's second reference leg declares the first one's server, but the engine's "
        "log shows no prefix-cache reset before it measured the same prompts again",
        {"bundle": ("FLAG", ["E2"])},
        after=_reuse("val_base_2", "val_base_1", reset=False),
    )
)
plant(
    Plant(
        "l_reuse_wrong_server",
        ("E2", "P2"),
        "the bundle's second reference leg declares the config candidate's server "
        "(max_num_seqs 512), but the engine answered it the base config: not the server it names (and the log it "
        "points at contradicts its launch.json)",
        {"bundle": ("FAIL", ["E2", "P2"])},
        after=_reuse("val_base_2", "cfg_seqs512"),
    )
)
plant(
    Plant(
        "l_reuse_wrong_pid",
        ("E2",),
        "the bundle's second reference leg declares the first one's server under a pid the engine's log does not name",
        {"bundle": ("FAIL", ["E2"])},
        after=_reuse("val_base_2", "val_base_1", pid=4242),
    )
)
plant(
    Plant(
        "l_reuse_while_owner_ran",
        ("E2", "B5", "F1"),
        "the bundle's second reference leg declares the first one's server "
        "and measured on it while the first was still measuring: two legs' requests mixed on one server (so legs ran at "
        "once, and the bundle's legs are no longer A B A B in time)",
        {"bundle": ("FAIL", ["E2", "B5", "F1"])},
        after=_reuse("val_base_2", "val_base_1", start_at=T0 + 340),
    )
)
plant(
    Plant(
        "l_reuse_candidate",
        ("E2",),
        "the config candidate measured on a server an earlier leg of its config left up "
        "(a warm-up leg before the baseline): a candidate must start its own; as the kernel gate's reference it may reuse",
        {"config-accept-1": ("FLAG", ["E2"])},
        legs_mod=_add_legs(LegSpec("cfg_warm", "candidate", BASE_TPUT * 1.08, resolved=CFG, started_at=T0 - 100)),
        after=_reuse("cfg_seqs512", "cfg_warm"),
    )
)
# a band that is unknown FLAGs every gate that stands on it (B1, P3, F1)
BAND_UNKNOWN = {
    "baseline": ("FLAG", ["B1"]),
    "config-accept-1": ("FLAG", ["P3"]),
    "integrate-rmsnorm": ("FLAG", ["P3"]),
    "bundle": ("FLAG", ["F1"]),
}
AA_LEGS = _add_legs(
    LegSpec("aa_1", "aa", BASE_TPUT, started_at=T0 - 300), LegSpec("aa_2", "aa", BASE_TPUT, started_at=T0 - 200)
)

plant(
    Plant(
        "l_aa_one_server",
        ("B1", "P3", "F1"),
        "the run's two A/A legs measured on one server (the second declares the "
        "first's): the band has no launch-to-launch variance, so it is unknown and every gate on it FLAGs",
        BAND_UNKNOWN,
        legs_mod=AA_LEGS,
        after=_reuse("aa_2", "aa_1"),
    )
)
plant(
    Plant(
        "l_aa_hidden_one_server",
        ("B1", "P3", "F1"),
        "the run's two A/A legs measured on one server and say nothing: the second's server.log is the first's bytes",
        BAND_UNKNOWN,
        legs_mod=AA_LEGS,
        after=_copy_log("aa_2", "aa_1"),
    )
)


def _twin_with_edited_identity(leg: str, owner: str, new_pid: int) -> Callable[[RunStore], None]:
    """``leg``'s server.log is ``owner``'s bytes with its pid lines edited to another pid: one
    lifetime counted as two, its identity hidden from the twin check; the leg's server record
    (launch.json, written when it launched) still names its own server's pid."""

    def f(s: RunStore) -> None:
        real = _pid(s, owner)
        text = s.path(leg_file(owner, SERVER_LOG)).read_text().replace(f"pid={real})", f"pid={new_pid})")
        s.path(leg_file(leg, SERVER_LOG)).write_text(text)

    return f


plant(
    Plant(
        "l_identity_lines_edited",
        ("E2",),
        "the bundle's second reference leg's log is the first one's with its pid lines "
        "edited (one server counted as two, the twin check blinded): the pid and port it names are not its server record's",
        {"bundle": ("FAIL", ["E2"])},
        after=_twin_with_edited_identity("val_base_2", "val_base_1", 4711),
        source="issue 32",
    )
)
