"""ISO 2859-1 (ANSI/ASQ Z1.4) single sampling plans by attributes: code letters and Ac/Re tables.

Table 1 gives the sample-size code letter from the lot size and the inspection level. The
master tables (2-A normal, 2-B tightened, 2-C reduced) are diagonal: moving one code letter
down (a larger sample) has the same effect as moving one AQL step left, so every cell on a
diagonal ``code index + AQL index`` holds the same acceptance/rejection numbers or the same
arrow. The tables are encoded that way, one list per severity, and arrows are followed to the
first plan in their direction (that plan's sample size applies; if it reaches the lot size,
inspect 100 %).

Along a row the normal table reads ``0 1, up, down, 1 2, 2 3, 3 4, 5 6, 7 8, 10 11, 14 15, 21 22``
(then 30 31 and 44 45 for code letters A to E only); the tightened table
``down, 0 1, down, down, 1 2, 2 3, 3 4, 5 6, 8 9, 12 13, 18 19`` (then 27 28, 41 42). Three places
break the diagonal and are listed in ``EXCEPTIONS``: tightened code letter A at AQL 10 points down
(there is no 0/1 plan with 2 units there), and in the reduced table code letters A and B share C's
sample size of 2, so from AQL 25 up they point down to C, whose plan at AQL 1000 is 30 31.

**Reduced plans: which edition.** The acceptance numbers of the reduced table are the same in
every edition; the rejection numbers are not. MIL-STD-105E (1989, Table II-C and clause
4.10.1.4) and ANSI/ASQ Z1.4 (2003, 2008; Table II-C and clause 10.1.4, "special procedure for
reduced inspection") keep a gap: with ``Ac < d < Re`` nonconforming units the lot is accepted
but normal inspection is reinstated (Z1.4 8.3.4 b). Along a diagonal the Z1.4 reduced table
reads ``0 1, up, down, 0 2, 1 3, 1 4, 2 5, 3 6, 5 8, 7 10, 10 13, 14 17, 21 24``. ISO 2859-1:1999
(second edition, adopted unchanged e.g. as IS 2500 Part 1:2000) removed the gap together with the
limit numbers, replacing both by the switching score: its reduced plans have ``Re = Ac + 1``, a
lot is accepted or not. ``edition`` selects the reading (:data:`EDITIONS`); the default is ISO
2859-1:1999, the edition whose switching score (``switching``) we implement; ``ansi-z1.4`` gives
the gap and its "accept, reinstate normal" outcome (:meth:`Plan.decide`).

The encoded tables were checked cell by cell (16 code letters x 26 AQLs x 3 severities: sample
size and Ac after following the arrows) against MIL-STD-105E / ANSI/ASQ Z1.4 Tables II-A, II-B
and II-C as the R package AQLSchemes encodes them (see ``tests/test_supply_sampling.py``).

>>> plan = single_plan(1000, 1.0, "normal")
>>> plan.code, plan.n, plan.ac, plan.re
('J', 80, 2, 3)
>>> p = single_plan(1000, 1.0, "tightened"); (p.n, p.ac, p.re)
(80, 1, 2)
>>> p = single_plan(1000, 1.0, "reduced"); (p.n, p.ac, p.re)
(32, 1, 2)
>>> p = single_plan(1000, 1.0, "reduced", edition="ansi-z1.4"); (p.n, p.ac, p.re, p.decide(2))
(32, 1, 3, 'accept_reinstate_normal')
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, replace
from typing import Literal

Severity = Literal["normal", "tightened", "reduced"]
Edition = Literal["iso2859-1:1999", "ansi-z1.4"]
EDITIONS: tuple[str, ...] = ("iso2859-1:1999", "ansi-z1.4")
Decision = Literal["accept", "accept_reinstate_normal", "reject"]

LEVELS = ("S-1", "S-2", "S-3", "S-4", "I", "II", "III")
LOT_UPPER = (8, 15, 25, 50, 90, 150, 280, 500, 1200, 3200, 10000, 35000, 150000, 500000, 10**18)
CODE_TABLE = (  # ISO 2859-1 Table 1, one string per lot-size range: S-1 S-2 S-3 S-4 I II III
    "AAAAAAB", "AAAAABC", "AABBBCD", "ABBCCDE", "BBCCCEF", "BBCDDFG", "BCDEEGH", "BCDEFHJ",
    "CCEFGJK", "CDEGHKL", "CDFGJLM", "CDFHKMN", "DEGJLNP", "DEGJMPQ", "DEHKNQR",
)
CODES = "ABCDEFGHJKLMNPQRS"  # S exists only in the tightened table
NORMAL_N = (2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250, 2000, 3150)
REDUCED_N = (2, 2, 2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800)
AQLS = (0.010, 0.015, 0.025, 0.040, 0.065, 0.10, 0.15, 0.25, 0.40, 0.65, 1.0, 1.5, 2.5, 4.0, 6.5, 10, 15, 25, 40,
        65, 100, 150, 250, 400, 650, 1000)

UP, DOWN = "up", "down"
Cell = tuple[int, int] | str
# diagonal d = code index + AQL index -> cell; below FIRST_DIAGONAL: DOWN, beyond the list: UP
FIRST_DIAGONAL = 14
DIAGONALS: dict[str, list[Cell]] = {
    "normal": [(0, 1), UP, DOWN, (1, 2), (2, 3), (3, 4), (5, 6), (7, 8), (10, 11), (14, 15), (21, 22), (30, 31),
               (44, 45)],
    "tightened": [DOWN, (0, 1), DOWN, DOWN, (1, 2), (2, 3), (3, 4), (5, 6), (8, 9), (12, 13), (18, 19), (27, 28),
                  (41, 42)],
    "reduced": [(0, 1), UP, DOWN, (0, 1), (1, 2), (1, 2), (2, 3), (3, 4), (5, 6), (7, 8), (10, 11), (14, 15),
                (21, 22)],
}
# ANSI/ASQ Z1.4 (MIL-STD-105E) Table II-C: the rejection number of each reduced diagonal (same Ac)
Z14_REDUCED_RE: list[int | None] = [1, None, None, 2, 3, 4, 5, 6, 8, 10, 13, 17, 24]
LARGE_DIAGONAL = 11  # diagonals from here on (Ac 30 and up on normal) hold plans for code letters A-E only
EXCEPTIONS: dict[tuple[str, str, float], Cell] = {
    ("tightened", "A", 10): DOWN,
    **{("reduced", code, aql): DOWN for code in "AB" for aql in AQLS if aql >= 25},
    ("reduced", "C", 1000): (30, 31),
}
LAST_CODE = {"normal": 15, "tightened": 16, "reduced": 15}


@dataclass(frozen=True)
class Plan:
    """A single sampling plan: sample ``n`` (capped at the lot size), accept on ``<= ac``, reject on ``>= re``."""

    severity: Severity
    code: str
    n: int
    ac: int
    re: int
    aql: float
    full_inspection: bool = False

    def decide(self, defectives: int) -> Decision:
        """Accept (``<= ac``), reject (``>= re``), or — only in a reduced plan with a gap between
        Ac and Re (ANSI/ASQ Z1.4) — accept the lot but reinstate normal inspection."""
        if defectives < 0:
            raise ValueError(f"defectives must be >= 0, got {defectives}")
        if defectives <= self.ac:
            return "accept"
        return "reject" if defectives >= self.re else "accept_reinstate_normal"


def code_letter(lot_size: int, level: str = "II") -> str:
    """ISO 2859-1 Table 1: the sample-size code letter of a lot size at an inspection level.

    >>> code_letter(1000), code_letter(1000, "I"), code_letter(50000, "S-2")
    ('J', 'G', 'E')
    """
    if lot_size < 2:
        raise ValueError(f"lot_size must be at least 2, got {lot_size}")
    if level not in LEVELS:
        raise ValueError(f"inspection level must be one of {LEVELS}, got {level!r}")
    return CODE_TABLE[bisect_left(LOT_UPPER, lot_size)][LEVELS.index(level)]


def aql_index(aql: float) -> int:
    """Position of an AQL in the preferred series (0.010 ... 1000)."""
    for i, value in enumerate(AQLS):
        if abs(value - aql) <= 1e-9 * max(1.0, aql):
            return i
    raise ValueError(f"AQL {aql:g} is not in the ISO 2859-1 series {list(AQLS)}")


def cell(severity: Severity, code: str, aql: float) -> Cell:
    """The table cell: ``(Ac, Re)`` or an arrow ``"up"`` / ``"down"``."""
    if severity not in DIAGONALS:
        raise ValueError(f"severity must be normal, tightened or reduced, not {severity!r}")
    i = CODES.index(code)
    if i > LAST_CODE[severity]:
        raise ValueError(f"code letter {code} is not in the {severity} table")
    d = i + aql_index(aql) - FIRST_DIAGONAL
    diagonal = DIAGONALS[severity]
    exception = EXCEPTIONS.get((severity, code, AQLS[aql_index(aql)]))
    if exception is not None:
        return exception
    if d < 0:
        return DOWN
    if d >= len(diagonal) or (d >= LARGE_DIAGONAL and i > 4):
        return UP
    return diagonal[d]


def sample_size(severity: Severity, code: str) -> int:
    """The sample size of a code letter under a severity."""
    return (REDUCED_N if severity == "reduced" else NORMAL_N)[CODES.index(code)]


def single_plan(lot_size: int, aql: float, severity: Severity = "normal", level: str = "II",
                edition: Edition = "iso2859-1:1999") -> Plan:
    """The single sampling plan for a lot, following the table's arrows (100 % if ``n`` reaches the lot)."""
    plan = code_plan(code_letter(lot_size, level), aql, severity, edition)
    return replace(plan, n=min(plan.n, lot_size), full_inspection=plan.n >= lot_size)


def code_plan(code: str, aql: float, severity: Severity = "normal", edition: Edition = "iso2859-1:1999") -> Plan:
    """The plan the master table gives for a code letter and AQL, arrows followed; ``code`` is
    the letter the arrows lead to. ``edition`` only changes Re of reduced plans (module notes).

    >>> p = code_plan("G", 1.0); (p.code, p.n, p.ac, p.re)
    ('H', 50, 1, 2)
    """
    i = CODES.index(code)
    step = 0
    while True:
        value = cell(severity, CODES[i], aql)
        if isinstance(value, tuple):
            break
        step = 1 if value == DOWN else -1
        i += step
        if i < 0 or i > LAST_CODE[severity]:  # an arrow off the table: take the nearest plan the other way
            i -= step
            step = -step
            while not isinstance(cell(severity, CODES[i], aql), tuple):
                i += step
            value = cell(severity, CODES[i], aql)
            break
    ac, re = value  # type: ignore[misc]
    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, not {edition!r}")
    if edition == "ansi-z1.4" and severity == "reduced":
        re = _z14_reduced_re(CODES[i], aql, re)
    return Plan(severity, CODES[i], sample_size(severity, CODES[i]), ac, re, aql)


def _z14_reduced_re(code: str, aql: float, iso_re: int) -> int:
    """Re of the Z1.4 reduced cell a plan was read from (the ISO 2859-1:1999 Re where both agree)."""
    if ("reduced", code, AQLS[aql_index(aql)]) in EXCEPTIONS:
        return iso_re  # C at AQL 1000: 30 31 in both
    re = Z14_REDUCED_RE[CODES.index(code) + aql_index(aql) - FIRST_DIAGONAL]
    assert re is not None, f"reduced {code} AQL {aql:g} is an arrow, not a plan"
    return re


def tighter_aql(aql: float) -> float | None:
    """The next tighter AQL of the series (used by the switching score), None below 0.010."""
    i = aql_index(aql)
    return AQLS[i - 1] if i > 0 else None
