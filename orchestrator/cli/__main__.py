"""`python -m geak.orchestrator.cli`: the `geak` command."""

from . import main

main()
