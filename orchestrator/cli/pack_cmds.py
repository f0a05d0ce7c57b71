"""`geak pack` and `geak unpack`: a run directory as one archive with every byte kept (how the
shipped recordings travel: runs/recorded/NAME.tar.xz, unpacked into runs/recorded/NAME)."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import app, console, err, usage


@app.command("pack")
def pack_cmd(
    run_dir: Path = typer.Argument(..., help="a run directory"),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="the archive to write (default: RUN_DIR.tar.xz beside it)"
    ),
) -> None:
    """Write RUN_DIR as one .tar.xz (deterministic; every file's sha256 listed and checked on unpack)."""
    from geak.auditor.runpack import SUFFIX, PackError, pack

    if out is not None and not out.name.endswith(SUFFIX):
        usage(f"--out {out}: a run archive's name ends in {SUFFIX}")
    try:
        a = pack(run_dir, out)
    except PackError as e:
        usage(str(e))
    console.print(f"packed {run_dir} into {a} ({a.stat().st_size / 1e6:.2f} MB)")


@app.command("unpack")
def unpack_cmd(
    archives: list[Path] | None = typer.Argument(None, help="run archives (default: every runs/recorded/*.tar.xz)"),
    to: Path | None = typer.Option(None, "--to", help="unpack the one archive here instead of beside it"),
) -> None:
    """Unpack run archives beside themselves (runs/recorded/NAME.tar.xz -> runs/recorded/NAME);
    an unpacking that is current is left alone, a stale one replaced. geak audit, replay, report
    and backtest do this themselves for a path whose archive sits beside it."""
    from geak.auditor.runpack import PackError, shipped, unpack

    todo = list(archives or shipped(Path("runs/recorded")))
    if not todo:
        usage("no archives given and none in runs/recorded; run this from a geak checkout or name the archives")
    if to is not None and len(todo) != 1:
        usage("--to takes one archive")
    for a in todo:
        try:
            d = unpack(a, to, say=lambda line: err.print(line, highlight=False))
        except PackError as e:
            usage(str(e))
        console.print(f"{a} -> {d}")
