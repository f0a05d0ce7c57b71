"""Pure helpers: diff two legs' resolved configs and classify a knob's lever class."""

from __future__ import annotations

import re
from typing import Any

from ..evidence import dialects

# Keys that differ between any two server lifetimes without changing what is measured: these
# engine-neutral names, then each engine's (its dialect's ignored_keys).
_IGNORED = (
    "port",
    "host",
    "pid",
    "uuid",
    "api_key",
    "log_file",
    "log_dir",
    "timestamp",
    "start_time",
    "served_model_name",
    "instance_id",
    "profiler_dir",
    "seed_run",
)
IGNORED_KEY = dialects.Union(lambda: rf"(^|[._])({dialects.names(_IGNORED, 'ignored_keys')})$", re.IGNORECASE)
# Per-launch automatic values (FAILURES.md "per-launch auto values"): an engine draws them per
# launch when they are not set, so two launches of one config differ in them by construction.
AUTO_KEY = dialects.Union(lambda: rf"(^|[._])({dialects.names((), 'auto_keys') or '(?!)'})$")
# Capacities the engine derives by profiling memory at start-up: equal configs give values a few
# pages apart. Compared with a relative tolerance; a real change (another memory fraction:
# 947,041 vs 1,156,449) stays a difference.
DERIVED_KEY = dialects.Union(lambda: rf"(^|[._])({dialects.names((), 'derived_keys') or '(?!)'})$")
DERIVED_REL = 0.01
_derived_gen = -1
_derived_map: dict[str, tuple[str, ...]] = {}


def derived_from() -> dict[str, tuple[str, ...]]:
    """Knob -> the keys an engine derives from it when they are not set themselves (issue 32),
    every dialect's together. Only the resolved config is excused: a derived key the engine's own
    log shows among its non-default args was set explicitly, and P4 still names it."""
    global _derived_gen, _derived_map
    g = dialects.generation()
    if _derived_gen == g:
        return _derived_map
    out: dict[str, tuple[str, ...]] = {}
    for d in dialects.all_dialects():
        for knob, keys in d.derived_from.items():
            out[knob] = tuple(dict.fromkeys(out.get(knob, ()) + keys))
    _derived_gen, _derived_map = g, out
    return out


def derived_by(declared: list[str], key: str) -> str | None:
    """The declared knob the engine derives ``key`` from, or None."""
    for dk in declared:
        for base, keys in derived_from().items():
            if key_matches(dk, base) or key_matches(base, dk):
                if any(key_matches(d, key) for d in keys):
                    return dk
    return None


_IGNORED_ENV = ("PORT", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "_", "TERM")
IGNORED_ENV = dialects.Union(lambda: rf"^({dialects.names(_IGNORED_ENV, 'ignored_env')})$")
# which device set a server holds: in a crossover the two halves differ here by design (the
# swap cancels it, and P3 verifies the swap from the engines' own logs); anywhere else it is a confound
_DEVICE_ENV = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")
DEVICE_BINDING = dialects.Union(lambda: rf"(^|\.)({dialects.names(_DEVICE_ENV, 'device_env')})$")

# Lever classes (FAILURES.md P6). Orthogonal levers change what is served or how much
# hardware serves it; they are never a kernel win. Engine-neutral fragments, then each engine's.
_ORTHOGONAL = (
    "specul",
    "spec_decode",
    "num_speculative_tokens",
    "draft",
    "memory_fraction",
    "quantiz",
    "kv_cache_dtype",
    r"(^|\.)cache_dtype$",
    "tensor_parallel",
    "pipeline_parallel",
    "data_parallel",
    r"(^|\.)dtype$",
    "prefix_cach",
)
ORTHOGONAL = dialects.Union(lambda: f"({dialects.fragments(_ORTHOGONAL, 'orthogonal_keys')})", re.IGNORECASE)
# PYTHONPATH: a different import path changes which code computes the same thing (how a
# packaged kernel plugin reaches the server), never what is served
_KERNEL = ("plugin", "kernel", "triton", "overlay", "use_cuda_graph", "PYTHONPATH")
KERNEL = dialects.Union(lambda: f"({dialects.fragments(_KERNEL, 'kernel_keys')})", re.IGNORECASE)


def lever_class(key: str) -> str:
    if ORTHOGONAL.search(key):
        return "orthogonal"
    if KERNEL.search(key):
        return "kernel"
    return "config"


def _norm(v: Any) -> Any:
    # "0.85" vs 0.85 and 1 vs 1.0 are the same setting written two ways.
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v.strip()
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, list):
        return [_norm(x) for x in v]
    return v


def config_diff(
    a: dict[str, Any], b: dict[str, Any], ignore: re.Pattern[str] | dialects.Union = IGNORED_KEY
) -> dict[str, tuple[Any, Any]]:
    """Keys whose values differ (absent on one side counts), minus the ignore list."""
    out: dict[str, tuple[Any, Any]] = {}
    for k in sorted(set(a) | set(b)):
        if ignore.search(k) or AUTO_KEY.search(k):
            continue
        va, vb = a.get(k, "<absent>"), b.get(k, "<absent>")
        if _norm(va) != _norm(vb) and not _within_derived(k, va, vb):
            out[k] = (va, vb)
    return out


def _within_derived(k: str, a: Any, b: Any) -> bool:
    if not DERIVED_KEY.search(k) or isinstance(a, bool) or isinstance(b, bool):
        return False
    if not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return False
    return abs(a - b) <= DERIVED_REL * max(abs(a), abs(b))


def key_matches(declared: str, key: str) -> bool:
    """A declared knob covers the key itself and anything nested under it, on dotted keys."""
    return key == declared or key.startswith(declared + ".") or key.endswith("." + declared)


def same_value(a: Any, b: Any) -> bool:
    return bool(_norm(a) == _norm(b))
