"""One supply episode: the chain (truth) and the OEM stack that ran against it, with its counters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from supply_chain_sim.flow import SupplyChain
from twin.edge.supply.oem import Oem


@dataclass
class Episode:
    """One run of the chain against one OEM stack, with its inspection counters."""

    chain: SupplyChain
    oem: Oem
    counts: Counter = field(default_factory=Counter)
    lots: list[dict[str, Any]] = field(default_factory=list)
    returns: list[dict[str, Any]] = field(default_factory=list)  # field failures as the OEM received them
    portal: dict[str, Any] = field(default_factory=dict)
