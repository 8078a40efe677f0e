"""The calibrated multiclass random forest for cancer type, estimated by nested cross-validation.

Seed 000's protocol, made explicit: an inner grid search picks the forest on each outer
training split; the chosen forest is then calibrated on that same training split only
(isotonic through an internal CV, sigmoid when isotonic cannot be fitted), and only then
does it see the outer test fold. A leave-one-cohort-out estimate is added because cohorts of
one cancer type share batch signal that stratified folds let leak into the estimate.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold

from l1k_assets.errors import DataError
from l1k_assets.indication.metrics import classification_metrics

log = logging.getLogger("l1k.indication")


@dataclass(frozen=True)
class ClassifierConfig:
    """Search space and protocol of the nested CV (defaults sized for 2 CPU cores)."""

    n_estimators: tuple[int, ...] = (300,)
    max_depth: tuple[int | None, ...] = (None, 12)
    min_samples_split: tuple[int, ...] = (2, 6)
    min_samples_leaf: tuple[int, ...] = (1, 3)
    max_features: tuple[str, ...] = ("sqrt",)
    outer_folds: int = 5
    inner_folds: int = 3
    calibration_folds: int = 3
    isotonic_min_per_class: int = 15  # fewer training samples of a class per calibration fold -> sigmoid
    seed: int = 0
    n_jobs: int = 2

    def grid(self) -> list[dict[str, Any]]:
        """Every parameter combination of the inner search."""
        keys = ("n_estimators", "max_depth", "min_samples_split", "min_samples_leaf", "max_features")
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(getattr(self, k) for k in keys))]


@dataclass
class CalibratedForest:
    """A fitted calibrated forest with what chose and calibrated it."""

    model: CalibratedClassifierCV
    params: dict[str, Any]
    method: str  # "isotonic" or "sigmoid"
    inner_scores: dict[str, float]

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.model.classes_]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x)


@dataclass
class FoldResult:
    """One outer fold: indices, the model fitted on its training split, test predictions and metrics."""

    fold: int
    train: np.ndarray
    test: np.ndarray
    forest: CalibratedForest
    proba: np.ndarray
    metrics: dict[str, float]


@dataclass
class NestedCVResult:
    """All outer folds plus pooled out-of-fold predictions."""

    classes: list[str]
    folds: list[FoldResult]
    oof_proba: np.ndarray
    summary: dict[str, float] = field(default_factory=dict)


def check_labels(y: Sequence[str], folds: int, what: str = "cancer type") -> None:
    """Refuse inputs that would make cross-validation meaningless or crash mid-way."""
    counts = pd.Series(np.asarray(y)).value_counts()
    if len(counts) < 2:
        raise DataError(f"only one {what} ({counts.index[0] if len(counts) else 'none'}): a classifier needs at least two")
    small = counts[counts < folds]
    if not small.empty:
        raise DataError(f"{what} {small.index[0]!r} has {int(small.iloc[0])} samples, fewer than the {folds} CV folds")


def _forest(params: dict[str, Any], config: ClassifierConfig) -> RandomForestClassifier:
    return RandomForestClassifier(class_weight="balanced", random_state=config.seed, n_jobs=config.n_jobs, **params)


def select_params(x: np.ndarray, y: np.ndarray, config: ClassifierConfig) -> tuple[dict[str, Any], dict[str, float]]:
    """Inner CV: the grid point with the best mean balanced accuracy (first one on ties)."""
    check_labels(y, config.inner_folds)
    inner = list(StratifiedKFold(config.inner_folds, shuffle=True, random_state=config.seed).split(x, y))
    scores: dict[str, float] = {}
    best: tuple[float, dict[str, Any]] | None = None
    for params in config.grid():
        fold_scores = []
        for tr, te in inner:
            model = _forest(params, config).fit(x[tr], y[tr])
            fold_scores.append(balanced_accuracy_score(y[te], model.predict(x[te])))
        score = float(np.mean(fold_scores))
        scores[repr(params)] = score
        if best is None or score > best[0]:
            best = (score, params)
    assert best is not None
    return best[1], scores


def calibrate(
    x: np.ndarray, y: np.ndarray, params: dict[str, Any], config: ClassifierConfig
) -> tuple[CalibratedClassifierCV, str]:
    """Calibrate the chosen forest on (x, y) only: isotonic, or sigmoid when isotonic cannot be fitted."""
    check_labels(y, config.calibration_folds)
    cv = StratifiedKFold(config.calibration_folds, shuffle=True, random_state=config.seed)
    smallest = int(pd.Series(y).value_counts().min())
    if smallest // config.calibration_folds >= config.isotonic_min_per_class:
        try:
            return CalibratedClassifierCV(_forest(params, config), method="isotonic", cv=cv).fit(x, y), "isotonic"
        except ValueError as exc:
            log.warning("isotonic calibration failed (%s); falling back to sigmoid", exc)
    else:
        log.info("smallest class has %d training samples: sigmoid calibration instead of isotonic", smallest)
    return CalibratedClassifierCV(_forest(params, config), method="sigmoid", cv=cv).fit(x, y), "sigmoid"


def fit_calibrated_forest(x: np.ndarray, y: np.ndarray, config: ClassifierConfig) -> CalibratedForest:
    """Inner search, then calibration, both on the data given and nothing else."""
    params, scores = select_params(x, y, config)
    model, method = calibrate(x, y, params, config)
    return CalibratedForest(model, params, method, scores)


def nested_cv(
    x: np.ndarray, y: Sequence[str], config: ClassifierConfig, folds: list[tuple[np.ndarray, np.ndarray]] | None = None
) -> NestedCVResult:
    """Outer stratified folds (or the given ones); each fold's model never sees its test rows."""
    y = np.asarray(y).astype(str)
    check_labels(y, config.outer_folds)
    if folds is None:
        folds = list(StratifiedKFold(config.outer_folds, shuffle=True, random_state=config.seed).split(x, y))
    classes = sorted(set(y))
    oof = np.full((len(y), len(classes)), np.nan)
    results = []
    for i, (train, test) in enumerate(folds):
        forest = fit_calibrated_forest(x[train], y[train], config)
        proba = _aligned(forest, x[test], classes)
        oof[test] = proba
        results.append(FoldResult(i, train, test, forest, proba, classification_metrics(y[test], proba, classes)))
        log.info("outer fold %d: %s", i, results[-1].metrics)
    result = NestedCVResult(classes, results, oof)
    result.summary = summarize(result, y)
    return result


def _aligned(forest: CalibratedForest, x: np.ndarray, classes: list[str]) -> np.ndarray:
    """Probabilities in the full class order (a class absent from a training split gets probability 0)."""
    proba = forest.predict_proba(x)
    out = np.zeros((len(x), len(classes)))
    for j, c in enumerate(forest.classes):
        out[:, classes.index(c)] = proba[:, j]
    return out


def summarize(result: NestedCVResult, y: np.ndarray) -> dict[str, float]:
    """Mean ± sd over outer folds, and the pooled out-of-fold metrics."""
    per_fold = pd.DataFrame([f.metrics for f in result.folds])
    out: dict[str, float] = {}
    for name in per_fold.columns:
        out[f"{name}_mean"] = float(per_fold[name].mean())
        out[f"{name}_sd"] = float(per_fold[name].std(ddof=1)) if len(per_fold) > 1 else 0.0
    for name, value in classification_metrics(y, result.oof_proba, result.classes).items():
        out[f"{name}_pooled"] = value
    return out


def leave_one_cohort_out(
    x: np.ndarray, y: Sequence[str], cohorts: Sequence[str], params: dict[str, Any], config: ClassifierConfig
) -> pd.DataFrame:
    """Accuracy on each held-out cohort of a calibrated forest trained on the other cohorts.

    A cohort whose cancer type has no other cohort cannot be predicted by construction (the
    type is absent from training); it is listed with ``estimable = False`` instead of a number.
    """
    y = np.asarray(y).astype(str)
    cohorts = np.asarray(cohorts).astype(str)
    rows = []
    for cohort in sorted(set(cohorts)):
        test = cohorts == cohort
        ctype = y[test][0]
        estimable = bool(np.any(y[~test] == ctype))
        row: dict[str, Any] = {"cohort": cohort, "cancer_type": ctype, "n": int(test.sum()), "estimable": estimable}
        if estimable:
            model, method = calibrate(x[~test], y[~test], params, config)
            pred = model.predict(x[test])
            row.update(accuracy=float(np.mean(pred == y[test])), calibration=method)
        rows.append(row)
    return pd.DataFrame(rows)
