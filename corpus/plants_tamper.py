"""Plants of a producer that edits what geak itself wrote (issue 12): the normalized copy,
launch.json, the manifest, the decision's own marker, the log geak appends to. The tool's
bytes (raw/, the engine's own log lines) stay as the tool wrote them, so every verdict here
comes from the auditor holding geak's files to those bytes. Keys are written from the flaw.
"""

from __future__ import annotations

import json
import os
from typing import Any
from collections.abc import Callable

from geak.auditor.evidence.models import TEARDOWN_MARKER
from geak.auditor.evidence.store import RunStore

from .plants import Plant, _both, _decision, _edit_raw, _resolved, plant
from .synthetic import _honest_claims
from geak.auditor.evidence.layout import BENCH_RUNS, LAUNCH, MANIFEST, RAW, SERVER_LOG, leg_file

CFG = "cfg_seqs512"
BOTH_CFG = ("config-accept-1", "integrate-rmsnorm")  # the gates whose legs include cfg_seqs512
BASE_GATES = ("baseline", "config-accept-1")  # the gates whose legs include baseline


def _lines(s: RunStore, leg: str) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in s.path(leg_file(leg, BENCH_RUNS)).read_text().splitlines() if ln.strip()]


def _write_lines(s: RunStore, leg: str, lines: list[dict[str, Any]]) -> None:
    s.path(leg_file(leg, BENCH_RUNS)).write_text("".join(json.dumps(o, separators=(",", ":")) + "\n" for o in lines))


def _scale_copy(leg: str, factor: float) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        lines = _lines(s, leg)
        for o in lines:
            o["duration_s"] /= factor
            for k in ("output_throughput", "request_throughput", "total_token_throughput"):
                if k in o["reported"]:
                    o["reported"][k] *= factor
        _write_lines(s, leg, lines)

    return f


def _rm_tree(rel: str) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        import shutil

        shutil.rmtree(s.path(rel))

    return f


def _launch_resolved(leg: str, **kv: Any) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        p = s.path(leg_file(leg, LAUNCH))
        o = json.loads(p.read_text())
        o["resolved_config"].update(kv)
        p.write_text(json.dumps(o, indent=2))

    return f


def _log_args(leg: str, extra: str) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        p = s.path(leg_file(leg, SERVER_LOG))
        text = p.read_text()
        i = text.index("non-default args: {")
        j = text.index("}\n", i)
        p.write_text(text[:j] + f", {extra}" + text[j:])

    return f


def _manifest(**kv: Any) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        p = s.path(MANIFEST)
        o = json.loads(p.read_text())
        o.update(kv)
        p.write_text(json.dumps(o, indent=2))

    return f


def _dup_and_fake_warmup(leg: str) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        lines = _lines(s, leg)
        fake = dict(lines[0], rep_index=9, raw_file="raw/rep_9.json")
        _write_lines(s, leg, lines + [dict(lines[1]), fake])

    return f


def _move_warmup(leg: str) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        lines = _lines(s, leg)
        middle = [o for o in lines[1:-1] if not o["warmup"]]
        slowest = min(middle, key=lambda o: o["reported"]["output_throughput"])
        for o in lines:
            o["warmup"] = o is slowest
        _write_lines(s, leg, lines)

    return f


def _nested_line(leg: str, depth: int) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        with open(s.path(leg_file(leg, BENCH_RUNS)), "a") as fh:
            fh.write('{"schema_version":1,"kind":"bench_rep","reported":' + "[" * depth + "]" * depth + "}\n")

    return f


def _symlink_log(leg: str, to_leg: str) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        p = s.path(leg_file(leg, SERVER_LOG))
        p.unlink()
        os.symlink(f"../{to_leg}/server.log", p)

    return f


def _append_log(leg: str, text: str) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        p = s.path(leg_file(leg, SERVER_LOG))
        p.write_text(p.read_text() + text)

    return f


ACK = "(EngineCore pid=101) INFO 11-23 12:10:00 [core.py:1454] [shutdown] EngineCore: trigger received signal=SIGTERM\n"
TAG = ("tamper",)

plant(
    Plant(
        "t_scaled_normalized_copy",
        ("P2",),
        "the candidate's bench_runs.jsonl scaled 1.2x (duration and throughputs); raw/ verbatim",
        {g: ("FAIL", ["P2"]) for g in BOTH_CFG},
        after=_scale_copy(CFG, 1.2),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_raw_deleted",
        ("P1",),
        "every raw/ file of the candidate deleted; only geak's normalized copy is left",
        {g: ("FAIL", ["P1"]) for g in BOTH_CFG},
        after=_rm_tree(leg_file(CFG, RAW)),
        source="issue 12",
        tags=TAG,
    )
)
# the engine's bytes also show the memory-fraction lever that a kernel headline may not count (P6)
plant(
    Plant(
        "t_launch_json_reset",
        ("P2", "P4"),
        "the candidate ran at gpu_memory_utilization 0.80 (the engine's log says so); "
        "launch.json rewritten to the reference's 0.85",
        {"config-accept-1": ("FAIL", ["P2", "P4"]), "integrate-rmsnorm": ("FAIL", ["P2", "P4", "P6"])},
        legs_mod=_resolved([CFG], **{"cache_config.gpu_memory_utilization": 0.80}),
        after=_launch_resolved(CFG, **{"cache_config.gpu_memory_utilization": 0.85}),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_log_second_knob",
        ("P4",),
        "the engine's own non-default args show a second, undeclared knob (kv_cache_dtype fp8)",
        {g: ("FAIL", ["P4"]) for g in BOTH_CFG},
        after=_log_args(CFG, "'kv_cache_dtype': 'fp8'"),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_aa_declared_missing",
        ("B1", "P3", "F1"),
        "the manifest declares a third A/A leg that is not on disk (the band would rest on the two left)",
        {
            "baseline": ("FLAG", ["B1"]),
            "config-accept-1": ("FLAG", ["P3"]),
            "integrate-rmsnorm": ("FLAG", ["P3"]),
            "bundle": ("FLAG", ["F1"]),
        },
        after=_manifest(aa_legs=["aa_1", "aa_2", "aa_3"]),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_marker_not_a_regex",
        ("P5",),
        "engagement marker '[' (re.error would make the gate UNAUDITED, banked by fail-open)",
        {"integrate-rmsnorm": ("FAIL", ["P5"])},
        decisions_mod=_decision("d-integrate-rmsnorm", engagement_marker="["),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_marker_backtracks",
        ("P5",),
        "engagement marker with nested quantifiers, exponential on a long log line",
        {"integrate-rmsnorm": ("FAIL", ["P5"])},
        decisions_mod=_decision("d-integrate-rmsnorm", engagement_marker="(a+)+$"),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_nested_bench_line",
        ("P1",),
        "100k nested brackets in one line of the candidate's bench_runs.jsonl (RecursionError)",
        {g: ("FAIL", ["P1"]) for g in BOTH_CFG},
        after=_nested_line(CFG, 100_000),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_duplicated_reps_fake_warmup",
        ("P2",),
        "baseline: a rep line duplicated and a warm-up line with no raw file behind it",
        {g: ("FAIL", ["P2"]) for g in BASE_GATES},
        after=_dup_and_fake_warmup("baseline"),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_warmup_moved",
        ("P2", "B1", "B2", "B3"),
        "baseline: the warm-up flag moved from the cold first rep onto the slowest middle rep",
        # the cold first rep is then counted, as raw's order says it must be: its 3% dip widens
        # the spread (B1) and is the first counted rep (B2), and no warm-up rep is left (B3)
        {"baseline": ("FAIL", ["P2", "B1", "B2", "B3"]), "config-accept-1": ("FAIL", ["P2"])},
        after=_move_warmup("baseline"),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_server_log_missing",
        ("P5", "P11"),
        "the kernel candidate's server.log deleted",
        {"integrate-rmsnorm": ("FAIL", ["P5", "P11"])},
        after=lambda s: s.path("legs/kernel_rmsnorm/server.log").unlink(),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_server_log_symlink",
        ("P5", "P11"),
        "the kernel candidate's server.log is a link to a validation leg's clean, engaged log",
        {"integrate-rmsnorm": ("FAIL", ["P5", "P11"])},
        after=_symlink_log("kernel_rmsnorm", "val_final_1"),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_planted_teardown_marker",
        ("P11",),
        "geak's teardown marker planted above a CUDA error in the candidate's log",
        {"integrate-rmsnorm": ("FAIL", ["P11"])},
        after=_append_log(
            "kernel_rmsnorm",
            f"{TEARDOWN_MARKER}\nERROR CUDA error: an illegal memory access was encountered\n{TEARDOWN_MARKER}\n{ACK}",
        ),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_self_declared_import",
        ("P1",),
        "a geak run's manifest claims imported_from (softening FAILs to cannot-check) and the candidate's raw/ is gone",
        {"run": ("FAIL", ["P1"]), **{g: ("FAIL", ["P1"]) for g in BOTH_CFG}},
        after=_both(_manifest(imported_from="vllm-bench"), _rm_tree(leg_file(CFG, RAW))),
        source="issue 12",
        tags=TAG,
    )
)


# ---- the tool's file and geak's copy forged together: only the engine's own counters are left


def _faster(factor: float) -> Callable[[dict[str, Any]], None]:
    """Every time in a vLLM result divided by ``factor``, every rate multiplied: a consistent forgery."""

    def f(o: dict[str, Any]) -> None:
        t0 = min(o["start_times"])
        o["duration"] /= factor
        o["ttfts"] = [x / factor for x in o["ttfts"]]
        o["latencies"] = [x / factor for x in o["latencies"]]
        o["itls"] = [[x / factor for x in xs] for xs in o["itls"]]
        o["start_times"] = [t0 + (x - t0) / factor for x in o["start_times"]]
        for k, v in list(o.items()):
            if isinstance(v, float) and k.endswith("_ms"):
                o[k] = v / factor
            elif isinstance(v, float) and k.endswith("throughput"):
                o[k] = v * factor

    return f


def _more_tokens(o: dict[str, Any]) -> None:
    o["output_lens"] = [n * 2 for n in o["output_lens"]]
    o["total_output_tokens"] *= 2
    for k in ("output_throughput", "total_token_throughput"):
        o[k] = (o["total_output_tokens"] + (o["total_input_tokens"] if k.startswith("total") else 0)) / o["duration"]


def _shorter(o: dict[str, Any]) -> None:
    span = max(s + lat for s, lat in zip(o["start_times"], o["latencies"])) - min(o["start_times"])
    f = 0.9 * span / o["duration"]
    o["duration"] *= f
    for k in ("output_throughput", "request_throughput", "total_token_throughput"):
        o[k] /= f


def _each_rep(leg: str, fn: Callable[[dict[str, Any]], None], reps: int = 4) -> Callable[[RunStore], None]:
    """Every rep's result file and its normalized line, and the decisions' claims to match."""
    return _both(*(_edit_raw(leg, i, fn) for i in range(reps)), _honest_claims)


def _rm_snapshots(leg: str) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        for p in s.path(leg_file(leg, RAW)).glob("*.prom.gz"):
            p.unlink()

    return f


def _link_snapshot(leg: str) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        p = s.path(f"legs/{leg}/raw/rep_2.metrics_after.prom.gz")
        p.unlink()
        os.symlink("rep_1.metrics_after.prom.gz", p)

    return f


# cfg_seqs512 is the reference of integrate-rmsnorm: made to look faster, it leaves the
# kernel candidate inside the noise (P3) and slower on latency (P7) by comparison
W1_GATES = {"config-accept-1": ("FAIL", ["W1"]), "integrate-rmsnorm": ("FAIL", ["W1", "P3", "P7"])}
plant(
    Plant(
        "t_forged_tool_and_copy",
        ("W1",),
        "the candidate's vLLM result files and bench_runs.jsonl forged together: every "
        "time / 1.25, every rate x 1.25 (no file disagrees with another but the engine's /metrics)",
        W1_GATES,
        after=_each_rep(CFG, _faster(1.25)),
        source="issue 12",
        tags=TAG,
    )
)


def _engine_histograms_follow(leg: str, factor: float, reps: int = 4) -> Callable[[RunStore], None]:
    """The engine's side of the forgery, done as a forger who knows W1's checks would: each rep's
    after-snapshot latency _sums shrink by ``factor`` like the forged tool's latencies, and every
    observation of the window is moved into the lowest bucket, so no tool percentile can fall
    below its bucket's edge. The buckets then hold sums far below the _sum they report."""
    import gzip

    from geak.auditor.evidence.metrics import decode_snapshot, parse_snapshot, snapshot_names

    names = {"vllm:time_to_first_token_seconds": "ttft_s", "vllm:e2e_request_latency_seconds": "e2e_s"}

    def f(s: RunStore) -> None:
        for i in range(reps):
            before_rel, after_rel = snapshot_names(f"legs/{leg}/raw/rep_{i}.json")
            b = parse_snapshot(decode_snapshot(s.path(before_rel).read_bytes()))
            text = decode_snapshot(s.path(after_rel).read_bytes())
            a = parse_snapshot(text)
            lines = []
            for ln in text.splitlines():
                name = ln.split("{")[0].split(" ")[0]
                head = ln.rsplit(" ", 1)[0]
                for metric, fam in names.items():
                    if name == metric + "_sum":
                        v = float(ln.rsplit(" ", 1)[1])
                        ln = f"{head} {b.sums[fam] + (v - b.sums[fam]) / factor!r}"
                    elif name == metric + "_bucket":
                        le = float(ln.split('le="')[1].split('"')[0])
                        ln = f"{head} {b.buckets[fam][le] + (a.counts[fam] - b.counts[fam])!r}"
                lines.append(ln)
            s.path(after_rel).write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))

    return f


plant(
    Plant(
        "t_forged_with_engine_histograms",
        ("W1",),
        "the candidate forged 1.25x faster in its result files, copy and claims, "
        "and the engine's latency histograms rewritten to match (sums moved, every observation in the lowest bucket): "
        "buckets that cannot hold the sums they report",
        W1_GATES,
        after=_both(_each_rep(CFG, _faster(1.25)), _engine_histograms_follow(CFG, 1.25)),
        source="issue 32",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_forged_token_counts",
        ("W1", "F3"),
        "the candidate's result files and copy claim twice the output tokens per request "
        "(the same prompts answered at twice the length: not one workload either)",
        {g: (v, [*r, "F3"]) for g, (v, r) in W1_GATES.items()},
        after=_each_rep(CFG, _more_tokens),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_duration_shortened",
        ("P2",),
        "the candidate's result files and copy say each rep took 0.9x the time from its "
        "first request's start to its last one's end",
        {"config-accept-1": ("FAIL", ["P2"]), "integrate-rmsnorm": ("FAIL", ["P2", "P3"])},
        after=_each_rep(CFG, _shorter),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_metrics_deleted",
        ("W1",),
        "the candidate's /metrics snapshots deleted: its numbers have one witness left",
        {g: ("FLAG", ["W1"]) for g in BOTH_CFG},
        after=_rm_snapshots(CFG),
        source="issue 12",
        tags=TAG,
    )
)
plant(
    Plant(
        "t_metrics_symlink",
        ("W1",),
        "one /metrics snapshot of the candidate replaced by a link to another rep's",
        {g: ("FAIL", ["W1"]) for g in BOTH_CFG},
        after=_link_snapshot(CFG),
        source="issue 12",
        tags=TAG,
    )
)
