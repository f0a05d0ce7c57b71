"""Question files: both row shapes, and errors that name file, line and field."""

from pathlib import Path

import pytest

from geak.agents.engines.questions import GSM8K_STOP, QuestionFileError, QuestionSet, load_prompts, load_questions

DATA = Path(__file__).resolve().parents[2] / "data" / "accuracy"
ROOT = Path(__file__).resolve().parents[3]


def test_gsm8k_rows_become_questions_scored_by_the_final_number():
    qs = load_questions(DATA / "gsm8k_small.jsonl")
    assert (qs.task, qs.scoring, len(qs.prompts)) == ("gsm8k", "final_number", 5)
    assert qs.prompts[0].prompt.startswith("Question: Ann has 7 apples") and qs.prompts[0].prompt.endswith("\nAnswer:")
    assert [p.expected for p in qs.prompts] == ["10", "48", "25", "-8", "4.5"]
    assert qs.stop == GSM8K_STOP and qs.max_tokens >= 128


def test_the_shipped_files_load():
    assert load_questions(ROOT / "workflows" / "gsm8k_mini.jsonl").task == "gsm8k"
    probe = load_questions(ROOT / "models" / "tiny-arith" / "probe.jsonl")
    assert (probe.task, probe.scoring) == ("heldout", "exact")
    assert load_prompts(ROOT / "models" / "tiny-arith" / "parity.jsonl")[0].prompt_id == "p00"


def test_a_prompt_list_is_a_heldout_set():
    qs = QuestionSet.of(load_prompts(ROOT / "models" / "tiny-arith" / "probe.jsonl"))
    assert (qs.task, qs.scoring) == ("heldout", "exact")


@pytest.mark.parametrize(
    "text,where",
    [
        ('{"question": "q?", "answer": "no marks"}\n', ":1: field 'answer' has no '####"),
        ('{"question": "q?", "answer": "#### 1"}\n{"prompt": "1+1=", "expected": "2"}\n', ":2: mixes row shapes"),
        ('{"question": "q?", "answer": "#### 1"}\nnot json\n', ":2: not JSON"),
        ('{"prompt": 5}\n', ":1: field 'prompt' must be a non-empty string"),
        ('{"question": "", "answer": "#### 1"}\n', ":1: field 'question' must be a non-empty string"),
        ("[1, 2]\n", ":1: a line is a JSON object"),
        ("\n\n", ": no questions in it"),
    ],
)
def test_a_bad_file_names_file_line_and_field(tmp_path, text, where):
    p = tmp_path / "q.jsonl"
    p.write_text(text)
    with pytest.raises(QuestionFileError) as e:
        load_questions(p)
    assert str(e.value).startswith(str(p)) and where in str(e.value)
