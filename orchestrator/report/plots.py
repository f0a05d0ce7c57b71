"""The report's figures as inline SVG: throughput and TTFT per leg, deltas with their CI, the timeline."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
from dataclasses import dataclass

from geak.auditor import stats
from geak.auditor.evidence.models import Decision
from geak.orchestrator.events import RunEvent

from .blocks import Block, Figure, Heading, fmt_ci, fmt_num, fmt_offset_s, fmt_pct
from .model import CI_CONFIDENCE, ROLE_ORDER, LegRow, Rederived

LABEL_MIN_W, LABEL_MAX_W = 120, 520
CHAR_W = 6.8  # px per character of an 11px label (CSS below): generous, so a label is never cut
PLOT_W = 520
RIGHT_PAD = 24
ROW_H = 24
TOP_PAD = 30
AXIS_H = 40
BAND_FILL = "#cfd8dc"


def label_width(labels: Sequence[str]) -> float:
    """The left margin that holds the longest row label whole (a label longer than the widest margin
    is shortened in the middle, never at its start)."""
    longest = max((len(x) for x in labels), default=0)
    return min(LABEL_MAX_W, max(LABEL_MIN_W, longest * CHAR_W + 16))


def fit_label(label: str, width: float) -> str:
    room = int((width - 16) / CHAR_W)
    if len(label) <= room:
        return label
    keep = max(room - 1, 2)
    return label[: keep // 2] + "…" + label[len(label) - (keep - keep // 2) :]


VERDICT_COLOURS = {"PASS": "#2e7d32", "FLAG": "#b26a00", "FAIL": "#c62828"}
NEUTRAL = "#607d8b"
ROLE_COLOURS = dict(zip(ROLE_ORDER, ("#1565c0", "#6a1b9a", "#00838f", "#2e7d32", "#ef6c00", "#8d6e63", "#546e7a")))


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo
    if span <= 0 or not math.isfinite(span):
        return [lo]
    raw = span / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(k * mag for k in (1, 2, 2.5, 5, 10) if k * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    n = math.floor((hi - first) / step + 1e-9) + 1
    return [round(first + i * step, 10) for i in range(max(n, 0))]


@dataclass(frozen=True)
class Axis:
    lo: float
    hi: float
    left: float = LABEL_MIN_W  # where the plot area starts: the row labels' margin

    def x(self, v: float) -> float:
        return self.left + (v - self.lo) / (self.hi - self.lo) * PLOT_W


def axis_for(values: Sequence[float], include_zero: bool = False, left: float = LABEL_MIN_W) -> Axis:
    vals = [v for v in values if math.isfinite(v)] + ([0.0] if include_zero else [])
    if not vals:
        return Axis(0.0, 1.0, left)
    lo, hi = min(vals), max(vals)
    pad = (hi - lo) * 0.06 or max(abs(lo) * 0.05, 1.0)
    return Axis(lo - pad, hi + pad, left)


def row_y(i: int) -> float:
    return TOP_PAD + i * ROW_H + ROW_H / 2


def _esc(s: object) -> str:
    return html.escape(str(s), quote=True)


def _text(x: float, y: float, s: str, anchor: str = "start", cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{c}>{_esc(s)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, width: float = 1.0, dash: str = "") -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" stroke-width="{width}"{d}/>'
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, opacity: float = 1.0, tip: str = "", cls: str = "") -> str:
    t = f"<title>{_esc(tip)}</title>" if tip else ""
    c = f'class="{cls}" ' if cls else ""
    return (
        f'<rect {c}x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{h:.1f}" fill="{fill}" '
        f'fill-opacity="{opacity}">{t}</rect>'
    )


def _circle(x: float, y: float, r: float, fill: str, tip: str) -> str:
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}"><title>{_esc(tip)}</title></circle>'


def row_chart(
    title: str, x_label: str, labels: Sequence[str], axis: Axis, marks: Sequence[str], under: Sequence[str] = ()
) -> str:
    """Rows of marks against one shared horizontal axis, with gridlines and row labels; ``under``:
    marks drawn below the gridlines (a shaded band)."""
    left = axis.left
    width = left + PLOT_W + RIGHT_PAD
    height = TOP_PAD + len(labels) * ROW_H + AXIS_H
    bottom = TOP_PAD + len(labels) * ROW_H
    svg_open = (
        f'<svg viewBox="0 0 {width:.0f} {height}" width="{width:.0f}" height="{height}" role="img" '
        f'aria-label="{_esc(title)}" class="plot">'
    )
    parts = [svg_open, _text(width / 2, 18, title, "middle", "ttl")]
    for i, label in enumerate(labels):
        if i % 2:
            parts.append(_rect(left, row_y(i) - ROW_H / 2, PLOT_W, ROW_H, "#f3f5f7"))
        parts.append(_text(left - 8, row_y(i) + 4, fit_label(label, left), "end", "lbl"))
    parts += under
    for t in nice_ticks(axis.lo, axis.hi):
        x = axis.x(t)
        parts.append(_line(x, TOP_PAD, x, bottom, "#dde1e5"))
        parts.append(_text(x, bottom + 14, f"{t:g}", "middle", "tick"))
    parts.append(_line(left, bottom, left + PLOT_W, bottom, "#90a4ae"))
    parts.append(_text(left + PLOT_W / 2, bottom + 32, x_label, "middle", "tick"))
    parts += marks
    parts.append("</svg>")
    return "".join(parts)


def _box_marks(i: int, axis: Axis, q: Sequence[float], colour: str, tip: str) -> list[str]:
    """Box from q[1] to q[3], whiskers to q[0] and q[4], median bar at q[2]."""
    y, h = row_y(i), ROW_H * 0.55
    p5, p25, p50, p75, p95 = (axis.x(v) for v in q)
    return [
        _line(p5, y, p95, y, colour),
        _line(p5, y - h / 3, p5, y + h / 3, colour),
        _line(p95, y - h / 3, p95, y + h / 3, colour),
        _rect(p25, y - h / 2, p75 - p25, h, colour, 0.25, tip),
        _line(p50, y - h / 2, p50, y + h / 2, colour, 2.0),
    ]


def quantiles(xs: Sequence[float] | np.ndarray, qs: Sequence[float]) -> list[float] | None:
    out = [stats.percentile(xs, q) for q in qs]
    return None if any(v is None for v in out) else [float(v) for v in out if v is not None]


def _leg_label(r: LegRow) -> str:
    return f"{r.leg_id} · {r.role or '?'}"


def throughput_plot(rows: Sequence[LegRow]) -> str:
    labels = [_leg_label(r) for r in rows]
    axis = axis_for([v for r in rows for v in r.rep_output_tok_s], left=label_width(labels))
    marks: list[str] = []
    for i, r in enumerate(rows):
        colour = ROLE_COLOURS.get(r.role or "", NEUTRAL)
        q = quantiles(r.rep_output_tok_s, (0, 25, 50, 75, 100))
        if q is None:
            marks.append(_text(axis.left + 6, row_y(i) + 4, "no counted reps", cls="tick"))
            continue
        marks += _box_marks(i, axis, q, colour, f"{r.leg_id}: median {fmt_num(q[2])} tok/s over {r.counted_reps} reps")
        for j, v in enumerate(r.rep_output_tok_s):
            jitter_px = ((j % 5) - 2) * 2.0  # deterministic, so equal reps stay visible
            marks.append(_circle(axis.x(v), row_y(i) + jitter_px, 2.6, colour, f"{r.leg_id} rep {j}: {v:.1f} tok/s"))
    return row_chart("Output throughput per counted rep, by leg (grouped by role)", "output tok/s", labels, axis, marks)


def ttft_plot(rows: Sequence[LegRow]) -> str:
    qs = {r.leg_id: quantiles(r.ttft_ms, (5, 25, 50, 75, 95)) for r in rows}
    labels = [_leg_label(r) for r in rows]
    axis = axis_for([v for q in qs.values() if q for v in (q[0], q[4])], left=label_width(labels))
    marks: list[str] = []
    for i, r in enumerate(rows):
        q = qs[r.leg_id]
        if q is None:
            marks.append(_text(axis.left + 6, row_y(i) + 4, "no per-request TTFT", cls="tick"))
            continue
        tip = f"{r.leg_id}: p5 {q[0]:.1f}, p25 {q[1]:.1f}, median {q[2]:.1f}, p75 {q[3]:.1f}, p95 {q[4]:.1f} ms"
        marks += _box_marks(i, axis, q, ROLE_COLOURS.get(r.role or "", NEUTRAL), tip)
    return row_chart(
        "TTFT per request, counted reps pooled (box p25-p75, whiskers p5-p95)", "TTFT ms", labels, axis, marks
    )


def delta_plot(items: Sequence[tuple[Decision, Rederived, str, float | None]]) -> str:
    """items: (decision, re-derived numbers, verdict label, the noise band % its audit gated with:
    None when unknown) per patch/bundle gate. Each gate's band is shaded around zero on its row, so a
    delta inside it, the FLAG, shows."""
    labels = [f"{d.gate_id} ({label})" for d, _, label, _ in items]
    vals = [
        v
        for _, n, _, band in items
        for v in ((n.delta_pct,) + (n.ci_pct or ()) + ((band, -band) if band else ()))
        if v is not None
    ]
    axis = axis_for(vals, include_zero=True, left=label_width(labels))
    marks: list[str] = []
    under: list[str] = []
    for i, (d, n, label, band) in enumerate(items):
        colour = VERDICT_COLOURS.get(label, NEUTRAL)
        y = row_y(i)
        if band:
            lo, hi = axis.x(-band), axis.x(band)
            under.append(
                _rect(
                    lo,
                    y - ROW_H / 2,
                    hi - lo,
                    ROW_H,
                    BAND_FILL,
                    0.8,
                    f"{d.gate_id}: noise band ±{band:.2f}% (the band its audit gated with)",
                    cls="band",
                )
            )
        if n.delta_pct is None:
            marks.append(_text(axis.left + 6, y + 4, "not re-derivable", cls="tick"))
            continue
        x0, x1 = sorted((axis.x(0.0), axis.x(n.delta_pct)))
        tip = f"{d.gate_id}: {fmt_pct(n.delta_pct)}, {CI_CONFIDENCE:.0%} CI {fmt_ci(n.ci_pct)}, verdict {label}"
        marks.append(_rect(x0, y - ROW_H * 0.3, x1 - x0, ROW_H * 0.6, colour, 0.7, tip))
        if n.ci_pct:
            lo, hi = axis.x(n.ci_pct[0]), axis.x(n.ci_pct[1])
            marks += [
                _line(lo, y, hi, y, "#263238", 1.5),
                _line(lo, y - 5, lo, y + 5, "#263238", 1.5),
                _line(hi, y - 5, hi, y + 5, "#263238", 1.5),
            ]
    zero = axis.x(0.0)
    marks.append(_line(zero, TOP_PAD - 4, zero, TOP_PAD + len(items) * ROW_H, "#263238", 1.2, "4 3"))
    title = f"Re-derived delta per patch/bundle gate, with bootstrap {CI_CONFIDENCE:.0%} CI"
    if any(band for *_, band in items):
        title += "; shaded: the noise band each gate was judged against"
    return row_chart(title, "delta % (positive = better)", labels, axis, marks, under)


def _event_colour(e: RunEvent) -> str:
    if e.verdict in VERDICT_COLOURS:
        return VERDICT_COLOURS[e.verdict]
    return {
        "error": "#c62828",
        "bank": "#2e7d32",
        "withhold": "#b26a00",
        "withdraw": "#b26a00",
        "unaudited": "#b26a00",
        "passthrough": "#8d6e63",
    }.get(e.event, NEUTRAL)


def timeline_plot(rows: Sequence[tuple[float, RunEvent]]) -> str:
    nodes: list[str] = []
    for _, e in rows:
        if e.node not in nodes:
            nodes.append(e.node)
    axis = axis_for([dt for dt, _ in rows], left=label_width(nodes))
    marks = [
        _circle(
            axis.x(dt),
            row_y(nodes.index(e.node)),
            4,
            _event_colour(e),
            f"{fmt_offset_s(dt)} {e.node} {e.event}: {e.message}" + (f" [{e.verdict}]" if e.verdict else ""),
        )
        for dt, e in rows
    ]
    return row_chart(
        "Timeline: events by node (colour: verdict / bank / withhold)",
        "seconds since the first event",
        nodes,
        axis,
        marks,
    )


def figure_blocks(
    legs: Sequence[LegRow],
    deltas: Sequence[tuple[Decision, Rederived, str, float | None]],
    timeline: Sequence[tuple[float, RunEvent]],
) -> list[Block]:
    out: list[Block] = [Heading("Plots")]
    if legs:
        out.append(Figure(throughput_plot(legs), "per-leg output throughput per counted rep"))
        out.append(Figure(ttft_plot(legs), "per-leg TTFT distribution"))
    if deltas:
        out.append(Figure(delta_plot(deltas), "re-derived delta per patch/bundle decision"))
    if timeline:
        out.append(Figure(timeline_plot(timeline), "timeline"))
    return out if len(out) > 1 else []


# ==================================================================== rendering
