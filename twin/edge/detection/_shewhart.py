"""Shewhart detectors with run rules on many streams (:class:`ShewhartBank`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from twin.edge.detection import _inputs as check
from twin.edge.detection._bank import DetectorBank
from twin.edge.detection._rules import RuleEngine, sigma_zones


class ShewhartBank(DetectorBank):
    """Shewhart individuals detectors with Western Electric or Nelson run rules.

    Each stream is judged against ``center ± L·sigma`` and the 1/3 and 2/3 zones
    inside it by the same :class:`~twin.edge.detection._rules.RuleEngine` the control charts use,
    judging "2 of 3" and "4 of 5" on the points it has right after a start or reset (the
    run-length model of Champ & Woodall; charts wait for full windows, as qcc does).

    Parameters
    ----------
    center, sigma
        In-control mean and sigma of each stream's observations.
    rules
        Rule numbers of ``rule_set`` that signal.
    rule_set
        ``"western-electric"`` (rules 1-4) or ``"nelson"`` (rules 1-8).
    L
        Width of the control limits in sigmas (zones at L/3 and 2L/3).

    Attributes
    ----------
    last_rules : numpy.ndarray
        Per stream, the most serious (lowest-numbered) rule that fired on the last
        update, 0 if none.
    last_rule_masks : numpy.ndarray
        Per stream, every rule that fired on the last update as bits (bit r = rule r).
    statistic, upper, lower : numpy.ndarray
        Last value and the control limits per stream.

    Examples
    --------
    >>> import numpy as np
    >>> from twin.edge.detection import spc
    >>> bank = spc.ShewhartBank(center=np.zeros(2), sigma=np.ones(2))
    >>> for x in ([0.5, 2.5], [0.5, 2.5], [0.5, 0.0]):
    ...     signal = bank.update(np.array(x))
    >>> bank.update(np.array([3.5, 0.1])).tolist(), bank.last_rules.tolist()
    ([True, False], [1, 0])
    """

    _state = ("last_rules", "last_rule_masks", "_zones")

    def __init__(self, center: Any, sigma: Any, rules: Iterable[int] = (1, 2, 3, 4),
                 rule_set: str = "western-electric", L: float = 3.0) -> None:
        super().__init__(center, sigma)
        self.L = check.positive(L, "L")
        self._engine = RuleEngine(self.n_streams, rule_set, rules, partial_windows=True)
        self.rules, self.rule_set = self._engine.rules, rule_set
        self.last_rules = np.zeros(self.n_streams, dtype=np.int64)
        self.last_rule_masks = np.zeros(self.n_streams, dtype=np.uint16)
        self._zones = sigma_zones(self.center, self.sigma, self.L)
        self.upper = self.center + self.L * self.sigma
        self.lower = self.center - self.L * self.sigma

    def _update(self, x: np.ndarray, ok: np.ndarray | None) -> np.ndarray:
        masks = self._engine.step(x, self.center, self._zones, active=ok)
        self.statistic = self._keep(ok, x, self.statistic)
        self.last_rule_masks = masks
        self.last_rules = RuleEngine.first_rule(masks)
        return masks != 0

    def _reset(self, sel: slice | np.ndarray) -> None:
        self._engine.reset(None if isinstance(sel, slice) else sel)
        self.last_rules[sel] = 0
        self.last_rule_masks[sel] = 0

    def compress(self, keep: Any) -> None:
        """Keep only the streams where ``keep`` is true, in order (drop the others)."""
        super().compress(keep)
        self._engine.compress(np.asarray(keep, dtype=bool))
