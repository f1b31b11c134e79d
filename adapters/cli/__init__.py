"""The ``sip-ledger`` command line: the typer app (root.py) and one module per sub-command.

``main`` is the entry point that ``[project.scripts]`` names (``adapters.cli:main``)."""

from adapters.cli.root import app, main

__all__ = ["app", "main"]
