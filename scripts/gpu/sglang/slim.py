"""Slim a wheel into a plain zip that device.sh unpacks straight into the site, as gpu-vllm does
with vllm_slim.zip. For sglang-kernel 0.4.5 that drops flash_ops.abi3.so, FlashAttention 3: 342 MB
of the 383 MB wheel, loaded only by `sgl_kernel.flash_attn`, which nothing imports at a server's
start and only the fa3 attention backend calls (`--attention-backend triton` never does). The
dist-info stays, so `importlib.metadata.version("sglang-kernel")` (sglang checks it at start)
still answers.

  usage: slim.py WHEEL OUT.zip [GLOB ...]     (default GLOB: see DROP)
"""

from __future__ import annotations

import copy
import fnmatch
import sys
import zipfile

# fnmatch patterns on member names; `*` crosses `/` in fnmatch
DROP = ("sgl_kernel/flash_ops*.so",)


def slim(src: str, dst: str, drop: tuple[str, ...] | list[str] = DROP) -> tuple[list[str], list[str]]:
    """Copy every member of zip `src` into zip `dst` except those matching a `drop` pattern.
    Returns (kept, dropped) member names. Members keep their names, dates and permission bits."""
    kept: list[str] = []
    dropped: list[str] = []
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zout:
        for info in zin.infolist():
            if any(fnmatch.fnmatchcase(info.filename, p) for p in drop):
                dropped.append(info.filename)
                continue
            # one member at a time: the kept .so files are up to 20 MB each, the wheel 383 MB
            out = copy.copy(info)  # writing fills in offsets; leave the source's entry alone
            with zin.open(info) as fin, zout.open(out, "w") as fout:
                while block := fin.read(1 << 20):
                    fout.write(block)
            kept.append(info.filename)
    return kept, dropped


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    kept, dropped = slim(argv[0], argv[1], tuple(argv[2:]) or DROP)
    if not dropped:
        # a renamed library would otherwise ship the full 383 MB without a word
        print(f"slim: nothing in {argv[0]} matched {argv[2:] or DROP}", file=sys.stderr)
        return 1
    print(f"slim: kept {len(kept)} members, dropped {', '.join(dropped)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
