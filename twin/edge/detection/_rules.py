"""Run rules (Western Electric, Nelson) as one streaming engine over many streams.

The engine sees one point per stream per step, each with its own zone limits, and keeps
a few small registers per stream. The batch chart (:func:`control_chart` ``.rules``) and
the streaming :class:`ShewhartBank` both run this engine, so a rule means the same thing
on a chart and at the edge.

Conventions (Montgomery's, as R's qcc implements them; indices 0-based):

========================  ===========================================================
condition                 fires at point t when
========================  ===========================================================
beyond 3 sigma            x_t > UCL_t or x_t < LCL_t (strict)
2 of 3 beyond 2 sigma     x_t is beyond its 2-sigma limit on a side and at least 2 of
                          x_{t-2..t} are beyond theirs on that side (needs 3 points)
4 of 5 beyond 1 sigma     the same with 1 sigma, 4 of x_{t-4..t} (needs 5 points)
run of 8 / 9              the last 8 / 9 points strictly on one side of the centre;
                          a point exactly on the centre line breaks the run
trend of 6                x_{t-5..t} strictly increasing or strictly decreasing
14 alternating            x_{t-13..t} alternate up and down
15 within 1 sigma         the last 15 points within their 1-sigma limits (inclusive)
8 beyond 1 sigma          the last 8 points beyond 1 sigma, both sides among them
========================  ===========================================================

A run flags the point where it reaches its length and every later point of the same run.
Each point is judged against its own zone limits (qcc compares a window with the current
point's limits; the two agree whenever limits are constant).

Windows at the start: charts follow qcc and judge "2 of 3" and "4 of 5" only once 3 and
5 points exist (``partial_windows=False``). Streaming detectors judge the windows they
have (``partial_windows=True``: two points beyond 2 sigma at start-up signal at once),
which is the model behind the published run lengths (Champ & Woodall 1987: ARL 91.75
in control for Western Electric rules 1-4; exactly 91.90 with full windows only).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

WESTERN_ELECTRIC = "western-electric"
NELSON = "nelson"
RULE_SETS = {WESTERN_ELECTRIC: (1, 2, 3, 4), NELSON: (1, 2, 3, 4, 5, 6, 7, 8)}

# condition bits
_BEYOND3, _TWO_OF_3, _FOUR_OF_5, _RUN8, _RUN9, _TREND6, _ALT14, _WITHIN15, _MIX8 = (1 << i for i in range(9))
# the history word: one byte per point, newest in the low byte; flags within a byte
_UP2, _DN2, _UP1, _DN1 = 1, 2, 4, 8
# run lengths of the run rules (the vectorised engine here and the scalar one in _scalar.py share them)
SIDE_RUN8, SIDE_RUN9 = 8, 9  # points in a row on one side of the centre
TREND_STEPS = 5  # 5 rises (or falls) in a row = 6 points trending
ALT_TURNS = 12  # 12 sign changes of the difference in a row = 14 points alternating
WITHIN_RUN = 15  # points in a row within 1 sigma


def _window(flag: int, points: int) -> np.uint64:
    return np.uint64(sum(flag << (8 * i) for i in range(points)))


_W3_UP2, _W3_DN2 = _window(_UP2, 3), _window(_DN2, 3)
_W5_UP1, _W5_DN1 = _window(_UP1, 5), _window(_DN1, 5)
_W8_UP1, _W8_DN1, _W8_OUT = _window(_UP1, 8), _window(_DN1, 8), _window(_UP1 | _DN1, 8)
_ZERO = np.uint64(0)
_FLAG_WEIGHTS = np.array([_UP2, _DN2, _UP1, _DN1], dtype=np.uint8)
_CONDITION_WEIGHTS = (1 << np.arange(9)).astype(np.uint16)
# rule number -> condition bit, per rule set
_RULE_BITS = {
    WESTERN_ELECTRIC: {1: _BEYOND3, 2: _TWO_OF_3, 3: _FOUR_OF_5, 4: _RUN8},
    NELSON: {1: _BEYOND3, 2: _RUN9, 3: _TREND6, 4: _ALT14, 5: _TWO_OF_3, 6: _FOUR_OF_5, 7: _WITHIN15, 8: _MIX8},
}


def check_rules(rules: Iterable[int], rule_set: str) -> tuple[int, ...]:
    """Validate a rule set name and rule numbers; return the rules sorted.

    Parameters
    ----------
    rules
        Rule numbers within ``rule_set``.
    rule_set
        ``"western-electric"`` (rules 1-4) or ``"nelson"`` (rules 1-8).

    Returns
    -------
    tuple of int
        The rules, sorted and deduplicated.
    """
    if rule_set not in RULE_SETS:
        raise ValueError(f"rule_set must be one of {sorted(RULE_SETS)}, got {rule_set!r}")
    chosen = tuple(sorted(set(int(r) for r in rules)))
    allowed = RULE_SETS[rule_set]
    if not chosen or any(r not in allowed for r in chosen):
        raise ValueError(f"rules must be a non-empty subset of {list(allowed)} for rule_set={rule_set!r}, "
                         f"got {list(rules)}")
    return chosen


class RuleEngine:
    """Run rules evaluated one step at a time for ``n_streams`` independent streams.

    Per stream it keeps the zone flags of the last 8 points in one 64-bit word and six
    run counters (above, below, rising, falling, alternating, within 1 sigma).

    Parameters
    ----------
    n_streams
        Number of streams.
    rule_set
        ``"western-electric"`` or ``"nelson"``.
    rules
        Rules to report; ``None`` means every rule of the set.
    partial_windows
        Judge "2 of 3" and "4 of 5" on the points seen so far while fewer than 3 or 5
        points exist (streaming), instead of waiting for full windows (qcc's charts).

    Examples
    --------
    Nine points above the centre: Western Electric rule 4 fires from the eighth point on.

    >>> import numpy as np
    >>> from twin.edge.detection._rules import RuleEngine, sigma_zones
    >>> engine = RuleEngine(1, "western-electric")
    >>> zones = sigma_zones(np.zeros(1), np.ones(1), 3.0)
    >>> fired = [engine.step(np.array([0.5]), np.zeros(1), zones)[0] for _ in range(9)]
    >>> [engine.decode(m) for m in fired][6:]
    [[], [4], [4]]
    """

    def __init__(self, n_streams: int, rule_set: str = WESTERN_ELECTRIC, rules: Iterable[int] | None = None,
                 partial_windows: bool = False) -> None:
        self.rule_set = rule_set
        self.rules = check_rules(RULE_SETS[rule_set] if rules is None else rules, rule_set)
        self._min3, self._min5 = (1, 1) if partial_windows else (3, 5)
        bits = _RULE_BITS[rule_set]
        # condition code (9 bits) -> mask of the enabled rules it means (bit r = rule r)
        codes = np.arange(1 << 9)
        self._lut = np.zeros(codes.size, dtype=np.uint16)
        for r in self.rules:
            self._lut |= np.where(codes & bits[r], 1 << r, 0).astype(np.uint16)
        n = int(n_streams)
        self._seen = np.zeros(n, dtype=np.int64)
        self._prev = np.zeros(n)
        self._prev_diff = np.zeros(n)
        self._hist = np.zeros(n, dtype=np.uint64)
        self._count = np.zeros((6, n), dtype=np.int32)  # above, below, rising, falling, alternating, within

    @property
    def n_streams(self) -> int:
        """Number of streams."""
        return self._seen.size

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Forget the history of the streams in ``mask`` (all streams if ``None``)."""
        sel = slice(None) if mask is None else np.asarray(mask, dtype=bool)
        for a in (self._seen, self._prev, self._prev_diff, self._hist):
            a[sel] = 0
        self._count[:, sel] = 0

    def compress(self, keep: np.ndarray) -> None:
        """Keep only the streams where ``keep`` is true (in order)."""
        keep = np.asarray(keep, dtype=bool)
        self._seen, self._prev, self._prev_diff = self._seen[keep], self._prev[keep], self._prev_diff[keep]
        self._hist, self._count = self._hist[keep], self._count[:, keep]

    def step(self, x: np.ndarray, center: np.ndarray, zones: np.ndarray,
             active: np.ndarray | None = None) -> np.ndarray:
        """Feed one point per stream; return, per stream, a bit mask of the rules that fire.

        Parameters
        ----------
        x
            The new point of each stream (of the streams ``idx`` if given).
        center
            Centre line per stream (side runs), same shape as ``x``.
        zones
            ``(lcl1, ucl1, lcl2, ucl2, lcl3, ucl3)``: the 1-, 2- and 3-zone limits per
            stream (see :func:`sigma_zones`); shape ``(6,) + x.shape``.
        active
            Streams that take this point (the others keep their state and report 0);
            ``None`` means all.

        Returns
        -------
        numpy.ndarray
            ``uint16`` masks; bit ``r`` set means rule ``r`` fired (see :meth:`decode`).
        """
        l1, u1, l2, u2, l3, u3 = zones
        up1, dn1, up2, dn2 = x > u1, x < l1, x > u2, x < l2
        flags = np.einsum("i,ij->j", _FLAG_WEIGHTS, np.stack((up2, dn2, up1, dn1)).view(np.uint8))
        hist = (self._hist << np.uint64(8)) | flags
        seen = self._seen + 1
        diff = x - self._prev
        grow = np.stack((x > center, x < center, diff > 0, diff < 0, diff * self._prev_diff < 0, ~(up1 | dn1)))
        grow[2:4] &= seen > 1
        grow[4] &= seen > 2
        count = (self._count + 1) * grow
        run = np.maximum(count[0], count[1])
        conditions = np.stack((
            (x > u3) | (x < l3),
            (seen >= self._min3) & ((up2 & (np.bitwise_count(hist & _W3_UP2) >= 2))
                                    | (dn2 & (np.bitwise_count(hist & _W3_DN2) >= 2))),
            (seen >= self._min5) & ((up1 & (np.bitwise_count(hist & _W5_UP1) >= 4))
                                    | (dn1 & (np.bitwise_count(hist & _W5_DN1) >= 4))),
            run >= SIDE_RUN8,
            run >= SIDE_RUN9,
            np.maximum(count[2], count[3]) >= TREND_STEPS,
            count[4] >= ALT_TURNS,
            count[5] >= WITHIN_RUN,
            (np.bitwise_count(hist & _W8_OUT) == 8) & ((hist & _W8_UP1) != _ZERO) & ((hist & _W8_DN1) != _ZERO),
        ))
        code = np.einsum("i,ij->j", _CONDITION_WEIGHTS, conditions.view(np.uint8))
        prev_diff = np.where(seen > 1, diff, 0.0)
        if active is None:
            self._seen, self._prev, self._hist, self._prev_diff, self._count = seen, x, hist, prev_diff, count
            return self._lut[code]
        self._seen = np.where(active, seen, self._seen)
        self._prev = np.where(active, x, self._prev)
        self._hist = np.where(active, hist, self._hist)
        self._prev_diff = np.where(active, prev_diff, self._prev_diff)
        self._count = np.where(active, count, self._count)
        return np.where(active, self._lut[code], np.uint16(0))

    def decode(self, mask: int) -> list[int]:
        """Rule numbers set in one mask returned by :meth:`step`."""
        return [r for r in self.rules if int(mask) & (1 << r)]

    @staticmethod
    def first_rule(masks: np.ndarray) -> np.ndarray:
        """The lowest (most serious) rule number in each mask; 0 where none fired."""
        return _FIRST_RULE[np.asarray(masks, dtype=np.uint16)]


def _first_rule_table() -> np.ndarray:
    masks = np.arange(1 << 9)
    out = np.zeros(masks.size, dtype=np.int64)
    for rule in range(8, 0, -1):
        out = np.where(masks & (1 << rule), rule, out)
    return out


_FIRST_RULE = _first_rule_table()


def sigma_zones(center: np.ndarray, sigma: np.ndarray, nsigmas: float) -> np.ndarray:
    """Zone limits ``center ± k·nsigmas/3·sigma`` for k = 1, 2, 3, stacked as :meth:`RuleEngine.step` takes them."""
    w = nsigmas / 3.0 * np.asarray(sigma, dtype=float)
    c = np.asarray(center, dtype=float)
    return np.stack((c - w, c + w, c - 2 * w, c + 2 * w, c - 3 * w, c + 3 * w))
