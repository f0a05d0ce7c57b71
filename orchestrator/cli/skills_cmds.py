"""`geak skills ...`: list, show, validate and render the skill cards and prompt templates.

Registered by the main CLI with ``app.add_typer(skills_app, name="skills")``.
Exit codes (common.Exit): 0 ok; 1 `diff` found changed files; 3 validation problems; 2 usage error (unknown role, bad run directory or gate,
a card or template that cannot be loaded or rendered).
Prompts and cards are printed verbatim (no rich markup), since they contain brackets.
"""

from __future__ import annotations

from typing import NoReturn

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from geak.agents.roles import skill_state, skills as sk

from .common import Exit, run_arg
from geak.auditor.evidence.layout import MANIFEST

skills_app = typer.Typer(no_args_is_help=True, help="Skill cards and prompt templates that define every role.")
console = Console()
err = Console(stderr=True, soft_wrap=True)

RootOpt = typer.Option(None, "--root", help="directory holding skills/ and prompts/ (default: the geak checkout)")


def _fail(msg: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {msg}", markup=True, highlight=False)
    raise typer.Exit(code)


@skills_app.command("list")
def list_(root: Path | None = RootOpt) -> None:
    """Every role in skills/index.yaml: version and description."""
    try:
        index = sk.load_index(root)
    except sk.SkillError as e:
        _fail(str(e), 1)
    t = Table("role", "version", "description")
    for role, entry in index.items():
        try:
            desc = sk.load_skill(role, root).description
        except (sk.SkillError, KeyError) as e:
            desc = f"(invalid: {e})"
        t.add_row(role, entry.version, desc)
    console.print(t)


def _load(role: str, root: Path | None) -> sk.Skill:
    """The role's card, or exit: 2 for an unknown role (usage), 1 for a broken card."""
    try:
        return sk.load_skill(role, root)
    except sk.UnknownRole as e:
        _fail(str(e))
    except sk.SkillError as e:
        _fail(str(e), 1)
    raise AssertionError("unreachable")  # _fail always exits


@skills_app.command()
def show(role: str = typer.Argument(..., help="a role from skills/index.yaml"), root: Path | None = RootOpt) -> None:
    """Print a role's card: front matter fields, then the instructions."""
    s = _load(role, root)
    typer.echo(f"{s.path}  (sha256 {s.sha256[:12]})")
    for field in ("name", "role", "version", "description", "inputs", "output_model", "scopes"):
        v = getattr(s, field)
        if v is not None:
            typer.echo(f"{field}: {', '.join(v) if isinstance(v, list) else v}")
    typer.echo("")
    typer.echo(s.body)


@skills_app.command()
def validate(root: Path | None = RootOpt) -> None:
    """Check every card against its schema, the index against the cards, and render every template."""
    problems = sk.validate_all(root)
    if problems:
        for p in problems:
            typer.echo(p)
        err.print(f"{len(problems)} problem(s)", highlight=False)
        raise typer.Exit(Exit.FAIL)  # a check that did not hold
    n = len(sk.load_index(root))
    typer.echo(f"{n} skills OK")


@skills_app.command()
def render(
    role: str = typer.Argument(..., help="a role from skills/index.yaml"),
    run: Path = typer.Option(..., "--run", help="a run directory (manifest.json, decisions.jsonl)"),
    gate: str | None = typer.Option(None, "--gate", help="gate id; default: the gate of the last decision"),
    root: Path | None = RootOpt,
) -> None:
    """Render ROLE's prompt from a run directory; for patch_auditor, with the deterministic findings."""
    skill = _load(role, root)
    run = run_arg(run)
    if not run.is_dir():
        _fail(f"{run}: no such run directory")
    try:
        state = skill_state.state_from_run(run, gate, audit=(role == sk.AUDITOR_ROLE), root=root)
    except FileNotFoundError as e:
        _fail(str(e))
    except KeyError as e:
        _fail(e.args[0] if e.args else str(e))
    try:
        typer.echo(sk.render(role, state, root, skill), nl=False)
    except sk.RenderError as e:
        _fail(str(e))


@skills_app.command("diff")
def diff(run: Path = typer.Argument(..., help="a run directory geak run wrote"), root: Path | None = RootOpt) -> None:
    """Which skill cards and prompt templates differ from the ones RUN's manifest recorded (their
    sha256): what a what-if replay under today's skills would change. Exit 0 none differ, 1 some do."""
    import json

    run = run_arg(run)
    try:
        m = json.loads((run / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        _fail(f"{run}/manifest.json: cannot read: {e}")
    recorded = m.get("skills") if isinstance(m, dict) else None
    if not isinstance(recorded, dict):
        _fail(f"{run}/manifest.json: no 'skills' hashes recorded (a run geak run did not write, or an older one)")
    try:
        now = sk.skill_hashes(root=root)
    except (sk.SkillError, KeyError) as e:
        _fail(str(e))
    t = Table(title=f"skills and prompts: {run} vs {root or sk.default_root()}")
    for col in ("file", "recorded", "now", ""):
        t.add_column(col)
    changed = 0
    for f in sorted(set(recorded) | set(now)):
        a, b = recorded.get(f), now.get(f)
        status = "same" if a == b else "added" if a is None else "removed" if b is None else "changed"
        changed += status != "same"
        t.add_row(f, (a or "-")[:12], (b or "-")[:12], status)
    console.print(t)
    console.print(f"{changed} of {len(set(recorded) | set(now))} file(s) differ from what {run} ran with")
    raise typer.Exit(Exit.FLAG if changed else Exit.PASS)


@skills_app.command("copy")
def copy(
    dest: Path = typer.Argument(..., help="a new directory: gets skills/ and prompts/ to edit"),
    root: Path | None = RootOpt,
) -> None:
    """Copy the skill cards and prompt templates to DEST for editing; then `geak skills diff RUN
    --root DEST` and `geak replay RUN --skills DEST --llm MODEL` show what the edit changes.
    Exit 0 copied; 2 DEST exists and is not empty, or the source is not a skill root."""
    import shutil

    src = Path(root) if root is not None else sk.default_root()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        _fail(f"{dest} exists and is not an empty directory: name a new one")
    if not (src / "skills").is_dir() or not (src / "prompts").is_dir():
        _fail(f"{src} holds no skills/ and prompts/")
    ignore = shutil.ignore_patterns("__pycache__", "__init__.py")
    for part in ("skills", "prompts"):
        shutil.copytree(src / part, dest / part, ignore=ignore, dirs_exist_ok=True)
    console.print(
        f"copied {src}/skills and {src}/prompts to {dest}: edit them, then "
        f"`geak skills diff RUN --root {dest}` and `geak replay RUN --skills {dest} --llm MODEL`"
    )
