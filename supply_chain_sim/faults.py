"""How each injected supply fault changes the flow at a given time (pure functions of the schedule).

A fault's strength at time ``t`` (hours) is 0 before onset, ramps linearly to 1 over ``ramp_h``,
and is 0 again after the window::

>>> from supply_chain_sim.spec import SupplyFault
>>> f = SupplyFault(kind="mean_shift", supplier="s", start_day=1, magnitude=0.002, ramp_h=48)
>>> [strength(f, t) for t in (0.0, 24.0, 48.0, 72.0, 1e6)]
[0.0, 0.0, 0.5, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Iterable

from supply_chain_sim.spec import SupplyFault


def strength(fault: SupplyFault, t_h: float) -> float:
    """0..1: how far the fault has developed at ``t_h``."""
    if t_h < fault.start_h or t_h >= fault.end_h:
        return 0.0
    if fault.ramp_h <= 0:
        return 1.0
    return min(1.0, (t_h - fault.start_h) / fault.ramp_h)


def of_kind(faults: Iterable[SupplyFault], supplier: str, kind: str) -> list[tuple[int, SupplyFault]]:
    """The faults (with their index in the scenario) of one kind on one supplier."""
    return [(i, f) for i, f in enumerate(faults) if f.supplier == supplier and f.kind == kind]


def mean_offset(faults: list[SupplyFault], supplier: str, t_h: float) -> float:
    """Sum of the mean shifts acting on a supplier's characteristic at ``t_h``."""
    return sum(f.magnitude * strength(f, t_h) for _, f in of_kind(faults, supplier, "mean_shift"))


def sigma_factor(faults: list[SupplyFault], supplier: str, t_h: float) -> float:
    """Multiplier on the unit-to-unit sigma at ``t_h`` (variance growth)."""
    factor = 1.0
    for _, f in of_kind(faults, supplier, "variance_growth"):
        factor *= 1.0 + f.magnitude * strength(f, t_h)
    return factor


def active(faults: list[SupplyFault], supplier: str, kind: str, t_h: float) -> list[tuple[int, SupplyFault]]:
    """The faults of a kind whose window covers ``t_h``."""
    return [(i, f) for i, f in of_kind(faults, supplier, kind) if strength(f, t_h) > 0]
