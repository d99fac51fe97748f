"""scoreline's own step programs, run by an executor like any step script
(``python -m scoreline.runners.<kind>``): they read their configuration and folders from
the environment, write their outputs and a metadata file, and never open the metadata store."""
