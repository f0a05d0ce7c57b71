"""The SGLang bundle for the GPU test machine (scripts/gpu/sglang/): its wheel list and the
slimming of sglang-kernel, on CPU and with no network. The machine has torch, triton and the CUDA
runtime wheels; a bundle that carried them would shadow the machine's own builds (and weigh
gigabytes). The slim zip must lose FlashAttention 3 and nothing else: the common ops, the other
libraries and the dist-info (sglang checks sglang-kernel's version at start) stay."""

import importlib.util
import re
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "scripts" / "gpu" / "sglang"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"sglang_bundle_{name}", HERE / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _entries(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize("listing", ["wheels.txt", "geak_wheels.txt"])
def test_the_wheel_lists_pin_every_line_and_carry_nothing_the_machine_has(listing):
    lines = _entries(HERE / listing)
    assert lines
    bad = [ln for ln in lines if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+", ln)]
    assert not bad, f"not name==version: {bad}"
    names = [_norm(ln.split("==")[0]) for ln in lines]
    assert len(names) == len(set(names)), "a package listed twice stops the install (two versions)"
    gpu_stack = [n for n in names if n in {"torch", "triton", "torchvision", "torchaudio"} or n.startswith("nvidia-")]
    assert not gpu_stack, f"the machine's torch/triton/CUDA wheels must not travel: {gpu_stack}"
    assert "flashinfer-cubin" not in names  # 448 MB; flashinfer JIT-compiles on the machine
    machine = {_norm(n.split("==")[0]) for n in _entries(HERE / "machine.txt")}
    # transformers/tokenizers are carried on purpose: SGLang pins versions the machine lacks
    assert not (set(names) & machine) - {"transformers", "tokenizers"}


def test_wheels_txt_carries_sglang_and_its_kernel_and_the_lists_do_not_overlap():
    names = {_norm(ln.split("==")[0]) for ln in _entries(HERE / "wheels.txt")}
    assert {"sglang", "sglang-kernel", "flashinfer-python", "xgrammar"} <= names
    geak = {_norm(ln.split("==")[0]) for ln in _entries(HERE / "geak_wheels.txt")}
    assert "langgraph" in geak and not geak & names


def test_nothing_resolve_drops_is_listed():
    resolve = _load("resolve")
    names = {_norm(ln.split("==")[0]) for ln in _entries(HERE / "wheels.txt")}
    assert not names & set(resolve.DROP)
    assert all(reason for reason in resolve.DROP.values())


def _tiny_kernel_wheel(path: Path) -> list[str]:
    members = [
        "sgl_kernel/__init__.py",
        "sgl_kernel/flash_attn.py",
        "sgl_kernel/flash_ops.abi3.so",
        "sgl_kernel/flashmla_ops.abi3.so",
        "sgl_kernel/sm90/common_ops.abi3.so",
        "sgl_kernel/sm100/common_ops.abi3.so",
        "triton_kernels/matmul_ogs.py",
        "sglang_kernel-0.4.5.dist-info/METADATA",
        "sglang_kernel-0.4.5.dist-info/RECORD",
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for m in members:
            info = zipfile.ZipInfo(m, date_time=(2026, 7, 17, 22, 17, 0))
            info.external_attr = 0o755 << 16 if m.endswith(".so") else 0o644 << 16
            z.writestr(info, f"content of {m}\n" * 50)
    return members


def test_slim_drops_flash_ops_and_keeps_every_other_member_byte_for_byte(tmp_path):
    slim = _load("slim")
    src, dst = tmp_path / "sglang_kernel-0.4.5-cp310-abi3-manylinux2014_x86_64.whl", tmp_path / "slim.zip"
    members = _tiny_kernel_wheel(src)
    kept, dropped = slim.slim(str(src), str(dst))
    assert dropped == ["sgl_kernel/flash_ops.abi3.so"]
    assert kept == [m for m in members if m not in dropped]
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst) as b:
        assert b.testzip() is None
        assert b.namelist() == kept
        for m in kept:
            assert b.read(m) == a.read(m)
            assert b.getinfo(m).date_time == a.getinfo(m).date_time
            assert b.getinfo(m).external_attr == a.getinfo(m).external_attr
    # and unpacked as device.sh does it, the package and its dist-info are there
    with zipfile.ZipFile(dst) as b:
        b.extractall(tmp_path / "site")
    assert (tmp_path / "site/sgl_kernel/sm90/common_ops.abi3.so").is_file()
    assert not (tmp_path / "site/sgl_kernel/flash_ops.abi3.so").exists()
    assert (tmp_path / "site/sglang_kernel-0.4.5.dist-info/METADATA").is_file()


def test_slim_cli_fails_when_nothing_matches(tmp_path, capsys):
    slim = _load("slim")
    src = tmp_path / "other.whl"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("pkg/__init__.py", "")
    assert slim.main([str(src), str(tmp_path / "out.zip")]) == 1
    assert "nothing" in capsys.readouterr().err


def test_import_scan_classifies_plain_guarded_if_and_lazy_imports(tmp_path):
    scan = _load("import_scan")
    site = tmp_path / "site"
    (site / "app").mkdir(parents=True)
    (site / "app" / "__init__.py").write_text("")
    (site / "app" / "main.py").write_text(
        "import os\n"
        "import present\n"
        "from app import helper\n"
        "try:\n    import optional_pkg\nexcept ImportError:\n    optional_pkg = None\n"
        "if os.name == 'nt':\n    import windows_pkg\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import typing_only\n"
        "def f():\n    import lazy_pkg\n"
    )
    (site / "app" / "helper.py").write_text(
        "import needed_pkg\ntry:\n    from app import extra\nexcept Exception:\n    pass\n"
    )
    (site / "app" / "extra.py").write_text("import behind_guard\n")
    (site / "present").mkdir()
    (site / "present" / "__init__.py").write_text("")
    res = scan.scan(site, ["app.main"])
    assert set(res["needed_pkg"]) == {"plain"}
    assert set(res["optional_pkg"]) == {"guarded"}
    assert set(res["windows_pkg"]) == {"if"}
    assert set(res["lazy_pkg"]) == {"lazy"}
    # a plain import in a module reached only through a guarded one counts as guarded
    assert set(res["behind_guard"]) == {"guarded"}
    assert "typing_only" not in res and "present" not in res and "os" not in res
