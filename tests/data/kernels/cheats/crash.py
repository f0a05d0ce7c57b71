"""A candidate that kills its process (a segfault in a real extension looks the same)."""

import os
import signal


def rmsnorm(x, weight, eps):
    os.kill(os.getpid(), signal.SIGSEGV)
