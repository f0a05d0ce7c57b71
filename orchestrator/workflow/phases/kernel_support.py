"""The kernel track's helpers (split from phases/kernel.py), shared by its two gates: where a
candidate's file lives for a subprocess, which served-shape profile the harness times, what a
harness record says about the candidate (its losing shapes, its isolated speedup, a brief of it
for an LLM), and the kernel author's candidate written into the run directory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from geak.agents.roles.answers import KernelCandidate
from geak.auditor.evidence.layout import OP_ATTEMPTS, OPBENCH, input_path, op_dir, op_file
from geak.auditor.evidence.store import RunStore

from ..context import RunContext
from ..prompting import producer, prompt_state
from ..state import RunState


def harness_profile(rt: RunContext, st: RunState) -> str:
    """The served-shape profile of agents/kernels/specs.py for this model: the shipped model's by
    name; the run's copy of the model's config.json ("hf:<path>", the shapes the server loaded;
    run/prepare copies it from a local model directory); else the generic GPU Llama (a hub name:
    its config is not on disk to read)."""
    from geak.agents.kernels.specs import HF_PREFIX  # torch: imported when a kernel phase runs

    model = str(st["base_config"].get("model", ""))
    if "tiny-arith" in model:
        return "tiny-arith"
    copy = model_config_copy(rt)
    return f"{HF_PREFIX}{copy}" if copy is not None else "llama-gpu"


def model_config_copy(rt: RunContext) -> Path | None:
    """The run's copy of the served model's config.json (run/prepare made it), or None: a hub model,
    or an entry that is not the regular file prepare wrote (a link, a FIFO) is not read."""
    rel = input_path("model_config")
    if not rt.store.exists(rel):
        return None
    p = rt.store.path(rel)
    return p if p.is_file() and not (rt.store.root / rel).is_symlink() else None


def prompt_profile(rt: RunContext, profile: str) -> str:
    """The profile as a prompt names it: run-relative (a replay elsewhere renders the same prompt)."""
    return profile.replace(f"{rt.store.root.resolve()}/", "").replace(f"{rt.store.root}/", "")


def losing_shapes(ob: Any) -> list[tuple[list[int], float]]:
    """The timed shapes where the candidate's median is slower than the served baseline's."""
    per = ob.timing.per_shape if ob is not None and ob.timing is not None else []
    return [(ps.shape, ps.speedup) for ps in per if ps.speedup is not None and ps.speedup < 1.0]


def isolated_speedup(ob: Any) -> float | None:
    """The harness's speedup as the auditor derives it (H9), rounded: context only, never a
    headline. A loss is reported as measured; a pooled "win" over shapes where the candidate
    loses to the served path at some of them is not claimed (None)."""
    from geak.auditor.api import op_speedup

    k = op_speedup(ob) if ob is not None else None
    if k is None or (k >= 1.0 and losing_shapes(ob)):
        return None
    return round(k, 3)


def author(
    rt: RunContext, st: RunState, op: str, dev: str, tokens: list[int] | None, tried: list[Any]
) -> tuple[str, str] | None:
    """Ask the kernel author for a candidate; write its source into the run directory. None: rejected."""
    from geak.agents.kernels.specs import spec_for

    spec = spec_for(op, harness_profile(rt, st), tokens=tokens)
    spec = spec.model_copy(update={"profile": prompt_profile(rt, spec.profile)})
    ps = prompt_state(rt, st, op=op, op_spec={**spec.model_dump(mode="json"), "device": dev}, candidates=tried)
    kc = producer(rt, "kernel", "kernel_author", KernelCandidate, ps)
    if kc is None:
        return None
    n = len(tried)
    rel = f"kernels/{op}/{kc.name}_a{n}.py"  # one file per attempt: an earlier candidate is never overwritten
    rt.store.write_text(rel, kc.source if kc.source.endswith("\n") else kc.source + "\n")
    rt.emit(
        "submit",
        "kernel",
        f"kernel author: {kc.name} ({kc.language}) -> {rel}"
        + (f"; expected {kc.expected_speedup.value}x ({kc.expected_speedup.basis})" if kc.expected_speedup else ""),
    )
    # run-relative in state, prompts and records: a replay elsewhere must render the same prompts
    return f"{rel}:{kc.entry_point}", kc.name


def opbench_brief(ob: Any, candidate: str) -> dict[str, Any]:
    """What an LLM needs of a harness record: not its thousands of raw times."""
    d = ob.model_dump(
        mode="json",
        include={
            "op",
            "baseline_backend",
            "candidate_backend",
            "served_shapes",
            "timed_shapes",
            "correctness",
            "oracle",
            "status",
        },
    )
    return {**d, "candidate": candidate, "isolated_speedup": isolated_speedup(ob)}


def in_run(rt: RunContext, candidate: str) -> str:
    """A run-relative candidate file (``kernels/<op>/x.py:fn``) as the path a subprocess can load;
    a module name (a template) as it is."""
    path, _, fn = candidate.rpartition(":")
    return f"{rt.store.path(path)}:{fn}" if path.endswith(".py") and not path.startswith("/") else candidate


def archive_op(store: RunStore, op: str, candidate: str) -> None:
    """Move an earlier candidate's harness record aside (ops/_attempts/) so the next one is measured;
    the record of the same candidate (a resumed node) stays where it is."""
    import shutil

    from geak.agents.runners.op_runners import recorded_candidate

    if not store.path(op_file(op, OPBENCH)).exists():
        return
    if recorded_candidate(store.path(op_dir(op))) != candidate:
        dest = store.path(f"{OP_ATTEMPTS}/{op}-{int(time.time() * 1000)}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(store.path(op_dir(op))), str(dest))
