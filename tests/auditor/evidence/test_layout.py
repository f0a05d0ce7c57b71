"""One module owns the run directory's layout (auditor/evidence/layout.py): product code names a
run's files through it, never as literals, so the side that writes a file and the side that audits
it cannot drift apart. Importers (other tools' file names) and the corpus generator are outside
this rule: the former read foreign layouts, the latter leaves the shipped auditor (issue 35)."""

import io
import re
import tokenize
from pathlib import Path

from geak.auditor.evidence import layout

REPO = Path(__file__).resolve().parents[3]
PRODUCT = ("auditor", "agents", "orchestrator")
OUTSIDE = ("auditor/importers/", "auditor/evidence/layout.py")
NAMES = {v for k, v in vars(layout).items() if k.isupper() and isinstance(v, str) and "." in v}
LEG_PATH = re.compile(r'^[rb]?f?["\'](legs|audits)/')


def offenders() -> list[str]:
    out = []
    for base in PRODUCT:
        for p in sorted((REPO / base).rglob("*.py")):
            rel = p.relative_to(REPO).as_posix()
            if rel.startswith(OUTSIDE):
                continue
            for t in tokenize.generate_tokens(io.StringIO(p.read_text()).readline):
                if t.type != tokenize.STRING or t.string.startswith(('"""', "'''")):
                    continue
                body = t.string.lstrip("rbfRBF")[1:-1]
                if body in NAMES or LEG_PATH.match(t.string):
                    out.append(f"{rel}:{t.start[0]}: {t.string[:60]}")
    return out


def test_product_code_names_run_files_only_through_the_layout():
    assert offenders() == [], "use geak.auditor.evidence.layout (MANIFEST, leg_file(...), ...)"


def test_the_layout_names_each_file_once_and_refuses_an_unknown_input():
    values = [v for k, v in vars(layout).items() if k.isupper() and isinstance(v, str)]
    assert len(values) == len(set(values))
    assert layout.leg_file("aa_1", layout.LAUNCH) == "legs/aa_1/launch.json"
    assert layout.input_path("accuracy") == "inputs/accuracy.jsonl"
    try:
        layout.input_path("answers")
    except ValueError as e:
        assert "known: accuracy, parity" in str(e)
    else:
        raise AssertionError("an unknown input role was named")
