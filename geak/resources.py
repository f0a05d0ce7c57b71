"""Where geak's shipped files are: skills/, prompts/, workflows/ and models/ are package data
(pyproject maps each to a geak.<name> package), found through the import system, so a plain
`pip install .` works as well as a source checkout (where they are the repository's folders)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

ASSETS = ("skills", "prompts", "workflows", "models")


def asset_dir(name: str) -> Path:
    """The directory of one shipped asset kind. ValueError lists the known kinds."""
    if name not in ASSETS:
        raise ValueError(f"unknown asset {name!r}; known: {', '.join(ASSETS)}")
    # data-only folders are namespace packages: their search location is the folder itself,
    # in a wheel install, an editable install (the path mapping) and a source tree alike
    spec = find_spec(f"geak.{name}")
    locs = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locs:
        raise FileNotFoundError(f"geak.{name}: not installed with geak; reinstall geak (pip install .)")
    return Path(locs[0])


def assets_root() -> Path:
    """The directory holding skills/ and prompts/ side by side: the repository root in a source
    checkout, site-packages/geak in an install."""
    return asset_dir("skills").parent


def source_checkout() -> Path | None:
    """The repository geak runs from (an editable install or the tree itself), or None for an
    installed wheel: the folder above the auditor package, when it holds the development corpus."""
    spec = find_spec("geak.auditor")
    locs = list(spec.submodule_search_locations or []) if spec is not None else []
    root = Path(locs[0]).resolve().parent if locs else None
    return (
        root
        if root is not None and (root / "corpus" / "plants.py").is_file() and (root / "pyproject.toml").is_file()
        else None
    )
