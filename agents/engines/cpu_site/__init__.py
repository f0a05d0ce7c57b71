"""The directory geak puts first on a CPU engine's PYTHONPATH; see sitecustomize.py."""
