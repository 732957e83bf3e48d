"""Run views: what the app and the HTML report show of a run, shaped here so the app stays thin.

* :mod:`~twin.runview.run` — a run directory read as the app sees it (:func:`load_run`);
* :mod:`~twin.runview.charts` — control charts (``twin.detection.spc``), the root-cause graph, trends;
* :mod:`~twin.runview.metrics` — defect rate, detection delay, time to correction; comparing runs;
* :mod:`~twin.runview.roles` — which panels each role sees;
* :mod:`~twin.runview.whatif` — scenario knobs and what-if runs;
* :mod:`~twin.runview.html` — the one-page HTML report (``twin report html``).

Reporting, not edge analytics: it reads the injected truth to score and mark fault onsets.
"""

from __future__ import annotations

from .run import RunData, list_runs, load_run

__all__ = ["RunData", "list_runs", "load_run"]
