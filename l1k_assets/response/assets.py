"""Drug-response assets: GDSC, STRING and compound sources, and CSG2A pretrained on L1000 then fine-tuned to GDSC."""

import io
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from l1k_assets import plots
from l1k_assets.asset_utils import file_path, files_metadata, image_metadata, json_metadata
from l1k_assets.lincs.assets import release_partitions
from l1k_assets.sources.fetch_set import fetch_urls
from l1k_assets.sources.layout import (
    GDSC_COMPOUNDS_FILE,
    GDSC_EXPRESSION_FILE,
    GDSC_RESPONSE_FILE,
    GDSC_SMILES_FILE,
    clue_repurposing_url,
    gdsc_url,
    string_url,
)
from resources.checkpoints import CheckpointStore
from resources.compute import GPU_POOL, GPU_TAGS, ComputeResource
from resources.data_source import DataSource
from resources.tracking import MlflowTracking


def _fetched(context: dg.AssetExecutionContext, data_source: DataSource, urls: dict[str, str]) -> pd.DataFrame:
    files = fetch_urls(data_source.downloader(), urls)
    context.add_output_metadata(files_metadata(files))
    return files


@dg.asset(group_name="response", code_version="1", kinds={"csv"})
def raw_gdsc(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """GDSC2 fitted dose response (LN_IC50), screened compounds, basal RMA expression and drug SMILES."""
    base = data_source.base_url("gdsc")
    names = {
        "response": GDSC_RESPONSE_FILE,
        "compounds": GDSC_COMPOUNDS_FILE,
        "expression": GDSC_EXPRESSION_FILE,
        "smiles": GDSC_SMILES_FILE,
    }
    return _fetched(context, data_source, {role: gdsc_url(base, name) for role, name in names.items()})


@dg.asset(group_name="response", code_version="1", kinds={"string"})
def raw_ppi(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """STRING human protein links (combined scores) and protein info (ENSP -> gene symbol)."""
    base = data_source.base_url("string")
    return _fetched(context, data_source, {kind: string_url(base, kind) for kind in ("links", "info")})


@dg.asset(group_name="response", code_version="1", kinds={"clue"})
def raw_compounds(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """The Drug Repurposing Hub's drug (MoA, target) and sample (broad id) tables."""
    base = data_source.base_url("clue")
    return _fetched(context, data_source, {table: clue_repurposing_url(base, table) for table in ("drugs", "samples")})


# ---------------------------------------------------------------------------------------------
# Method 4: CSG2A pretrained on L1000, fine-tuned to GDSC (seed 003)


class PairSettings(dg.Config):
    """How each treated level-3 profile gets its basal profile, and how much of the release is kept."""

    fallback: str = Field("batch", description="'batch': plates without DMSO wells borrow their batch's; 'none'")
    on_missing: str = Field("error", description="'error' or 'drop' when a plate has no basal profile at all")
    chunk_size: int = 10_000
    keep_fraction: float = Field(1.0, description="seeded share of pairs kept (a full release has over a million)")
    seed: int = 0


@dg.asset(partitions_def=release_partitions, group_name="response", code_version="1", kinds={"pandas", "parquet"})
def core_pretraining_pairs(
    context: dg.AssetExecutionContext,
    config: PairSettings,
    core_lincs_level3: pd.DataFrame,
    core_lincs_instances: pd.DataFrame,
    core_landmark_genes: pd.DataFrame,
) -> pd.DataFrame:
    """Each compound-treated level-3 profile with its plate's basal profile (mean of the DMSO wells), dose and time."""
    from l1k_assets.response.pretraining import iter_pretraining_pairs

    rng = np.random.default_rng(config.seed)
    frames = []
    for block in iter_pretraining_pairs(
        Path(core_lincs_level3.path.iloc[0]),
        core_lincs_instances,
        core_landmark_genes.gene_id.astype(str),
        chunk_size=config.chunk_size,
        fallback=config.fallback,  # type: ignore[arg-type]
        on_missing=config.on_missing,  # type: ignore[arg-type]
    ):
        kept = block[rng.random(len(block)) < config.keep_fraction] if config.keep_fraction < 1 else block
        numeric = kept.select_dtypes("float64").columns
        frames.append(kept.astype(dict.fromkeys(numeric, "float32")))
    pairs = pd.concat(frames, ignore_index=True)
    context.add_output_metadata(
        json_metadata(
            n_pairs=len(pairs),
            n_compounds=int(pairs.pert_id.nunique()),
            n_cell_lines=int(pairs.cell_id.nunique()),
            basal_source=pairs.basal_source.value_counts().to_dict(),
            doses_um=sorted(pairs.dose_um.unique().tolist()),
            times_h=sorted(pairs.time_h.unique().tolist()),
        )
    )
    return pairs


class StructureSettings(dg.Config):
    """The compound encoder (the paper's pretrained MAT is not available offline, so it is pluggable)."""

    featuriser: str = Field("morgan", description="'morgan' (radius-2 fingerprints) or 'descriptors' (RDKit)")
    n_bits: int = Field(256, description="Morgan fingerprint length (256 suits a few hundred compounds)")


def structure_features(smiles: pd.Series, settings: StructureSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features of every parsable SMILES (compound id × features) and the excluded compounds with reasons."""
    from l1k_assets.response.conditions import featurise, parse_smiles

    parsed = parse_smiles(smiles)
    options = {"n_bits": settings.n_bits} if settings.featuriser == "morgan" else {}
    return featurise(parsed, settings.featuriser, **options), parsed.excluded


@dg.asset(group_name="response", code_version="1", kinds={"rdkit", "pandas"})
def core_drug_conditions(context: dg.AssetExecutionContext, config: StructureSettings, raw_gdsc: pd.DataFrame) -> pd.DataFrame:
    """GDSC drugs: canonical SMILES by RDKit, structure features, and the fixed condition (10 µM / 100, 72 h / 72)."""
    from l1k_assets.response.benchmark import read_gdsc_smiles
    from l1k_assets.response.conditions import GDSC_DOSE_UM, GDSC_TIME_H, scale_conditions

    features, excluded = structure_features(read_gdsc_smiles(file_path(raw_gdsc, "smiles")), config)
    for row in excluded.itertuples(index=False):
        context.log.warning(f"drug {row.compound_id} left out: {row.reason}")
    dose, time_ = scale_conditions(np.array([GDSC_DOSE_UM]), np.array([GDSC_TIME_H]))[0]
    table = features.rename_axis("drug").reset_index().assign(dose_scaled=dose, time_scaled=time_)
    context.add_output_metadata(
        json_metadata(n_drugs=len(table), n_excluded=len(excluded), featuriser=config.featuriser, n_features=features.shape[1])
        | {"excluded": dg.MetadataValue.md(excluded.to_markdown(index=False) if len(excluded) else "none")}
    )
    return table


class NetworkSettings(dg.Config):
    """CSG2A sizes and training (small defaults for CPU; the paper trains larger on a GPU)."""

    embed_dim: int = 8
    encoder_hidden: int = 64
    head_hidden: int = 32
    dropout: float = 0.1
    lr: float = 3e-3
    batch_size: int = 32
    max_epochs: int = 60
    patience: int = 8


class PretrainSettings(dg.Config):
    """Pretraining: the STRING threshold of the PPI prior, the validation share and the network."""

    min_ppi_score: int = Field(900, description="STRING combined score above which an edge enters A_PPI")
    validation_fraction: float = 0.15
    structures: StructureSettings = Field(default_factory=StructureSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)


def ppi_prior(raw_ppi: pd.DataFrame, symbols: list[str], min_score: int) -> np.ndarray:
    """The landmark × landmark STRING adjacency of edges above ``min_score``."""
    from l1k_assets.response.benchmark import read_string_edges
    from l1k_assets.response.csg2a import ppi_adjacency

    edges = read_string_edges(file_path(raw_ppi, "links"), file_path(raw_ppi, "info"))
    return ppi_adjacency(edges, symbols, min_score)


@dg.asset(
    group_name="response",
    code_version="1",
    kinds={"pytorch", "mlflow"},
    op_tags=GPU_TAGS,
    pool=GPU_POOL,
)
def model_csg2a_pretrained(
    context: dg.AssetExecutionContext,
    config: PretrainSettings,
    core_pretraining_pairs: dict[str, pd.DataFrame],
    core_lincs_signatures: dict[str, pd.DataFrame],
    core_landmark_genes: pd.DataFrame,
    raw_ppi: pd.DataFrame,
    compute: ComputeResource,
    checkpoints: CheckpointStore,
    mlflow: MlflowTracking,
) -> pd.DataFrame:
    """CSG2A pretrained on every materialized release's pairs to predict perturbed from basal profiles, with and without A_PPI."""
    from l1k_assets.response.csg2a import CSG2APretrainer
    from l1k_assets.response.pretraining import pretraining_arrays

    pairs = pd.concat(core_pretraining_pairs.values(), ignore_index=True)
    perts = pd.concat(core_lincs_signatures.values()).drop_duplicates("pert_id").set_index("pert_id")
    compounds, excluded = structure_features(perts.canonical_smiles.dropna(), config.structures)
    x, y, genes = pretraining_arrays(pairs, compounds)
    symbols = core_landmark_genes.set_index(core_landmark_genes.gene_id.astype(str)).gene_symbol.loc[genes].tolist()
    ppi = ppi_prior(raw_ppi, symbols, config.min_ppi_score)
    validation = np.random.default_rng(compute.seed).random(len(x)) < config.validation_fraction
    compute.configure()
    options = config.network.model_dump(exclude={"head_hidden"})  # the pretraining network has no heads
    options |= {"seed": compute.seed, "device": str(compute.torch_device()), "dtype": compute.precision}
    basal_mse = float(np.mean((x[validation][:, : len(genes)] - y[validation]) ** 2))
    rows, files = [], {}
    with mlflow.start_run(context) as run:
        run.log_params(config.model_dump() | compute.describe())
        for variant, prior in (("with_ppi", ppi), ("without_ppi", None)):
            model = CSG2APretrainer(**options).fit(x[~validation], y[~validation], x[validation], y[validation], ppi=prior)
            for record in model.history_:
                run.log_metrics({f"{variant}.{k}": v for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))
            val_mse = float(np.mean((model.predict(x[validation]) - y[validation]) ** 2))
            rows.append({"variant": variant, "val_mse": val_mse, "basal_copy_mse": basal_mse, "epochs": len(model.history_)})
            files |= {f"{variant}.{name}": data for name, data in model.checkpoint_files().items()}
        table = pd.DataFrame(rows).assign(
            n_pairs=len(x), n_compounds=int(pairs.pert_id.nunique()), n_ppi_edges=int(ppi.sum() // 2)
        )
        run.log_metrics({f"{r['variant']}.val_mse": r["val_mse"] for r in rows} | {"basal_copy_mse": basal_mse})
        extra = {"genes": genes, "symbols": symbols, "structures": config.structures.model_dump()}
        checkpoints.save(
            "model_csg2a_pretrained", None, files | {"ppi.npy": _npy_bytes(ppi)}, mlflow_run_id=run.run_id, extra=extra
        )
        context.add_output_metadata(
            json_metadata(**{f"{r['variant']}_val_mse": r["val_mse"] for r in rows}, basal_copy_mse=basal_mse)
            | json_metadata(n_pairs=len(x), excluded_compounds=len(excluded), ppi_edges=int(ppi.sum() // 2))
            | run.metadata()
        )
    return table


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


scheme_partitions = dg.StaticPartitionsDefinition(["mixed", "cell_blind", "drug_blind", "disjoint"])


class FinetuneSettings(dg.Config):
    """10-fold CV of every model in one split scheme, then a final CSG2A on all pairs."""

    n_folds: int = 10
    models: list[str] = Field(
        default_factory=lambda: [
            "mean",
            "drug_mean",
            "random_forest",
            "svm",
            "csg2a",
            "csg2a_no_pretraining",
            "csg2a_unfrozen",
            "csg2a_no_ppi",
        ]
    )
    rf_trees: int = 100
    svm_c: float = 10.0
    validation_fraction: float = 0.1
    n_jobs: int = Field(1, description="folds run in parallel processes")
    network: NetworkSettings = Field(default_factory=NetworkSettings)


@dg.asset(
    partitions_def=scheme_partitions,
    group_name="response",
    code_version="1",
    kinds={"pytorch", "mlflow"},
    op_tags=GPU_TAGS,
    pool=GPU_POOL,
    deps=[model_csg2a_pretrained],
)
def model_csg2a_finetuned(
    context: dg.AssetExecutionContext,
    config: FinetuneSettings,
    core_drug_conditions: pd.DataFrame,
    raw_gdsc: pd.DataFrame,
    compute: ComputeResource,
    checkpoints: CheckpointStore,
    mlflow: MlflowTracking,
) -> pd.DataFrame:
    """Per-fold RMSE and PCC of CSG2A (pretrained, frozen), its ablations and the baselines in one split scheme."""
    from l1k_assets.response import benchmark as bm
    from l1k_assets.response.csg2a import CSG2APretrainer

    scheme = context.partition_key
    manifest = checkpoints.manifest("model_csg2a_pretrained")
    structures = core_drug_conditions.set_index("drug").drop(columns=["dose_scaled", "time_scaled"])
    pretrained = bm.Pretrained(
        checkpoints.read_files("model_csg2a_pretrained", None, "with_ppi."),
        checkpoints.read_files("model_csg2a_pretrained", None, "without_ppi."),
        np.load(checkpoints.verified_path("model_csg2a_pretrained", None, "ppi.npy"), allow_pickle=False),
    )
    data = bm.response_data(
        bm.read_gdsc_responses(file_path(raw_gdsc, "response")),
        bm.read_gdsc_expression(file_path(raw_gdsc, "expression")),
        structures,
        manifest.extra["symbols"],
    )
    n_structure = CSG2APretrainer.from_checkpoint(pretrained.with_ppi).config_.n_structure
    if structures.shape[1] != n_structure:
        raise dg.Failure(
            f"core_drug_conditions has {structures.shape[1]} structure features but the pretrained network expects "
            f"{n_structure} ({manifest.extra['structures']}): use the same structure settings for both"
        )
    settings = bm.BenchmarkSettings(
        **config.network.model_dump(),
        n_folds=config.n_folds,
        seed=compute.seed,
        validation_fraction=config.validation_fraction,
        rf_trees=config.rf_trees,
        svm_c=config.svm_c,
        device=str(compute.torch_device()),
    )
    compute.configure()
    with mlflow.start_run(context, scheme=scheme) as run:
        run.log_params(config.model_dump() | compute.describe() | {"excluded": data.excluded})
        per_fold = bm.run_benchmark(data, pretrained, [scheme], config.models, settings, n_jobs=config.n_jobs)
        means = per_fold.groupby("model")[["rmse", "pcc"]].mean()
        run.log_metrics({f"{m}.{k}": float(v) for m, row in means.iterrows() for k, v in row.items() if np.isfinite(v)})
        final = bm.FACTORIES["csg2a"](settings, data.n_genes, pretrained)
        x, y = data.arrays()
        holdout = np.random.default_rng(compute.seed).random(len(y)) < config.validation_fraction
        final.fit(x[~holdout], y[~holdout], x[holdout], y[holdout])
        checkpoints.save(
            "model_csg2a_finetuned",
            scheme,
            final.checkpoint_files(),
            mlflow_run_id=run.run_id,
            extra={"genes": manifest.extra["symbols"]},
        )
        context.add_output_metadata(
            {"rmse_pcc": dg.MetadataValue.md(means.to_markdown(floatfmt=".3f"))}
            | json_metadata(n_pairs=len(data.responses), excluded_pairs=data.excluded, n_folds=int(per_fold.fold.nunique()))
            | run.metadata()
        )
    return per_fold


@dg.asset(group_name="response", code_version="1", kinds={"pandas", "mlflow"})
def out_drug_response_benchmark(
    context: dg.AssetExecutionContext, model_csg2a_finetuned: dict[str, pd.DataFrame], mlflow: MlflowTracking
) -> pd.DataFrame:
    """Seed 003's Table 1 (RMSE and PCC, mean ± sd over folds, per scheme and model) and the ablation figure."""
    from l1k_assets.response.benchmark import summary_table

    per_fold = pd.concat(model_csg2a_finetuned.values(), ignore_index=True)
    table = summary_table(per_fold)
    rmse = per_fold.groupby(["scheme", "model"], sort=False).rmse.mean()
    figure = plots.bar_panels(
        {s: rmse.loc[s].sort_values() for s in rmse.index.unique("scheme")}, "CSG2A ablations and baselines", "RMSE (log IC50)"
    )
    with mlflow.start_run(context) as run:
        run.log_metrics({f"{s}.{m}.rmse": float(v) for (s, m), v in rmse.items()})
        context.add_output_metadata(
            {
                "table_1": dg.MetadataValue.md(table.to_markdown()),
                "ablations": image_metadata(figure, "RMSE per model and scheme"),
            }
            | run.metadata()
        )
    flat = table.copy()
    flat.columns = [f"{scheme} {metric}" for scheme, metric in flat.columns]
    return flat.reset_index()
