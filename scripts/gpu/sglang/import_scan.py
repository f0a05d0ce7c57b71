"""Static import scan of an unpacked site (the bundle's packages), to see before a GPU call what a
server start would import that the bundle lacks. No GPU and no CUDA import is needed: the source
is parsed, not run.

From the entry modules it follows every import that runs when a module is loaded (module and
class bodies; function bodies run later, on some code path only) through the modules present in
SITE, and reports each import of a top-level package that SITE does not hold, with how it is
reached:
  plain    unconditional: the start fails if the package is missing
  guarded  inside try/except that catches ImportError (or Exception / bare except)
  if       inside an if-block (usually a platform test: is_cuda(), is_hip(), ...)
  lazy     inside a function of a reached module: imported only when that code runs
A chain is as weak as its weakest link: a plain import in a module reached only through a guarded
one counts as guarded. `if TYPE_CHECKING:` blocks are skipped. Missing packages the GPU machine
has (machine.txt beside this; torch, transformers, ...) are listed apart.

Blind spots: a handler that re-raises still counts as a guard (sgl_kernel.flash_attn turns a
missing flash_ops into ImportError: read such sites), and the value of an `if` is not known.

  usage: import_scan.py SITE [--entry MOD ...] [--have machine.txt] [--lazy] [--why PKG]
                             [--imports-of MODULE]
  e.g.   import_scan.py /tmp/site-sglang --imports-of sgl_kernel.flash_attn --why cutlass
"""

from __future__ import annotations

import argparse
import ast
import collections
import os
import re
import sys
from pathlib import Path

# What `python -m sglang.launch_server` loads in its three kinds of processes (the HTTP server,
# the scheduler that runs the model, the detokenizer), what a Llama with the triton attention
# backend and the pytorch sampler imports, and the client the engine adapter runs.
DEFAULT_ENTRIES = [
    "sglang.launch_server",
    "sglang.srt.entrypoints.http_server",
    "sglang.srt.managers.scheduler",
    "sglang.srt.managers.detokenizer_manager",
    "sglang.srt.managers.tokenizer_manager",
    "sglang.srt.model_executor.model_runner",
    "sglang.srt.model_loader.loader",
    "sglang.srt.models.llama",
    "sglang.srt.layers.attention.triton_backend",
    "sglang.srt.layers.sampler",
    "sglang.benchmark.serving",
]

KINDS = ("plain", "guarded", "if", "lazy")

# distribution name -> top-level module, where they differ beyond `-` -> `_`
DIST_TO_MODULE = {
    "pillow": "PIL",
    "pyyaml": "yaml",
    "nvidia-ml-py": "pynvml",
    "opencv-python-headless": "cv2",
    "scikit-learn": "sklearn",
    "scikit-image": "skimage",
    "py-cpuinfo": "cpuinfo",
    "python-dateutil": "dateutil",
    "protobuf": "google",
    "grpcio": "grpc",
    "cuda-bindings": "cuda",
    "cuda-core": "cuda",
    "cuda-pathfinder": "cuda",
}


def machine_modules(path: Path) -> set[str]:
    """Top-level modules of the packages a name[==version] list (machine.txt) names."""
    out = set()
    for ln in path.read_text().splitlines():
        name = ln.split("#")[0].split("==")[0].strip().lower()
        if name:
            out.add(DIST_TO_MODULE.get(name, name.replace("-", "_")))
    return out


def _catches_import_error(handlers: list[ast.ExceptHandler]) -> bool:
    names: set[str] = set()
    for h in handlers:
        if h.type is None:
            return True
        for n in h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]:
            if isinstance(n, ast.Name):
                names.add(n.id)
            elif isinstance(n, ast.Attribute):
                names.add(n.attr)
    return bool(names & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException", "OSError"})


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """Collects (module, kind, lineno) for every import in one file."""

    def __init__(self, modname: str, is_pkg: bool) -> None:
        self.modname, self.is_pkg = modname, is_pkg
        self.found: list[tuple[str, str, int]] = []
        self._ctx: list[str] = []

    def _kind(self) -> str:
        # the weakest context wins for a failing import: lazy > guarded > if > plain
        for k in ("lazy", "guarded", "if"):
            if k in self._ctx:
                return k
        return "plain"

    def _abs(self, module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        base = self.modname.split(".")
        if not self.is_pkg:
            base = base[:-1]
        base = base[: len(base) - (level - 1)] if level > 1 else base
        return ".".join(base + ([module] if module else []))

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.found.append((a.name, self._kind(), node.lineno))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = self._abs(node.module, node.level)
        self.found.append((mod, self._kind(), node.lineno))
        for a in node.names:
            if a.name != "*":  # may be a submodule; resolved against the site later
                self.found.append((f"{mod}.{a.name}", self._kind() + "?", node.lineno))

    def visit_Call(self, node: ast.Call) -> None:
        # importlib.import_module("x") / __import__("x") with a literal name
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            if isinstance(node.args[0].value, str) and not node.args[0].value.startswith("."):
                self.found.append((node.args[0].value, self._kind(), node.lineno))
        self.generic_visit(node)

    def visit_With(self, node: ast.With) -> None:
        # `with suppress(ImportError):` guards like a try
        guarded = any(
            isinstance(i.context_expr, ast.Call)
            and getattr(i.context_expr.func, "id", getattr(i.context_expr.func, "attr", "")) == "suppress"
            for i in node.items
        )
        self._nested("guarded" if guarded else "plain", node.body)

    def _nested(self, kind: str, body: list[ast.stmt]) -> None:
        self._ctx.append(kind)
        for s in body:
            self.visit(s)
        self._ctx.pop()

    def visit_Try(self, node: ast.Try) -> None:
        self._nested("guarded" if _catches_import_error(node.handlers) else "plain", node.body)
        for h in node.handlers:
            self._nested("if", h.body)  # a fallback runs only when the try failed
        self._nested("if", node.orelse)
        for s in node.finalbody:
            self.visit(s)

    visit_TryStar = visit_Try

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._nested("if", node.orelse)
            return
        self._nested("if", node.body)
        self._nested("if", node.orelse)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._ctx.append("lazy")
        self.generic_visit(node)
        self._ctx.pop()

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef


class Site:
    def __init__(self, root: Path) -> None:
        self.root = root
        # a .pth file adds folders to sys.path (nvidia-cutlass-dsl puts `cutlass` in one)
        self.roots = [root]
        for pth in root.glob("*.pth"):
            for ln in pth.read_text().splitlines():
                ln = ln.strip()
                # plain folder lines, and the `X.__path__[0], 'sub'` form of an import line
                cands = [ln] if not ln.startswith(("#", "import")) else []
                cands += [f"{a}/{b}" for a, b in re.findall(r"(\w+)\.__path__\[0\],\s*['\"]([^'\"]+)", ln)]
                self.roots += [root / c for c in cands if c and (root / c).is_dir()]
        self.top = {p.name.split(".")[0].split("-")[0] for r in self.roots for p in r.iterdir()} - {"__pycache__"}
        self._cache: dict[str, list[tuple[str, str, int]]] = {}

    def path(self, mod: str) -> tuple[Path, bool] | None:
        for r in self.roots:
            p = r.joinpath(*mod.split("."))
            if (p / "__init__.py").is_file():
                return p / "__init__.py", True
            if p.with_suffix(".py").is_file():
                return p.with_suffix(".py"), False
            if p.is_dir():  # namespace package
                return p, True
            if any(p.parent.glob(p.name + ".*.so")) or p.with_suffix(".so").is_file():
                return p, False  # an extension module: nothing to parse
        return None

    def imports(self, mod: str) -> list[tuple[str, str, int]]:
        if mod not in self._cache:
            found = self.path(mod)
            out: list[tuple[str, str, int]] = []
            if found and found[0].is_file():
                try:
                    tree = ast.parse(found[0].read_bytes(), filename=str(found[0]))
                except SyntaxError:
                    tree = ast.Module(body=[], type_ignores=[])
                v = _Imports(mod, found[1])
                v.visit(tree)
                out = v.found
            self._cache[mod] = out
        return self._cache[mod]


RANK = {"plain": 3, "if": 2, "guarded": 1, "lazy": 0}


def scan(
    site_dir: str | os.PathLike[str],
    entries: list[str],
    parent: dict[str, str] | None = None,
    imports_of: dict[str, dict[str, list[str]]] | None = None,
) -> dict[str, dict[str, list[str]]]:
    """{missing top-level package: {kind: ["importer:line", ...]}} for imports reached at load.

    A chain is as weak as its weakest link: a plain import inside a module that is itself reached
    only through a guarded import counts as guarded. Each module is reached at the strongest
    level any chain gives it (plain > if > guarded). parent, if given, is filled with who first
    imported each module at that level (for --why). imports_of, if given, maps module prefixes
    (sgl_kernel.flash_attn) to {kind: importers}, whether or not the module exists in the site."""
    site = Site(Path(site_dir))
    parent = {} if parent is None else parent
    reach: dict[str, int] = {}
    for level in (3, 2, 1):
        seen: set[str] = set()
        todo = collections.deque(entries)  # breadth first: --why shows short chains
        while todo:
            mod = todo.popleft()
            if mod in seen:
                continue
            seen.add(mod)
            reach.setdefault(mod, level)
            parts = mod.split(".")
            for i in range(1, len(parts)):  # a package's __init__ loads before its modules
                pkg = ".".join(parts[:i])
                if pkg not in seen:
                    if reach.get(pkg, level) == level and pkg not in entries:
                        parent.setdefault(pkg, f"{mod} (parent package)")
                    todo.append(pkg)
            for target, kind, line in site.imports(mod):
                kind = kind.rstrip("?")
                top = target.split(".")[0]
                if RANK[kind] < level or top not in site.top or not site.path(target) or target in seen:
                    continue
                if reach.get(target, level) == level and target not in entries:
                    parent.setdefault(target, f"{mod}:{line} ({kind})")
                todo.append(target)
    missing: dict[str, dict[str, list[str]]] = {}
    for mod, level in reach.items():
        for target, kind, line in site.imports(mod):
            for prefix, hits in (imports_of or {}).items():
                if target == prefix or target.startswith(prefix + "."):
                    eff = min(level, RANK[kind.rstrip("?")])
                    hits.setdefault(next(k for k, r in RANK.items() if r == eff), []).append(f"{mod}:{line}")
            if kind.endswith("?"):
                continue  # `from pkg import name`: the module part is recorded on its own
            top = target.split(".")[0]
            if not top or top in sys.stdlib_module_names or top in ("__future__", "__main__") or top in site.top:
                continue
            eff = min(level, RANK[kind])
            name = next(k for k, r in RANK.items() if r == eff)
            missing.setdefault(top, {}).setdefault(name, []).append(f"{mod}:{line}")
    for kinds in missing.values():
        for v in kinds.values():
            v.sort()
    return missing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("site")
    ap.add_argument("--entry", action="append", help="entry module (default: the server's)")
    ap.add_argument("--have", default=str(Path(__file__).with_name("machine.txt")), help="the machine's packages")
    ap.add_argument("--lazy", action="store_true", help="also list imports inside functions")
    ap.add_argument("--why", action="append", default=[], help="print how PKG's first importers are reached")
    ap.add_argument("--imports-of", action="append", default=[], help="list every reached import of MODULE (lazy too)")
    a = ap.parse_args()
    have = machine_modules(Path(a.have))
    parent: dict[str, str] = {}
    imports_of: dict[str, dict[str, list[str]]] = {m: {} for m in a.imports_of}
    res = scan(a.site, a.entry or DEFAULT_ENTRIES, parent, imports_of)
    for m, hits in imports_of.items():
        for kind in KINDS:
            for where in sorted(set(hits.get(kind, []))):
                print(f"imports of {m} [{kind}]: {where}")
    for top in a.why:
        for kind, where in res.get(top, {}).items():
            if kind == "lazy" and not a.lazy:
                continue
            chain, mod = [f"{where[0]} ({kind})"], where[0].split(":")[0]
            seen = {mod}
            while mod in parent and parent[mod].split(":")[0] not in seen:
                seen.add(parent[mod].split(":")[0])
                chain.append(parent[mod])
                mod = parent[mod].split(":")[0]
            print(f"why {top} [{kind}]: " + " <- ".join(chain))
    for group, keep in (("NOT on the machine", lambda t: t not in have), ("on the machine", lambda t: t in have)):
        print(f"== missing from the site, {group}")
        for top in sorted(t for t in res if keep(t)):
            kinds = res[top]
            shown = [k for k in KINDS if k in kinds and (a.lazy or k != "lazy")]
            if not shown:
                continue
            print(f"{top}: " + "; ".join(f"{k} {len(kinds[k])} (e.g. {kinds[k][0]})" for k in shown))


if __name__ == "__main__":
    main()
