import os
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "runs" / "cases"
RECORDED = REPO / "runs" / "recorded"


def pytest_sessionstart(session):
    """What the tests read but the tree does not hold as files: the recordings, shipped as
    archives (runs/recorded/NAME.tar.xz, unpacked beside them unless current), and the planted
    corpus, generated into runs/cases unless it already is what runs/cases.sha256 names (when
    the generator no longer makes that, tests/corpus/test_plants.py says so)."""
    from corpus.digest import ensure
    from geak.auditor.runpack import shipped, unpack

    for archive in shipped(RECORDED):
        unpack(archive)
    ensure(CASES, REPO / "runs" / "cases.sha256")


@pytest.fixture
def clean_run(tmp_path):
    from corpus.synthetic import build_clean_run

    build_clean_run(tmp_path / "run")
    return tmp_path / "run"
