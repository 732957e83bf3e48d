"""Quality Twin: scenario, episode runner, edge (collect, align, store), CLI.

Importing ``twin`` imports nothing else, so edge modules (``twin.edge``) stay free of
plant models; see the import contract in ``pyproject.toml``.
"""

__version__ = "0.1.0"
