"""The auditor's independence, in code: auditor/ imports nothing of geak outside itself."""

import ast
from pathlib import Path

AUDITOR = Path(__file__).resolve().parents[2] / "auditor"


def _imports(path: Path, root: Path = AUDITOR):
    tree = ast.parse(path.read_text(), filename=str(path))
    depth = len(path.relative_to(root).parts) - 1  # package depth below auditor/
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # a relative import that climbs above auditor/ reaches geak itself
                if node.level > depth + 1:
                    yield node.lineno, "geak." + "." * (node.level - depth - 1) + (node.module or "")
            else:
                yield node.lineno, node.module or ""


def test_auditor_imports_nothing_from_agents_or_orchestrator():
    offenders = []
    for py in AUDITOR.rglob("*.py"):
        for line, mod in _imports(py):
            if mod.startswith("geak") and not mod.startswith("geak.auditor"):
                offenders.append(f"{py.relative_to(AUDITOR.parent)}:{line} imports {mod}")
            if mod.split(".")[0] in ("agents", "orchestrator"):
                offenders.append(f"{py.relative_to(AUDITOR.parent)}:{line} imports {mod}")
    assert not offenders, offenders


def test_the_independence_check_can_fail(tmp_path):
    root = tmp_path / "auditor"
    (root / "checks").mkdir(parents=True)
    bad = root / "checks" / "offender.py"
    bad.write_text("from geak.agents import profiler\nfrom ...orchestrator import cli\nfrom ..evidence import models\n")
    found = [m for _, m in _imports(bad, root)]
    assert "geak.agents" in found
    assert any(m.startswith("geak.") and "orchestrator" in m for m in found)
    assert not any("evidence" in m for m in found)  # a relative import inside auditor/ is fine


def test_no_check_imports_the_corpus_it_is_scored_on():
    # the backtest corpus lives beside the backtest, and the rules cannot peek at its answer keys
    offenders = []
    for py in AUDITOR.rglob("*.py"):
        if "corpus" in py.relative_to(AUDITOR).parts:
            continue
        for node in ast.walk(ast.parse(py.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or "", *(a.name for a in node.names)]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any("corpus" in n.split(".") for n in names):
                offenders.append(f"{py.relative_to(AUDITOR.parent)}:{node.lineno}")
    assert not offenders, offenders
