"""Each engine's evidence dialect in one module, behind one registry (issue 35).

A dialect is what the auditor knows about one engine's own bytes that another engine writes
differently: which result keys only its benchmark client writes and what it calls the common
aggregates, how its config answer (/server_info) flattens, its Prometheus metric names, the log
lines that name a server lifetime (pid, port, cache reset), and the names of its config keys by
class (per-launch noise, engine-derived capacities, orthogonal and kernel levers). The rest of
the auditor reads every engine through ``get(name)`` and the unions below, never by name, so a
new engine is an adapter (agents/engines/<name>.py: how to launch and drive it) plus a dialect
(a module here, or any module that calls ``register``: how to read what it wrote), and
tests/auditor/evidence/test_stub_engine.py adds one from two files. The benchmark result rows
themselves share one schema (raw.py): a client that writes another shape normalizes it in its
dialect's ``normalize`` and the auditor re-derives from its own copy.

Pure data and small pure functions; nothing here reads a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterator, Mapping

Flatten = Callable[[dict[str, Any]], dict[str, Any]]
# the metric families the witness reads (metrics.py): what a dialect's ``metrics`` may name
COUNTERS = ("prompt_tokens", "generation_tokens", "requests")
HISTOGRAMS = ("ttft_s", "e2e_s")
# log-line regexes and the groups each must capture (what lifetime.py and engine_log.py read)
_LINE_GROUPS = {"pid_lines": 1, "port_lines": 1, "reset_lines": 0, "launch_args_lines": 1, "core_ids_lines": 2}


@dataclass(frozen=True)
class Dialect:
    name: str  # the engine, as launch.json's "engine" says it
    bench_tool: str  # BenchRep.tool of the rows its benchmark client writes
    result_only_keys: tuple[str, ...] = ()  # keys in a result row that only this engine's client writes
    reported_aliases: Mapping[str, str] = field(default_factory=dict)  # its aggregate name -> the common one
    server_info_key: str | None = None  # a top-level key only its config answer has
    server_info_flat: Flatten | None = None  # that answer -> flat dotted keys (None: the generic flattening)
    metrics: Mapping[str, str] = field(default_factory=dict)  # metric family -> its Prometheus name
    # regexes over its server log, each with one group (pid, port) or none (a reset line)
    pid_lines: tuple[str, ...] = ()
    port_lines: tuple[str, ...] = ()
    reset_lines: tuple[str, ...] = ()
    launch_args_lines: tuple[str, ...] = ()  # one group: the launch arguments it logs, a dict literal
    core_ids_lines: tuple[str, ...] = ()  # two groups: a rank and the CPU cores its threads bound
    # its config keys by class (auditor/checks/config_diff.py): names, matched as a key's last part
    ignored_keys: tuple[str, ...] = ()  # differ between any two lifetimes of one config
    auto_keys: tuple[str, ...] = ()  # drawn per launch when unset
    derived_keys: tuple[str, ...] = ()  # capacities it derives by profiling memory (compared with a tolerance)
    derived_from: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # knob -> keys it derives from it
    orthogonal_keys: tuple[str, ...] = ()  # regex fragments: levers that change what is served (P6)
    kernel_keys: tuple[str, ...] = ()  # regex fragments: levers that change which code computes it
    ignored_env: tuple[str, ...] = ()  # environment names that differ per lifetime
    device_env: tuple[str, ...] = ()  # environment names that bind the device set
    # serving settings every later leg must share unless a decision declares the knob (B4, P4):
    # resolved-config keys, pinned into the manifest from the first leg (orchestrator/manifest.py)
    invariant_keys: tuple[str, ...] = ()
    default: bool = False  # the dialect a result row with no telling key is read as


_DIALECTS: dict[str, Dialect] = {}
_generation = [0]  # bumped on every register: the unions below are cached per generation


def check(d: Dialect) -> list[str]:
    """What is wrong with a dialect, field by field (empty: nothing). Checked when it registers, so
    a bad regex or an unknown metric family stops the engine's author, never an audit later."""
    out = (
        []
        if re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", d.name)
        else [f"name {d.name!r}: lowercase letters, digits, '-' and '_', 40 at most"]
    )
    out += [
        f"metrics: unknown family {f!r} (known: {', '.join(COUNTERS + HISTOGRAMS)})"
        for f in d.metrics
        if f not in COUNTERS + HISTOGRAMS
    ]
    for attr in (*_LINE_GROUPS, "orthogonal_keys", "kernel_keys"):
        for frag in getattr(d, attr):
            try:
                groups = re.compile(frag).groups
            except re.error as e:
                out.append(f"{attr}: {frag!r} is not a regex ({e})")
                continue
            if attr in _LINE_GROUPS and groups != _LINE_GROUPS[attr]:
                out.append(f"{attr}: {frag!r} captures {groups} group(s); the reader takes {_LINE_GROUPS[attr]}")
    return out


def register(d: Dialect) -> Dialect:
    """Add (or replace) an engine's dialect; the unions pick it up at once. ValueError naming every
    field that is wrong (``check``)."""
    if bad := check(d):
        raise ValueError(f"dialect {d.name!r}: " + "; ".join(bad))
    _DIALECTS[d.name] = d
    _generation[0] += 1
    return d


def unregister(name: str) -> None:
    """Drop a dialect (a test's stub engine, when it is done)."""
    if _DIALECTS.pop(name, None) is not None:
        _generation[0] += 1


_loaded = [False]


def _builtins() -> None:
    # every lookup comes through here, many times per audited key: import the built-ins once
    if not _loaded[0]:
        _loaded[0] = True
        from . import sglang, vllm  # noqa: F401  (registration)


def known() -> list[str]:
    _builtins()
    return sorted(_DIALECTS)


def get(name: str) -> Dialect:
    """The dialect of ``name``; KeyError naming the known ones."""
    _builtins()
    try:
        return _DIALECTS[name]
    except KeyError:
        raise KeyError(
            f"unknown engine dialect {name!r}; known: {', '.join(sorted(_DIALECTS))} "
            "(a new engine registers one: geak.auditor.evidence.dialects.register)"
        ) from None


def all_dialects() -> list[Dialect]:
    _builtins()
    return [_DIALECTS[n] for n in sorted(_DIALECTS)]


def generation() -> int:
    """Changes whenever a dialect registers: the key for caches of the unions."""
    _builtins()
    return _generation[0]


def union(attr: str) -> tuple[str, ...]:
    """Every registered dialect's ``attr`` (a tuple of names or fragments), in registration order, once each."""
    out: list[str] = []
    for d in all_dialects():
        out += [x for x in getattr(d, attr) if x not in out]
    return tuple(out)


def default() -> Dialect:
    return next(d for d in all_dialects() if d.default)


class Union:
    """A regex over engine-neutral alternatives and every registered dialect's, compiled anew when
    a dialect registers (so a dialect added at run time is read like a built-in one)."""

    def __init__(self, build: Callable[[], str], flags: int = 0) -> None:
        self._build, self._flags, self._gen, self._rx = build, flags, -1, re.compile("")

    def compiled(self) -> re.Pattern[str]:
        g = generation()
        if g != self._gen:
            self._rx, self._gen = re.compile(self._build(), self._flags), g
        return self._rx

    def search(self, s: str, pos: int = 0) -> re.Match[str] | None:
        return self.compiled().search(s, pos)

    def match(self, s: str) -> re.Match[str] | None:
        return self.compiled().match(s)

    def finditer(self, s: str) -> Iterator[re.Match[str]]:
        return self.compiled().finditer(s)


def names(common: tuple[str, ...], attr: str) -> str:
    """An alternation of literal names: the engine-neutral ones, then every dialect's ``attr``."""
    return "|".join(re.escape(n) for n in dict.fromkeys(common + union(attr)))


def fragments(common: tuple[str, ...], attr: str) -> str:
    """An alternation of regex fragments: the engine-neutral ones, then every dialect's ``attr``."""
    return "|".join(dict.fromkeys(common + union(attr)))
