import json
import os

import pytest

from geak.auditor.evidence.models import BenchRep, Manifest
from geak.auditor.evidence.store import OutsideRunDir, RunStore


def test_write_json_is_atomic_and_leaves_no_tmp(tmp_path):
    s = RunStore(tmp_path)
    s.write_json("manifest.json", Manifest(run_id="r1"))
    assert json.loads((tmp_path / "manifest.json").read_text())["run_id"] == "r1"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_refuses_paths_outside_the_run_dir(tmp_path):
    s = RunStore(tmp_path / "run")
    for bad in ("../escape.json", "/etc/passwd", "legs/../../x"):
        with pytest.raises(OutsideRunDir):
            s.path(bad)


def test_refuses_symlink_out_of_the_run_dir(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "run" / "link")
    with pytest.raises(OutsideRunDir):
        RunStore(tmp_path / "run").write_text("link/x.txt", "no")
    assert not (tmp_path / "outside" / "x.txt").exists()


def _rep(i):
    return BenchRep(leg_id="a", rep_index=i, tool="geak-client")


def test_append_jsonl_then_read_back(tmp_path):
    s = RunStore(tmp_path)
    for i in range(3):
        s.append_jsonl("b.jsonl", _rep(i))
    recs, probs = s.read_jsonl("b.jsonl", BenchRep)
    assert [r.rep_index for _, r in recs] == [0, 1, 2] and probs == []


def test_truncated_last_line_is_reported_not_dropped(tmp_path):
    s = RunStore(tmp_path)
    for i in range(2):
        s.append_jsonl("b.jsonl", _rep(i))
    with open(tmp_path / "b.jsonl", "a") as f:
        f.write('{"schema_version": 1, "leg_id": "a", "rep_in')
    recs, probs = s.read_jsonl("b.jsonl", BenchRep)
    assert len(recs) == 2
    assert len(probs) == 1 and probs[0].line == 3 and "truncated" in probs[0].message


def test_unknown_schema_version_names_the_field(tmp_path):
    (tmp_path / "b.jsonl").write_text(
        json.dumps({"schema_version": 7, "leg_id": "a", "rep_index": 0, "tool": "x"}) + "\n"
    )
    _, probs = RunStore(tmp_path).read_jsonl("b.jsonl", BenchRep)
    assert probs[0].field == "schema_version" and probs[0].line == 1 and "not supported" in probs[0].message


def test_validation_error_names_line_and_field(tmp_path):
    (tmp_path / "b.jsonl").write_text(
        json.dumps({"schema_version": 1, "leg_id": "a", "rep_index": "zero", "tool": "x"}) + "\n"
    )
    _, probs = RunStore(tmp_path).read_jsonl("b.jsonl", BenchRep)
    assert probs[0].line == 1 and probs[0].field == "rep_index"


def test_missing_file_is_a_problem_not_an_exception(tmp_path):
    m, probs = RunStore(tmp_path).read_json("manifest.json", Manifest)
    assert m is None and "missing" in probs[0].message


def test_a_written_file_gets_the_mode_a_plain_write_would_under_the_umask(tmp_path):
    import os
    import stat

    from geak.auditor.evidence import store as store_mod

    p = store_mod.RunStore(tmp_path).write_text("report.md", "x")
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o666 & ~store_mod._UMASK
