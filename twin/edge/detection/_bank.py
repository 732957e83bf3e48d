"""The base of the vectorised detector banks: one detector per stream, updated together."""

from __future__ import annotations

from typing import Any

import numpy as np


class DetectorBank:
    """Many independent streams monitored by one kind of detector, updated in one call.

    Subclasses keep their state in arrays with one entry per stream (the stream axis
    last) and implement :meth:`_update` and :meth:`_reset`. ``_update`` computes every
    stream and, given a mask of the streams that received a value, keeps the old state
    of the others (a masked blend is cheaper than gathering and scattering them).

    Parameters
    ----------
    center, sigma
        In-control mean and sigma per stream (arrays, or scalars broadcast together).

    Attributes
    ----------
    statistic, upper, lower : numpy.ndarray
        The monitored statistic and its control limits after the last update, per stream,
        so an alarm can carry value and limit.
    """

    _state: tuple[str, ...] = ()

    def __init__(self, center: Any, sigma: Any) -> None:
        c, s = np.broadcast_arrays(np.atleast_1d(np.asarray(center, dtype=float)),
                                   np.atleast_1d(np.asarray(sigma, dtype=float)))
        if c.ndim != 1:
            raise ValueError(f"center and sigma must be scalars or 1-D arrays, got shapes "
                             f"{np.shape(center)} and {np.shape(sigma)}")
        if not np.all(np.isfinite(c)):
            raise ValueError("center must be finite for every stream")
        if not np.all(np.isfinite(s) & (s > 0)):
            raise ValueError(f"sigma must be finite and > 0 for every stream, got {np.asarray(sigma)!r}")
        self.center = c.copy()
        self.sigma = s.copy()
        self.statistic = np.full(c.size, np.nan)
        self.upper = np.full(c.size, np.nan)
        self.lower = np.full(c.size, np.nan)

    @property
    def side(self) -> np.ndarray:
        """Per stream, +1 if the statistic is above the centre, -1 below, 0 on it or no value yet."""
        return np.sign(np.nan_to_num(self.statistic - self.center)).astype(np.int8)

    @property
    def n_streams(self) -> int:
        """Number of streams."""
        return self.center.size

    def update(self, x: Any) -> np.ndarray:
        """Feed one value per stream; return which streams signal now.

        Parameters
        ----------
        x
            Array of shape ``(n_streams,)``. NaN means no value for that stream this
            time: its state is kept and it does not signal.

        Returns
        -------
        numpy.ndarray
            Boolean flags, one per stream.
        """
        x = np.array(x, dtype=float)  # a copy: state may keep it, the caller may reuse its buffer
        if x.shape != (self.n_streams,):
            raise ValueError(f"x must have shape ({self.n_streams},), got {x.shape}")
        ok = ~np.isnan(x)
        if ok.all():
            return self._update(x, None)
        return self._update(x, ok) & ok

    def _update(self, x: np.ndarray, ok: np.ndarray | None) -> np.ndarray:  # pragma: no cover
        """Advance every stream; where ``ok`` is false (no value) keep the old state."""
        raise NotImplementedError

    @staticmethod
    def _keep(ok: np.ndarray | None, new: np.ndarray, old: np.ndarray) -> np.ndarray:
        return new if ok is None else np.where(ok, new, old)

    def reset(self, mask: Any = None) -> None:
        """Return the streams in ``mask`` (all if ``None``) to their in-control start."""
        sel = slice(None) if mask is None else np.asarray(mask, dtype=bool)
        self._reset(sel)
        self.statistic[sel] = np.nan

    def _reset(self, sel: slice | np.ndarray) -> None:  # pragma: no cover
        raise NotImplementedError

    def compress(self, keep: Any) -> None:
        """Keep only the streams where ``keep`` is true, in order (drop the others)."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.n_streams,):
            raise ValueError(f"keep must have shape ({self.n_streams},), got {keep.shape}")
        for name in ("center", "sigma", "statistic", "upper", "lower", *self._state):
            setattr(self, name, getattr(self, name)[..., keep])
