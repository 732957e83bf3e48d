"""Independent, reproducible random streams for plant parts and faults.

Every component and every fault draws from its own :class:`numpy.random.Generator`,
derived from the episode seed and a stable name. Adding a fault or a component
therefore never shifts the random numbers another part sees, and one seed always
gives the same run. Nothing in ``plant_models`` uses a global random state.
"""

from __future__ import annotations

import zlib

import numpy as np


def stable_hash(name: str) -> int:
    """A 32-bit hash of ``name`` that is the same in every process and Python version.

    Python's built-in ``hash`` of a string is salted per process, so it cannot seed
    anything; CRC-32 of the UTF-8 bytes is stable.

    Examples
    --------
    >>> stable_hash("coater.blade3")
    2643478213
    """
    return zlib.crc32(name.encode("utf-8")) & 0xFFFFFFFF


def rng_for(seed: int, name: str) -> np.random.Generator:
    """The random generator of the part or fault called ``name`` in the run ``seed``.

    Parameters
    ----------
    seed:
        The episode seed (a non-negative integer).
    name:
        A stable name, e.g. ``"coater.blades"`` or ``"fault:0:sensor_bias:coater.line.speed"``.

    Returns
    -------
    numpy.random.Generator
        A PCG64 generator seeded from ``SeedSequence(seed, spawn_key=(stable_hash(name),))``.

    Examples
    --------
    >>> a = rng_for(7, "coater.oven").standard_normal(2)
    >>> b = rng_for(7, "coater.oven").standard_normal(2)
    >>> bool((a == b).all())
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    sequence = np.random.SeedSequence(int(seed), spawn_key=(stable_hash(name),))
    return np.random.Generator(np.random.PCG64(sequence))
