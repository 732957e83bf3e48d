"""Input checks shared by the charts: every error is a ValueError that names the argument."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def positive(value: float, name: str) -> float:
    """``value`` as a float, or an error naming ``name`` unless it is finite and > 0."""
    v = number(value, name)
    if not v > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def in_open_unit(value: float, name: str) -> float:
    """``value`` as a float, or an error naming ``name`` unless 0 < value < 1."""
    v = number(value, name)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return v


def lam(value: float, name: str = "lam") -> float:
    """An EWMA smoothing constant: 0 < value <= 1."""
    v = number(value, name)
    if not 0.0 < v <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return v


def number(value: Any, name: str) -> float:
    """``value`` as a finite float, or an error naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def is_grouped(data: Any) -> bool:
    """Whether ``data`` is a sequence of subgroups (2-D) rather than a flat sequence of values."""
    if isinstance(data, np.ndarray):
        return data.ndim == 2
    if isinstance(data, (str, bytes)) or not isinstance(data, Sequence) or len(data) == 0:
        return False
    return isinstance(data[0], (Sequence, np.ndarray)) and not isinstance(data[0], (str, bytes))


def _finite_array(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers, got {values!r}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] is {arr[bad[0]]}; values must be finite numbers (no NaN)")
    return arr


def subgroups(data: Any, name: str, *, min_size: int = 1) -> list[np.ndarray]:
    """Subgroups (sequences of possibly unequal length) as finite 1-D arrays."""
    if data is None or len(data) == 0:
        raise ValueError(f"{name} must not be empty")
    if not is_grouped(data):
        raise ValueError(f"{name} must be a sequence of subgroups (one sequence of values per subgroup)")
    groups = []
    for i, group in enumerate(data):
        arr = _finite_array(group, f"{name}[{i}]")
        if arr.size == 0:
            raise ValueError(f"{name}[{i}] is an empty subgroup")
        if arr.size < min_size:
            raise ValueError(f"{name}[{i}] has {arr.size} observation(s); this chart needs subgroups of at "
                             f"least {min_size}")
        groups.append(arr)
    return groups


def values(data: Any, name: str, *, min_len: int = 1) -> np.ndarray:
    """A flat sequence of finite values."""
    if data is None:
        raise ValueError(f"{name} must not be empty")
    if is_grouped(data):
        raise ValueError(f"{name} must be a flat sequence of individual values, not subgroups")
    arr = _finite_array(data, name)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if arr.size < min_len:
        raise ValueError(f"{name} needs at least {min_len} values, got {arr.size}")
    return arr


def counts(data: Any, name: str) -> np.ndarray:
    """Non-negative counts."""
    arr = values(data, name)
    neg = np.flatnonzero(arr < 0)
    if neg.size:
        raise ValueError(f"{name}[{neg[0]}] is {arr[neg[0]]:g}; counts must be >= 0")
    return arr


def sizes(value: Any, n: int, name: str, *, integer: bool) -> np.ndarray:
    """Sample sizes: a scalar (repeated) or one per point, all > 0 (and whole if ``integer``)."""
    arr = np.asarray(value, dtype=float) if value is not None else None
    if arr is None:
        raise ValueError(f"{name} is required for this chart")
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    arr = _finite_array(arr, name)
    if arr.size != n:
        raise ValueError(f"{name} has {arr.size} entries but there are {n} points")
    bad = np.flatnonzero(arr <= 0)
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] is {arr[bad[0]]:g}; sizes must be > 0")
    if integer:
        frac = np.flatnonzero(arr != np.round(arr))
        if frac.size:
            raise ValueError(f"{name}[{frac[0]}] is {arr[frac[0]]:g}; sizes must be whole numbers here")
    return arr


def matrix(data: Any, name: str) -> np.ndarray:
    """A finite 2-D array (rows = observations, columns = variables)."""
    try:
        arr = np.asarray(data, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 2-D array of numbers") from None
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (observations x variables), got shape {arr.shape}")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        i, j = bad[0]
        raise ValueError(f"{name}[{i}, {j}] is {arr[i, j]}; values must be finite numbers (no NaN)")
    return arr
