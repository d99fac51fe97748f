"""Running pipelines: the orchestrator, executors, step handlers and crash recovery.

Nothing is imported here, so a step runner that needs only :mod:`scoreline.engine.tasks`
does not load the orchestrator and the metadata store with it."""
