"""The contracts the layers share, in one place: enums, run-directory file names, messages, records,
the diagnosis and the run report.

Everything here is plain data: the edge (:mod:`twin.edge`), the root-cause layer and the harness
(:mod:`twin.harness`) all import it, and it imports none of them (it sits under the edge's import
contract). Import from the package: ``from twin.contracts import RunReport, Policy``.

* :mod:`~twin.contracts.enums` — policy, mode, backend, ack status, command kind, candidate kind, alarm state
* :mod:`~twin.contracts.files` — :class:`RunFiles`, the files of a run directory
* :mod:`~twin.contracts.messages` — :class:`Command`, :class:`Ack`, :class:`WorkOrder`
* :mod:`~twin.contracts.diagnosis` — :class:`Diagnosis`, :class:`Candidate`, :class:`EvidenceStep`
* :mod:`~twin.contracts.records` — :class:`AlarmRecord`, :class:`CommandRecord`, :class:`FaultRecord`
* :mod:`~twin.contracts.report` — :class:`RunReport` (``report.json``)
"""

from twin.contracts.diagnosis import Candidate, Diagnosis, EvidenceStep
from twin.contracts.enums import AckStatus, AlarmState, Backend, CandidateKind, CommandKind, Mode, Policy, choices
from twin.contracts.files import RunFiles
from twin.contracts.messages import Ack, Command, WorkOrder
from twin.contracts.records import AlarmRecord, CommandRecord, FaultRecord, Verification, by_risk
from twin.contracts.report import (
           REPORT_VERSION,
           Counts,
           Durations,
           QualityOutcome,
           RunReport,
           Scores,
           SentinelScore,
           read_report,
)

__all__ = ["REPORT_VERSION", "Ack", "AckStatus", "AlarmRecord", "AlarmState", "Backend", "Candidate", "CandidateKind",
           "Command", "CommandKind", "CommandRecord", "Counts", "Diagnosis", "Durations", "EvidenceStep", "FaultRecord",
           "Mode", "Policy", "QualityOutcome", "RunFiles", "RunReport", "Scores", "SentinelScore",
           "Verification", "WorkOrder",
           "by_risk", "choices", "read_report"]
