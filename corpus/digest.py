"""The planted corpus is generated, not shipped (runs/cases is ignored: 36 MB in 18k files), but
what it is stays reviewed: runs/cases.sha256 holds one sha256 per case over every byte and link
of it, so a change to the generator shows in a diff, case by case, and a test fails until the
digest is updated on purpose (`geak cases check runs/cases --update`).

``ensure`` keeps a generated corpus current: absent, or not what the digest says, it is
generated again into a temporary sibling and renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

DIGEST_NAME = "cases.sha256"


def case_sha256(case: Path) -> str:
    """One hash over a case's tree: each entry's relative path and kind, a file's bytes, a link's
    target (plants make links on purpose). FIFOs and others are named by kind only."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(case, followlinks=False):
        dirs.sort()
        here = Path(root)
        for name in sorted(dirs + files):
            p = here / name
            rel = p.relative_to(case).as_posix()
            if p.is_symlink():
                h.update(f"L {rel} -> {os.readlink(p)}\n".encode())
            elif p.is_dir():
                h.update(f"D {rel}\n".encode())
            elif p.is_file():
                data = p.read_bytes()
                h.update(f"F {rel} {len(data)}\n".encode() + data)
            else:
                h.update(f"O {rel}\n".encode())
    return h.hexdigest()


def corpus_digest(cases: Path) -> dict[str, str]:
    """``{case: sha256}`` for every case directory (one holding key.yaml) under ``cases``."""
    return {p.parent.name: case_sha256(p.parent) for p in sorted(Path(cases).glob("*/key.yaml"))}


def format_digest(d: dict[str, str]) -> str:
    return "".join(f"{sha}  {name}\n" for name, sha in sorted(d.items()))


def read_digest(path: Path) -> dict[str, str]:
    """The digest file: ``<sha256>  <case>`` per line. ValueError names the line."""
    out: dict[str, str] = {}
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64 or parts[1] in out:
            raise ValueError(f"{path}:{i}: expected '<sha256>  <case>' once per case, got {line!r}")
        out[parts[1]] = parts[0]
    return out


def differences(got: dict[str, str], want: dict[str, str]) -> list[str]:
    """What differs, one line per case, in words."""
    out = [f"{n}: generated, not in the digest" for n in sorted(set(got) - set(want))]
    out += [f"{n}: in the digest, not generated" for n in sorted(set(want) - set(got))]
    out += [f"{n}: its bytes differ from the digest" for n in sorted(set(got) & set(want)) if got[n] != want[n]]
    return out


def ensure(cases: Path, digest: Path) -> bool:
    """Make ``cases`` the generated corpus: a no-op when it matches ``digest`` already; otherwise
    generate every case into a sibling and swap it in. True when it generated."""
    from .plants import generate

    cases = Path(cases)
    if cases.is_dir() and Path(digest).is_file() and not differences(corpus_digest(cases), read_digest(digest)):
        return False
    tmp = cases.with_name(f".{cases.name}.generating-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        generate(tmp)
        if cases.exists():
            old = cases.with_name(f".{cases.name}.old-{os.getpid()}")
            os.replace(cases, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, cases)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True
