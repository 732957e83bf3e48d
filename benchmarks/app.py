"""How long the app's pages take on the server: a page load and a role switch, warm, for a real run.

``python benchmarks/app.py RUN_DIR [--repeats 5]`` drives the app with Streamlit's ``AppTest`` (the script as the
server runs it, no browser): opens RUN_DIR in "Open a run" once to warm the caches, then times further loads of
that page and a switch of role on it, and prints medians beside the targets of the app issue (page load < 3 s
warm, role switch < 1 s). The browser adds its own drawing time on top. Make a run first, e.g.
``twin run scenarios/coater_coil_ageing.yaml --offline --out runs/flagship``. Asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    run_dir = args.run_dir.resolve()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["runs_root"] = str(run_dir.parent)
    at.session_state["run_dir"] = str(run_dir)
    at.session_state["role"] = "test"
    at.run()
    at.switch_page("app_pages/view.py").run()  # warm: caches filled, modules imported
    loads, switches = [], []
    roles = ["process", "test"]
    for k in range(args.repeats):
        started = time.perf_counter()
        at.run()
        loads.append(time.perf_counter() - started)
        at.session_state["role"] = roles[k % 2]
        started = time.perf_counter()
        at.run()
        switches.append(time.perf_counter() - started)
    assert not at.exception, at.exception
    print(f"run: {run_dir}")
    print(f"{'page load, warm (Open a run)':34s} median {statistics.median(loads):6.2f} s   target < 3 s")
    print(f"{'role switch (test <-> process)':34s} median {statistics.median(switches):6.2f} s   target < 1 s")
    print(f"medians of {args.repeats}; server-side script time, without the browser's drawing")


if __name__ == "__main__":
    main()
