"""Re-audit every shipped recording with today's auditor and pack it again.

The recordings' audits/ hold what the auditor said of them; a replay is held to those verdicts
(tests/orchestrator/test_what_if.py) and tests/test_recorded_runs.py holds them to what the
auditor says now. After a change to the auditor, run:

    .venv/bin/python scripts/refresh_recorded_audits.py

It unpacks each runs/recorded/NAME.tar.xz (checked byte for byte), rewrites audits/<gate>.json
(audits/history/, the live gates' records, stay as recorded), and packs NAME.tar.xz again.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from geak.auditor.api import audit_run
from geak.auditor.runpack import SUFFIX, pack, resolve_run

ROOT = Path(__file__).resolve().parents[1] / "runs" / "recorded"


def main() -> int:
    archives = sorted(ROOT.glob(f"*{SUFFIX}"))
    for a in archives:
        t = time.monotonic()
        run = resolve_run(a)
        verdicts = audit_run(run, write=True)
        pack(run)
        print(
            f"{a.name}: {len(verdicts)} verdict(s) ({', '.join(f'{v.gate_id} {v.verdict}' for v in verdicts)}); "
            f"packed in {time.monotonic() - t:.1f} s",
            flush=True,
        )
    return 0 if archives else 1


if __name__ == "__main__":
    sys.exit(main())
