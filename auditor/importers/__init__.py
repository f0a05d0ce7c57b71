"""Importers: turn evidence produced elsewhere into a geak run directory."""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from ._common import ImportReport
from .bench import import_sglang_bench, import_vllm_bench
from .geak_v4 import import_geak_v4

IMPORTERS: dict[str, Callable[..., ImportReport]] = {
    "geak-v4": import_geak_v4,
    "vllm-bench": import_vllm_bench,
    "sglang-bench": import_sglang_bench,
}


def get_importer(name: str) -> Callable[..., Any]:
    try:
        return IMPORTERS[name]
    except KeyError:
        raise KeyError(f"unknown importer {name!r}; known: {', '.join(sorted(IMPORTERS))}") from None


__all__ = ["IMPORTERS", "ImportReport", "get_importer", "import_geak_v4", "import_sglang_bench", "import_vllm_bench"]
