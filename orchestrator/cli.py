"""The `geak` command line. Thin: parse, call a pure core, print, exit with a documented code.

Exit codes of `geak audit` (worst gate wins, in this order):
    3  FAIL       at least one gate FAILed: nothing may be banked on it
    4  UNAUDITED  the auditor itself errored on a gate (fail-open, recorded)
    1  FLAG       no FAIL, but something to remeasure or downgrade
    0  PASS
    2  usage error (bad arguments, no such run directory)
`geak backtest` exits 0 when every bar given (--min-recall, --max-false-fail) is met, else 1.
"""

from __future__ import annotations

import json
import os
import sys
from enum import IntEnum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

app = typer.Typer(add_completion=False, no_args_is_help=True, help="geak: LLM-serving optimisation with an independent auditor.")
schema_app = typer.Typer(no_args_is_help=True, help="JSON Schema of the evidence contract.")
cases_app = typer.Typer(no_args_is_help=True, help="The planted-flaw backtest corpus.")
app.add_typer(schema_app, name="schema")
app.add_typer(cases_app, name="cases")


def _skills_app():
    from geak.orchestrator.cli_skills import skills_app

    return skills_app


app.add_typer(_skills_app(), name="skills")
console = Console()
err = Console(stderr=True, soft_wrap=True)


class Exit(IntEnum):
    PASS = 0
    FLAG = 1
    USAGE = 2
    FAIL = 3
    UNAUDITED = 4
    NOTHING = 5  # no gate to audit: n/a, never a PASS
    INTERNAL = 123  # geak itself failed (a bug, or the run directory refused a write)


def exit_code(verdicts: list[Optional[str]]) -> Exit:
    if not verdicts:
        return Exit.NOTHING
    if "FAIL" in verdicts:
        return Exit.FAIL
    if None in verdicts:
        return Exit.UNAUDITED
    if "FLAG" in verdicts:
        return Exit.FLAG
    return Exit.PASS


def _usage(msg: str) -> None:
    err.print(f"[red]error:[/red] {msg}")
    raise typer.Exit(Exit.USAGE)


def _policy(path: Optional[Path]):
    from geak.auditor.policy import AuditPolicy

    try:
        return AuditPolicy.load(path)
    except (OSError, ValueError) as e:
        _usage(f"policy {path}: {e}")


STYLE = {"PASS": "green", "FLAG": "yellow", "FAIL": "red", None: "magenta"}


@app.command()
def audit(
    run_dir: Path = typer.Argument(..., help="a run directory"),
    scope: Optional[str] = typer.Option(None, help="only gates of this scope: baseline|profile|harness|patch|bundle"),
    gate: Optional[str] = typer.Option(None, help="only this gate id"),
    as_json: bool = typer.Option(False, "--json", help="print verdicts as JSON"),
    policy: Optional[Path] = typer.Option(None, help="YAML file overriding audit thresholds"),
    verbose: bool = typer.Option(False, "-v", help="show passing findings too"),
) -> None:
    """Audit every gate of RUN_DIR from its raw records; write audits/<gate>.json."""
    from geak.auditor.audit import audit_run
    from geak.auditor.evidence.models import SCOPES

    if not run_dir.is_dir():
        _usage(f"{run_dir} is not a directory; pass a run directory (it holds manifest.json, legs/, decisions.jsonl)")
    if scope is not None and scope not in SCOPES:
        _usage(f"unknown scope {scope!r}; known scopes: {', '.join(SCOPES)}")
    pol = _policy(policy)
    try:
        verdicts = audit_run(run_dir, scope=scope, gate=gate, policy=pol)
    except Exception as e:  # the auditor's own failure: say so in one line, never a traceback
        err.print(f"[red]internal error:[/red] geak audit could not finish: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        err.print("nothing above is a verdict; if the run directory is intact, this is a bug in geak: please report it")
        raise typer.Exit(Exit.INTERNAL)
    if gate is not None and not verdicts:
        _usage(f"no gate {gate!r} in {run_dir}/decisions.jsonl")
    if as_json:
        print(json.dumps([v.model_dump(mode="json") for v in verdicts], indent=2))
    else:
        _print_verdicts(verdicts, verbose)
        if verdicts:
            _print_coverage(run_dir, verdicts)
        if not verdicts:
            what = f"no gate of scope {scope!r}" if scope else "decisions.jsonl holds no decision"
            err.print(f"nothing audited: {what}; that is not a PASS (exit {int(Exit.NOTHING)})")
    raise typer.Exit(exit_code([v.verdict for v in verdicts]))


def _print_coverage(run_dir: Path, verdicts) -> None:
    from geak.auditor.coverage import coverage
    from geak.auditor.evidence.loader import RunEvidence
    from geak.auditor.evidence.store import RunStore

    run = RunEvidence(RunStore(run_dir))
    source = run.manifest.imported_from if run.imported and run.manifest else None
    console.print(f"coverage: {coverage(verdicts).line(source)}")


def _print_verdicts(verdicts, verbose: bool) -> None:
    if not verdicts:
        console.print("no gates to audit (decisions.jsonl is empty)")
        return
    t = Table(title="geak audit", show_lines=True)
    for col in ("gate", "scope", "verdict", "findings"):
        t.add_column(col, overflow="fold")
    for v in verdicts:
        lines = []
        if v.verdict is None:
            lines.append(f"[magenta]UNAUDITED (fail-open): {v.unaudited_reason.splitlines()[0] if v.unaudited_reason else ''}[/magenta]")
        for f in v.findings:
            if f.outcome == "pass" and not verbose:
                continue
            if f.outcome == "n/a" and not verbose:
                continue
            ev = "; ".join(str(e) for e in f.evidence[:2])
            lines.append(f"[bold]{f.rule_id}[/bold] {f.outcome} -> {f.action}: {f.message}" + (f"  [dim]({ev})[/dim]" if ev else ""))
        label = v.verdict or "UNAUDITED"
        t.add_row(v.gate_id, v.scope or "-", f"[{STYLE[v.verdict]}]{label}[/{STYLE[v.verdict]}]", "\n".join(lines) or "all checks pass")
    console.print(t)


@app.command()
def backtest(
    cases_dir: Path = typer.Argument(..., help="directory of cases: <case>/run/ + <case>/key.yaml"),
    min_recall: Optional[float] = typer.Option(None, help="exit 1 if overall rule recall is below this"),
    max_false_fail: Optional[float] = typer.Option(None, help="exit 1 if the share of non-FAIL gates that FAILed exceeds this"),
    as_json: bool = typer.Option(False, "--json"),
    policy: Optional[Path] = typer.Option(None),
) -> None:
    """Run the auditor blind on every case and score it against the answer keys."""
    from geak.auditor.backtest import VERDICTS, backtest as run_backtest
    from geak.auditor.checks import sorted_rule_ids

    if not cases_dir.is_dir():
        _usage(f"{cases_dir} is not a directory of cases")
    rep = run_backtest(cases_dir, policy=_policy(policy))
    for p in rep.problems:
        err.print(f"[red]problem:[/red] {p}")
    if as_json:
        print(json.dumps({
            "recall": rep.recall, "precision": rep.precision, "false_fail_rate": rep.false_fail_rate,
            "verdict_accuracy": rep.verdict_accuracy, "confusion": rep.confusion,
            "rules": {k: {**v.model_dump(), "precision": v.precision, "recall": v.recall} for k, v in rep.rules.items()},
            "gates": [g.model_dump() for g in rep.gates],
        }, indent=2))
    else:
        t = Table(title="per rule")
        for col in ("rule", "TP", "FP", "FN", "precision", "recall"):
            t.add_column(col)
        fmt = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
        for rid in sorted_rule_ids(rep.rules):
            s = rep.rules[rid]
            t.add_row(rid, str(s.tp), str(s.fp), str(s.fn), fmt(s.precision), fmt(s.recall))
        console.print(t)
        c = Table(title="confusion (rows: key, columns: auditor)")
        c.add_column("key \\ auditor")
        for a in VERDICTS:
            c.add_column(a)
        for e, row in rep.confusion.items():
            c.add_row(e, *[str(row[a]) for a in VERDICTS])
        console.print(c)
        wrong = [g for g in rep.gates if not g.ok]
        for g in wrong:
            console.print(f"[red]miss[/red] {g.case}/{g.gate_id}: key {g.expected} {g.expected_rules}, auditor {g.actual} {g.fired_rules}")
        cases = len({g.case for g in rep.gates})
        console.print(f"{cases} cases, {len(rep.gates)} gates: recall {fmt(rep.recall)}, precision {fmt(rep.precision)}, "
                      f"verdict accuracy {fmt(rep.verdict_accuracy)}, false-FAIL rate {fmt(rep.false_fail_rate)}")
    bad = bool(rep.problems)
    if min_recall is not None and (rep.recall is None or rep.recall < min_recall):
        err.print(f"[red]recall {rep.recall} below --min-recall {min_recall}[/red]")
        bad = True
    if max_false_fail is not None and (rep.false_fail_rate or 0.0) > max_false_fail:
        err.print(f"[red]false-FAIL rate {rep.false_fail_rate} above --max-false-fail {max_false_fail}[/red]")
        bad = True
    raise typer.Exit(1 if bad else 0)


@schema_app.command("export")
def schema_export(
    out_dir: Path = typer.Option(Path("schemas"), help="where to write <Record>.schema.json"),
    check: bool = typer.Option(False, "--check", help="exit 1 if the files on disk differ, write nothing"),
) -> None:
    """Export JSON Schema for every record of the evidence contract."""
    from geak.auditor.evidence.schema import export_schemas

    stale = export_schemas(out_dir, check=check)
    if check and stale:
        err.print(f"[red]stale schema files:[/red] {', '.join(stale)}; run `geak schema export`")
        raise typer.Exit(1)
    console.print(f"{'checked' if check else 'wrote'} schemas in {out_dir}")


@cases_app.command("generate")
def cases_generate(
    out_dir: Path = typer.Argument(Path("runs/cases")),
    case: Optional[list[str]] = typer.Option(None, "--case", help="only these cases"),
) -> None:
    """(Re)generate the planted-flaw corpus from the synthetic clean run."""
    from geak.agents.plants import generate

    try:
        names = generate(out_dir, case)
    except KeyError as e:
        _usage(str(e.args[0]))
    console.print(f"wrote {len(names)} cases to {out_dir}")


@cases_app.command("list")
def cases_list() -> None:
    """List the plants: case name, planted rule ids, what the flaw is."""
    from geak.agents.plants import PLANTS

    t = Table()
    for col in ("case", "rules", "flaw"):
        t.add_column(col, overflow="fold")
    for p in PLANTS.values():
        t.add_row(p.name, ",".join(p.rules) or "(clean)", p.what)
    console.print(t)


@app.command("import")
def import_(
    fmt: str = typer.Argument(..., help="source format: geak-v4 | vllm-bench | sglang-bench"),
    src: list[Path] = typer.Argument(..., help="source directory (geak-v4) or benchmark output files"),
    run_dir: Path = typer.Option(..., "--out", "-o", help="run directory to create"),
    leg_id: Optional[str] = typer.Option(None, help="leg id for vllm-bench / sglang-bench"),
    warmup_first: bool = typer.Option(False, help="mark the first repetition as warm-up"),
) -> None:
    """Turn evidence you already have into a geak run directory, then `geak audit` it."""
    from geak.auditor.importers import get_importer

    try:
        importer = get_importer(fmt)
    except KeyError as e:
        _usage(str(e.args[0]))
    for s in src:
        if not s.exists():
            _usage(f"{s} does not exist")
    kwargs = {}
    if fmt != "geak-v4":
        kwargs = {"leg_id": leg_id or src[0].stem, "warmup_first": warmup_first}
        report = importer(src, run_dir, **kwargs)
    else:
        if len(src) != 1:
            _usage("geak-v4 takes one source directory")
        report = importer(src[0], run_dir)
    console.print(f"imported {len(report.legs)} leg(s), {len(report.decisions)} decision(s) into {run_dir}")
    for n in report.unchecked_notes:
        console.print(f"[yellow]note:[/yellow] {n}")
    for p in report.problems:
        err.print(f"[red]problem:[/red] {p}")
    raise typer.Exit(1 if report.problems else 0)


# ------------------------------------------------------------------ legs and the baseline phase

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "tiny-arith"

O_ENGINE = typer.Option("vllm", help="engine adapter: vllm | sglang")
O_MODEL = typer.Option(None, help="model path or id (default: the shipped tiny model models/tiny-arith)")
O_RUN = typer.Option(..., "--run-dir", help="run directory to write the leg into (created if absent)")
O_REPS = typer.Option(3, help="counted repetitions (one warm-up repetition is added and flagged)")


def _launch_cfg(model, dtype, memory_fraction, max_num_seqs, max_num_batched_tokens, chunked_prefill, prefix_caching,
                tp, speculative, max_model_len, load_format, enforce_eager, extra_arg, devices):
    from geak.agents.engines.base import LaunchConfig

    spec = None
    if speculative:
        try:
            spec = json.loads(speculative)
        except ValueError as e:
            _usage(f"--speculative must be JSON, e.g. '{{\"method\": \"ngram\", \"num_speculative_tokens\": 4}}': {e}")
    return LaunchConfig(model=str(model or DEFAULT_MODEL), dtype=dtype, memory_fraction=memory_fraction, max_num_seqs=max_num_seqs,
                        max_num_batched_tokens=max_num_batched_tokens, chunked_prefill=chunked_prefill, prefix_caching=prefix_caching,
                        tensor_parallel=tp, speculative=spec, max_model_len=max_model_len, load_format=load_format,
                        enforce_eager=enforce_eager, extra_args=list(extra_arg or []), devices=devices)


def _prompts(path: Optional[Path]):
    from geak.agents.engines.leg import load_prompts

    if path is None:
        return None
    if not path.exists():
        _usage(f"{path} does not exist")
    return load_prompts(path)


def _default_prompt_file(model: Optional[str], name: str) -> Optional[Path]:
    p = (Path(model) if model else DEFAULT_MODEL) / name
    return p if p.exists() else None


@app.command()
def leg(
    run_dir: Path = O_RUN,
    leg_id: str = typer.Option("leg", help="leg id (directory name under legs/)"),
    role: str = typer.Option("reference", help="baseline | reference | candidate | validation_base | validation_final | caching_audit | aa"),
    engine: str = O_ENGINE,
    model: Optional[str] = O_MODEL,
    reps: int = O_REPS,
    dtype: Optional[str] = typer.Option(None),
    memory_fraction: Optional[float] = typer.Option(None),
    max_num_seqs: Optional[int] = typer.Option(None),
    max_num_batched_tokens: Optional[int] = typer.Option(None),
    chunked_prefill: Optional[bool] = typer.Option(None, "--chunked-prefill/--no-chunked-prefill"),
    prefix_caching: Optional[bool] = typer.Option(None, "--prefix-caching/--no-prefix-caching"),
    tp: Optional[int] = typer.Option(None, help="tensor parallel size"),
    speculative: Optional[str] = typer.Option(None, help="speculative decoding config as JSON"),
    max_model_len: Optional[int] = typer.Option(None),
    load_format: Optional[str] = typer.Option(None, help="'dummy' = random weights"),
    enforce_eager: Optional[bool] = typer.Option(None, "--enforce-eager"),
    extra_arg: Optional[list[str]] = typer.Option(None, help="extra engine argument (repeatable)"),
    devices: str = typer.Option("cpu", help="device set this leg locks"),
    dataset: str = typer.Option("random"), num_prompts: int = typer.Option(200), input_len: int = typer.Option(32),
    output_len: int = typer.Option(16), rate: Optional[float] = typer.Option(None, help="requests/s (default: unlimited)"),
    concurrency: Optional[int] = typer.Option(32), seed: int = typer.Option(0),
    parity: Optional[Path] = typer.Option(None, help="JSONL of {prompt, expected?} for greedy parity outputs"),
    accuracy: Optional[Path] = typer.Option(None, help="JSONL of {prompt, expected} for the accuracy probe"),
    health_deadline: float = typer.Option(600.0, help="seconds to wait for the server to become healthy"),
) -> None:
    """Run one leg by hand: launch, benchmark with the engine's own client, tear down."""
    from geak.agents.engines.base import get_engine
    from geak.agents.engines.leg import run_leg
    from geak.auditor.evidence.models import WorkloadSpec
    from geak.auditor.evidence.store import RunStore
    from geak.orchestrator.baseline import ensure_manifest

    try:
        ad = get_engine(engine)
    except KeyError as e:
        _usage(str(e.args[0]))
    cfg = _launch_cfg(model, dtype, memory_fraction, max_num_seqs, max_num_batched_tokens, chunked_prefill, prefix_caching, tp,
                      speculative, max_model_len, load_format, enforce_eager, extra_arg, devices)
    w = WorkloadSpec(dataset=dataset, num_prompts=num_prompts, input_len=input_len, output_len=output_len, request_rate=rate,
                     max_concurrency=concurrency, seed=seed)
    store = RunStore(run_dir)
    if store.exists(f"legs/{leg_id}/launch.json"):
        _usage(f"leg {leg_id} already exists in {run_dir}; pick another --leg-id")
    ensure_manifest(store, run_id=run_dir.name, engine=engine, cfg=cfg, workload=w)
    par = _prompts(parity or _default_prompt_file(model, "parity.jsonl"))
    acc = _prompts(accuracy or _default_prompt_file(model, "probe.jsonl"))
    with console.status(f"leg {leg_id}: {engine} serving {cfg.model}"):
        res = run_leg(store, leg_id=leg_id, role=role, engine=ad, cfg=cfg, workload=w, reps=reps, parity=par, accuracy=acc,
                      health_deadline_s=health_deadline)
    _print_leg(store, res)
    raise typer.Exit(0 if res.status == "ok" else 1)


def _print_leg(store, res) -> None:
    from geak.auditor import stats
    from geak.auditor.evidence.loader import RunEvidence

    if res.status != "ok":
        err.print(f"[red]leg {res.leg_id} failed:[/red] {res.reason}")
    leg_data = RunEvidence(store).leg(res.leg_id)
    vals, _ = leg_data.values("output_throughput")
    acc = leg_data.accuracy
    console.print(f"leg {res.leg_id}: {res.status}; start-up {res.startup_s and f'{res.startup_s:.0f} s'}; "
                  f"counted reps {len(vals)}: output tok/s {', '.join(f'{v:.1f}' for v in vals)}"
                  + (f" (median {stats.median(vals):.1f}, spread {stats.spread_pct(vals):.2f}%)" if vals else "")
                  + (f"; accuracy {acc.correct}/{acc.n}" if acc else ""))


@app.command()
def baseline(
    run_dir: Path = O_RUN,
    engine: str = O_ENGINE,
    model: Optional[str] = O_MODEL,
    reps: int = O_REPS,
    max_remeasures: int = typer.Option(2, help="bound on automatic re-measures when the baseline gate FLAGs"),
    load_format: Optional[str] = typer.Option(None),
    max_num_seqs: Optional[int] = typer.Option(None),
    dataset: str = typer.Option("random"), num_prompts: int = typer.Option(200), input_len: int = typer.Option(32),
    output_len: int = typer.Option(16), concurrency: Optional[int] = typer.Option(32), seed: int = typer.Option(0),
    use_auditor: bool = typer.Option(True, "--use-auditor/--no-auditor"),
    policy: Optional[Path] = typer.Option(None),
    aa_legs: int = typer.Option(0, help="first run this many A/A legs; the auditor derives its noise band from them"),
) -> None:
    """The baseline phase: K reps, the auditor's baseline gate, bounded re-measure on FLAG."""
    from geak.auditor.evidence.models import WorkloadSpec
    from geak.auditor.evidence.store import RunStore
    from geak.orchestrator.baseline import ensure_manifest, run_aa, run_baseline

    cfg = _launch_cfg(model, None, None, max_num_seqs, None, None, None, None, None, None, load_format, None, None, "cpu")
    w = WorkloadSpec(dataset=dataset, num_prompts=num_prompts, input_len=input_len, output_len=output_len, max_concurrency=concurrency, seed=seed)
    store = RunStore(run_dir)
    ensure_manifest(store, run_id=run_dir.name, engine=engine, cfg=cfg, workload=w)
    if aa_legs:
        for res in run_aa(store, engine=engine, cfg=cfg, workload=w, legs=aa_legs, reps=reps, on_event=lambda s: console.print(s)):
            _print_leg(store, res)
    out = run_baseline(store, engine=engine, cfg=cfg, workload=w, reps=reps, max_remeasures=max_remeasures,
                       parity=_prompts(_default_prompt_file(model, "parity.jsonl")), accuracy=_prompts(_default_prompt_file(model, "probe.jsonl")),
                       policy=_policy(policy), use_auditor=use_auditor, on_event=lambda s: console.print(s))
    for res in out.attempts:
        _print_leg(store, res)
    if out.audits:
        last = out.audits[-1]
        band = last.policy.get("noise_band_pct")
        console.print(f"noise band {band:.2f}% ({last.policy.get('noise_band_source', 'policy')})" if band is not None else "")
        _print_verdicts(out.audits[-1:], verbose=False)
    raise typer.Exit(exit_code([out.verdict]) if use_auditor else 0)



# ---------------------------------------------------------------- geak run / replay / report

RUN_EXIT_DOC = """Exit codes of `geak run`: 0 the workflow completed (see the report for what was banked);
3 it halted because the baseline FAILed its gate at the bound; 1 a run error (engine, LLM, replay miss);
2 usage; 130 interrupted (continue with --resume)."""

_EV_STYLE = {"bank": "green", "withhold": "red", "withdraw": "yellow", "audit": "cyan", "unaudited": "magenta",
             "passthrough": "yellow", "error": "red", "phase": "bold", "start": "bold", "end": "bold"}


def _event_printer():
    import time as _t

    t0 = _t.time()

    def show(ev) -> None:
        st = _EV_STYLE.get(ev.event, "")
        mm, ss = divmod(int(ev.t - t0), 60)
        msg = ev.message.replace("[", "\\[")
        console.print(f"[dim]{mm:02d}:{ss:02d}[/dim] {ev.node:<15} " + (f"[{st}]{msg}[/{st}]" if st else msg))

    return show


@app.command("run", help="Run the workflow on a live engine: baseline, config tuning, final validation, report.\n\n" + RUN_EXIT_DOC)
def run_cmd(
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="new run directory (default runs/run-<time>)"),
    resume: Optional[Path] = typer.Option(None, "--resume", help="continue the run in this directory after a crash or Ctrl-C"),
    model: Optional[str] = O_MODEL,
    engine: str = O_ENGINE,
    workflow: Path = typer.Option(None, help="workflow YAML (default workflows/default.yaml)"),
    use_auditor: bool = typer.Option(False, "--use-auditor/--no-auditor", help="an independent auditor at every accept gate"),
    llm: str = typer.Option("none", help="none (built-in policies) | provider/model (live, via litellm) | replay:RUN_DIR"),
    api_base: Optional[str] = typer.Option(None, help="OpenAI-compatible base URL for --llm"),
    api_key_env: Optional[str] = typer.Option(None, help="environment variable holding the provider key (never written)"),
    llm_auditor: bool = typer.Option(True, "--llm-auditor/--no-llm-auditor", help="with an LLM, let the patch_auditor role escalate the code floor"),
    reps: Optional[int] = typer.Option(None, help="counted reps per leg (default: the workflow's)"),
    num_prompts: Optional[int] = typer.Option(None), input_len: Optional[int] = typer.Option(None),
    output_len: Optional[int] = typer.Option(None), concurrency: Optional[int] = typer.Option(None),
    load_format: Optional[str] = typer.Option(None), max_num_seqs: Optional[int] = typer.Option(None),
    enforce_eager: Optional[bool] = typer.Option(None, "--enforce-eager/--no-enforce-eager"),
    legs_from: Optional[Path] = typer.Option(None, hidden=True, help="take legs from a recorded run instead of an engine"),
    policy: Optional[Path] = typer.Option(None, help="auditor policy YAML overriding thresholds"),
    report: bool = typer.Option(True, "--report/--no-report", help="write report.md and report.html at the end"),
) -> None:
    import time as _t

    from geak.auditor.evidence.models import WorkloadSpec
    from geak.orchestrator import run as R
    from geak.orchestrator.workflow_config import DEFAULT as DEFAULT_WF, WorkflowConfig

    show = _event_printer()
    if resume is not None:
        target = resume
        try:
            R.load_args(target)
        except R.RunError as e:
            _usage(str(e))
        done = R.finished(target)
        if done is not None:
            console.print(f"{target}: the run already finished; nothing to resume, nothing changed")
            _print_summary(done)
            raise typer.Exit(0)
    else:
        wf_path = workflow or DEFAULT_WF
        try:
            wf = WorkflowConfig.load(wf_path)
        except ValueError as e:
            _usage(str(e))
        target = run_dir or Path("runs") / f"run-{_t.strftime('%Y%m%d-%H%M%S')}"
        w = dict(wf.engine_defaults.workload)
        w.update({k: v for k, v in dict(num_prompts=num_prompts, input_len=input_len, output_len=output_len,
                                        max_concurrency=concurrency).items() if v is not None})
        w.setdefault("dataset", "random")
        w.setdefault("num_prompts", 200)
        if reps is not None:
            wf_text = Path(wf_path).read_text()  # reps are a workflow setting: record them in the run's copy
        mode, llm_model, replay_from = "none", None, None
        if llm.startswith("replay:"):
            mode, replay_from = "replay", llm.split(":", 1)[1]
        elif llm != "none":
            mode, llm_model = "live", llm
        cfg = _launch_cfg(model, None, None, max_num_seqs, None, None, None, None, None, None, load_format, enforce_eager, None, "cpu")
        args = R.RunArgs(run_id=target.name, engine=engine, launch=cfg.model_dump(exclude={"schema_version"}, exclude_none=True),
                         workload=WorkloadSpec(**w), use_auditor=use_auditor, llm_mode=mode, llm_model=llm_model, api_base=api_base,
                         api_key_env=api_key_env, llm_replay_from=replay_from, llm_auditor=llm_auditor,
                         legs_from=str(legs_from) if legs_from else None,
                         parity_file=str(p) if (p := _default_prompt_file(model, "parity.jsonl")) else None,
                         accuracy_file=str(p) if (p := _default_prompt_file(model, "probe.jsonl")) else None,
                         policy=_policy(policy).model_dump() if policy else {})
        try:
            R.prepare(target, args, wf_path)
            if reps is not None:
                import yaml

                d = yaml.safe_load(wf_text)
                d.setdefault("engine_defaults", {})["reps"] = reps
                (target / "workflow.yaml").write_text(yaml.safe_dump(d, sort_keys=False))
        except (R.RunError, ValueError) as e:
            _usage(str(e))
    console.print(f"run directory: {target}")
    try:
        summary = R.execute(target, resume=resume is not None, on_event=show)
    except KeyboardInterrupt:
        err.print(f"interrupted: continue with `geak run --resume {target}`")
        raise typer.Exit(130)
    except R.RunError as e:  # refused before the graph started: nothing in the run directory changed
        _usage(str(e))
    except Exception as e:  # an engine, LLM or replay error: the run directory keeps everything up to here
        err.print(f"[red]run failed:[/red] {type(e).__name__}: {e}\ncontinue with `geak run --resume {target}` once fixed")
        raise typer.Exit(1)
    if report:
        _write_report(target)
    _print_summary(summary)
    halted = any(g.gate_id == "baseline" and g.verdict == "FAIL" for g in summary.gates)
    raise typer.Exit(3 if halted else 0)


def _write_report(target: Path) -> None:
    try:
        from geak.orchestrator.report import write_report
    except ImportError:
        return
    md, html = write_report(target)
    console.print(f"report: {md} and {html}")


def _print_summary(summary) -> None:
    t = Table(title=f"geak run {summary.run_id}: {summary.status}")
    for col in ("gate", "attempts", "verdict", "banked", "note"):
        t.add_column(col, overflow="fold")
    for g in summary.gates:
        t.add_row(g.gate_id, str(g.attempts), g.verdict or ("UNAUDITED" if g.unaudited_reason else "-"),
                  "yes" if g.banked else "no", g.note or (g.unaudited_reason or "")[:80])
    console.print(t)
    for ph, why in summary.passthrough.items():
        console.print(f"[yellow]{ph}: {why}[/yellow]")


@app.command("replay")
def replay_cmd(
    run_dir: Path = typer.Argument(..., help="a run directory geak run wrote"),
    out: Optional[Path] = typer.Option(None, help="where to write the replayed run (default RUN_DIR/../<name>-replay)"),
) -> None:
    """Re-run a recorded run's graph from its recorded legs and LLM calls, with no engine, and
    check that every decision and gate outcome is reproduced exactly. Exit 0 reproduced; 1 not
    reproduced, or the recording could not be followed (nothing is left in --out); 2 usage (a
    directory that is not a complete run, a bad workflow.yaml, an --out that is a file or not empty)."""
    from geak.orchestrator import run as R

    out = out or run_dir.parent / f"{run_dir.name}-replay"
    try:
        ok, diffs = R.replay(run_dir, out)
    except R.RunError as e:
        _usage(str(e))
    except KeyboardInterrupt:
        err.print("interrupted: the partial replay was removed")
        raise typer.Exit(130)
    except Exception as e:  # noqa: BLE001 - a recording the replay cannot follow: a run error, not a traceback
        err.print(f"[red]replay failed:[/red] {type(e).__name__}: {e} (the partial replay in {out} was removed)")
        raise typer.Exit(1)
    if ok:
        n = len(R.decisions_signature(out)) - 1
        console.print(f"[green]reproduced exactly[/green]: {n} decision(s) and every gate outcome ({out})")
        raise typer.Exit(0)
    for d in diffs:
        err.print(d)
    err.print(f"[red]replay differs from the recording in {len(diffs)} record(s)[/red]")
    raise typer.Exit(1)


@app.command("report")
def report_cmd(run_dir: Path = typer.Argument(..., help="a run directory")) -> None:
    """Write RUN_DIR/report.md and a self-contained RUN_DIR/report.html (headline only as verified)."""
    if not run_dir.is_dir():
        _usage(f"{run_dir}: no such run directory")
    _write_report(run_dir)


def _terminate(signum, frame):  # noqa: ARG001
    # SIGTERM (kill, a job scheduler, a container stop) unwinds like Ctrl-C, so every engine
    # server and benchmark client is torn down by process group instead of being orphaned
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    # a shell starts background jobs with SIGINT ignored; geak must still stop on `kill -INT`
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
