"""The profiler: a raw torch-profiler trace -> op breakdown -> a routing proposal.

Pure: reads the one trace file it is given and nothing else.

``op_breakdown`` aggregates exclusive time per op family. On a GPU trace that is device
kernel time; on a CPU trace (vLLM-on-CPU) it is the exclusive time of leaf CPU ops, with
nested children subtracted, plus the own time of torch.compile regions (inductor's fused
C++ code runs there with no event of its own). vLLM's per-step annotations are host
scheduling glue: their own time is reported (``step_us``) but is not op time. This is the
same accounting the profile gate re-derives (auditor/checks/profile.py); the family
taxonomy is the auditor's ``op_family``, so the two agree by construction on names and
independently on numbers.

``route`` is the none-policy profiler: route the largest editable family among the top
families, and name a reason for every other top family it leaves alone (R1-R3).
"""

from __future__ import annotations

import gzip
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal
from collections.abc import Mapping

from pydantic import BaseModel, Field

from geak.auditor.api import DEVICE_CATS, device_name, launch_ops, op_family, step_tokens_of


_DTYPES = {
    "c10::BFloat16": "bf16",
    "c10::Half": "fp16",
    "float": "fp32",
    "double": "fp64",
    "long int": "int64",
    "int": "int32",
    "bool": "bool",
    "unsigned char": "uint8",
    "signed char": "int8",
    "short int": "int16",
    "c10::Float8_e4m3fn": "fp8_e4m3",
    "c10::Float8_e5m2": "fp8_e5m2",
}


class ShapeStat(BaseModel):
    """One served call signature of an op: the input shapes and tensor dtypes it ran with."""

    op: str
    input_dims: list[Any]
    input_types: list[str]
    calls: int = 0
    self_us: float = 0.0


class FamilyStat(BaseModel):
    family: str
    self_us: float
    share: float = Field(description="fraction of op time, 0..1")
    calls: int = Field(description="calls of the family, nested calls of the same family counted once")
    ops: dict[str, float] = Field(default_factory=dict, description="op / kernel name -> exclusive us")
    dtypes: list[str] = Field(default_factory=list, description="tensor dtypes served (CPU ops' Input type)")
    shapes: list[ShapeStat] = Field(default_factory=list, description="served signatures, most time first (capped)")
    distinct_shapes: int = 0


class OpBreakdown(BaseModel):
    trace_file: str
    source: Literal["device_kernels", "cpu_ops"]
    total_us: float = Field(description="op time: the denominator of every share")
    step_us: float | None = Field(None, description="CPU: time inside vLLM's step annotations (op time + host glue)")
    step_tokens: list[int] = Field(
        default_factory=list, description="tokens per engine step, from vLLM's step annotations"
    )
    families: list[FamilyStat] = Field(default_factory=list, description="most time first")

    def shares(self) -> dict[str, float]:
        return {f.family: f.share for f in self.families}

    def family(self, name: str) -> FamilyStat | None:
        return next((f for f in self.families if f.family == name), None)


def load_events(path: str | Path) -> list[dict[str, Any]]:
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    obj = json.loads(raw)
    evs = obj.get("traceEvents", []) if isinstance(obj, dict) else obj
    return [e for e in evs if isinstance(e, dict)]


def dtype_name(t: str) -> str:
    """A recorded ``Input type`` in the harness's names (c10::BFloat16 -> bf16); others as recorded."""
    return _DTYPES.get(t, t)


def _counted(e: dict[str, Any]) -> bool:
    cat = str(e.get("cat", "")).lower()
    return cat == "cpu_op" or (cat == "user_annotation" and op_family(str(e.get("name"))) == "compiled_region")


def op_breakdown(
    trace_path: str | Path, *, max_shapes: int = 24, events: list[dict[str, Any]] | None = None
) -> OpBreakdown:
    """Op time per family of a trace; ``events``: the trace's events when the caller loaded them
    already (a serving window's trace is MBs to GBs: parse it once)."""
    evs = load_events(trace_path) if events is None else events
    xs = [e for e in evs if e.get("ph") == "X" and isinstance(e.get("dur"), (int, float))]
    kernels = [e for e in xs if str(e.get("cat", "")).lower() in DEVICE_CATS]
    cpu = [e for e in xs if str(e.get("cat", "")).lower() in ("cpu_op", "user_annotation")]
    excl, same_family_parent, step_us = _exclusive_times(cpu)

    booked: dict[int, str] = {}  # a device event -> the name its time is booked under
    launchers = launch_ops(xs)
    if kernels:
        source: Literal["device_kernels", "cpu_ops"] = "device_kernels"
        booked = {id(e): device_name(e, launchers) for e in kernels}
        timed = [(e, float(e["dur"])) for e in kernels]
        calls_of = kernels
    else:
        source = "cpu_ops"
        timed = [(e, excl.get(id(e), 0.0)) for e in cpu if _counted(e)]
        calls_of = [e for e, _ in timed]

    fam_us: dict[str, float] = defaultdict(float)
    fam_ops: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for e, t in timed:
        name = booked.get(id(e), str(e.get("name")))
        fam = op_family(name)
        fam_us[fam] += t
        fam_ops[fam][name] += t
    fam_calls: dict[str, int] = defaultdict(int)
    for e in calls_of:
        if not same_family_parent.get(id(e), False):
            fam_calls[op_family(booked.get(id(e), str(e.get("name"))))] += 1
    sigs, dtypes = _served_shapes(cpu, excl, launchers.inferred)

    total = sum(fam_us.values())
    fams = []
    for fam, us in sorted(fam_us.items(), key=lambda kv: -kv[1]):
        ss = sorted(sigs.get(fam, {}).values(), key=lambda s: -s.self_us)
        fams.append(
            FamilyStat(
                family=fam,
                self_us=us,
                share=us / total if total else 0.0,
                calls=fam_calls.get(fam, 0),
                ops=dict(sorted(fam_ops[fam].items(), key=lambda kv: -kv[1])),
                dtypes=sorted(dtypes.get(fam, set())),
                shapes=[s.model_copy(update={"self_us": round(s.self_us, 3)}) for s in ss[:max_shapes]],
                distinct_shapes=len(ss),
            )
        )
    return OpBreakdown(
        trace_file=Path(trace_path).name,
        source=source,
        total_us=total,
        step_us=step_us if source == "cpu_ops" and step_us else None,
        step_tokens=step_tokens(xs),
        families=fams,
    )


def _exclusive_times(cpu: list[dict[str, Any]]) -> tuple[dict[int, float], dict[int, bool], float]:
    """(exclusive time per CPU event, by interval nesting per thread; per event, whether an
    enclosing counted event has the same family, then it is not a separate call; the top-level
    step annotations' time)."""
    excl: dict[int, float] = {}
    same_family_parent: dict[int, bool] = {}
    step_us = 0.0
    by_thread: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for e in cpu:
        by_thread[(e.get("pid"), e.get("tid"))].append(e)
    for thread in by_thread.values():
        thread.sort(key=lambda e: (float(e.get("ts", 0)), -float(e["dur"])))
        stack: list[tuple[float, dict[str, Any], list[float]]] = []  # (end, event, [children time])
        for e in thread:
            ts, dur = float(e.get("ts", 0)), float(e["dur"])
            while stack and stack[-1][0] <= ts:
                _, p, child = stack.pop()
                excl[id(p)] = max(float(p["dur"]) - child[0], 0.0)
            if stack:
                stack[-1][2][0] += dur
            elif str(e.get("cat", "")).lower() == "user_annotation" and not _counted(e):
                step_us += dur
            fam = op_family(str(e.get("name")))
            same_family_parent[id(e)] = any(_counted(p) and op_family(str(p.get("name"))) == fam for _, p, _ in stack)
            stack.append((ts + dur, e, [0.0]))
        while stack:
            _, p, child = stack.pop()
            excl[id(p)] = max(float(p["dur"]) - child[0], 0.0)
    return excl, same_family_parent, step_us


def _served_shapes(
    cpu: list[dict[str, Any]], excl: dict[int, float], inferred: Mapping[str, str]
) -> tuple[dict[str, dict[tuple[str, str, str], ShapeStat]], dict[str, set[str]]]:
    """Served shapes and dtypes per family, from CPU ops (they carry Input Dims / Input type on
    both CPU and GPU traces); the time attributed is the op's exclusive CPU time."""
    # tallied in plain lists, the models built once at the end: a trace has ~10^5 shaped ops
    acc: dict[str, dict[tuple[str, str, str], list[Any]]] = defaultdict(dict)
    dtypes: dict[str, set[str]] = defaultdict(set)
    for e in cpu:
        if str(e.get("cat", "")).lower() != "cpu_op":
            continue
        args = e.get("args") or {}
        dims, types = args.get("Input Dims"), args.get("Input type")
        if not isinstance(dims, list) or not dims:
            continue
        types = [str(t) for t in types] if isinstance(types, list) else []
        name = str(e.get("name"))
        fam = inferred.get(name) or op_family(name)
        tdt = [dtype_name(t) for d, t in zip(dims, types) if isinstance(d, list) and d and t]
        dtypes[fam].update(tdt)
        key = (name, repr(dims), repr(tdt))
        a = acc[fam].get(key)
        if a is None:
            a = acc[fam][key] = [dims, tdt, 0, 0.0]
        a[2] += 1
        a[3] += excl.get(id(e), 0.0)
    sigs = {
        fam: {
            k: ShapeStat(op=k[0], input_dims=dims, input_types=tdt, calls=n, self_us=us)
            for k, (dims, tdt, n, us) in by.items()
        }
        for fam, by in acc.items()
    }
    return sigs, dtypes


def served_tokens(fam: FamilyStat | None, keep: int = 4) -> list[int]:
    """Token counts the family really ran with, from the trace's recorded input shapes: the
    product of every dim of its first input but the last (vLLM's [tokens, hidden], a
    transformers model's [batch, seq, hidden]); the smallest, the largest and evenly spaced
    ones between."""
    seen: set[int] = set()
    for s in fam.shapes if fam else []:
        d = s.input_dims[0] if s.input_dims else None
        if isinstance(d, list) and len(d) >= 2 and all(isinstance(x, int) and x > 0 for x in d):
            seen.add(math.prod(d[:-1]))
    return _spread(sorted(seen), keep)


def _spread(out: list[int], keep: int) -> list[int]:
    """The smallest, the largest and evenly spaced ones between (at most ``keep``)."""
    if len(out) <= keep:
        return out
    idx = sorted({round(i * (len(out) - 1) / (keep - 1)) for i in range(keep)})
    return [out[i] for i in idx]


# the KV-cache write vLLM calls from Python at a graph split (0.26 GPU, 0.32 CPU): its first input
# is the step's keys, [tokens, kv_heads, head_size], recorded even when the rotary before it runs
# inside a compiled piece or a CUDA graph with no shapes of its own
CACHE_WRITE_OP = "vllm::unified_kv_cache_update"


def cache_write_tokens(bd: OpBreakdown, keep: int = 4) -> list[int]:
    """Token counts of the steps that wrote the KV cache (the first dim of the keys written)."""
    seen: set[int] = set()
    for fam in bd.families:
        for s in fam.shapes:
            d = s.input_dims[0] if s.op == CACHE_WRITE_OP and s.input_dims else None
            if isinstance(d, list) and len(d) == 3 and all(isinstance(x, int) and x > 0 for x in d):
                seen.add(d[0])
    return _spread(sorted(seen), keep)


def step_tokens(events: list[dict[str, Any]]) -> list[int]:
    """Token counts of the engine's steps (prefill plus decode tokens), from its own annotations."""
    seen: set[int] = set()
    for e in events:
        t = step_tokens_of(str(e.get("name", ""))) if str(e.get("cat", "")).lower() == "user_annotation" else None
        if t:
            seen.add(t)
    return sorted(seen)


def family_tokens(bd: OpBreakdown, family: str) -> list[int]:
    """The served token counts for a routed family: its own shapes; for the rotary, which a
    compiled server runs with no shapes of its own, the cache write's (same tokens, same step).
    On a device trace, where decode steps replay CUDA graphs that record no launch shapes, the
    engine's step sizes join them (every layer's op runs on the step's tokens): the decode batch
    sizes beside the prefill chunks."""
    got = served_tokens(bd.family(family)) or (cache_write_tokens(bd) if family == "rotary" else [])
    if bd.source == "device_kernels" and got and bd.step_tokens:
        return _spread(sorted(set(got) | set(bd.step_tokens)), 8)
    return got
