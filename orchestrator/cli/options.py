"""Grouped command-line options (issue 35): a command takes a few typed option groups instead of
dozens of loose parameters. A group is a dataclass whose fields are typer options, declared as
typer declares them (flags, help, defaults); ``grouped`` shows typer every group's options as the
command's own, flat, and hands the command one instance per group. A group's ``panel`` (a class
attribute) heads its options in ``--help``. A name in two groups is a TypeError at import, so two
groups never fight over a flag."""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import typing
from typing import Any
from collections.abc import Callable


def grouped(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn(group_a: A, group_b: B, ...)``, each parameter annotated with an option-group
    dataclass, into a typer command whose options are the groups' fields."""
    hints = typing.get_type_hints(fn)
    groups = [(name, hints[name]) for name in inspect.signature(fn).parameters]
    params: list[inspect.Parameter] = []
    annotations: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for _, cls in groups:
        if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
            raise TypeError(f"{fn.__name__}: {cls!r} is not an option group (a dataclass of typer options)")
        field_hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in owner:
                raise TypeError(f"{fn.__name__}: option {f.name!r} is in both {owner[f.name]} and {cls.__name__}")
            owner[f.name] = cls.__name__
            option: Any = copy.copy(f.default)  # shared declarations (O_MODEL...) stay as other commands use them
            if getattr(cls, "panel", None) and getattr(option, "rich_help_panel", "") is None:
                option.rich_help_panel = getattr(cls, "panel", None)
            params.append(
                inspect.Parameter(
                    f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=field_hints[f.name]
                )
            )
            annotations[f.name] = field_hints[f.name]

    @functools.wraps(fn)
    def command(**kw: Any) -> Any:
        return fn(**{name: cls(**{f.name: kw[f.name] for f in dataclasses.fields(cls)}) for name, cls in groups})

    del command.__wrapped__  # typer reads the flat signature below, not fn's
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = annotations
    return command
