"""What a training protocol hands back for recording: one shape for every trained model.

Each protocol (the indication classifier, the inference models, CSG2A's pretraining and
fine-tuning) returns its own typed result, and every result says what of it is recorded as a
``ModelRecord``: the table the asset outputs, the checkpoint's files and what loading them
needs, the summary numbers, tables, plots and per-step curves. One helper in ``asset_utils``
writes a record to the checkpoint store, MLflow and the asset page the same way for every
model, so the run profile, code version and budget stop are never recorded four ways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd


@dataclass
class ModelRecord:
    """A trained model's record.

    ``files`` maps plain checkpoint file names to bytes (or a scikit-learn estimator, stored
    with skops); ``manifest`` is what loading the checkpoint needs besides them; ``metrics``
    are numbers for MLflow and the page, ``facts`` other values for both (scalars as MLflow
    parameters, all of them as a JSON artifact); ``tables`` and ``plots`` (PNG bytes) go to
    both; ``curves`` are per-step values with a ``step`` key; ``warnings`` go to the run's log.
    """

    output: pd.DataFrame
    files: dict[str, Any]
    metrics: dict[str, float]
    manifest: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    plots: dict[str, bytes] = field(default_factory=dict)
    curves: list[dict[str, float]] = field(default_factory=list)
    stopped_by_budget: bool = False
    warnings: list[str] = field(default_factory=list)

    def scalar_facts(self) -> dict[str, Any]:
        """The facts an MLflow parameter can hold: numbers, text and flags."""
        return {k: v for k, v in self.facts.items() if isinstance(v, int | float | str | bool)}

    def finite_metrics(self) -> dict[str, float]:
        """The metrics MLflow can take (a NaN, e.g. no held-out cohort was estimable, stays on the page only)."""
        return {k: float(v) for k, v in self.metrics.items() if math.isfinite(float(v))}


class Recordable(Protocol):
    """A protocol's typed result that knows what of it is recorded."""

    def record(self) -> ModelRecord: ...
