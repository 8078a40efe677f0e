"""CSG2A (seed 003): condition-specific gene–gene attention, pretrained on L1000 and fine-tuned to GDSC.

The network predicts the perturbed profile g_c from the basal profile g0 and the compound
condition (structure S, dose, time):

    D = MLP([S, dose·W_dose, time·W_time])            (condition encoder, one value per gene)
    Q_s = g0_s ⊙ W_gene + D_s ⊙ W_comp                 (per-gene weights, G × b per sample)
    A_s = Q_s Q_sᵀ / √b + A_PPI                         (condition-specific attention plus the STRING prior)
    g_c = Linear(Dropout(ReLU(LayerNorm(A_s g0_s))))

A_s is the first layer's weight matrix in a true matrix–vector product with g0 (the public
code multiplies g0 by A's row sums instead, which discards which gene attends to which). The
product is evaluated as Q_s (Q_sᵀ g0_s)/√b + A_PPI g0_s, the same number without building the
G × G matrix, nor Q_s itself (both products factor through the per-gene weights), with A_PPI
as a sparse matrix (STRING's > 900 edges are under 1% of the gene pairs, so the dense product
was half of every forward pass); ``attention`` builds the G × G matrix for one batch when it
is to be looked at. The final linear layer is G × G as in the paper, or a rank-r product of
two (``output_rank``), which makes it about G / 2r times cheaper for CPU runs. There are no
bias terms; the layer norm (as in the public code) carries no bias either.

Fine-tuning puts a learnable scaling (g0 − μ)/σ in front of the pretrained network (frozen by
default, the paper's best setting), fixes the condition at 10 µM and 72 h, and predicts log
IC50 with an MLP head on the concatenation [scaled basal, predicted perturbed profile, D]
("joined", as the paper's Fig. 1d has it), so one hidden unit can weigh what a drug moves
against what the cell expresses. The paper's ablations are options: ``pretrained`` (weights
or random init), ``freeze``, ``use_ppi``. Both stages are scikit-learn estimators with checkpoints that load without
pickle. This module imports torch: import it lazily from asset bodies.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from l1k_assets.errors import DataError, EstimatorInputError
from l1k_assets.estimators import InferenceRegressor, check_prediction_input, check_training_data, one_target
from l1k_assets.inference.baselines import PARAMS_FILE, WEIGHTS_FILE
from l1k_assets.inference.torch_training import (
    TrainingHyperparameters,
    TrainingSettings,
    load_state,
    predict,
    state_bytes,
    torch_dtype,
)
from l1k_assets.progress import Progress
from l1k_assets.response.conditions import GDSC_DOSE_UM, GDSC_TIME_H, scale_conditions
from l1k_assets.scaling import Scaler

log = logging.getLogger("l1k.response")

N_CONDITIONS = 2  # scaled dose and time
DOSE_TIME_WIDTH = 2  # the paper expands dose and time to two dimensions each
STRING_MIN_SCORE = 900


def ppi_adjacency(edges: pd.DataFrame, genes: Sequence[str], min_score: float = STRING_MIN_SCORE) -> np.ndarray:
    """Symmetric 0/1 adjacency (genes × genes, zero diagonal) of the edges ``a``–``b`` with ``score`` > ``min_score``.

    STRING names proteins the model does not have; such edges are dropped with a logged count.
    A prior with no edge left is an error: the attention would silently run without it.
    """
    missing = {"a", "b", "score"} - set(edges.columns)
    if missing:
        raise DataError(f"PPI edges need columns a, b, score; missing {sorted(missing)}")
    position = pd.Index([str(g) for g in genes])
    strong = edges[pd.to_numeric(edges.score, errors="coerce") > min_score]
    a = position.get_indexer(strong.a.astype(str))
    b = position.get_indexer(strong.b.astype(str))
    known = (a >= 0) & (b >= 0) & (a != b)
    if (~known).any():
        log.info(
            "PPI prior: left out %d of %d edges above %g naming genes outside the model", int((~known).sum()), len(a), min_score
        )
    if not known.any():
        raise DataError(f"no PPI edge with score > {min_score} joins two of the {len(position)} model genes")
    adjacency = np.zeros((len(position), len(position)), dtype=np.float32)
    adjacency[a[known], b[known]] = 1.0
    adjacency[b[known], a[known]] = 1.0
    return adjacency


# ---------------------------------------------------------------------------------------------
# Modules


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of a CSG2A network: what a checkpoint needs to rebuild it."""

    n_genes: int
    n_structure: int
    embed_dim: int
    encoder_hidden: int
    dropout: float
    output_rank: int | None = None  # None: the paper's full genes × genes output layer
    plain: bool = False  # seed 003's plain linear model: no attention, the profile a linear map of g0 + D


class ConditionEncoder(torch.nn.Module):
    """D = MLP([S, dose·W_dose, time·W_time]): one value per gene for the compound condition."""

    def __init__(self, n_structure: int, n_genes: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.dose = torch.nn.Linear(1, DOSE_TIME_WIDTH, bias=False)
        self.time = torch.nn.Linear(1, DOSE_TIME_WIDTH, bias=False)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(n_structure + 2 * DOSE_TIME_WIDTH, hidden, bias=False),
            torch.nn.ReLU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, n_genes, bias=False),
        )

    def forward(self, structure: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        expanded = [structure, self.dose(conditions[:, :1]), self.time(conditions[:, 1:])]
        return self.mlp(torch.cat(expanded, dim=1))


class GeneGeneAttention(torch.nn.Module):
    """A_s g0_s with A_s = Q_s Q_sᵀ/√b + A_PPI and Q_s = g0_s ⊙ W_gene + D_s ⊙ W_comp (per-gene weights)."""

    def __init__(self, n_genes: int, embed_dim: int, ppi: np.ndarray | None = None) -> None:
        super().__init__()
        self.w_gene = torch.nn.Parameter(torch.randn(n_genes, embed_dim) / math.sqrt(embed_dim))
        self.w_comp = torch.nn.Parameter(torch.randn(n_genes, embed_dim) / math.sqrt(embed_dim))
        prior = torch.zeros(n_genes, n_genes) if ppi is None else torch.as_tensor(ppi, dtype=torch.float32)
        if prior.shape != (n_genes, n_genes):
            raise DataError(f"the PPI adjacency is {tuple(prior.shape)}, expected ({n_genes}, {n_genes})")
        self.register_buffer("ppi", prior)

    def queries(self, g0: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Q (batch × genes × b): each gene's expression and condition value, expanded by its own weights."""
        return g0.unsqueeze(-1) * self.w_gene + d.unsqueeze(-1) * self.w_comp

    def attention(self, g0: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """The batch's attention matrices A (batch × genes × genes), the first layer's weights."""
        q = self.queries(g0, d)
        return q @ q.transpose(1, 2) / math.sqrt(q.shape[-1]) + self.ppi

    def _sparse_prior(self) -> torch.Tensor | None:
        """A_PPI as a sparse matrix (None without edges), rebuilt only when the buffer changed (moved, zeroed)."""
        key = (self.ppi.data_ptr(), self.ppi._version, self.ppi.dtype, self.ppi.device)
        if getattr(self, "_sparse_key", None) != key:
            self._sparse = self.ppi.to_sparse() if bool(self.ppi.any()) else None
            self._sparse_key = key
        return self._sparse

    def forward(self, g0: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        # Q_s (Q_sᵀ g0_s) without the batch × genes × b tensor Q: with Q = g0 ⊙ W_gene + D ⊙ W_comp row-wise,
        # v = Qᵀ g0 = (g0 ⊙ g0) W_gene + (D ⊙ g0) W_comp, and Q v = g0 ⊙ (v W_geneᵀ) + D ⊙ (v W_compᵀ): four matmuls
        v = (g0 * g0) @ self.w_gene + (d * g0) @ self.w_comp
        attended = (g0 * (v @ self.w_gene.T) + d * (v @ self.w_comp.T)) / math.sqrt(self.w_gene.shape[1])
        prior = self._sparse_prior()
        return attended if prior is None else attended + (prior @ g0.T).T  # A_PPI is symmetric


def output_layer(n_genes: int, rank: int | None) -> torch.nn.Module:
    """The final genes → genes linear map: full (the paper's), or rank ``rank`` (genes → rank → genes)."""
    if rank is None:
        return torch.nn.Linear(n_genes, n_genes, bias=False)
    if not 0 < rank < n_genes:
        raise DataError(f"output_rank must be between 1 and {n_genes - 1} (or None for a full layer), not {rank}")
    return torch.nn.Sequential(torch.nn.Linear(n_genes, rank, bias=False), torch.nn.Linear(rank, n_genes, bias=False))


class CSG2ANetwork(torch.nn.Module):
    """Condition encoder, gene–gene attention as first-layer weights, LayerNorm, ReLU, dropout, linear.

    With ``config.plain`` it is seed 003's plain linear model (§4.2, Supplementary Table S3):
    no attention, "just adds the chemical condition representation and the basal gene
    expression", so the profile is the output layer applied to g0 + D; ``attention`` is None.
    """

    def __init__(self, config: NetworkConfig, ppi: np.ndarray | None = None) -> None:
        super().__init__()
        self.config = config
        self.encoder = ConditionEncoder(config.n_structure, config.n_genes, config.encoder_hidden, config.dropout)
        if config.plain:
            if ppi is not None:
                raise DataError("the plain linear model has no attention for a PPI prior to enter")
            self.attention = None
            self.feed_forward = output_layer(config.n_genes, config.output_rank)
            return
        self.attention = GeneGeneAttention(config.n_genes, config.embed_dim, ppi)
        self.feed_forward = torch.nn.Sequential(
            torch.nn.LayerNorm(config.n_genes, bias=False),
            torch.nn.ReLU(),
            torch.nn.Dropout(config.dropout),
            output_layer(config.n_genes, config.output_rank),
        )

    def forward(self, g0: torch.Tensor, structure: torch.Tensor, conditions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(predicted perturbed profile, condition vector D)."""
        d = self.encoder(structure, conditions)
        first = g0 + d if self.attention is None else self.attention(g0, d)
        return self.feed_forward(first), d

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A packed input row [g0 | S | scaled dose, time] as its three parts."""
        g = self.config.n_genes
        return x[:, :g], x[:, g:-N_CONDITIONS], x[:, -N_CONDITIONS:]


class _Pretraining(torch.nn.Module):
    """The network on packed rows, returning the perturbed profile only (what pretraining fits)."""

    def __init__(self, network: CSG2ANetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(*self.network.split(x))[0]


class _FineTuning(torch.nn.Module):
    """Scaling layer → CSG2A network at a fixed condition → log IC50 from [basal, predicted profile, D]."""

    def __init__(self, network: CSG2ANetwork, head_hidden: Sequence[int], dropout: float, condition: np.ndarray) -> None:
        super().__init__()
        self.network = network
        self.mu = torch.nn.Parameter(torch.zeros(1))
        self.log_sigma = torch.nn.Parameter(torch.zeros(1))  # σ = exp(log σ) stays positive
        widths = [3 * network.config.n_genes, *head_hidden]
        layers: list[torch.nn.Module] = []
        for i, (width_in, width_out) in enumerate(itertools.pairwise(widths)):
            layers += [torch.nn.Linear(width_in, width_out, bias=False), torch.nn.ReLU()]
            if i == 0:
                layers.append(torch.nn.Dropout(dropout))  # after the first, widest layer only
        self.head = torch.nn.Sequential(*layers, torch.nn.Linear(widths[-1], 1, bias=False))
        self.register_buffer("condition", torch.as_tensor(condition, dtype=torch.float32).reshape(1, N_CONDITIONS))

    def scaled(self, g0: torch.Tensor) -> torch.Tensor:
        return (g0 - self.mu) * torch.exp(-self.log_sigma)

    def network_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g = self.network.config.n_genes
        return self.scaled(x[:, :g]), x[:, g:], self.condition.expand(len(x), N_CONDITIONS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled, structure, conditions = self.network_inputs(x)
        profile, d = self.network(scaled, structure, conditions)
        return self.head(torch.cat([scaled, profile, d], dim=1))


# ---------------------------------------------------------------------------------------------
# Training


def fit_module(
    module: torch.nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: TrainingSettings,
    frozen: torch.nn.Module | None = None,
    progress: Progress | None = None,
) -> tuple[list[dict[str, float]], int, bool]:
    """Adam on mini-batches with MSE; early stopping on validation MSE; ends with the best epoch's weights.

    The project loop (``torch_training.train``) stops on the across-gene SCC of profiles,
    which a single log-IC50 target does not have, and trains every parameter; this one
    scores validation MSE, the paper's loss, and leaves ``frozen`` untouched: its parameters
    get no gradient and it stays in evaluation mode (no dropout noise in frozen features).
    Every epoch is reported to ``progress``, and training also stops once its wall-clock
    budget is spent (after at least one epoch, so there is a model). Returns the per-epoch
    history, the best epoch and whether the budget stopped it.
    """
    torch.manual_seed(settings.seed)
    device, dtype = torch.device(settings.device), torch_dtype(settings.dtype)
    module.to(device=device, dtype=dtype)
    if frozen is not None:
        frozen.requires_grad_(False)
    xt, yt = (torch.as_tensor(a, dtype=dtype, device=device) for a in (x, y))
    trainable = [p for p in module.parameters() if p.requires_grad]
    # foreach: one fused update per step instead of a Python loop over parameters (a third of a step on CPU)
    optimizer = torch.optim.Adam(trainable, lr=settings.lr, weight_decay=settings.weight_decay, foreach=True)
    generator = torch.Generator().manual_seed(settings.seed)
    history: list[dict[str, float]] = []
    best_mse, best_epoch, best_state, stale = math.inf, -1, None, 0
    stopped_by_budget = False
    for epoch in range(settings.max_epochs):
        module.train()
        if frozen is not None:
            frozen.eval()
        total = 0.0
        for batch in torch.randperm(len(xt), generator=generator).split(settings.batch_size):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(module(xt[batch.to(device)]), yt[batch.to(device)])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        val_mse = float(np.mean((predict(module, x_val, settings) - y_val) ** 2))
        history.append({"epoch": epoch, "train_mse": total / len(xt), "val_mse": val_mse})
        if progress is not None:
            progress.update(epoch + 1, train_mse=total / len(xt), val_mse=val_mse)
        if val_mse < best_mse - 1e-9:
            best_mse, best_epoch, best_state, stale = val_mse, epoch, copy.deepcopy(module.state_dict()), 0
        else:
            stale += 1
            if stale >= settings.patience:
                break
        if progress is not None and progress.exhausted() and epoch + 1 < settings.max_epochs:
            progress.stop_for_budget()
            stopped_by_budget = True
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    return history, best_epoch, stopped_by_budget


# ---------------------------------------------------------------------------------------------
# Estimators


class _CSG2AEstimator(InferenceRegressor, TrainingHyperparameters):
    """Optimisation settings, checkpoint layout and training bookkeeping shared by both stages.

    A checkpoint is ``params.json`` (constructor parameters that are plain values, the network
    shape and fitted statistics) and ``weights.pt`` (a state dict, loaded with weights_only).
    Fitted without ``x_val``/``y_val`` (``clone``, ``cross_val_score``), both stages stop early
    on a seeded ``validation_fraction`` of the training rows.
    """

    NOT_JSON_PARAMS: tuple[str, ...] = ()
    CONDITION_COLUMNS = 0  # dose and time columns at the end of x (the pretraining stage has them)

    def _train(
        self,
        module: torch.nn.Module,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray,
        y_val: np.ndarray,
        frozen: torch.nn.Module | None = None,
        progress: Progress | None = None,
    ) -> None:
        started = time.perf_counter()
        self.history_, self.best_epoch_, self.stopped_by_budget_ = fit_module(
            module, x, y, x_val, y_val, self.settings(), frozen, progress
        )
        self.training_seconds_ = time.perf_counter() - started
        log.info("trained %s: best epoch %d of %d", type(self).__name__, self.best_epoch_, len(self.history_))

    def _checkpoint(self, module: torch.nn.Module, fitted: Mapping[str, Any]) -> dict[str, bytes]:
        params = {k: v for k, v in self.get_params().items() if k not in self.NOT_JSON_PARAMS}
        info = {
            "history": self.history_,
            "best_epoch": self.best_epoch_,
            "training_seconds": self.training_seconds_,
            "stopped_by_budget": self.stopped_by_budget_,
        }
        info["single_output"] = self.single_output_
        payload = {"class": type(self).__name__, "params": params, "fitted": {**fitted, **info}}
        return {PARAMS_FILE: json.dumps(payload).encode(), WEIGHTS_FILE: state_bytes(module)}

    @classmethod
    def _read_checkpoint(cls, files: Mapping[str, bytes]) -> tuple[dict[str, Any], dict[str, Any]]:
        missing = {PARAMS_FILE, WEIGHTS_FILE} - set(files)
        if missing:
            raise DataError(f"the checkpoint lacks {sorted(missing)} (has {sorted(files)})")
        payload = json.loads(files[PARAMS_FILE])
        if payload.get("class") != cls.__name__:
            raise DataError(f"this checkpoint holds a {payload.get('class')!r}, not a {cls.__name__!r}")
        return payload["params"], payload["fitted"]

    def _restore_info(self, fitted: Mapping[str, Any]) -> None:
        self.history_, self.best_epoch_, self.training_seconds_ = (
            fitted["history"],
            fitted["best_epoch"],
            fitted["training_seconds"],
        )
        self.stopped_by_budget_ = bool(fitted.get("stopped_by_budget", False))  # older checkpoints did not record it
        config = NetworkConfig(**fitted["config"])
        n_inputs = config.n_genes + config.n_structure + self.CONDITION_COLUMNS
        self._set_shapes(n_inputs, fitted.get("single_output", self.CONDITION_COLUMNS == 0))  # older: the regressor's 1-D

    def _place(self, module: torch.nn.Module) -> torch.nn.Module:
        return module.to(device=torch.device(self.device), dtype=torch_dtype(self.dtype))


class CSG2APretrainer(_CSG2AEstimator):
    """The L1000 stage: basal profile + compound condition → perturbed profile, MSE with early stopping.

    ``fit(x, y, x_val, y_val, ppi=None)`` with x = [g0 (G columns) | structure features |
    dose / 100 µM, time / 72 h] (``pretraining.pretraining_arrays`` builds it) and y the
    perturbed profiles (G columns), and ``ppi`` an optional G × G prior (``ppi_adjacency``).
    Profiles are standardised per gene with the training basal mean and sd (``l1k_assets.scaling``:
    a gene constant in the training basal profiles reaches the network as 0), so the network sees
    the unit scale GDSC's robust z-scores also have; ``predict`` returns profiles on the input scale.
    """

    CONDITION_COLUMNS = N_CONDITIONS

    def __init__(
        self,
        embed_dim: int = 16,
        encoder_hidden: int = 128,
        dropout: float = 0.1,
        output_rank: int | None = None,
        plain: bool = False,
        *,
        lr: float = 1e-3,
        validation_fraction: float = 0.1,
        weight_decay: float = 1e-6,
        batch_size: int = 64,
        max_epochs: int = 100,
        patience: int = 10,
        seed: int = 0,
        device: str = "cpu",
        dtype: str = "float32",
    ) -> None:
        self.embed_dim = embed_dim
        self.encoder_hidden = encoder_hidden
        self.dropout = dropout
        self.output_rank = output_rank
        self.plain = plain
        self.validation_fraction = validation_fraction
        super().__init__(
            lr=lr,
            weight_decay=weight_decay,
            batch_size=batch_size,
            max_epochs=max_epochs,
            patience=patience,
            seed=seed,
            device=device,
            dtype=dtype,
        )

    def fit(
        self,
        x: Any,
        y: Any,
        x_val: Any = None,
        y_val: Any = None,
        *,
        ppi: np.ndarray | None = None,
        progress: Progress | None = None,
    ) -> Self:
        shape = y
        x, y, x_val, y_val = check_training_data(
            x, y, x_val, y_val, need_validation=True, validation_fraction=self.validation_fraction, seed=self.seed
        )
        n_genes = y.shape[1]
        if x.shape[1] <= n_genes + N_CONDITIONS:
            raise EstimatorInputError(
                f"x has n_features={x.shape[1]}: expected {n_genes} basal genes (one per target of y), "
                "then structure features, dose and time"
            )
        self._remember_shapes(x, shape)
        self.scaler_ = Scaler.fit(x[:, :n_genes])
        n_structure = x.shape[1] - n_genes - N_CONDITIONS
        self.config_ = NetworkConfig(
            n_genes, n_structure, self.embed_dim, self.encoder_hidden, self.dropout, self.output_rank, self.plain
        )
        torch.manual_seed(self.seed)
        self.module_ = _Pretraining(CSG2ANetwork(self.config_, ppi))
        unit = self._standardise(x), self._to_unit(y), self._standardise(x_val), self._to_unit(y_val)
        self._train(self.module_, *unit, progress=progress)
        return self

    def _to_unit(self, profiles: np.ndarray) -> np.ndarray:
        return self.scaler_.forward(profiles)

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        g = self.config_.n_genes
        return np.hstack([self._to_unit(x[:, :g]), x[:, g:]])

    def predict(self, x: Any) -> np.ndarray:
        """Predicted perturbed profiles (samples × genes) on the scale of the training profiles."""
        check_is_fitted(self, "module_")
        x = check_prediction_input(x, self.config_.n_genes + self.config_.n_structure + N_CONDITIONS, type(self).__name__)
        return self._shaped(self.scaler_.inverse(predict(self.module_, self._standardise(x), self.settings())))

    @property
    def network_(self) -> CSG2ANetwork:
        """The trained network, what fine-tuning transfers."""
        check_is_fitted(self, "module_")
        return self.module_.network

    def checkpoint_files(self) -> dict[str, bytes]:
        check_is_fitted(self, "module_")
        scaler = self.scaler_
        fitted = {
            "config": asdict(self.config_),
            "center": scaler.mean.tolist(),
            "scale": scaler.sd.tolist(),
            "constant": scaler.constant.tolist(),
        }
        return self._checkpoint(self.module_, fitted)

    @classmethod
    def from_checkpoint(cls, files: Mapping[str, bytes]) -> CSG2APretrainer:
        params, fitted = cls._read_checkpoint(files)
        estimator = cls(**params)
        estimator.config_ = NetworkConfig(**fitted["config"])
        estimator.scaler_ = Scaler(np.asarray(fitted["center"]), np.asarray(fitted["scale"]), np.asarray(fitted["constant"]))
        estimator.module_ = estimator._place(load_state(_Pretraining(CSG2ANetwork(estimator.config_)), files[WEIGHTS_FILE]))
        estimator._restore_info(fitted)
        return estimator


class CSG2ARegressor(_CSG2AEstimator):
    """The GDSC stage: log IC50 from basal expression (robust z) and compound structure.

    ``fit(x, y, x_val, y_val, ppi=None)`` with x = [g0 (G columns) | structure features] and
    y the log IC50 values; the condition is fixed at ``dose_um`` and ``time_h`` (10 µM, 72 h).
    ``pretrained`` is a ``CSG2APretrainer`` checkpoint (its ``checkpoint_files()``) or None
    for a randomly initialised network of shape ``n_genes`` × (``embed_dim``, ``encoder_hidden``, ``output_rank``);
    ``freeze`` keeps the network's weights fixed so only the scaling layer and the heads learn;
    ``use_ppi`` keeps the network's STRING prior (the pretrained one, or ``ppi`` given to fit
    when not pretrained) or zeroes it. Targets are centred and scaled for training.
    """

    NOT_JSON_PARAMS = ("pretrained",)

    def __init__(
        self,
        pretrained: Mapping[str, bytes] | None = None,
        freeze: bool = True,
        use_ppi: bool = True,
        n_genes: int | None = None,
        embed_dim: int = 16,
        encoder_hidden: int = 128,
        head_hidden: Sequence[int] = (64, 64),
        dropout: float = 0.1,
        output_rank: int | None = None,
        dose_um: float = GDSC_DOSE_UM,
        time_h: float = GDSC_TIME_H,
        *,
        lr: float = 1e-3,
        validation_fraction: float = 0.1,
        weight_decay: float = 1e-6,
        batch_size: int = 64,
        max_epochs: int = 100,
        patience: int = 10,
        seed: int = 0,
        device: str = "cpu",
        dtype: str = "float32",
    ) -> None:
        self.pretrained = pretrained
        self.freeze = freeze
        self.use_ppi = use_ppi
        self.n_genes = n_genes
        self.embed_dim = embed_dim
        self.encoder_hidden = encoder_hidden
        self.head_hidden = head_hidden
        self.dropout = dropout
        self.output_rank = output_rank
        self.dose_um = dose_um
        self.time_h = time_h
        self.validation_fraction = validation_fraction
        super().__init__(
            lr=lr,
            weight_decay=weight_decay,
            batch_size=batch_size,
            max_epochs=max_epochs,
            patience=patience,
            seed=seed,
            device=device,
            dtype=dtype,
        )

    def _network(self, n_columns: int, ppi: np.ndarray | None) -> CSG2ANetwork:
        """The pretrained network (checked against the data's columns) or a fresh one, with the prior as configured."""
        if self.pretrained is not None:
            if ppi is not None:
                raise DataError("a pretrained network carries its own PPI prior; give ppi only without pretraining")
            network = copy.deepcopy(CSG2APretrainer.from_checkpoint(self.pretrained).network_).float().cpu()
            if self.use_ppi and (network.attention is None or not bool(network.attention.ppi.any())):
                raise DataError("use_ppi=True but the pretrained network was trained without a PPI prior")
        else:
            if self.n_genes is None:
                raise DataError("without a pretrained network, n_genes must say how many of x's columns are genes")
            if self.use_ppi and ppi is None:
                raise DataError("use_ppi=True without a pretrained network needs a ppi adjacency in fit")
            if n_columns <= self.n_genes:
                raise EstimatorInputError(
                    f"x has n_features={n_columns}: expected the n_genes={self.n_genes} expression columns, "
                    "then structure features"
                )
            config = NetworkConfig(
                self.n_genes, n_columns - self.n_genes, self.embed_dim, self.encoder_hidden, self.dropout, self.output_rank
            )
            network = CSG2ANetwork(config, ppi)
        config = network.config
        if n_columns != config.n_genes + config.n_structure:
            raise EstimatorInputError(
                f"x has {n_columns} columns but the network takes "
                f"{config.n_genes} genes + {config.n_structure} structure features"
            )
        if not self.use_ppi and network.attention is not None:
            network.attention.ppi.zero_()
        return network

    def fit(
        self,
        x: Any,
        y: Any,
        x_val: Any = None,
        y_val: Any = None,
        *,
        ppi: np.ndarray | None = None,
        progress: Progress | None = None,
    ) -> Self:
        owner = type(self).__name__
        y, y_val = one_target(y, owner), None if y_val is None else one_target(y_val, owner)
        x, y2, x_val, y2_val = check_training_data(
            x, y, x_val, y_val, need_validation=True, validation_fraction=self.validation_fraction, seed=self.seed
        )
        self._remember_shapes(x, y)
        torch.manual_seed(self.seed)
        network = self._network(x.shape[1], ppi)
        self.target_mean_, sd = float(y2.mean()), float(y2.std())
        self.target_scale_ = sd if sd > 0 else 1.0
        condition = scale_conditions(self.dose_um, self.time_h)
        self.module_ = _FineTuning(network, self.head_hidden, self.dropout, condition)
        frozen = network if self.freeze else None
        self._train(self.module_, x, self._to_unit(y2), x_val, self._to_unit(y2_val), frozen, progress)
        return self

    def _to_unit(self, y: np.ndarray) -> np.ndarray:
        return (y - self.target_mean_) / self.target_scale_

    def _inputs(self, x: Any) -> np.ndarray:
        check_is_fitted(self, "module_")
        config = self.module_.network.config
        return check_prediction_input(x, config.n_genes + config.n_structure, type(self).__name__)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = False  # one log IC50 per row
        return tags

    def predict(self, x: Any) -> np.ndarray:
        """Predicted log IC50, one per row."""
        x = self._inputs(x)  # checks it is fitted first
        return predict(self.module_, x, self.settings()).ravel() * self.target_scale_ + self.target_mean_

    @torch.no_grad()
    def mean_attention(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """The genes × genes attention averaged over the rows of ``x`` (e.g. every cell line given one drug).

        The paper's per-drug attention map, without forming any row's G × G matrix: with
        Q_s = g_s ⊙ W_gene + d_s ⊙ W_comp, (Q_s Q_sᵀ)_ij = Σ_k (g_i W_g,ik + d_i W_c,ik)(g_j W_g,jk + d_j W_c,jk),
        so Σ_s Q_s Q_sᵀ = (W_g W_gᵀ) ⊙ GᵀG + (W_g W_cᵀ) ⊙ GᵀD + (W_c W_gᵀ) ⊙ DᵀG + (W_c W_cᵀ) ⊙ DᵀD,
        with G and D the rows' scaled basal profiles and condition vectors: five G × G products
        (in float64) instead of a batch × G × G tensor per batch. A test checks it against the
        mean of :meth:`GeneGeneAttention.attention`.
        """
        x = self._inputs(x)
        if not len(x):
            raise DataError("mean_attention needs at least one row")
        attention = self.module_.network.attention
        if attention is None:
            raise DataError("the plain linear model has no attention to average")
        self.module_.eval()
        device, dtype = torch.device(self.device), torch_dtype(self.dtype)
        n = attention.w_gene.shape[0]
        gg, gd, dd = (torch.zeros(n, n, dtype=torch.float64, device=device) for _ in range(3))
        for start in range(0, len(x), batch_size):
            scaled, structure, conditions = self.module_.network_inputs(
                torch.as_tensor(x[start : start + batch_size], dtype=dtype, device=device)
            )
            g = scaled.double()
            d = self.module_.network.encoder(structure, conditions).double()
            gg += g.T @ g
            gd += g.T @ d
            dd += d.T @ d
        w_g, w_c = attention.w_gene.double(), attention.w_comp.double()
        total = (w_g @ w_g.T) * gg + (w_g @ w_c.T) * gd + (w_c @ w_g.T) * gd.T + (w_c @ w_c.T) * dd
        mean = total / (len(x) * math.sqrt(w_g.shape[1])) + attention.ppi.double()
        return mean.cpu().numpy()

    @torch.no_grad()
    def perturbed_profiles(self, x: Any, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """(scaled basal profiles, predicted perturbed profiles) of the rows of ``x`` at the fine-tuning condition.

        What the network, pretrained on L1000, expects the drug to do to each cell line's
        expression: seed 003 compares these between sensitive and resistant lines.
        """
        x = self._inputs(x)
        self.module_.eval()
        device, dtype = torch.device(self.device), torch_dtype(self.dtype)
        basal, perturbed = [], []
        for start in range(0, len(x), batch_size):
            scaled, structure, conditions = self.module_.network_inputs(
                torch.as_tensor(x[start : start + batch_size], dtype=dtype, device=device)
            )
            basal.append(scaled.float().cpu().numpy())
            perturbed.append(self.module_.network(scaled, structure, conditions)[0].float().cpu().numpy())
        return np.concatenate(basal).astype(np.float64), np.concatenate(perturbed).astype(np.float64)

    def checkpoint_files(self) -> dict[str, bytes]:
        check_is_fitted(self, "module_")
        fitted = {
            "config": asdict(self.module_.network.config),
            "target_mean": self.target_mean_,
            "target_scale": self.target_scale_,
        }
        return self._checkpoint(self.module_, fitted)

    @classmethod
    def from_checkpoint(cls, files: Mapping[str, bytes]) -> CSG2ARegressor:
        """The fitted regressor; ``pretrained`` comes back as None because its weights are in this checkpoint."""
        params, fitted = cls._read_checkpoint(files)
        estimator = cls(**params)
        network = CSG2ANetwork(NetworkConfig(**fitted["config"]))
        condition = scale_conditions(estimator.dose_um, estimator.time_h)
        module = _FineTuning(network, estimator.head_hidden, estimator.dropout, condition)
        estimator.module_ = estimator._place(load_state(module, files[WEIGHTS_FILE]))
        estimator.target_mean_, estimator.target_scale_ = fitted["target_mean"], fitted["target_scale"]
        estimator._restore_info(fitted)
        return estimator
