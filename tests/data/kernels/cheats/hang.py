"""A candidate that never returns (a deadlocked kernel or a spin-wait)."""

import time


def rmsnorm(x, weight, eps):
    while True:
        time.sleep(0.05)
