"""The allowed arrows between packages, as docs/architecture.md "The packages and their arrows"
draws them (issue 35). Static: every import of every product module, relative ones resolved.
An arrow the house forbids fails here naming the file and line, so a shortcut is a decision the
docs record, not a drift."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"auditor": "geak.auditor", "agents": "geak.agents", "orchestrator": "geak.orchestrator", "geak": "geak"}

# (importer, imported): regexes over dotted module names; the importer side matches the module
# itself or anything under it
FORBIDDEN = [
    # the auditor judges what producers wrote: it depends on none of them
    (r"geak\.auditor", r"geak\.(agents|orchestrator)"),
    # the agents measure and write evidence; the orchestrator drives them, never the reverse
    (r"geak\.agents", r"geak\.orchestrator"),
    # the evidence layer reads files into the contract; the rules, the audit and its face sit above it
    (
        r"geak\.auditor\.evidence",
        r"geak\.auditor\.(checks|audit|api|noise|paired|aa_pairs|backtest|importers|coverage)",
    ),
    # a rule decides from evidence and pure statistics; the audit that runs the rules sits above it
    (r"geak\.auditor\.checks", r"geak\.auditor\.(audit|api|noise|backtest|importers|coverage)"),
    # engines run servers and clients; the kernel track builds on them
    (r"geak\.agents\.engines", r"geak\.agents\.(kernels|roles|runners)"),
    # the roles answer from what they are shown; they start no engine, time no kernel, run no leg
    (r"geak\.agents\.roles", r"geak\.agents\.(engines|kernels|runners)"),
    (r"geak\.agents\.kernels", r"geak\.agents\.roles"),
    # the graph's phases never reach up to the commands or the run that drives them
    (r"geak\.orchestrator\.workflow", r"geak\.orchestrator\.(cli|run|replay|report)"),
    # the commands are the top: nothing product-side imports them
    (r"geak\.(auditor|agents|orchestrator\.(?!cli)[a-z_]+)", r"geak\.orchestrator\.cli"),
    # the planted corpus and the benchmarks are development tools, never shipped code's dependencies
    (r"geak(\.|$)", r"(corpus|bench|search_vs_sweep|sim_paired)(\.|$)"),
]


def module_name(path: Path) -> tuple[str, bool]:
    top = path.relative_to(REPO).parts[0]
    rel = path.relative_to(REPO / top).with_suffix("")
    parts = [PACKAGES[top], *rel.parts]
    is_init = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_init else parts), is_init


def imports(path: Path) -> list[tuple[int, str]]:
    me, is_init = module_name(path)
    parts = me.split(".")
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - node.level + (1 if is_init else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
                out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]  # `from . import x`: x may be a module
            elif node.module:
                out.append((node.lineno, node.module))
    return out


def violations(forbidden=FORBIDDEN) -> list[str]:
    out = []
    for top in PACKAGES:
        for path in sorted((REPO / top).rglob("*.py")):
            me, _ = module_name(path)
            for line, mod in imports(path):
                for src, dst in forbidden:
                    if re.fullmatch(src + r"(\..*)?", me) and re.match(dst + r"(\.|$)", mod):
                        out.append(f"{path.relative_to(REPO)}:{line}: {me} -> {mod}")
    return out


def test_the_house_has_no_forbidden_arrow():
    assert violations() == [], (
        "an arrow docs/architecture.md forbids; move the code, or change the drawing and this list"
    )


def test_the_check_itself_fails_on_a_forbidden_arrow():
    # an arrow that does exist (the orchestrator runs engines), forbidden for the test's sake
    got = violations([(r"geak\.orchestrator", r"geak\.agents\.engines")])
    assert any(v.startswith("orchestrator/run.py:") and "-> geak.agents.engines" in v for v in got), got[:3]
    # relative imports resolve: the auditor's rules reach the evidence layer through `from ..evidence`
    got = violations([(r"geak\.auditor\.checks", r"geak\.auditor\.evidence")])
    assert any(v.startswith("auditor/checks/") for v in got)
