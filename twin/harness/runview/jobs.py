"""Runs as jobs: a what-if run in a process of its own, which outlives the page that started it.

The app used to run an episode in the page's own script: switching role or closing the tab stopped it
(``StopException``), and the knobs stayed editable under a run going on. A job is a separate process
(``multiprocessing`` spawn: nothing of the page's state is shared) that turns the knobs, runs the episode into its
run directory and keeps three small files there:

============  ==========================================================================================
``job.json``   who and what: the scenario, the knobs, the process id, when it started, and at the end its
               state (``finished``, ``stopped`` or ``failed``) and error
``progress``   scans done and to do, rewritten at most every ``PROGRESS_EVERY_S`` (JSON)
``stop``       present once someone asked the run to stop: the job stops after the current scan and writes
               its report, marked stopped early
============  ==========================================================================================

:func:`job_status` reads them from any process (the page, a later session, the command line); a job whose
process is gone without a final state is reported ``lost``.

The same files serve any long task the app starts (:func:`start_task`: building a classroom's exercises, for
one): ``job.json`` names the task and, at the end, what it made (``result``); ``progress`` adds the ``label``
of the step going on.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twin.harness.episode import run_episode
from twin.harness.runview.whatif import Knobs, StopRequested, apply_knobs, episode_config
from twin.harness.scenario import Scenario

JOB_FILE, PROGRESS_FILE, STOP_FILE = "job.json", "progress.json", "stop"
PROGRESS_EVERY_S = 0.5
FINAL = ("finished", "stopped", "failed")


@dataclass(frozen=True)
class JobStatus:
    """Where a job stands: ``running``, ``finished``, ``stopped``, ``failed`` or ``lost`` (its process ended
    without saying how), scans ``done`` of ``total``, and the error of a failed one."""

    run_dir: Path
    state: str
    done: int
    total: int
    scenario: str
    started_utc: str
    error: str | None = None
    label: str = ""  # the step going on (a task's), from its progress
    result: str | None = None  # what a finished task made, in a sentence

    @property
    def fraction(self) -> float:
        """Share of the scans done (0 before the first progress)."""
        return self.done / self.total if self.total else 0.0


def start_job(scenario: Scenario, knobs: Knobs, out_dir: str | Path) -> Path:
    """Start the run in its own process and return its run directory (ValueError for knobs the scenario
    refuses, before anything starts)."""
    apply_knobs(scenario, knobs)  # refuse bad knobs here, where the page can show the message
    return _spawn(Path(out_dir), {"scenario": scenario.name, "knobs": asdict(knobs)}, _main,
                  (scenario, knobs, str(out_dir)))


TaskProgress = Callable[..., None]  # progress(done, total, label="")


def start_task(out_dir: str | Path, name: str, task: Callable[..., str], *args: Any) -> Path:
    """Start ``task(*args, progress=...)`` in its own process, with ``out_dir`` for its job files, and return
    ``out_dir``. ``task`` must be a module-level function (the process is spawned: it is imported there, as are
    its arguments); it calls ``progress(done, total, label)`` as it goes and returns what it made, in a sentence.
    Its state, progress and result are read back with :func:`job_status`; an exception fails it, with its
    message."""
    return _spawn(Path(out_dir), {"scenario": name, "task": f"{task.__module__}.{task.__qualname__}"},
                  _task_main, (task, args, str(out_dir)))


def _spawn(out: Path, record: dict[str, Any], target: Callable[..., None], args: tuple[Any, ...]) -> Path:
    """Write the job's record and start ``target(*args)`` in a spawned process of its own."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in (STOP_FILE, PROGRESS_FILE):
        (out / stale).unlink(missing_ok=True)
    record = {**record, "pid": os.getpid(),  # ours until it starts
              "started_utc": datetime.now(UTC).isoformat(timespec="seconds"), "state": "running"}
    _write(out / JOB_FILE, record)
    process = multiprocessing.get_context("spawn").Process(target=target, args=args, name=f"qt-job-{out.name}",
                                                            daemon=False)
    process.start()
    _write(out / JOB_FILE, {**(_read(out / JOB_FILE) or record), "pid": process.pid})
    return out


def request_stop(run_dir: str | Path) -> None:
    """Ask the job to stop after its current scan (it writes its report, marked stopped early)."""
    (Path(run_dir) / STOP_FILE).touch()


def job_status(run_dir: str | Path) -> JobStatus:
    """The job in ``run_dir`` as its files tell it; FileNotFoundError when the folder holds no job."""
    run_dir = Path(run_dir)
    job = json.loads((run_dir / JOB_FILE).read_text(encoding="utf-8"))
    progress = _read(run_dir / PROGRESS_FILE) or {}
    state = job.get("state", "running")
    if state == "running" and not _alive(int(job.get("pid", 0))):
        state = "lost"
    return JobStatus(run_dir, state, int(progress.get("done", 0)), int(progress.get("total", 0)),
                     str(job.get("scenario", "")), str(job.get("started_utc", "")), job.get("error"),
                     str(progress.get("label", "")), job.get("result"))


def list_jobs(root: str | Path) -> list[JobStatus]:
    """Every job under ``root`` (the app's runs), newest first."""
    multiprocessing.active_children()  # reap the jobs this process started that have ended
    found = []
    for path in Path(root).glob(f"*/{JOB_FILE}"):
        try:
            found.append(job_status(path.parent))
        except (OSError, ValueError):
            continue  # a job file being written this instant: next time
    return sorted(found, key=lambda j: j.started_utc, reverse=True)


# ------------------------------------------------------------------ the job's own process
def _progress_writer(out: Path) -> TaskProgress:
    """A ``progress(done, total, label)`` that writes the job's progress file, at most every PROGRESS_EVERY_S
    (and at each step's end)."""
    last = [0.0]

    def progress(done: int, total: int, label: str = "") -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or done == total:
            last[0] = now
            _write(out / PROGRESS_FILE, {"done": done, "total": total, "label": label})

    return progress


def _finish(out: Path, state: str, error: str | None, result: str | None = None) -> None:
    """Write the job's final state (and a task's result) into its record."""
    job = _read(out / JOB_FILE) or {}
    _write(out / JOB_FILE, {**job, "state": state, "error": error, "result": result,
                            "ended_utc": datetime.now(UTC).isoformat(timespec="seconds")})


def _task_main(task: Callable[..., str], args: tuple[Any, ...], out_dir: str) -> None:
    out = Path(out_dir)
    try:
        result = task(*args, progress=_progress_writer(out))
    except BaseException as err:  # noqa: BLE001 - the job's record says why; the page shows it
        _finish(out, "failed", f"{type(err).__name__}: {err}")
    else:
        _finish(out, "finished", None, str(result))


def _main(scenario: Scenario, knobs: Knobs, out_dir: str) -> None:
    out = Path(out_dir)
    stop = out / STOP_FILE
    progress = _progress_writer(out)

    async def stop_hook(_frame: Any) -> None:
        if stop.exists():
            raise StopRequested("stopped by the operator")

    config = episode_config(knobs, out, progress)
    config.hooks.append(stop_hook)
    state, error = "finished", None
    try:
        asyncio.run(run_episode(apply_knobs(scenario, knobs), config))
    except StopRequested:
        state = "stopped"
    except BaseException as err:  # noqa: BLE001 - the job's record says why; the page shows it
        state, error = "failed", f"{type(err).__name__}: {err}"
    _finish(out, state, error)


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, default=str), encoding="utf-8")
    tmp.replace(path)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(pid: int) -> bool:
    """True while process ``pid`` exists (a zombie of a finished job counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
