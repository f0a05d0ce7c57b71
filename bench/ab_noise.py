"""The paired crossover design against today's sequential design, side by side (issue 18).

    python bench/ab_noise.py measure --out /tmp/abn [--aa-chain 6] [--aa-crossovers 2] [--reps 5]
                                     [--seqs 24:32] [--trials 1] [--seq-rounds N]
    python bench/ab_noise.py measure --out /tmp/abn --effect-only --seqs 12:32 --trials 5 [--designs paired]
    python bench/ab_noise.py report --out /tmp/abn

``measure`` runs real vLLM-on-CPU legs of the shipped model on two one-core sets (cpu:0,
cpu:1) and writes two run directories:

  seq/     today's design. A/A: two chains of legs of one config, one chain per set, both
           chains at once (so the host is as loaded as in the paired design); consecutive legs
           of a chain are an A/A pair. Effect: per round and set, a reference leg then a
           candidate leg (blocks of reps), the two sets' trials at once (a round is two trials;
           ``--seq-rounds``, by default half of ``--trials`` rounded up).
  paired/  the crossover. A/A: crossovers of one config against itself (two servers at once,
           every repetition started together, then the sets swap). Effect: a crossover of the
           reference against the candidate per trial.

The effect is max_num_seqs (``--seqs REF:CAND``, the candidate side higher). Each effect gate
is a decision in its run's decisions.jsonl; its A/A legs give the band. ``report`` audits
every gate with the real auditor and prints the A/A bands, each design's verdicts on the
effect, the trial ladder (per effect size, how many trials each design banked; the smallest
size banked in at least 4 of 5), and how many A/A comparisons each design's full gate would bank (an A/A comparison
gated as if it were a change: for the paired design, against the band of the other A/A
crossovers). Run it on a quiet machine: everything else on the cores is part of what it
measures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from geak.agents.engines.base import LaunchConfig
from geak.agents.engines.leg import LegSpec, run_leg
from geak.agents.engines.leg_spec import leg_parts
from geak.agents.engines.questions import load_prompts
from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.models import Decision, Manifest, PairedAA, WorkloadSpec
from geak.auditor.evidence.store import RunStore
from geak.orchestrator.cli.common import launch_config
from geak.agents.runners.paired import local_batch, run_crossover
from geak.orchestrator.workflow import ids
from geak.agents.roles.policies import regressions
from geak.agents.roles.answers import declared_for
from geak.orchestrator.progress import Reporter
from geak.agents.runners.scheduler import LegJob, LocalScheduler

from rich.console import Console

PROGRESS = Console(stderr=True)
ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "tiny-arith"
SETS = ("cpu:0", "cpu:1")
# 1000 prompts per rep (~8 s on one core): 200-prompt reps (~2 s) gave pairs 20% apart in a smoke run
WORKLOAD = WorkloadSpec(dataset="random", num_prompts=1000, input_len=32, output_len=16, max_concurrency=32, seed=0)


def _one(store: RunStore, j: LegJob):
    return run_leg(store, "vllm", *leg_parts(j.leg_id, j.role, j.cfg, **j.kw))


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _decision(store: RunStore, gate: str, ref: list[str], cand: list[str], design: str) -> Decision:
    """What the workflow's built-in config tuner would submit (agents/roles/policies.config_tuner):
    the knob and what vLLM derives from it, and the latency percentiles it measured worse."""
    run = RunEvidence(store)

    def lat(legs: list[str]):
        return lambda m: [float(x) for leg in legs for x in run.leg(leg).pooled(m)]

    return Decision(
        decision_id=f"d-{gate}",
        gate_id=gate,
        scope="patch",
        producer="config_tuner",
        reference_legs=ref,
        candidate_legs=cand,
        declared_knobs=declared_for("max_num_seqs"),
        design=design,  # type: ignore[arg-type]
        declared_levers={"max_num_seqs": "config"},
        declared_regressions=regressions(lat(ref), lat(cand)),
    )


def _configs(seqs: str) -> tuple[LaunchConfig, LaunchConfig, str]:
    """The reference and candidate launch configs of ``REF:CAND`` max_num_seqs, and the gate tag."""
    ref_n, cand_n = (int(x) for x in seqs.split(":"))
    base = launch_config(str(MODEL))
    return (
        base.model_copy(update={"max_num_seqs": ref_n}),
        base.model_copy(update={"max_num_seqs": cand_n}),
        f"eff{ref_n}_{cand_n}",
    )


def _probes() -> dict:
    return dict(parity=load_prompts(MODEL / "parity.jsonl"), accuracy=load_prompts(MODEL / "probe.jsonl"))


def _seq_trial(seq: RunStore, ref: LaunchConfig, cand: LaunchConfig, tag: str, t: int, kw: dict) -> None:
    """One round of sequential effect trials: per set a reference leg then a candidate leg, both
    sets at once (two trials, ``<tag>_t<t>_s0`` and ``_s1``)."""
    jobs = []
    for s, dev in enumerate(SETS):
        g = f"{tag}_t{t}_s{s}"
        jobs += [
            LegJob(f"{g}_ref", "reference", ref.model_copy(update={"devices": dev}), dict(kw)),
            LegJob(f"{g}_cand", "candidate", cand.model_copy(update={"devices": dev}), dict(kw)),
        ]
    _say(f"seq: effect round {t} (max_num_seqs {ref.max_num_seqs} -> {cand.max_num_seqs}) on both sets")
    LocalScheduler().run(seq, jobs, _one, node=f"seq effect {tag} {t}")


def _xlegs(gate: str) -> tuple[list[str], list[str]]:
    return ids.paired_legs(f"{gate}_a", f"{gate}_b", "crossover", ids.CROSSOVER_PERIODS)


def _paired_trial(par: RunStore, ref: LaunchConfig, cand: LaunchConfig, tag: str, t: int, kw: dict) -> None:
    _say(f"paired: effect crossover {t} (max_num_seqs {ref.max_num_seqs} -> {cand.max_num_seqs})")
    run_crossover(par, local_batch(_one), legs=_xlegs(f"{tag}_t{t}"), a=ref, b=cand, sets=SETS, **kw)


def measure(a: argparse.Namespace) -> None:
    if a.effect_only:
        return effect_only(a)
    if a.out.exists():
        shutil.rmtree(a.out)
    ref, cand, tag = _configs(a.seqs)
    w = WORKLOAD.model_copy(update={"num_prompts": a.num_prompts})
    kw = dict(workload=w, reps=a.reps)
    eff_kw = {**kw, **_probes()}
    t0 = time.time()
    # ---- sequential design
    seq = RunStore(a.out / "seq")
    seq.path(".").mkdir(parents=True, exist_ok=True)
    # written first, so a measure cut short still leaves what --effect-only and report need
    meta = {
        "seqs": [ref.max_num_seqs, cand.max_num_seqs],
        "reps": a.reps,
        "wall_s": None,
        "sets": SETS,
        "workload": w.model_dump(),
        "aa_chain": a.aa_chain,
        "aa_crossovers": a.aa_crossovers,
        "trials": a.trials,
        "seq_rounds": _seq_rounds(a),
    }
    (a.out / "measured.json").write_text(json.dumps(meta))
    aa_jobs = [
        LegJob(f"aa_s{s}_{i}", "aa", ref.model_copy(update={"devices": dev}), dict(kw))
        for i in range(1, a.aa_chain + 1)
        for s, dev in enumerate(SETS)
    ]
    _say(f"seq: {len(aa_jobs)} A/A legs, two chains at once")
    with Reporter(seq, PROGRESS):  # one row per running leg: both device sets (stderr)
        LocalScheduler().run(seq, aa_jobs, _one, node="seq aa")
    seq.write_json(
        "manifest.json", Manifest(run_id="seq", engine="vllm", workload=w, aa_legs=[j.leg_id for j in aa_jobs])
    )
    with Reporter(seq, PROGRESS):
        for t in range(1, _seq_rounds(a) + 1):
            _seq_trial(seq, ref, cand, tag, t, eff_kw)
    # ---- paired crossover design
    par = RunStore(a.out / "paired")
    par.path(".").mkdir(parents=True, exist_ok=True)
    designs = []
    show = Reporter(par, PROGRESS).__enter__()
    for k in range(1, a.aa_crossovers + 1):
        _say(f"paired: A/A crossover {k}/{a.aa_crossovers}")
        r = run_crossover(
            par, local_batch(_one), legs=_xlegs(f"aa{k}"), a=ref, b=ref, sets=SETS, roles=("aa", "aa"), **kw
        )
        designs.append(PairedAA(design="crossover", a_legs=r.a_legs, b_legs=r.b_legs))
    par.write_json(
        "manifest.json",
        Manifest(
            run_id="paired",
            engine="vllm",
            workload=w,
            aa_legs=[x for d in designs for x in d.a_legs + d.b_legs],
            aa_designs=designs,
        ),
    )
    for t in range(1, a.trials + 1):
        _paired_trial(par, ref, cand, tag, t, eff_kw)
    show.__exit__(None, None, None)
    meta["wall_s"] = time.time() - t0
    (a.out / "measured.json").write_text(json.dumps(meta))
    decide(a.out)
    _say(f"measured in {time.time() - t0:.0f} s; now: python bench/ab_noise.py report --out {a.out}")


def _seq_rounds(a: argparse.Namespace) -> int:
    return a.seq_rounds if a.seq_rounds is not None else (a.trials + 1) // 2


def finished(st: RunStore, sides: dict[str, tuple[list[str], list[str]]]) -> dict[str, tuple[list[str], list[str]]]:
    """The gates whose reference and candidate legs all finished (a measure cut short leaves a
    leg without an ok launch.json)."""
    ok = {i for i, lj in RunEvidence(st).launches.items() if lj.status == "ok"}
    return {g: s for g, s in sides.items() if set(s[0] + s[1]) <= ok}


def decide(out: Path) -> None:
    """decisions.jsonl of both runs, from the effect legs they hold (eff..._ref/_cand in seq/,
    eff..._a_p*/_b_p* in paired/), claimed as the workflow's tuner would; rewritten whole. A
    trial whose legs did not all finish is left out, and said."""
    for name, design in (("seq", "blocks"), ("paired", "crossover")):
        st = RunStore(out / name)
        legs = sorted(p.name for p in st.path("legs").iterdir() if p.name.startswith("eff"))
        if design == "blocks":
            sides = {g: ([f"{g}_ref"], [f"{g}_cand"]) for g in sorted({x.rsplit("_", 1)[0] for x in legs})}
        else:
            sides = {g: _xlegs(g) for g in sorted({x.rsplit("_", 2)[0] for x in legs})}
        whole = finished(st, sides)
        ds = [_decision(st, g, ref, cand, design) for g, (ref, cand) in whole.items()]
        st.write_text("decisions.jsonl", "".join(d.model_dump_json() + "\n" for d in ds))
        cut = sorted(set(sides) - set(whole))
        _say(
            f"{name}: {len(ds)} effect decision(s) written"
            + (f"; left out, not all legs finished: {', '.join(cut)}" if cut else "")
        )


def effect_only(a: argparse.Namespace) -> None:
    """More effect trials (another --seqs) into the run directories an earlier measure wrote:
    their A/A legs give the band; gates are named eff<ref>_<cand>_t<k>."""
    meta = json.loads((a.out / "measured.json").read_text())
    ref, cand, tag = _configs(a.seqs)
    kw = {"workload": WorkloadSpec(**meta["workload"]), "reps": meta["reps"], **_probes()}
    seq, par = RunStore(a.out / "seq"), RunStore(a.out / "paired")
    designs = set(a.designs.split(","))
    if not designs <= {"seq", "paired"}:
        raise SystemExit(f"--designs: unknown {sorted(designs - {'seq', 'paired'})}; known: seq, paired")
    rounds = _seq_rounds(a) if "seq" in designs else 0
    for t in range(1, max(a.trials if "paired" in designs else 0, rounds) + 1):
        if t <= rounds:
            _seq_trial(seq, ref, cand, tag, t, kw)
        if "paired" in designs and t <= a.trials:
            _paired_trial(par, ref, cand, tag, t, kw)
    meta.setdefault("effect_only", []).append(
        {
            "seqs": [ref.max_num_seqs, cand.max_num_seqs],
            "trials": a.trials,
            "seq_rounds": rounds,
            "designs": sorted(designs),
        }
    )
    decide(a.out)
    (a.out / "measured.json").write_text(json.dumps(meta))


def solo(a: argparse.Namespace) -> None:
    meta = json.loads((a.out / "measured.json").read_text())
    w = WorkloadSpec(**meta["workload"])
    cfg = _configs(f"{meta['seqs'][0]}:{meta['seqs'][1]}")[0].model_copy(update={"devices": SETS[0]})
    st = RunStore(a.out / "solo")
    if st.root.exists():
        shutil.rmtree(st.root)
    for i in range(1, a.legs + 1):
        _say(f"solo leg {i}/{a.legs} on {SETS[0]}")
        with Reporter(st, PROGRESS):
            run_leg(st, "vllm", LegSpec(f"solo_{i}", "aa", cfg, w, reps=a.reps))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--out", type=Path, default=Path("/tmp/geak-abn"))
    m.add_argument(
        "--aa-chain", type=int, default=6, help="legs per sequential A/A chain (chain of n: n-1 pairs; two chains)"
    )
    m.add_argument("--aa-crossovers", type=int, default=2, help="paired A/A crossovers (each 2 x reps pairs)")
    m.add_argument("--reps", type=int, default=5)
    m.add_argument("--seqs", default="24:32", help="max_num_seqs of the reference and the candidate")
    m.add_argument("--trials", type=int, default=1, help="paired effect crossovers")
    m.add_argument(
        "--seq-rounds",
        type=int,
        default=None,
        help="sequential effect rounds, two trials each (one per set); default: half of --trials rounded up",
    )
    m.add_argument(
        "--designs", default="seq,paired", help="with --effect-only: which designs get the trials (seq, paired)"
    )
    m.add_argument("--num-prompts", type=int, default=WORKLOAD.num_prompts)
    m.add_argument(
        "--effect-only", action="store_true", help="add effect trials (--seqs, --trials) to an earlier measure's runs"
    )
    so = sub.add_parser(
        "solo", help="legs of the reference config alone on cpu:0 (cpu:1 idle): what running two at once costs"
    )
    so.add_argument("--out", type=Path, default=Path("/tmp/geak-abn"))
    so.add_argument("--legs", type=int, default=2)
    so.add_argument("--reps", type=int, default=5)
    de = sub.add_parser(
        "decide", help="write both runs' effect decisions again (the tuner's claims) from the legs they hold"
    )
    de.add_argument("--out", type=Path, default=Path("/tmp/geak-abn"))
    r = sub.add_parser("report")
    r.add_argument("--out", type=Path, default=Path("/tmp/geak-abn"))
    a = ap.parse_args(argv)
    if a.cmd == "measure":
        measure(a)
        return 0
    if a.cmd == "decide":
        decide(a.out)
        return 0
    if a.cmd == "solo":
        solo(a)
        return 0
    from ab_noise_report import report  # bench/: the audit and the figures

    return report(a.out)


if __name__ == "__main__":
    from geak.orchestrator.signals import unwind_on_signals

    unwind_on_signals()  # a kill tears the legs' servers down, as Ctrl-C does
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
