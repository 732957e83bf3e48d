"""The OEM side of a supply chain: what it does with lots, supplier data and field returns.

Under the edge import contract: nothing here imports ``supply_chain_sim`` or ``plant_models``.
"""
