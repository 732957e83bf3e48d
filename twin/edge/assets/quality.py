"""What a historian says about the quality of each element's samples: the measured half of credibility.

For every element of a run's historian (:class:`~twin.edge.historian.HistorianReader`) over the run's
span, one SQL pass over ``samples`` gives:

* ``expected`` — samples the element's period promises over the span, ``max(1, round(span / period))``;
* ``good_share`` — good samples over expected (capped at 1): a sample that never arrived counts as
  much against it as one that arrived bad;
* ``gap_share`` — share of the span spent in **gaps**, stretches longer than ``gap_periods`` periods
  with no good sample (between good samples, and before the first or after the last one);
  scattered losses leave it at 0, a drop-out of a minute does not;
* ``clock_agreement`` — share of samples whose wall-clock time (``wall_utc``) minus plant time
  (``ts_ms``) lies within ``clock_tolerance_ms`` of the run's median offset; only where the two clocks
  should run together (a real line, a real-time run at factor 1), else ``None``.

The span is the run's plant duration when the caller knows it (``report.json``), else the historian's
own first to last sample plus one scan.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.edge.historian import HistorianReader

GAP_PERIODS = 2.0  # a stretch without a good sample longer than this many periods is a gap
CLOCK_TOLERANCE_MS = 2000  # wall minus plant time may stray this far from the run's median offset


@dataclass(frozen=True)
class ElementQuality:
    """Measured sample quality of one historian element over one run (module docstring)."""

    element: str
    tag: str
    unit: str
    period_ms: int
    expected: int
    good: int
    rows: int
    good_share: float
    gap_share: float
    clock_agreement: float | None

    @property
    def step(self) -> str:
        """The process step (asset path) the element belongs to: its tag name without the last segment."""
        return self.tag.rsplit(".", 1)[0]


def span_of(reader: HistorianReader, plant_s: float | None = None) -> tuple[int, int]:
    """The run's span ``(start_ms, end_ms)``: from its first sample for ``plant_s`` seconds, else to the last
    sample plus the shortest period (the scan that sampled it)."""
    first, last, period = reader.con.execute(
        "SELECT min(ts_ms), max(ts_ms), (SELECT min(period_ms) FROM elements) FROM samples").fetchall()[0]
    if first is None:
        return 0, 0
    start = int(first)
    if plant_s is not None and plant_s > 0:
        return start, start + int(round(plant_s * 1000))
    return start, int(last) + int(period or 1)


def element_quality(
    reader: HistorianReader,
    span: tuple[int, int],
    *,
    clock: bool = False,
    gap_periods: float = GAP_PERIODS,
    clock_tolerance_ms: int = CLOCK_TOLERANCE_MS,
) -> list[ElementQuality]:
    """:class:`ElementQuality` of every element the historian describes, in its ``elements`` order.

    ``span`` is ``(start_ms, end_ms)`` (:func:`span_of`); ``clock`` says whether wall and plant time should
    agree in this run (``clock_agreement`` is ``None`` otherwise).
    """
    start, end = span
    length = max(end - start, 1)
    rows = reader.con.execute(
        """
        WITH inside AS (SELECT * FROM samples WHERE ts_ms >= $start AND ts_ms < $end),
        good AS (
            SELECT tag, ts_ms, ts_ms - lag(ts_ms) OVER (PARTITION BY tag ORDER BY ts_ms) AS delta
            FROM inside WHERE quality = 'good'),
        gaps AS (
            SELECT g.tag, count(*) AS good, min(ts_ms) AS first_ms, max(ts_ms) AS last_ms,
                   sum(CASE WHEN delta > $gap * e.period_ms THEN delta - e.period_ms ELSE 0 END) AS inner_gap
            FROM good g JOIN elements e ON e.name = g.tag GROUP BY g.tag),
        counted AS (SELECT tag, count(*) AS n_rows FROM inside GROUP BY tag)
        SELECT e.name, e.tag, coalesce(e.unit, ''), e.period_ms, coalesce(c.n_rows, 0), coalesce(g.good, 0),
               g.first_ms, g.last_ms, coalesce(g.inner_gap, 0)
        FROM elements e LEFT JOIN gaps g ON g.tag = e.name LEFT JOIN counted c ON c.tag = e.name
        ORDER BY e.rowid
        """,
        {"start": start, "end": end, "gap": gap_periods},
    ).fetchall()
    agreement = _clock_agreement(reader, span, clock_tolerance_ms) if clock else {}
    out = []
    for name, tag, unit, period, n_rows, good, first_ms, last_ms, inner_gap in rows:
        expected = max(1, round(length / period))
        if good:
            head = first_ms - start if first_ms - start > gap_periods * period else 0
            tail = end - last_ms - period if end - last_ms > gap_periods * period else 0
            gap_ms = float(inner_gap) + head + max(tail, 0)
        else:
            gap_ms = float(length)
        out.append(ElementQuality(
            element=name, tag=tag, unit=unit, period_ms=int(period), expected=expected, good=int(good),
            rows=int(n_rows), good_share=min(1.0, good / expected), gap_share=min(1.0, gap_ms / length),
            clock_agreement=agreement.get(name)))
    return out


def _clock_agreement(reader: HistorianReader, span: tuple[int, int], tolerance_ms: int) -> dict[str, float]:
    """Per element, the share of its samples whose wall-minus-plant offset is within ``tolerance_ms`` of the
    run's median offset (elements without wall times are left out)."""
    rows = reader.con.execute(
        """
        WITH inside AS (
            SELECT tag, epoch_ms(wall_utc) - ts_ms AS offset_ms FROM samples
            WHERE ts_ms >= $start AND ts_ms < $end AND wall_utc IS NOT NULL),
        centre AS (SELECT median(offset_ms) AS m FROM inside)
        SELECT tag, avg(CASE WHEN abs(offset_ms - centre.m) <= $tol THEN 1.0 ELSE 0.0 END)
        FROM inside, centre GROUP BY tag
        """,
        {"start": span[0], "end": span[1], "tol": tolerance_ms},
    ).fetchall()
    return {name: float(share) for name, share in rows}
