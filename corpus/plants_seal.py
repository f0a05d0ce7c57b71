"""Plants of a producer editing a leg's files after the leg runner sealed them (issue 32, W2).

Every edit here keeps the files readable and consistent with each other where it can: a date in
the tool's file, a snapshot recompressed, a log line reworded, a rep removed with its line, a
file added, the ledger itself removed or one of its lines rewritten. Only the seal tells them
apart from what was measured. A rewrite of files and every later ledger line together is beyond
an offline audit; the live gates catch it by the head the orchestrator holds (tests/auditor).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable

from geak.auditor.evidence.store import RunStore

from .plants import Plant, plant
from .plants_reps import _drop_rep
from .plants_tamper import BOTH_CFG, CFG, _rm_tree
from geak.auditor.evidence.layout import LEDGER

TAG = ("seal",)
LEG_GATES = ("baseline", "config-accept-1", "integrate-rmsnorm", "bundle")


def _bytes(rel: str, fn: Callable[[bytes], bytes]) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        p = s.path(rel)
        p.write_bytes(fn(p.read_bytes()))

    return f


def _one_byte(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def f(b: bytes) -> bytes:
        i = b.index(old)
        return b[:i] + new + b[i + len(old) :]

    return f


def _recompress(b: bytes) -> bytes:
    return gzip.compress(gzip.decompress(b), mtime=12345)  # the same metrics, other bytes


def _rewrite_seal_line(s: RunStore) -> None:
    """Tamper the candidate's raw file and rewrite its own seal line to match: the next line
    still names the old line's hash."""
    raw = s.path(f"legs/{CFG}/raw/rep_1.json")
    raw.write_bytes(_one_byte(b'"date":"2023', b'"date":"2024')(raw.read_bytes()))
    p = s.path(LEDGER)
    lines = p.read_text().splitlines()
    for i, ln in enumerate(lines):
        o = json.loads(ln)
        if o["leg_id"] == CFG:
            for f in o["files"]:
                if f["path"].endswith("raw/rep_1.json"):
                    data = raw.read_bytes()
                    f["size"], f["sha256"] = len(data), hashlib.sha256(data).hexdigest()
            lines[i] = json.dumps(o, separators=(",", ":"))
    p.write_text("\n".join(lines) + "\n")


plant(
    Plant(
        "s_raw_date_byte",
        ("W2",),
        "one byte of the candidate's raw file (its date) changed after the leg closed",
        {g: ("FAIL", ["W2"]) for g in BOTH_CFG},
        after_seal=_bytes(f"legs/{CFG}/raw/rep_1.json", _one_byte(b'"date":"2023', b'"date":"2024')),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "s_snapshot_recompressed",
        ("W2",),
        "the candidate's /metrics snapshot after rep 2 recompressed: the same counters, other bytes",
        {g: ("FAIL", ["W2"]) for g in BOTH_CFG},
        after_seal=_bytes(f"legs/{CFG}/raw/rep_2.metrics_after.prom.gz", _recompress),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "s_log_reworded",
        ("W2",),
        "one word of the baseline's server.log start-up changed after the leg closed",
        {g: ("FAIL", ["W2"]) for g in ("baseline", "config-accept-1")},
        after_seal=_bytes("legs/baseline/server.log", _one_byte(b"INFO", b"INF0")),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "s_rep_removed",
        ("W2", "P1", "P3"),
        "the candidate's second counted rep removed after the leg closed, with its snapshots and its line",
        {g: ("FAIL", ["W2", "P1", "P3"]) for g in BOTH_CFG},
        after_seal=_drop_rep(CFG, 2),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "s_file_added",
        ("W2",),
        "a file added to the candidate's raw/ after the leg closed",
        {g: ("FAIL", ["W2"]) for g in BOTH_CFG},
        after_seal=lambda s: s.path(f"legs/{CFG}/raw/notes.txt").write_text("rerun looked better\n"),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "s_ledger_removed",
        ("W2",),
        "ledger.jsonl deleted: the legs still declare their planned reps, so they were sealed",
        {g: ("FAIL", ["W2"]) for g in LEG_GATES},
        after_seal=lambda s: s.path(LEDGER).unlink(),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "s_seal_line_rewritten",
        ("W2",),
        "the candidate's raw file changed and its own seal line rewritten to match; the "
        "next line still names the old line's hash",
        {g: ("FAIL", ["W2"]) for g in LEG_GATES},
        after_seal=_rewrite_seal_line,
        source="issue 32",
        tags=TAG,
    )
)


def _add_screen_leg(legs) -> None:
    from .synthetic import LegSpec

    first = min(spec.started_at for spec in legs.values())
    legs["screen_seqs64"] = LegSpec(
        "screen_seqs64",
        "candidate",
        1000.0,
        counted=1,
        started_at=first - 100,
        resolved={"scheduler_config.max_num_seqs": 64},
    )


plant(
    Plant(
        "s_sealed_leg_removed",
        ("W2",),
        "a screening leg that ran before the gates was removed with its directory after it "
        "was sealed (a sibling's bytes are what B5 reads to see who ran beside a gate's legs)",
        {g: ("FAIL", ["W2"]) for g in LEG_GATES},
        legs_mod=_add_screen_leg,
        after_seal=_rm_tree("legs/screen_seqs64"),
        source="issue 32",
        tags=TAG,
    )
)
