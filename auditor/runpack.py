"""A run directory as one archive, every byte kept: how geak ships its recordings
(runs/recorded/<name>.tar.xz) and how a user hands a run to someone else.

Format ``geak-runpack`` version 1: an xz-compressed POSIX tar whose first member,
``.geak-pack.json``, lists every file of the run with its size and sha256; the other members are
the run's files, relative to its root. A gzip file geak can rebuild byte for byte (the /metrics
snapshots geak gzips, the profiler's traces: deflate at a level found when packing, the header
kept) is stored decompressed, so xz compresses across it (the shipped recordings: 13.0 MB as
plain tar.xz, 10.6 MB so). Unpacking re-gzips it and checks the recorded sha256; a zlib that
encodes differently (zlib-ng) yields the same content in other gzip bytes, checked against the
content's own sha256 and said.

Unpacking writes only the target directory (built in a temporary sibling, renamed into place)
and a stamp beside it naming the archive's sha256, so a later call knows the directory is
current. A directory no stamp names is never replaced. A hostile archive (a path out of the
target, a link, a device, a member the list does not name, a byte that differs, a bomb) is a
``PackError`` naming the archive and the member (runpack_format.py), and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import lzma
import os
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

from .gzip_rebuild import rebuildable
from .runpack_format import (
    FORMAT as FORMAT,
    MANIFEST as MANIFEST,
    VERSION as VERSION,
    PackedFile,
    PackError as PackError,
    PackManifest,
    extract,
    sha256_hex,
)

SUFFIX = ".tar.xz"
# xz -9 with a longer match search: lc=4, pb=0 fit byte-aligned text (JSON, logs) ~1% better than
# the preset's lc=3, pb=2; nice_len 273 at depth 24 gets within 3% of -9e on a profiler trace
# (58 MB of JSON: 1.64 MB in 39 s here, -9e 1.59 MB in 430 s, -9 2.32 MB in 21 s)
_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9, "nice_len": 273, "depth": 24, "lc": 4, "pb": 0}]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- pack


def _walk(run: Path) -> tuple[list[Path], list[str]]:
    files, empty = [], []
    for root, dirs, names in os.walk(run, followlinks=False):
        dirs.sort()
        here = Path(root)
        for d in list(dirs):
            if (here / d).is_symlink():
                raise PackError(f"{here / d}: a link; a packed run holds only regular files")
        for n in sorted(names):
            p = here / n
            if p.is_symlink() or not p.is_file():
                raise PackError(
                    f"{p}: {'a link' if p.is_symlink() else 'not a regular file'}; a packed run holds only regular files"
                )
            files.append(p)
        if not dirs and not names and here != run:
            empty.append(here.relative_to(run).as_posix())
    return files, empty


def _info(name: str, size: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = size, 0, 0o644, 0, 0, "", ""
    return ti


def pack(run: Path, out: Path | None = None) -> Path:
    """Write ``run`` as ``out`` (default: ``<run>.tar.xz`` beside it), atomically. The same run
    gives the same archive bytes. Packed beside itself, the run is stamped as that archive's
    unpacking (a re-recorded runs/recorded/NAME stays where the tests and the README read it)."""
    run = Path(run)
    if not run.is_dir():
        raise PackError(f"{run} is not a directory")
    out = Path(out) if out is not None else run.with_name(run.name + SUFFIX)
    paths, empty = _walk(run)
    rels = {p.relative_to(run).as_posix() for p in paths}
    if MANIFEST in rels:
        raise PackError(f"{run / MANIFEST}: a run may not hold the archive's own manifest name")
    entries: list[tuple[PackedFile, bytes]] = []
    for p in paths:
        rel, data = p.relative_to(run).as_posix(), p.read_bytes()
        entry, body = PackedFile(path=rel, size=len(data), sha256=sha256_hex(data), member=rel), data
        plain = rel[:-3] if rel.endswith(".gz") else None
        if plain and plain not in rels and (got := rebuildable(data)) is not None:
            body, entry.gzip, entry.member = got[0], got[1], plain
        entries.append((entry, body))
    manifest = PackManifest(files=[e for e, _ in entries], empty_dirs=empty)
    head = json.dumps(manifest.model_dump(mode="json"), indent=1, sort_keys=True).encode()
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with lzma.open(tmp, "wb", format=lzma.FORMAT_XZ, filters=_FILTERS) as xz:
            with tarfile.open(fileobj=xz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                tar.addfile(_info(MANIFEST, len(head)), io.BytesIO(head))
                for e, body in entries:
                    tar.addfile(_info(e.member, len(body)), io.BytesIO(body))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    if out.resolve() == run.resolve().with_name(run.name + SUFFIX):
        _write_stamp(run, out, file_sha256(out))  # the run is now exactly its archive's unpacking
    return out


# ---------------------------------------------------------------- unpack


def stamp_path(target: Path) -> Path:
    """Beside the run, not in it: the run directory holds exactly the recording."""
    return target.with_name(f".{target.name}.runpack.json")


def _stamp(target: Path) -> dict[str, Any] | None:
    try:
        obj = json.loads(stamp_path(target).read_text())
        return obj if isinstance(obj, dict) else None
    except (OSError, ValueError):
        return None


def _write_stamp(target: Path, archive: Path, sha: str) -> None:
    s = stamp_path(target)
    tmp = s.with_name(s.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"format": FORMAT, "version": VERSION, "archive": archive.name, "sha256": sha}) + "\n")
    os.replace(tmp, s)


@contextlib.contextmanager
def _locked(archive: Path) -> Iterator[None]:
    """One unpacker per archive at a time (a test session and a command may race); the lock is
    on the archive itself, so no lock file is left beside it."""
    try:
        import fcntl
    except ImportError:  # not POSIX: nothing to lock with
        yield
        return
    with open(archive, "rb") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _holds_nothing(d: Path) -> bool:
    """A directory of (empty) directories only: replacing it loses nothing (a copy of a checkout
    that kept the folders of an unpacking but not its files)."""
    return all(p.is_dir() and not p.is_symlink() for p in d.rglob("*"))


def is_unpacked(target: Path, archive: Path) -> bool:
    """True when ``target`` was unpacked from exactly this archive's bytes."""
    st = _stamp(target)
    return bool(
        target.is_dir() and st and st.get("archive") == archive.name and st.get("sha256") == file_sha256(archive)
    )


def unpack(archive: Path, target: Path | None = None, say: Callable[[str], None] | None = None) -> Path:
    """The run of ``archive`` in ``target`` (default: beside it, named without .tar.xz). A no-op
    when the target is already this archive's unpacking; a stale unpacking (the archive changed
    since) is replaced; any other directory in the way is refused."""
    archive = Path(archive)
    if not archive.is_file():
        raise PackError(f"{archive}: no such archive")
    if target is None:
        if not archive.name.endswith(SUFFIX) or archive.name == SUFFIX:
            raise PackError(f"{archive}: a run archive's name ends in {SUFFIX}")
        target = archive.with_name(archive.name[: -len(SUFFIX)])
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _locked(archive):
            sha = file_sha256(archive)
            st = _stamp(target)
            if target.is_dir() and st and st.get("archive") == archive.name and st.get("sha256") == sha:
                return target
            if target.exists() or target.is_symlink():
                ours = (
                    target.is_dir()
                    and not target.is_symlink()
                    and ((st and st.get("archive") == archive.name) or _holds_nothing(target))
                )
                if not ours:
                    raise PackError(
                        f"{target} exists and was not unpacked from {archive}; move it away, "
                        f"or unpack elsewhere: geak unpack {archive} --to DIR"
                    )
            t0 = time.monotonic()
            tmp = target.with_name(f".{target.name}.unpacking-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            try:
                n, reencoded = extract(archive, tmp)
                stale = None
                if target.exists():
                    stale = target.with_name(f".{target.name}.stale-{os.getpid()}")
                    os.replace(target, stale)
                os.replace(tmp, target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            if stale is not None:
                shutil.rmtree(stale, ignore_errors=True)
            _write_stamp(target, archive, sha)
    except OSError as e:
        raise PackError(
            f"cannot unpack {archive} into {target}: {e.strerror or e}; "
            f"unpack elsewhere: geak unpack {archive} --to DIR"
        ) from None
    if say is not None:
        note = (
            f"; {reencoded} gzip file(s) re-encoded by this zlib in other bytes, their content checked"
            if reencoded
            else "; every byte checked"
        )
        say(
            f"unpacked {archive} into {target}{' (replacing an older unpacking)' if st else ''}: "
            f"{n} files in {time.monotonic() - t0:.1f} s{note}"
        )
    return target


def resolve_run(path: Path, say: Callable[[str], None] | None = None) -> Path:
    """The run directory a user means by ``path``: an archive (unpacked beside it), a directory
    whose archive sits beside it (runs/recorded/NAME for runs/recorded/NAME.tar.xz: unpacked or
    refreshed), or the path itself."""
    path = Path(path)
    if path.name.endswith(SUFFIX) and path.is_file():
        return unpack(path, say=say)
    sibling = path.with_name(path.name + SUFFIX) if path.name else None
    if sibling is not None and sibling.is_file():
        st = _stamp(path)
        if not path.exists() or (st and st.get("archive") == sibling.name) or (path.is_dir() and _holds_nothing(path)):
            return unpack(sibling, path, say=say)
    return path


def shipped(folder: Path) -> list[Path]:
    """The run archives in ``folder``, by name."""
    return sorted(p for p in Path(folder).glob("*" + SUFFIX) if p.is_file() and not p.name.startswith("."))
