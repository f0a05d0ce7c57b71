"""One block list rendered to Markdown and to self-contained HTML, so the two cannot differ."""

from __future__ import annotations

from collections.abc import Sequence

from .blocks import Block, Bullets, Figure, Heading, Para, Table
from .plots import _esc


def _md_cell(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            out.append(f"**{b.text}**" if b.strong else (f"_{b.text}_" if b.tone == "muted" else b.text))
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {i}" for i in b.items))
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(map(_md_cell, b.headers)) + " |", "|" + "---|" * len(b.headers)]
            lines += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in b.rows]
            out.append("\n".join(lines))
        elif isinstance(b, Figure):
            out.append(f"_Plot: {b.caption} (inline SVG in report.html)._")
    return "\n\n".join(out) + "\n"


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;margin:2em auto;max-width:1100px;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #d9dee3;padding-bottom:.2em;margin-top:1.6em}
h3{font-size:1.05em;margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}
th,td{border:1px solid #d9dee3;padding:3px 8px;text-align:left;vertical-align:top}
td:first-child{white-space:nowrap}
th{background:#eef1f4}tr:nth-child(even) td{background:#fafbfc}
p.pass{background:#e8f5e9;border-left:4px solid #2e7d32;padding:.5em .8em}
p.flag{background:#fff4e0;border-left:4px solid #b26a00;padding:.5em .8em}
p.fail{background:#fdecea;border-left:4px solid #c62828;padding:.5em .8em}
p.muted{color:#607d8b}
figure{margin:1em 0}figcaption{color:#607d8b;font-size:12px}
svg.plot text{font-size:11px;fill:#263238}svg.plot text.tick{fill:#607d8b}svg.plot text.ttl{font-weight:600;font-size:12px}
"""


def _html_block(b: Block) -> str:
    if isinstance(b, Heading):
        return f"<h{b.level}>{_esc(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        cls = f' class="{b.tone}"' if b.tone else ""
        body = f"<strong>{_esc(b.text)}</strong>" if b.strong else _esc(b.text)
        return f"<p{cls}>{body}</p>"
    if isinstance(b, Bullets):
        return "<ul>" + "".join(f"<li>{_esc(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Table):
        head = "<tr>" + "".join(f"<th>{_esc(h)}</th>" for h in b.headers) + "</tr>"
        body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in b.rows)
        return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"
    return f"<figure>{b.svg}<figcaption>{_esc(b.caption)}</figcaption></figure>"


def to_html(title: str, blocks: Sequence[Block]) -> str:
    body = "\n".join(_html_block(b) for b in blocks)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>'
        f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )
