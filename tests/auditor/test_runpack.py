"""A run as one archive (auditor/runpack.py): every byte back, the shipped recordings among them,
and a hostile archive refused with its name and member, leaving nothing behind."""

import gzip
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from geak.auditor import runpack as rp

REPO = Path(__file__).resolve().parents[2]
RECORDED = REPO / "runs" / "recorded"


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _small_run(tmp_path: Path) -> Path:
    """A copy of a real recording, with the gzip kinds geak meets: its own /metrics snapshots
    (mtime 0), a profiler-style trace (a file name and an mtime in the header), one gzip this zlib
    cannot reproduce (level 1 data in a header that says 9... and an extra field), an empty dir."""
    run = tmp_path / "run"
    shutil.copytree(RECORDED / "tiny-cpu-run", run)
    (run / "profile").mkdir()
    buf = io.BytesIO()
    with gzip.GzipFile(filename="rank0.pt.trace.json", mode="wb", fileobj=buf, mtime=1796134457) as g:
        g.write(json.dumps({"traceEvents": [{"name": f"op{i}", "dur": i} for i in range(2000)]}).encode())
    (run / "profile" / "trace.json.gz").write_bytes(buf.getvalue())
    odd = bytearray(gzip.compress(b"x" * 5000, compresslevel=1, mtime=0))
    odd[3] |= 0x04  # FEXTRA: a header this packer does not rebuild
    odd[10:10] = b"\x02\x00ab"
    (run / "profile" / "odd.gz").write_bytes(bytes(odd))
    (run / "empty" / "inner").mkdir(parents=True)
    return run


def test_a_run_comes_back_byte_for_byte_and_the_archive_is_deterministic(tmp_path):
    run = _small_run(tmp_path)
    a = rp.pack(run, tmp_path / "a.tar.xz")
    b = rp.pack(run, tmp_path / "b.tar.xz")
    assert a.read_bytes() == b.read_bytes()
    said = []
    out = rp.unpack(a, tmp_path / "back", say=said.append)
    assert _tree(out) == _tree(run)
    assert (out / "empty" / "inner").is_dir()
    assert "every byte checked" in said[0]
    with tarfile.open(a, "r:xz") as t:
        names = t.getnames()
    assert names[0] == rp.MANIFEST
    # gzip files stored as their content (xz compresses across them), the odd one as its bytes
    assert "profile/trace.json" in names and "profile/trace.json.gz" not in names
    assert "profile/odd.gz" in names
    assert any(n.endswith(".metrics_after.prom") for n in names)


def test_unpacking_again_is_a_no_op_and_a_changed_archive_replaces_a_stale_unpacking(tmp_path):
    run = _small_run(tmp_path)
    a = rp.pack(run, tmp_path / "r.tar.xz")
    out = rp.resolve_run(a)
    assert out == tmp_path / "r" and rp.is_unpacked(out, a)
    (out / "audits" / "local-note.json").write_text("{}")  # a user's audit output stays while current
    assert rp.resolve_run(tmp_path / "r") == out and (out / "audits" / "local-note.json").exists()
    (run / "decisions.jsonl").write_bytes((run / "decisions.jsonl").read_bytes() + b"\n")
    rp.pack(run, a)
    said = []
    assert rp.resolve_run(tmp_path / "r", say=said.append) == out
    assert "replacing an older unpacking" in said[0]
    assert _tree(out) == _tree(run)
    assert not [p for p in tmp_path.iterdir() if ".unpacking-" in p.name or ".stale-" in p.name]


def test_a_directory_nobody_unpacked_is_never_replaced(tmp_path):
    run = _small_run(tmp_path)
    a = rp.pack(run, tmp_path / "mine.tar.xz")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious").write_text("keep")
    assert rp.resolve_run(tmp_path / "mine") == tmp_path / "mine"  # the user's own directory, as given
    with pytest.raises(rp.PackError, match="was not unpacked from"):
        rp.unpack(a)
    assert (tmp_path / "mine" / "precious").read_text() == "keep"


def test_a_plain_directory_or_a_missing_path_resolve_to_themselves(tmp_path):
    assert rp.resolve_run(tmp_path) == tmp_path
    assert rp.resolve_run(tmp_path / "nothing") == tmp_path / "nothing"


def test_pack_refuses_links_and_its_own_manifest_name(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "a").write_text("x")
    (run / "l").symlink_to("a")
    with pytest.raises(rp.PackError, match="a link"):
        rp.pack(run)
    (run / "l").unlink()
    (run / rp.MANIFEST).write_text("{}")
    with pytest.raises(rp.PackError, match="manifest name"):
        rp.pack(run)


# ---------------------------------------------------------------- hostile archives


def _forge(path: Path, manifest: dict | bytes | None, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with lzma.open(path, "wb") as xz, tarfile.open(fileobj=xz, mode="w", format=tarfile.PAX_FORMAT) as t:
        if manifest is not None:
            head = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
            ti = tarfile.TarInfo(rp.MANIFEST)
            ti.size = len(head)
            t.addfile(ti, io.BytesIO(head))
        for ti, data in members:
            t.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return path


def _reg(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    return ti, data


def _entry(path: str, data: bytes, member: str | None = None) -> dict:
    return {
        "path": path,
        "size": len(data),
        "sha256": __import__("hashlib").sha256(data).hexdigest(),
        "member": member or path,
    }


def _manifest(*entries: dict, **kw) -> dict:
    return {"format": rp.FORMAT, "version": rp.VERSION, "files": list(entries), **kw}


def _link(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname = tarfile.SYMTYPE, target
    return ti, b""


HOSTILE = {
    "escape": (_manifest(_entry("../evil", b"x")), [_reg("../evil", b"x")], r"'../evil' is not a plain path"),
    "absolute": (_manifest(_entry("/etc/evil", b"x")), [_reg("/etc/evil", b"x")], r"'/etc/evil' is not a plain path"),
    "link": (_manifest(_entry("l", b"")), [_link("l", "/etc/passwd")], r"member 'l' is not a regular file"),
    "unlisted": (_manifest(_entry("a", b"x")), [_reg("a", b"x"), _reg("b", b"y")], r"member 'b' is not in its"),
    "tampered": (_manifest(_entry("a", b"x")), [_reg("a", b"y")], r"member 'a' differs from the sha256"),
    "bigger than listed": (_manifest(_entry("a", b"x")), [_reg("a", b"x" * 4096)], r"member 'a' is 4096 bytes"),
    "truncated": (_manifest(_entry("a", b"x"), _entry("b", b"y")), [_reg("a", b"x")], r"truncated: 1 file"),
    "no manifest": (None, [_reg("a", b"x")], r"not a geak run archive"),
    "manifest not json": (b"{nope", [], rf"member {rp.MANIFEST} is not JSON"),
    "future version": ({"format": rp.FORMAT, "version": 99, "files": []}, [], r"field 'version' is 99.*upgrade geak"),
    "bad field": (_manifest({"path": "a", "size": -1, "sha256": "0", "member": "a"}), [], r"field 'files.0.size'"),
    "bomb": (
        _manifest(_entry("a", b"x"), empty_dirs=[]) | {"files": [_entry("a", b"x") | {"size": 5 << 30}]},
        [],
        r"more than .* GiB",
    ),
    "twice": (_manifest(_entry("a", b"x"), _entry("a", b"x")), [_reg("a", b"x")], r"names member 'a' twice"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_archive_is_refused_by_name_and_member_and_leaves_nothing(tmp_path, case):
    manifest, members, why = HOSTILE[case]
    a = _forge(tmp_path / "h.tar.xz", manifest, members)
    with pytest.raises(rp.PackError, match=why) as e:
        rp.unpack(a)
    assert str(a) in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.tar.xz"]
    assert not (tmp_path.parent / "evil").exists()


def test_a_cut_short_or_foreign_file_is_refused(tmp_path):
    a = rp.pack(_small_run(tmp_path), tmp_path / "r.tar.xz")
    cut = tmp_path / "cut.tar.xz"
    cut.write_bytes(a.read_bytes()[: a.stat().st_size // 2])
    with pytest.raises(rp.PackError, match="cut short|truncated"):
        rp.unpack(cut)
    junk = tmp_path / "junk.tar.xz"
    junk.write_bytes(b"not xz at all")
    with pytest.raises(rp.PackError, match="not a readable tar.xz"):
        rp.unpack(junk)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_gzip_this_zlib_encodes_otherwise_comes_back_with_its_content_checked(tmp_path, monkeypatch):
    run = _small_run(tmp_path)
    a = rp.pack(run, tmp_path / "r.tar.xz")
    from geak.auditor import gzip_rebuild

    real = gzip_rebuild.deflate
    monkeypatch.setattr(
        gzip_rebuild, "deflate", lambda c, level, mem: real(c, 1, mem)
    )  # a zlib that encodes differently
    said = []
    out = rp.unpack(a, say=said.append)
    assert "re-encoded by this zlib" in said[0]
    back = out / "profile" / "trace.json.gz"
    assert back.read_bytes() != (run / "profile" / "trace.json.gz").read_bytes()
    assert gzip.decompress(back.read_bytes()) == gzip.decompress((run / "profile" / "trace.json.gz").read_bytes())


# ---------------------------------------------------------------- the shipped recordings


def test_every_shipped_recording_is_an_archive_unpacked_beside_it_as_its_bytes():
    archives = rp.shipped(RECORDED)
    assert len(archives) >= 7
    for a in archives:
        d = RECORDED / a.name[: -len(rp.SUFFIX)]
        assert rp.is_unpacked(d, a), f"{d} is not the current unpacking of {a} (tests/conftest.py makes it)"
        with tarfile.open(a, "r:xz") as t:
            m = json.loads(t.extractfile(t.next()).read())
        listed = {f["path"]: f for f in m["files"]}
        have = _tree(d)
        assert set(listed) <= set(have), f"{a}: files missing from {d}"
        for path, f in listed.items():
            assert __import__("hashlib").sha256(have[path]).hexdigest() == f["sha256"], f"{d}/{path}"


def _geak(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "geak.orchestrator.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )


def test_geak_audit_and_replay_take_the_archive_itself(tmp_path):
    shutil.copy(RECORDED / "tiny-cpu-run.tar.xz", tmp_path / "rec.tar.xz")
    audited = _geak("audit", "rec.tar.xz", "--json", cwd=tmp_path)
    assert audited.returncode == 3, audited.stderr  # the recording's bundle FAILs (F2), as its key says
    assert "unpacked rec.tar.xz into rec" in audited.stderr
    assert {v["gate_id"]: v["verdict"] for v in json.loads(audited.stdout)}["bundle"] == "FAIL"
    replayed = _geak("replay", "rec", "--out", "again", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    assert "reproduced exactly" in replayed.stdout and "unpacked" not in replayed.stderr  # current: not again


def test_geak_pack_and_unpack_round_trip_and_say_what_is_wrong(tmp_path):
    run = _small_run(tmp_path)
    assert _geak("pack", run, "--out", tmp_path / "x.tar.xz", cwd=tmp_path).returncode == 0
    got = _geak("unpack", tmp_path / "x.tar.xz", "--to", tmp_path / "y", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert _tree(tmp_path / "y") == _tree(run)
    (tmp_path / "bad.tar.xz").write_bytes(b"junk")
    bad = _geak("audit", tmp_path / "bad.tar.xz", cwd=tmp_path)
    assert bad.returncode == 2 and "not a readable tar.xz" in bad.stderr and "Traceback" not in bad.stderr


def test_a_run_packed_beside_itself_is_that_archive_s_unpacking(tmp_path):
    # how a re-recording ships: runs/recorded/NAME packed into NAME.tar.xz stays where it is read
    run = _small_run(tmp_path)
    a = rp.pack(run)
    assert a == tmp_path / "run.tar.xz" and rp.is_unpacked(run, a)
    assert rp.unpack(a) == run  # current: nothing rewritten, nothing refused


def test_an_empty_folder_where_the_run_goes_is_replaced(tmp_path):
    # seen on the GPU machine: the copy of the checkout kept runs/recorded/NAME/ as empty folders
    a = rp.pack(_small_run(tmp_path), tmp_path / "r.tar.xz")
    (tmp_path / "r" / "legs" / "aa_1").mkdir(parents=True)
    assert rp.resolve_run(tmp_path / "r") == tmp_path / "r"
    assert (tmp_path / "r" / "manifest.json").is_file() and rp.is_unpacked(tmp_path / "r", a)
