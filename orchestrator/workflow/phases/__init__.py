"""One module per phase of the workflow; each node is ``fn(state, ctx) -> state update``."""
