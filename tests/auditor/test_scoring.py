"""auditor/scoring.py: the one scoring the leg runner counts with and the auditor re-scores with."""

from decimal import Decimal

import pytest

from geak.auditor.scoring import count_correct, final_number, gsm8k_expected, is_correct


@pytest.mark.parametrize(
    "text,want",
    [
        ("so she has 10 apples left.", Decimal("10")),
        ("The total is $1,200.", Decimal("1200")),
        ("-3 - 5 = -8", Decimal("-8")),
        ("4.5 is half of 9, so 4.50", Decimal("4.50")),
        ("first 3, then 7, answer: 12", Decimal("12")),
        ("no digits here", None),
        ("", None),
    ],
)
def test_final_number_is_the_last_number_written(text, want):
    assert final_number(text) == want


def test_gsm8k_expected_reads_the_number_after_the_marks():
    assert gsm8k_expected("12 * 3 = 36 dollars.\n#### 36") == "36"
    assert gsm8k_expected("#### 1,250") == "1250"
    assert gsm8k_expected("#### 4.50") == "4.5"
    assert gsm8k_expected("the answer is 36") is None  # no #### line: not GSM8K's format
    assert gsm8k_expected("#### none") is None


def test_final_number_scoring_compares_numbers_not_text():
    assert is_correct("Let's see: 3 + 4 = 7. The answer is 7.", "7", "final_number")
    assert is_correct("so 4.50", "4.5", "final_number")
    assert not is_correct("The answer is 7, or maybe 8", "7", "final_number")  # the last number is the answer
    assert not is_correct("", "7", "final_number")
    assert not is_correct("7", None, "final_number")


def test_exact_scoring_strips_whitespace_only():
    assert is_correct(" 167\n", "167", "exact")
    assert not is_correct("167 is the answer", "167", "exact")


def test_an_unknown_scoring_names_the_known_ones():
    with pytest.raises(ValueError, match="exact, final_number"):
        is_correct("1", "1", "lenient")


def test_count_correct():
    assert count_correct([("= 10", "10"), ("11", "10"), ("x", None)], "final_number") == 1
