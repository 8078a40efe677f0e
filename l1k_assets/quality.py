"""Data-quality rules behind the blocking asset checks, as plain functions.

Each returns whether the rule holds and the numbers a person needs to see why, so the same
rule runs in an asset check, a test or a notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from l1k_assets.landmarks import DEFAULT_MIN_SHARE, LandmarkCoverage


@dataclass
class Verdict:
    """Outcome of one rule: passed or not, with the evidence."""

    passed: bool
    details: dict[str, Any] = field(default_factory=dict)


def landmark_coverage(coverage: LandmarkCoverage, minimum: float = DEFAULT_MIN_SHARE) -> Verdict:
    """Enough of the landmark genes survived cleaning for the data set to join the landmark-space compendium."""
    details = {"coverage": round(coverage.share, 4), "minimum": minimum, "missing_first": coverage.missing[:20]}
    return Verdict(coverage.share >= minimum, details)


def no_missing_values(table: pd.DataFrame, columns: Sequence[str]) -> Verdict:
    """No NaN in the given columns (deltas feed a classifier that cannot take them)."""
    counts = table[list(columns)].isna().sum()
    bad = counts[counts > 0]
    return Verdict(bad.empty, {"n_missing": int(bad.sum()), "columns": bad.head(20).to_dict()})


def class_counts(labels: Sequence[str], minimum: int) -> Verdict:
    """Every class has at least ``minimum`` members (the number of CV folds)."""
    counts = pd.Series(list(labels)).value_counts()
    return Verdict(len(counts) >= 2 and bool((counts >= minimum).all()), {"counts": counts.to_dict(), "minimum": minimum})


def probability_rows(probabilities: pd.DataFrame, tolerance: float = 1e-6) -> Verdict:
    """Each row is a probability vector: values in [0, 1] summing to 1."""
    values = probabilities.to_numpy(dtype=np.float64)
    deviation = float(np.abs(values.sum(axis=1) - 1).max()) if len(values) else 0.0
    in_range = bool(((values >= -tolerance) & (values <= 1 + tolerance)).all())
    return Verdict(deviation <= tolerance and in_range, {"max_row_sum_deviation": deviation, "values_in_unit_interval": in_range})


def metric_floor(value: float, floor: float, name: str) -> Verdict:
    """A model metric reaches its configured floor."""
    return Verdict(bool(value >= floor), {name: round(float(value), 4), "floor": floor})


def reference_size(summary: pd.DataFrame, min_signatures: int, min_queries: int) -> Verdict:
    """Every reference perturbagen type has enough signatures and queries for a τ percentile to mean something."""
    table = summary.set_index("pert_type")
    short = table[(table.n_reference_signatures < min_signatures) | (table.n_queries < min_queries)]
    details = {
        "signatures_per_type": table.n_reference_signatures.to_dict(),
        "queries_per_type": table.n_queries.to_dict(),
        "min_signatures": min_signatures,
        "min_queries": min_queries,
        "too_small": short.index.tolist(),
    }
    return Verdict(bool(len(table)) and short.empty, details)
