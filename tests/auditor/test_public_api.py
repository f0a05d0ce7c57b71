"""Producers use the auditor through its public face (auditor/api.py), the evidence contract and
the commands' modules, never through a rule module or the band's internals: a rule can change how
it decides without a producer depending on it (issue 35). Static: every import in orchestrator/,
agents/, bench/ and scripts/ of a geak.auditor module."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONSUMERS = ("orchestrator", "agents", "bench", "scripts")
# the contract and the command modules: what a producer writes and the CLI serves
PUBLIC = {
    "geak.auditor",
    "geak.auditor.api",
    "geak.auditor.stats",
    "geak.auditor.scoring",
    "geak.auditor.policy",
    "geak.auditor.runpack",
    "geak.auditor.backtest",
    "geak.auditor.coverage",
    "geak.auditor.importers",
}
PUBLIC_PREFIXES = ("geak.auditor.evidence.", "geak.auditor.importers.")
FROM_PACKAGE = {"stats", "runpack", "api", "scoring", "policy"}  # `from geak.auditor import X`


def bypasses() -> list[str]:
    out = []
    for base in CONSUMERS:
        for p in sorted((REPO / base).rglob("*.py")):
            for node in ast.walk(ast.parse(p.read_text())):
                names: list[str] = []
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("geak.auditor"):
                    names = [node.module]
                    if node.module == "geak.auditor":
                        names += [f"geak.auditor.{a.name}" for a in node.names if a.name not in FROM_PACKAGE]
                        names = names[1:]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names if a.name.startswith("geak.auditor")]
                for n in names:
                    if n not in PUBLIC and not n.startswith(PUBLIC_PREFIXES):
                        out.append(f"{p.relative_to(REPO)}:{node.lineno}: {n}")
    return out


def test_nothing_outside_the_auditor_reaches_past_its_public_face():
    assert bypasses() == [], "import it from geak.auditor.api (add it there if a producer truly needs it)"


def test_the_public_face_names_what_it_exports():
    from geak.auditor import api

    assert all(hasattr(api, n) for n in api.__all__)
    assert {"audit_run", "audit_gate", "aa_band_pct", "paired_bands", "op_family", "op_speedup"} <= set(api.__all__)
