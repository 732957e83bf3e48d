"""Single-stream detectors: thin wrappers over a bank of one stream (one implementation).

Each has ``update(x) -> bool`` (signal now) and ``reset()``, as river's drift detectors.
After a signal the detector keeps running (a chart keeps plotting); call :meth:`reset`
to restart it, e.g. once the cause has been corrected.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from twin.edge.detection._bank import DetectorBank
from twin.edge.detection._cusum import CusumBank
from twin.edge.detection._ewma import EwmaBank
from twin.edge.detection._shewhart import ShewhartBank


class Detector:
    """Base of the single-stream detectors: one stream of a :class:`DetectorBank`."""

    bank: DetectorBank

    def __init__(self, bank: DetectorBank) -> None:
        self.bank = bank
        self._x = np.empty(1)

    def update(self, x: float) -> bool:
        """Take one observation; return whether the detector signals now (NaN: no update)."""
        self._x[0] = x
        return bool(self.bank.update(self._x)[0])

    def reset(self) -> None:
        """Restart from the in-control state."""
        self.bank.reset()

    @property
    def statistic(self) -> float:
        """The monitored statistic after the last update (NaN before the first)."""
        return float(self.bank.statistic[0])

    @property
    def upper(self) -> float:
        """Upper control limit of the statistic."""
        return float(self.bank.upper[0])

    @property
    def lower(self) -> float:
        """Lower control limit of the statistic."""
        return float(self.bank.lower[0])

    @property
    def side(self) -> int:
        """+1 if the statistic is above the centre (upper CUSUM sum), -1 below, 0 on it or no value yet."""
        return int(self.bank.side[0])


class ShewhartDetector(Detector):
    """Shewhart individuals detector with Western Electric or Nelson run rules.

    Parameters
    ----------
    center, sigma
        In-control mean and sigma of the observations.
    rules
        Rule numbers of ``rule_set`` that signal.
    rule_set
        ``"western-electric"`` (rules 1-4) or ``"nelson"`` (rules 1-8).
    L
        Width of the control limits in sigmas.

    Examples
    --------
    >>> import numpy as np
    >>> from twin.edge.detection import spc
    >>> detector = spc.ShewhartDetector(center=10.0, sigma=0.5)
    >>> rng = np.random.default_rng(1)
    >>> stream = np.concatenate([rng.normal(10.0, 0.5, 50), rng.normal(11.0, 0.5, 50)])
    >>> first = next(t for t, x in enumerate(stream) if detector.update(x))
    >>> first, detector.last_rule
    (52, 2)
    """

    def __init__(self, center: float, sigma: float, rules: Iterable[int] = (1, 2, 3, 4),
                 rule_set: str = "western-electric", L: float = 3.0) -> None:
        super().__init__(ShewhartBank(center, sigma, rules, rule_set, L))

    @property
    def last_rule(self) -> int:
        """The most serious rule that fired on the last update, 0 if none."""
        return int(self.bank.last_rules[0])


class EwmaDetector(Detector):
    """EWMA detector (Lucas & Saccucci), asymptotic or exact time-varying limits.

    Parameters
    ----------
    center, sigma
        In-control mean and sigma of the observations.
    lam
        Smoothing constant, 0 < lam <= 1.
    L
        Limit width in sigmas of the EWMA.
    exact_limits
        Time-varying limits instead of the asymptotic ones.

    Examples
    --------
    >>> import numpy as np
    >>> from twin.edge.detection import spc
    >>> detector = spc.EwmaDetector(center=0.0, sigma=1.0, lam=0.1, L=2.814)
    >>> rng = np.random.default_rng(1)
    >>> stream = np.concatenate([rng.normal(0, 1, 100), rng.normal(1.0, 1, 100)])
    >>> next(t for t, x in enumerate(stream) if detector.update(x))
    108
    """

    def __init__(self, center: float, sigma: float, lam: float, L: float, exact_limits: bool = False) -> None:
        super().__init__(EwmaBank(center, sigma, lam, L, exact_limits))


class CusumDetector(Detector):
    """Two-sided tabular CUSUM detector with a zero start.

    Parameters
    ----------
    center, sigma
        In-control mean and sigma of the observations.
    k
        Reference value in sigmas (half the shift to detect).
    h
        Decision interval in sigmas.
    restart
        Restart the sums after a signal (default, :class:`CusumBank`); ``False``: a held shift
        keeps signalling at every update (to flag every item while it lasts).

    Examples
    --------
    >>> import numpy as np
    >>> from twin.edge.detection import spc
    >>> detector = spc.CusumDetector(center=0.0, sigma=1.0, k=0.5, h=5.0)
    >>> rng = np.random.default_rng(1)
    >>> stream = np.concatenate([rng.normal(0, 1, 100), rng.normal(1.0, 1, 100)])
    >>> next(t for t, x in enumerate(stream) if detector.update(x))
    105
    """

    def __init__(self, center: float, sigma: float, k: float, h: float, restart: bool = True) -> None:
        super().__init__(CusumBank(center, sigma, k, h, restart=restart))
