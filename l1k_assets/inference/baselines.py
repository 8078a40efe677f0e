"""Seed 002's baselines for inferring the full transcriptome from the landmark genes.

Linear regression (least squares), k-nearest neighbours and a one-hidden-layer MLP are the
yardsticks the GNN must beat. Every model follows the inference estimator contract
(sklearn ``BaseEstimator``; ``fit(x, y, x_val, y_val)``; ``predict``; ``checkpoint_files`` /
``from_checkpoint`` without pickle). Shared here for the other inference modules:

* ``fit_with_lr_grid``: the one "try each learning rate, keep the best by validation SCC" rule
  (seed 002 picks the rate from {1e-3, 5e-4, 1e-4}), used by the MLP, the DNN and the GNN;
* ``TorchInference``: fit / predict / checkpoint for feed-forward torch models, so the MLP
  here and seed 001's DNN differ only in their network and loss.

This module imports torch (the MLP trains); import it from inside asset bodies, not at the
top of an ``assets.py``.
"""

from __future__ import annotations

import functools
import io
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, Self, TypeVar

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.spatial.distance import cdist
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from l1k_assets.errors import DataError
from l1k_assets.estimators import InferenceRegressor, check_prediction_input, check_training_data
from l1k_assets.inference.metrics import sample_errors, validation_score
from l1k_assets.inference.torch_training import TrainingHyperparameters, load_state, predict, state_bytes, torch_dtype, train
from l1k_assets.progress import Progress
from l1k_assets.scaling import Scaler

PARAMS_FILE = "params.json"
ARRAYS_FILE = "arrays.npz"
WEIGHTS_FILE = "weights.pt"


class _Estimator(Protocol):
    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray | None = ...,
        y_val: np.ndarray | None = ...,
        *,
        progress: Progress | None = ...,
        score_scale: Scaler | None = ...,
    ) -> Any: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...


E = TypeVar("E", bound=_Estimator)


def fit_with_lr_grid(
    make: Callable[[float], E],
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    grid: Sequence[float],
    progress: Progress | None = None,
    score_scale: Scaler | None = None,
    score: Callable[[np.ndarray, np.ndarray], tuple[str, float]] = validation_score,
) -> tuple[E, dict[float, float]]:
    """Fit one estimator per learning rate and keep the one with the best validation score (SCC for profiles).

    Seed 002 picks the learning rate from {1e-3, 5e-4, 1e-4} by validation performance; this is
    that rule, shared so every torch model applies it the same way. ``make(lr)`` builds an
    unfitted estimator. Returns the best fitted estimator and the score of every rate (ties go
    to the rate listed first; a NaN score never wins over a real one). Each rate reports to a
    child of ``progress`` and gets an equal share of the budget still left when it starts, so
    a budget that ends the first rate early does not starve the others. Each estimator gets
    ``score_scale`` (see ``metrics.validation_score``) and the rates are ranked by ``score``.
    """
    if len(grid) == 0:
        raise DataError("the learning-rate grid is empty: give at least one learning rate")
    scores: dict[float, float] = {}
    best: E | None = None
    best_score = float("-inf")
    for position, lr in enumerate(map(float, grid)):
        estimator = make(lr)
        child = None
        if progress is not None:
            child = progress.child(f"lr {lr:g}", progress.total, progress.budget_left() / (len(grid) - position))
        estimator.fit(x, y, x_val, y_val, progress=child, score_scale=score_scale)
        scores[lr] = score(y_val, estimator.predict(x_val))[1]
        if best is None or scores[lr] > best_score:
            best, best_score = estimator, scores[lr]
    assert best is not None  # the grid is not empty
    return best, scores


# ---------------------------------------------------------------------------------------------
# Checkpoints: JSON for parameters, npz (no pickle) or a torch state dict for arrays


def _params_bytes(estimator: BaseEstimator, fitted: Mapping[str, Any]) -> bytes:
    payload = {"class": type(estimator).__name__, "params": estimator.get_params(), "fitted": dict(fitted)}
    return json.dumps(payload, indent=1).encode()


def _read_params(files: Mapping[str, bytes], cls: type) -> tuple[dict[str, Any], dict[str, Any]]:
    """Constructor parameters and fitted attributes from ``params.json``; the checkpoint must be of ``cls``."""
    payload = json.loads(_checkpoint_file(files, PARAMS_FILE))
    if payload.get("class") != cls.__name__:
        raise DataError(f"this checkpoint holds a {payload.get('class')!r}, not a {cls.__name__!r}")
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in payload["params"].items()}  # JSON turned tuples into lists
    return params, payload["fitted"]


def _checkpoint_file(files: Mapping[str, bytes], name: str) -> bytes:
    if name not in files:
        raise DataError(f"the checkpoint lacks {name} (has {sorted(files)})")
    return files[name]


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _read_npz(files: Mapping[str, bytes]) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(_checkpoint_file(files, ARRAYS_FILE)), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


# ---------------------------------------------------------------------------------------------
# Linear regression


class LinearRegressionInference(InferenceRegressor, BaseEstimator):
    """Ordinary least squares with an intercept, every target at once (seed 002's LR baseline).

    Centring inputs and targets removes the intercept from the solve; one ``lstsq`` (SVD) then
    serves all targets, and with more inputs than samples it returns the minimum-norm solution,
    as scikit-learn's LinearRegression does. Validation data is accepted for the common
    interface; least squares has nothing to tune. ``condition_number_`` is the centred training
    design's largest over smallest singular value (infinite when it is rank deficient, e.g. with
    no more samples than inputs): how far the solve can amplify noise in the targets, so a poor
    LR score can be told from an ill-posed one. It is the one value ``progress`` reports.
    """

    def fit(self, x: Any, y: Any, x_val: Any = None, y_val: Any = None, *, progress: Progress | None = None) -> Self:
        shape = y
        x, y, _, _ = check_training_data(x, y, x_val, y_val, need_validation=False)
        self._remember_shapes(x, shape)
        x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
        # The pseudo-inverse from one thin SVD, with lstsq's cutoff for rank: lstsq's solution, 3× faster for
        # thousands of targets (gelsd works through every right-hand side; here they share one Uᵀ product).
        u, singular, vt = np.linalg.svd(x - x_mean, full_matrices=False)
        kept = singular > np.finfo(float).eps * max(x.shape) * singular[0]
        self.coef_ = vt[kept].T @ ((u[:, kept].T @ (y - y_mean)) / singular[kept, None])  # inputs × targets
        self.intercept_ = y_mean - x_mean @ self.coef_
        full_rank = int(kept.sum()) == x.shape[1]
        self.condition_number_ = float(singular[0] / singular[-1]) if full_rank else float("inf")
        if progress is not None:
            progress.update(1, force=True, condition_number=self.condition_number_)
        return self

    def predict(self, x: Any) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return self._shaped(check_prediction_input(x, len(self.coef_), type(self).__name__) @ self.coef_ + self.intercept_)

    def checkpoint_files(self) -> dict[str, bytes]:
        check_is_fitted(self, "coef_")
        fitted = {"condition_number": self.condition_number_, "single_output": self.single_output_}
        return {PARAMS_FILE: _params_bytes(self, fitted), ARRAYS_FILE: _npz_bytes(coef=self.coef_, intercept=self.intercept_)}

    @classmethod
    def from_checkpoint(cls, files: Mapping[str, bytes]) -> LinearRegressionInference:
        params, fitted = _read_params(files, cls)
        arrays = _read_npz(files)
        estimator = cls(**params)
        estimator.coef_, estimator.intercept_ = arrays["coef"], arrays["intercept"]
        estimator.condition_number_ = float(fitted.get("condition_number", float("nan")))
        estimator._set_shapes(len(estimator.coef_), fitted.get("single_output", False))
        return estimator


# ---------------------------------------------------------------------------------------------
# k nearest neighbours


def inverse_distance_weights(distances: np.ndarray) -> np.ndarray:
    """Row-normalised 1/d weights over each query's neighbours.

    A query that coincides with one or more training samples (distance 0) takes the plain mean
    of those exact matches and ignores its other neighbours: 1/0 is infinite, and this is its
    limit (scikit-learn's ``weights="distance"`` does the same).
    """
    exact = distances == 0
    with np.errstate(divide="ignore"):
        weights = np.where(exact.any(axis=1, keepdims=True), exact.astype(float), 1.0 / distances)
    return weights / weights.sum(axis=1, keepdims=True)


class KNNInference(InferenceRegressor, BaseEstimator):
    """k-nearest-neighbour regression: Manhattan distance, inverse-distance weights (seed 002's KNN).

    The profile of a query is the weighted mean of its k nearest training profiles. k comes
    from ``k_grid`` by validation ``criterion`` ("scc": highest overall SCC, "error": lowest
    overall error; ties go to the k listed first); ``grid_scores_`` keeps both metrics for
    every k. Distances are computed brute force in blocks of about ``block_elements`` distances
    so memory stays bounded however many samples there are; neighbours are ordered by
    distance with ties broken by training order, so results are deterministic. With more
    than one k and no ``x_val``/``y_val``, a seeded ``validation_fraction`` of the rows chooses
    k. With a single target "scc" ranks k by validation MSE (there is nothing to rank across).
    """

    def __init__(
        self,
        k_grid: Sequence[int] = (3, 5, 7, 9),
        criterion: str = "scc",
        block_elements: int = 1 << 24,
        validation_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.k_grid = k_grid
        self.criterion = criterion
        self.block_elements = block_elements
        self.validation_fraction = validation_fraction
        self.seed = seed

    def fit(
        self,
        x: Any,
        y: Any,
        x_val: Any = None,
        y_val: Any = None,
        *,
        progress: Progress | None = None,
        score_scale: Scaler | None = None,
    ) -> Self:
        """Keep the training set and choose k on validation (SCC on ``score_scale``'s original scale if given)."""
        grid = [int(k) for k in self.k_grid]
        if not grid or min(grid) < 1:
            raise DataError(f"k_grid must hold positive neighbour counts, got {list(self.k_grid)}")
        if self.criterion not in ("scc", "error"):
            raise DataError(f"criterion must be 'scc' or 'error', got {self.criterion!r}")
        shape = y
        x, y, x_val, y_val = check_training_data(
            x,
            y,
            x_val,
            y_val,
            need_validation=len(grid) > 1,
            min_samples=max(grid),
            validation_fraction=self.validation_fraction,
            seed=self.seed,
        )
        self._remember_shapes(x, shape)
        self.x_train_, self.y_train_ = x, y
        self.grid_scores_: dict[int, dict[str, float]] = {}
        if x_val is None or y_val is None:
            self.k_ = grid[0]
            return self
        indices, distances = self._neighbours(x_val, max(grid))
        for step, k in enumerate(grid, start=1):
            prediction = self._weighted_mean(indices[:, :k], distances[:, :k])
            self.grid_scores_[k] = {
                "scc": validation_score(y_val, prediction, score_scale)[1],
                "error": float(np.mean(sample_errors(y_val, prediction))),
            }
            if progress is not None:
                progress.update(step, k=k, val_scc=self.grid_scores_[k]["scc"], val_error=self.grid_scores_[k]["error"])
        sign = 1.0 if self.criterion == "scc" else -1.0
        self.k_ = max(grid, key=lambda k: sign * self.grid_scores_[k][self.criterion])
        return self

    def predict(self, x: Any) -> np.ndarray:
        check_is_fitted(self, "k_")
        indices, distances = self._neighbours(check_prediction_input(x, self.x_train_.shape[1], type(self).__name__), self.k_)
        return self._shaped(self._weighted_mean(indices, distances))

    def _neighbours(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest training rows of every query (positions, Manhattan distances), nearest first."""
        rows = max(1, self.block_elements // len(self.x_train_))
        indices, distances = [], []
        for start in range(0, len(queries), rows):
            block = cdist(queries[start : start + rows], self.x_train_, metric="cityblock")
            order = np.argsort(block, axis=1, kind="stable")[:, :k]
            indices.append(order)
            distances.append(np.take_along_axis(block, order, axis=1))
        if not indices:
            return np.zeros((0, k), dtype=np.intp), np.zeros((0, k))
        return np.concatenate(indices), np.concatenate(distances)

    def _weighted_mean(self, indices: np.ndarray, distances: np.ndarray) -> np.ndarray:
        """Weighted mean of neighbour profiles, as a sparse (queries × training) weight matrix times y."""
        n_queries, k = indices.shape
        weights = csr_matrix(
            (inverse_distance_weights(distances).ravel(), indices.ravel(), np.arange(0, n_queries * k + 1, k)),
            shape=(n_queries, len(self.x_train_)),
        )
        return np.asarray(weights @ self.y_train_)

    def checkpoint_files(self) -> dict[str, bytes]:
        check_is_fitted(self, "k_")
        fitted = {
            "k": self.k_,
            "grid_scores": {str(k): v for k, v in self.grid_scores_.items()},
            "single_output": self.single_output_,
        }
        return {PARAMS_FILE: _params_bytes(self, fitted), ARRAYS_FILE: _npz_bytes(x_train=self.x_train_, y_train=self.y_train_)}

    @classmethod
    def from_checkpoint(cls, files: Mapping[str, bytes]) -> KNNInference:
        params, fitted = _read_params(files, cls)
        arrays = _read_npz(files)
        estimator = cls(**params)
        estimator.x_train_, estimator.y_train_ = arrays["x_train"], arrays["y_train"]
        estimator.k_ = int(fitted["k"])
        estimator.grid_scores_ = {int(k): v for k, v in fitted["grid_scores"].items()}
        estimator._set_shapes(estimator.x_train_.shape[1], fitted.get("single_output", False))
        return estimator


# ---------------------------------------------------------------------------------------------
# Torch feed-forward models


def feedforward(n_inputs: int, hidden: Sequence[int], n_outputs: int, dropout: float = 0.0) -> torch.nn.Sequential:
    """Linear → [Dropout] → ReLU per hidden width, then a Linear to the outputs.

    Seed 001's DNN is this stack with dropout; seed 002's MLP is one hidden layer without it.
    The first module is always the input Linear, whose columns are the per-input-gene groups.
    """
    layers: list[torch.nn.Module] = []
    width = n_inputs
    for size in hidden:
        layers.append(torch.nn.Linear(width, size))
        if dropout > 0:
            layers.append(torch.nn.Dropout(dropout))
        layers.append(torch.nn.ReLU())
        width = size
    layers.append(torch.nn.Linear(width, n_outputs))
    return torch.nn.Sequential(*layers)


class TorchInference(InferenceRegressor, TrainingHyperparameters, ABC):
    """Fit, predict and checkpoint for torch models trained by ``torch_training.train``.

    Subclasses supply the network (``_network``) and the loss (``_loss``), and may refuse
    targets their loss cannot use (``_check_targets``). Training stops early on the validation
    score (SCC across targets; negated MSE for one target) of ``x_val``/``y_val``, or, fitted
    without them (``clone``, ``cross_val_score``), of a seeded ``validation_fraction`` of the
    rows held out. With ``lr_grid`` set, one model per learning rate is trained
    and the best by validation SCC is kept (``lr_`` is the chosen rate, ``lr_scores_`` every
    rate's score; ``history_``, ``training_seconds_`` and ``stopped_by_budget_`` are the chosen
    run's). Epochs report to ``fit``'s ``progress``, whose budget bounds the whole fit.
    Subclass constructors list these shared arguments so ``get_params`` sees them.
    """

    def __init__(self, *, lr_grid: Sequence[float] | None, validation_fraction: float, **training: Any) -> None:
        super().__init__(**training)
        self.lr_grid = lr_grid
        self.validation_fraction = validation_fraction

    @abstractmethod
    def _network(self, n_inputs: int, n_outputs: int) -> torch.nn.Module:
        """An untrained network mapping inputs to outputs."""

    @abstractmethod
    def _loss(self, prediction: torch.Tensor, target: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
        """The training loss of a mini-batch (may use the model, e.g. for a weight penalty)."""

    def _check_targets(self, y: np.ndarray, y_val: np.ndarray) -> None:
        """Refuse targets the loss cannot use; any finite values are fine by default."""

    def _score(self, scale: Scaler | None) -> Callable[[np.ndarray, np.ndarray], tuple[str, float]]:
        """The early-stopping and learning-rate score: seed 002's validation SCC (on ``scale``'s original scale if given)."""
        return functools.partial(validation_score, scale=scale)

    def fit(
        self,
        x: Any,
        y: Any,
        x_val: Any = None,
        y_val: Any = None,
        *,
        progress: Progress | None = None,
        score_scale: Scaler | None = None,
    ) -> Self:
        shape = y
        x, y, x_val, y_val = check_training_data(
            x, y, x_val, y_val, need_validation=True, validation_fraction=self.validation_fraction, seed=self.seed
        )
        assert x_val is not None and y_val is not None  # need_validation=True guarantees both
        self._check_targets(y, y_val)
        if self.lr_grid:
            best, scores = fit_with_lr_grid(
                lambda lr: clone(self).set_params(lr=lr, lr_grid=None),
                *(x, y, x_val, y_val, self.lr_grid, progress, score_scale),
                score=self._score(score_scale),
            )
            vars(self).update({name: value for name, value in vars(best).items() if name.endswith("_")})
            self.lr_scores_ = scores
            self._remember_shapes(x, shape)
            return self
        torch.manual_seed(self.seed)  # the initial weights depend on the seed only
        self.module_ = self._network(x.shape[1], y.shape[1])
        result = train(self.module_, self._loss, x, y, x_val, y_val, self.settings(), progress, self._score(score_scale))
        self.n_inputs_, self.n_outputs_ = x.shape[1], y.shape[1]
        self.lr_ = float(self.lr)
        self.lr_scores_ = {}
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.training_seconds_ = result.seconds
        self.stopped_by_budget_ = result.stopped_by_budget
        self._remember_shapes(x, shape)
        return self

    def predict(self, x: Any) -> np.ndarray:
        check_is_fitted(self, "module_")
        x = check_prediction_input(x, self.n_inputs_, type(self).__name__)
        return self._shaped(predict(self.module_, x, self.settings()))

    def checkpoint_files(self) -> dict[str, bytes]:
        check_is_fitted(self, "module_")
        fitted = {
            "n_inputs": self.n_inputs_,
            "n_outputs": self.n_outputs_,
            "lr": self.lr_,
            "lr_scores": [[lr, score] for lr, score in self.lr_scores_.items()],
            "best_epoch": self.best_epoch_,
            "training_seconds": self.training_seconds_,
            "stopped_by_budget": self.stopped_by_budget_,
            "history": self.history_,
            "single_output": self.single_output_,
        }
        return {PARAMS_FILE: _params_bytes(self, fitted), WEIGHTS_FILE: state_bytes(self.module_)}

    @classmethod
    def from_checkpoint(cls, files: Mapping[str, bytes]) -> Self:
        params, fitted = _read_params(files, cls)
        return cls(**params).restore_fitted(files, fitted)

    def restore_fitted(self, files: Mapping[str, bytes], fitted: Mapping[str, Any]) -> Self:
        """Rebuild the network from ``weights.pt`` and the fitted attributes from ``params.json``'s "fitted".

        The second half of ``from_checkpoint``, for subclasses whose parameters need more than
        JSON to rebuild (they construct the estimator themselves, then call this).
        """
        module = load_state(self._network(fitted["n_inputs"], fitted["n_outputs"]), _checkpoint_file(files, WEIGHTS_FILE))
        self.module_ = module.to(device=torch.device(self.device), dtype=torch_dtype(self.dtype))
        self.n_inputs_, self.n_outputs_ = fitted["n_inputs"], fitted["n_outputs"]
        self.lr_ = fitted["lr"]
        self.lr_scores_ = {float(lr): score for lr, score in fitted["lr_scores"]}
        self.best_epoch_ = fitted["best_epoch"]
        self.training_seconds_ = fitted["training_seconds"]
        self.stopped_by_budget_ = bool(fitted.get("stopped_by_budget", False))
        self.history_ = fitted["history"]
        self._set_shapes(self.n_inputs_, fitted.get("single_output", False))
        return self


class MLPInference(TorchInference):
    """One hidden ReLU layer trained with the mean absolute error (seed 002's MLP baseline).

    ``hidden`` is the hidden width; ``None`` makes it as wide as the output, as in the seed
    (12,320 units there: some 27 M weights, hence the smaller default). Adam with weight decay
    1e-6 and early stopping on validation SCC as in the seed; give ``lr_grid=(1e-3, 5e-4, 1e-4)``
    to choose the learning rate the seed's way.
    """

    def __init__(
        self,
        hidden: int | None = 1024,
        *,
        lr: float = 1e-3,
        lr_grid: Sequence[float] | None = None,
        validation_fraction: float = 0.1,
        weight_decay: float = 1e-6,
        batch_size: int = 64,
        max_epochs: int = 200,
        patience: int = 10,
        seed: int = 0,
        device: str = "cpu",
        dtype: str = "float32",
    ) -> None:
        self.hidden = hidden
        super().__init__(
            lr=lr,
            lr_grid=lr_grid,
            validation_fraction=validation_fraction,
            weight_decay=weight_decay,
            batch_size=batch_size,
            max_epochs=max_epochs,
            patience=patience,
            seed=seed,
            device=device,
            dtype=dtype,
        )

    def _network(self, n_inputs: int, n_outputs: int) -> torch.nn.Module:
        return feedforward(n_inputs, [self.hidden or n_outputs], n_outputs)

    def _loss(self, prediction: torch.Tensor, target: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
        return torch.nn.functional.l1_loss(prediction, target)
