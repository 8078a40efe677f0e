"""The model zoo behind ``model_expression_inference``: one factory, one scaler, one checkpoint format.

Every model is fitted on z-scored landmarks and targets (training statistics only) and
predicts on the original log scale, so the seeds' error metric keeps its units while the
torch models see well-conditioned inputs. A checkpoint is the model's own files (no pickle)
plus the scaler's arrays.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from l1k_assets.errors import DataError
from l1k_assets.estimators import InferenceRegressor, check_prediction_input, check_training_data
from l1k_assets.progress import Progress
from l1k_assets.scaling import Scaler

MODEL_KINDS = ("lr", "knn", "mlp", "gnn", "dnn")
TORCH_KINDS = frozenset({"mlp", "gnn", "dnn"})
SELECTING_KINDS = TORCH_KINDS | {"knn"}  # the kinds that choose something (epoch, rate, k) on validation
SELECTION_SCALES = ("z", "original")
MODEL_PREFIX = "model."
SCALER_FILE = "scaler.npz"
KIND_FILE = "kind.json"


def _model_class(kind: str) -> Any:
    """The estimator class of a model kind (imported lazily: torch only when a torch model is asked for)."""
    if kind == "lr":
        from l1k_assets.inference.baselines import LinearRegressionInference as cls
    elif kind == "knn":
        from l1k_assets.inference.baselines import KNNInference as cls
    elif kind == "mlp":
        from l1k_assets.inference.baselines import MLPInference as cls
    elif kind == "dnn":
        from l1k_assets.inference.dnn import DNNInference as cls
    elif kind == "gnn":
        from l1k_assets.inference.gnn import GNNRegressor as cls
    else:
        raise DataError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")
    return cls


def make_model(
    kind: str,
    params: Mapping[str, Any],
    graph: pd.DataFrame | None = None,
    n_genes: int = 0,
    landmark_positions: Sequence[int] = (),
) -> Any:
    """An unfitted estimator of ``kind`` with ``params`` (the GNN also takes the gene graph)."""
    cls = _model_class(kind)
    if kind == "gnn":
        if graph is None:
            raise DataError("the GNN needs the gene graph (core_gene_graph)")
        return cls(edges=graph, n_genes=n_genes, landmark_positions=list(landmark_positions), **params)
    return cls(**params)


class StandardizedModel(InferenceRegressor, BaseEstimator):
    """A model fitted and applied on z-scored data, predicting on the original scale: a scikit-learn meta-estimator.

    ``model`` is an unfitted l1k estimator; ``fit`` clones it and fits the clone (``model_``) on
    the training rows' z-scores, so ``clone`` and ``cross_val_score`` treat it as any other
    estimator. ``scale_targets=False`` z-scores the inputs only: seed 001's weighted loss needs
    targets on their own non-negative scale (normalised log counts), where z-scores would
    turn weights negative. ``kind`` names the model in checkpoints (lr, knn, mlp, gnn, dnn).
    ``select_on="original"`` makes the model choose its epoch, learning rate or k by validation
    SCC on the targets' original scale (seed 002's criterion) rather than on z-scores.
    ``scale_inputs=False`` leaves the inputs as they are (seed 002's KNN measures distances on
    the L1000 values themselves, where z-scores weigh every landmark alike).
    """

    def __init__(
        self, kind: str, model: Any, *, scale_targets: bool = True, select_on: str = "z", scale_inputs: bool = True
    ) -> None:
        self.kind = kind
        self.model = model
        self.scale_targets = scale_targets
        self.select_on = select_on
        self.scale_inputs = scale_inputs

    def fit(self, x: Any, y: Any, x_val: Any = None, y_val: Any = None, *, progress: Progress | None = None) -> StandardizedModel:
        """Fit the scalers on the training rows, then a clone of the model on z-scores (reporting to ``progress``).

        Without ``x_val``/``y_val`` the model holds out its own validation rows, if it needs any.
        """
        if self.select_on not in SELECTION_SCALES:
            raise DataError(f"select_on {self.select_on!r}: expected one of {SELECTION_SCALES}")
        shape = y
        x, y, x_val, y_val = check_training_data(x, y, x_val, y_val, need_validation=False, min_samples=1)
        self.x_scaler_ = Scaler.fit(x) if self.scale_inputs else Scaler.identity(x.shape[1])
        self.y_scaler_ = Scaler.fit(y) if self.scale_targets else Scaler.identity(y.shape[1])
        validation = (None, None) if x_val is None else (self.x_scaler_.forward(x_val), self.y_scaler_.forward(y_val))
        selection = {"score_scale": self.y_scaler_} if self.select_on == "original" and self.kind in SELECTING_KINDS else {}
        unit_x, unit_y = self.x_scaler_.forward(x), self.y_scaler_.forward(y)
        self.model_ = clone(self.model).fit(unit_x, unit_y, *validation, progress=progress, **selection)
        self._remember_shapes(x, shape)
        return self

    def predict(self, x: Any) -> np.ndarray:
        """Predictions on the targets' own scale (1-D when fitted on a 1-D ``y``)."""
        check_is_fitted(self, "model_")
        x = check_prediction_input(x, self.n_features_in_, type(self).__name__)
        unit = np.asarray(self.model_.predict(self.x_scaler_.forward(x))).reshape(len(x), -1)
        return self._shaped(self.y_scaler_.inverse(unit))

    def checkpoint_files(self) -> dict[str, bytes]:
        """The model's files under ``model.``, the scaler arrays and the kind."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            x_mean=self.x_scaler_.mean,
            x_sd=self.x_scaler_.sd,
            x_constant=self.x_scaler_.constant,
            y_mean=self.y_scaler_.mean,
            y_sd=self.y_scaler_.sd,
            y_constant=self.y_scaler_.constant,
        )
        files = {f"{MODEL_PREFIX}{name}": data for name, data in self.model_.checkpoint_files().items()}
        shape = {
            "kind": self.kind,
            "scale_targets": self.scale_targets,
            "select_on": self.select_on,
            "scale_inputs": self.scale_inputs,
            "single_output": self.single_output_,
        }
        return {**files, SCALER_FILE: buffer.getvalue(), KIND_FILE: json.dumps(shape).encode()}

    @classmethod
    def from_checkpoint(cls, files: Mapping[str, bytes]) -> StandardizedModel:
        shape = json.loads(files[KIND_FILE])
        arrays = np.load(io.BytesIO(files[SCALER_FILE]))
        own = {name[len(MODEL_PREFIX) :]: data for name, data in files.items() if name.startswith(MODEL_PREFIX)}
        model = _model_class(shape["kind"]).from_checkpoint(own)
        options = {name: shape.get(name, default) for name, default in (("scale_targets", True), ("select_on", "z"))}
        options["scale_inputs"] = shape.get("scale_inputs", True)
        estimator = cls(shape["kind"], model, **options)
        estimator.model_ = model
        estimator.x_scaler_ = Scaler(arrays["x_mean"], arrays["x_sd"], arrays["x_constant"])
        estimator.y_scaler_ = Scaler(arrays["y_mean"], arrays["y_sd"], arrays["y_constant"])
        estimator._set_shapes(len(estimator.x_scaler_.mean), shape.get("single_output", False))
        return estimator
