"""ISO 2859-1 tables and switching rules against published values.

Reference values: MIL-STD-105E (1989) / ANSI/ASQ Z1.4, whose Table I and single-sampling master
tables II-A (normal), II-B (tightened) and II-C (reduced) ISO 2859-1 reproduces as Tables 1 and
2-A/2-B/2-C, as encoded in the R package AQLSchemes (J. Lawson; GitHub
fjgonzalezmgt/AQLSchemesCust, ``R/AAZ14Single.R``: sample size and Ac per code letter and AQL,
arrows already followed). The tightened rows were cross-checked against the MIL-STD-105E Table
II-B extract at http://www.nibs.org/FMOC/DPW_AC/AC-TABLE.ASC (rows F, G, J: ``0 1`` one AQL step
right of normal, then two arrows down, then ``1 2``). Z1.4's reduced table keeps a gap between Ac
and Re; ISO 2859-1:1999 sets Re = Ac + 1, our default (``edition="iso2859-1:1999"``), so the
master-table check compares n and Ac with Z1.4 and Re with Ac + 1; with ``edition="ansi-z1.4"``
the reduced Re are compared with AQLSchemes' Z1.4 Table II-C rejection numbers. The switching
rules and score are those of ISO 2859-1:1999, clause 9.3.
"""

from __future__ import annotations

import pytest

from twin.edge.supply.sampling import (
    AQLS,
    code_letter,
    code_plan,
    sample_size,
    single_plan,
    tighter_aql,
)
from twin.edge.supply.switching import SkipLot, SwitchingState


@pytest.mark.parametrize(("lot", "level", "code"), [
    (8, "II", "A"), (9, "II", "B"), (50, "II", "D"), (280, "II", "G"), (500, "II", "H"), (501, "II", "J"),
    (1200, "II", "J"), (1201, "II", "K"), (10000, "II", "L"), (35000, "II", "M"), (500001, "II", "Q"),
    (1000, "I", "G"), (1000, "III", "K"), (1000, "S-1", "C"), (1000, "S-4", "F"), (600000, "III", "R"),
])
def test_code_letters_of_table_1(lot, level, code):
    assert code_letter(lot, level) == code


def test_sample_sizes_by_code_letter():
    assert [sample_size("normal", c) for c in "ABCDEFGHJKLMNPQR"] == [
        2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250, 2000]
    assert sample_size("reduced", "J") == 32 and sample_size("reduced", "A") == 2


@pytest.mark.parametrize(("lot", "aql", "severity", "n", "ac", "re"), [
    (1000, 1.0, "normal", 80, 2, 3),       # J, the brief's check
    (1000, 0.65, "normal", 80, 1, 2),
    (1000, 2.5, "normal", 80, 5, 6),
    (1000, 4.0, "normal", 80, 7, 8),
    (1000, 6.5, "normal", 80, 10, 11),
    (3000, 1.0, "normal", 125, 3, 4),      # K
    (5000, 1.0, "normal", 200, 5, 6),      # L
    (1000, 0.15, "normal", 80, 0, 1),
    (100, 1.0, "normal", 13, 0, 1),        # F: arrow up to E, n = 13, Ac 0
    (200, 1.0, "normal", 50, 1, 2),        # G: arrow down to H
    (3000, 0.65, "tightened", 125, 1, 2),  # K
    (1000, 1.0, "tightened", 80, 1, 2),
    (1000, 2.5, "tightened", 80, 3, 4),
    (1000, 1.0, "reduced", 32, 1, 2),
])
def test_single_sampling_plans(lot, aql, severity, n, ac, re):
    plan = single_plan(lot, aql, severity)
    assert (plan.n, plan.ac, plan.re) == (n, ac, re)


TABLE_AQLS = (0.010, 0.065, 0.25, 0.40, 0.65, 1.0, 1.5, 2.5, 4.0, 6.5, 10, 25, 100, 400, 1000)
# code letter -> "n/Ac" for each AQL of TABLE_AQLS, arrows followed (AQLSchemes, see the module docstring)
PUBLISHED = {
    "normal": {
        "A": "1250/0 200/0 50/0 32/0 20/0 13/0 8/0 5/0 3/0 2/0 5/1 2/1 2/5 2/14 2/30",
        "D": "1250/0 200/0 50/0 32/0 20/0 13/0 8/0 5/0 13/1 8/1 8/2 8/5 8/14 8/44 3/44",
        "F": "1250/0 200/0 50/0 32/0 20/0 13/0 32/1 20/1 20/2 20/3 20/5 20/10 13/21 8/44 3/44",
        "G": "1250/0 200/0 50/0 32/0 20/0 50/1 32/1 32/2 32/3 32/5 32/7 32/14 13/21 8/44 3/44",
        "H": "1250/0 200/0 50/0 32/0 80/1 50/1 50/2 50/3 50/5 50/7 50/10 50/21 13/21 8/44 3/44",
        "J": "1250/0 200/0 50/0 125/1 80/1 80/2 80/3 80/5 80/7 80/10 80/14 50/21 13/21 8/44 3/44",
        "K": "1250/0 200/0 200/1 125/1 125/2 125/3 125/5 125/7 125/10 125/14 125/21 50/21 13/21 8/44 3/44",
        "L": "1250/0 200/0 200/1 200/2 200/3 200/5 200/7 200/10 200/14 200/21 125/21 50/21 13/21 8/44 3/44",
        "N": "1250/0 800/1 500/3 500/5 500/7 500/10 500/14 500/21 315/21 200/21 125/21 50/21 13/21 8/44 3/44",
        "Q": "1250/0 1250/2 1250/7 1250/10 1250/14 1250/21 800/21 500/21 315/21 200/21 125/21 50/21 13/21 8/44 3/44",
        "R": "1250/0 2000/3 2000/10 2000/14 2000/21 1250/21 800/21 500/21 315/21 200/21 125/21 50/21 13/21 8/44 3/44",
    },
    "tightened": {
        "A": "2000/0 315/0 80/0 50/0 32/0 20/0 13/0 8/0 5/0 3/0 8/1 3/1 2/3 2/12 2/27",
        "D": "2000/0 315/0 80/0 50/0 32/0 20/0 13/0 8/0 20/1 13/1 8/1 8/3 8/12 8/41 3/41",
        "F": "2000/0 315/0 80/0 50/0 32/0 20/0 50/1 32/1 20/1 20/2 20/3 20/8 13/18 8/41 3/41",
        "G": "2000/0 315/0 80/0 50/0 32/0 80/1 50/1 32/1 32/2 32/3 32/5 32/12 13/18 8/41 3/41",
        "H": "2000/0 315/0 80/0 50/0 125/1 80/1 50/1 50/2 50/3 50/5 50/8 50/18 13/18 8/41 3/41",
        "J": "2000/0 315/0 80/0 200/1 125/1 80/1 80/2 80/3 80/5 80/8 80/12 50/18 13/18 8/41 3/41",
        "K": "2000/0 315/0 315/1 200/1 125/1 125/2 125/3 125/5 125/8 125/12 125/18 50/18 13/18 8/41 3/41",
        "L": "2000/0 315/0 315/1 200/1 200/2 200/3 200/5 200/8 200/12 200/18 125/18 50/18 13/18 8/41 3/41",
        "N": "2000/0 1250/1 500/2 500/3 500/5 500/8 500/12 500/18 315/18 200/18 125/18 50/18 13/18 8/41 3/41",
        "Q": "2000/0 1250/1 1250/5 1250/8 1250/12 1250/18 800/18 500/18 315/18 200/18 125/18 50/18 13/18 8/41 3/41",
        "R": "2000/0 2000/2 2000/8 2000/12 2000/18 1250/18 800/18 500/18 315/18 200/18 125/18 50/18 13/18 8/41 3/41",
    },
    "reduced": {
        "A": "500/0 80/0 20/0 13/0 8/0 5/0 3/0 2/0 2/0 2/0 2/0 2/1 2/5 2/14 2/30",
        "D": "500/0 80/0 20/0 13/0 8/0 5/0 3/0 2/0 5/0 3/0 3/1 3/2 3/7 3/21 2/30",
        "F": "500/0 80/0 20/0 13/0 8/0 5/0 13/0 8/0 8/1 8/1 8/2 8/5 5/10 3/21 2/30",
        "G": "500/0 80/0 20/0 13/0 8/0 20/0 13/0 13/1 13/1 13/2 13/3 13/7 5/10 3/21 2/30",
        "H": "500/0 80/0 20/0 13/0 32/0 20/0 20/1 20/1 20/2 20/3 20/5 20/10 5/10 3/21 2/30",
        "J": "500/0 80/0 20/0 50/0 32/0 32/1 32/1 32/2 32/3 32/5 32/7 20/10 5/10 3/21 2/30",
        "K": "500/0 80/0 80/0 50/0 50/1 50/1 50/2 50/3 50/5 50/7 50/10 20/10 5/10 3/21 2/30",
        "L": "500/0 80/0 80/0 80/1 80/1 80/2 80/3 80/5 80/7 80/10 50/10 20/10 5/10 3/21 2/30",
        "N": "500/0 315/0 200/1 200/2 200/3 200/5 200/7 200/10 125/10 80/10 50/10 20/10 5/10 3/21 2/30",
        "Q": "500/0 500/1 500/3 500/5 500/7 500/10 315/10 200/10 125/10 80/10 50/10 20/10 5/10 3/21 2/30",
        "R": "500/0 800/1 800/5 800/7 800/10 500/10 315/10 200/10 125/10 80/10 50/10 20/10 5/10 3/21 2/30",
    },
}


@pytest.mark.parametrize("severity", list(PUBLISHED))
def test_master_tables_match_the_published_plans(severity):
    wrong = []
    for code, row in PUBLISHED[severity].items():
        for aql, cell in zip(TABLE_AQLS, row.split(), strict=True):
            n, ac = map(int, cell.split("/"))
            plan = code_plan(code, aql, severity)
            if (plan.n, plan.ac, plan.re) != (n, ac, ac + 1):
                wrong.append(f"{code} AQL {aql:g}: got n={plan.n} Ac={plan.ac} Re={plan.re}, published n={n} Ac={ac}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("code", "aql", "n", "ac"), [
    ("J", 0.25, 80, 0),    # tightened 0/1 sits one AQL step right of normal's (J 0.15) ...
    ("J", 0.40, 200, 1),   # ... followed by two arrows down to L's 1/2
    ("J", 0.65, 125, 1),
    ("F", 1.0, 20, 0),
    ("G", 1.5, 50, 1),
    ("A", 10, 8, 1),       # no 0/1 plan with 2 units at AQL 10: down to D
    ("R", 0.010, 2000, 0),
    ("Q", 0.025, 3150, 1),  # code letter S exists only in the tightened table
])
def test_tightened_cells_around_the_zero_acceptance_plans(code, aql, n, ac):
    plan = code_plan(code, aql, "tightened")
    assert (plan.n, plan.ac, plan.re) == (n, ac, ac + 1)


def test_every_cell_resolves_to_a_plan_that_tightened_never_loosens():
    for code in "ABCDEFGHJKLMNPQR":
        for aql in AQLS:
            normal, tightened = code_plan(code, aql, "normal"), code_plan(code, aql, "tightened")
            assert tightened.n >= normal.n or tightened.ac <= normal.ac, (code, aql)


def test_a_sample_larger_than_the_lot_means_full_inspection():
    plan = single_plan(10, 0.1, "normal")
    assert plan.full_inspection and plan.n == 10


def test_unknown_aql_and_level_are_named():
    with pytest.raises(ValueError, match="AQL 0.7 is not in the ISO 2859-1 series"):
        single_plan(1000, 0.7)
    with pytest.raises(ValueError, match="inspection level must be one of"):
        code_letter(1000, "IV")


def run(state: SwitchingState, outcomes, ac=2, ac_tighter=1):
    for accepted in outcomes:
        state.record(accepted, 0 if accepted else ac + 1, ac, ac_tighter)


def test_normal_to_tightened_on_two_of_five_rejected_but_not_two_of_six():
    s = SwitchingState()
    run(s, [False, True, True, True, True, False])  # the two rejections are six lots apart
    assert s.severity == "normal"
    run(s, [True, False])  # 2 of the last 5
    assert s.severity == "tightened"


def test_tightened_to_normal_after_five_accepted():
    s = SwitchingState()
    run(s, [False, False])
    run(s, [True] * 4)
    assert s.severity == "tightened"
    run(s, [True])
    assert s.severity == "normal"


def test_switching_score_reaches_reduced_after_ten_lots_with_ac_at_least_two():
    s = SwitchingState()
    run(s, [True] * 9)
    assert s.severity == "normal" and s.score == 27
    run(s, [True])
    assert s.severity == "reduced"


def test_switching_score_resets_when_a_lot_would_fail_the_tighter_aql():
    s = SwitchingState()
    run(s, [True] * 5)
    s.record(True, n_defective=2, ac=2, ac_tighter=1)  # accepted, but not at the tighter AQL
    assert s.score == 0


def test_switching_score_uses_the_next_tighter_aql_of_the_same_table():
    """ISO 2859-1:1999, 9.3.3.2: with Ac >= 2 add 3 when the lot would have been accepted at the AQL
    one step tighter, else reset; with Ac 0 or 1 add 2 for an accepted lot, else reset."""
    plan, tighter = single_plan(1000, 1.0), single_plan(1000, tighter_aql(1.0))
    assert (plan.ac, tighter_aql(1.0), tighter.ac) == (2, 0.65, 1)
    s = SwitchingState()
    for defective, score in [(0, 3), (1, 6), (2, 0), (1, 3), (3, 0)]:  # 2: accepted, not at 0.65; 3: rejected
        s.record(defective <= plan.ac, defective, plan.ac, tighter.ac)
        assert s.score == score
    low = single_plan(1000, 0.65)
    s = SwitchingState()
    for defective, score in [(0, 2), (1, 4), (2, 0)]:
        s.record(defective <= low.ac, defective, low.ac, single_plan(1000, tighter_aql(0.65)).ac)
        assert s.score == score


def test_switching_score_with_ac_below_two_adds_two():
    s = SwitchingState()
    for _ in range(14):
        s.record(True, 0, ac=1, ac_tighter=0)
    assert s.severity == "normal" and s.score == 28
    s.record(True, 0, ac=1, ac_tighter=0)
    assert s.severity == "reduced"


def test_reduced_to_normal_on_a_rejected_lot_or_irregular_production():
    s = SwitchingState()
    run(s, [True] * 10)
    run(s, [False])
    assert s.severity == "normal"
    run(s, [True] * 10)
    s.record(True, 0, 2, 1, steady=False)
    assert s.severity == "normal"


def test_discontinue_after_five_rejections_on_tightened():
    s = SwitchingState()
    run(s, [False, False])  # to tightened
    run(s, [False, True, False, True, False, False])
    assert not s.discontinued
    run(s, [False])  # the fifth lot not accepted on tightened
    assert s.discontinued
    s.resume()
    assert not s.discontinued and s.severity == "tightened"


def test_skip_lot_qualifies_promotes_and_falls_back():
    skip = SkipLot(qualify_lots=3)
    inspected = [skip.due(True) for _ in range(3)]
    for _ in range(3):
        skip.record(True)
    assert inspected == [True] * 3 and skip.frequency == 2
    assert [skip.due(True) for _ in range(4)] == [False, True, False, True]
    skip.record(False)
    assert skip.frequency == 1 and skip.due(True)
    skip.frequency = 3
    assert skip.due(False) and skip.frequency == 1  # not eligible: lot-by-lot


# ANSI/ASQ Z1.4 Table II-C, reduced "Ac/Re" per code letter for TABLE_AQLS, arrows followed (AQLSchemes
# R/AAZ14Single.R, matrices ANSIASQSingleReducedac and ANSIASQSingleReducedre). Rows A-C are left
# out: from AQL 25 on AQLSchemes gives A and B rejection numbers (A 1/2, 2/3, 3/4; B 1/3, 2/4, 3/5)
# that are neither C's plan, which their arrows lead to, nor consistent with each other.
Z14_REDUCED = {
    "D": "0/1 0/1 0/1 0/1 0/1 0/1 0/1 0/1 0/2 0/2 1/3 2/5 7/10 21/24 30/31",
    "F": "0/1 0/1 0/1 0/1 0/1 0/1 0/2 0/2 1/3 1/4 2/5 5/8 10/13 21/24 30/31",
    "G": "0/1 0/1 0/1 0/1 0/1 0/2 0/2 1/3 1/4 2/5 3/6 7/10 10/13 21/24 30/31",
    "H": "0/1 0/1 0/1 0/1 0/2 0/2 1/3 1/4 2/5 3/6 5/8 10/13 10/13 21/24 30/31",
    "J": "0/1 0/1 0/1 0/2 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 10/13 21/24 30/31",
    "K": "0/1 0/1 0/2 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 10/13 10/13 21/24 30/31",
    "L": "0/1 0/1 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 10/13 10/13 10/13 21/24 30/31",
    "N": "0/1 0/2 1/4 2/5 3/6 5/8 7/10 10/13 10/13 10/13 10/13 10/13 10/13 21/24 30/31",
    "Q": "0/1 1/3 3/6 5/8 7/10 10/13 10/13 10/13 10/13 10/13 10/13 10/13 10/13 21/24 30/31",
    "R": "0/1 1/4 5/8 7/10 10/13 10/13 10/13 10/13 10/13 10/13 10/13 10/13 10/13 21/24 30/31",
}


def test_z14_reduced_rejection_numbers_match_the_published_table():
    wrong = []
    for code, row in Z14_REDUCED.items():
        for aql, cell in zip(TABLE_AQLS, row.split(), strict=True):
            ac, re = map(int, cell.split("/"))
            z14, iso = code_plan(code, aql, "reduced", "ansi-z1.4"), code_plan(code, aql, "reduced")
            if (z14.ac, z14.re) != (ac, re) or (z14.n, z14.ac) != (iso.n, iso.ac) or iso.re != iso.ac + 1:
                wrong.append(f"{code} AQL {aql:g}: z1.4 {z14.ac}/{z14.re}, iso {iso.ac}/{iso.re}, published {cell}")
    assert not wrong, "\n".join(wrong)


def test_the_edition_changes_only_reduced_plans():
    for severity in ("normal", "tightened"):
        for aql in AQLS:
            assert code_plan("J", aql, severity, "ansi-z1.4") == code_plan("J", aql, severity)
    with pytest.raises(ValueError, match=r"edition must be one of .*'iso2859-1:1999'.*not 'z1.4-2008'"):
        code_plan("J", 1.0, "reduced", "z1.4-2008")  # type: ignore[arg-type]


@pytest.mark.parametrize(("edition", "decisions"), [
    ("iso2859-1:1999", ["accept", "accept", "reject", "reject", "reject"]),
    ("ansi-z1.4", ["accept", "accept", "accept_reinstate_normal", "reject", "reject"]),
])
def test_a_reduced_lot_between_ac_and_re(edition, decisions):
    """J, AQL 1.0, reduced: n 32, Ac 1; Re 2 (ISO 2859-1:1999) or 3 (Z1.4, accept and reinstate normal)."""
    plan = single_plan(1000, 1.0, "reduced", edition=edition)
    assert [plan.decide(d) for d in range(5)] == decisions
    with pytest.raises(ValueError, match="defectives must be >= 0, got -1"):
        plan.decide(-1)


def test_an_accept_in_the_gap_reinstates_normal_inspection():
    s = SwitchingState(severity="reduced")
    s.record(True, 1, ac=1, ac_tighter=None)
    assert s.severity == "reduced"
    s.record(True, 2, ac=1, ac_tighter=None, reinstate_normal=True)
    assert s.severity == "normal" and s.moves[-1][1:] == ("reduced", "normal")


def test_the_oem_reads_the_edition_from_the_scenario(tmp_path):
    import tempfile
    from pathlib import Path

    import numpy as np

    from qtconfig import ConfigError
    from tests.conftest import REPO
    from twin.edge.ledger import Ledger
    from twin.edge.supply.oem import InspectionSettings, Oem, OemSettings, Order, PartInfo
    from twin.harness.supply.scenario import load_supply_scenario

    outcomes = {}
    for edition in ("iso2859-1:1999", "ansi-z1.4"):
        settings = OemSettings(inspection=InspectionSettings(edition=edition))
        with tempfile.TemporaryDirectory() as tmp:
            oem = Oem(settings, [PartInfo("s", "p", "x", 0.0, -1.0, 1.0, 1000, 0.0)], {"s": {}}, [], 730,
                      Ledger(Path(tmp) / "l.jsonl"))
            oem.switching["s"].severity = "reduced"
            plan = single_plan(1000, 1.0, "reduced", edition=edition)
            accepted, defective = oem.judge(Order("L1", "s", plan, -1.0, 1.0), np.array([2.0, 3.0] + [0.0] * 30))
        outcomes[edition] = (accepted, defective, oem.switching["s"].severity)
    assert outcomes == {"iso2859-1:1999": (False, 2, "normal"), "ansi-z1.4": (True, 2, "normal")}
    text = (REPO / "scenarios" / "supply_clean.yaml").read_text().replace(
        "oem:\n", "oem:\n  inspection: {edition: z1.4}\n", 1)
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"oem\.inspection\.edition"):
        load_supply_scenario(tmp_path / "s.yaml")
