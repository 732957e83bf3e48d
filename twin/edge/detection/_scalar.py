"""The run-rule engine for one stream in pure Python: the single-stream Shewhart detector's per-sample path.

:class:`RunRules` is :class:`~twin.edge.detection._rules.RuleEngine` restricted to one stream,
with its registers held as Python ints and floats instead of numpy arrays, so a
:class:`~twin.edge.detection.spc.ShewhartDetector` update costs a few hundred nanoseconds
instead of a dozen numpy calls. It is built from a ``RuleEngine`` and takes from it
everything that defines a rule -- the zone-flag and condition bits, the history-window
masks, the table from conditions to enabled rules, and whether partial windows are judged --
so only the per-point recursion below is written twice. Its run lengths restate the table
in :mod:`twin.edge.detection._rules` (``RuleEngine.step`` writes them as literals), and
``tests/twin/edge/detection/test_scalar_equivalence.py`` checks the two engines mask for
mask on the same streams.
"""

from __future__ import annotations

from collections.abc import Sequence

from twin.edge.detection import _rules
from twin.edge.detection._rules import RuleEngine

# zone flags of one point, as RuleEngine packs them into a byte of the history word
_UP2, _DN2, _UP1, _DN1 = _rules._UP2, _rules._DN2, _rules._UP1, _rules._DN1
# history windows (newest point in the low byte) and condition bits, as Python ints
_W3_UP2, _W3_DN2 = int(_rules._W3_UP2), int(_rules._W3_DN2)
_W5_UP1, _W5_DN1 = int(_rules._W5_UP1), int(_rules._W5_DN1)
_W8_UP1, _W8_DN1, _W8_OUT = int(_rules._W8_UP1), int(_rules._W8_DN1), int(_rules._W8_OUT)
_BEYOND3, _TWO_OF_3, _FOUR_OF_5 = _rules._BEYOND3, _rules._TWO_OF_3, _rules._FOUR_OF_5
_RUN8, _RUN9, _TREND6, _ALT14 = _rules._RUN8, _rules._RUN9, _rules._TREND6, _rules._ALT14
_WITHIN15, _MIX8 = _rules._WITHIN15, _rules._MIX8
_HIST_BITS = (1 << 64) - 1  # RuleEngine keeps the history in a uint64: the last 8 points

# run lengths, counted as RuleEngine.step counts them (see the table in _rules)
_SIDE_RUN8, _SIDE_RUN9 = _rules.SIDE_RUN8, _rules.SIDE_RUN9
_TREND_STEPS, _ALT_TURNS, _WITHIN_RUN = _rules.TREND_STEPS, _rules.ALT_TURNS, _rules.WITHIN_RUN


class RunRules:
    """One stream of :class:`~twin.edge.detection._rules.RuleEngine`, one point at a time, in pure Python.

    Parameters
    ----------
    engine
        The engine whose rules, rule set and window convention to follow (any number of
        streams; only its configuration is read).
    center
        Centre line of the stream (side runs).
    zones
        ``(lcl1, ucl1, lcl2, ucl2, lcl3, ucl3)`` as floats, as
        :func:`~twin.edge.detection._rules.sigma_zones` gives them.

    Examples
    --------
    Nine points above the centre: Western Electric rule 4 fires from the eighth point on.

    >>> import numpy as np
    >>> from twin.edge.detection._rules import RuleEngine, sigma_zones
    >>> zones = sigma_zones(np.zeros(1), np.ones(1), 3.0)[:, 0].tolist()
    >>> rules = RunRules(RuleEngine(1, "western-electric"), 0.0, zones)
    >>> [rules.step(0.5) for _ in range(9)][6:]
    [0, 16, 16]
    """

    __slots__ = ("_above", "_alt", "_below", "_center", "_falling", "_hist", "_lut", "_min3", "_min5",
                 "_prev", "_prev_diff", "_rising", "_seen", "_within", "_zones")

    def __init__(self, engine: RuleEngine, center: float, zones: Sequence[float]) -> None:
        self._lut: tuple[int, ...] = tuple(engine._lut.tolist())  # condition code -> mask of enabled rules
        self._min3, self._min5 = engine._min3, engine._min5
        self._center = float(center)
        self._zones = tuple(float(z) for z in zones)
        if len(self._zones) != 6:
            raise ValueError(f"zones must be (lcl1, ucl1, lcl2, ucl2, lcl3, ucl3), got {zones!r}")
        self.reset()

    def reset(self) -> None:
        """Forget the history (as :meth:`RuleEngine.reset` does for a stream)."""
        self._seen = 0
        self._hist = 0
        self._prev = self._prev_diff = 0.0
        self._above = self._below = self._rising = self._falling = self._alt = self._within = 0

    def step(self, x: float) -> int:
        """Take one point (a float, not NaN); return the mask of the rules that fire (bit r = rule r)."""
        l1, u1, l2, u2, l3, u3 = self._zones
        # zone flags; l2 <= l1 <= u1 <= u2 (rounding is monotone), so beyond 2 sigma implies beyond 1
        if x > u1:
            flags = _UP1 | _UP2 if x > u2 else _UP1
        elif x < l1:
            flags = _DN1 | _DN2 if x < l2 else _DN1
        else:
            flags = 0
        hist = self._hist = ((self._hist << 8) | flags) & _HIST_BITS
        seen = self._seen = self._seen + 1
        diff = x - self._prev
        self._prev = x
        center = self._center
        above = self._above = self._above + 1 if x > center else 0
        below = self._below = self._below + 1 if x < center else 0
        if seen > 1:  # a difference exists from the second point, a turn from the third
            rising = self._rising = self._rising + 1 if diff > 0 else 0
            falling = self._falling = self._falling + 1 if diff < 0 else 0
            alt = self._alt = self._alt + 1 if seen > 2 and diff * self._prev_diff < 0 else 0
            self._prev_diff = diff
        else:
            rising = falling = alt = self._rising = self._falling = self._alt = 0
            self._prev_diff = 0.0
        within = self._within = 0 if flags & (_UP1 | _DN1) else self._within + 1

        code = _BEYOND3 if x > u3 or x < l3 else 0
        if seen >= self._min3 and (flags & _UP2 and (hist & _W3_UP2).bit_count() >= 2
                                   or flags & _DN2 and (hist & _W3_DN2).bit_count() >= 2):
            code |= _TWO_OF_3
        if seen >= self._min5 and (flags & _UP1 and (hist & _W5_UP1).bit_count() >= 4
                                   or flags & _DN1 and (hist & _W5_DN1).bit_count() >= 4):
            code |= _FOUR_OF_5
        run = above if above > below else below
        if run >= _SIDE_RUN8:
            code |= _RUN8 | _RUN9 if run >= _SIDE_RUN9 else _RUN8
        if rising >= _TREND_STEPS or falling >= _TREND_STEPS:
            code |= _TREND6
        if alt >= _ALT_TURNS:
            code |= _ALT14
        if within >= _WITHIN_RUN:
            code |= _WITHIN15
        if hist & _W8_UP1 and hist & _W8_DN1 and (hist & _W8_OUT).bit_count() == 8:
            code |= _MIX8
        return self._lut[code]
