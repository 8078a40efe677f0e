"""Single-cell landmark discovery assets (seed 001): count matrices in, a discovered landmark set out."""

from pathlib import Path
from typing import ClassVar

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from l1k_assets import plots
from l1k_assets.asset_utils import (
    file_path,
    image_metadata,
    json_metadata,
    markdown_table,
    progress_sink,
    record_files,
    run_profile,
    training_run,
)
from l1k_assets.errors import DataError
from l1k_assets.genesets.gmt import read_gmt
from l1k_assets.inference.split import split_samples
from l1k_assets.landmarks import DEFAULT_MIN_SHARE, check_min_share, landmark_coverage
from l1k_assets.paper_sources import NO_BUDGET, Sourced
from l1k_assets.partitions import GPU_POOL, GPU_TAGS
from l1k_assets.progress import Progress
from l1k_assets.singlecell import comparison
from l1k_assets.singlecell.catalog import Dataset, load_datasets
from l1k_assets.singlecell.comparison import compare_landmark_sets, dnn_params, pooled_landmark_comparison
from l1k_assets.singlecell.discovery import cell_arrays, discover_landmarks, pooled_cells
from l1k_assets.singlecell.qc import QCConfig, run_qc
from l1k_assets.singlecell.readers import CountMatrix, read_10x, read_h5ad
from l1k_assets.sources.fetch_set import fetch_urls
from resources.compute import ComputeResource
from resources.data_source import DataSource
from resources.profile import ProfiledConfig, RunProfile
from resources.tracking import MlflowTracking

GROUP = "singlecell"
DATASETS = {d.dataset: d for d in load_datasets()}
dataset_partitions = dg.StaticPartitionsDefinition(list(DATASETS))


@dg.asset(partitions_def=dataset_partitions, group_name=GROUP, code_version="1", kinds={"h5ad"})
def raw_singlecell_counts(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """One dataset's count files as fetched (an AnnData file, or a 10x folder and its cell metadata table)."""
    dataset = DATASETS[context.partition_key]
    base = data_source.base_url("singlecell")
    files = fetch_urls(data_source.downloader(), {role: f"{base}/{path}" for role, path in dataset.files().items()})
    return record_files(context, files, format=dataset.format, tissue=dataset.tissue, description=dataset.description)


def read_counts(dataset: Dataset, files: pd.DataFrame) -> CountMatrix:
    """The count matrix of fetched files, by the dataset's format."""
    if dataset.format == "h5ad":
        return read_h5ad(file_path(files, "h5ad"), cell_type_column=dataset.cell_type_column)
    metadata = file_path(files, "metadata") if dataset.metadata else None
    return read_10x(Path(file_path(files, "matrix")).parent, metadata=metadata, cell_type_column=dataset.cell_type_column)


def symbol_columns(values: np.ndarray, genes: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Cells × genes named by symbol; of genes sharing a symbol the most expressed is kept (count returned).

    L1000 landmarks and gene-set libraries name genes by symbol, so the columns do too.
    """
    symbols = genes["symbol"].astype(str).to_numpy() if "symbol" in genes.columns else genes.index.astype(str).to_numpy()
    order = np.argsort(-values.sum(axis=0), kind="stable")
    keep = np.sort(order[~pd.Series(symbols[order]).duplicated().to_numpy()])
    return pd.DataFrame(values[:, keep], columns=symbols[keep]), len(symbols) - len(keep)


class QCSettings(dg.Config):
    """Seed 001's QC (≥ 3 reads in ≥ 5 cells per gene, ≥ 1,000 reads per cell), normalisation and split."""

    min_reads: int = 3
    min_cells: int = 5
    min_library_size: float = 1000.0
    target_sum: float = Field(10_000.0, description="reads per cell after normalisation; 0 = the median library size")
    max_cells_per_type: int | None = Field(None, description="balanced sampling: at most this many cells per type")
    train_fraction: float = 0.7
    validation_fraction: float = 0.15
    seed: int = 0


@dg.asset(partitions_def=dataset_partitions, group_name=GROUP, code_version="1", kinds={"pandas", "parquet"})
def core_singlecell_expression(
    context: dg.AssetExecutionContext, config: QCSettings, raw_singlecell_counts: pd.DataFrame
) -> pd.DataFrame:
    """QC'd, library-size-normalised, log-transformed expression: ``cell_id, cell_type, split`` then one column per gene."""
    dataset = DATASETS[context.partition_key]
    matrix = read_counts(dataset, raw_singlecell_counts)
    qc = QCConfig(
        min_reads=config.min_reads,
        min_cells=config.min_cells,
        min_library_size=config.min_library_size,
        target_sum=config.target_sum or "median",
        max_cells_per_type=config.max_cells_per_type,
        seed=config.seed,
    )
    expression, report = run_qc(matrix, qc, dense=True)
    table, collapsed = symbol_columns(np.asarray(expression.values, dtype=np.float32), expression.genes)
    cells = expression.cells.index.astype(str)
    if "cell_type" not in expression.cells.columns:
        raise DataError(f"{dataset.dataset}: no cell-type labels (column {dataset.cell_type_column!r})")
    split = split_samples(pd.Index(cells), "random", config.train_fraction, config.validation_fraction, config.seed)
    front = pd.DataFrame(
        {"cell_id": cells, "cell_type": expression.cells["cell_type"].astype(str).to_numpy(), "split": split.to_numpy()}
    )
    table = pd.concat([front, table], axis=1)
    qc_plot = plots.histograms(
        {
            "library size (reads)": (report.library_size, config.min_library_size),
            "genes detected per cell": (report.genes_per_cell, None),
        },
        f"{dataset.dataset}: QC",
    )
    context.add_output_metadata(
        json_metadata(
            **report.summary(),
            duplicate_symbols_collapsed=collapsed,
            cell_types=front.cell_type.value_counts().to_dict(),
            splits=front.split.value_counts().to_dict(),
        )
        | {"qc_histograms": image_metadata(qc_plot, "library size and genes per cell")}
    )
    return table


class DnnSettings(dg.Config, comparison.DnnSettings):
    """Seed 001's DNN (``singlecell.comparison.DnnSettings``): demo defaults, ``paper`` the seed's."""


class DiscoverySettings(ProfiledConfig):
    """How the discovered set is read off the all-genes DNN's first layer, and its group-lasso strength."""

    m: int = Field(100, description="genes kept (norm), or genes per side (max_min: the union of both sides)")
    ranking: str = Field("norm", description="norm: largest first-layer column norms; max_min: seed 001's top/bottom rule")
    group_lasso_penalty: float = Field(1e-2, description="first-layer group-lasso weight (summed over input genes)")
    dnn: DnnSettings = Field(default_factory=DnnSettings)
    time_budget_seconds: float | None = Field(20.0, description="wall-clock budget of the DNN's training (none: no budget)")
    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {
        "m": Sourced(500, "seed 001 §2.2.2: 'the top five hundred and bottom five hundred genes' (910 after overlaps)"),
        "ranking": Sourced("max_min", "seed 001 §2.2.2: genes ranked by their maximum and minimum first-layer weight"),
        "time_budget_seconds": NO_BUDGET,
    }


@dg.asset(
    partitions_def=dataset_partitions,
    group_name=GROUP,
    code_version="1",
    kinds={"pytorch", "mlflow"},
    op_tags=GPU_TAGS,
    pool=GPU_POOL,
)
def core_singlecell_landmarks(
    context: dg.AssetExecutionContext,
    config: DiscoverySettings,
    core_singlecell_expression: pd.DataFrame,
    core_landmark_genes: pd.DataFrame,
    compute: ComputeResource,
    mlflow: MlflowTracking,
    profile: RunProfile,
) -> pd.DataFrame:
    """The discovered landmark set: genes ranked by the first-layer norm of an all-genes → all-genes group-lasso DNN."""
    config = profile.apply(config)
    data = cell_arrays(core_singlecell_expression)
    compute.configure()
    l1000 = set(core_landmark_genes.gene_symbol.astype(str))
    with training_run(context, mlflow, profile, config, compute, dataset=context.partition_key) as run:
        params = dnn_params(config.dnn, compute.setup(), weighted=True)
        progress = Progress(
            "group-lasso DNN epoch", config.dnn.max_epochs, progress_sink(context, run), budget_seconds=config.time_budget_seconds
        )
        table, chosen = discover_landmarks(data, config.m, config.group_lasso_penalty, params, progress, config.ranking)
        for record in chosen.history:
            run.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))
        table["in_l1000"] = table.gene.isin(l1000)
        summary = {
            "n_genes": len(data.genes),
            "overlap_with_l1000": int(table.in_l1000.sum()),
            **{name: value for name, value in chosen.details.items() if name.startswith("best_val_")},
            "training_seconds": chosen.seconds,
            "epochs": len(chosen.history),
        }
        run.log_metrics(summary)
        context.add_output_metadata(
            json_metadata(
                **summary,
                stopped_by_budget=progress.stopped_by_budget,
                run_profile=run_profile(profile, config, progress.stopped_by_budget),
                top_genes=table.gene.head(20).tolist(),
            )
            | run.metadata()
        )
    return table


class ComparisonSettings(ProfiledConfig):
    """Which models compare the landmark sets, and the seed of the random set of equal size."""

    models: list[str] = Field(default_factory=lambda: ["lr", "dnn"], description="inference model kinds (lr, knn, mlp, dnn)")
    dnn: DnnSettings = Field(default_factory=DnnSettings)
    time_budget_seconds: float | None = Field(30.0, description="wall-clock budget of all the fits together (none: no budget)")
    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {"time_budget_seconds": NO_BUDGET}
    random_seed: int = 0
    fdr_threshold: float = 0.05
    min_landmark_share: float = Field(
        DEFAULT_MIN_SHARE, description="refuse the L1000 set when QC left fewer of its landmarks in the data set"
    )


@dg.asset(
    partitions_def=dataset_partitions,
    group_name=GROUP,
    code_version="1",
    kinds={"pytorch", "mlflow"},
    op_tags=GPU_TAGS,
    pool=GPU_POOL,
)
def out_landmark_discovery(
    context: dg.AssetExecutionContext,
    config: ComparisonSettings,
    core_singlecell_expression: pd.DataFrame,
    core_singlecell_landmarks: pd.DataFrame,
    core_landmark_genes: pd.DataFrame,
    raw_gene_sets: pd.DataFrame,
    compute: ComputeResource,
    mlflow: MlflowTracking,
    profile: RunProfile,
) -> pd.DataFrame:
    """L1000's landmarks vs the discovered set vs a random set of equal size, as inputs of the same models.

    Validation MSE (seed 001's figure), seed 002's test metrics, per-cell-type error and the
    over-representation of each set in the gene-set libraries.
    """
    config = profile.apply(config)
    data = cell_arrays(core_singlecell_expression)
    coverage = landmark_coverage(data.genes, core_landmark_genes.gene_symbol.astype(str)).require(
        check_min_share(config.min_landmark_share), f"single-cell data set {context.partition_key}"
    )
    setup = compute.setup()
    setup.configure()
    # Seed 001 trains its landmark → rest DNN with the plain MSE; the weighted loss is for the all-genes DNN only.
    params = {kind: dnn_params(config.dnn, setup, weighted=False) if kind == "dnn" else {} for kind in config.models}
    libraries = {row.role: read_gmt(row.path) for row in raw_gene_sets.itertuples()}
    with training_run(context, mlflow, profile, config, compute, dataset=context.partition_key) as run:
        progress = Progress("fit", 3 * len(params), progress_sink(context, run), budget_seconds=config.time_budget_seconds)
        found = compare_landmark_sets(
            data,
            core_singlecell_landmarks.gene.tolist(),
            coverage,
            libraries,
            params,
            progress,
            random_seed=config.random_seed,
            fdr_threshold=config.fdr_threshold,
        )
        run.log_metrics(found.metrics())
        run.log_json("landmark_coverage", coverage.describe())
        heat = plots.heatmap(found.per_type_mse(), "test MSE per cell type", "{:.3f}")
        context.add_output_metadata(
            {"comparison": markdown_table(found.summary()), "enriched_terms": markdown_table(found.top_terms())}
            | {"per_cell_type_mse": image_metadata(heat, "per cell type")}
            | json_metadata(run_profile=run_profile(profile, config, found.facts()["stopped_by_budget"]))
            | json_metadata(**found.facts(), **coverage.describe())
            | run.metadata()
        )
    return found.table()


class PooledDiscoverySettings(DiscoverySettings):
    """Seed 001's own experiment: discovery and comparison on the tissues pooled, split as the paper or as the tables.

    Everything of ``DiscoverySettings``, plus the split of the pooled cells (``kept``: each
    table's train/validation/test; ``80_20``: the paper's, whose "test" metrics are then
    validation metrics), the models compared, and one budget for both steps.
    """

    split: str = Field("kept", description="kept (the tables' 70/15/15) or 80_20 (seed 001: train/validation only)")
    validation_fraction: float = Field(0.2, description="the validation share of the 80_20 split")
    models: list[str] = Field(default_factory=lambda: ["lr", "dnn"], description="inference model kinds (lr, knn, mlp, dnn)")
    seed: int = 0
    fdr_threshold: float = 0.05
    time_budget_seconds: float | None = Field(20.0, description="wall clock of discovery and comparison together")
    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {
        **DiscoverySettings.PAPER_SOURCES,
        "split": Sourced("80_20", "seed 001 §2.2.2: 80 % training and 20 % validation (12,746 / 3,187 cells)"),
    }


@dg.asset(group_name=GROUP, code_version="1", kinds={"pytorch", "mlflow"}, op_tags=GPU_TAGS, pool=GPU_POOL)
def out_pooled_landmark_discovery(
    context: dg.AssetExecutionContext,
    config: PooledDiscoverySettings,
    core_singlecell_expression: dict[str, pd.DataFrame],
    core_landmark_genes: pd.DataFrame,
    raw_gene_sets: pd.DataFrame,
    compute: ComputeResource,
    mlflow: MlflowTracking,
    profile: RunProfile,
) -> pd.DataFrame:
    """Seed 001's L1000 vs F910 comparison: every tissue pooled on their shared genes, a set discovered and compared."""
    config = profile.apply(config)
    data = pooled_cells(core_singlecell_expression, config.split, config.validation_fraction, config.seed)
    coverage = landmark_coverage(data.genes, core_landmark_genes.gene_symbol.astype(str)).require(
        check_min_share(DEFAULT_MIN_SHARE), f"the pooled data sets {sorted(core_singlecell_expression)}"
    )
    setup = compute.setup()
    setup.configure()
    discovery = {
        "m": config.m,
        "penalty": config.group_lasso_penalty,
        "ranking": config.ranking,
        "dnn": dnn_params(config.dnn, setup, weighted=True),
    }
    params = {kind: dnn_params(config.dnn, setup, weighted=False) if kind == "dnn" else {} for kind in config.models}
    libraries = {row.role: read_gmt(row.path) for row in raw_gene_sets.itertuples()}
    with training_run(context, mlflow, profile, config, compute) as run:
        progress = Progress("pooled", sink=progress_sink(context, run), budget_seconds=config.time_budget_seconds)
        discovered, found = pooled_landmark_comparison(
            data, coverage, libraries, discovery, params, progress, random_seed=config.seed, fdr_threshold=config.fdr_threshold
        )
        run.log_metrics(found.metrics())
        facts = found.facts() | {"n_discovered": len(discovered), "split": config.split}
        facts |= {"datasets": sorted(core_singlecell_expression), "n_cells": {k: len(v) for k, v in data.values.items()}}
        context.add_output_metadata(
            {"comparison": markdown_table(found.summary()), "enriched_terms": markdown_table(found.top_terms())}
            | json_metadata(run_profile=run_profile(profile, config, found.facts()["stopped_by_budget"]))
            | json_metadata(**facts, n_genes=len(data.genes), **coverage.describe())
            | run.metadata()
        )
    return found.table()
