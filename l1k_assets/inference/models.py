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

from l1k_assets.errors import DataError
from l1k_assets.progress import Progress
from l1k_assets.scaling import Scaler

MODEL_KINDS = ("lr", "knn", "mlp", "gnn", "dnn")
TORCH_KINDS = frozenset({"mlp", "gnn", "dnn"})
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


class StandardizedModel:
    """A model fitted and applied on z-scored data, predicting on the original scale.

    ``scale_targets=False`` z-scores the inputs only: seed 001's weighted loss needs targets on
    their own non-negative scale (normalised log counts), where z-scores would turn weights negative.
    """

    def __init__(
        self,
        kind: str,
        model: Any,
        x_scaler: Scaler | None = None,
        y_scaler: Scaler | None = None,
        *,
        scale_targets: bool = True,
    ) -> None:
        self.kind, self.model = kind, model
        self.x_scaler, self.y_scaler = x_scaler, y_scaler
        self.scale_targets = scale_targets

    def fit(
        self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *, progress: Progress | None = None
    ) -> StandardizedModel:
        """Fit the scalers on the training rows, then the model on z-scores (its loop reports to ``progress``)."""
        self.x_scaler = Scaler.fit(x)
        self.y_scaler = Scaler.fit(y) if self.scale_targets else Scaler.identity(y.shape[1])
        xs, ys = self.x_scaler.forward(x), self.y_scaler.forward(y)
        self.model.fit(xs, ys, self.x_scaler.forward(x_val), self.y_scaler.forward(y_val), progress=progress)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.x_scaler is None or self.y_scaler is None:
            raise DataError("the model is not fitted")
        return self.y_scaler.inverse(self.model.predict(self.x_scaler.forward(x)))

    def checkpoint_files(self) -> dict[str, bytes]:
        """The model's files under ``model.``, the scaler arrays and the kind."""
        assert self.x_scaler is not None and self.y_scaler is not None
        buffer = io.BytesIO()
        np.savez(
            buffer,
            x_mean=self.x_scaler.mean,
            x_sd=self.x_scaler.sd,
            x_constant=self.x_scaler.constant,
            y_mean=self.y_scaler.mean,
            y_sd=self.y_scaler.sd,
            y_constant=self.y_scaler.constant,
        )
        files = {f"{MODEL_PREFIX}{name}": data for name, data in self.model.checkpoint_files().items()}
        return {**files, SCALER_FILE: buffer.getvalue(), KIND_FILE: json.dumps({"kind": self.kind}).encode()}

    @classmethod
    def from_checkpoint(cls, files: Mapping[str, bytes]) -> StandardizedModel:
        kind = json.loads(files[KIND_FILE])["kind"]
        arrays = np.load(io.BytesIO(files[SCALER_FILE]))
        own = {name[len(MODEL_PREFIX) :]: data for name, data in files.items() if name.startswith(MODEL_PREFIX)}
        model = _model_class(kind).from_checkpoint(own)
        x_scaler = Scaler(arrays["x_mean"], arrays["x_sd"], arrays["x_constant"])
        return cls(kind, model, x_scaler, Scaler(arrays["y_mean"], arrays["y_sd"], arrays["y_constant"]))
