import os
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "runs" / "cases"


@pytest.fixture
def clean_run(tmp_path):
    from geak.auditor.corpus.synthetic import build_clean_run

    build_clean_run(tmp_path / "run")
    return tmp_path / "run"
