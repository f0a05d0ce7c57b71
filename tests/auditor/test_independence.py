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
    bad.write_text("from geak.agents import synthetic\nfrom ...orchestrator import cli\nfrom ..evidence import models\n")
    found = [m for _, m in _imports(bad, root)]
    assert "geak.agents" in found
    assert any(m.startswith("geak.") and "orchestrator" in m for m in found)
    assert not any("evidence" in m for m in found)  # a relative import inside auditor/ is fine
