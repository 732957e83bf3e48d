"""When diagnoses come: a first answer soon after an alarm burst, one revision with settled evidence."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rootcause.diagnoser import AlarmRef, DiagnosisLoop, confidence
from twin.contracts import Candidate, Diagnosis


class Scripted:
    """A diagnoser that names whatever it is told, with fixed scores."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def diagnose(self, reader: object, alarms: list[AlarmRef], t_ms: int,
                 answers: list[str] | None = None) -> Diagnosis:
        self.calls.append(t_ms)
        return Diagnosis(id=f"D{len(self.calls):04d}", t_ms=t_ms, alarm_ids=list(answers or []), method="scripted",
                         model_version="0", candidates=[Candidate(asset="l.a", score=3.0),
                                                        Candidate(asset="l.b", score=1.0)])


@given(first_alarm_s=st.integers(0, 1000), first_s=st.integers(1, 20), evidence_s=st.integers(1, 60),
       later=st.lists(st.integers(1, 200), max_size=5))
def test_a_burst_gets_a_first_diagnosis_and_one_revision(first_alarm_s: int, first_s: int, evidence_s: int,
                                                         later: list[int]) -> None:
    diagnoser = Scripted()
    loop = DiagnosisLoop(diagnoser, evidence_ms=evidence_s * 1000, first_ms=first_s * 1000)
    alarm_times = sorted({first_alarm_s * 1000 + d * 100 for d in [0, *later]})
    alarms = {t: [AlarmRef(f"A{i}", f"l.tag{i}", t)] for i, t in enumerate(alarm_times)}
    made = []
    for t in range(first_alarm_s * 1000, (first_alarm_s + 90) * 1000, 100):
        d = loop.step(t, alarms.get(t, []), reader=lambda: None)  # type: ignore[arg-type,return-value]
        if d is not None:
            made.append(d)
    assert made[0].t_ms == first_alarm_s * 1000 + min(first_s, evidence_s) * 1000 and made[0].revises is None
    assert all(d.confidence == 0.75 for d in made)
    firsts = [d for d in made if d.revises is None]
    revisions = [d for d in made if d.revises is not None]
    if first_s < evidence_s:  # every burst's first diagnosis is revised once, evidence_s after its first alarm
        assert [r.revises for r in revisions] == [d.id for d in firsts]
        by_id = {d.id: d for d in firsts}
        assert all(r.t_ms - by_id[r.revises].t_ms == (evidence_s - first_s) * 1000 for r in revisions)
    else:
        assert not revisions
    answered = [a for d in made for a in d.alarm_ids]
    assert sorted(answered) == sorted(set(answered)) and set(answered) <= {f"A{i}" for i in range(len(alarm_times))}


def test_confidence_is_the_top_share_and_zero_without_scores() -> None:
    assert confidence([Candidate(asset="a.b", score=1.0)]) == 1.0
    assert confidence([Candidate(asset="a.b", score=0.0)]) == 0.0
    assert confidence([]) == 0.0
    assert confidence([Candidate(asset="a.b", score=2.0), Candidate(asset="a.c", score=-1.0),
                       Candidate(asset="a.d", score=2.0)]) == 0.5


class Growing(Scripted):
    """Sure of its answer only from ``sure_ms`` on (as evidence accumulates)."""

    def __init__(self, sure_ms: int, min_confidence: float = 0.9) -> None:
        super().__init__()
        self.sure_ms = sure_ms
        self.settings = type("S", (), {"min_confidence": min_confidence})()

    def diagnose(self, reader: object, alarms: list[AlarmRef], t_ms: int,
                 answers: list[str] | None = None) -> Diagnosis:
        d = super().diagnose(reader, alarms, t_ms, answers)
        second = 0.1 if t_ms >= self.sure_ms else 3.0  # unsure: a close second
        return d.model_copy(update={"candidates": [d.candidates[0], Candidate(asset="l.b", score=second)]})


@given(sure_s=st.integers(0, 40))
def test_an_early_answer_is_published_only_once_sure_enough(sure_s: int) -> None:
    diagnoser = Growing(sure_ms=sure_s * 1000)
    loop = DiagnosisLoop(diagnoser, evidence_ms=30_000, first_ms=5_000)
    made = [d for t in range(0, 40_000, 1000)
            if (d := loop.step(t, [AlarmRef("A0", "l.x", 0)] if t == 0 else [], reader=lambda: None)) is not None]
    first = made[0]
    if sure_s <= 25:  # tried at 5, 10, ... 25 s: published at the first try at or after it is sure
        assert first.t_ms == max(5, -(-sure_s // 5) * 5) * 1000 and first.confidence >= 0.9
        assert made[1].revises == first.id and made[1].t_ms == 30_000
    else:  # never sure before the revision: only the settled diagnosis, whatever its confidence
        assert [d.t_ms for d in made] == [30_000] and first.revises is None
    assert first.alarm_ids == ["A0"]


def test_a_burst_opened_by_a_stuck_sensor_waits_for_settled_evidence() -> None:
    loop = DiagnosisLoop(Scripted(), evidence_ms=30_000, first_ms=5_000)
    made = [d for t in range(0, 40_000, 1000)
            if (d := loop.step(t, [AlarmRef("A0", "l.x", 0, "stuck")] if t == 0 else [], reader=lambda: None))]
    assert [d.t_ms for d in made] == [30_000] and made[0].revises is None
