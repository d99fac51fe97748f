"""The ``scoreline`` command: thin parsing and rendering over :mod:`scoreline.client`."""
