"""workflows/*.yaml, validated: phases, gates, loop bounds, budgets.

The graph is built from this file, so a typo must fail loudly before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from geak.resources import asset_dir

PHASES = ("baseline", "profile", "strategize", "config_tune", "kernel", "finalize", "validate")


class Phase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Literal["baseline", "profile", "strategize", "config_tune", "kernel", "finalize", "validate"]
    gate: Literal["baseline", "profile", "harness", "patch", "bundle"] | None = None
    max_attempts: int = Field(1, ge=1, le=20, description="producer attempts per gate before nothing is banked")
    max_candidates: int | None = Field(None, ge=1)
    screen_reps: int | None = Field(
        None,
        ge=1,
        description="config_tune: successive-halving rung 0, counted reps per "
        "screening leg; the better half goes to the gate. None = every candidate goes to the gate",
    )
    passthrough: bool = False
    passthrough_why: str | None = Field(
        None, max_length=300, description="why the phase is off here, said in the run's one-line passthrough note"
    )
    interleaved_pairs: int | None = Field(None, ge=1)
    caching_audit: bool = False
    min_share: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="profile: the smallest share of op time an editable "
        "family needs to be routed (agents/profiler.route; None = its default, 2%). Its "
        "Amdahl bound is the most the e2e legs can gain",
    )
    profile_requests: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="profile: the requests served between /start_profile and /stop_profile (None = 64). "
        "Enough to fill the decode batch the workload runs: the trace's step sizes are the served shapes "
        "the harness times; more only makes the trace longer",
    )


class Budgets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wall_clock_s: float = Field(1800, gt=0)
    llm_calls: int = Field(200, ge=0)


class AuditorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    use: bool = True
    fail_open_on_error: bool = True


class EngineDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reps: int = Field(3, ge=1)
    aa_legs: int = Field(2, ge=0)
    workload: dict[str, Any] = Field(default_factory=dict)
    ab_design: Literal["blocks", "crossover", "abba"] = Field(
        "blocks",
        description="how the A/A legs and each config gate's A/B are measured: blocks (reference legs, then "
        "candidate legs) | crossover (two device sets: both servers at once, every rep started together, then the sets "
        "swapped; aa_legs rounds up to crossovers of 4 legs) | abba (one set: short legs in A B B A order)",
    )
    abba_pairs: int = Field(
        6,
        ge=1,
        description="abba: pairs of short legs per A/A design and per gate round (the auditor "
        "needs policy min_pairs verified pairs)",
    )


class Quality(BaseModel):
    """What every leg answers besides the benchmark: the parity prompts (greedy, same seed, twice)
    and the accuracy probe. Paths are relative to the workflow file; the command line's
    --parity-file/--accuracy-file win, and unset means the model directory's parity.jsonl /
    probe.jsonl. On dummy weights the auditor uses parity only (auditor/checks/quality.py)."""

    model_config = ConfigDict(extra="forbid")
    parity_file: str | None = None
    accuracy_file: str | None = Field(
        None,
        description="JSONL of {prompt, expected} (exact match) or GSM8K's {question, answer} "
        "(scored by the final number)",
    )


class WorkflowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    version: int = 1
    engine_defaults: EngineDefaults = Field(default_factory=EngineDefaults)
    quality: Quality = Field(default_factory=Quality)
    phases: list[Phase]
    budgets: Budgets = Field(default_factory=Budgets)
    auditor: AuditorSettings = Field(default_factory=AuditorSettings)

    @model_validator(mode="after")
    def _order(self) -> WorkflowConfig:
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise ValueError(f"phase listed twice: {names}")
        order = [n for n in PHASES if n in names]
        if names != order:
            raise ValueError(f"phases must follow {' -> '.join(PHASES)}; got {' -> '.join(names)}")
        return self

    def refuses_sets(self, n_sets: int) -> str | None:
        """Why this workflow cannot run on ``n_sets`` device sets (None: it can)."""
        if self.engine_defaults.ab_design == "crossover" and n_sets < 2:
            return (
                f"ab_design crossover runs two legs at once on two disjoint device sets; this run has {n_sets} "
                "(give --devices cpu:0-1 --cores-per-leg 1, or GPU ids), or use --ab-design abba"
            )
        return None

    @classmethod
    def load(cls, path: str | Path) -> WorkflowConfig:
        return cls.parse(read_workflow(path), path)

    @classmethod
    def parse(cls, data: Any, source: str | Path) -> WorkflowConfig:
        """A workflow from its YAML text (or the mapping it loads to); ValueError names the source and field."""
        if isinstance(data, str):
            try:
                data = yaml.safe_load(data)
            except yaml.YAMLError as e:
                raise ValueError(f"{source}: not valid YAML: {e}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            errs = "; ".join(f"{'.'.join(str(x) for x in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors())
            raise ValueError(f"{source}: {errs}") from None


def read_workflow(path: str | Path) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such workflow file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot be read ({e})") from None


WORKFLOWS = asset_dir("workflows")
DEFAULT = WORKFLOWS / "default.yaml"
