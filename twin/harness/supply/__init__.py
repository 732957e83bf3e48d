"""Supply-chain quality (issue 9): scenario schema, runner, scoring and report.

The OEM's analytics (sampling plans, semantic layer, supplier SPC, field returns, workflow)
live in :mod:`twin.edge.supply`, which sits under the edge import contract: it never
sees ``supply_chain_sim``. The rest of this package wires a run and scores it against the truth.
"""
