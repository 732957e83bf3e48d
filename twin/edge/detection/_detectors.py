"""Single-stream detectors: each a bank of one stream, updated per sample in pure Python.

Each has ``update(x) -> bool`` (signal now) and ``reset()``, as river's drift detectors.
After a signal the detector keeps running (a chart keeps plotting); call :meth:`reset`
to restart it, e.g. once the cause has been corrected.

:class:`ShewhartDetector`, :class:`EwmaDetector` and :class:`CusumDetector` are built on a
bank of one stream -- it validates the parameters and gives the limits, zones and rule
table -- and then keep that stream's state as Python floats and ints, so an update makes
no numpy call (a few hundred nanoseconds instead of tens of microseconds). They step the
bank's own definitions: :func:`~twin.edge.detection._ewma.ewma_step` and
:func:`~twin.edge.detection._ewma.ewma_width`, :func:`~twin.edge.detection._cusum.cusum_step_float`
(:func:`~twin.edge.detection._cusum.cusum_step` on floats) and
:class:`~twin.edge.detection._scalar.RunRules` (the run-rule engine on one stream);
``tests/twin/edge/detection/test_scalar_equivalence.py`` checks each against its bank, step
for step. :class:`Detector` itself wraps one stream of any :class:`DetectorBank` (numpy per
update).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from twin.edge.detection._bank import DetectorBank
from twin.edge.detection._cusum import CusumBank, cusum_step_float
from twin.edge.detection._ewma import EwmaBank, ewma_step, ewma_width
from twin.edge.detection._rules import RuleEngine
from twin.edge.detection._scalar import RunRules
from twin.edge.detection._shewhart import ShewhartBank

_NAN = math.nan


class Detector:
    """Base of the single-stream detectors; on its own, one stream of any :class:`DetectorBank`.

    ``Detector(bank)`` feeds a bank of one stream through numpy at every update (the
    generic path, for any bank). The three SPC detectors below override it with their
    own pure-Python per-sample path and have no ``bank``.
    """

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


class _ScalarDetector(Detector):
    """A detector whose state is Python floats and ints: the statistic, its limits and the side origin."""

    _statistic: float
    _upper: float
    _lower: float
    _origin: float  # side compares the statistic with this: the centre, or 0 for a CUSUM sum

    @staticmethod
    def _one_stream(bank: DetectorBank) -> DetectorBank:
        """The bank of one stream a detector is built on; refuse several."""
        if bank.n_streams != 1:
            raise ValueError(f"center and sigma must be scalars for a single-stream detector, "
                             f"got {bank.n_streams} streams")
        return bank

    def update(self, x: float) -> bool:  # pragma: no cover - every subclass has its own
        """Take one observation; return whether the detector signals now (NaN or None: no update)."""
        raise NotImplementedError

    def reset(self) -> None:  # pragma: no cover - every subclass has its own
        """Restart from the in-control state."""
        raise NotImplementedError

    @property
    def statistic(self) -> float:
        """The monitored statistic after the last update (NaN before the first)."""
        return self._statistic

    @property
    def upper(self) -> float:
        """Upper control limit of the statistic."""
        return self._upper

    @property
    def lower(self) -> float:
        """Lower control limit of the statistic."""
        return self._lower

    @property
    def side(self) -> int:
        """+1 if the statistic is above the centre (upper CUSUM sum), -1 below, 0 on it or no value yet."""
        d = self._statistic - self._origin
        return 1 if d > 0 else -1 if d < 0 else 0


class ShewhartDetector(_ScalarDetector):
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
        bank = self._one_stream(ShewhartBank(center, sigma, rules, rule_set, L))
        self.center, self.sigma = float(bank.center[0]), float(bank.sigma[0])
        self.rules, self.rule_set, self.L = bank.rules, bank.rule_set, bank.L
        self._origin = self.center
        self._upper, self._lower = float(bank.upper[0]), float(bank.lower[0])
        self._rules = RunRules(bank._engine, self.center, bank._zones[:, 0].tolist())
        # rule mask -> the most serious (lowest-numbered) rule in it, as the bank reports it
        self._first_rule = tuple(RuleEngine.first_rule(np.arange(1 << 9)).tolist())
        self._statistic, self._last_rule = _NAN, 0

    @property
    def last_rule(self) -> int:
        """The most serious rule that fired on the last update, 0 if none."""
        return self._last_rule

    def update(self, x: float) -> bool:
        """Take one observation; return whether a rule fires now (NaN or None: no update, no rule)."""
        x = float(x) if x is not None else _NAN
        if x != x:  # NaN: the state stays, and the last update fired no rule (as in the bank)
            self._last_rule = 0
            return False
        self._statistic = x
        rule = self._last_rule = self._first_rule[self._rules.step(x)]
        return rule != 0

    def reset(self) -> None:
        """Restart from the in-control state (forget the run-rule history)."""
        self._rules.reset()
        self._statistic, self._last_rule = _NAN, 0


class EwmaDetector(_ScalarDetector):
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

    # exact limits are taken from ewma_width for this many steps at a time (one numpy call per block)
    _BLOCK = 128

    def __init__(self, center: float, sigma: float, lam: float, L: float, exact_limits: bool = False) -> None:
        bank = self._one_stream(EwmaBank(center, sigma, lam, L, exact_limits))
        self.center, self.sigma = float(bank.center[0]), float(bank.sigma[0])
        self.lam, self.L, self.exact_limits = bank.lam, bank.L, bank.exact_limits
        self._origin = self.center
        self._asymptotic = float(bank.upper[0]), float(bank.lower[0])
        self._steady_from = -1  # first step whose exact limits are the asymptotic ones, once known
        self._block_start, self._block_upper, self._block_lower = 0, [], []
        self.reset()

    def update(self, x: float) -> bool:
        """Take one observation; return whether the EWMA is beyond its limits now (NaN or None: no update)."""
        x = float(x) if x is not None else _NAN
        if x != x:  # NaN: the EWMA stays; exact limits are those of the steps taken so far (as in the bank)
            if self.exact_limits:
                self._set_exact_limits(self._t)
            return False
        z = self._statistic = self._z = ewma_step(self._z, x, self.lam)
        if self.exact_limits:
            self._t += 1
            self._set_exact_limits(self._t)
        return z > self._upper or z < self._lower

    def _set_exact_limits(self, t: int) -> None:
        """Limits after ``t`` smoothed points, from a block of them computed by the bank's formula."""
        i = t - self._block_start
        if 0 <= i < len(self._block_upper):
            self._upper, self._lower = self._block_upper[i], self._block_lower[i]
        elif 0 <= self._steady_from <= t:
            self._upper, self._lower = self._asymptotic
        else:
            self._fill_block(t)
            self._upper, self._lower = self._block_upper[0], self._block_lower[0]

    def _fill_block(self, t: int) -> None:
        """Exact limits for steps ``t .. t + _BLOCK - 1``, with the bank's arithmetic (EwmaBank._update)."""
        width = ewma_width(self.lam, np.arange(t, t + self._BLOCK))
        half = self.L * self.sigma * width
        self._block_start = t
        self._block_upper = (self.center + half).tolist()
        self._block_lower = (self.center - half).tolist()
        if self._steady_from < 0 and width[-1] == ewma_width(self.lam, None):
            # 1 - (1-lam)^(2t) has rounded to 1: from here on the width is the asymptotic one
            self._steady_from = t + self._BLOCK - 1

    def reset(self) -> None:
        """Restart from the in-control state: the EWMA at the centre, the asymptotic limits."""
        self._z, self._t, self._statistic = self.center, 0, _NAN
        self._upper, self._lower = self._asymptotic


class CusumDetector(_ScalarDetector):
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
        bank = self._one_stream(CusumBank(center, sigma, k, h, restart=restart))
        self.center, self.sigma = float(bank.center[0]), float(bank.sigma[0])
        self.k, self.h, self.restart, self._head_start = bank.k, bank.h, bank.restart, bank.head_start
        self._origin = 0.0
        self._upper, self._lower = float(bank.upper[0]), float(bank.lower[0])
        self.reset()

    def update(self, x: float) -> bool:
        """Take one observation; return whether a sum is beyond ``h`` now (NaN or None: no update)."""
        x = float(x) if x is not None else _NAN
        if x != x:
            return False
        pos, neg = cusum_step_float(self._pos, self._neg, (x - self.center) / self.sigma, self.k)
        self._statistic = pos if pos >= neg else -neg  # the sum that crossed, before any restart
        if pos > self.h or neg > self.h:
            if self.restart:
                pos = neg = self._head_start
            self._pos, self._neg = pos, neg
            return True
        self._pos, self._neg = pos, neg
        return False

    def reset(self) -> None:
        """Restart both sums at zero."""
        self._pos = self._neg = self._head_start
        self._statistic = _NAN
