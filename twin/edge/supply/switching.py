"""ISO 2859-1 switching rules (with the 1999 switching score) and ISO 2859-3 style skip-lot.

Switching, per part and supplier, starting on normal inspection:

- normal -> tightened: 2 of 5 or fewer consecutive lots not accepted (original inspection);
- tightened -> normal: 5 consecutive lots accepted;
- normal -> reduced: switching score >= 30, production steady, reduced inspection allowed;
  the score (ISO 2859-1:1999, 9.3.3.2) adds 3 for a lot that would also have been accepted at
  the next tighter AQL when Ac >= 2, adds 2 for an accepted lot when Ac is 0 or 1, and is reset
  to 0 otherwise (so at least 10 accepted lots are needed);
- reduced -> normal: a lot not accepted, or production irregular, or (ANSI/ASQ Z1.4 reduced
  plans only, ``sampling.Plan.decide``) a lot accepted with more than Ac nonconforming units;
- discontinue: 5 lots not accepted while on tightened inspection; acceptance inspection stops
  until the supplier has acted, then resumes on tightened.

Skip-lot (simplified ISO 2859-3): after ``qualify_lots`` consecutive accepted lots (and, in our
adaptive policy, while the supplier's published data show a capable, in-control process) only
one lot in ``f`` is inspected, ``f`` rising 2 -> 3 -> 4 -> 5 after every ``qualify_lots`` further
accepted inspected lots; any lot not accepted returns to lot-by-lot inspection.

>>> s = SwitchingState()
>>> for accepted in (True, False, True, False):
...     s.record(accepted, n_defective=0 if accepted else 3, ac=2, ac_tighter=1)
>>> s.severity
'tightened'
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from twin.edge.supply.sampling import Severity

SCORE_TO_REDUCED = 30
SKIP_FREQUENCIES = (1, 2, 3, 4, 5)


@dataclass
class SwitchingState:
    """Where one supplier's part stands in the switching scheme, with the history of moves."""

    reduced_allowed: bool = True
    severity: Severity = "normal"
    score: int = 0
    discontinued: bool = False
    _recent: deque = field(default_factory=lambda: deque(maxlen=5))
    _accepted_run: int = 0
    _tightened_rejects: int = 0
    moves: list[tuple[int, str, str]] = field(default_factory=list)
    _lots: int = 0

    def record(self, accepted: bool, n_defective: int, ac: int, ac_tighter: int | None,
               steady: bool = True, reinstate_normal: bool = False) -> None:
        """Update the state after a lot's original inspection under the current severity.

        ``reinstate_normal``: the lot was accepted between Ac and Re of a reduced plan with a gap
        (ANSI/ASQ Z1.4 10.1.4); normal inspection resumes."""
        self._lots += 1
        self._recent.append(accepted)
        self._accepted_run = self._accepted_run + 1 if accepted else 0
        before = self.severity
        if self.severity == "normal":
            self._update_score(accepted, n_defective, ac, ac_tighter)
            if list(self._recent).count(False) >= 2:
                self._move("tightened")
            elif self.score >= SCORE_TO_REDUCED and steady and self.reduced_allowed:
                self._move("reduced")
        elif self.severity == "tightened":
            self._tightened_rejects += not accepted
            if self._tightened_rejects >= 5:
                self.discontinued = True
            elif self._accepted_run >= 5:
                self._move("normal")
        elif not accepted or not steady or reinstate_normal:
            self._move("normal")
        if before != self.severity:
            self._recent.clear()

    def resume(self) -> None:
        """The supplier has acted after a discontinuation: resume on tightened inspection."""
        self.discontinued = False
        self._tightened_rejects = 0
        self._accepted_run = 0

    def _update_score(self, accepted: bool, n_defective: int, ac: int, ac_tighter: int | None) -> None:
        if ac >= 2:
            would_pass = accepted and ac_tighter is not None and n_defective <= ac_tighter
            self.score = self.score + 3 if would_pass else 0
        else:
            self.score = self.score + 2 if accepted else 0

    def _move(self, to: Severity) -> None:
        self.moves.append((self._lots, self.severity, to))
        self.severity = to
        self.score = 0
        self._accepted_run = 0
        self._tightened_rejects = 0


@dataclass
class SkipLot:
    """Skip-lot state: inspect one lot in ``frequency``; qualification and promotion by accepted lots."""

    qualify_lots: int = 10
    frequency: int = 1
    _run: int = 0
    _since_inspected: int = 0

    def due(self, eligible: bool) -> bool:
        """Whether the next lot must be inspected; ``eligible`` False forces lot-by-lot."""
        if not eligible:
            self.frequency = 1
            self._since_inspected = 0
        if self.frequency == 1 or self._since_inspected + 1 >= self.frequency:
            self._since_inspected = 0
            return True
        self._since_inspected += 1
        return False

    def record(self, accepted: bool) -> None:
        """After an inspected lot: promote after ``qualify_lots`` accepted lots, drop back on a rejection."""
        if not accepted:
            self.frequency, self._run, self._since_inspected = 1, 0, 0
            return
        self._run += 1
        if self._run >= self.qualify_lots and self.frequency < SKIP_FREQUENCIES[-1]:
            self.frequency += 1
            self._run = 0
