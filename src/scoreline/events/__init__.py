"""Events: patterns over the outbox, and rules that start pipelines within guardrails."""
