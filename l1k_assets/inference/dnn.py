"""Seed 001's deep network for landmark inference and landmark discovery.

The seed stacks Linear → Dropout → ReLU layers and ends with a Linear to the outputs, trained
with Adam (lr 1e-2) and early stopping with patience 5. For discovering its own landmarks it
trains the network from all genes to all genes with

* a weighted squared error, mean((target + 1) · (pred − target)²), which weights expressed
  genes above silent ones (single-cell data is mostly zeros, and DeepImpute's target-weighted
  loss would ignore zero targets altogether), and
* a group-lasso penalty on the first layer, group_lasso · Σ_j ||W1[:, j]||₂, one group per
  input gene, which pushes whole input columns towards zero,

then ranks the input genes by their first-layer weights. The seed ranked by each column's
maximum and minimum weight; here the rank is the column's L2 norm, the very quantity the
penalty shrinks (``input_importance_``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from l1k_assets.errors import DataError
from l1k_assets.inference.baselines import TorchInference, feedforward
from l1k_assets.scaling import Scaler


def weighted_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Seed 001's loss: mean over entries of (target + 1) · (prediction − target)²."""
    return ((target + 1) * (prediction - target) ** 2).mean()


def group_lasso_penalty(first_weight: torch.Tensor) -> torch.Tensor:
    """Σ over input columns of the column's L2 norm (a Linear weight is outputs × inputs)."""
    return first_weight.norm(dim=0).sum()


class DNNInference(TorchInference):
    """Seed 001's DNN: ``hidden`` Linear → Dropout → ReLU layers, then a Linear to the outputs.

    With ``weighted`` the loss is the seed's (target + 1)-weighted squared error. Targets are
    expected on the seed's scale, normalised log expression, so every target is ≥ −1 and the
    weight is non-negative; a target below −1 would get a negative weight, and the loss would
    then reward errors on it, so ``fit`` refuses such targets (clipping would quietly change
    the loss) — use ``weighted=False`` for data centred or z-scored (values below −1).

    ``group_lasso`` multiplies the first-layer group penalty, which is summed over the input
    columns and so scales with the number of inputs, while the data term is a mean over
    entries and, when weighted, grows with the targets' level (weights of several units need a
    several times larger penalty than the unweighted loss): tune it per problem. Inputs may
    equal the targets (all genes → all genes) for landmark discovery; rank the inputs with
    ``input_importance_()``. ``stop_on`` is what early stopping watches: validation SCC (the
    platform's rule) or validation MSE (seed 001's, whose figures are validation MSEs).
    """

    def __init__(
        self,
        hidden: Sequence[int] = (1024, 1024),
        dropout: float = 0.1,
        group_lasso: float = 0.0,
        weighted: bool = True,
        stop_on: str = "scc",
        *,
        lr: float = 1e-2,
        lr_grid: Sequence[float] | None = None,
        validation_fraction: float = 0.1,
        weight_decay: float = 0.0,
        batch_size: int = 64,
        max_epochs: int = 100,
        patience: int = 5,
        seed: int = 0,
        device: str = "cpu",
        dtype: str = "float32",
    ) -> None:
        self.hidden = hidden
        self.dropout = dropout
        self.group_lasso = group_lasso
        self.weighted = weighted
        self.stop_on = stop_on
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
        return feedforward(n_inputs, list(self.hidden), n_outputs, self.dropout)

    def _loss(self, prediction: torch.Tensor, target: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
        data_term = weighted_mse(prediction, target) if self.weighted else torch.nn.functional.mse_loss(prediction, target)
        if self.group_lasso == 0:
            return data_term
        return data_term + self.group_lasso * group_lasso_penalty(model[0].weight)

    def _check_targets(self, y: np.ndarray, y_val: np.ndarray) -> None:
        lowest = min(float(y.min()), float(y_val.min()))
        if self.weighted and lowest < -1:
            raise DataError(
                f"the weighted loss weights each target by (target + 1), but a target is {lowest:.3g} < −1; "
                "normalise targets to ≥ −1 (log expression is ≥ 0) or set weighted=False"
            )

    def _score(self, scale: Scaler | None) -> Callable[[np.ndarray, np.ndarray], tuple[str, float]]:
        """Validation SCC (seed 002's rule), or with ``stop_on="mse"`` the negated validation MSE (seed 001's)."""
        if self.stop_on == "scc":
            return super()._score(scale)
        if self.stop_on != "mse":
            raise DataError(f"stop_on {self.stop_on!r}: expected 'scc' or 'mse'")

        def negated_mse(y_val: np.ndarray, prediction: np.ndarray) -> tuple[str, float]:
            if scale is not None:
                y_val, prediction = scale.inverse(y_val), scale.inverse(prediction)
            return "val_neg_mse", -float(np.mean((np.asarray(y_val) - np.asarray(prediction)) ** 2))

        return negated_mse

    def first_layer_weights_(self) -> np.ndarray:
        """The first layer's weights (hidden units × input columns): what seed 001 ranks genes by."""
        if not hasattr(self, "module_"):
            raise DataError("fit the DNN before asking for its first-layer weights")
        return self.module_[0].weight.detach().float().cpu().numpy().astype(np.float64)

    def input_importance_(self) -> np.ndarray:
        """Per input column, the L2 norm of its first-layer weights: how much the network uses that gene."""
        return np.linalg.norm(self.first_layer_weights_(), axis=0)
