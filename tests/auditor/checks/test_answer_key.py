"""The accuracy probe's expected answers come from the run's own copy of the question file
(inputs/accuracy.jsonl, its sha256 in manifest.json), never from the legs' accuracy_items.jsonl,
which the leg runner writes. On a real run (runs/recorded/tiny-cpu-run, whose bundle gate F4
re-scores the tiny model's arithmetic probe), brought to today's shape: items keyed by question id
and the probe copied in, as `geak run` now prepares a run."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from geak.auditor.audit import audit_run
from geak.auditor.scoring import answer_key

REPO = Path(__file__).resolve().parents[3]
RUN = REPO / "runs" / "recorded" / "tiny-cpu-run"
PROBE = REPO / "models" / "tiny-arith" / "probe.jsonl"


def _with_key(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    for items in run.glob("legs/*/accuracy_items.jsonl"):
        rows = [json.loads(x) for x in items.read_text().splitlines()]
        items.write_text(
            "".join(
                json.dumps({"schema_version": 1, "prompt_id": f"q{n:04d}", **r}) + "\n"
                for n, r in enumerate(rows, start=1)
            )
        )
    (run / "inputs").mkdir()
    data = PROBE.read_bytes()
    (run / "inputs" / "accuracy.jsonl").write_bytes(data)
    m = json.loads((run / "manifest.json").read_text())
    m["inputs"] = {
        "accuracy": {
            "path": "inputs/accuracy.jsonl",
            "source": str(PROBE),
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_bytes": len(data),
        }
    }
    (run / "manifest.json").write_text(json.dumps(m))
    return run


def _f4(run: Path) -> list[tuple[str, str]]:
    v = next(v for v in audit_run(run, write=False) if v.gate_id == "bundle")
    return [(f.outcome, f.message) for f in v.findings if f.rule_id == "F4"]


def _rewrite(path: Path, line: int, **update) -> None:
    rows = path.read_text().splitlines()
    rows[line - 1] = json.dumps({**json.loads(rows[line - 1]), **update})
    path.write_text("\n".join(rows) + "\n")


def test_items_that_match_their_runs_question_file_score_as_before(tmp_path):
    before = _f4(RUN)
    assert [o for o, _ in before] == ["pass"]
    assert _f4(_with_key(tmp_path)) == before


def test_an_expected_answer_rewritten_in_a_legs_items_is_a_fail_naming_line_and_field(tmp_path):
    run = _with_key(tmp_path)
    items = run / "legs" / "val_final_1" / "accuracy_items.jsonl"
    wrong = json.loads(items.read_text().splitlines()[6])["output"]  # a new answer and an expected to match it
    _rewrite(items, 7, expected=wrong + "0", output=wrong + "0")
    got = _f4(run)
    assert (
        "fail",
        "leg val_final_1: accuracy_items.jsonl line 7 field expected "
        f"'{wrong}0' is not inputs/accuracy.jsonl's '{json.loads(PROBE.read_text().splitlines()[6])['expected']}' for 'q0007'",
    ) in got


def test_a_question_file_changed_after_the_run_is_a_fail_on_its_sha256(tmp_path):
    run = _with_key(tmp_path)
    text = (run / "inputs" / "accuracy.jsonl").read_text().replace('"expected": "167"', '"expected": "168"', 1)
    (run / "inputs" / "accuracy.jsonl").write_text(text)
    got = _f4(run)
    assert got and all(o == "fail" for o, _ in got)
    assert (
        "inputs/accuracy.jsonl field 'sha256'" in got[0][1]
        and "the questions changed after the legs answered them" in got[0][1]
    )


@pytest.mark.parametrize("how", ["drop", "repeat", "unknown"])
def test_a_leg_that_skipped_repeated_or_invented_a_question_is_a_fail(tmp_path, how):
    run = _with_key(tmp_path)
    items = run / "legs" / "val_base_1" / "accuracy_items.jsonl"
    rows = items.read_text().splitlines()
    if how == "drop":
        rows = rows[1:]
    elif how == "repeat":
        rows[1] = rows[0]
    else:
        rows[0] = json.dumps({**json.loads(rows[0]), "prompt_id": "q9999"})
    items.write_text("\n".join(rows) + "\n")
    msgs = [m for o, m in _f4(run) if o == "fail"]
    want = {
        "drop": "answered 499 of the 500 questions of inputs/accuracy.jsonl; missing q0001",
        "repeat": "line 2 answers 'q0001' again (first at line 1)",
        "unknown": "line 1 field prompt_id 'q9999' is not a question of inputs/accuracy.jsonl",
    }[how]
    assert any(want in m for m in msgs), msgs


def test_a_manifest_that_points_the_key_elsewhere_is_refused(tmp_path):
    run = _with_key(tmp_path)
    m = json.loads((run / "manifest.json").read_text())
    m["inputs"]["accuracy"]["path"] = "legs/val_base_1/accuracy_items.jsonl"
    (run / "manifest.json").write_text(json.dumps(m))
    got = _f4(run)
    assert got and got[0][0] == "fail" and "field 'inputs.accuracy.path'" in got[0][1], got


def test_the_answer_key_reads_both_shapes_with_one_id_scheme_and_names_bad_lines():
    key, errors = answer_key(
        '{"question": "2+2?", "answer": "so #### 4"}\n\n{"id": "x", "question": "q", "answer": "#### $1,200."}\n'
    )
    assert (key, errors) == ({"q0001": "4", "x": "1200"}, [])
    key, errors = answer_key('{"prompt": "1+1=", "expected": "2"}\nnot json\n{"prompt": "p", "expected": 3}\n')
    assert key == {"q0001": "2", "q0003": None}
    assert errors == ["line 2: not JSON (Expecting value)", "line 3: field expected is int, not a string"]
    assert answer_key('{"question": "q", "answer": "no mark"}')[1] == [
        "line 1: field answer has no '#### <number>' line"
    ]
