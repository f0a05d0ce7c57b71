"""The op harness's measuring process: one candidate, in-process, -> ops/<op>/opbench.json.

Run only through harness.py, which starts it in a subprocess with a timeout and records a
crash or a hang itself. Order: correctness at every served shape, the independent oracle, the
anti-gaming probes, then timing (so a candidate that corrupts state cannot flatter its own
correctness afterwards). A candidate exception is written into the record, never raised.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import torch

from geak.auditor.evidence.models import AntiGaming, OpBenchRecord, Roofline, ShapeTimes, TimingRecord
from geak.auditor.evidence.store import RunStore

from . import baselines, probes
from .correctness import case, compare
from .loading import backend_name, load_candidate
from .oracles import run_oracle
from .specs import DTYPES, INPLACE_ARGS, OpSpec, bytes_moved, make_inputs, pristine, reference, served_shape, spec_for
from .stats import gbps, median, median_ratio, plan_reps
from .timing import clock_for
from geak.auditor.evidence.layout import OPBENCH, op_file

HARNESS_VERSION = "3"  # 2: H4 readiness probe; 3: the served baseline (baselines.served) with eager as a second column
# GPU: half with a lead. A lead trial catches side work that waits on the current stream in most
# trials, not all (on the H100 a one-kernel side launch won the race in 1-2 of 3-4 trials at
# times); four lead trials make missing all of them unlikely
READY_TRIALS = 8


def record_path(op: str) -> str:
    return op_file(op, OPBENCH)


def base_record(
    spec: OpSpec, candidate: str, timed_shapes: list[list[int]], serving_mode: str | None = None
) -> OpBenchRecord:
    """The record before anything ran: the baseline named as the served one for the mode (the
    worker replaces it with what it actually timed)."""
    rec = OpBenchRecord(
        op=spec.op,
        candidate=candidate,
        baseline_backend=None,
        candidate_backend=backend_name(candidate),
        served_shapes=spec.served_shapes,
        timed_shapes=[],
        serving_mode=serving_mode,
        eager_backend=baselines.backend_name(spec.op),
    )
    extra = {
        "status": "running",
        "harness_version": HARNESS_VERSION,
        "spec": spec.model_dump(),
        "requested_timed_shapes": timed_shapes,
        "python": platform.python_version(),
        "torch_version": torch.__version__,
    }
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def _numel(shape: list[int]) -> int:
    return math.prod(shape)


@dataclass(frozen=True)
class Budget:
    """How long the timing phase measures: at least ``min_timed_ms`` of candidate time, between
    ``min_reps`` and ``max_reps`` per shape; ``deadline_s`` bounds any one call."""

    min_timed_ms: float
    min_reps: int
    max_reps: int
    deadline_s: float


@dataclass
class _Bench:
    """One candidate under test: its function, its setup hook, the clock, where and how it runs."""

    spec: OpSpec
    fn: Any
    setup: Any
    clock: Any
    device: str
    seed: int
    deadline_s: float

    def inputs(self, shape: list[int], dtype: str, offset: int) -> tuple[Any, ...]:
        args = make_inputs(self.spec, shape, dtype, self.device, self.seed + offset)
        if self.setup is not None:
            self.setup(*args)
        return args

    def finished(self, f: Any, args: tuple[Any, ...]) -> Any:
        return probes.materialize(probes.call_settled(self.clock, f, args, self.deadline_s)[0])


def measure(
    rec: OpBenchRecord,
    spec: OpSpec,
    candidate: str,
    device: str,
    *,
    timed_shapes: list[list[int]],
    seed: int,
    budget: Budget,
    serving_mode: str = "compiled",
) -> None:
    """Fill ``rec`` in place, phase by phase, so a failure part-way leaves what was measured."""
    fn, setup = load_candidate(candidate)
    served = baselines.served(spec.op, device, serving_mode)
    rec.baseline_backend, rec.baseline_kind, rec.baseline_note = served.backend, served.kind, served.note or None
    clock = clock_for(device)
    rec.device_name = clock.name()  # type: ignore[attr-defined]
    b = _Bench(spec, fn, setup, clock, device, seed, budget.deadline_s)
    with torch.no_grad():
        _correctness(rec, b)
        rec.anti_gaming = _anti_gaming(b, max(timed_shapes, key=_numel))
        # eager forward_native as its own labelled column when the served baseline is not eager
        eager = baselines.BASELINES[spec.op] if served.kind != "eager" else None
        _timing(rec, b, timed_shapes, served.fn, eager, budget)


def _correctness(rec: OpBenchRecord, b: _Bench) -> None:
    """Against the float64 reference at every served shape x dtype, then the independent oracle
    (boundary cases), per dtype, summed."""
    for i, shape in enumerate(b.spec.served_shapes):
        for dtype in b.spec.dtypes:
            args = b.inputs(shape, dtype, i)
            before = pristine(b.spec.op, args)
            outs = b.finished(b.fn, args)
            rec.correctness.append(
                case(
                    shape,
                    DTYPES[dtype],
                    compare(outs, reference(b.spec.op, before), DTYPES[dtype]),
                    b.spec.tolerances[dtype],
                )
            )
    results = [run_oracle(b.spec, b.fn, b.device, d, call=b.finished) for d in b.spec.dtypes]
    orc = results[0]
    for r in results[1:]:
        orc.cases += r.cases
        orc.failures += r.failures
        orc.boundary_cases += r.boundary_cases
        orc.failed_cases += r.failed_cases  # type: ignore[attr-defined]
    rec.oracle = orc


def _anti_gaming(b: _Bench, pshape: list[int]) -> AntiGaming:
    """The anti-gaming probes at the largest timed shape."""
    dt0, clock, dl = b.spec.dtypes[0], b.clock, b.deadline_s
    args = b.inputs(pshape, dt0, 500)
    for _ in range(3):
        b.finished(b.fn, args)
    est = clock.interleaved({"c": (b.fn, args)}, 3)["c"]
    clock.sync()
    # GPU: few calls (<= 50), too few to fill a side stream's launch queue (a full queue blocks
    # the host until the side stream drains, hiding the escape). CPU: many, so escaped work
    # outlasts the 10 ms idle-detection window.
    n_calls = plan_reps(median(est) or 0.0, 30.0, 5, 50 if clock.method == "cuda_events" else 5000)
    fresh = lambda off: make_inputs(b.spec, pshape, dt0, b.device, b.seed + off)  # noqa: E731  (no setup: the probes run it)
    ag: dict[str, Any] = {}
    ag.update(probes.escape_probe(clock, b.fn, args, n_calls, dl))
    # the ratio above needs escaped work to outlast its own launch; this one does not
    ag.update(probes.ready_probe(clock, b.fn, b.setup, [fresh(5000 + i) for i in range(READY_TRIALS)], dl))
    ag.update(probes.follows_inputs_probe(clock, b.fn, args, fresh(1000), probes.jitter(args, b.seed + 1001), dl))
    prov = probes.provenance_probe(clock, b.fn, b.setup, fresh(2000), fresh(3000), dl)
    ag["output_from_timed_call"] = prov["output_from_timed_call"]
    ag.update(probes.evaluation_probe(clock, b.fn, args, dl, INPLACE_ARGS.get(b.spec.op, ())))
    ag["probe_shape"] = pshape
    return AntiGaming(**ag)


def _timing(
    rec: OpBenchRecord, b: _Bench, timed_shapes: list[list[int]], base: Any, eager: Any, budget: Budget
) -> None:
    """Warm-up isolated, adaptive reps, the served baseline, the candidate (and eager) interleaved."""
    clock, dt0 = b.clock, b.spec.dtypes[0]
    copy_bytes = 256 * 2**20 if clock.method == "cuda_events" else 16 * 2**20
    copy = clock.copy_gbps(copy_bytes)
    rec.roofline = Roofline(
        bytes_moved=float(min(bytes_moved(b.spec, s, dt0) for s in timed_shapes)), peak_bandwidth_gbps=copy
    )
    per_target = budget.min_timed_ms / len(timed_shapes) * 1.2
    b_all: list[float] = []
    c_all: list[float] = []
    e_all: list[float] = []
    per_shape = []
    pending: list[tuple[dict[str, Any], dict[str, list[float]]]] = []
    reps_total = 0
    for j, shape in enumerate(timed_shapes):
        args = b.inputs(shape, dt0, 4000 + j)
        calls = {
            "baseline": (base, args),
            "candidate": (b.fn, args),
            **({"eager": (eager, args)} if eager is not None else {}),
        }
        for _ in range(3):  # warm-up: compilation, autotuning, allocator; never recorded
            clock.interleaved(calls, 1)
        clock.set_lead(calls)
        est = clock.interleaved(calls, 3)
        reps = plan_reps(min(median(v) or 0.0 for v in est.values()), per_target, budget.min_reps, budget.max_reps)
        ts = clock.interleaved(calls, reps)
        reps_total += reps
        b_all += ts["baseline"]
        c_all += ts["candidate"]
        et = ts.get("eager", ts["baseline"])
        e_all += et
        per_shape.append(_shape_row(b.spec, shape, dt0, reps, ts, et, copy, eager is not None))
        pending.append(({"baseline": calls["baseline"], "candidate": calls["candidate"]}, est))
    if clock.method == "cuda_events":
        # after every headline reading: a capture that fails may leave the device unusable, so the
        # first failure ends the in-graph readings and the flushed ones stand alone
        for row, (pair, est) in zip(per_shape, pending):
            got = _in_graph(clock, pair, est)
            row.update(got)
            if "graph_error" in got:
                break
    rec.timed_shapes = [list(s) for s in timed_shapes]
    rec.timing = TimingRecord(
        method=clock.method,
        device=f"{b.device} {rec.device_name}",  # type: ignore[attr-defined]
        warmup_isolated=True,
        l2_flush_per_rep=clock.l2_flush,
        iterations=reps_total,
        total_timed_ms=sum(c_all),
        baseline_times_ms=b_all,
        candidate_times_ms=c_all,
        per_shape=[ShapeTimes(**r) for r in per_shape],
    )
    rec.timing.copy_gbps = copy  # type: ignore[attr-defined]
    rec.timing.copy_bytes = copy_bytes  # type: ignore[attr-defined]
    # Roofline has no extra fields; why its numbers are what they are lives here
    rec.timing.roofline_note = (
        "roofline.bytes_moved is the smallest timed shape's: every rep of any shape takes at least "  # type: ignore[attr-defined]
        "its own bytes / peak, so the pooled median cannot beat that floor honestly; "
        "peak_bandwidth_gbps is the copy measured in this process (bytes read + written)"
    )
    if clock.method == "cuda_events":
        rec.timing.l2_flush_bytes = clock.flush_bytes  # type: ignore[attr-defined]
        rec.timing.event_method_note = (
            "per rep: zero a flush buffer, GPU sleep of 2x the call's host enqueue time, "  # type: ignore[attr-defined]
            "start event, call, end event; synchronise once after all reps (as do_bench)"
        )
    rec.claimed_speedup = median_ratio(b_all, c_all)
    rec.eager_speedup = median_ratio(e_all, c_all)


GRAPH_MS = 0.2  # device time one captured graph aims at: many calls for a 2 us op, one for a 0.2 ms one


def _in_graph(clock: Any, calls: dict[str, Any], est: dict[str, list[float]]) -> dict[str, Any]:
    """The second, labelled reading of one shape: per-call times replayed from a CUDA graph with
    warm inputs (timing.CudaClock.in_graph), or why there is none (a call that cannot be captured
    keeps the flushed reading alone)."""
    per = max(1, min(64, int(GRAPH_MS / max(min(median(v) or 0.0 for v in est.values()), 1e-4))))
    try:
        g = clock.in_graph(calls, per, 50)
    except Exception as e:  # noqa: BLE001 - any capture failure leaves the headline reading as it was
        return {"graph_error": f"{type(e).__name__}: {e}"[:300]}
    return {
        "graph_calls": per,
        "graph_baseline_times_ms": g["baseline"],
        "graph_candidate_times_ms": g["candidate"],
        "graph_speedup": median_ratio(g["baseline"], g["candidate"]),
    }


def _shape_row(
    spec: OpSpec,
    shape: list[int],
    dt0: str,
    reps: int,
    ts: dict[str, list[float]],
    et: list[float],
    copy: float,
    second: bool,
) -> dict[str, Any]:
    nb = bytes_moved(spec, shape, dt0)
    bm, cm = median(ts["baseline"]), median(ts["candidate"])
    cg = gbps(nb, cm)
    return {
        "shape": shape,
        "dtype": dt0,
        "reps": reps,
        "baseline_median_ms": bm,
        "candidate_median_ms": cm,
        "speedup": median_ratio(ts["baseline"], ts["candidate"]),
        "bytes_moved": nb,
        "candidate_gbps": cg,
        "baseline_gbps": gbps(nb, bm),
        "bandwidth_ratio_to_copy": (cg / copy) if cg else None,
        "eager_median_ms": median(et),
        "speedup_vs_eager": median_ratio(et, ts["candidate"]),
        "baseline_times_ms": ts["baseline"],
        "candidate_times_ms": ts["candidate"],
        **({"eager_times_ms": et} if second else {}),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--op", required=True)
    ap.add_argument("--candidate", required=True, help="MODULE:FN or path/to/file.py:FN")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--out", required=True, help="run directory; the record goes to ops/<op>/opbench.json in it")
    ap.add_argument("--profile", default="llama-gpu", help="model profile of the served shapes (specs.PROFILES)")
    ap.add_argument("--tokens", default=None, help="served token counts, comma-separated (default: the profile's)")
    ap.add_argument("--timed-tokens", default=None, help="token counts to time (default: all served)")
    ap.add_argument("--dtypes", default=None, help="comma-separated, e.g. bf16 (default: the profile's)")
    ap.add_argument(
        "--serving-mode",
        default="compiled",
        choices=baselines.SERVING_MODES,
        help="how the engine runs the op: compiled (vLLM's default) or eager (--enforce-eager); the baseline is that path",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-timed-ms", type=float, default=100.0, help="adaptive reps time at least this much per side")
    ap.add_argument("--min-reps", type=int, default=10)
    ap.add_argument("--max-reps", type=int, default=20000)
    ap.add_argument(
        "--deadline-s", type=float, default=5.0, help="how long to wait for a candidate's threads to finish"
    )
    ap.add_argument("--timeout-s", type=float, default=300.0, help="(harness.py) kill the worker after this long")
    return ap.parse_args(argv)


def _ints(s: str | None) -> list[int] | None:
    return [int(x) for x in s.split(",")] if s else None


def spec_and_timed(a: argparse.Namespace) -> tuple[OpSpec, list[list[int]]]:
    spec = spec_for(a.op, a.profile, tokens=_ints(a.tokens), dtypes=a.dtypes.split(",") if a.dtypes else None)
    timed = _ints(a.timed_tokens)
    shapes = [served_shape(a.op, t, spec.params) for t in timed] if timed else [list(s) for s in spec.served_shapes]
    return spec, shapes


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    store = RunStore(a.out)
    spec, timed = spec_and_timed(a)
    rec = base_record(spec, a.candidate, timed, a.serving_mode)
    rec.status = "ok"  # type: ignore[attr-defined]
    try:
        measure(
            rec,
            spec,
            a.candidate,
            a.device,
            timed_shapes=timed,
            seed=a.seed,
            budget=Budget(a.min_timed_ms, a.min_reps, a.max_reps, a.deadline_s),
            serving_mode=a.serving_mode,
        )
    except Exception as e:  # the candidate (or the device) failed: record it, do not raise
        rec.status = "error"  # type: ignore[attr-defined]
        rec.error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=6)}"[:4000]  # type: ignore[attr-defined]
    store.write_json(record_path(a.op), rec)
    print(f"harness worker: {a.op} {a.candidate}: {rec.status}", flush=True)  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: a candidate's stray non-daemon thread must not hold the worker open after the record is written
    import os

    os._exit(code)
