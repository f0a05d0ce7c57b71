"""The planted corpus is generated into runs/cases (ignored; tests/conftest.py makes it), and what
it is stays reviewed: runs/cases.sha256 names every case's bytes, so a generator change that
alters a case fails here until the digest is updated on purpose."""

import filecmp
from pathlib import Path

import pytest

from corpus.digest import case_sha256, corpus_digest, differences, read_digest
from corpus.plants import PLANTS, generate

REPO = Path(__file__).resolve().parents[3]
CASES = REPO / "runs" / "cases"
DIGEST = REPO / "runs" / "cases.sha256"


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


def test_every_plant_is_in_the_digest():
    assert set(read_digest(DIGEST)) == set(PLANTS), "a plant added or removed: geak cases check runs/cases --update"


def test_generated_corpus_is_the_reviewed_one():
    # every case, every byte and link: what `geak backtest runs/cases` scores is what was reviewed
    diff = differences(corpus_digest(CASES), read_digest(DIGEST))
    assert diff == [], (
        f"the generator's output changed; if on purpose: geak cases check runs/cases --update: {diff[:5]}"
    )


@pytest.mark.parametrize("name", ["clean", "b4_handicapped_seed", "t_metrics_symlink", "p11_crashed_candidate_seed"])
def test_a_fresh_generation_matches_the_digest(name, tmp_path):
    # generated apart from runs/cases (which conftest may have made in this session): same bytes
    generate(tmp_path, [name])
    assert case_sha256(tmp_path / name) == read_digest(DIGEST)[name]


def test_the_digest_sees_one_byte_and_one_link(tmp_path):
    generate(tmp_path, ["t_metrics_symlink"])
    case = tmp_path / "t_metrics_symlink"
    before = case_sha256(case)
    key = case / "key.yaml"
    key.write_bytes(key.read_bytes().replace(b"verdict", b"Verdict", 1))
    assert case_sha256(case) != before
    key.write_bytes(key.read_bytes().replace(b"Verdict", b"verdict", 1))
    assert case_sha256(case) == before
    link = next(p for p in case.rglob("*") if p.is_symlink())
    target = link.readlink()
    link.unlink()
    link.symlink_to(target.name + "x")
    assert case_sha256(case) != before


def test_a_bad_digest_line_is_named(tmp_path):
    bad = tmp_path / "cases.sha256"
    bad.write_text("a" * 64 + "  clean\nnot a line\n")
    with pytest.raises(ValueError, match=r"cases.sha256:2:"):
        read_digest(bad)


def test_generator_is_deterministic(tmp_path):
    generate(tmp_path / "a", ["p7_ttft_regression"])
    generate(tmp_path / "b", ["p7_ttft_regression"])
    assert _diff(tmp_path / "a", tmp_path / "b") == []


def test_unknown_case_lists_known_ones(tmp_path):
    with pytest.raises(KeyError, match="clean"):
        generate(tmp_path, ["nope"])


def _geak(*args, cwd):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "geak.orchestrator.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


def test_geak_cases_check_names_the_case_that_changed_and_update_rewrites_the_digest(tmp_path):
    generate(tmp_path / "cases", ["clean", "b1_noisy"])
    digest = tmp_path / "d.sha256"
    digest.write_text("".join(f"{read_digest(DIGEST)[n]}  {n}\n" for n in ("clean", "b1_noisy")))
    ok = _geak("cases", "check", tmp_path / "cases", "--digest", digest, cwd=tmp_path)
    assert ok.returncode == 0 and "2 cases match" in ok.stdout, ok.stderr
    (tmp_path / "cases" / "b1_noisy" / "run" / "decisions.jsonl").write_text("")
    bad = _geak("cases", "check", tmp_path / "cases", "--digest", digest, cwd=tmp_path)
    assert (
        bad.returncode == 1 and "b1_noisy: its bytes differ" in bad.stderr and "clean" not in bad.stderr.split("\n")[0]
    )
    assert _geak("cases", "check", tmp_path / "cases", "--digest", digest, "--update", cwd=tmp_path).returncode == 0
    assert read_digest(digest)["b1_noisy"] != read_digest(DIGEST)["b1_noisy"]
    assert read_digest(digest)["clean"] == read_digest(DIGEST)["clean"]


def test_geak_backtest_on_a_corpus_not_generated_says_how_to_make_it(tmp_path):
    got = _geak("backtest", "runs/cases", cwd=tmp_path)
    assert got.returncode == 2 and "geak cases generate runs/cases" in got.stderr and "Traceback" not in got.stderr
