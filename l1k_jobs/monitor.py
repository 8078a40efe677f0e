"""Live progress of the runs ``l1k materialize`` launches, and the time and memory each stage took.

``dg.materialize`` blocks until its run ends, and its console logger would flood the terminal
with step events. The monitor instead follows the run's event log in a background thread: it
prints a line when a step starts, each ``[progress]`` report an asset sends (epoch, fold,
loss, elapsed, time left: ``l1k_assets.progress``), a heartbeat when a step has been quiet for
a while (so long work never looks like a hang), and a line when a step ends. Because it
reads the instance, it shows exactly what the UI shows.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from l1k_assets.progress import PROGRESS_PREFIX, format_seconds

SETUP_STEP = "(setup: imports, sources, embedded mirror)"  # the stage table's row for the time before the first run
LAUNCH_TAG = "l1k/launch"


@dataclass
class StepTiming:
    """One step of one run: asset op, partition, wall seconds and the run's peak resident memory."""

    step: str
    partition: str | None
    seconds: float
    peak_rss_mb: float | None


@dataclass
class _StepState:
    """When a running step started and when the monitor last printed a line for it (for the heartbeat)."""

    started: float
    last_line: float


@dataclass
class RunMonitor:
    """Follows one run's event log (found by its launch tag) and prints progress lines through ``emit``."""

    instance: dg.DagsterInstance
    launch_id: str
    label: str
    emit: Callable[[str], None]
    poll_seconds: float = 1.0
    heartbeat_seconds: float = 30.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _steps: dict[str, _StepState] = field(default_factory=dict)
    _cursor: str | None = None
    _run_id: str | None = None
    _thread: threading.Thread | None = None

    def _find_run(self) -> str | None:
        run = run_of_launch(self.instance, self.launch_id)
        return run.run_id if run else None

    def poll(self) -> None:
        """Read the events since the last poll and print what they say (also called once after the run)."""
        if self._run_id is None:
            self._run_id = self._find_run()
            if self._run_id is None:
                return
        connection = self.instance.get_records_for_run(self._run_id, cursor=self._cursor)
        self._cursor = connection.cursor
        now = time.monotonic()
        for record in connection.records:
            entry = record.event_log_entry
            step = entry.step_key or ""
            event = entry.dagster_event
            if event is not None and event.event_type == dg.DagsterEventType.STEP_START:
                self._steps[step] = _StepState(now, now)
                self.emit(f"▶ {step} {self.label}")
            elif event is not None and event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                state = self._steps.pop(step, None)
                took = f" in {format_seconds(now - state.started)}" if state else ""
                verdict = "✓" if event.event_type == dg.DagsterEventType.STEP_SUCCESS else "✗ failed"
                self.emit(f"{verdict} {step} {self.label}{took}")
            elif event is None and entry.user_message.startswith(PROGRESS_PREFIX) and step in self._steps:
                state = self._steps[step]
                state.last_line = now
                report = entry.user_message.removeprefix(PROGRESS_PREFIX)
                self.emit(f"  … {step} {self.label} [{format_seconds(now - state.started)}] {report}")
        for step, state in self._steps.items():
            if now - state.last_line >= self.heartbeat_seconds:
                state.last_line = now
                self.emit(f"  … {step} {self.label} still running [{format_seconds(now - state.started)}]")

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            with contextlib.suppress(Exception):  # a poll racing the run's own writes is retried next tick
                self.poll()

    def start(self) -> None:
        """Follow the run in a background thread until ``stop``."""
        self._thread = threading.Thread(target=self._loop, name="l1k-run-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following, after one last poll so the run's final events are printed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(Exception):
            self.poll()


def run_of_launch(instance: dg.DagsterInstance, launch: str) -> dg.DagsterRun | None:
    """The run a launch created (found by its launch tag), or None if it has not been created yet."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={LAUNCH_TAG: launch}), limit=1)
    return runs[0] if runs else None


def new_launch_id() -> str:
    """A unique tag value to find the run a ``dg.materialize`` call is about to create."""
    return uuid.uuid4().hex


def reset_peak_rss() -> None:
    """Reset this process's peak-RSS mark (Linux ``clear_refs`` 5) so each stage's peak is its own; a no-op off Linux."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float | None:
    """This process's peak resident memory since the last reset (VmHWM), in MB; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def step_timings(instance: dg.DagsterInstance, run_id: str, partition: str | None, peak: float | None) -> list[StepTiming]:
    """Wall seconds of each step of a finished run, from the instance's step statistics."""
    return [
        StepTiming(s.step_key, partition, float((s.end_time or s.start_time or 0) - (s.start_time or 0)), peak)
        for s in instance.get_run_step_stats(run_id)
    ]
