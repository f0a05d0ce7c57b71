"""Scoring an answer, pure: the one definition the leg runner writes accuracy.json with and the
auditor re-scores accuracy_items.jsonl with (a producer's count is a claim).

Two scorings, a closed vocabulary:
- ``exact``: the output, stripped, equals the expected text (the tiny model's arithmetic probe);
- ``final_number``: the last number in the output equals the expected number (GSM8K's rule: a
  reference answer ends "#### 72"; a model's chain of thought ends with its result). Commas,
  a leading "$" and a trailing "." are formatting, not digits: "$1,200." scores as 1200.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

Scoring = Literal["exact", "final_number"]
SCORINGS: tuple[str, ...] = ("exact", "final_number")

# a number as people write one: -12, 1,200, 3.75, $40; not the "." that ends a sentence
_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")
_GSM8K_MARK = "####"


def final_number(text: str) -> Decimal | None:
    """The last number written in ``text``, or None when it holds none."""
    for m in reversed(_NUMBER.findall(text)):
        s = m.replace("$", "").replace(",", "")
        if s in ("", "-"):
            continue
        try:
            return Decimal(s)
        except InvalidOperation:
            continue
    return None


def gsm8k_expected(answer: str) -> str | None:
    """The reference number of a GSM8K answer field ("... #### 72" -> "72"), or None when the
    field has no "####" line with a number after it."""
    if _GSM8K_MARK not in answer:
        return None
    n = final_number(answer.rsplit(_GSM8K_MARK, 1)[1])
    return None if n is None else _plain(n)


def _plain(n: Decimal) -> str:
    s = format(n.normalize(), "f")
    return "0" if s in ("-0", "") else s


def is_correct(output: str, expected: str | None, scoring: str) -> bool:
    """One item. An unknown scoring raises ValueError naming the known ones."""
    if scoring not in SCORINGS:
        raise ValueError(f"unknown scoring {scoring!r}; known: {', '.join(SCORINGS)}")
    if expected is None:
        return False
    if scoring == "exact":
        return output.strip() == expected.strip()
    got, want = final_number(output), final_number(expected)
    return got is not None and want is not None and got == want


def count_correct(pairs: list[tuple[str, str | None]], scoring: str) -> int:
    """(output, expected) pairs -> how many score correct."""
    return sum(is_correct(out, exp, scoring) for out, exp in pairs)


def question_id(row: dict[str, Any], n: int) -> str:
    """The one id scheme of a question file's rows: the row's own "id", else q0001, q0002... by
    position among its non-blank lines (the leg runner and the auditor both key answers by it)."""
    pid = row.get("id")
    return str(pid) if isinstance(pid, (str, int)) and not isinstance(pid, bool) else f"q{n:04d}"


def answer_key(text: str) -> tuple[dict[str, str | None], list[str]]:
    """Question id -> expected answer, read from a question file's own text (GSM8K's
    {question, answer: "... #### 72"} or {prompt, expected}); and what in it does not read,
    each as "line N: ..." (a key the auditor cannot read is never replaced by the legs' copies)."""
    key: dict[str, str | None] = {}
    errors: list[str] = []
    n = 0
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        n += 1
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"line {i}: not JSON ({e.msg})")
            continue
        if not isinstance(row, dict):
            errors.append(f"line {i}: not a JSON object")
            continue
        qid = question_id(row, n)
        if qid in key:
            errors.append(f"line {i}: field id {qid!r} repeats an earlier question's")
        if "question" in row:
            ans = row.get("answer")
            exp = gsm8k_expected(ans) if isinstance(ans, str) else None
            if exp is None:
                errors.append(f"line {i}: field answer has no '#### <number>' line")
            key[qid] = exp
        else:
            exp = row.get("expected")
            if exp is not None and not isinstance(exp, str):
                errors.append(f"line {i}: field expected is {type(exp).__name__}, not a string")
                exp = None
            key[qid] = exp
    if not key and not errors:
        errors.append("no questions in it")
    return key, errors
