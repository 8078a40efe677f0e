"""Training one inference model, or a landmark selection, from the aligned pairs: the protocol, without Dagster.

``train_inference_model`` fits one model kind (lr | knn | mlp | gnn | dnn) on the training
split, picks its learning rate by validation SCC where it has a grid, and scores it on the
test split with seed 002's metrics; ``select_landmarks`` runs one selector and retrains a
model on the chosen landmarks. Both take ``InferenceSettings`` (the demo defaults; a run
profile swaps in the sourced ``PAPER_SOURCES`` values) and a ``TorchSetup`` (device, dtype, seed, threads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from l1k_assets import plots
from l1k_assets.errors import DataError
from l1k_assets.inference.benchmark import benchmark_table, constant_model_row, evaluate
from l1k_assets.inference.data import InferenceData, inference_arrays
from l1k_assets.inference.metrics import sample_scc
from l1k_assets.inference.models import StandardizedModel, make_model
from l1k_assets.landmarks import LandmarkCoverage, landmark_coverage
from l1k_assets.model_record import ModelRecord
from l1k_assets.paper_sources import NO_BUDGET, SEED_001_DNN_WIDTHS, Sourced
from l1k_assets.progress import Progress
from l1k_assets.torch_setup import TorchSetup

if TYPE_CHECKING:
    from l1k_assets.inference.selection import Selection


class InferenceSettings(BaseModel):
    """Hyperparameters of the inference models: the defaults are the ``demo`` profile, ``paper`` the seeds'.

    Demo trains each torch model with one learning rate, narrower layers (and the GNN with
    small batches) and a wall-clock budget per training, so the five models and four landmark
    selections fit a few minutes on two CPU cores; ``paper`` is seed 002 (learning rate from
    {1e-3, 5e-4, 1e-4}, GNN d = 64 with 4 layers, the MLP as wide as its output, patience 10,
    no budget) and seed 001's DNN (two 1,024-unit layers, lr 1e-2, patience 5).
    """

    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {
        "lr_grid": Sourced([1e-3, 5e-4, 1e-4], "seed 002 Methods, GNN and MLP: 'selected from the set {1e-3, 5e-4, 1e-4}'"),
        "max_epochs": Sourced(200, "l1k's cap: seed 002 is silent; early stopping on validation SCC ends training"),
        "patience": Sourced(10, "l1k's choice: seed 002 early-stops on validation SCC without a patience"),
        "gnn_hidden": Sourced(64, "seed 002 Methods, GNN: 'a four-layered GNN with a hidden dimension d of 64'"),
        "gnn_layers": Sourced(4, "seed 002 Methods, GNN: 'a four-layered GNN'"),
        "gnn_batch_size": Sourced(None, "l1k: seed 002 is silent; the GNN uses batch_size like the other models"),
        "gnn_readout": Sourced(
            "shared",
            "seed 002 Methods, GNN: 'followed by a fully connected regressor'; its 56,284,193 parameters hold one 64 → 1 "
            "regressor for all nodes",
        ),
        "mlp_hidden": Sourced(None, "seed 002 Methods, MLP: 'each of the following layers has a dimension of 12 320'"),
        "knn_grid": Sourced([3, 5, 7, 9], "seed 002 Methods, KNN: 'We tested values of k at 3, 5, 7, and 9'"),
        "knn_scale_inputs": Sourced(
            False, "seed 002 Methods, KNN: distances between 'the L1000 values of the 970 landmark transcripts'"
        ),
        "select_on": Sourced(
            "original", "seed 002 Methods: 'early stopping based on validation SCC' of the RNA-seq values themselves"
        ),
        "dnn_hidden": SEED_001_DNN_WIDTHS,
        "dnn_lr": Sourced(1e-2, "seed 001 §2.2.2: 'an Adam optimizer with a learning rate of 1e^{-2}'"),
        "dnn_patience": Sourced(5, "seed 001 §2.2.2: 'early stopping, with a patience of 5'"),
        "time_budget_seconds": NO_BUDGET,
    }

    lr_grid: list[float] = Field(
        default_factory=lambda: [1e-3], description="MLP and GNN learning rates; seed 002: [1e-3, 5e-4, 1e-4]"
    )
    max_epochs: int = 60
    patience: int = 5
    batch_size: int = 64
    gnn_hidden: int = Field(4, description="GNN state width d; seed 002: 64")
    gnn_batch_size: int | None = Field(
        16,
        ge=1,
        description="GNN mini-batch; none = batch_size. On a CPU its step costs little more than Adam's update of the "
        "per-gene weights, so small batches buy several times more updates per second",
    )
    gnn_layers: int = Field(2, description="seed 002: 4 (two reach a gene's neighbours' neighbours)")
    gnn_readout: str = Field("per_node", description="per_node (a regressor per gene) or shared (seed 002: one for all)")
    mlp_hidden: int | None = Field(512, description="MLP hidden width; none = as wide as the output (seed 002)")
    dnn_hidden: list[int] = Field(default_factory=lambda: [512, 512], description="seed 001: [1024, 1024]")
    dnn_lr: float = Field(1e-3, description="seed 001: 1e-2")
    dnn_patience: int = Field(5, description="seed 001: 5")
    knn_grid: list[int] = Field(default_factory=lambda: [3, 5, 7, 9])
    knn_scale_inputs: bool = Field(True, description="KNN distances on z-scored landmarks (seed 002: on the values)")
    tissue_feature: bool = Field(False, description="append the sample's one-hot tissue (GTEx SMTS) to the inputs")
    select_on: str = Field(
        "z", description="validation SCC for epochs, rates and k on z-scores (z) or the original log scale (seed 002)"
    )
    time_budget_seconds: float | None = Field(
        25.0, description="wall-clock seconds per torch training (all its learning rates together); none = no budget"
    )
    gnn_budget_share: float = Field(
        4.0, description="the GNN's training budget as a multiple of time_budget_seconds (it costs most per epoch)"
    )


def model_params(kind: str, settings: InferenceSettings, setup: TorchSetup) -> dict:
    """Constructor arguments of one model kind; torch models get the setup's device, dtype and seed."""
    torch_common = {
        **setup.torch_options(),
        "max_epochs": settings.max_epochs,
        "patience": settings.patience,
        "batch_size": settings.batch_size,
    }
    gnn = {
        "hidden": settings.gnn_hidden,
        "layers": settings.gnn_layers,
        "readout": settings.gnn_readout,
        "lr_grid": tuple(settings.lr_grid),
        "batch_size": settings.batch_size if settings.gnn_batch_size is None else settings.gnn_batch_size,
    }
    return {
        "lr": {},
        "knn": {"k_grid": tuple(settings.knn_grid)},
        "mlp": {**torch_common, "hidden": settings.mlp_hidden, "lr_grid": tuple(settings.lr_grid)},
        "gnn": {**torch_common, **gnn},
        # Targets are z-scored here, so below −1 for many genes: seed 001's (target + 1) weighting
        # would turn negative, and the DNN refuses it; the plain squared error is used instead.
        "dnn": {
            **torch_common,
            "hidden": tuple(settings.dnn_hidden),
            "lr": settings.dnn_lr,
            "patience": settings.dnn_patience,
            "weighted": False,
        },
    }[kind]


def tissue_categories(data: InferenceData, settings: InferenceSettings) -> list[str]:
    """The one-hot tissue columns a model gets (none unless ``tissue_feature``); labels are inputs, not targets."""
    if not settings.tissue_feature:
        return []
    if data.tissue is None:
        raise DataError("tissue_feature is set but the paired table has no tissue column")
    return sorted({str(t) for values in data.tissue.values() for t in values})


def model_inputs(data: InferenceData, categories: list[str]) -> InferenceData:
    """The data a model sees: the landmarks, then the tissue one-hot block when it has tissue categories."""
    return data.with_tissue_covariates(categories) if categories else data


def graph_on_positions(graph: pd.DataFrame) -> pd.DataFrame:
    """The gene graph's edges by target position (what the GNN reads), without the gene-id columns."""
    return graph[["src", "dst", "kind"] + [c for c in ("cosine",) if c in graph.columns]]


def fit_model(
    kind: str,
    data: InferenceData,
    settings: InferenceSettings,
    setup: TorchSetup,
    graph: pd.DataFrame | None,
    progress: Progress,
) -> tuple[StandardizedModel, InferenceData, list[str]]:
    """Fit one model kind on z-scored data (the MLP and GNN pick their learning rate by validation SCC).

    Epochs (or the KNN grid) report to a child of ``progress`` bounded by the per-training
    budget of ``settings``. Returns the model, the inputs it was fitted on and its tissue categories.
    """
    setup.configure()
    categories = tissue_categories(data, settings)
    data = model_inputs(data, categories)
    params = model_params(kind, settings, setup) | ({"n_covariates": len(categories)} if kind == "gnn" else {})
    estimator = make_model(kind, params, graph, len(data.target_ids), data.landmark_positions)
    scale_inputs = settings.knn_scale_inputs or kind != "knn"
    model = StandardizedModel(kind, estimator, select_on=settings.select_on, scale_inputs=scale_inputs)
    share = settings.gnn_budget_share if kind == "gnn" else 1.0
    budget = None if settings.time_budget_seconds is None else share * settings.time_budget_seconds
    training = progress.child(kind, params.get("max_epochs"), budget)
    x, y = data.x, data.y
    return model.fit(x["train"], y["train"], x["validation"], y["validation"], progress=training), data, categories


def training_record(model: StandardizedModel) -> dict[str, Any]:
    """What an asset page, MLflow and the benchmark row say of a fit: seconds, epochs, budget stop, LR conditioning."""
    fitted = model.model_
    record: dict[str, Any] = {
        "training_seconds": float(getattr(fitted, "training_seconds_", 0.0)),
        "epochs": len(getattr(fitted, "history_", [])),
        "stopped_by_budget": bool(getattr(fitted, "stopped_by_budget_", False)),
    }
    if hasattr(fitted, "condition_number_"):
        record["condition_number"] = float(fitted.condition_number_)
    return record


def constant_columns(model: StandardizedModel, data: InferenceData, categories: list[str]) -> dict[str, list[str]]:
    """The inputs (landmarks, tissue columns) and targets constant in training, by id, for the asset page."""
    inputs = [*data.landmark_ids, *(f"tissue={c}" for c in categories)]
    return {
        "constant_inputs": [i for i, c in zip(inputs, model.x_scaler_.constant, strict=True) if c],
        "constant_targets": [t for t, c in zip(data.target_ids, model.y_scaler_.constant, strict=True) if c],
    }


@dataclass
class InferenceRun:
    """One trained inference model with the data it saw, its test row and what the page says of its inputs."""

    kind: str
    model: StandardizedModel
    data: InferenceData
    categories: list[str]
    coverage: LandmarkCoverage
    row: dict[str, Any]

    def record(self) -> ModelRecord:
        """The model's files as the checkpoint with its gene ids and tissue categories; the row as metrics."""
        history = pd.DataFrame(getattr(self.model.model_, "history_", []))
        constant = constant_columns(self.model, self.data, self.categories)
        warnings = []
        if constant["constant_inputs"]:
            warnings.append(
                f"{len(constant['constant_inputs'])} inputs are constant in the training samples and are scaled by the "
                f"typical sd instead of their own: {constant['constant_inputs'][:20]}"
            )
        numbers = {k: float(v) for k, v in self.row.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        return ModelRecord(
            output=pd.DataFrame([self.row]),
            files=self.model.checkpoint_files(),
            metrics=numbers,
            manifest={
                "landmark_ids": self.data.landmark_ids,
                "target_ids": self.data.target_ids,
                "kind": self.kind,
                "tissue_categories": self.categories,
            },
            facts={**constant, **self.coverage.describe()},
            plots={"training_curves": plots.training_curves(history, self.kind)} if len(history) else {},
            curves=[{"step": r.pop("epoch"), **r} for r in history.to_dict("records")],
            stopped_by_budget=bool(self.row["stopped_by_budget"]),
            warnings=warnings,
        )


def train_inference_model(
    kind: str,
    pairs: pd.DataFrame,
    split: pd.DataFrame,
    gene_graph: pd.DataFrame,
    landmarks: list[str],
    settings: InferenceSettings,
    setup: TorchSetup,
    progress: Progress,
) -> InferenceRun:
    """Fit ``kind`` on the training split of ``pairs`` (the GNN on ``gene_graph``) and score it on the test split.

    ``landmarks`` are the reference landmark ids, against which the inputs' coverage is reported.
    """
    data = inference_arrays(pairs, split)
    coverage = landmark_coverage(data.landmark_ids, landmarks)
    graph = graph_on_positions(gene_graph) if kind == "gnn" else None
    model, data, categories = fit_model(kind, data, settings, setup, graph, progress)
    landmark_set = f"L1000 ({len(data.landmark_ids)})"
    row = evaluate(kind, data.y["test"], model.predict(data.x["test"]), landmark_set, data.landmark_mask())
    row["val_scc"] = float(np.nanmean(sample_scc(data.y["validation"], model.predict(data.x["validation"]))))
    row |= training_record(model)
    row["lr_scores"] = json.dumps(getattr(model.model_, "lr_scores_", {}))
    row["n_constant_inputs"] = len(constant_columns(model, data, categories)["constant_inputs"])
    return InferenceRun(kind, model, data, categories, coverage, row)


class SelectionSettings(BaseModel):
    """Landmark selection: how many, and which model is retrained on each selection.

    The retrained model's settings are ``InferenceSettings`` (demo or paper with the run
    profile); the group-lasso DNN trains under ``time_budget_seconds`` (none under ``paper``).
    """

    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {
        "m": Sourced(108, "seed 002 Results, reduced landmarks: 'to select 108 landmark transcript inputs'"),
        "retrain_kind": Sourced("gnn", "seed 002 Table 4: the GNN retrained on the LASSO and greedy selections"),
        "time_budget_seconds": NO_BUDGET,
    }

    m: int = 108
    retrain_kind: str = Field("mlp", description="model kind retrained on each selection (lr | knn | mlp | gnn | dnn)")
    group_lasso_penalty: float = 1e-3
    seed: int = 0
    model: InferenceSettings = Field(default_factory=InferenceSettings, description="settings of the retrained model")
    time_budget_seconds: float | None = Field(
        10.0, description="wall-clock seconds of the group-lasso DNN's training; none = no budget"
    )


def choose_landmarks(
    method: str, data: InferenceData, settings: SelectionSettings, setup: TorchSetup, progress: Progress
) -> Selection:
    """Run one selector on the training (and, where it learns, validation) split, reporting to ``progress``.

    The group-lasso DNN uses seed 001's (target + 1)-weighted loss when every target is ≥ −1
    (log expression), and the plain squared error otherwise, since the weight would turn negative.
    """
    from l1k_assets.inference.selection import select_greedy, select_group_lasso, select_lasso, select_random

    x, y, xv, yv = data.x["train"], data.y["train"], data.x["validation"], data.y["validation"]
    if method == "lasso":
        return select_lasso(x, y, settings.m, progress=progress)
    if method == "greedy":
        return select_greedy(x, y, xv, yv, settings.m, progress=progress)
    if method == "group_lasso":
        setup.configure()
        params = model_params("dnn", settings.model, setup) | {"weighted": bool(min(y.min(), yv.min()) >= -1.0)}
        epochs = progress.child("DNN", params["max_epochs"])
        return select_group_lasso(x, y, xv, yv, settings.m, settings.group_lasso_penalty, progress=epochs, **params)
    if method == "random":
        return select_random(len(data.landmark_ids), settings.m, settings.seed)
    raise DataError(f"unknown landmark selector {method!r}; expected one of lasso, greedy, group_lasso, random")


@dataclass
class SelectionRun:
    """A landmark selection and the test metrics of the model retrained on it."""

    method: str
    selection: Selection
    landmark_ids: list[str]
    row: dict[str, Any]
    stopped_by_budget: bool

    def table(self) -> pd.DataFrame:
        """One row per chosen landmark (rank, gene id, selector score) with the retrained model's row repeated."""
        table = pd.DataFrame(
            {"rank": range(1, len(self.landmark_ids) + 1), "gene_id": self.landmark_ids, "score": self.selection.scores}
        )
        return table.assign(**{f"retrained_{k}": v for k, v in self.row.items()})

    def metrics(self) -> dict[str, float]:
        """The retrained model's numbers and the selector's seconds."""
        numbers = {k: float(v) for k, v in self.row.items() if isinstance(v, int | float)}
        return numbers | {"selection_seconds": self.selection.seconds}


def select_landmarks(
    method: str,
    pairs: pd.DataFrame,
    split: pd.DataFrame,
    gene_graph: pd.DataFrame,
    settings: SelectionSettings,
    setup: TorchSetup,
    progress: Progress,
) -> SelectionRun:
    """Choose ``settings.m`` landmarks by ``method`` and retrain ``settings.retrain_kind`` on them (test metrics).

    Only the group-lasso DNN can stop on its budget (a path or a forward selection cut short
    would choose fewer than m); the retrained model has its own per-training budget.
    """
    data = inference_arrays(pairs, split)
    if not 0 < settings.m < len(data.landmark_ids):
        raise DataError(f"m = {settings.m} must be between 1 and the {len(data.landmark_ids)} landmarks")
    budget = settings.time_budget_seconds if method == "group_lasso" else None
    selecting = progress.child(f"{method} selection", settings.m, budget)
    chosen = choose_landmarks(method, data, settings, setup, selecting)
    subset = data.restrict_landmarks(list(chosen.positions))
    graph = graph_on_positions(gene_graph) if settings.retrain_kind == "gnn" else None
    retrain = progress.child(f"{method} retrain")
    model, subset, _ = fit_model(settings.retrain_kind, subset, settings.model, setup, graph, retrain)
    landmark_set = f"{method} ({settings.m})"
    row = evaluate(settings.retrain_kind, subset.y["test"], model.predict(subset.x["test"]), landmark_set, subset.landmark_mask())
    row |= training_record(model)
    return SelectionRun(method, chosen, subset.landmark_ids, row, selecting.stopped_by_budget)


REDUCTION_KINDS = ("lr", "knn", "mlp", "gnn", "dnn")


class ReductionSettings(BaseModel):
    """Seed 002's Table 3 (and Supplementary Tables S3–S4): every model on random fractions of the landmarks.

    Each divisor d keeps ⌊n/d⌋ + 1 of the n landmarks, drawn at random with ``seed``: on the
    paper's 970 that is its 486, 324 and 108. With the seed and m of ``SelectionSettings`` the
    1/9 draw is the same set as the ``random`` landmark selection (Table 4's random row).
    Demo runs the 1/9 variant with LR and KNN (seconds; its MLP on that set is the ``random``
    selection's retrained model); ``paper`` all three with the four models of the table
    (SwinIR is not in l1k).
    """

    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {
        "divisors": Sourced(
            [2, 3, 9],
            "seed 002 Results, reduced landmarks: 'We randomly selected 1/2, 1/3, and 1/9 of the 970 landmark "
            "transcripts, corresponding to 486, 324, and 108'",
        ),
        "kinds": Sourced(["lr", "knn", "mlp", "gnn"], "seed 002 Table 3: LR, KNN, MLP, SwinIR and GNN (SwinIR not in l1k)"),
    }

    divisors: list[int] = Field(default_factory=lambda: [9], description="keep ⌊n/d⌋ + 1 of n landmarks; seed 002: [2, 3, 9]")
    kinds: list[str] = Field(
        default_factory=lambda: ["lr", "knn"], description="models trained on each subset; seed 002: lr, knn, mlp, gnn"
    )
    seed: int = 0
    model: InferenceSettings = Field(default_factory=InferenceSettings, description="settings of the models")


def reduced_size(n_landmarks: int, divisor: int) -> int:
    """⌊n/d⌋ + 1 landmarks: seed 002's 486, 324 and 108 of 970 for d = 2, 3 and 9."""
    if divisor < 2:
        raise DataError(f"a landmark divisor must be at least 2 (keep at most half), got {divisor}")
    size = n_landmarks // divisor + 1
    if size >= n_landmarks:
        raise DataError(f"1/{divisor} of {n_landmarks} landmarks keeps {size}: too few landmarks to reduce")
    return size


def reduced_landmark_table(
    pairs: pd.DataFrame,
    split: pd.DataFrame,
    gene_graph: pd.DataFrame,
    settings: ReductionSettings,
    setup: TorchSetup,
    progress: Progress,
) -> pd.DataFrame:
    """Every model of ``settings.kinds`` retrained on each random subset, in seed 002's layout, the constant row first.

    Models are fitted like the full-landmark ones (``fit_model``); the constant model does not
    depend on the inputs, so one row stands for every subset. Rows carry ``n_landmarks`` and the
    subset's gene ids, so a reader can check it against the ``random`` selection.
    """
    from l1k_assets.inference.selection import select_random

    unknown = sorted(set(settings.kinds) - set(REDUCTION_KINDS))
    if unknown:
        raise DataError(f"unknown model kinds {unknown} for the reduced-landmark table; expected some of {REDUCTION_KINDS}")
    data = inference_arrays(pairs, split)
    n = len(data.landmark_ids)
    sizes = [reduced_size(n, d) for d in settings.divisors]
    graph = graph_on_positions(gene_graph) if "gnn" in settings.kinds else None
    rows = [constant_model_row(data.y["test"], f"L1000 ({n})", data.landmark_mask()) | {"n_landmarks": n, "landmark_ids": ""}]
    for divisor, size in zip(settings.divisors, sizes, strict=True):
        chosen = select_random(n, size, settings.seed)
        subset = data.restrict_landmarks(chosen.positions)
        for kind in settings.kinds:
            model, fitted, _ = fit_model(kind, subset, settings.model, setup, graph, progress.child(f"1/{divisor} · {kind}"))
            prediction = model.predict(fitted.x["test"])
            row = evaluate(kind, subset.y["test"], prediction, f"random 1/{divisor} ({size})", subset.landmark_mask())
            rows.append(row | training_record(model) | {"n_landmarks": size, "landmark_ids": ",".join(subset.landmark_ids)})
    return benchmark_table(rows)
