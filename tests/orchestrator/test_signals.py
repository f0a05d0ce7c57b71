"""orchestrator/signals.py: SIGTERM unwinds like Ctrl-C, and the module stays stdlib-only (a bench
on a GPU box, where the CLI's packages are absent, imports it; issue 19's harness_parallel did)."""

import signal
import subprocess
import sys
import time

CHILD = """
import sys
from geak.orchestrator.signals import unwind_on_signals
unwind_on_signals()
print(sorted(m for m in ("typer", "rich", "langgraph", "pydantic") if m in sys.modules), flush=True)
import time
try:
    time.sleep(30)
except KeyboardInterrupt as e:
    print("unwound:", e, flush=True)
"""


def test_sigterm_and_a_background_sigint_unwind_and_nothing_else_is_imported():
    for sig in (signal.SIGTERM, signal.SIGINT):
        # started with SIGINT ignored, as a shell starts a background job
        p = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
        first = p.stdout.readline().strip()
        time.sleep(0.2)
        p.send_signal(sig)
        out, _ = p.communicate(timeout=20)
        assert first == "[]"
        # SIGTERM carries its number; SIGINT is Python's own KeyboardInterrupt (no message)
        assert out.strip() == (f"unwound: signal {int(sig)}" if sig == signal.SIGTERM else "unwound:")
        assert p.returncode == 0
