"""The edge: everything that may run next to a real line.

Collect (:mod:`~twin.edge.collector`), align (:mod:`~twin.edge.frames`), store
(:mod:`~twin.edge.historian`), detect (:mod:`~twin.edge.detection`), diagnose (through
:mod:`rootcause`), control (:mod:`~twin.edge.control`, :mod:`~twin.edge.bridge`), ledger
(:mod:`~twin.edge.ledger`) and plug-ins (:mod:`~twin.edge.plugins`). It knows only an endpoint
file and a tag map: it never imports a plant model or the harness (the import contract in
``pyproject.toml``).
"""
