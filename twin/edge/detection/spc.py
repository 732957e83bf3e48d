"""Statistical process control for the edge: charts, run rules, streaming detectors.

The public API of ``twin.edge.detection`` (indices are 0-based; conventions Montgomery's, as
R's qcc implements them):

- :func:`control_chart` -- x-bar, R, S, individuals, p, np, c, u charts with Phase II
  data, zone limits and Western Electric / Nelson run rules;
- :func:`ewma`, :func:`cusum` -- EWMA and tabular CUSUM charts;
- :func:`capability` -- Cp, Cp_l, Cp_u, Cp_k, Cpm with confidence intervals;
- :func:`hotelling_t2` -- Phase I Hotelling T^2 for individual observations;
- :class:`ShewhartDetector`, :class:`EwmaDetector`, :class:`CusumDetector` -- one stream,
  ``update(x) -> bool``; :class:`ShewhartBank`, :class:`EwmaBank`, :class:`CusumBank` --
  thousands of streams per call, vectorised with numpy;
- :func:`run_length_arl` -- Monte Carlo ARL / SDRL of any bank (module :mod:`twin.edge.detection.arl`).

The charts and the detectors share one implementation of each statistic: the EWMA and
CUSUM recursions and the run-rule engine.
"""

from __future__ import annotations

from twin.edge.detection._bank import DetectorBank
from twin.edge.detection._capability import Capability, capability
from twin.edge.detection._charts import KINDS, ControlChart, control_chart
from twin.edge.detection._constants import c4, d2, d3
from twin.edge.detection._cusum import CusumBank, CusumChart, cusum
from twin.edge.detection._detectors import CusumDetector, Detector, EwmaDetector, ShewhartDetector
from twin.edge.detection._ewma import EwmaBank, EwmaChart, ewma
from twin.edge.detection._hotelling import HotellingT2, hotelling_t2
from twin.edge.detection._rules import RULE_SETS
from twin.edge.detection._shewhart import ShewhartBank
from twin.edge.detection.arl import ArlResult, detector_factory, run_length_arl

__all__ = [
    "KINDS",
    "RULE_SETS",
    "ArlResult",
    "Capability",
    "ControlChart",
    "CusumBank",
    "CusumChart",
    "CusumDetector",
    "Detector",
    "DetectorBank",
    "EwmaBank",
    "EwmaChart",
    "EwmaDetector",
    "HotellingT2",
    "ShewhartBank",
    "ShewhartDetector",
    "c4",
    "capability",
    "control_chart",
    "cusum",
    "d2",
    "d3",
    "detector_factory",
    "ewma",
    "hotelling_t2",
    "run_length_arl",
]
