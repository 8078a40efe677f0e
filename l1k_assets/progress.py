"""Progress of long loops (epochs, folds, chunks): throttled reports and a wall-clock budget.

A training that prints nothing for half an hour cannot be told from a hang, and one that runs
until its epoch limit on a laptop CPU never ends in time. Every long loop in l1k takes an
optional ``Progress``: it calls ``update(step, **values)`` once per step, the object decides
when a report is due (the first step, then at most every ``every_seconds``, and the last
step), estimates the time remaining, and says when the loop's time budget is spent so the
loop can stop early and record that it did. The sink (Dagster log plus MLflow in assets,
the Python logger elsewhere) is the caller's choice; this module knows nothing of Dagster.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("l1k.progress")

DEFAULT_EVERY_SECONDS = 10.0
# Marks an asset's progress lines in the Dagster log, where ``l1k materialize``'s monitor picks them out.
PROGRESS_PREFIX = "[progress] "


@dataclass(frozen=True)
class ProgressReport:
    """One report: where a loop is, how long it took so far and how long it may still take."""

    label: str
    step: int  # steps done (1-based: the step just finished)
    total: int | None
    elapsed: float
    remaining: float | None
    values: dict[str, float] = field(default_factory=dict)
    note: str = ""  # e.g. why the loop stopped

    def message(self) -> str:
        """One human line, e.g. ``gnn epoch 12/200 · train_loss 0.41 · val_scc 0.93 · 1m05s elapsed, ~3m10s left``."""
        where = f"{self.step}/{self.total}" if self.total else str(self.step)
        parts = [f"{self.label} {where}"]
        parts += [f"{k} {v:.4g}" for k, v in self.values.items()]
        timing = f"{format_seconds(self.elapsed)} elapsed"
        if self.remaining is not None and not self.note:
            timing += f", ~{format_seconds(self.remaining)} left"
        return " · ".join([*parts, timing, *([self.note] if self.note else [])])


Sink = Callable[[ProgressReport], None]


def log_sink(report: ProgressReport) -> None:
    """The default sink: the ``l1k.progress`` Python logger."""
    log.info(report.message())


def format_seconds(seconds: float) -> str:
    """``75.2`` → ``1m15s``; ``3900`` → ``1h05m``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Throttled progress reports of one loop, and its wall-clock budget.

    ``budget_seconds`` (``None`` or ``math.inf`` for none) is measured from construction;
    ``exhausted()`` turns true once it is spent, and the estimate of time left never exceeds
    what the budget leaves. ``child`` gives a nested loop (one fold's epochs) the same sink and
    whatever budget is left, so a budget set on cross-validation bounds every fold inside it.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        sink: Sink | None = None,
        every_seconds: float = DEFAULT_EVERY_SECONDS,
        budget_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if budget_seconds is not None and not budget_seconds > 0:
            raise ValueError(f"budget_seconds must be positive (or None for no budget), got {budget_seconds}")
        self.label = label
        self.total = total
        self.sink = sink or log_sink
        self.every_seconds = every_seconds
        self.budget_seconds = math.inf if budget_seconds is None else float(budget_seconds)
        self.clock = clock
        self.started = clock()
        self._last_report: float | None = None
        self._step = 0  # the last step ``update`` saw, for the budget's stop report
        self.stopped_by_budget = False

    @property
    def elapsed(self) -> float:
        """Seconds since the loop started."""
        return self.clock() - self.started

    def budget_left(self) -> float:
        """Seconds of budget left (``inf`` without a budget)."""
        return self.budget_seconds - self.elapsed

    def exhausted(self) -> bool:
        """True once the budget is spent; the loop should stop and call ``stop_for_budget``."""
        return self.budget_left() <= 0

    def stop_for_budget(self) -> None:
        """Record that the loop stopped because its budget ran out, and report that once."""
        self.stopped_by_budget = True
        note = f"stopped: time budget of {format_seconds(self.budget_seconds)} spent"
        self.sink(ProgressReport(self.label, self._step, self.total, self.elapsed, 0.0, note=note))

    def update(self, step: int, force: bool = False, total: int | None = None, **values: float) -> ProgressReport | None:
        """Note that ``step`` steps are done; report when due (returns the report it sent, if any).

        ``total`` sets the loop's length when it is only known once the loop runs.
        """
        self._step = step
        self.total = self.total if total is None else total
        now = self.clock()
        due = (
            force
            or self._last_report is None
            or now - self._last_report >= self.every_seconds
            or (self.total is not None and step >= self.total)
        )
        if not due:
            return None
        self._last_report = now
        elapsed = now - self.started
        remaining = None
        if self.total and step > 0:
            remaining = elapsed / step * max(self.total - step, 0)
        if math.isfinite(self.budget_seconds):
            left = max(self.budget_seconds - elapsed, 0.0)
            remaining = left if remaining is None else min(remaining, left)
        report = ProgressReport(self.label, step, self.total, elapsed, remaining, {k: float(v) for k, v in values.items()})
        self.sink(report)
        return report

    def child(self, label: str, total: int | None = None, budget_seconds: float | None = None) -> Progress:
        """A nested loop's progress: same sink and report interval, bounded by the budget left here.

        ``budget_seconds`` caps the child further (a share of what is left, a per-fit limit).
        """
        left = self.budget_left() if budget_seconds is None else min(self.budget_left(), budget_seconds)
        return Progress(
            f"{self.label} · {label}",
            total,
            self.sink,
            self.every_seconds,
            None if math.isinf(left) else max(left, 1e-9),
            self.clock,
        )
