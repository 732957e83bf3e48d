"""Quality data as assets: a catalogue with credibility, per-step data health, and the gate before training.

* :mod:`~twin.edge.assets.quality` — what a historian says about each element's samples (good share, gaps,
  clock agreement);
* :mod:`~twin.edge.assets.credibility` — source kind times measured quality;
* :mod:`~twin.edge.assets.catalogue` — the catalogue file (DuckDB) and ``scan`` of runs, models, knowledge;
* :mod:`~twin.edge.assets.health` — completeness, timeliness, sensor health and clock agreement per step;
* :mod:`~twin.edge.assets.gate` — the data-health gate ``twin rootcause dataset|train`` respect.

It lives at the edge (under the import contract): it reads only what a real line has too (a run
directory's historian, tag map and report counts, model cards, knowledge files), never the injected truth.
"""
