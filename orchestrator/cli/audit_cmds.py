"""`geak audit`, `backtest`, `import`, `schema export`, `cases`: judging evidence, geak's own or other tools'."""

from __future__ import annotations

from typing import Any

import json
from pathlib import Path

import typer
from rich.table import Table

from .common import STYLE, Exit, app, cases_app, console, err, exit_code, load_policy, run_arg, schema_app, usage


@app.command()
def audit(
    run_dir: Path = typer.Argument(..., help="a run directory, or a run archive (.tar.xz: unpacked beside it)"),
    scope: str | None = typer.Option(None, help="only gates of this scope: baseline|profile|harness|patch|bundle"),
    gate: str | None = typer.Option(None, help="only this gate id"),
    as_json: bool = typer.Option(False, "--json", help="print verdicts as JSON"),
    policy: Path | None = typer.Option(None, help="YAML file overriding audit thresholds"),
    verbose: bool = typer.Option(False, "-v", help="show passing findings too"),
    read_only: bool = typer.Option(
        False,
        "--read-only",
        help="write nothing: print the verdicts only (a run you may not change, a colleague's, a recording)",
    ),
) -> None:
    """Audit every gate of RUN_DIR from its raw records; write audits/<gate>.json (nothing with --read-only)."""
    from geak.auditor.api import audit_run
    from geak.auditor.evidence.models import SCOPES

    run_dir = run_arg(run_dir)
    if not run_dir.is_dir():
        usage(f"{run_dir} is not a directory; pass a run directory (it holds manifest.json, legs/, decisions.jsonl)")
    if scope is not None and scope not in SCOPES:
        usage(f"unknown scope {scope!r}; known scopes: {', '.join(SCOPES)}")
    pol = load_policy(policy)
    try:
        verdicts = audit_run(run_dir, scope=scope, gate=gate, policy=pol, write=not read_only)
    except Exception as e:  # the auditor's own failure: say so in one line, never a traceback
        err.print(
            f"[red]internal error:[/red] geak audit could not finish: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        )
        err.print("nothing above is a verdict; if the run directory is intact, this is a bug in geak: please report it")
        raise typer.Exit(Exit.INTERNAL) from None
    if gate is not None and not verdicts:
        usage(f"no gate {gate!r} in {run_dir}/decisions.jsonl")
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


def _print_coverage(run_dir: Path, verdicts: Any) -> None:
    from geak.auditor.coverage import coverage
    from geak.auditor.evidence.loader import RunEvidence
    from geak.auditor.evidence.store import RunStore

    run = RunEvidence(RunStore(run_dir))
    source = run.manifest.imported_from if run.imported and run.manifest else None
    console.print(f"coverage: {coverage(verdicts).line(source)}")


def _print_verdicts(verdicts: Any, verbose: bool) -> None:
    if not verdicts:
        console.print("no gates to audit (decisions.jsonl is empty)")
        return
    t = Table(title="geak audit", show_lines=True)
    for col in ("gate", "scope", "verdict", "findings"):
        t.add_column(col, overflow="fold")
    for v in verdicts:
        lines = []
        if v.verdict is None:
            lines.append(
                f"[magenta]UNAUDITED (fail-open): {v.unaudited_reason.splitlines()[0] if v.unaudited_reason else ''}[/magenta]"
            )
        for f in v.findings:
            if f.outcome == "pass" and not verbose:
                continue
            if f.outcome == "n/a" and not verbose:
                continue
            ev = "; ".join(str(e) for e in f.evidence[:2])
            lines.append(
                f"[bold]{f.rule_id}[/bold] {f.outcome} -> {f.action}: {f.message}"
                + (f"  [dim]({ev})[/dim]" if ev else "")
            )
        label = v.verdict or "UNAUDITED"
        t.add_row(
            v.gate_id,
            v.scope or "-",
            f"[{STYLE[v.verdict]}]{label}[/{STYLE[v.verdict]}]",
            "\n".join(lines) or "all checks pass",
        )
    console.print(t)


@app.command()
def backtest(
    cases_dirs: list[Path] = typer.Argument(
        ..., help="directories of cases: <case>/key.yaml + <case>/run/ (or the key's run: path)"
    ),
    min_recall: float | None = typer.Option(None, help="exit 3 if overall rule recall is below this"),
    max_false_fail: float | None = typer.Option(
        None, help="exit 3 if the share of non-FAIL gates that FAILed exceeds this"
    ),
    as_json: bool = typer.Option(False, "--json"),
    policy: Path | None = typer.Option(None),
) -> None:
    """Run the auditor blind on every case and score it against the answer keys."""
    from geak.auditor.backtest import VERDICTS, backtest as run_backtest
    from geak.auditor.api import sorted_rule_ids

    for d in cases_dirs:
        if not d.is_dir():
            gen = (
                f"; the planted corpus is generated, not shipped: geak cases generate {d}" if d.name == "cases" else ""
            )
            usage(f"{d} is not a directory of cases{gen}")
    rep = run_backtest(list(cases_dirs), policy=load_policy(policy))
    for p in rep.problems:
        err.print(f"[red]problem:[/red] {p}")
    if as_json:
        print(
            json.dumps(
                {
                    "recall": rep.recall,
                    "precision": rep.precision,
                    "false_fail_rate": rep.false_fail_rate,
                    "verdict_accuracy": rep.verdict_accuracy,
                    "confusion": rep.confusion,
                    "rules": {
                        k: {**v.model_dump(), "precision": v.precision, "recall": v.recall}
                        for k, v in rep.rules.items()
                    },
                    "gates": [g.model_dump() for g in rep.gates],
                },
                indent=2,
            )
        )
    else:
        t = Table(title="per rule")
        for col in ("rule", "TP", "FP", "FN", "precision", "recall"):
            t.add_column(col)

        def fmt(x: float | None) -> str:
            return "-" if x is None else f"{x:.2f}"

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
            console.print(
                f"[red]miss[/red] {g.case}/{g.gate_id}: key {g.expected} {g.expected_rules}, auditor {g.actual} {g.fired_rules}"
            )
        cases = len({g.case for g in rep.gates})
        console.print(
            f"{cases} cases, {len(rep.gates)} gates: recall {fmt(rep.recall)}, precision {fmt(rep.precision)}, "
            f"verdict accuracy {fmt(rep.verdict_accuracy)}, false-FAIL rate {fmt(rep.false_fail_rate)}"
        )
    bad = bool(rep.problems)
    if min_recall is not None and (rep.recall is None or rep.recall < min_recall):
        err.print(f"[red]recall {rep.recall} below --min-recall {min_recall}[/red]")
        bad = True
    if max_false_fail is not None and (rep.false_fail_rate or 0.0) > max_false_fail:
        err.print(f"[red]false-FAIL rate {rep.false_fail_rate} above --max-false-fail {max_false_fail}[/red]")
        bad = True
    raise typer.Exit(Exit.FAIL if bad else Exit.PASS)


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
        raise typer.Exit(Exit.FLAG)
    console.print(f"{'checked' if check else 'wrote'} schemas in {out_dir}")


def dev_corpus(module: str) -> Any:
    """corpus.<module> from the source checkout geak runs from: the planted-flaw generator is a
    development package (the shipped auditor does not carry it). Usage error (2) elsewhere."""
    import importlib
    import sys

    from geak.resources import source_checkout

    root = source_checkout()
    if root is None:
        usage(
            "geak cases needs a source checkout: the planted-flaw generator (corpus/) is a development package, not "
            "installed with geak; clone the repository, install it editable (pip install -e .) and run this there"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"corpus.{module}")


@cases_app.command("generate")
def cases_generate(
    out_dir: Path = typer.Argument(Path("runs/cases")),
    case: list[str] | None = typer.Option(None, "--case", help="only these cases"),
) -> None:
    """(Re)generate the planted-flaw corpus from the synthetic clean run. Needs a source checkout:
    the generator (corpus/) is a development package, not installed with geak."""
    generate = dev_corpus("plants").generate

    try:
        names = generate(out_dir, case)
    except KeyError as e:
        usage(str(e.args[0]))
    console.print(f"wrote {len(names)} cases to {out_dir}")


@cases_app.command("check")
def cases_check(
    cases_dir: Path = typer.Argument(Path("runs/cases")),
    digest: Path = typer.Option(Path("runs/cases.sha256"), help="the reviewed digest: one sha256 per case"),
    update: bool = typer.Option(
        False, "--update", help="rewrite the digest from CASES_DIR (after a deliberate change)"
    ),
) -> None:
    """Whether CASES_DIR is the corpus the digest names, case by case. Exit 0 it is, 1 it is not.
    Needs a source checkout (corpus/, a development package)."""
    d = dev_corpus("digest")
    corpus_digest, differences, format_digest, read_digest = (
        d.corpus_digest,
        d.differences,
        d.format_digest,
        d.read_digest,
    )

    if not cases_dir.is_dir():
        usage(f"{cases_dir} is not a directory; generate it: geak cases generate {cases_dir}")
    got = corpus_digest(cases_dir)
    if update:
        digest.write_text(format_digest(got))
        console.print(f"wrote the digest of {len(got)} cases to {digest}")
        raise typer.Exit(Exit.PASS)
    try:
        want = read_digest(digest)
    except (OSError, ValueError) as e:
        usage(f"digest {digest}: {e}")
    diff = differences(got, want)
    for line in diff:
        err.print(line, highlight=False)
    if diff:
        err.print(
            f"{len(diff)} case(s) differ from {digest}: regenerate (geak cases generate {cases_dir}) or, for a "
            f"deliberate change, geak cases check {cases_dir} --update"
        )
        raise typer.Exit(Exit.FLAG)
    console.print(f"{len(got)} cases match {digest}")


@cases_app.command("list")
def cases_list() -> None:
    """List the plants: case name, planted rule ids, what the flaw is. Needs a source checkout."""
    PLANTS = dev_corpus("plants").PLANTS

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
    leg_id: str | None = typer.Option(None, help="leg id for vllm-bench / sglang-bench"),
    warmup_first: bool = typer.Option(False, help="mark the first repetition as warm-up"),
) -> None:
    """Turn evidence you already have into a geak run directory, then `geak audit` it."""
    from geak.auditor.importers import get_importer

    try:
        importer = get_importer(fmt)
    except KeyError as e:
        usage(str(e.args[0]))
    for s in src:
        if not s.exists():
            usage(f"{s} does not exist")
    kwargs = {}
    if fmt != "geak-v4":
        kwargs = {"leg_id": leg_id or src[0].stem, "warmup_first": warmup_first}
        report = importer(src, run_dir, **kwargs)
    else:
        if len(src) != 1:
            usage("geak-v4 takes one source directory")
        report = importer(src[0], run_dir)
    console.print(f"imported {len(report.legs)} leg(s), {len(report.decisions)} decision(s) into {run_dir}")
    for n in report.unchecked_notes:
        console.print(f"[yellow]note:[/yellow] {n}")
    for p in report.problems:
        err.print(f"[red]problem:[/red] {p}")
    raise typer.Exit(Exit.FAIL if report.problems else Exit.PASS)


# ------------------------------------------------------------------ legs and the baseline phase
