"""`geak replay` and `geak report`: a recorded run's graph re-run (or a what-if over it), and a
run's report written again from its files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from .common import Exit, app, console, err, run_arg, usage
from .run_cmds import write_report_files


@app.command("replay")
def replay_cmd(
    run_dir: Path = typer.Argument(
        ..., help="a run directory geak run wrote, or its archive (.tar.xz: unpacked beside it)"
    ),
    out: Path | None = typer.Option(None, help="where to write the replayed run (default RUN_DIR/../<name>-replay)"),
    policy: Path | None = typer.Option(None, help="what-if: the auditor policy YAML to replay under"),
    workflow: Path | None = typer.Option(None, help="what-if: the workflow YAML to replay under"),
    skills: Path | None = typer.Option(None, help="what-if: a root holding edited skills/ and prompts/ (needs --llm)"),
    llm: str | None = typer.Option(
        None, help="what-if: provider/model whose roles answer live (litellm) over the recorded legs"
    ),
    api_base: str | None = typer.Option(None, help="OpenAI-compatible base URL for --llm"),
    api_key_env: str | None = typer.Option(None, help="environment variable holding the provider key (never written)"),
) -> None:
    """Re-run a recorded run's graph from its recorded legs and LLM calls, with no engine, and
    check that every decision and gate outcome is reproduced exactly. Exit 0 reproduced; 3 not
    reproduced; 7 the recording could not be followed (nothing is left in --out); 2 usage (a
    directory that is not a complete run, a bad workflow.yaml, policy or skill root, an --out that
    is a file or not empty). What-if (--policy / --workflow / --skills / --llm): the decision diff
    per gate (OUT/what_if.json, and in OUT's report); a leg the recording lacks ends its branch
    "not recorded". With --llm the roles answer live over the recorded legs; --skills needs it.
    Exit 0 no banked decision flipped, 6 at least one did (banked -> withheld or withheld -> banked)."""
    from geak.orchestrator import replay as RP
    from geak.orchestrator.run import RunError

    what_if = any(x is not None for x in (policy, workflow, skills, llm))
    run_dir = run_arg(run_dir)
    if (api_base or api_key_env) and llm is None:
        usage("--api-base and --api-key-env go with --llm MODEL")
    out = out or run_dir.parent / f"{run_dir.name}-{'whatif' if what_if else 'replay'}"
    try:
        ok, diffs = RP.replay(
            run_dir,
            out,
            policy=policy,
            workflow=workflow,
            skills=skills,
            llm=llm,
            api_base=api_base,
            api_key_env=api_key_env,
        )
    except RunError as e:
        usage(str(e))
    except KeyboardInterrupt:
        err.print("interrupted: the partial replay was removed")
        raise typer.Exit(Exit.INTERRUPTED) from None
    except Exception as e:  # noqa: BLE001 - a recording the replay cannot follow: a run error, not a traceback
        err.print(f"[red]replay failed:[/red] {type(e).__name__}: {e} (the partial replay in {out} was removed)")
        raise typer.Exit(Exit.RUN_ERROR) from None
    if what_if:
        raise typer.Exit(_print_what_if(out))
    if ok:
        n = len(RP.decisions_signature(out)) - 1
        console.print(f"[green]reproduced exactly[/green]: {n} decision(s) and every gate outcome ({out})")
        raise typer.Exit(Exit.PASS)
    for d in diffs:
        err.print(d)
    err.print(f"[red]replay differs from the recording in {len(diffs)} record(s)[/red]")
    raise typer.Exit(Exit.FAIL)


WHAT_IF_FLIPPED = Exit.FLIPPED


def _print_what_if(out: Path) -> int:
    from geak.auditor.evidence.store import RunStore
    from geak.orchestrator.what_if import WhatIf, diff_row

    wi, _ = RunStore(out).read_json("what_if.json", WhatIf)
    if wi is None:
        err.print(f"[red]replay failed:[/red] {out}/what_if.json was not written")
        return 1
    t = Table(title=f"what-if over {wi.source}: " + ", ".join(f"{k} {v}" for k, v in wi.changed_inputs.items()))
    for col in ("gate", "recorded", "replayed", "rules changed", "note"):
        t.add_column(col, overflow="fold")
    for g in wi.gates:
        t.add_row(*(c.replace("[", "\\[") for c in diff_row(g)))
    console.print(t)
    write_report_files(out)
    flipped = wi.flipped
    console.print(
        f"{len(flipped)} banked decision(s) flipped"
        + (f": {', '.join(g.gate_id for g in flipped)}" if flipped else "")
        + f"; the replay is in {out}"
    )
    return WHAT_IF_FLIPPED if flipped else 0


@app.command("report")
def report_cmd(run_dir: Path = typer.Argument(..., help="a run directory, or a run archive")) -> None:
    """Write RUN_DIR/report.md and a self-contained RUN_DIR/report.html (headline only as verified)."""
    run_dir = run_arg(run_dir)
    if not run_dir.is_dir():
        usage(f"{run_dir}: no such run directory")
    write_report_files(run_dir)
