"""The op harness for every template at once on disjoint device sets, then serially on one set,
in one command: does running at once change the medians or the verdicts?

    python bench/harness_parallel.py --devices cpu:0-1 --cores-per-leg 1      # this CPU box
    python bench/harness_parallel.py --devices 0,1 [--ops rmsnorm,...]         # two GPUs (issue 19)

Each harness run goes through the leg scheduler (agents/runners/scheduler.py, local mode) as a job
on its device set: locked like a leg, a GPU set exported as CUDA_VISIBLE_DEVICES, a core set
pinned with taskset (agents/runners/op_runners.LiveHarness). The concurrent pass runs op i on set
i % N, N at once; the serial pass runs every op on the first set, one after the other. Then, per
op and timed shape: concurrent median / serial median, and the harness gate's verdict from each
pass (the auditor on each record). Goal (issue 19): every ratio within 2%, every verdict equal.
Prints one line per op and shape and a summary; writes OUT/harness_parallel.json.
Exit codes: 0 ran (whatever the figures), 2 usage, 1 a harness run left no record.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.devices import split
from geak.agents.engines.leg import LegResult
from geak.agents.kernels import specs
from geak.agents.kernels.templates import TEMPLATES
from geak.auditor.api import audit_decision
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import Decision
from geak.auditor.evidence.store import RunStore
from geak.auditor.policy import AuditPolicy
from geak.agents.runners.op_runners import LiveHarness
from geak.agents.runners.scheduler import LegJob, LocalScheduler, assign


def _one(kind: str, profile: str, extra: list[str]):
    def one(store: RunStore, job: LegJob) -> LegResult:
        op = job.kw["op"]
        status = LiveHarness()(
            store,
            op=op,
            candidate=TEMPLATES[(op, kind)],
            device=kind,
            profile=profile,
            serving_mode=job.kw["mode"],
            devices=job.cfg.devices,
            extra=extra,
        )
        return LegResult(job.leg_id, status, None, 0, None)

    return one


def run_pass(
    root: Path, ops: list[str], sets: list[str], kind: str, profile: str, mode: str, extra: list[str]
) -> float:
    store = RunStore(root)
    jobs = [
        LegJob(f"harness_{op}", "harness", LaunchConfig(model=op, devices=dev), {"op": op, "mode": mode})
        for op, dev in zip(ops, assign(len(ops), sets))
    ]
    t0 = time.time()
    LocalScheduler().run(store, jobs, _one(kind, profile, extra), node="harness")
    return time.time() - t0


def records(root: Path, ops: list[str]) -> dict[str, dict]:
    out = {}
    for op in ops:
        p = root / "ops" / op / "opbench.json"
        out[op] = json.loads(p.read_text()) if p.exists() else None
    return out


def _shapes(rec: dict) -> list[dict]:
    return list((rec.get("timing") or {}).get("per_shape") or [])


def verdict(root: Path, op: str) -> str:
    d = Decision(
        decision_id=f"d-harness-{op}", gate_id=f"harness-{op}", scope="harness", producer="op_benchmarker", op=op
    )
    v = audit_decision(RunEvidence(RunStore(root)), d, 1, AuditPolicy())
    rules = sorted({f.rule_id for f in v.findings if f.outcome in ("fail", "flag")})
    return v.verdict + (f" ({', '.join(rules)})" if rules else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="cpu:0-1")
    ap.add_argument("--tp", type=int, default=None, help="GPUs per set")
    ap.add_argument("--cores-per-leg", type=int, default=None)
    ap.add_argument("--ops", default=",".join(specs.OPS))
    ap.add_argument("--profile", default=None, help="model profile (default: tiny-arith on CPU, llama-gpu on GPUs)")
    ap.add_argument("--serving-mode", default=None, help="compiled | eager (default: eager on CPU, compiled on GPUs)")
    ap.add_argument("--out", type=Path, default=Path("runs/harness_parallel"))
    ap.add_argument("--harness-args", default="", help="more harness flags, e.g. '--tokens 1,7 --min-timed-ms 100'")
    a = ap.parse_args(argv)
    try:
        sets = [s.name for s in split(a.devices, tp=a.tp, cores_per_leg=a.cores_per_leg)]
    except ValueError as e:
        print(f"harness_parallel: {e}", file=sys.stderr)
        return 2
    ops = [o for o in a.ops.split(",") if o]
    if unknown := [o for o in ops if o not in specs.OPS]:
        print(f"harness_parallel: unknown op(s) {unknown}; known: {', '.join(specs.OPS)}", file=sys.stderr)
        return 2
    kind = "cpu" if sets[0].startswith("cpu") else "cuda"
    profile = a.profile or ("tiny-arith" if kind == "cpu" else "llama-gpu")
    mode = a.serving_mode or ("eager" if kind == "cpu" else "compiled")
    extra = a.harness_args.split()
    if a.out.exists() and any(a.out.iterdir()):
        print(f"harness_parallel: {a.out} is not empty; pass another --out", file=sys.stderr)
        return 2
    conc, ser = a.out / "concurrent", a.out / "serial"
    print(f"device sets {', '.join(sets)}; ops {', '.join(ops)}; profile {profile}; serving mode {mode}")
    wall_c = run_pass(conc, ops, sets, kind, profile, mode, extra)
    wall_s = run_pass(ser, ops, sets[:1], kind, profile, mode, extra)
    rc, rs = records(conc, ops), records(ser, ops)
    rows, worst, same = [], 0.0, True
    for op in ops:
        if rc[op] is None or rs[op] is None:
            print(f"{op}: no harness record ({'concurrent' if rc[op] is None else 'serial'} pass)", file=sys.stderr)
            return 1
        vc, vs = verdict(conc, op), verdict(ser, op)
        same = same and vc == vs
        for sc, ss in zip(_shapes(rc[op]), _shapes(rs[op])):
            ratio = sc["candidate_median_ms"] / ss["candidate_median_ms"] if ss.get("candidate_median_ms") else None
            worst = max(worst, abs(ratio - 1)) if ratio else worst
            rows.append(
                {
                    "op": op,
                    "shape": sc.get("shape"),
                    "concurrent_ms": sc.get("candidate_median_ms"),
                    "serial_ms": ss.get("candidate_median_ms"),
                    "ratio": ratio,
                    "verdict_concurrent": vc,
                    "verdict_serial": vs,
                }
            )
            print(
                f"{op} {sc.get('shape')}: concurrent {sc['candidate_median_ms']:.4f} ms, serial {ss['candidate_median_ms']:.4f} ms, "
                f"ratio {ratio:.3f}; verdict {vc} / {vs}"
            )
    print(
        f"summary: {len(rows)} shapes, worst |ratio - 1| {worst * 100:.1f}% (goal <= 2%: {'met' if worst <= 0.02 else 'MISSED'}); "
        f"verdicts {'identical' if same else 'DIFFER'}; wall {wall_c:.0f} s at once on {len(sets)} set(s), {wall_s:.0f} s serially"
    )
    tmp = a.out / "harness_parallel.json.tmp"
    tmp.write_text(
        json.dumps(
            {"sets": sets, "ops": ops, "rows": rows, "wall_concurrent_s": wall_c, "wall_serial_s": wall_s}, indent=1
        )
    )
    tmp.replace(a.out / "harness_parallel.json")
    return 0


if __name__ == "__main__":
    from geak.orchestrator.signals import unwind_on_signals

    unwind_on_signals()  # a kill tears the legs' servers down, as Ctrl-C does
    raise SystemExit(main())
