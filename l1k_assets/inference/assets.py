"""Inference assets: the GSE92743-like paired set, fetched and aligned."""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from l1k_assets import plots
from l1k_assets.asset_utils import file_path, image_metadata, json_metadata, progress_sink, record_files
from l1k_assets.errors import DataError
from l1k_assets.inference.benchmark import benchmark_table, evaluate, truth_vs_prediction_heatmap
from l1k_assets.inference.data import InferenceData, inference_arrays
from l1k_assets.inference.graph import build_gene_graph, graph_stats
from l1k_assets.inference.metrics import sample_scc
from l1k_assets.inference.models import StandardizedModel, make_model
from l1k_assets.inference.pairs import RNASEQ_PREFIX, TISSUE_COLUMN, load_inference_pairs, sample_tissues
from l1k_assets.inference.split import split_samples
from l1k_assets.landmarks import DEFAULT_MIN_SHARE, check_min_share, landmark_coverage
from l1k_assets.partitions import GPU_POOL, GPU_TAGS, model_partitions, selection_partitions
from l1k_assets.sources.fetch_set import fetch_directory
from l1k_assets.sources.layout import geo_suppl_url
from l1k_assets.sources.listing import GTEX_PAIR_ROLES
from resources.checkpoints import CheckpointStore
from resources.compute import ComputeResource
from resources.data_source import DataSource
from resources.home import home_dir
from resources.profile import ProfiledConfig, RunProfile
from resources.tracking import MlflowTracking

if TYPE_CHECKING:
    from l1k_assets.inference.selection import Selection
    from l1k_assets.progress import Progress

PAIRED_SERIES = "GSE92743"


@dg.asset(group_name="inference", code_version="1", kinds={"geo"})
def raw_inference_pairs(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """GSE92743's paired L1000 level-3 and RNA-seq GCTX files and instance table, as fetched."""
    files = fetch_directory(
        data_source.downloader(),
        geo_suppl_url(data_source.base_url("geo"), PAIRED_SERIES, "").rstrip("/"),
        GTEX_PAIR_ROLES,
        home_dir(data_source.home) / "releases" / PAIRED_SERIES,
    )
    return record_files(context, files)


class PairSettings(dg.Config):
    """How many of the reference landmarks the paired files must hold (GSE92743: 970 of 978)."""

    min_landmark_share: float = Field(DEFAULT_MIN_SHARE, description="refuse the pair set below this share of landmarks")


@dg.asset(group_name="inference", code_version="2", kinds={"pandas", "parquet"})
def core_inference_pairs(
    context: dg.AssetExecutionContext,
    config: PairSettings,
    raw_inference_pairs: pd.DataFrame,
    core_landmark_genes: pd.DataFrame,
) -> pd.DataFrame:
    """Samples × (``l1000|<gene>`` inputs for the landmarks in both files, ``rnaseq|<gene>`` targets), aligned and checked."""
    table, coverage = load_inference_pairs(
        Path(file_path(raw_inference_pairs, "l1000")),
        Path(file_path(raw_inference_pairs, "rnaseq")),
        core_landmark_genes.gene_id.astype(str).tolist(),
        check_min_share(config.min_landmark_share),
    )
    if coverage.missing:
        context.log.warning(f"{len(coverage.missing)} landmarks are not in both paired files: {coverage.missing}")
    table[TISSUE_COLUMN] = sample_tissues(Path(file_path(raw_inference_pairs, "inst_info")), table.index).to_numpy()
    n_r = sum(c.startswith(RNASEQ_PREFIX) for c in table.columns)
    tissues = table[TISSUE_COLUMN].value_counts().to_dict()
    context.add_output_metadata(
        json_metadata(n_samples=len(table), n_landmarks=len(coverage.present), n_rnaseq_genes=n_r, tissues=tissues)
        | json_metadata(**coverage.describe())
    )
    return table


class SplitSettings(dg.Config):
    """How the paired samples are split (seed 002: by order, 2,500 / 500 / 176 of 3,176)."""

    method: str = Field("order", description="'order' or 'random'")
    train_fraction: float = 2500 / 3176
    validation_fraction: float = 500 / 3176
    seed: int = 0


@dg.asset(group_name="inference", code_version="1", kinds={"pandas"})
def core_inference_split(
    context: dg.AssetExecutionContext, config: SplitSettings, core_inference_pairs: pd.DataFrame
) -> pd.DataFrame:
    """``sample_id -> train | validation | test``."""
    labels = split_samples(
        core_inference_pairs.index, config.method, config.train_fraction, config.validation_fraction, config.seed
    )
    context.add_output_metadata(json_metadata(method=config.method, counts=labels.value_counts().to_dict()))
    return labels.rename_axis("sample_id").reset_index()


class GraphSettings(dg.Config):
    """Top/bottom-k neighbours per non-landmark gene (seed 002: k = 50)."""

    k: int = 50
    center: bool = Field(True, description="centre genes before cosine similarity (raw log values are all positive)")


@dg.asset(group_name="inference", code_version="1", kinds={"pandas"})
def core_gene_graph(
    context: dg.AssetExecutionContext,
    config: GraphSettings,
    core_inference_pairs: pd.DataFrame,
    core_inference_split: pd.DataFrame,
) -> pd.DataFrame:
    """Gene graph from TRAINING samples only: landmark → every gene, each non-landmark ← its k most and k least similar."""
    data = inference_arrays(core_inference_pairs, core_inference_split)
    k = min(config.k, (len(data.target_ids) - len(data.landmark_ids)) // 2 - 1)
    if k != config.k:
        context.log.warning(f"k = {config.k} is too large for {len(data.target_ids)} genes; using k = {k}")
    edges = build_gene_graph(data.y["train"], data.landmark_positions, k=k, center=config.center)
    stats = graph_stats(edges, len(data.target_ids))
    context.add_output_metadata(json_metadata(k=k, n_edges=len(edges), n_genes=len(data.target_ids), degree=stats))
    ids = np.asarray(data.target_ids)
    return edges.assign(src_gene=ids[edges.src.to_numpy()], dst_gene=ids[edges.dst.to_numpy()])


class ModelSettings(ProfiledConfig):
    """Hyperparameters of the inference models: the defaults are the ``demo`` profile, ``paper`` the seeds'.

    Demo trains each torch model with one learning rate, narrower layers (and the GNN with
    small batches) and a wall-clock budget per training, so the five models and four landmark
    selections fit a few minutes on two CPU cores; ``paper`` is seed 002 (learning rate from
    {1e-3, 5e-4, 1e-4}, GNN d = 64 with 4 layers, the MLP as wide as its output, patience 10,
    no budget) and seed 001's DNN (two 1,024-unit layers, lr 1e-2, patience 5).
    """

    paper: ClassVar[dict[str, Any]] = {
        "lr_grid": [1e-3, 5e-4, 1e-4],
        "max_epochs": 200,
        "patience": 10,
        "gnn_hidden": 64,
        "gnn_layers": 4,
        "gnn_batch_size": None,
        "mlp_hidden": None,
        "dnn_hidden": [1024, 1024],
        "dnn_lr": 1e-2,
        "time_budget_seconds": None,
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
    mlp_hidden: int | None = Field(512, description="MLP hidden width; none = as wide as the output (seed 002)")
    dnn_hidden: list[int] = Field(default_factory=lambda: [512, 512], description="seed 001: [1024, 1024]")
    dnn_lr: float = Field(1e-3, description="seed 001: 1e-2")
    dnn_patience: int = Field(5, description="seed 001: 5")
    knn_grid: list[int] = Field(default_factory=lambda: [3, 5, 7, 9])
    tissue_feature: bool = Field(False, description="append the sample's one-hot tissue (GTEx SMTS) to the inputs")
    time_budget_seconds: float | None = Field(
        25.0, description="wall-clock seconds per torch training (all its learning rates together); none = no budget"
    )
    gnn_budget_share: float = Field(
        4.0, description="the GNN's training budget as a multiple of time_budget_seconds (it costs most per epoch)"
    )


def model_params(kind: str, config: ModelSettings, compute: ComputeResource) -> dict:
    """Constructor arguments of one model kind; torch models get the compute resource's device and precision."""
    torch_common = {
        "device": str(compute.torch_device()),
        "dtype": compute.precision,
        "seed": compute.seed,
        "max_epochs": config.max_epochs,
        "patience": config.patience,
        "batch_size": config.batch_size,
    }
    gnn = {
        "hidden": config.gnn_hidden,
        "layers": config.gnn_layers,
        "lr_grid": tuple(config.lr_grid),
        "batch_size": config.batch_size if config.gnn_batch_size is None else config.gnn_batch_size,
    }
    return {
        "lr": {},
        "knn": {"k_grid": tuple(config.knn_grid)},
        "mlp": {**torch_common, "hidden": config.mlp_hidden, "lr_grid": tuple(config.lr_grid)},
        "gnn": {**torch_common, **gnn},
        # Targets are z-scored here, so below −1 for many genes: seed 001's (target + 1) weighting
        # would turn negative, and the DNN refuses it; the plain squared error is used instead.
        "dnn": {
            **torch_common,
            "hidden": tuple(config.dnn_hidden),
            "lr": config.dnn_lr,
            "patience": config.dnn_patience,
            "weighted": False,
        },
    }[kind]


def tissue_categories(data: InferenceData, config: ModelSettings) -> list[str]:
    """The one-hot tissue columns a model gets (none unless ``tissue_feature``); labels are inputs, not targets."""
    if not config.tissue_feature:
        return []
    if data.tissue is None:
        raise DataError("tissue_feature is set but the paired table has no tissue column")
    return sorted({str(t) for values in data.tissue.values() for t in values})


def model_inputs(data: InferenceData, categories: list[str]) -> InferenceData:
    """The data a model sees: the landmarks, then the tissue one-hot block when it has tissue categories."""
    return data.with_tissue_covariates(categories) if categories else data


def fit_model(
    kind: str,
    data: InferenceData,
    config: ModelSettings,
    compute: ComputeResource,
    graph: pd.DataFrame | None,
    progress: "Progress",
) -> tuple[StandardizedModel, InferenceData, list[str]]:
    """Fit one model kind on z-scored data (the MLP and GNN pick their learning rate by validation SCC).

    Epochs (or the KNN grid) report to a child of ``progress`` bounded by ``config``'s
    per-training budget. Returns the model, the inputs it was fitted on and its tissue categories.
    """
    compute.configure()
    categories = tissue_categories(data, config)
    data = model_inputs(data, categories)
    params = model_params(kind, config, compute) | ({"n_covariates": len(categories)} if kind == "gnn" else {})
    model = StandardizedModel(kind, make_model(kind, params, graph, len(data.target_ids), data.landmark_positions))
    share = config.gnn_budget_share if kind == "gnn" else 1.0
    budget = None if config.time_budget_seconds is None else share * config.time_budget_seconds
    training = progress.child(kind, params.get("max_epochs"), budget)
    x, y = data.x, data.y
    return model.fit(x["train"], y["train"], x["validation"], y["validation"], progress=training), data, categories


def training_record(model: StandardizedModel) -> dict[str, Any]:
    """What an asset page, MLflow and the benchmark row say of a fit: seconds, epochs, budget stop, LR conditioning."""
    fitted = model.model
    record: dict[str, Any] = {
        "training_seconds": float(getattr(fitted, "training_seconds_", 0.0)),
        "epochs": len(getattr(fitted, "history_", [])),
        "stopped_by_budget": bool(getattr(fitted, "stopped_by_budget_", False)),
    }
    if hasattr(fitted, "condition_number_"):
        record["condition_number"] = float(fitted.condition_number_)
    return record


def _graph_on_positions(graph: pd.DataFrame) -> pd.DataFrame:
    return graph[["src", "dst", "kind"] + [c for c in ("cosine",) if c in graph.columns]]


@dg.asset(
    partitions_def=model_partitions,
    group_name="inference",
    code_version="1",
    kinds={"pytorch", "mlflow"},
    op_tags=GPU_TAGS,
    pool=GPU_POOL,
)
def model_expression_inference(
    context: dg.AssetExecutionContext,
    config: ModelSettings,
    core_inference_pairs: pd.DataFrame,
    core_inference_split: pd.DataFrame,
    core_gene_graph: pd.DataFrame,
    core_landmark_genes: pd.DataFrame,
    compute: ComputeResource,
    checkpoints: CheckpointStore,
    mlflow: MlflowTracking,
    profile: RunProfile,
) -> pd.DataFrame:
    """One inference model (lr | knn | mlp | gnn | dnn) from the landmarks to every gene: checkpoint and test metrics."""
    from l1k_assets.progress import Progress

    config = profile.apply(config)
    kind = context.partition_key
    graph = _graph_on_positions(core_gene_graph) if kind == "gnn" else None
    with mlflow.start_run(context, model=kind) as run:
        run.log_params({**config.model_dump(), "kind": kind, **compute.describe(), **profile.describe()})
        progress = Progress("inference", sink=progress_sink(context, run))
        data = inference_arrays(core_inference_pairs, core_inference_split)
        coverage = landmark_coverage(data.landmark_ids, core_landmark_genes.gene_id.astype(str))
        run.log_params({"n_landmarks": len(coverage.present), "n_landmarks_missing": len(coverage.missing)})
        run.log_json("landmark_coverage.json", coverage.describe())
        model, data, categories = fit_model(kind, data, config, compute, graph, progress)
        history = pd.DataFrame(getattr(model.model, "history_", []))
        for record in history.to_dict("records"):
            run.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))
        row = evaluate(kind, data.y["test"], model.predict(data.x["test"]), landmark_set=f"L1000 ({len(data.landmark_ids)})")
        row["val_scc"] = float(np.nanmean(sample_scc(data.y["validation"], model.predict(data.x["validation"]))))
        row |= training_record(model)
        row["lr_scores"] = json.dumps(getattr(model.model, "lr_scores_", {}))
        constant = constant_columns(model, data, categories)
        if constant["constant_inputs"]:
            context.log.warning(
                f"{len(constant['constant_inputs'])} inputs are constant in the training samples and are scaled by the "
                f"typical sd instead of their own: {constant['constant_inputs'][:20]}"
            )
        row["n_constant_inputs"] = len(constant["constant_inputs"])
        run.log_metrics({k: float(v) for k, v in row.items() if isinstance(v, int | float)})
        asset = context.asset_key.to_user_string()
        manifest = checkpoints.save(
            asset,
            kind,
            model.checkpoint_files(),
            code_version="1",
            mlflow_run_id=run.run_id,
            extra={
                "landmark_ids": data.landmark_ids,
                "target_ids": data.target_ids,
                "kind": kind,
                "tissue_categories": categories,
                **profile.describe(),
                "stopped_by_budget": row["stopped_by_budget"],
                "settings": config.model_dump(),
            },
        )
        run.register_model(f"l1k.{asset}.{kind}", checkpoints.directory(asset, kind), f"{asset}[{kind}]")
        curves = {"training_curves": image_metadata(plots.training_curves(history, kind), kind)} if len(history) else {}
        context.add_output_metadata(
            {
                **json_metadata(
                    **{k: v for k, v in row.items() if isinstance(v, int | float)},
                    device=compute.describe()["device"],
                    run_profile=profile.describe(),
                    **constant,
                    **coverage.describe(),
                ),
                "checkpoint_files": dg.MetadataValue.json(manifest.files),
                **curves,
                **run.metadata(),
            }
        )
    return pd.DataFrame([row])


def constant_columns(model: StandardizedModel, data: InferenceData, categories: list[str]) -> dict[str, list[str]]:
    """The inputs (landmarks, tissue columns) and targets constant in training, by id, for the asset page."""
    assert model.x_scaler is not None and model.y_scaler is not None
    inputs = [*data.landmark_ids, *(f"tissue={c}" for c in categories)]
    return {
        "constant_inputs": [i for i, c in zip(inputs, model.x_scaler.constant, strict=True) if c],
        "constant_targets": [t for t, c in zip(data.target_ids, model.y_scaler.constant, strict=True) if c],
    }


def load_inference_model(checkpoints: CheckpointStore, kind: str) -> tuple[StandardizedModel, list[str]]:
    """A trained inference model from its verified checkpoint (weights load with weights_only) and its tissue categories."""
    asset = model_expression_inference.key.to_user_string()
    manifest = checkpoints.manifest(asset, kind)
    files = checkpoints.read_files(asset, kind)
    return StandardizedModel.from_checkpoint(files), list(manifest.extra.get("tissue_categories", []))


class SelectionSettings(ProfiledConfig):
    """Landmark selection: how many, and which model is retrained on each selection.

    The retrained model's settings are ``ModelSettings`` (demo or paper with the run profile);
    the group-lasso DNN trains under ``time_budget_seconds`` (none under ``paper``).
    """

    paper: ClassVar[dict[str, Any]] = {"time_budget_seconds": None}

    m: int = 108
    retrain_kind: str = Field("mlp", description="model kind retrained on each selection (lr | knn | mlp | gnn | dnn)")
    group_lasso_penalty: float = 1e-3
    seed: int = 0
    model: ModelSettings = Field(default_factory=ModelSettings, description="settings of the retrained model")
    time_budget_seconds: float | None = Field(
        10.0, description="wall-clock seconds of the group-lasso DNN's training; none = no budget"
    )


def choose_landmarks(
    method: str, data: InferenceData, config: SelectionSettings, compute: ComputeResource, progress: "Progress"
) -> "Selection":
    """Run one selector on the training (and, where it learns, validation) split, reporting to ``progress``.

    The group-lasso DNN uses seed 001's (target + 1)-weighted loss when every target is ≥ −1
    (log expression), and the plain squared error otherwise, since the weight would turn negative.
    """
    from l1k_assets.inference.selection import select_greedy, select_group_lasso, select_lasso, select_random

    x, y, xv, yv = data.x["train"], data.y["train"], data.x["validation"], data.y["validation"]
    if method == "lasso":
        return select_lasso(x, y, config.m, progress=progress)
    if method == "greedy":
        return select_greedy(x, y, xv, yv, config.m, progress=progress)
    if method == "group_lasso":
        compute.configure()
        params = model_params("dnn", config.model, compute) | {"weighted": bool(min(y.min(), yv.min()) >= -1.0)}
        epochs = progress.child("DNN", params["max_epochs"])
        return select_group_lasso(x, y, xv, yv, config.m, config.group_lasso_penalty, progress=epochs, **params)
    return select_random(len(data.landmark_ids), config.m, config.seed)


@dg.asset(
    partitions_def=selection_partitions,
    group_name="inference",
    code_version="1",
    kinds={"pytorch"},
    op_tags=GPU_TAGS,
    pool=GPU_POOL,
)
def core_landmark_selection(
    context: dg.AssetExecutionContext,
    config: SelectionSettings,
    core_inference_pairs: pd.DataFrame,
    core_inference_split: pd.DataFrame,
    core_gene_graph: pd.DataFrame,
    compute: ComputeResource,
    mlflow: MlflowTracking,
    profile: RunProfile,
) -> pd.DataFrame:
    """m landmarks chosen by lasso | greedy | group_lasso | random, and the test metrics of a model retrained on them."""
    from l1k_assets.progress import Progress

    config = profile.apply(config)
    method = context.partition_key
    data = inference_arrays(core_inference_pairs, core_inference_split)
    if not 0 < config.m < len(data.landmark_ids):
        raise dg.Failure(f"m = {config.m} must be between 1 and the {len(data.landmark_ids)} landmarks")
    with mlflow.start_run(context, selection=method) as run:
        run.log_params({"method": method, "m": config.m, "retrain_kind": config.retrain_kind, **profile.describe()})
        sink = progress_sink(context, run)
        budget = config.time_budget_seconds if method == "group_lasso" else None  # the only selector that can stop early
        selecting = Progress(f"{method} selection", config.m, sink, budget_seconds=budget)
        chosen = choose_landmarks(method, data, config, compute, selecting)
        subset = data.restrict_landmarks(list(chosen.positions))
        graph = _graph_on_positions(core_gene_graph) if config.retrain_kind == "gnn" else None
        retrain = Progress(f"{method} retrain", sink=sink)
        model, subset, _ = fit_model(config.retrain_kind, subset, config.model, compute, graph, retrain)
        row = evaluate(
            config.retrain_kind, subset.y["test"], model.predict(subset.x["test"]), landmark_set=f"{method} ({config.m})"
        )
        row |= training_record(model)
        numbers = {k: float(v) for k, v in row.items() if isinstance(v, int | float)}
        run.log_metrics(numbers | {"selection_seconds": chosen.seconds})
        context.add_output_metadata(
            json_metadata(
                **numbers,
                selection_seconds=chosen.seconds,
                selection_stopped_by_budget=selecting.stopped_by_budget,
                selection_details=chosen.details,
                retrain_kind=config.retrain_kind,
                run_profile=profile.describe(),
            )
        )
    table = pd.DataFrame({"rank": range(1, config.m + 1), "gene_id": subset.landmark_ids, "score": chosen.scores})
    for key, value in row.items():
        table[f"retrained_{key}"] = value
    return table


@dg.asset(group_name="inference", code_version="1", kinds={"pandas"})
def out_inference_benchmark(
    context: dg.AssetExecutionContext,
    model_expression_inference: dict[str, pd.DataFrame],
    core_landmark_selection: dict[str, pd.DataFrame],
    core_inference_pairs: pd.DataFrame,
    core_inference_split: pd.DataFrame,
    checkpoints: CheckpointStore,
) -> pd.DataFrame:
    """Seed 002's Tables 1–4 for every materialized model and landmark set, with a truth-vs-prediction heatmap."""
    rows = [frame.iloc[0].to_dict() for frame in model_expression_inference.values()]
    for frame in core_landmark_selection.values():
        first = frame.iloc[0]
        rows.append({k.removeprefix("retrained_"): v for k, v in first.items() if k.startswith("retrained_")})
    table = benchmark_table(rows)
    metadata = {"benchmark": dg.MetadataValue.md(table.to_markdown(index=False, floatfmt=".4f"))}
    best = max(model_expression_inference, key=lambda k: model_expression_inference[k].iloc[0]["scc_mean"])
    model, categories = load_inference_model(checkpoints, best)
    data = model_inputs(inference_arrays(core_inference_pairs, core_inference_split), categories)
    prediction = model.predict(data.x["test"])
    metadata["heatmap"] = image_metadata(truth_vs_prediction_heatmap(data.y["test"], prediction), f"{best}: truth vs prediction")
    context.add_output_metadata(metadata)
    return table
