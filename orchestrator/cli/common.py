"""What every `geak` command shares: the Typer apps, the consoles, the exit codes, usage errors,
the policy file, the launch and prompt options."""

from __future__ import annotations

import json
import os
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperOption

from geak.resources import asset_dir

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="geak: LLM-serving optimisation with an independent auditor."
)
schema_app = typer.Typer(no_args_is_help=True, help="JSON Schema of the evidence contract.")
cases_app = typer.Typer(no_args_is_help=True, help="The planted-flaw backtest corpus.")
app.add_typer(schema_app, name="schema")
app.add_typer(cases_app, name="cases")


def _switch_has_no_value(display: Any) -> Any:
    # typer 0.29 labels an on/off switch "<bool>" in --help, as if it took a value
    def show(self: Any, ctx: Any) -> Any:
        return None if getattr(self, "is_flag", False) else display(self, ctx)

    return show


if hasattr(TyperOption, "display_type_rich"):  # typer before 0.29 has neither the hook nor the label
    TyperOption.display_type_rich = _switch_has_no_value(TyperOption.display_type_rich)  # type: ignore[method-assign]

console = Console()
err = Console(stderr=True, soft_wrap=True)


class Exit(IntEnum):
    """One meaning per code in every command (README "Exit codes")."""

    PASS = 0  # done: every gate PASSed, the run completed, the replay reproduced, the check held
    FLAG = 1  # a gate FLAGged, or a comparison found differences to look at (skills diff, cases check, schema --check)
    USAGE = 2  # bad arguments or input files: nothing started, nothing written
    FAIL = 3  # a gate FAILed (run/baseline: the baseline did, so the run halted), or a check did not hold
    UNAUDITED = 4  # a gate the auditor could not judge
    NOTHING = 5  # no gate to audit: n/a, never a PASS
    FLIPPED = 6  # a what-if replay flipped a banked decision
    RUN_ERROR = 7  # an engine, LLM or replay error, a failed leg: the run directory keeps what was measured
    INTERNAL = 123  # geak itself failed (a bug, or the run directory refused a write)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: continue with --resume


def exit_code(verdicts: list[str | None]) -> Exit:
    if not verdicts:
        return Exit.NOTHING
    if "FAIL" in verdicts:
        return Exit.FAIL
    if None in verdicts:
        return Exit.UNAUDITED
    if "FLAG" in verdicts:
        return Exit.FLAG
    return Exit.PASS


def usage(msg: str) -> NoReturn:
    err.print(f"[red]error:[/red] {msg}")
    raise typer.Exit(Exit.USAGE)


def run_arg(path: Path) -> Path:
    """A RUN argument as the directory it names: a run archive (`geak pack`'s .tar.xz), or a
    directory whose archive sits beside it (runs/recorded/NAME), is unpacked or refreshed first."""
    from geak.auditor.runpack import PackError, resolve_run

    try:
        return resolve_run(path, say=lambda line: err.print(line, highlight=False))
    except PackError as e:
        usage(str(e))


def load_policy(path: Path | None) -> Any:
    from geak.auditor.policy import AuditPolicy

    try:
        return AuditPolicy.load(path)
    except (OSError, ValueError) as e:
        usage(f"policy {path}: {e}")


STYLE = {"PASS": "green", "FLAG": "yellow", "FAIL": "red", None: "magenta"}


DEFAULT_MODEL = asset_dir("models") / "tiny-arith"
O_ENGINE = typer.Option("vllm", help="engine adapter: vllm | sglang")
O_MODEL = typer.Option(None, help="model path or id (default: the shipped tiny model models/tiny-arith)")
O_RUN = typer.Option(..., "--run-dir", help="run directory to write the leg into (created if absent)")
O_REPS = typer.Option(3, help="counted repetitions (one warm-up repetition is added and flagged)")
# launch knobs `geak run` and `geak leg` declare alike (options.grouped copies each per command)
O_DTYPE = typer.Option(None, help="model dtype (engine default if unset)")
O_MAX_MODEL_LEN = typer.Option(None, help="max model length (context) the engine allocates for")
O_MEMORY_FRACTION = typer.Option(None, help="vLLM --gpu-memory-utilization / SGLang --mem-fraction-static")


def launch_config(
    model: str | None = None,
    *,
    speculative: str | None = None,
    extra_arg: list[str] | None = None,
    devices: str = "cpu",
    **knobs: Any,
) -> Any:
    """The one place a command's launch options become a LaunchConfig: the model (default: the
    shipped tiny model), --speculative as JSON, every other knob by its LaunchConfig name (None:
    the engine's default)."""
    from pydantic import ValidationError

    from geak.agents.engines.base import LaunchConfig

    spec = None
    if speculative:
        try:
            spec = json.loads(speculative)
        except ValueError as e:
            usage(f'--speculative must be JSON, e.g. \'{{"method": "ngram", "num_speculative_tokens": 4}}\': {e}')
    try:
        return LaunchConfig(
            model=str(model or DEFAULT_MODEL),
            speculative=spec,
            extra_args=list(extra_arg or []),
            devices=devices,
            **{k: v for k, v in knobs.items() if v is not None},
        )
    except ValidationError as e:
        usage("; ".join(f"--{'.'.join(map(str, x['loc'])).replace('_', '-')}: {x['msg']}" for x in e.errors()))


def load_prompt_file(path: Path | None, questions: bool = False) -> Any:
    """A parity file's prompts, or (``questions``) an accuracy file as a QuestionSet; a malformed
    file exits 2 naming file, line and field."""
    from geak.agents.engines.questions import QuestionFileError, load_questions

    if path is None:
        return None
    if not path.exists():
        usage(f"{path} does not exist")
    try:
        qs = load_questions(path)
    except QuestionFileError as e:
        usage(str(e))
        raise
    return qs if questions else qs.prompts


def default_prompt_file(model: str | None, name: str) -> Path | None:
    p = (Path(model) if model else DEFAULT_MODEL) / name
    return p if p.exists() else None
