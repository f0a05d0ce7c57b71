"""The served model's config.json travels with the run (inputs/model_config.json, named with its
sha256 in manifest.json). Routing sizes ops by it (share x headroom) and the harness times the
model's shapes from it; before, both read the model directory, which a replay elsewhere lacks
(the GPU box's /tmp/shape8b): a replay of a GPU kernel run would have routed by share alone and
diverged, and reading it was a read outside the run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fixture_traces import LLAMA3_8B_CONFIG, trace_gz

from geak.auditor.evidence.loader import RunEvidence
from geak.auditor.evidence.store import RunStore
from geak.orchestrator import run as R
from geak.orchestrator.workflow.phases.kernel_support import harness_profile, prompt_profile
from geak.orchestrator.workflow.phases.profile import profile_round

REPO = Path(__file__).resolve().parents[2]
REC = REPO / "runs" / "recorded" / "tiny-cpu-run"
WORKFLOW = REPO / "workflows" / "gpu-kernel.yaml"


def _model(tmp_path: Path) -> Path:
    d = tmp_path / "shape8b"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(LLAMA3_8B_CONFIG))
    return d


def _args(model: str, **kw) -> R.RunArgs:
    a = R.load_args(REC)
    return a.model_copy(update={"launch": {**a.launch, "model": model}, **kw})


def test_a_local_models_config_is_copied_in_and_named_in_the_manifest(tmp_path):
    model = _model(tmp_path)
    out = tmp_path / "run"
    R.prepare(out, _args(str(model)), WORKFLOW)
    copy = out / "inputs" / "model_config.json"
    assert copy.read_bytes() == (model / "config.json").read_bytes()
    m = RunEvidence(RunStore(out)).manifest
    assert m is not None
    got = m.inputs["model_config"]
    assert got.path == "inputs/model_config.json" and got.source == str(model / "config.json")
    assert got.sha256 == hashlib.sha256(copy.read_bytes()).hexdigest()


def test_a_hub_model_name_has_no_copy_and_the_harness_takes_the_generic_profile(tmp_path):
    out = tmp_path / "run"
    R.prepare(out, _args("meta-llama/Meta-Llama-3-8B"), WORKFLOW)
    assert not (out / "inputs" / "model_config.json").exists()
    assert "model_config" not in json.loads((out / "manifest.json").read_text())["inputs"]
    rt = R.runtime(out, R.load_args(out))
    assert harness_profile(rt, {"base_config": {"model": "meta-llama/Meta-Llama-3-8B"}}) == "llama-gpu"


def test_the_harness_reads_the_runs_copy_and_prompts_name_it_run_relative(tmp_path):
    model = _model(tmp_path)
    out = tmp_path / "run"
    R.prepare(out, _args(str(model)), WORKFLOW)
    rt = R.runtime(out, R.load_args(out))
    prof = harness_profile(rt, {"base_config": {"model": str(model)}})
    assert prof == f"hf:{out.resolve() / 'inputs' / 'model_config.json'}"
    assert prompt_profile(rt, prof) == "hf:inputs/model_config.json"
    (model / "config.json").unlink()  # the model directory is gone (a replay elsewhere): the copy still serves
    assert harness_profile(rt, {"base_config": {"model": str(model)}}) == prof
    copy = out / "inputs" / "model_config.json"
    copy.unlink()
    copy.symlink_to(out / "inputs" / "elsewhere.json")  # a link, even inside the run: not what prepare wrote
    (out / "inputs" / "elsewhere.json").write_text(json.dumps(LLAMA3_8B_CONFIG))
    assert harness_profile(rt, {"base_config": {"model": str(model)}}) == "llama-gpu"


def _replay_of_a_gpu_profile(tmp_path: Path, model: Path, with_copy: bool) -> dict:
    """A run prepared from a recording (legs_from) whose profile round is the H100 trace, given the
    recording's inputs as a replay copies them; returns the profile round's routing."""
    src = tmp_path / "src"
    trace_gz("vllm026_h100_8b.trace", src / "profile" / "round_1" / "trace.json.gz")
    (src / "legs").mkdir()  # a recording's shape; the profile round needs no leg
    if with_copy:
        (src / "inputs").mkdir()
        (src / "inputs" / "model_config.json").write_text(json.dumps(LLAMA3_8B_CONFIG))
    out = tmp_path / "replay"
    R.prepare(out, _args(str(model), legs_from=str(src)), WORKFLOW)
    R.copy_recorded_inputs(RunStore(src), RunStore(out))
    rt = R.runtime(out, R.load_args(out))
    base = R.load_args(out).launch
    return profile_round(rt, {"incumbent": dict(base), "base_config": dict(base)})["routing"]


def test_a_replay_elsewhere_routes_by_the_recorded_config_not_the_model_directory(tmp_path):
    gone = tmp_path / "not-here"  # the GPU box's model directory, absent where the replay runs
    routing = _replay_of_a_gpu_profile(tmp_path, gone, with_copy=True)
    assert routing["routed"] == ["rotary"] and "by share x headroom" in routing["note"]


def test_a_model_directory_beside_the_run_is_never_read_in_its_place(tmp_path):
    model = _model(tmp_path)  # present on disk, but the recording holds no copy
    routing = _replay_of_a_gpu_profile(tmp_path, model, with_copy=False)
    assert routing["routed"] == ["silu_and_mul"] and "headroom" not in routing["note"]
