import pytest

from geak.orchestrator.workflow_config import DEFAULT, WorkflowConfig


def test_default_workflow_validates():
    wf = WorkflowConfig.load(DEFAULT)
    assert [p.name for p in wf.phases][0] == "baseline" and wf.auditor.fail_open_on_error


def test_unknown_key_names_file_and_field(tmp_path):
    p = tmp_path / "w.yaml"
    p.write_text("name: x\nphases:\n  - {name: baseline, gate: baseline, max_atempts: 3}\n")
    with pytest.raises(ValueError, match=r"w\.yaml: phases\.0\.max_atempts"):
        WorkflowConfig.load(p)


def test_phase_order_enforced(tmp_path):
    p = tmp_path / "w.yaml"
    p.write_text("name: x\nphases:\n  - {name: validate}\n  - {name: baseline}\n")
    with pytest.raises(ValueError, match="phases must follow"):
        WorkflowConfig.load(p)


def test_loop_bound_must_be_positive(tmp_path):
    p = tmp_path / "w.yaml"
    p.write_text("name: x\nphases:\n  - {name: baseline, max_attempts: 0}\n")
    with pytest.raises(ValueError, match="max_attempts"):
        WorkflowConfig.load(p)
