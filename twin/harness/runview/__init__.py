"""Run views: what the app and the HTML report show of a run, shaped here so the app stays thin.

* :mod:`~twin.harness.runview.run` — a run directory read as the app sees it (:func:`load_run`);
* :mod:`~twin.harness.runview.charts` — control charts (``twin.edge.detection.spc``), the root-cause graph, trends;
* :mod:`~twin.harness.runview.metrics` — defect rate, detection delay, time to correction; comparing runs;
* :mod:`~twin.harness.runview.roles` — which panels each role sees;
* :mod:`~twin.harness.runview.whatif` — scenario knobs and what-if runs;
* :mod:`~twin.harness.runview.html` — the one-page HTML report (``twin report html``).

Reporting, not edge analytics: it reads the injected truth to score and mark fault onsets.
"""

from __future__ import annotations

from twin.harness.runview.run import RunData, list_runs, load_run

__all__ = ["RunData", "list_runs", "load_run"]
