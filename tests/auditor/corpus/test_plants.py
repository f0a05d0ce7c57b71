"""The shipped corpus in runs/cases is exactly what the generator produces (not stale, not hand-edited)."""

import filecmp
from pathlib import Path

import pytest

from geak.auditor.corpus.plants import PLANTS, generate

CASES = Path(__file__).resolve().parents[3] / "runs" / "cases"


def _diff(a: Path, b: Path) -> list[str]:
    out = []
    cmp = filecmp.dircmp(a, b)
    out += [f"only in {a}: {x}" for x in cmp.left_only] + [f"only in {b}: {x}" for x in cmp.right_only]
    for f in cmp.common_files:
        if (a / f).read_bytes() != (b / f).read_bytes():
            out.append(str(a / f))
    for d in cmp.common_dirs:
        out += _diff(a / d, b / d)
    return out


def test_every_plant_is_shipped():
    shipped = {p.parent.name for p in CASES.glob("*/key.yaml")}
    assert shipped == set(PLANTS), f"regenerate with `geak cases generate runs/cases`: {sorted(shipped ^ set(PLANTS))}"


@pytest.mark.parametrize("name", ["clean", "b4_handicapped_seed", "r2_fragmentation", "p11_crashed_candidate_seed"])
def test_shipped_case_matches_generator(name, tmp_path):
    generate(tmp_path, [name])
    assert _diff(tmp_path / name, CASES / name) == []


def test_generator_is_deterministic(tmp_path):
    generate(tmp_path / "a", ["p7_ttft_regression"])
    generate(tmp_path / "b", ["p7_ttft_regression"])
    assert _diff(tmp_path / "a", tmp_path / "b") == []


def test_unknown_case_lists_known_ones(tmp_path):
    with pytest.raises(KeyError, match="clean"):
        generate(tmp_path, ["nope"])
