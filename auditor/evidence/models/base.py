"""The evidence contract's base: versions, roles, scopes, and the host and workload a leg ran under."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (1,)

Scope = Literal["baseline", "profile", "harness", "patch", "bundle"]
SCOPES: tuple[str, ...] = ("baseline", "profile", "harness", "patch", "bundle")

LegRole = Literal[
    "baseline",  # the run's reference measurement
    "reference",  # the incumbent a candidate is compared against
    "candidate",
    "validation_base",  # final interleaved validation, baseline side
    "validation_final",  # final interleaved validation, bundle side
    "caching_audit",  # MLPerf TEST04: one fixed sample repeated
    "aa",  # A/A noise measurement
]

LeverClass = Literal["kernel", "config", "orthogonal"]

# Written into legs/<leg>/server.log by the leg runner right before it signals the server's
# process group at the end of a leg: what the engine logs after it is teardown, not a crash.
TEARDOWN_MARKER = "geak: teardown: SIGTERM to the server's process group"


class Record(BaseModel):
    """Base of every versioned record. Unknown fields are kept, not dropped."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    schema_version: int = SCHEMA_VERSION


# ---------------------------------------------------------------- host and workload


class GpuInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    index: int
    name: str | None = None
    driver: str | None = None
    sm_clock_mhz: float | None = None
    mem_clock_mhz: float | None = None
    temperature_c: float | None = None
    foreign_processes: list[str] = Field(
        default_factory=list, description="processes on this GPU that are not the leg's server"
    )


class HostFingerprint(BaseModel):
    model_config = ConfigDict(extra="allow")
    hostname: str | None = None
    cpu_model: str | None = None
    cpu_count: int | None = None
    load_avg_1m: float | None = None
    foreign_cpu_busy_cores: float | None = Field(
        None, description="CPU time used by processes outside the leg's own server, in cores, sampled while it ran"
    )
    cpu_governor: str | None = None
    gpus: list[GpuInfo] = Field(default_factory=list)
    other_legs_running: list[str] = Field(
        default_factory=list, description="leg ids of other geak legs alive while this one ran, on devices not known to be disjoint"
    )
    device_set: str | None = Field(None, description="the device set the leg held (cpu, cpu:0-1, cuda:0,1); None: recorded before sets")
    sibling_legs: list[str] = Field(
        default_factory=list, description="legs of the same run alive on other device sets when the leg was fingerprinted"
    )
    sibling_cpu_busy_cores: float | None = Field(None, description="CPU the sibling legs' processes used, in cores")
    shared_core_busy_cores: float | None = Field(
        None, description="core sets only: CPU used by any process other than the leg's own that may run on the leg's cores, in cores"
    )
    server_cpu_affinity: list[int] | None = Field(None, description="the cores the OS allowed the leg's server on (sched_getaffinity)")


class WorkloadSpec(BaseModel):
    """The fixed, seeded workload a leg was measured under (F3 compares these)."""

    model_config = ConfigDict(extra="allow")
    dataset: str
    dataset_path: str | None = Field(None, description="the dataset file (sharegpt JSON, or a prompts JSONL for vLLM's custom dataset)")
    num_prompts: int
    input_len: int | None = None
    output_len: int | None = None
    request_rate: float | None = Field(None, description="requests/s; None means unlimited (inf)")
    max_concurrency: int | None = None
    seed: int | None = None
    repeated_sample: bool = Field(
        False, description="True for a TEST04 caching audit: one fixed sample issued repeatedly"
    )

    @model_serializer(mode="wrap")
    def _omit_no_path(self, handler: Any) -> dict[str, Any]:
        # a random-dataset workload serializes as it did before file datasets existed: recorded
        # prompts, manifests and launch.json files keep their bytes
        d: dict[str, Any] = handler(self)
        if d.get("dataset_path", 0) is None:
            d.pop("dataset_path")
        return d

    def identity(self) -> dict[str, Any]:
        """What must match between legs that are compared (repeated_sample is the audit's knob)."""
        d = self.model_dump()
        d.pop("repeated_sample", None)
        return d
