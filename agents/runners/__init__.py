"""Leg execution above one leg (agents/engines/leg.py runs one): where the workflow's legs come
from (a live engine, or a recorded run), the scheduler that runs independent legs at once on
disjoint device sets (local threads, or Ray tasks), the paired designs' runner (crossover,
A B B A), and the kernel track's runners (profile rounds, the op harness)."""
