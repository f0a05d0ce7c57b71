"""The workflow as a LangGraph StateGraph: producers, auditor gates, fix-until-pass loops.

state.py    the checkpointed RunState and its typed parts
context.py  RunContext: what nodes need besides the state (LangGraph context_schema)
ids.py      every leg, gate and decision id (one writer, one reader)
gate.py     the one gate mechanism: submit -> audit -> route -> bank/withhold -> record
prompting.py  what a role's LLM is shown, and its answer under the run's budget
routers.py  pure routers, unit-tested
phases/     one module per phase: baseline, profile, config, kernel, validate
builder.py  the wiring
"""

from .builder import build_graph
from .context import RunContext
from .state import RunState, initial_state

__all__ = ["RunContext", "RunState", "build_graph", "initial_state"]
