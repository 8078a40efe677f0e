"""Classification and calibration metrics as the seed reports them.

Brier score is the multiclass form (mean over samples of Σ_k (p_k − y_k)²); expected
calibration error uses equal-width bins over the top-class probability, the definition
behind the seed's ECE 0.027. Both are written out here rather than taken from a library
because their multiclass definitions differ between libraries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)


def one_hot(y: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Indicator matrix of labels in the given class order."""
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(y), len(classes)))
    out[np.arange(len(y)), [index[v] for v in y]] = 1.0
    return out


def multiclass_brier(y: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> float:
    """Mean over samples of the squared distance between the probability vector and the one-hot truth."""
    return float(np.mean(np.sum((proba - one_hot(y, classes)) ** 2, axis=1)))


def reliability_bins(y: Sequence[str], proba: np.ndarray, classes: Sequence[str], n_bins: int = 10) -> pd.DataFrame:
    """Per equal-width bin of top-class probability: count, mean confidence, accuracy."""
    top = proba.max(axis=1)
    correct = np.asarray(classes)[proba.argmax(axis=1)] == np.asarray(y)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(top, edges[1:-1], right=True), 0, n_bins - 1)
    frame = pd.DataFrame({"bin": which, "confidence": top, "correct": correct.astype(float)})
    stats = frame.groupby("bin").agg(
        count=("confidence", "size"), confidence=("confidence", "mean"), accuracy=("correct", "mean")
    )
    stats = stats.reindex(range(n_bins))
    stats.insert(0, "upper", edges[1:])
    stats.insert(0, "lower", edges[:-1])
    stats["count"] = stats["count"].fillna(0).astype(int)
    return stats


def expected_calibration_error(y: Sequence[str], proba: np.ndarray, classes: Sequence[str], n_bins: int = 10) -> float:
    """Σ_b (|B_b| / n) · |accuracy(B_b) − confidence(B_b)| over equal-width top-probability bins."""
    bins = reliability_bins(y, proba, classes, n_bins).dropna()
    return float((bins["count"] * (bins.accuracy - bins.confidence).abs()).sum() / len(y))


def classification_metrics(y: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """The seed's headline numbers for one set of predictions."""
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "accuracy": float(accuracy_score(y, pred)),
        "f1_macro": float(f1_score(y, pred, average="macro", labels=list(classes), zero_division=0)),
        "f1_weighted": float(f1_score(y, pred, average="weighted", labels=list(classes), zero_division=0)),
        "brier": multiclass_brier(y, proba, classes),
        "ece": expected_calibration_error(y, proba, classes),
    }


def per_class_table(y: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support per class."""
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=list(classes), zero_division=0)
    return pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s}, index=pd.Index(classes, name="class"))


def report_averages(per_class: pd.DataFrame) -> pd.DataFrame:
    """Seed 000's Table 2 from ``per_class_table`` of pooled out-of-fold predictions: macro and weighted averages.

    The paper's support (549 in both rows) counts every pair once, so its table is pooled over
    the outer folds' test pairs, not a mean of per-fold reports.
    """
    support = per_class.support.to_numpy(dtype=np.float64)
    metrics = per_class[["precision", "recall", "f1"]]
    rows = {
        "macro avg": [*metrics.mean().tolist(), int(support.sum())],
        "weighted avg": [*(metrics.mul(support, axis=0).sum() / max(support.sum(), 1)).tolist(), int(support.sum())],
    }
    return pd.DataFrame.from_dict(rows, orient="index", columns=["precision", "recall", "f1", "support"]).rename_axis("metric")


def confusion_tables(y: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Confusion matrix as counts and row-normalised (rows = truth, columns = prediction)."""
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    counts = pd.DataFrame(confusion_matrix(y, pred, labels=list(classes)), index=classes, columns=classes)
    counts.index.name = "truth"
    rows = counts.sum(axis=1).replace(0, 1)
    return counts, counts.div(rows, axis=0)
