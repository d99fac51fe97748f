"""scoreline: self-hosted MLOps for batch inference."""

__version__ = "0.1.0"
