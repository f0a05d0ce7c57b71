"""`geak run`: the workflow on a live engine, from the parsed options to the exit code, and the
terminal output (events, summary, report files) that `baseline` and `replay` share.
Its option groups are in run_options, the new run directory is made in run_setup."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable
from typing import Any

import typer
from rich.table import Table

from .options import grouped
from .common import Exit, app, console, err, launch_config, usage
from .run_options import RunDesign, RunDevices, RunLaunch, RunPlace, RunQuality, RunRoles, RunWorkload
from .run_setup import RunRequest, device_sets, new_run, run_request


# ---------------------------------------------------------------- geak run

RUN_EXIT_DOC = """Exit codes of `geak run`: 0 the workflow completed (see the report for what was banked);
3 it halted because the baseline FAILed its gate at the bound; 7 a run error (engine, LLM, replay miss);
2 usage; 130 interrupted (continue with --resume)."""

_EV_STYLE = {
    "bank": "green",
    "withhold": "red",
    "withdraw": "yellow",
    "audit": "cyan",
    "unaudited": "magenta",
    "passthrough": "yellow",
    "error": "red",
    "phase": "bold",
    "start": "bold",
    "end": "bold",
}


def event_printer() -> Callable[[Any], None]:
    import time as _t

    t0 = _t.time()

    def show(ev: Any) -> None:
        st = _EV_STYLE.get(ev.event, "")
        mm, ss = divmod(int(ev.t - t0), 60)
        msg = ev.message.replace("[", "\\[")
        console.print(f"[dim]{mm:02d}:{ss:02d}[/dim] {ev.node:<15} " + (f"[{st}]{msg}[/{st}]" if st else msg))

    return show


@app.command(
    "run",
    help="Run the workflow on a live engine: baseline, config tuning, final validation, report.\n\n" + RUN_EXIT_DOC,
)
@grouped
def run_cmd(
    place: RunPlace,
    roles: RunRoles,
    design: RunDesign,
    workload: RunWorkload,
    launch: RunLaunch,
    quality: RunQuality,
    devs: RunDevices,
) -> None:
    sets = device_sets(devs.devices, devs.tp, devs.cores_per_leg)
    req = run_request(place, roles, design, workload, launch, quality, devs, sets)
    if devs.scheduler not in ("local", "ray"):
        usage(f"--scheduler {devs.scheduler!r}: known schedulers: local, ray")
    if place.plan:
        print_plan(
            req.workflow,
            engine=place.engine,
            model=place.model,
            launch=req.launch,
            workload=req.workload,
            sets=sets,
            llm=roles.llm,
            engine_defaults=req.engine_defaults or {},
            server_reuse=devs.server_reuse,
        )
        raise typer.Exit(Exit.PASS)
    target = run_target(place, req)
    execute_run(target, resumed=place.resume is not None, report=place.report)


def run_target(place: RunPlace, req: RunRequest) -> Path:
    """The run directory: the one --resume names (a finished run exits 0, changing nothing), or a new one."""
    import time as _t

    from geak.orchestrator import run as R

    if place.resume is None:
        target = place.run_dir or Path("runs") / f"run-{_t.strftime('%Y%m%d-%H%M%S')}"
        new_run(target, req)
        return target
    try:
        R.load_args(place.resume)
    except R.RunError as e:
        usage(str(e))
    done = R.finished(place.resume)
    if done is not None:
        console.print(f"{place.resume}: the run already finished; nothing to resume, nothing changed")
        print_summary(done, place.resume)
        raise typer.Exit(Exit.PASS)
    return place.resume


def execute_run(target: Path, *, resumed: bool, report: bool) -> None:
    """Drive the graph over the run directory, print the summary and exit with the run's code."""
    from geak.auditor.evidence.store import RunStore
    from geak.orchestrator import run as R
    from geak.orchestrator.progress import Reporter

    console.print(f"run directory: {target}")
    try:
        with Reporter(RunStore(target), console):
            summary = R.execute(target, resume=resumed, on_event=event_printer())
    except KeyboardInterrupt:
        err.print(f"interrupted: continue with `geak run --resume {target}`")
        raise typer.Exit(Exit.INTERRUPTED) from None
    except R.RunError as e:  # refused before the graph started: nothing in the run directory changed
        usage(str(e))
    except Exception as e:  # an engine, LLM or replay error: the run directory keeps everything up to here
        err.print(
            f"[red]run failed:[/red] {type(e).__name__}: {e}\ncontinue with `geak run --resume {target}` once fixed"
        )
        raise typer.Exit(Exit.RUN_ERROR) from None
    if report:
        write_report_files(target)
    print_summary(summary, target)
    halted = any(g.gate_id == "baseline" and g.verdict == "FAIL" for g in summary.gates)
    raise typer.Exit(Exit.FAIL if halted else Exit.PASS)


def print_plan(
    workflow: Path,
    *,
    engine: str,
    model: str | None,
    launch: dict[str, Any],
    workload: dict[str, Any],
    sets: list[str],
    llm: str,
    engine_defaults: dict[str, Any],
    server_reuse: bool = True,
) -> None:
    from geak.auditor.evidence.models import WorkloadSpec
    from geak.orchestrator import plan as P
    from geak.orchestrator import run as R

    try:
        wf = R.load_workflow(workflow, engine_defaults or None)[1]
    except ValueError as e:
        usage(str(e))
    if (why := wf.refuses_sets(len(sets))) is not None:
        usage(why)
    w = {**wf.engine_defaults.workload, **{k: v for k, v in workload.items() if v is not None}}
    w.setdefault("dataset", "random")
    w.setdefault("num_prompts", 200)
    cfg = launch_config(model, **{k: v for k, v in launch.items() if v is not None})
    steps = P.build(
        engine=engine,
        launch=cfg.model_dump(exclude={"schema_version"}, exclude_none=True),
        workload=WorkloadSpec(**w),
        wf=wf,
        device_sets=sets,
        llm_mode="none" if llm == "none" else "live",
        reuse=server_reuse,
    )
    console.print(P.render(steps, sets), markup=False, highlight=False, soft_wrap=True)
    console.print(f"\n{sum(len(s.legs) for s in steps)} leg(s) listed; nothing was started.", markup=False)


def write_report_files(target: Path) -> None:
    try:
        from geak.orchestrator.report import write_report
    except ImportError:
        return
    md, html = write_report(target)
    console.print(f"report: {md} and {html}")


def print_summary(summary: Any, run_dir: Path | None = None) -> None:
    t = Table(title=f"geak run {summary.run_id}: {summary.status}")
    for col in ("gate", "attempts", "verdict", "banked", "note"):
        t.add_column(col, overflow="fold")
    for g in summary.gates:
        t.add_row(
            g.gate_id,
            str(g.attempts),
            g.verdict or ("UNAUDITED" if g.unaudited_reason else "-"),
            "yes" if g.banked else "no",
            g.note or (g.unaudited_reason or "")[:80],
        )
    console.print(t)
    for ph, why in summary.passthrough.items():
        console.print(f"[yellow]{ph}: {why}[/yellow]")
    from geak.auditor.evidence.ledger import Head

    head = Head.from_label(summary.ledger_head) if getattr(summary, "ledger_head", None) else None
    if head is not None:
        # shown where no producer writes it after the fact: a later `geak audit` must name the same head
        console.print(f"sealed: {head} (a later audit of this run must report this head)")
    if run_dir is not None and summary.use_auditor:
        from geak.orchestrator.report import headline, headline_text, load_run

        try:
            # one line whatever the width: a log is grepped for it
            console.print(f"[bold]headline:[/bold] {headline_text(headline(load_run(run_dir)))}", soft_wrap=True)
        except (OSError, ValueError) as e:  # the table above stands; say why the headline does not
            console.print(f"headline: not derived ({type(e).__name__}: {e})")
