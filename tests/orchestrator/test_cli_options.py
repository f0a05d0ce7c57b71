"""Grouped command-line options (orchestrator/cli/options.py): typer sees the groups' options flat,
the command gets one instance per group, and two groups cannot claim one name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import typer
from typer.testing import CliRunner

from geak.orchestrator.cli.options import grouped

SHARED = typer.Option("vllm", help="engine")


@dataclass
class Where:
    panel: ClassVar[str] = "Where"
    engine: str = SHARED
    run_dir: str | None = typer.Option(None, "--run-dir", help="the directory")


@dataclass
class How:
    reps: int = typer.Option(3, min=1, help="counted reps")
    eager: bool | None = typer.Option(None, "--eager/--no-eager", help="no graphs")


@dataclass
class Again:
    reps: int = typer.Option(1)


def _app(seen: list) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @grouped
    def go(where: Where, how: How) -> None:
        """Do it."""
        seen.append((where, how))

    @app.command()
    def other() -> None:
        pass

    return app


def test_the_command_gets_one_instance_per_group_from_flat_flags():
    seen: list = []
    r = CliRunner().invoke(_app(seen), ["go", "--run-dir", "/tmp/x", "--reps", "5", "--no-eager"])
    assert r.exit_code == 0, r.output
    assert seen == [(Where(engine="vllm", run_dir="/tmp/x"), How(reps=5, eager=False))]
    r = CliRunner().invoke(_app(seen), ["go", "--reps", "0"])
    assert r.exit_code == 2 and "--reps" in r.output  # the option's own constraint (min=1) still holds


def test_help_shows_each_groups_panel_without_touching_a_shared_declaration():
    r = CliRunner().invoke(_app([]), ["go", "--help"], env={"COLUMNS": "100"})
    assert r.exit_code == 0 and "Where" in r.output and "--run-dir" in r.output and "--no-eager" in r.output
    assert SHARED.rich_help_panel is None  # the panel went on a copy


def test_two_groups_claiming_one_name_or_a_plain_parameter_are_refused():
    with pytest.raises(TypeError, match="option 'reps' is in both How and Again"):

        @grouped
        def bad(how: How, again: Again) -> None: ...

    with pytest.raises(TypeError, match="is not an option group"):

        @grouped
        def loose(n: int) -> None: ...
