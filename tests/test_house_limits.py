"""The house's size limits (issue 35), held on every product module: at most 400 lines a module,
80 lines and 10 parameters a function (self and cls not counted). A Triton kernel is exempt from
the parameter bound only: its parameters are its launch ABI (pointers, strides, constexprs), fixed
by the op it computes. A command takes option groups (orchestrator/cli/options.py), not loose
options, so commands meet the bound too."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("auditor", "agents", "orchestrator", "geak")
MAX_MODULE_LINES, MAX_FUNCTION_LINES, MAX_PARAMS = 400, 80, 10


def _is_triton_kernel(f: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any("triton" in ast.unparse(d) and "jit" in ast.unparse(d) for d in f.decorator_list)


def over_limits(
    roots: tuple[str, ...] = PRODUCT,
    module_lines: int = MAX_MODULE_LINES,
    function_lines: int = MAX_FUNCTION_LINES,
    params: int = MAX_PARAMS,
) -> list[str]:
    out = []
    for top in roots:
        for p in sorted((REPO / top).rglob("*.py")):
            src = p.read_text()
            rel = p.relative_to(REPO)
            n = len(src.splitlines())
            if n > module_lines:
                out.append(f"{rel}: {n} lines > {module_lines}")
            for f in ast.walk(ast.parse(src)):
                if not isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                length = (f.end_lineno or f.lineno) - f.lineno + 1
                if length > function_lines:
                    out.append(f"{rel}:{f.lineno} {f.name}: {length} lines > {function_lines}")
                a = f.args
                names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
                count = len([x for x in names if x not in ("self", "cls")])
                if count > params and not _is_triton_kernel(f):
                    out.append(f"{rel}:{f.lineno} {f.name}: {count} parameters > {params}")
    return out


def test_every_product_module_and_function_is_within_the_house_limits():
    assert over_limits() == [], "split the module or the function (docs/architecture.md says where things go)"


def test_the_limits_are_checked_at_all():
    got = over_limits(module_lines=100, function_lines=20, params=3)
    assert any(": " in g and "lines > 100" in g for g in got)
    assert any("lines > 20" in g for g in got) and any("parameters > 3" in g for g in got)
