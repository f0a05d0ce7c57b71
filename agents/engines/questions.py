"""Question files: the parity prompts and the accuracy probe a leg answers.

Two row shapes, one per file:
- ``{"id"?, "prompt", "expected"?}``: the prompt sent as written, scored by exact match (the
  shipped tiny model's arithmetic probe and parity prompts);
- ``{"question", "answer"}``: GSM8K's own format (the answer's last line is "#### 72"). Sent as
  "Question: ...\\nAnswer:" with the completion stopped at the next "Question:", scored by the
  final number of the output (auditor/scoring.py). GEAK gates on 200 such questions.

A malformed file is an error naming file, line and field, before any server starts.
"""

from __future__ import annotations

from typing import Any

import json
from dataclasses import dataclass, field
from pathlib import Path

from geak.auditor.scoring import gsm8k_expected, question_id

GSM8K_TEMPLATE = "Question: {question}\nAnswer:"
GSM8K_STOP = ["Question:", "\n\n\n"]  # the model's next few-shot turn is not its answer
GSM8K_MAX_TOKENS = 256
EXACT_MAX_TOKENS = 8


@dataclass
class Prompt:
    prompt_id: str
    prompt: str
    expected: str | None = None


@dataclass
class QuestionSet:
    """An accuracy probe: the prompts, how their answers are scored, and how they are asked."""

    task: str  # "heldout" | "gsm8k"
    scoring: str  # auditor/scoring.SCORINGS
    prompts: list[Prompt]
    max_tokens: int = EXACT_MAX_TOKENS
    stop: list[str] = field(default_factory=list)
    source: str = ""

    @classmethod
    def of(cls, prompts: list[Prompt] | QuestionSet) -> QuestionSet:
        return prompts if isinstance(prompts, QuestionSet) else cls("heldout", "exact", list(prompts))


class QuestionFileError(ValueError):
    pass


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text()
    except OSError as e:
        raise QuestionFileError(f"{path}: cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise QuestionFileError(f"{path}: not UTF-8 text; a question file is JSON lines") from None
    rows = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            o = json.loads(line)
        except json.JSONDecodeError as e:
            raise QuestionFileError(f"{path}:{i}: not JSON ({e.msg}); each line is one object") from None
        if not isinstance(o, dict):
            raise QuestionFileError(f"{path}:{i}: a line is a JSON object, got {type(o).__name__}")
        rows.append((i, o))
    if not rows:
        raise QuestionFileError(f"{path}: no questions in it")
    return rows


def _text(path: Path, i: int, o: dict[str, Any], key: str, required: bool = True) -> str | None:
    v = o.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or (required and not v.strip()):
        raise QuestionFileError(
            f"{path}:{i}: field {key!r} must be a non-empty string" + ("" if key in o else " (it is missing)")
        )
    return v


def load_questions(path: Path) -> QuestionSet:
    """A question file of either shape (module docstring); the first row decides which."""
    rows = _rows(path)
    gsm8k = "question" in rows[0][1]
    prompts: list[Prompt] = []
    for n, (i, o) in enumerate(rows, start=1):
        if ("question" in o) != gsm8k:
            raise QuestionFileError(
                f"{path}:{i}: mixes row shapes: line {rows[0][0]} has "
                f"{'question/answer' if gsm8k else 'prompt/expected'}, this one "
                f"{'does not' if gsm8k else 'has question'}; one shape per file"
            )
        if "id" in o and (not isinstance(o["id"], (str, int)) or isinstance(o["id"], bool)):
            raise QuestionFileError(f"{path}:{i}: field 'id' must be a string")
        pid = question_id(o, n)
        if gsm8k:
            answer = _text(path, i, o, "answer")
            expected = gsm8k_expected(answer or "")
            if expected is None:
                raise QuestionFileError(
                    f"{path}:{i}: field 'answer' has no '#### <number>' line (GSM8K's final answer)"
                )
            prompts.append(
                Prompt(
                    str(pid), GSM8K_TEMPLATE.format(question=(_text(path, i, o, "question") or "").strip()), expected
                )
            )
        else:
            prompts.append(
                Prompt(str(pid), _text(path, i, o, "prompt") or "", _text(path, i, o, "expected", required=False))
            )
    if gsm8k:
        return QuestionSet("gsm8k", "final_number", prompts, GSM8K_MAX_TOKENS, list(GSM8K_STOP), str(path))
    return QuestionSet("heldout", "exact", prompts, EXACT_MAX_TOKENS, [], str(path))


def load_prompts(path: Path) -> list[Prompt]:
    """The prompts of a question file, either shape (parity prompts are sent as written)."""
    return load_questions(path).prompts
