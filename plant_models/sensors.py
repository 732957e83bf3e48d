"""The sensor layer: true values in, measured values out, with sensor faults per tag.

Sensors that share a sample period form a :class:`SensorGroup`; the group keeps all
their values in one flat vector (an array tag such as a 32-lane profile occupies 32
consecutive elements), so noise, bias, stuck values, drop-outs and clock skew are
applied with a handful of numpy operations per sample instead of a loop over tags.

Measured value of element ``e`` at a sample:

.. math::

    m_e = \\operatorname{clip}\\big(x_e(t - \\ell_e) + \\sigma_e z_e + b_e + \\textstyle\\sum
          s_k z'_{k,e},\\; \\text{low}_e,\\; \\text{high}_e\\big)

with the true value ``x`` (delayed by ``ℓ`` samples under clock skew), the sensor's own
noise ``σ z`` (``z`` drawn for every element at every sample, so faults never shift the
stream), bias ``b`` and noise bursts ``s z'`` drawn from each burst's own generator.
A stuck element repeats its value at onset and a dropped-out one reads ``nan``.
Values saturate at the engineering range, as a 4–20 mA transmitter does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SensorSpec:
    """One sensor: its tag, element count, noise σ and engineering range."""

    name: str
    size: int
    sigma: float
    low: float
    high: float


@dataclass
class _Burst:
    """An active noise burst: where, how strong, and whose random numbers."""

    where: slice
    sigma: float
    rng: np.random.Generator


class SensorGroup:
    """Sensors sampled together at one period, vectorised over all their elements.

    Parameters
    ----------
    specs:
        The sensors, in the order their elements are laid out.
    period_ms:
        The sample period; clock skew is converted to whole samples of it.
    rng:
        The group's noise generator.
    history_s:
        How far back the ring buffer of true values reaches (the largest clock skew).
    initial:
        The true values at time zero; they also fill the history.
    """

    def __init__(
        self,
        specs: list[SensorSpec],
        period_ms: int,
        rng: np.random.Generator,
        history_s: float,
        initial: np.ndarray,
    ) -> None:
        self.period_ms = period_ms
        self.slices: dict[str, slice] = {}
        start = 0
        for spec in specs:
            self.slices[spec.name] = slice(start, start + spec.size)
            start += spec.size
        self.width = start
        self.sigma = np.concatenate([np.full(s.size, s.sigma) for s in specs])
        self.low = np.concatenate([np.full(s.size, s.low) for s in specs])
        self.high = np.concatenate([np.full(s.size, s.high) for s in specs])
        self._rng = rng
        self.capacity = int(round(history_s * 1000 / period_ms)) + 1
        self._ring = np.tile(np.asarray(initial, dtype=float), (self.capacity, 1))
        self._row = 0
        self._columns = np.arange(self.width)
        self._bias = np.zeros(self.width)
        self._lag = np.zeros(self.width, dtype=np.int64)
        self._stuck = np.zeros(self.width, dtype=np.int64)
        self._stuck_value = np.zeros(self.width)
        self._dropped = np.zeros(self.width, dtype=np.int64)
        self._bursts: list[_Burst] = []
        self._faulty = False
        self.measured = np.empty(self.width)
        self.sample(np.asarray(initial, dtype=float))

    def sample(self, true: np.ndarray) -> np.ndarray:
        """Record ``true`` and return (and keep in :attr:`measured`) the measured vector."""
        self._row = (self._row + 1) % self.capacity
        self._ring[self._row] = true
        noise = self._rng.standard_normal(self.width)
        if self._faulty:
            measured = self._faulty_sample(true, noise)
        else:
            measured = true + self.sigma * noise
        np.clip(measured, self.low, self.high, out=measured)
        self.measured = measured
        return measured

    def _faulty_sample(self, true: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """The slow path, taken only while some sensor fault of this group is active."""
        if self._lag.any():
            rows = (self._row - self._lag) % self.capacity
            true = self._ring[rows, self._columns]
        measured = true + self.sigma * noise + self._bias
        for burst in self._bursts:
            part = measured[burst.where]
            part += burst.sigma * burst.rng.standard_normal(part.shape[0])
        stuck = self._stuck > 0
        measured[stuck] = self._stuck_value[stuck]
        measured[self._dropped > 0] = np.nan
        return measured

    def _refresh(self) -> None:
        self._faulty = bool(
            self._bias.any()
            or self._lag.any()
            or self._stuck.any()
            or self._dropped.any()
            or self._bursts
        )

    def add_bias(self, name: str, bias: float) -> None:
        """Add ``bias`` to every element of sensor ``name`` (negative to remove it)."""
        self._bias[self.slices[name]] += bias
        self._refresh()

    def stick(self, name: str) -> None:
        """Freeze sensor ``name`` at its latest measured value."""
        where = self.slices[name]
        fresh = self._stuck[where] == 0
        self._stuck_value[where] = np.where(
            fresh, self.measured[where], self._stuck_value[where]
        )
        self._stuck[where] += 1
        self._refresh()

    def unstick(self, name: str) -> None:
        """Release one :meth:`stick` of sensor ``name``."""
        self._stuck[self.slices[name]] -= 1
        self._refresh()

    def drop(self, name: str, count: int = 1) -> None:
        """Make sensor ``name`` read ``nan`` (``count=-1`` releases one drop-out)."""
        self._dropped[self.slices[name]] += count
        self._refresh()

    def skew_samples(self, seconds: float) -> int:
        """The clock skew ``seconds`` in whole samples; ``ValueError`` beyond the history."""
        samples = int(round(seconds * 1000 / self.period_ms))
        if not 0 <= samples < self.capacity:
            limit = (self.capacity - 1) * self.period_ms / 1000
            raise ValueError(
                f"clock skew of {seconds} s is outside 0..{limit:g} s, the history "
                f"kept for sensors sampled every {self.period_ms} ms"
            )
        return samples

    def add_lag(self, name: str, samples: int) -> None:
        """Delay sensor ``name`` by ``samples`` more samples (negative to undo)."""
        self._lag[self.slices[name]] += samples
        self._refresh()

    def start_burst(self, name: str, sigma: float, rng: np.random.Generator) -> object:
        """Add noise of σ ``sigma`` from ``rng`` to sensor ``name``; returns a handle."""
        burst = _Burst(self.slices[name], float(sigma), rng)
        self._bursts.append(burst)
        self._refresh()
        return burst

    def stop_burst(self, handle: object) -> None:
        """End the noise burst ``handle`` returned by :meth:`start_burst`."""
        self._bursts.remove(handle)  # type: ignore[arg-type]
        self._refresh()


class SensorBank:
    """All sensor groups of a plant, addressed by tag name."""

    def __init__(self, groups: list[SensorGroup]) -> None:
        self.groups = groups
        self._group_of: dict[str, SensorGroup] = {
            name: group for group in groups for name in group.slices
        }

    @property
    def names(self) -> list[str]:
        """Every sensor tag, group by group."""
        return list(self._group_of)

    def group(self, name: str) -> SensorGroup:
        """The group sampling sensor ``name``; ``KeyError`` naming it if unknown."""
        try:
            return self._group_of[name]
        except KeyError:
            raise KeyError(f"no sensor named {name!r}") from None
