"""Running pipelines: the orchestrator, executors, step handlers and crash recovery."""

from scoreline.engine.orchestrator import Orchestrator, new_owner
from scoreline.engine.recovery import recover_lost_executions

__all__ = ["Orchestrator", "new_owner", "recover_lost_executions"]
