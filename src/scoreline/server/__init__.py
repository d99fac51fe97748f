"""The HTTP API (and, later, the web UI) served by ``scoreline serve``."""
