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
from l1k_assets.progress import Progress

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
    isotonic_min_per_class: int = 5  # fewer training samples of a class per calibration fold -> sigmoid
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

    def params_numeric(self) -> dict[str, float]:
        """The chosen numeric hyperparameters, for progress reports (unlimited depth as 0)."""
        return {f"chosen_{k}": float(v or 0) for k, v in self.params.items() if isinstance(v, int | None)}


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
    """The outer folds run plus pooled out-of-fold predictions (rows of folds not run stay NaN)."""

    classes: list[str]
    folds: list[FoldResult]
    oof_proba: np.ndarray
    summary: dict[str, float] = field(default_factory=dict)
    stopped_by_budget: bool = False

    @property
    def scored(self) -> np.ndarray:
        """Mask of the rows that got an out-of-fold prediction."""
        return ~np.isnan(self.oof_proba).any(axis=1)

    def chosen_params(self) -> dict[str, Any]:
        """The parameters the outer folds' inner searches chose most often (first chosen on ties)."""
        choices = [repr(f.forest.params) for f in self.folds]
        best = max(choices, key=choices.count)
        return next(f.forest.params for f in self.folds if repr(f.forest.params) == best)


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


def select_params(
    x: np.ndarray, y: np.ndarray, config: ClassifierConfig, progress: Progress | None = None
) -> tuple[dict[str, Any], dict[str, float]]:
    """Inner CV: the grid point with the best mean balanced accuracy (first one on ties).

    With a ``progress`` whose budget runs out, the search stops after the current grid point
    and returns the best one so far (at least the first point is always scored).
    """
    check_labels(y, config.inner_folds)
    inner = list(StratifiedKFold(config.inner_folds, shuffle=True, random_state=config.seed).split(x, y))
    scores: dict[str, float] = {}
    best: tuple[float, dict[str, Any]] | None = None
    grid = config.grid()
    for step, params in enumerate(grid, start=1):
        fold_scores = []
        for tr, te in inner:
            model = _forest(params, config).fit(x[tr], y[tr])
            fold_scores.append(balanced_accuracy_score(y[te], model.predict(x[te])))
        score = float(np.mean(fold_scores))
        scores[repr(params)] = score
        if best is None or score > best[0]:
            best = (score, params)
        if progress is not None:
            progress.update(step, inner_balanced_accuracy=score, best_inner_balanced_accuracy=best[0])
            if step < len(grid) and progress.exhausted():
                progress.stop_for_budget()
                break
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


def fit_calibrated_forest(
    x: np.ndarray,
    y: np.ndarray,
    config: ClassifierConfig,
    progress: Progress | None = None,
    params: dict[str, Any] | None = None,
) -> CalibratedForest:
    """Inner search (unless ``params`` are given), then calibration, both on the data given and nothing else."""
    scores: dict[str, float] = {}
    if params is None:
        params, scores = select_params(x, y, config, progress)
    model, method = calibrate(x, y, params, config)
    return CalibratedForest(model, params, method, scores)


def nested_cv(
    x: np.ndarray,
    y: Sequence[str],
    config: ClassifierConfig,
    folds: list[tuple[np.ndarray, np.ndarray]] | None = None,
    progress: Progress | None = None,
) -> NestedCVResult:
    """Outer stratified folds (or the given ones); each fold's model never sees its test rows.

    ``progress`` reports each outer fold (its balanced accuracy and the mean so far) and
    each fold's inner grid; once its budget is spent no further outer fold starts, and the
    estimate rests on the folds that ran (``stopped_by_budget`` says so).
    """
    y = np.asarray(y).astype(str)
    check_labels(y, config.outer_folds)
    if folds is None:
        folds = list(StratifiedKFold(config.outer_folds, shuffle=True, random_state=config.seed).split(x, y))
    classes = sorted(set(y))
    oof = np.full((len(y), len(classes)), np.nan)
    result = NestedCVResult(classes, [], oof)
    for i, (train, test) in enumerate(folds):
        inner = progress.child(f"outer fold {i + 1}/{len(folds)} · inner grid", len(config.grid())) if progress else None
        forest = fit_calibrated_forest(x[train], y[train], config, inner)
        proba = _aligned(forest, x[test], classes)
        oof[test] = proba
        result.folds.append(FoldResult(i, train, test, forest, proba, classification_metrics(y[test], proba, classes)))
        log.info("outer fold %d: %s", i, result.folds[-1].metrics)
        if progress is not None:
            so_far = [f.metrics["balanced_accuracy"] for f in result.folds]
            progress.update(
                i + 1, balanced_accuracy=so_far[-1], balanced_accuracy_mean=float(np.mean(so_far)), **forest.params_numeric()
            )
            if i + 1 < len(folds) and progress.exhausted():
                progress.stop_for_budget()
                result.stopped_by_budget = True
                break
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
    """Mean ± sd over the outer folds run, and the pooled out-of-fold metrics of the rows they scored."""
    per_fold = pd.DataFrame([f.metrics for f in result.folds])
    out: dict[str, float] = {}
    for name in per_fold.columns:
        out[f"{name}_mean"] = float(per_fold[name].mean())
        out[f"{name}_sd"] = float(per_fold[name].std(ddof=1)) if len(per_fold) > 1 else 0.0
    scored = result.scored
    for name, value in classification_metrics(y[scored], result.oof_proba[scored], result.classes).items():
        out[f"{name}_pooled"] = value
    out["outer_folds_run"] = float(len(result.folds))
    return out


def estimable_cohorts(y: Sequence[str], cohorts: Sequence[str]) -> dict[str, bool]:
    """Per cohort (sorted): whether another cohort has its cancer type, so that training without it can predict it."""
    y = np.asarray(y).astype(str)
    cohorts = np.asarray(cohorts).astype(str)
    return {c: bool(np.any(y[cohorts != c] == y[cohorts == c][0])) for c in sorted(set(cohorts))}


def leave_one_cohort_out(
    x: np.ndarray,
    y: Sequence[str],
    cohorts: Sequence[str],
    params: dict[str, Any],
    config: ClassifierConfig,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Accuracy on each held-out cohort of a calibrated forest trained on the other cohorts.

    A cohort whose cancer type has no other cohort cannot be predicted by construction (the
    type is absent from training); it is listed with ``estimable = False`` instead of a number.
    Once ``progress``'s budget is spent the remaining cohorts are listed with ``run = False``.
    """
    y = np.asarray(y).astype(str)
    cohorts = np.asarray(cohorts).astype(str)
    estimable = estimable_cohorts(y, cohorts)
    rows = []
    done = 0
    for cohort in estimable:
        test = cohorts == cohort
        row: dict[str, Any] = {"cohort": cohort, "cancer_type": y[test][0], "n": int(test.sum()), "estimable": estimable[cohort]}
        out_of_budget = progress is not None and done > 0 and progress.exhausted()
        row["run"] = estimable[cohort] and not out_of_budget
        if row["run"]:
            model, method = calibrate(x[~test], y[~test], params, config)
            pred = model.predict(x[test])
            row.update(accuracy=float(np.mean(pred == y[test])), calibration=method)
            done += 1
            if progress is not None:
                progress.update(done, accuracy=row["accuracy"])
        elif estimable[cohort] and progress is not None and not progress.stopped_by_budget:
            progress.stop_for_budget()
        rows.append(row)
    return pd.DataFrame(rows)


def oof_accuracy_by_cohort(result: NestedCVResult, y: Sequence[str], cohorts: Sequence[str]) -> pd.Series:
    """Nested-CV accuracy of each cohort's pairs: what leave-one-cohort-out is compared with, pair for pair."""
    y = np.asarray(y).astype(str)
    scored = result.scored
    pred = np.asarray(result.classes)[np.nan_to_num(result.oof_proba).argmax(axis=1)]
    correct = pd.Series(pred == y)[scored]
    return correct.groupby(np.asarray(cohorts).astype(str)[scored]).mean().astype(float)


def pooled_accuracy(table: pd.DataFrame, column: str = "accuracy") -> float:
    """Accuracy over every pair of the rows that ran (a size-weighted mean of per-cohort accuracies)."""
    ran = table[table["run"]]
    return float((ran[column] * ran.n).sum() / ran.n.sum()) if len(ran) else float("nan")
