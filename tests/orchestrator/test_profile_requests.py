"""The profile phase's request count (workflow `profile_requests`): the round serves that many
requests between /start_profile and /stop_profile. A CPU run whose decode batch is 4 fills it with
far fewer than a GPU's 64, and its trace (every CPU op of every step) grows with each request."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from geak.orchestrator import run as R
from geak.orchestrator.workflow.phases.profile import profile_round
from geak.orchestrator.workflow_config import WorkflowConfig

REPO = Path(__file__).resolve().parents[2]
REC = REPO / "runs" / "recorded" / "tiny-cpu-run"


def _asked(tmp_path: Path, requests: int | None) -> list[int | None]:
    tmp_path.mkdir()
    wf = yaml.safe_load((REPO / "workflows" / "gpu-kernel.yaml").read_text())
    for ph in wf["phases"]:
        if ph["name"] == "profile" and requests is not None:
            ph["profile_requests"] = requests
    (tmp_path / "wf.yaml").write_text(yaml.safe_dump(wf))
    out = tmp_path / "run"
    R.prepare(out, R.load_args(REC), tmp_path / "wf.yaml")
    rt = R.runtime(out, R.load_args(out))
    asked: list[int | None] = []

    def profiles(store, *, round_id, cfg, workload, num_requests=None):
        asked.append(num_requests)
        return "failed", "not captured here"

    rt.profiles = profiles
    base = dict(R.load_args(out).launch)
    assert "capture failed" in profile_round(rt, {"incumbent": base, "base_config": base})["routing"]["note"]
    return asked


def test_the_phase_asks_for_its_requests_and_none_means_the_default(tmp_path):
    assert _asked(tmp_path / "a", 16) == [16]
    assert _asked(tmp_path / "b", None) == [None]


@pytest.mark.parametrize("bad", [0, -1, 5000, "many"])
def test_a_count_out_of_range_names_the_field(bad):
    wf = {"name": "w", "version": 1, "phases": [{"name": "profile", "gate": "profile", "profile_requests": bad}]}
    with pytest.raises(ValueError, match="profile_requests"):
        WorkflowConfig.parse(wf, "wf.yaml")
