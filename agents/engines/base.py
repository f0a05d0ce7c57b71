"""The engine adapter interface and its registry.

An adapter knows one engine's command line, health and config endpoints, fatal log
patterns and benchmark client. It builds argv and parses output; process lifetime is
``process.ServerProcess``'s job and leg bookkeeping is ``leg.py``'s.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from geak.auditor.evidence.models import BenchRep
from geak.auditor.evidence.normalize import from_result, resolved_from_server_info

from .devices import DeviceSet
from .process import FatalPattern


class LaunchConfig(BaseModel):
    """Every knob geak may turn, engine-neutral. None = the engine's own default."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = 1
    model: str
    dtype: str | None = None
    memory_fraction: float | None = Field(
        None, description="vLLM --gpu-memory-utilization / SGLang --mem-fraction-static"
    )
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    chunked_prefill: bool | None = None
    prefix_caching: bool | None = None
    tensor_parallel: int | None = None
    speculative: dict[str, Any] | None = Field(None, description="vLLM --speculative-config / SGLang --speculative-*")
    max_model_len: int | None = None
    load_format: str | None = Field(None, description="'dummy' = random weights (gibberish outputs)")
    enforce_eager: bool | None = None
    kv_cache_dtype: str | None = Field(
        None, description="vLLM/SGLang --kv-cache-dtype (auto, fp8, ...): changes the numerics served"
    )
    async_scheduling: bool | None = Field(
        None, description="vLLM --async-scheduling / --no-async-scheduling (schedules step n+1 while step n runs)"
    )
    max_cudagraph_capture_size: int | None = Field(
        None,
        ge=1,
        description="vLLM --max-cudagraph-capture-size / SGLang "
        "--cuda-graph-max-bs: the largest batch replayed from a CUDA graph",
    )
    seed: int | None = 0
    extra_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    devices: str = Field(
        "cpu",
        description="device set this leg holds (locked per core / GPU): cpu (the whole host), "
        "cpu:0-1 (a core set), cuda:0,1 (GPUs, exported as CUDA_VISIBLE_DEVICES); see devices.py",
    )
    cpu_pin: bool | None = Field(
        None,
        description="CPU legs: engine threads on the last core, benchmark client on the others "
        "(None = on when devices is 'cpu' and there are >= 2 cores); measured to cut A/A spread ~3x, see bench/aa_noise.py",
    )

    @field_validator("devices")
    @classmethod
    def _device_set(cls, v: str) -> str:
        from .devices import parse

        return parse(v).name  # ValueError names the forms; one spelling per set

    def device_set(self) -> DeviceSet:
        from .devices import parse

        return parse(self.devices)

    def pin_plan(self) -> tuple[str, str] | None:
        """(engine cores, client cores) as CPU lists when pinning applies, else None. A core set
        (cpu:0-1) pins both to its own cores; the whole host (cpu) puts the engine on the last
        core and the client on the others."""
        import os

        ds = self.device_set()
        if ds.kind == "cpu" and ds.ids:
            from .devices import id_list

            return id_list(ds.ids), id_list(ds.ids)
        n = os.cpu_count() or 1
        on = self.cpu_pin if self.cpu_pin is not None else (self.devices == "cpu" and n >= 2)
        if not on or n < 2:
            return None
        return str(n - 1), f"0-{n - 2}"

    def knobs(self) -> dict[str, Any]:
        """The launch knobs as recorded in launch.json (engine-neutral names)."""
        return self.model_dump(exclude={"schema_version", "env"}, exclude_none=True)


class EngineAdapter(ABC):
    name: str
    health_path: str = "/health"
    server_info_path: str
    server_module: str
    # POST here drops the prefix cache of a kept server before a reused leg measures on it;
    # None: this adapter never reuses a server (each leg its own lifetime)
    cache_reset_path: str | None = None

    @abstractmethod
    def server_argv(self, cfg: LaunchConfig, port: int, python: str) -> list[str]: ...

    @abstractmethod
    def server_env(self, cfg: LaunchConfig) -> dict[str, str]: ...

    def resolved_config(self, server_info: Any) -> dict[str, Any]:
        """Flat dotted keys from the engine's own view of its config, read in its dialect."""
        return resolved_from_server_info(server_info)

    fatal_patterns: list[FatalPattern] = []

    @abstractmethod
    def bench_argv(
        self, *, python: str, base_url: str, model: str, workload: Any, result_dir: str, result_file: str
    ) -> list[str]: ...

    def bench_argv_multi(self, *, result_files: list[str], **kw: Any) -> list[str] | None:
        """argv running every repetition in one client process, or None if unsupported."""
        return None

    def normalize_bench(
        self, raw: dict[str, Any], *, leg_id: str, rep_index: int, warmup: bool, raw_file: str
    ) -> BenchRep:
        """One result row of this engine's client, read in its dialect (geak.auditor.evidence.dialects:
        a new engine registers one beside its adapter; the auditor reads the same way)."""
        return from_result(raw, self.name, leg_id=leg_id, rep_index=rep_index, warmup=warmup, raw_file=raw_file)


ENGINES: dict[str, type[EngineAdapter]] = {}


def register(cls: type[EngineAdapter]) -> type[EngineAdapter]:
    ENGINES[cls.name] = cls
    return cls


def get_engine(name: str) -> EngineAdapter:
    # import for registration side effects
    from . import sglang, vllm  # noqa: F401

    try:
        return ENGINES[name]()
    except KeyError:
        raise KeyError(f"unknown engine {name!r}; known engines: {', '.join(sorted(ENGINES))}") from None


COMMON_FATAL = [
    FatalPattern(
        re.compile(r"(torch\.)?OutOfMemoryError|CUDA out of memory|HIP out of memory|Cannot allocate memory"),
        "out of memory",
    ),
    FatalPattern(
        re.compile(r"No available memory for the cache blocks|not enough KV cache|insufficient (KV|memory)", re.I),
        "KV cache does not fit",
    ),
    FatalPattern(re.compile(r"(CUDA ?graph|cudagraph|graph capture).{0,80}(fail|error)", re.I), "graph capture failed"),
    FatalPattern(re.compile(r"Address already in use"), "port already taken"),
    FatalPattern(re.compile(r"error: (argument|unrecognized arguments)"), "bad command-line argument"),
    FatalPattern(
        re.compile(
            r"(Repository Not Found|HFValidationError:|does not appear to have a file named|is not a local folder|No such file or directory: .*config\.json)"
        ),
        "model not found",
    ),
]


def device_env(cfg: LaunchConfig) -> dict[str, str]:
    """A GPU set is what the server sees: CUDA_VISIBLE_DEVICES (the engine numbers them from 0)."""
    ds = cfg.device_set()
    return {"CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in ds.ids)} if ds.kind == "cuda" else {}


def as_cli_bool(flag: str, value: bool) -> list[str]:
    return [f"--{flag}" if value else f"--no-{flag}"]


def flag_args(*pairs: tuple[str, Any]) -> list[str]:
    """["--flag", "value", ...] for every pair whose value is set (None = engine default).

    True becomes a bare switch and False is dropped, for flags that only exist in one form."""
    out: list[str] = []
    for flag, value in pairs:
        if value is None or value is False:
            continue
        out += [flag] if value is True else [flag, str(value)]
    return out


Engine = Literal["vllm", "sglang"]
