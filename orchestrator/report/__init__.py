"""The run report: what a run verified, what it only claims, and what is missing.

Built from the run directory's files alone (manifest, decisions, legs, audits, events,
summary); nothing is re-run and the auditor is never called. The auditor's verdict file is
the signature: a number becomes the headline only when the audit of the very decision it
belongs to PASSed, and even then it is re-derived from the raw repetitions, never copied
from the producer's claim.

One list of blocks is rendered twice (Markdown and self-contained HTML with inline SVG),
so the two files cannot tell different stories.
"""

from __future__ import annotations

from typing import Any

from pathlib import Path

from geak.auditor.evidence.store import RunStore

from .blocks import Block, Heading, fmt_ci, fmt_num, fmt_pct
from .headline_view import headline_blocks, headline_text
from .sections import (
    claimed_blocks,
    gate_blocks,
    leg_blocks,
    missing_blocks,
    summary_blocks,
    timeline_blocks,
    timeline_rows,
    verdict_blocks,
    what_if_blocks,
)
from .headline import Headline, headline
from .model import DELTA_SCOPES, RunFiles, gate_rows, latest_decisions, leg_rows, load_run, rederive
from .plots import figure_blocks
from .render import to_html, to_markdown
from geak.auditor.evidence.layout import REPORT_HTML, REPORT_MD


# ==================================================================== API


def band_of(audit: Any) -> float | None:
    """The noise band (%) an audit gated with, from its own policy record; None when it had none."""
    pol = (audit.policy or {}) if audit is not None else {}
    band = pol.get("noise_band_pct")
    return None if pol.get("noise_band_unknown") or not isinstance(band, (int, float)) else float(band)


def report_blocks(run: RunFiles) -> tuple[str, list[Block]]:
    run_id = run.manifest.run_id if run.manifest else (run.summary.run_id if run.summary else run.root.name)
    title = f"geak report: {run_id}"
    legs = leg_rows(run)
    gates = gate_rows(run)
    latest = latest_decisions(run.decisions)
    rederived = {g: rederive(run.evidence, d) for g, d in latest.items() if d.scope in DELTA_SCOPES}
    labels = {g.gate_id: g.verdict_label for g in gates}
    bands = {g.gate_id: band_of(g.audit) for g in gates}
    deltas = [(latest[g], n, labels.get(g, "not audited"), bands.get(g)) for g, n in rederived.items()]
    timeline = timeline_rows(run.events)
    blocks: list[Block] = [Heading(title, 1)]
    blocks += headline_blocks(headline(run))
    blocks += what_if_blocks(run)
    blocks += summary_blocks(run)
    blocks += missing_blocks(run)
    blocks += gate_blocks(gates, run.summary is not None)
    blocks += claimed_blocks(run, rederived)
    blocks += verdict_blocks(run, gates)
    blocks += leg_blocks(legs)
    blocks += timeline_blocks(timeline)
    blocks += figure_blocks(legs, deltas, timeline)
    return title, blocks


def build_report(run_dir: str | Path) -> tuple[str, str]:
    """(Markdown, HTML) of a run directory. Reads files only; renders whatever is there."""
    title, blocks = report_blocks(load_run(run_dir))
    return to_markdown(blocks), to_html(title, blocks)


def write_report(run_dir: str | Path) -> tuple[Path, Path]:
    """Write RUN/report.md and RUN/report.html, each atomically (tmp + fsync + rename)."""
    md, page = build_report(run_dir)
    store = RunStore(run_dir)
    return store.write_text(REPORT_MD, md), store.write_text(REPORT_HTML, page)


__all__ = [
    "Headline",
    "RunFiles",
    "build_report",
    "fmt_ci",
    "fmt_num",
    "fmt_pct",
    "headline",
    "headline_text",
    "load_run",
    "write_report",
]
