"""The scikit-learn contract every l1k estimator keeps: input checks, held-out validation, output shapes.

Every estimator (the inference models, CSG2A's two stages, the per-drug mean, the z-scoring
wrapper) checks its arrays here, so a bad array fails the same way everywhere: an
``EstimatorInputError`` (a ``DataError`` and a ``ValueError``) naming the array and what was
expected. Estimators that stop early or choose hyperparameters on validation data take it as
``fit(x, y, x_val, y_val)``, or hold out a seeded ``validation_fraction`` of the training rows
when fitted as ``fit(x, y)``: the path ``clone``, pipelines and ``cross_val_score`` use.
torch is not imported here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import issparse
from sklearn.base import RegressorMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_array, column_or_1d

from l1k_assets.errors import EstimatorInputError


def as_matrix(values: Any, name: str) -> np.ndarray:
    """``values`` as a finite 2-D float64 array, or an EstimatorInputError naming ``name`` and the problem.

    scikit-learn's ``check_array`` does the conversion (lists, frames, read-only and
    Fortran-ordered arrays, object arrays of numbers); non-finite cells are named by position.
    """
    if issparse(values):
        raise EstimatorInputError(f"{name} is a sparse matrix: sparse input is not supported, pass a dense array")
    try:
        matrix = check_array(values, dtype=np.float64, ensure_all_finite=False, input_name=name)
    except ValueError as exc:
        raise EstimatorInputError(f"{name} must be a 2-D samples × features array of real numbers: {exc}") from exc
    bad = ~np.isfinite(matrix)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise EstimatorInputError(f"{name} has {int(bad.sum())} NaN or infinite values (first at row {row}, column {column})")
    return matrix


def is_1d(values: Any) -> bool:
    """Whether ``values`` (an array, list, Series or any object with ``__array__``) is one-dimensional."""
    return np.asarray(values).ndim == 1


def as_targets(values: Any, name: str) -> np.ndarray:
    """Targets as a 2-D array: a 1-D ``y`` (one target, scikit-learn's usual shape) becomes one column."""
    if values is None:
        raise EstimatorInputError(f"this estimator requires {name} to be passed, but the target {name} is None")
    return as_matrix(np.reshape(np.asarray(values), (-1, 1)) if is_1d(values) else values, name)


def one_target(values: Any, owner: str) -> np.ndarray:
    """A single-output estimator's ``y`` as 1-D; a column is accepted with scikit-learn's DataConversionWarning."""
    if values is None:
        raise EstimatorInputError(f"{owner} requires y to be passed, but the target y is None")
    try:
        return column_or_1d(values, warn=True)
    except ValueError as exc:
        raise EstimatorInputError(f"{owner} predicts one value per row: {exc}") from exc


def hold_out(x: np.ndarray, y: np.ndarray, fraction: float, seed: int, min_samples: int) -> tuple[np.ndarray, ...]:
    """A seeded ``fraction`` of the rows held out as validation data: (x, y, x_val, y_val).

    What an estimator fitted without ``x_val``/``y_val`` (``clone``, ``cross_val_score``, a
    pipeline) validates on; at least one row is held out and ``min_samples`` are left to train.
    """
    if not 0 < fraction < 1:
        raise EstimatorInputError(f"validation_fraction must be between 0 and 1 (exclusive), got {fraction}")
    n_val = max(1, round(fraction * len(x)))
    if len(x) - n_val < min_samples:
        raise EstimatorInputError(
            f"{len(x)} sample(s) are too few to hold out validation_fraction={fraction} and train on {min_samples}: "
            "give x_val and y_val, or more samples"
        )
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return x[train], y[train], x[val], y[val]


def check_training_data(
    x: Any,
    y: Any,
    x_val: Any = None,
    y_val: Any = None,
    *,
    need_validation: bool,
    min_samples: int = 2,
    validation_fraction: float | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The checks every l1k estimator applies before fitting; returns float64 arrays with 2-D targets.

    Inputs and targets must be finite, with one row per sample and at least ``min_samples``
    rows; a 1-D ``y`` is one target. Validation data comes as a pair with the training data's
    columns; a model that needs it and was given none holds out ``validation_fraction`` of the
    rows (seeded), or refuses when that is ``None``. Every failure is an EstimatorInputError.
    """
    x, y = as_matrix(x, "x"), as_targets(y, "y")
    if len(x) != len(y):
        raise EstimatorInputError(f"x has {len(x)} samples but y has {len(y)}: inputs and targets must be paired row by row")
    if len(x) < min_samples:
        raise EstimatorInputError(f"{len(x)} sample(s) are too few to train: this model needs at least {min_samples}")
    if (x_val is None) != (y_val is None):
        raise EstimatorInputError("give both x_val and y_val, or neither")
    if x_val is None:
        if not need_validation:
            return x, y, None, None
        if validation_fraction is None:
            raise EstimatorInputError("this model needs validation data (x_val, y_val) for model selection / early stopping")
        return hold_out(x, y, validation_fraction, seed, min_samples)  # type: ignore[return-value]
    x_val, y_val = as_matrix(x_val, "x_val"), as_targets(y_val, "y_val")
    if len(x_val) != len(y_val):
        raise EstimatorInputError(f"x_val has {len(x_val)} samples and y_val {len(y_val)}: need the same number")
    if x_val.shape[1] != x.shape[1] or y_val.shape[1] != y.shape[1]:
        raise EstimatorInputError(
            f"validation columns ({x_val.shape[1]} inputs, {y_val.shape[1]} targets) differ from training "
            f"({x.shape[1]} inputs, {y.shape[1]} targets)"
        )
    return x, y, x_val, y_val


def check_prediction_input(x: Any, n_inputs: int, owner: str = "the model") -> np.ndarray:
    """Inputs to ``predict``: finite, 2-D, with as many columns as the model was fitted on."""
    matrix = as_matrix(x, "x")
    if matrix.shape[1] != n_inputs:
        raise EstimatorInputError(
            f"X has {matrix.shape[1]} features, but {owner} is expecting {n_inputs} features as input "
            "(the input columns it was fitted on)"
        )
    return matrix


class InferenceRegressor(RegressorMixin):
    """What every l1k regressor shares with scikit-learn: one or many targets, ``n_features_in_``, 1-D in, 1-D out.

    Fitted on a 1-D ``y`` an estimator predicts a 1-D array, as scikit-learn's regressors do;
    on a 2-D ``y`` (genes as targets) a 2-D one. ``score`` is R² averaged over the targets.
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _remember_shapes(self, x: np.ndarray, y: Any) -> None:
        """Record the fitted inputs' width and whether ``y`` was 1-D (before it was made a column)."""
        self._set_shapes(x.shape[1], is_1d(y))

    def _set_shapes(self, n_features: int, single_output: bool) -> None:
        self.n_features_in_ = int(n_features)
        self.single_output_ = bool(single_output)

    def _shaped(self, prediction: np.ndarray) -> np.ndarray:
        return prediction.ravel() if getattr(self, "single_output_", False) else prediction
