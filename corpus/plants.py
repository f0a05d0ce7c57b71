"""The backtest corpus: one planted flaw per case, on top of corpus/synthetic.py's clean run.

Each Plant names the flaw, the FAILURES.md rule it plants, how it edits the clean run, and
its answer key: for every gate whose verdict the flaw changes, the expected verdict and the
rule ids that must fire. Gates not in the key must PASS. The key is written by hand from
the flaw, never from what the auditor said.

    geak cases generate runs/cases        # regenerate after a schema change
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

import yaml

from geak.auditor.evidence.models import Consequence
from geak.auditor.evidence.store import RunStore

from .synthetic import BASE_TPUT, TRACE_KERNELS, HostFingerprint, _trace, build_clean_run, cpu_host
from geak.auditor.evidence.layout import BENCH_RUNS, leg_file

Key = dict[str, tuple[str, list[str]]]  # gate_id -> (verdict, rule ids that must fire)


@dataclass(frozen=True)
class Plant:
    name: str
    rules: tuple[str, ...]
    what: str
    key: Key
    legs_mod: Callable[[dict[str, Any]], None] | None = None
    decisions_mod: Callable[[dict[str, Any]], None] | None = None
    after: Callable[[RunStore], None] | None = None
    after_seal: Callable[[RunStore], None] | None = None  # edits made after the legs were sealed (W2)
    source: str = "FAILURES.md"
    tags: tuple[str, ...] = field(default_factory=tuple)
    # a case that is not the synthetic geak run: writes its own run directory (plants_import.py)
    build: Callable[[Path], None] | None = None


def build_case(p: Plant, root: Path, run_id: str | None = None) -> None:
    """The case's run directory: the clean synthetic run with the plant, or the plant's own build."""
    if p.build is not None:
        p.build(Path(root))
    else:
        build_clean_run(
            root,
            run_id=run_id or p.name,
            legs_mod=p.legs_mod,
            decisions_mod=p.decisions_mod,
            after=p.after,
            after_seal=p.after_seal,
        )


PLANTS: dict[str, Plant] = {}


def plant(p: Plant) -> None:
    if p.name in PLANTS:
        raise ValueError(f"plant {p.name} defined twice")
    PLANTS[p.name] = p


# ----------------------------------------------------------------- edit helpers


def _set(leg: str, **kw: Any) -> Callable[[dict[str, Any]], None]:
    def f(legs: dict[str, Any]) -> None:
        for k, v in kw.items():
            setattr(legs[leg], k, v)

    return f


def _resolved(legs_ids: list[str], **kv: Any) -> Callable[[dict[str, Any]], None]:
    def f(legs: dict[str, Any]) -> None:
        for lid in legs_ids:
            legs[lid].resolved = {**legs[lid].resolved, **kv}

    return f


def _claim(did: str, **kw: Any) -> Callable[[dict[str, Any]], None]:
    def f(ds: dict[str, Any]) -> None:
        for k, v in kw.items():
            setattr(ds[did].claim, k, v)

    return f


def _decision(did: str, **kw: Any) -> Callable[[dict[str, Any]], None]:
    def f(ds: dict[str, Any]) -> None:
        for k, v in kw.items():
            setattr(ds[did], k, v)

    return f


def _both(*fs: Callable[[Any], None]) -> Callable[[Any], None]:
    def f(x: Any) -> None:
        for g in fs:
            g(x)

    return f


def _edit_json(rel: str, fn: Callable[[dict[str, Any]], None]) -> Callable[[RunStore], None]:
    def f(store: RunStore) -> None:
        obj = json.loads(store.path(rel).read_text())
        fn(obj)
        store.write_json(rel, obj)

    return f


def _opbench(**kw: Any) -> Callable[[RunStore], None]:
    def fn(o: dict[str, Any]) -> None:
        for path, v in kw.items():
            cur = o
            parts = path.split("__")
            for p in parts[:-1]:
                cur = cur[p]
            cur[parts[-1]] = v

    return _edit_json("ops/rmsnorm/opbench.json", fn)


KERNEL_LEGS = ["kernel_rmsnorm", "val_final_1", "val_final_2", "caching_audit"]
VAL_FINAL = ["val_final_1", "val_final_2"]

# ----------------------------------------------------------------- clean cases (must PASS)

plant(Plant("clean", (), "an honest run: every gate must PASS", {}))
plant(
    Plant(
        "clean_null_claims",
        (),
        "GEAK I4: the producer left medians, delta and non-overlap null; raw intact, so they are recomputed",
        {},
        decisions_mod=_both(
            _claim("d-cfg-1", reference_value=None, candidate_value=None, delta_pct=None, non_overlap=None),
            _claim("d-integrate-rmsnorm", reference_value=None, candidate_value=None, delta_pct=None, non_overlap=None),
        ),
    )
)
plant(
    Plant(
        "clean_inert_consequence",
        (),
        "P4 exception: the KV pool grew as a consequence of the knob, shown inert (peak use below the smaller budget)",
        {},
        legs_mod=_resolved(["cfg_seqs512"] + KERNEL_LEGS, **{"cache_config.num_gpu_blocks": 9000}),
        decisions_mod=_both(
            *[
                _decision(
                    d,
                    consequences=[
                        Consequence(
                            key="num_gpu_blocks",
                            reason="more seqs resizes the pool",
                            peak_used=4100,
                            smaller_budget=8000,
                        )
                    ],
                )
                for d in ("d-cfg-1", "d-bundle")
            ]
        ),
    )
)


def _per_launch_auto(legs: dict[str, Any]) -> None:
    # SGLang draws random_seed per launch; memory profiling sizes the KV pool a few blocks apart
    for i, (_lid, spec) in enumerate(sorted(legs.items())):
        spec.resolved = {
            **spec.resolved,
            "random_seed": 1_000_003 * (i + 1) % 2**30,
            "cache_config.num_gpu_blocks": 8000 + 3 * i,
        }


plant(
    Plant(
        "clean_per_launch_auto_values",
        (),
        "every leg has its own auto-drawn random_seed and a KV pool sized by memory "
        "profiling a few blocks apart: two launches of one config, no confound",
        {},
        legs_mod=_per_launch_auto,
        source="issue 13",
    )
)
# what geak's config tuner declares for max_num_seqs (agents/roles/answers.KNOBS: the knob and what vLLM may derive from
# it), on an engine that derives none of them: vLLM 0.26 on an H100 kept max_num_batched_tokens 8192 (issue 33)
plant(
    Plant(
        "clean_derived_keys_unmoved",
        (),
        "the tuner declares max_num_seqs with the keys vLLM may derive from it; on this "
        "engine they stayed put, and the knob itself took effect",
        {},
        decisions_mod=_decision(
            "d-cfg-1",
            declared_knobs=[
                "max_num_seqs",
                "max_num_batched_tokens",
                "compile_ranges_endpoints",
                "encoder_cache_size",
                "max_num_encoder_input_tokens",
            ],
        ),
        source="issue 33",
    )
)
plant(
    Plant(
        "clean_declared_regression",
        (),
        "a TTFT trade-off that the producer declares openly",
        {},
        legs_mod=_set("kernel_rmsnorm", ttft_scale=1.3),
        decisions_mod=_decision("d-integrate-rmsnorm", declared_regressions=["ttft_ms", "e2e_ms"]),
    )
)

# ----------------------------------------------------------------- baseline

plant(
    Plant(
        "b1_noisy",
        ("B1",),
        "repetitions spread 4.5%, far above 3x the 0.5% band",
        {"baseline": ("FLAG", ["B1"])},
        legs_mod=_set("baseline", tput=[1000.0, 1030.0, 985.0, 1012.0]),
    )
)
plant(
    Plant(
        "b2_warmup_outlier_seed",
        ("B1", "B2"),
        "seed incident: baseline reps 966.36, 1004.05, 1004.71 (spread 3.82%, rep 0 cold)",
        {"baseline": ("FLAG", ["B1", "B2"])},
        legs_mod=_set("baseline", tput=[966.36, 1004.05, 1004.71]),
        source="seeds/000 first live run",
    )
)
plant(
    Plant(
        "b3_too_few_reps",
        ("B3", "P3"),
        "two counted reps and no warm-up (the config gate weighs its delta on that leg: P3)",
        {"baseline": ("FLAG", ["B3"]), "config-accept-1": ("FLAG", ["P3"])},
        legs_mod=_set("baseline", counted=2, warmup=False),
    )
)
plant(
    Plant(
        "b4_handicapped_seed",
        ("B4", "P2", "P4"),
        "seed incident: baseline and validation-base legs at memory fraction 0.7225 vs 0.85, reported as 0.85 for both",
        {"baseline": ("FAIL", ["B4"]), "config-accept-1": ("FAIL", ["P4"]), "bundle": ("FAIL", ["P2", "P4"])},
        legs_mod=_both(
            _resolved(["baseline", "val_base_1", "val_base_2"], **{"cache_config.gpu_memory_utilization": 0.7225}),
            _set("baseline", tput=BASE_TPUT * 0.94),
            _set("val_base_1", tput=BASE_TPUT * 0.94),
            _set("val_base_2", tput=BASE_TPUT * 0.94),
        ),
        decisions_mod=_claim(
            "d-bundle",
            reported_settings={
                "val_base_1": {"gpu_memory_utilization": 0.85},
                "val_final_1": {"gpu_memory_utilization": 0.85},
            },
        ),
        source="seeds/000 FlyDSL GEMM +66.9%",
    )
)
plant(
    Plant(
        "b5_contended",
        ("B5",),
        "the baseline ran while the 2-core host had load 1.8",
        {"baseline": ("FLAG", ["B5"]), "config-accept-1": ("FLAG", ["B5"])},
        legs_mod=_set("baseline", host=cpu_host(load=1.8)),
    )
)
plant(
    Plant(
        "b5_foreign_gpu_process",
        ("B5",),
        "another process on the candidate's GPU",
        {"integrate-rmsnorm": ("FLAG", ["B5"])},
        legs_mod=_set(
            "kernel_rmsnorm",
            host=HostFingerprint(
                hostname="gpu-host",
                gpus=[
                    {
                        "index": 0,
                        "name": "H100",
                        "sm_clock_mhz": 1980,
                        "foreign_processes": ["python train.py (pid 4242)"],
                    }
                ],
            ),
        ),
    )
)
plant(
    Plant(
        "b6_baseline_drift",
        ("B6",),
        "GEAK I2: gated against a claimed baseline of 1300 tok/s that re-derives to ~1005",
        {"baseline": ("FAIL", ["B6"])},
        decisions_mod=_claim("d-baseline", baseline_value=1300.0),
        source="GEAK fixture I2",
    )
)


def _handicap_validation_base(legs: dict[str, Any]) -> None:
    for lid in ("val_base_1", "val_base_2"):
        legs[lid].tput = BASE_TPUT * 0.90


plant(
    Plant(
        "b6_handicapped_validation_base",
        ("B6",),
        "GEAK gate 2 on the director's bundle: validation/base re-measures the "
        "baseline's own config 10% below the run's baseline leg, and the bundle's delta is taken against it",
        {"bundle": ("FAIL", ["B6"])},
        legs_mod=_handicap_validation_base,
        source="issue 13",
    )
)

# ----------------------------------------------------------------- profile


def _routing(fn: Callable[[dict[str, Any]], None]) -> Callable[[RunStore], None]:
    return _edit_json("profile/round_1/routing.json", fn)


plant(
    Plant(
        "r1_misattribution",
        ("R1",),
        "routing claims rmsnorm takes 40% of device time; the trace says 16%",
        {"profile-1": ("FAIL", ["R1"])},
        after=_routing(lambda o: o["routed"][0].update(claimed_share=0.40)),
    )
)
plant(
    Plant(
        "r1_not_top",
        ("R1",),
        "routes rotary (3%), which is not among the top op families",
        {"profile-1": ("FAIL", ["R1"])},
        after=_routing(
            lambda o: (
                o["routed"].__setitem__(0, {"family": "rotary", "claimed_share": 0.03, "editable": True}),
                o["skipped"].__setitem__(4, {"family": "rmsnorm", "reason": "already fused upstream"}),
            )
        ),
    )
)


def _fragment(store: RunStore) -> None:
    k = {n: v for n, v in TRACE_KERNELS.items() if "gemm" not in n.lower()}
    k.update({f"sm90_xmma_gemm_bf16_variant_{i}": 0.0625 for i in range(8)})
    store.write_text("profile/round_1/trace.json.gz", _trace(k))
    _routing(
        lambda o: o.update(
            skipped=[s for s in o["skipped"] if s["family"] != "gemm"]
            + [{"family": "gemm", "reason": "each kernel below rmsnorm"}],
            breakdown=k,
        )
    )(store)


plant(
    Plant(
        "r2_fragmentation",
        ("R2",),
        "GEMM split over 8 kernel names of 6.25% each: 50% in all, hidden by per-name ranking",
        {"profile-1": ("FLAG", ["R2"])},
        after=_fragment,
    )
)
plant(
    Plant(
        "r3_not_editable",
        ("R3",),
        "routed op cannot be replaced in the engine",
        {"profile-1": ("FLAG", ["R3"])},
        after=_routing(lambda o: o["routed"][0].update(editable=False)),
    )
)
plant(
    Plant(
        "r3_top_op_skipped",
        ("R3",),
        "attention (16%) silently skipped",
        {"profile-1": ("FLAG", ["R3"])},
        after=_routing(lambda o: o.update(skipped=[s for s in o["skipped"] if s["family"] != "attention"])),
    )
)

# ----------------------------------------------------------------- harness

plant(
    Plant(
        "h1_self_compare_seed",
        ("H1", "H11", "P8"),
        "seed incident: op bench baseline backend == the candidate (self-compare), isolated 3.03x",
        {"harness-rmsnorm": ("FAIL", ["H1", "H11"]), "integrate-rmsnorm": ("FLAG", ["P8"])},
        after=_opbench(baseline_backend="triton:geak_rmsnorm_v1"),
        decisions_mod=_claim("d-integrate-rmsnorm", isolated_speedup=3.0306),
        source="seeds/000 authored GEMM 3.0306x",
    )
)
plant(
    Plant(
        "h2_rel_err_seed",
        ("H2", "P8"),
        "seed incident: the only faster alternative has rel_err 45.4",
        {"harness-rmsnorm": ("FAIL", ["H2"]), "integrate-rmsnorm": ("FLAG", ["P8"])},
        after=lambda s: _edit_json(
            "ops/rmsnorm/opbench.json", lambda o: o["correctness"][1].update(rel_err=45.4, passed=True)
        )(s),
    )
)
plant(
    Plant(
        "h2_same_precision_reference",
        ("H2", "P8"),
        "correctness checked against a bf16 reference, same precision as the candidate",
        {"harness-rmsnorm": ("FAIL", ["H2"]), "integrate-rmsnorm": ("FLAG", ["P8"])},
        after=_edit_json(
            "ops/rmsnorm/opbench.json", lambda o: [c.update(reference_dtype="bf16") for c in o["correctness"]]
        ),
    )
)
plant(
    Plant(
        "h3_unserved_shapes",
        ("H3",),
        "timed at 4096x4096, a shape the server never runs",
        {"harness-rmsnorm": ("FAIL", ["H3"])},
        after=_opbench(timed_shapes=[[4096, 4096]]),
    )
)
plant(
    Plant(
        "h4_side_stream",
        ("H4",),
        "events time 10 ms, wall clock 43 ms: work escaped on another stream",
        {"harness-rmsnorm": ("FAIL", ["H4"])},
        after=_opbench(anti_gaming__event_ms=10.0),
    )
)
plant(
    Plant(
        "h5_constant_output",
        ("H5",),
        "output identical on fresh inputs",
        {"harness-rmsnorm": ("FAIL", ["H5"])},
        after=_opbench(anti_gaming__fresh_input_output_identical=True),
    )
)
plant(
    Plant(
        "h6_setup_precompute",
        ("H6",),
        "output computed in setup and returned by the timed call",
        {"harness-rmsnorm": ("FAIL", ["H6"])},
        after=_opbench(anti_gaming__output_from_timed_call=False),
    )
)
plant(
    Plant(
        "h7_aliasing",
        ("H7",),
        "output aliases a pre-filled input",
        {"harness-rmsnorm": ("FAIL", ["H7"])},
        after=_opbench(anti_gaming__output_aliases_input=True),
    )
)
plant(
    Plant(
        "h8_same_bug_test",
        ("H8",),
        "passes the author's test, fails the independent oracle on ragged boundaries",
        {"harness-rmsnorm": ("FAIL", ["H8"])},
        after=_opbench(oracle__failures=3),
    )
)
plant(
    Plant(
        "h9_implausible",
        ("H9",),
        "20x claimed on a memory-bound op",
        {"harness-rmsnorm": ("FLAG", ["H9"])},
        after=_opbench(claimed_speedup=20.1, timing__candidate_times_ms=[0.0006, 0.0006, 0.0006, 0.0006, 0.0006]),
    )
)
plant(
    Plant(
        "h10_timing_method",
        ("H10",),
        "5 ms of timing, warm-up inside the timed reps",
        {"harness-rmsnorm": ("FLAG", ["H10"])},
        after=_opbench(timing__total_timed_ms=5.0, timing__warmup_isolated=False),
    )
)
plant(
    Plant(
        "h11_eager_baseline",
        ("H11",),
        "timed against eager forward_native while the server compiles the op (Gap 5: "
        "a speedup over a path the live server never runs)",
        {"harness-rmsnorm": ("FLAG", ["H11"])},
        after=_opbench(baseline_backend="geak.agents.kernels.baselines:rmsnorm", baseline_kind="eager"),
    )
)

# ----------------------------------------------------------------- patch


def _drop(rel: str) -> Callable[[RunStore], None]:
    return lambda s: s.path(rel).unlink()


def _truncate_last(rel: str) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        p = s.path(rel)
        data = p.read_bytes()
        p.write_bytes(data[: len(data) - 40])

    return f


def _edit_line(rel: str, line_no: int, fn: Callable[[dict[str, Any]], None]) -> Callable[[RunStore], None]:
    def f(s: RunStore) -> None:
        p = s.path(rel)
        lines = p.read_text().splitlines()
        obj = json.loads(lines[line_no - 1])
        fn(obj)
        lines[line_no - 1] = json.dumps(obj, separators=(",", ":"))
        p.write_text("\n".join(lines) + "\n")

    return f


def _edit_raw(leg: str, rep: int, fn: Callable[[dict[str, Any]], None]) -> Callable[[RunStore], None]:
    """Edit what the tool wrote for one rep, and geak's normalized copy with it: a flaw in the
    tool's own output (a NaN it measured), not a disagreement between the two files."""

    def f(s: RunStore) -> None:
        from geak.auditor.evidence.normalize import from_vllm_result

        raw_rel = f"legs/{leg}/raw/rep_{rep}.json"
        obj = json.loads(s.path(raw_rel).read_text())
        fn(obj)
        s.path(raw_rel).write_text(json.dumps(obj, separators=(",", ":")) + "\n")
        bench = s.path(leg_file(leg, BENCH_RUNS))
        lines = bench.read_text().splitlines()
        old = json.loads(lines[rep])
        new = from_vllm_result(obj, leg_id=leg, rep_index=rep, warmup=old["warmup"], raw_file=old["raw_file"])
        lines[rep] = new.model_dump_json()
        bench.write_text("\n".join(lines) + "\n")

    return f


CFG_BENCH = "legs/cfg_seqs512/bench_runs.jsonl"
plant(
    Plant(
        "p1_missing_raw",
        ("P1",),
        "the candidate's bench_runs.jsonl is missing",
        {"config-accept-1": ("FAIL", ["P1"]), "integrate-rmsnorm": ("FAIL", ["P1"])},
        after=_drop(CFG_BENCH),
    )
)
plant(
    Plant(
        "p1_null_claim_no_raw",
        ("P1",),
        "seed incident: an accept with null evidence fields and no raw behind it",
        {"config-accept-1": ("FAIL", ["P1"]), "integrate-rmsnorm": ("FAIL", ["P1"])},
        after=_drop(CFG_BENCH),
        decisions_mod=_claim("d-cfg-1", reference_value=None, candidate_value=None, delta_pct=None, non_overlap=None),
        source="seeds/000 gap 4",
    )
)
plant(
    Plant(
        "p1_truncated_line",
        ("P1",),
        "the candidate's bench_runs.jsonl ends in a truncated line",
        {"config-accept-1": ("FAIL", ["P1"]), "integrate-rmsnorm": ("FAIL", ["P1"])},
        after=_truncate_last(CFG_BENCH),
    )
)
# an edited latency in the tool's file is also one the engine's histogram never saw (W1)
plant(
    Plant(
        "p1_nan_latency",
        ("P1",),
        "a NaN TTFT on a successful request",
        {"config-accept-1": ("FAIL", ["P1", "W1"]), "integrate-rmsnorm": ("FAIL", ["P1", "W1"])},
        after=_edit_raw("cfg_seqs512", 1, lambda o: o["ttfts"].__setitem__(3, float("nan"))),
    )
)
plant(
    Plant(
        "p1_negative_latency",
        ("P1",),
        "a negative end-to-end latency",
        {"config-accept-1": ("FAIL", ["P1", "W1"]), "integrate-rmsnorm": ("FAIL", ["P1", "W1"])},
        after=_edit_raw("cfg_seqs512", 2, lambda o: o["latencies"].__setitem__(5, -0.0125)),
    )
)
plant(
    Plant(
        "e1_mixed_request_rates",
        ("E1",),
        "one baseline repetition ran at 30 req/s, the others unlimited: another "
        "experiment in the leg, read as a repetition",
        {"baseline": ("FLAG", ["E1"]), "config-accept-1": ("FLAG", ["E1"])},
        after=_edit_raw("baseline", 2, lambda o: o.update(request_rate=30.0)),
        source="issue 13",
    )
)
plant(
    Plant(
        "p1_schema_version",
        ("P1",),
        "a bench record written by an unknown schema version",
        {"config-accept-1": ("FAIL", ["P1"]), "integrate-rmsnorm": ("FAIL", ["P1"])},
        after=_edit_line(CFG_BENCH, 2, lambda o: o.update(schema_version=99)),
    )
)
plant(
    Plant(
        "p2_reported_delta",
        ("P2",),
        "summary says +66.9%; raw says +8%",
        {"config-accept-1": ("FAIL", ["P2"])},
        decisions_mod=_claim("d-cfg-1", delta_pct=66.9),
    )
)
plant(
    Plant(
        "p2_doctored_aggregate",
        ("P2",),
        "a rep's reported output_throughput disagrees with its own per-request arrays",
        {"config-accept-1": ("FAIL", ["P2"]), "integrate-rmsnorm": ("FAIL", ["P2"])},
        after=_edit_line(
            CFG_BENCH, 3, lambda o: o["reported"].update(output_throughput=o["reported"]["output_throughput"] * 1.25)
        ),
    )
)
plant(
    Plant(
        "p3_within_noise",
        ("P3",),
        "a +0.2% 'win' inside the 0.5% noise band",
        {"config-accept-1": ("FLAG", ["P3"])},
        legs_mod=_set("cfg_seqs512", tput=BASE_TPUT * 1.002),
    )
)
plant(
    Plant(
        "p4_confound_mem_fraction",
        ("P4",),
        "GEAK I3: the candidate also lowered memory fraction 0.85 -> 0.80, undeclared",
        {"config-accept-1": ("FAIL", ["P4"]), "integrate-rmsnorm": ("FAIL", ["P4", "P6"])},
        legs_mod=_resolved(["cfg_seqs512"], **{"cache_config.gpu_memory_utilization": 0.80}),
        source="GEAK fixture I3",
    )
)
plant(
    Plant(
        "p4_unproven_consequence",
        ("P4",),
        "KV pool grew as a 'consequence' with no proof it was inert",
        {"config-accept-1": ("FAIL", ["P4"]), "integrate-rmsnorm": ("FAIL", ["P4", "P6"])},
        legs_mod=_resolved(["cfg_seqs512"], **{"cache_config.num_gpu_blocks": 9000}),
        decisions_mod=_decision(
            "d-cfg-1", consequences=[Consequence(key="num_gpu_blocks", reason="more seqs resizes the pool")]
        ),
    )
)
plant(
    Plant(
        "p5_not_engaged",
        ("P5",),
        "the kernel's marker never appears in the candidate's server log",
        {"integrate-rmsnorm": ("FAIL", ["P5"])},
        legs_mod=_set("kernel_rmsnorm", log_extra=""),
    )
)
plant(
    Plant(
        "p4_aa_pair_sold_as_lever",
        ("P4",),
        "the candidate is an A/A copy of the reference (same max_num_seqs), "
        "and the decision still declares max_num_seqs as the lever behind its delta",
        # the kernel gate's reference (cfg_seqs512) is then the baseline's config measured 8% higher:
        # drift between two lifetimes of one config far beyond the 0.5% band (B6)
        {"config-accept-1": ("FAIL", ["P4", "P5"]), "integrate-rmsnorm": ("FAIL", ["P4", "P6", "B6"])},
        legs_mod=_resolved(["cfg_seqs512"], **{"scheduler_config.max_num_seqs": 256}),
        source="issue 13",
    )
)
plant(
    Plant(
        "p5_config_not_applied",
        ("P5",),
        "the declared knob never took effect: identical in both resolved configs",
        # the kernel leg keeps max_num_seqs=512, so its integrate gate also sees an undeclared difference;
        # the config gate's legs are equal on the declared knob: an A/A pair sold as a lever (P4)
        # and the kernel gate's reference is the baseline's config measured 8% higher (B6)
        {"config-accept-1": ("FAIL", ["P5", "P4"]), "integrate-rmsnorm": ("FAIL", ["P4", "P6", "B6"])},
        decisions_mod=_decision("d-cfg-1", declared_knobs=["max_num_batched_tokens"]),
        legs_mod=_resolved(["cfg_seqs512"], **{"scheduler_config.max_num_seqs": 256}),
    )
)


def _spec_decode(legs: dict[str, Any]) -> None:
    spec = {"speculative_config": {"method": "ngram", "num_speculative_tokens": 4}}
    for lid in KERNEL_LEGS:
        legs[lid].resolved = {"scheduler_config.max_num_seqs": 512, **spec}
        legs[lid].env = {}
        legs[lid].log_extra = ""
        legs[lid].parity_probe = None
    legs["kernel_rmsnorm"].tput = BASE_TPUT * 1.08 * 1.345
    for lid in ("val_final_1", "val_final_2"):
        legs[lid].tput = BASE_TPUT * 1.08 * 1.345
    legs["caching_audit"].tput = BASE_TPUT * 1.08 * 1.345 * 1.02


plant(
    Plant(
        "p6_spec_decode_as_kernel_seed",
        ("P6",),
        "seed incident / GEAK I1: +34.5% from speculative decoding sold as a kernel win",
        {"integrate-rmsnorm": ("FLAG", ["P6"])},
        legs_mod=_spec_decode,
        decisions_mod=_both(
            _decision(
                "d-integrate-rmsnorm",
                op=None,
                declared_knobs=["speculative_config"],
                declared_levers={"speculative_config": "kernel"},
                engagement_marker=None,
            ),
            _decision("d-bundle", declared_knobs=["max_num_seqs", "speculative_config"]),
        ),
        source="seeds/000 gap 1; GEAK fixture I1",
    )
)
plant(
    Plant(
        "p7_ttft_regression",
        ("P7",),
        "GEAK I5: throughput up, TTFT 2.2x worse, undeclared",
        {"integrate-rmsnorm": ("FLAG", ["P7"])},
        legs_mod=_set("kernel_rmsnorm", ttft_scale=2.2),
        source="GEAK fixture I5",
    )
)
plant(
    Plant(
        "p8_isolated_headline",
        ("P8",),
        "GEAK N2: headline is the isolated 3.03x, not the e2e number",
        {"integrate-rmsnorm": ("FLAG", ["P8"])},
        decisions_mod=_claim("d-integrate-rmsnorm", headline_source="isolated", isolated_speedup=3.0306),
    )
)


def _gibberish(legs: dict[str, Any]) -> None:
    for lid in ("baseline", "cfg_seqs512", "kernel_rmsnorm"):
        legs[lid].outputs = "gibberish"
    legs["kernel_rmsnorm"].accuracy = None


plant(
    Plant(
        "p9_gibberish_parity_seed",
        ("P9",),
        "seed incident: dummy-weight model; 0/12 byte-exact on gibberish and no accuracy probe",
        {"config-accept-1": ("FAIL", ["P9"]), "integrate-rmsnorm": ("FAIL", ["P9"])},
        legs_mod=_gibberish,
        decisions_mod=_claim("d-integrate-rmsnorm", parity_byte_exact=0, parity_total=12),
        source="seeds/000 MoE attention +9%",
    )
)
plant(
    Plant(
        "p9_no_determinism_rerun",
        ("P9",),
        "coherent reference, no determinism rerun, 3 of 12 candidate outputs differ and no accuracy probe: "
        "the differences cannot be told from the reference's own nondeterminism",
        {"integrate-rmsnorm": ("FAIL", ["P9"])},
        legs_mod=_both(_set("cfg_seqs512", rerun=False), _set("kernel_rmsnorm", outputs="flipped", accuracy=None)),
    )
)
plant(
    Plant(
        "p9_wrong_answers",
        ("P9",),
        "candidate answers differ from a coherent reference",
        {"integrate-rmsnorm": ("FAIL", ["P9"])},
        legs_mod=_set("kernel_rmsnorm", outputs="wrong"),
    )
)
plant(
    Plant(
        "p10_numerics_drift",
        ("P10",),
        "parity probe cosine 0.766: same direction, wrong scale",
        {"integrate-rmsnorm": ("FAIL", ["P10"])},
        legs_mod=_set("kernel_rmsnorm", parity_probe=(0.766, True)),
        source="seeds/003",
    )
)
plant(
    Plant(
        "p11_crashed_candidate_seed",
        ("P11",),
        "seed incident: the candidate crashed the server (HSA fault) mid-benchmark",
        {"integrate-rmsnorm": ("FAIL", ["P11"])},
        legs_mod=_set(
            "kernel_rmsnorm",
            failed_requests=6,
            status="failed",
            failure_reason="server exited with -6 during rep 2",
            log_extra="INFO geak-plugin: registered RMSNorm override geak_rmsnorm_v1\n:0:rocdevice.cpp :2614: HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION\n",
        ),
        source="seeds/000 crashed authored attention",
    )
)

# ----------------------------------------------------------------- bundle


def _order(order: list[str]) -> Callable[[dict[str, Any]], None]:
    def f(legs: dict[str, Any]) -> None:
        base = legs["baseline"].started_at
        for i, lid in enumerate(order):
            legs[lid].started_at = base + 300 + 100 * i

    return f


plant(
    Plant(
        "f1_not_interleaved",
        ("F1",),
        "validation ran A A B B",
        {"bundle": ("FLAG", ["F1"])},
        legs_mod=_order(["val_base_1", "val_base_2", "val_final_1", "val_final_2"]),
    )
)
plant(
    Plant(
        "f1_no_stacking",
        ("F1",),
        "accepted +8% and +3% but the stacked bundle measures +2%",
        {"bundle": ("FLAG", ["F1"])},
        legs_mod=_both(
            _set("val_final_1", tput=BASE_TPUT * 1.02),
            _set("val_final_2", tput=BASE_TPUT * 1.02),
            _set("caching_audit", tput=BASE_TPUT * 1.02),
        ),
    )
)
plant(
    Plant(
        "f2_caching_test04",
        ("F2",),
        "MLPerf TEST04: one repeated sample runs 1.5x the diverse workload",
        {"bundle": ("FAIL", ["F2"])},
        legs_mod=_set("caching_audit", tput=BASE_TPUT * 1.08 * 1.03 * 1.5),
        source="seeds/004",
    )
)
plant(
    Plant(
        "f2_prefix_cache_undeclared",
        ("F2", "P4"),
        "bundle serves with prefix caching on, not flushed, not declared",
        {"bundle": ("FAIL", ["F2", "P4"])},
        legs_mod=_resolved(VAL_FINAL + ["caching_audit"], **{"cache_config.enable_prefix_caching": True}),
        decisions_mod=_decision("d-bundle", prefix_cache_flushed=False),
    )
)
plant(
    Plant(
        "f3_workload_mismatch",
        ("F3",),
        "bundle validated with 32-token prompts, baseline with 64",
        {"bundle": ("FAIL", ["F3"])},
        legs_mod=lambda legs: [
            setattr(legs[k], "workload", legs[k].workload.model_copy(update={"input_len": 32})) for k in VAL_FINAL
        ],
    )
)
plant(
    Plant(
        "f4_accuracy_drop",
        ("F4",),
        "bundle accuracy 86% vs baseline 100%",
        {"bundle": ("FAIL", ["F4"])},
        legs_mod=_set("val_final_1", accuracy=(430, 500)),
    )
)


# a producer editing geak's own files (issue 12): corpus/plants_tamper.py registers them here
from . import (  # noqa: E402, F401
    plants_concurrency,
    plants_engine,
    plants_import,
    plants_lifetime,
    plants_paired,
    plants_quality,
    plants_reps,
    plants_seal,
    plants_tamper,
    plants_vocab,
)


# ----------------------------------------------------------------- writing the corpus


def key_dict(p: Plant) -> dict[str, Any]:
    return {
        "case": p.name,
        "planted": list(p.rules),
        "what": p.what,
        "source": p.source,
        "gates": {g: {"verdict": v, "rules": rs} for g, (v, rs) in p.key.items()},
        "default_verdict": "PASS",
    }


def generate(out_dir: str | Path, names: list[str] | None = None) -> list[str]:
    """Write <out>/<case>/run/ (what the auditor sees) and <out>/<case>/key.yaml (what it must not)."""
    out = Path(out_dir)
    chosen = names or list(PLANTS)
    unknown = [n for n in chosen if n not in PLANTS]
    if unknown:
        raise KeyError(f"unknown case(s) {unknown}; known: {', '.join(PLANTS)}")
    for name in chosen:
        p = PLANTS[name]
        case = out / name
        if case.exists():
            shutil.rmtree(case)
        build_case(p, case / "run", run_id=name)
        (case / "key.yaml").write_text(yaml.safe_dump(key_dict(p), sort_keys=False))
    return chosen
