"""Credibility: source kind times measured quality; it falls as a tag's samples go bad."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.twin.assets.support import regular, write_historian
from twin.edge.assets.credibility import SOURCE_PRIOR, credibility, source_of
from twin.edge.assets.quality import element_quality, span_of
from twin.edge.frames import Quality
from twin.edge.historian import HistorianReader
from virtual_plc.tagmap import Tag

N = 100  # samples of the tag, 100 ms apart
ORDER = np.random.default_rng(3).permutation(N)  # the order in which samples go bad (each set holds the last)


def tag_credibility(bad: int, folder: Path, prior: float = 1.0) -> float:
    """Credibility of a tag whose first ``bad`` samples in :data:`ORDER` read bad."""
    rows = regular(100, N * 100, np.arange(N, dtype=float))
    spoiled = set(ORDER[:bad].tolist())
    rows = [(t, v, Quality.BAD if i in spoiled else q, o) for i, (t, v, q, o) in enumerate(rows)]
    path = write_historian(folder / f"h{bad}.duckdb", [Tag(name="l.a.v", period_ms=100)], {"l.a.v": rows})
    with HistorianReader(path) as reader:
        (q,) = element_quality(reader, span_of(reader, N / 10))
    assert q.expected == N and q.good == N - bad
    return credibility(prior, q.good_share, q.gap_share, q.clock_agreement)


@settings(max_examples=25)
@given(st.integers(0, N), st.integers(0, N))
def test_credibility_falls_as_samples_go_bad(a: int, b: int) -> None:
    fewer, more = sorted((a, b))
    with tempfile.TemporaryDirectory() as folder:
        low, high = tag_credibility(more, Path(folder)), tag_credibility(fewer, Path(folder))
    assert 0.0 <= low <= high <= 1.0
    if more > fewer:
        assert low < high  # more bad samples: strictly less credible (the good share falls)
    if more == N:
        assert low == 0.0


def test_a_clean_device_read_is_fully_credible_and_the_source_caps_it(tmp_path: Path) -> None:
    assert tag_credibility(0, tmp_path) == 1.0
    assert tag_credibility(0, tmp_path, prior=SOURCE_PRIOR["manual-entry"]) == 0.5


def test_the_source_kinds_rank_as_documented() -> None:
    ranked = ["device-direct", "edge-computed", "supplier-reported", "manual-entry"]
    assert sorted(ranked, key=lambda k: -SOURCE_PRIOR[k]) == ranked
    assert source_of("supplier-reported") == ("supplier-reported", 0.7)
    assert source_of(0.8) == ("device-direct", 0.8) and source_of(None) == ("device-direct", 1.0)
    with pytest.raises(ValueError, match="unknown source kind 'typed'"):
        source_of("typed")


def test_a_tag_map_names_the_source_kind_in_its_credibility_column() -> None:
    assert Tag(name="l.a.v", period_ms=10, credibility="manual-entry").credibility == "manual-entry"
    assert Tag(name="l.a.v", period_ms=10, credibility="0.9").credibility == 0.9
    with pytest.raises(ValueError, match="credibility"):
        Tag(name="l.a.v", period_ms=10, credibility="typed")


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_credibility_never_rises_when_a_share_worsens(prior: float, good: float, gaps: float, clock: float,
                                                      worse: float) -> None:
    base = credibility(prior, good, gaps, clock)
    assert credibility(prior, good * worse, gaps, clock) <= base
    assert credibility(prior, good, gaps + (1 - gaps) * worse, clock) <= base
    assert credibility(prior, good, gaps, clock * worse) <= base
