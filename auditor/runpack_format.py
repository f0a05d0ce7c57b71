"""The geak-runpack format (runpack.py), and the reading of one archive held to it.

An archive may be hostile: a path out of the target, a link, a device, a member the manifest
does not name, a byte that differs, a bomb. Apart from runpack.py, which packs a run and keeps
an unpacking current (stamps, locks, the directory swap), because everything here decides
whether an archive's bytes may become a run, and it raises ``PackError`` naming the archive and
the member.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from .gzip_rebuild import GzipRebuild, gzip_bytes

MANIFEST = ".geak-pack.json"
FORMAT = "geak-runpack"
VERSION = 1
MAX_UNPACKED_BYTES = 4 << 30  # a recording is tens of MB; beyond this it is a bomb
MAX_FILES = 200_000
MAX_MANIFEST_BYTES = 64 << 20


class PackError(ValueError):
    """An archive (or a run directory being packed) that cannot be taken as it is."""


class PackedFile(BaseModel):
    path: str = Field(description="relative to the run's root, '/'-separated")
    size: int = Field(ge=0, description="bytes of the file in the run")
    sha256: str
    member: str = Field(description="the tar member holding it (the path, or the path less .gz when gzip is set)")
    gzip: GzipRebuild | None = None


class PackManifest(BaseModel):
    format: Literal["geak-runpack"] = "geak-runpack"
    version: int = VERSION
    files: list[PackedFile]
    empty_dirs: list[str] = Field(default_factory=list)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- read


def _safe_rel(archive: Path, name: str, what: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if (
        not name
        or "\0" in name
        or "\\" in name
        or p.is_absolute()
        or any(x in ("", ".", "..") for x in name.split("/"))
    ):
        raise PackError(f"{archive}: {what} {name!r} is not a plain path inside the run")
    return p


def _read_manifest(archive: Path, tar: tarfile.TarFile, first: tarfile.TarInfo | None) -> PackManifest:
    if first is None or first.name != MANIFEST or not first.isreg():
        raise PackError(
            f"{archive}: not a geak run archive (its first member is not {MANIFEST}); make one with `geak pack RUN_DIR`"
        )
    if first.size > MAX_MANIFEST_BYTES:
        raise PackError(f"{archive}: member {MANIFEST} is {first.size} bytes, over {MAX_MANIFEST_BYTES >> 20} MiB")
    fh = tar.extractfile(first)
    if fh is None:
        raise PackError(f"{archive}: member {MANIFEST} is not a regular file")
    raw = fh.read()
    try:
        obj = json.loads(raw)
    except ValueError as e:
        raise PackError(f"{archive}: member {MANIFEST} is not JSON: {e}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise PackError(f"{archive}: member {MANIFEST} field 'format' is not {FORMAT!r}")
    if obj.get("version") != VERSION:
        raise PackError(
            f"{archive}: member {MANIFEST} field 'version' is {obj.get('version')!r}; this geak reads version "
            f"{VERSION}: upgrade geak"
        )
    try:
        m = PackManifest.model_validate(obj)
    except ValidationError as e:
        x = e.errors()[0]
        raise PackError(f"{archive}: member {MANIFEST} field '{'.'.join(map(str, x['loc']))}': {x['msg']}") from None
    if len(m.files) > MAX_FILES or sum(f.size for f in m.files) > MAX_UNPACKED_BYTES:
        raise PackError(
            f"{archive}: member {MANIFEST} lists more than {MAX_FILES} files or {MAX_UNPACKED_BYTES >> 30} GiB"
        )
    return m


def _read_member(archive: Path, tar: tarfile.TarFile, ti: tarfile.TarInfo, cap: int) -> bytes:
    if ti.size > cap:
        raise PackError(f"{archive}: member {ti.name!r} is {ti.size} bytes, more than the manifest says ({cap})")
    fh = tar.extractfile(ti)
    if fh is None:
        raise PackError(f"{archive}: member {ti.name!r} is not a regular file")
    return fh.read()


def extract(archive: Path, dest: Path) -> tuple[int, int]:
    """Write the run of ``archive`` into the empty directory ``dest``: (files, gzip files whose
    bytes this zlib could not reproduce)."""
    reencoded = 0
    try:
        with tarfile.open(archive, mode="r|xz") as tar:
            members = iter(tar)  # a stream: each member once, in order
            m = _read_manifest(archive, tar, next(members, None))
            want: dict[str, PackedFile] = {}
            for f in m.files:
                _safe_rel(archive, f.path, "file")
                _safe_rel(archive, f.member, "member")
                if f.member in want or f.member == MANIFEST:
                    raise PackError(f"{archive}: member {MANIFEST} names member {f.member!r} twice")
                want[f.member] = f
            if len({f.path for f in m.files}) != len(m.files):
                raise PackError(f"{archive}: member {MANIFEST} names one file twice")
            for ti in members:
                if ti.name not in want:
                    raise PackError(
                        f"{archive}: member {ti.name!r} is not in its {MANIFEST} (a duplicate or an addition)"
                    )
                f = want.pop(ti.name)
                if not ti.isreg():
                    raise PackError(f"{archive}: member {ti.name!r} is not a regular file (a link or a device)")
                cap = f.gzip.content_size if f.gzip else f.size
                body = _read_member(archive, tar, ti, cap)
                if f.gzip is not None:
                    if len(body) != f.gzip.content_size or sha256_hex(body) != f.gzip.content_sha256:
                        raise PackError(f"{archive}: member {ti.name!r} differs from the sha256 its {MANIFEST} records")
                    g = f.gzip
                    data = gzip_bytes(bytes.fromhex(g.header_hex), body, g.level, g.mem_level)
                    reencoded += sha256_hex(data) != f.sha256
                else:
                    data = body
                    if len(data) != f.size or sha256_hex(data) != f.sha256:
                        raise PackError(f"{archive}: member {ti.name!r} differs from the sha256 its {MANIFEST} records")
                out = dest / f.path
                if not out.resolve().is_relative_to(dest.resolve()):
                    raise PackError(f"{archive}: file {f.path!r} would land outside the run")
                out.parent.mkdir(parents=True, exist_ok=True)
                with open(out, "xb") as fh:
                    fh.write(data)
            if want:
                raise PackError(
                    f"{archive}: truncated: {len(want)} file(s) its {MANIFEST} lists are missing, "
                    f"e.g. {sorted(want)[0]!r}"
                )
            for d in m.empty_dirs:
                (dest / _safe_rel(archive, d, "directory")).mkdir(parents=True, exist_ok=True)
            return len(m.files), reencoded
    except (tarfile.TarError, lzma.LZMAError, EOFError, zlib.error) as e:
        raise PackError(
            f"{archive}: not a readable tar.xz ({type(e).__name__}: {e}); the file may be cut short"
        ) from None
    except ValueError as e:
        if isinstance(e, PackError):
            raise
        raise PackError(f"{archive}: {e}") from None
    except OSError as e:
        raise PackError(f"{archive}: cannot unpack into {dest}: {e.strerror or e}") from None
