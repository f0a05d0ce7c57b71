"""The run store: the only way geak touches a run directory.

Writes are atomic (tmp + fsync + rename) for JSON and append-only for JSONL. Reads never
raise on bad content: every problem becomes a ``Problem`` (decoding.py) that names file,
line and field, so the auditor can turn it into a finding instead of a traceback. Paths
that resolve outside the run directory (``..``, absolute paths, symlinks out) are refused.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, TypeVar
from collections.abc import Callable, Iterator

from pydantic import BaseModel, ValidationError

from .decoding import Problem as Problem, loads, validation_problems, version_problem
from .models import SUPPORTED_VERSIONS

# read once, at import (single-threaded): os.umask can only be read by setting it
_UMASK = os.umask(0o022)
os.umask(_UMASK)

M = TypeVar("M", bound=BaseModel)


class OutsideRunDir(ValueError):
    """A path that would escape the run directory."""


class NotEvidence(OSError):
    """A path that exists but is not a regular file of the run directory (a link, a FIFO,
    a device, a directory) or cannot be read; the message says which."""


class RunStore:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()

    # ------------------------------------------------------------ paths
    def path(self, rel: str | os.PathLike[str]) -> Path:
        if "\x00" in str(rel):
            raise OutsideRunDir(f"{str(rel)[:120]!r} holds a NUL byte: not a file name")
        rel = Path(rel)
        if rel.is_absolute():
            raise OutsideRunDir(f"{rel}: absolute paths are not allowed inside a run directory")
        p = (self.root / rel).resolve()
        if p != self.root and self.root not in p.parents:
            raise OutsideRunDir(f"{rel}: resolves to {p}, outside the run directory {self.root}")
        return p

    def _lexical(self, rel: str | os.PathLike[str]) -> Path:
        """root/rel without resolving links; refuses '..' and any symlinked component, so a
        read or write lands on the named entry itself, never where a link points."""
        if "\x00" in str(rel):
            raise NotEvidence(f"{str(rel)[:120]!r} holds a NUL byte: not a file name")
        relp = Path(rel)
        if relp.is_absolute() or ".." in relp.parts:
            raise OutsideRunDir(f"{str(rel)[:200]}: absolute paths and '..' are not allowed inside a run directory")
        cur = self.root
        for part in relp.parts:
            cur = cur / part
            try:
                link = cur.is_symlink()
            except (OSError, ValueError) as e:  # a name too long, an odd encoding
                raise NotEvidence(
                    f"{str(rel)[:120]}: not a usable file name ({type(e).__name__}: {str(e)[:80]})"
                ) from None
            if link:
                raise NotEvidence(
                    f"{self._relstr(cur)} is a symbolic link; evidence must be a regular file "
                    "inside the run directory (copy the file instead of linking it)"
                )
        return cur

    def _relstr(self, p: Path) -> str:
        try:
            return str(p.relative_to(self.root))
        except ValueError:
            return str(p)

    def read_bytes(self, rel: str) -> bytes:
        """The bytes of a regular file, read without following links and without blocking on
        a FIFO. Raises FileNotFoundError, OutsideRunDir or NotEvidence (with the reason)."""
        p = self._lexical(rel)
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as e:
            raise NotEvidence(f"{str(rel)[:200]}: cannot be opened: {getattr(e, 'strerror', None) or e}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                kind = (
                    "a FIFO"
                    if stat.S_ISFIFO(st.st_mode)
                    else "a directory"
                    if stat.S_ISDIR(st.st_mode)
                    else "not a regular file"
                )
                raise NotEvidence(f"{rel} is {kind}; evidence must be a regular file")
            # one allocation of the file's size (FileIO.readall sizes its buffer by fstat)
            with io.FileIO(fd, "rb", closefd=False) as f:
                return f.readall()
        except NotEvidence:
            raise
        except OSError as e:
            raise NotEvidence(f"{rel}: cannot be read: {e.strerror or e}") from None
        finally:
            os.close(fd)

    def read_evidence(self, rel: str) -> tuple[bytes | None, Problem | None]:
        """(bytes, None), or (None, Problem) saying why the file cannot serve as evidence."""
        try:
            return self.read_bytes(rel), None
        except FileNotFoundError:
            return None, Problem(rel, "file is missing")
        except (OutsideRunDir, NotEvidence) as e:
            return None, Problem(rel, str(e))

    def list_dir(self, rel: str) -> list[tuple[str, bool]]:
        """(name, is a regular file) for each entry of a folder, sorted, links not followed;
        [] when the folder is missing or is not a plain folder of the run directory."""
        try:
            p = self._lexical(rel)
        except (OutsideRunDir, NotEvidence):
            return []
        try:
            if not stat.S_ISDIR(os.lstat(p).st_mode):
                return []
            names = sorted(os.listdir(p))
        except OSError:
            return []
        out = []
        for n in names:
            try:
                out.append((n, stat.S_ISREG(os.lstat(p / n).st_mode)))
            except OSError:
                out.append((n, False))
        return out

    def rel(self, p: Path) -> str:
        return str(Path(p).resolve().relative_to(self.root))

    def exists(self, rel: str) -> bool:
        try:
            return self.path(rel).exists()
        except (OutsideRunDir, OSError, ValueError):
            return False

    # ------------------------------------------------------------ writes
    def write_json(self, rel: str, obj: BaseModel | dict[str, Any] | list[Any]) -> Path:
        try:
            data = obj.model_dump(mode="json") if isinstance(obj, BaseModel) else obj
        except UnicodeEncodeError:
            # a lone surrogate read from a producer's JSON ("\udcff"): json.dumps escapes it
            data = obj.model_dump(mode="python")  # type: ignore[union-attr]
        text = json.dumps(data, indent=2, sort_keys=False, allow_nan=False, default=str) + "\n"
        return self.write_text(rel, text)

    def write_text(self, rel: str, text: str | bytes) -> Path:
        # lexical, not resolved: a symlink planted at audits/<gate>.json (or at audits/)
        # must not turn a verdict write into an overwrite of evidence elsewhere
        self.path(rel)
        dest = self._lexical(rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._lexical(rel)  # mkdir may have raced a link into place
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        try:
            # mkstemp makes 0600; a file written in place would get 0666 & ~umask, so a colleague can
            # read a shared run's report
            os.fchmod(fd, 0o666 & ~_UMASK)
            with os.fdopen(fd, "wb") as f:
                f.write(text.encode() if isinstance(text, str) else text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        _fsync_dir(dest.parent)
        return dest

    def append_jsonl(self, rel: str, obj: BaseModel | dict[str, Any]) -> Path:
        data = obj.model_dump(mode="json") if isinstance(obj, BaseModel) else obj
        line = json.dumps(data, allow_nan=False, separators=(",", ":")) + "\n"
        self.path(rel)
        dest = self._lexical(rel)  # as write_text: never append through a planted link
        dest.parent.mkdir(parents=True, exist_ok=True)
        # One write() of a whole line on an O_APPEND fd: a crash leaves at most a truncated
        # last line, which readers report.
        with open(dest, "ab") as f:
            f.write(line.encode())
            f.flush()
            os.fsync(f.fileno())
        return dest

    # ------------------------------------------------------------ reads
    def read_json(self, rel: str, model: type[M]) -> tuple[M | None, list[Problem]]:
        data, prob = self.read_evidence(rel)
        if prob is not None or data is None:  # read_evidence gives data or a problem
            return None, [prob] if prob is not None else []
        try:
            obj = loads(data.decode())
        except (ValueError, UnicodeDecodeError) as e:
            return None, [Problem(rel, f"not valid JSON: {e}")]
        vp = version_problem(obj, rel, None)
        if vp:
            return None, [vp]
        try:
            return model.model_validate(obj), []
        except ValidationError as e:
            return None, validation_problems(e, rel, None)

    def iter_jsonl(
        self, rel: str, model: type[M], fast: Callable[[bytes], M | None] | None = None
    ) -> Iterator[tuple[int, M | None, list[Problem]]]:
        """Yield (line_no, record, problems) per non-empty line; a truncated last line is a problem.

        ``fast(line)``: a cheaper decoder for lines of the common shape (None = not that shape,
        and the line takes the validating path below, which names the exact problem)."""
        data, prob = self.read_evidence(rel)
        if prob is not None or data is None:  # read_evidence gives data or a problem
            yield 0, None, [prob] if prob is not None else []
            return
        lines = data.split(b"\n")
        truncated_tail = not data.endswith(b"\n") and data != b""
        for i, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            is_last = i == len(lines)
            if fast is not None:
                rec = fast(raw)
                if rec is not None:
                    yield i, rec, []
                    continue
            # Fast path: validate straight from bytes (pydantic-core's parser, ~5x json.loads
            # on big per-request arrays). Anything odd falls through to the slow path, which
            # names the exact problem.
            if b'"schema_version"' in raw:
                try:
                    rec = model.model_validate_json(raw)
                except (ValidationError, ValueError):
                    rec = None
                if rec is not None and getattr(rec, "schema_version", None) in SUPPORTED_VERSIONS:
                    yield i, rec, []
                    continue
            try:
                obj = loads(raw.decode())
            except (ValueError, UnicodeDecodeError) as e:
                msg = (
                    "truncated last line (the writer stopped mid-record); it was not counted"
                    if is_last and truncated_tail
                    else f"not valid JSON: {e}"
                )
                yield i, None, [Problem(rel, msg, i)]
                continue
            vp = version_problem(obj, rel, i)
            if vp:
                yield i, None, [vp]
                continue
            try:
                rec = model.model_validate(obj)
            except ValidationError as e:
                yield i, None, validation_problems(e, rel, i)
                continue
            except RecursionError:
                yield i, None, [Problem(rel, "nested too deeply to validate", i)]
                continue
            yield i, rec, []

    def read_jsonl(self, rel: str, model: type[M]) -> tuple[list[tuple[int, M]], list[Problem]]:
        records: list[tuple[int, M]] = []
        problems: list[Problem] = []
        for line, rec, probs in self.iter_jsonl(rel, model):
            problems.extend(probs)
            if rec is not None:
                records.append((line, rec))
        return records, problems

    def read_text(self, rel: str) -> str | None:
        """The text of a regular file, or None when it is missing or not evidence (a link, a
        FIFO...). Use read_evidence to learn why."""
        data, prob = self.read_evidence(rel)
        return None if data is None else data.decode(errors="replace")


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
