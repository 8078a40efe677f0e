"""Seed 002's sample-level inference metrics: computed per test sample across genes, then averaged.

overall error = mean over samples of sqrt(Σ_g (y − ŷ)²); overall SCC / PCC = mean over samples
of the Spearman / Pearson correlation between the true and inferred profiles. Spearman ranks
use average ranks for ties (as scipy does), so tied values are handled the standard way.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from l1k_assets.scaling import Scaler


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b`` (NaN for a constant row).

    Constancy is tested on the values themselves: a constant row's centred values are rounding
    noise, not zeros, and would otherwise give a spurious correlation near 0.
    """
    constant = (np.ptp(a, axis=1) == 0) | (np.ptp(b, axis=1) == 0)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        defined = (denominator > 0) & ~constant
        return np.where(defined, (a * b).sum(axis=1) / np.where(defined, denominator, 1), np.nan)


def sample_errors(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per sample: sqrt of the summed squared error across genes."""
    return np.sqrt(((np.asarray(y_true, float) - np.asarray(y_pred, float)) ** 2).sum(axis=1))


def sample_pcc(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per sample: Pearson correlation across genes."""
    return _rowwise_pearson(np.asarray(y_true, float), np.asarray(y_pred, float))


def sample_scc(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per sample: Spearman correlation across genes (average ranks for ties)."""
    return _rowwise_pearson(rankdata(y_true, axis=1), rankdata(y_pred, axis=1))


def validation_score(y_val: np.ndarray, prediction: np.ndarray, scale: Scaler | None = None) -> tuple[str, float]:
    """The model-selection and early-stopping score, higher better, with its name.

    Seed 002's overall validation SCC (mean over samples of the across-gene Spearman) when
    there are at least two targets; a single target has nothing to rank across, so it is
    scored by its negated mean squared error (``val_neg_mse``). Models fit z-scored targets;
    ``scale`` (the targets' scaler) scores them on the original scale instead, as seed 002
    does: there a sample's SCC ranks genes by level, on z-scores by deviation from their mean.
    """
    y_val, prediction = np.asarray(y_val, float).reshape(len(y_val), -1), np.asarray(prediction, float).reshape(len(y_val), -1)
    if scale is not None:
        y_val, prediction = scale.inverse(y_val), scale.inverse(prediction)
    if y_val.shape[1] < 2:
        return "val_neg_mse", -float(np.mean((y_val - prediction) ** 2))
    return "val_scc", float(np.nanmean(sample_scc(y_val, prediction)))


def overall_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Mean and sd over samples of error, SCC and PCC (NaN correlations of constant profiles are skipped)."""
    out: dict[str, float] = {}
    for name, values in (
        ("error", sample_errors(y_true, y_pred)),
        ("scc", sample_scc(y_true, y_pred)),
        ("pcc", sample_pcc(y_true, y_pred)),
    ):
        out[f"{name}_mean"] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        out[f"{name}_sd"] = float(np.nanstd(values, ddof=1)) if np.isfinite(values).sum() > 1 else 0.0
    return out
