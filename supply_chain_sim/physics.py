"""Physics of failure in the field, vectorised over units (days to failure, ``inf`` = never).

>>> import numpy as np
>>> from supply_chain_sim.spec import CoffinManson
>>> model = CoffinManson(scatter=0.0)
>>> cycles = cycles_to_failure(model, np.array([165.0, 165.0]), np.array([125.0, 125.0]), np.array([150.0, 110.0]),
...                            np.zeros(2))
>>> [round(float(c)) for c in cycles]
[276662, 138]
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from supply_chain_sim.spec import CoffinManson, DiscWear, EsdStress

BOLTZMANN_EV = 8.617333262e-5
KELVIN = 273.15


def cycles_to_failure(model: CoffinManson, delta_t_k: np.ndarray, t_max_c: np.ndarray, robust_max_c: np.ndarray,
                      z: np.ndarray) -> np.ndarray:
    """Cycles to failure per unit under thermal cycles of ``delta_t_k`` peaking at ``t_max_c``.

    Coffin-Manson in the temperature swing, Arrhenius in the peak temperature, log-normal
    scatter; cycles peaking above a unit's ``robust_max_c`` count ``beyond_band_factor`` times.
    """
    swing = np.maximum(delta_t_k, 1e-9) / model.delta_t_ref_k
    arrhenius = np.exp(model.activation_ev / BOLTZMANN_EV * (1 / (t_max_c + KELVIN) - 1 / (model.t_ref_c + KELVIN)))
    scatter = np.exp(model.scatter * z)
    cycles = model.n_ref * swing ** -model.exponent * arrhenius * scatter
    return np.where(t_max_c > robust_max_c, cycles / model.beyond_band_factor, cycles)


def days_thermal(model: CoffinManson, env: dict[str, np.ndarray], robust_max_c: np.ndarray,
                 z: np.ndarray) -> np.ndarray:
    """Days to a thermal-cycling failure in each unit's environment (``env`` arrays per unit)."""
    cycles = cycles_to_failure(model, env["t_max_c"] - env["t_min_c"], env["t_max_c"], robust_max_c, z)
    per_day = env["cycles_per_day"]
    return np.where(per_day > 0, cycles / np.where(per_day > 0, per_day, 1.0), np.inf)


def days_disc(model: DiscWear, runout_mm: np.ndarray, env: dict[str, np.ndarray]) -> np.ndarray:
    """Days until the disc-thickness variation grown from excess runout reaches the judder limit."""
    growth = model.wear_per_km * np.maximum(runout_mm - model.contact_mm, 0.0) * env["km_per_day"]
    return np.where(growth > 0, model.dtv_crit_mm / np.where(growth > 0, growth, 1.0), np.inf)


def days_esd(model: EsdStress, withstand_kv: np.ndarray, waits: np.ndarray) -> np.ndarray:
    """Days until the first discharge above the unit's withstand voltage (``waits``: unit exponentials)."""
    z = np.log(np.maximum(withstand_kv, 1e-9) / model.median_kv) / model.sigma_log
    rate = model.events_per_day * (1.0 - ndtr(z))
    return np.where(rate > 0, waits / np.where(rate > 0, rate, 1.0), np.inf)


def qualification_failures(model: CoffinManson, robust_max_c: np.ndarray, t_min_c: float, t_max_c: float,
                           cycles: int, z: np.ndarray) -> int:
    """How many of the tested units fail a qualification test of ``cycles`` cycles on a profile."""
    n = len(robust_max_c)
    life = cycles_to_failure(model, np.full(n, t_max_c - t_min_c), np.full(n, t_max_c), robust_max_c, z)
    return int((life < cycles).sum())
