"""Resolve a candidate named ``module:function`` or ``path/to/file.py:function``.

A candidate module may define ``setup(*args)``: the harness calls it once per input set
before warm-up (autotuning, workspace allocation). Whatever it computes must not be the answer:
the provenance probe (H6) changes the inputs after setup and checks the output follows.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from collections.abc import Callable


def load_module(name: str) -> ModuleType:
    if name.endswith(".py") or "/" in name:
        path = Path(name).resolve()
        mod_name = f"geak_candidate_{path.stem}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = mod
        spec.loader.exec_module(mod)
        return mod
    return importlib.import_module(name)


def split(ref: str) -> tuple[str, str]:
    mod, sep, fn = ref.rpartition(":")
    if not sep or not mod or not fn:
        raise ValueError(f"candidate {ref!r} is not MODULE:FUNCTION")
    return mod, fn


def load_candidate(ref: str) -> tuple[Callable[..., Any], Callable[..., Any] | None]:
    mod_name, fn_name = split(ref)
    mod = load_module(mod_name)
    fn = getattr(mod, fn_name)
    setup = getattr(mod, "setup", None)
    return fn, setup if callable(setup) else None


def backend_name(ref: str) -> str:
    """The backend string recorded for H1: the function's qualified name, file paths as given."""
    mod, fn = split(ref)
    return f"{mod}:{fn}"
