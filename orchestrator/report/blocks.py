"""The report's vocabulary: the blocks it is one list of (headings, paragraphs, bullets, tables,
figures) and the formatting of numbers and findings, shared by every section and both renderers.
The sections themselves are in headline_view and sections."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from geak.auditor.api import RULES
from geak.auditor.evidence.models import Finding

from .model import DASH


def non_pass(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.outcome != "pass"]


def rule_title(rule_id: str) -> str:
    r = RULES.get(rule_id)
    return r.title if r else "?"


# ==================================================================== formatting


def fmt_num(x: float | None, digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return DASH
    return f"{x:.{digits}f}"


def fmt_pct(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return DASH
    return f"{x:+.2f}%"


def fmt_ci(ci: tuple[float, float] | None) -> str:
    if ci is None:
        return DASH
    return f"[{ci[0]:+.2f}%, {ci[1]:+.2f}%]"


def fmt_bool(x: bool | None) -> str:
    return DASH if x is None else ("yes" if x else "no")


def fmt_offset_s(x: float) -> str:
    return f"+{x:.1f} s" if x >= 0 else f"{x:.1f} s"


def fmt_finding(f: Finding) -> str:
    where = "; ".join(str(e) for e in f.evidence)
    action = f" → {f.action}" if f.action != "pass" else ""
    return f"{f.rule_id} {f.outcome}{action}: {f.message}" + (f" [{where}]" if where else "")


# ==================================================================== blocks


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


Tone = Literal["", "pass", "flag", "fail", "muted"]


@dataclass(frozen=True)
class Para:
    text: str
    tone: Tone = ""
    strong: bool = False


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    svg: str
    caption: str


Block = Heading | Para | Bullets | Table | Figure
