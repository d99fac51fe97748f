"""Tabular data: streaming readers and writers, fitted preprocessing, model flavors and the
built-in batch transform. Nothing here touches the metadata store."""
