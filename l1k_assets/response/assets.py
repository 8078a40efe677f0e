"""Drug-response assets: GDSC, STRING and compound sources, and CSG2A pretrained on L1000 then fine-tuned to GDSC."""

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

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
    record_model,
    run_profile,
    training_run,
)
from l1k_assets.errors import DataError
from l1k_assets.genesets.gmt import read_gmt
from l1k_assets.lincs.gctx_set import GctxSet
from l1k_assets.lincs.metadata import read_clue_table
from l1k_assets.paper_sources import Sourced
from l1k_assets.partitions import GPU_POOL, GPU_TAGS, release_partitions, scheme_partitions
from l1k_assets.progress import Progress
from l1k_assets.response import settings
from l1k_assets.response.interpretation import attention_report, choose_library, drug_rows
from l1k_assets.response.patients import patient_inputs, patient_response
from l1k_assets.response.readers import read_gdsc_drugs, read_gdsc_expression, read_gdsc_identities, read_gdsc_responses
from l1k_assets.response.reversal import CANCER_TYPE_COHORTS, match_compounds, reversal_validation
from l1k_assets.response.tcga import cohort_tumors, fetch_tcga_hub, gdsc_tcga_labels, read_drug_responses
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
from resources.compute import ComputeResource
from resources.data_source import DataSource
from resources.profile import ProfiledConfig, RunProfile
from resources.tracking import MlflowTracking

if TYPE_CHECKING:
    from l1k_assets.response.training import ReusedFinal


def _fetched(context: dg.AssetExecutionContext, data_source: DataSource, urls: dict[str, str]) -> pd.DataFrame:
    return record_files(context, fetch_urls(data_source.downloader(), urls))


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


@dg.asset(group_name="response", code_version="1", kinds={"tsv"})
def raw_tcga(context: dg.AssetExecutionContext, data_source: DataSource, raw_gdsc: pd.DataFrame) -> pd.DataFrame:
    """Seed 003's patients: Ding et al.'s drug responses, Xena's probe map, and per cohort expression and phenotype.

    The cohorts are those GDSC labels its cell lines with that the response table treats;
    cohorts only the response table names are listed on the page and not fetched.
    """
    hub = fetch_tcga_hub(data_source.downloader(), data_source.base_url("tcga"), file_path(raw_gdsc, "response"))
    return record_files(context, hub.files, cohorts=hub.cohorts, cohorts_without_gdsc_lines=hub.without_gdsc_lines)


@dg.asset(group_name="response", code_version="1", kinds={"inmoose", "parquet"})
def core_patient_expression(context: dg.AssetExecutionContext, raw_tcga: pd.DataFrame, raw_gdsc: pd.DataFrame) -> pd.DataFrame:
    """TCGA primary tumors per cohort, ComBat-corrected onto GDSC's lines of that type, as robust z against GDSC."""
    inputs = patient_inputs(
        cohort_tumors(raw_tcga),
        read_gdsc_expression(file_path(raw_gdsc, "expression")),
        gdsc_tcga_labels(file_path(raw_gdsc, "response")),
    )
    for reason in inputs.skipped.values():
        context.log.warning(f"left out of the patient inputs: {reason}")
    separation = inputs.separation()
    embeddings = inputs.embeddings()
    context.add_output_metadata(
        {
            "batch_separation": markdown_table(separation),
            **{
                f"pca_{stage}": image_metadata(
                    plots.scatter_by_label(points, labels, f"GDSC and TCGA {stage} ComBat (per-cohort PCA)", ("PC1", "PC2")),
                    f"{stage} ComBat",
                )
                for stage, (points, labels) in embeddings.items()
            },
            **json_metadata(
                patients=inputs.expression.cohort.value_counts().to_dict(),
                cohorts_skipped=inputs.skipped,
                genes=inputs.expression.shape[1] - 1,
                mean_silhouette_before=float(separation.silhouette_before.mean()),
                mean_silhouette_after=float(separation.silhouette_after.mean()),
            ),
        }
    )
    return inputs.expression


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
        GctxSet.from_table(core_lincs_level3),
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


class StructureSettings(dg.Config, settings.StructureSettings):
    """The compound encoder (``response.settings.StructureSettings``)."""


@dg.asset(group_name="response", code_version="1", kinds={"rdkit", "pandas"})
def core_drug_conditions(context: dg.AssetExecutionContext, config: StructureSettings, raw_gdsc: pd.DataFrame) -> pd.DataFrame:
    """GDSC drugs: canonical SMILES by RDKit, structure features, and the fixed condition (10 µM / 100, 72 h / 72)."""
    from l1k_assets.response.conditions import GDSC_DOSE_UM, GDSC_TIME_H, scale_conditions
    from l1k_assets.response.readers import read_gdsc_smiles
    from l1k_assets.response.training import structure_features

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


class NetworkSettings(dg.Config, settings.NetworkSettings):
    """CSG2A sizes and training (``response.settings.NetworkSettings``): demo defaults, ``paper`` full size."""


class PretrainSettings(dg.Config, settings.PretrainSettings):
    """Pretraining (``response.settings.PretrainSettings``): releases, the PPI threshold, a pair sample, the network."""

    structures: StructureSettings = Field(default_factory=StructureSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)


@dg.asset(
    group_name="response",
    code_version="2",
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
    profile: RunProfile,
) -> pd.DataFrame:
    """CSG2A pretrained on the configured releases' pairs to predict perturbed from basal profiles, with and without A_PPI."""
    from l1k_assets.response.training import pretrain_csg2a

    config = profile.apply(config)
    perturbagens = pd.concat(core_lincs_signatures.values()).drop_duplicates("pert_id").set_index("pert_id")
    symbols = dict(zip(core_landmark_genes.gene_id.astype(str), core_landmark_genes.gene_symbol, strict=True))
    with training_run(context, mlflow, profile, config, compute) as run:
        sink = progress_sink(context, run)
        progress = Progress("pretraining", 2, sink, budget_seconds=config.time_budget_seconds)
        string_files = (file_path(raw_ppi, "links"), file_path(raw_ppi, "info"))
        result = pretrain_csg2a(core_pretraining_pairs, perturbagens, symbols, string_files, config, compute.setup(), progress)
        return record_model(context, run, checkpoints, profile, config, result).output


class FinetuneSettings(dg.Config, settings.FinetuneSettings):
    """Cross-validation in one split scheme and the final CSG2A (``response.settings.FinetuneSettings``)."""

    network: NetworkSettings = Field(default_factory=NetworkSettings)


def _reusable_final(checkpoints: CheckpointStore, asset: str, scheme: str) -> Callable[[str], "ReusedFinal | None"]:
    """A lookup of a sibling scheme's final CSG2A by fingerprint (the same pairs and settings make the same model)."""

    from l1k_assets.response.training import ReusedFinal

    def lookup(fingerprint: str) -> ReusedFinal | None:
        for other in scheme_partitions.get_partition_keys():
            if other == scheme:
                continue
            try:
                manifest = checkpoints.manifest(asset, other)
            except DataError:  # that scheme has no checkpoint yet
                continue
            if manifest.extra.get("final_fingerprint") == fingerprint:
                return ReusedFinal(other, checkpoints.read_files(asset, other), bool(manifest.extra["final_stopped"]))
        return None

    return lookup


@dg.asset(
    partitions_def=scheme_partitions,
    group_name="response",
    code_version="2",
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
    profile: RunProfile,
) -> pd.DataFrame:
    """Per-fold RMSE and PCC of CSG2A (pretrained, frozen), its ablations and the baselines in one split scheme."""
    from l1k_assets.response.training import finetune_csg2a, gdsc_response_data, load_pretrained

    config = profile.apply(config)
    scheme, asset = context.partition_key, context.asset_key.to_user_string()
    pretrained_asset = model_csg2a_pretrained.key.to_user_string()
    manifest = checkpoints.manifest(pretrained_asset)
    pretrained = load_pretrained(checkpoints.read_files(pretrained_asset, None))
    gdsc = (file_path(raw_gdsc, "response"), file_path(raw_gdsc, "expression"))
    data = gdsc_response_data(*gdsc, core_drug_conditions, manifest.extra["symbols"])
    with training_run(context, mlflow, profile, config, compute, scheme=scheme) as run:
        result = finetune_csg2a(
            scheme,
            data,
            pretrained,
            manifest.files,
            config,
            compute.setup(),
            Progress("finetuning", sink=progress_sink(context, run)),
            reusable=_reusable_final(checkpoints, asset, scheme),
            rf_jobs=compute.threads or -1,  # -1: every core; the forest is the one baseline that spreads over them
        )
        if result.final_trained_in != scheme:
            context.log.info(f"final CSG2A: the same model as scheme {result.final_trained_in}'s (same pairs and settings)")
        return record_model(context, run, checkpoints, profile, config, result).output


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


class PatientResponseSettings(ProfiledConfig):
    """Which fine-tuned model predicts the patients, how responders are compared, and the significance level.

    l1k compares responders with non-responders of the same cancer type (predictions centred
    per type and drug), so a type that holds more responders by chance is not credited;
    seed 003 pools the types, which the paper profile does.
    """

    scheme: str = Field("mixed", description="the split scheme whose final CSG2A predicts (seed 003: the mixed set)")
    alpha: float = Field(0.05, description="one-sided p-value below which a drug's responders count as separated")
    within_cancer_type: bool = Field(True, description="centre predictions per cancer type and drug before the test")
    min_per_class: int = Field(11, description="responders and non-responders a drug needs to be tested")
    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {
        "within_cancer_type": Sourced(
            False, "seed 003 §4.5: a one-sided t-test per drug over the patients of every cancer type given it"
        ),
        "min_per_class": Sourced(11, "seed 003 §4.5: '13 drugs with over 10 responders and non-responders each'"),
    }


@dg.asset(group_name="response", code_version="1", kinds={"pytorch", "scipy"}, deps=[model_csg2a_finetuned])
def out_patient_response(
    context: dg.AssetExecutionContext,
    config: PatientResponseSettings,
    core_patient_expression: pd.DataFrame,
    core_drug_conditions: pd.DataFrame,
    raw_tcga: pd.DataFrame,
    raw_gdsc: pd.DataFrame,
    checkpoints: CheckpointStore,
    profile: RunProfile,
) -> pd.DataFrame:
    """Seed 003's patient validation: each treated patient's predicted ln IC50, and per drug a one-sided t-test of
    responders (complete or partial response) against non-responders, with Cohen's d and a box plot."""
    from l1k_assets.response.training import final_model

    config = profile.apply(config)
    asset = model_csg2a_finetuned.key.to_user_string()
    manifest = checkpoints.manifest(asset, config.scheme)
    model = final_model(checkpoints.read_files(asset, config.scheme))
    structures = core_drug_conditions.set_index("drug").drop(columns=["dose_scaled", "time_scaled"])
    result = patient_response(
        model,
        manifest.extra["genes"],
        core_patient_expression,
        read_drug_responses(file_path(raw_tcga, "responses")),
        read_gdsc_drugs(file_path(raw_gdsc, "response")).name,
        structures.set_axis(structures.index.astype(str)),
        config.within_cancer_type,
        config.min_per_class,
    )
    for group in result.one_class:
        context.log.warning(f"{group}: every treated patient is in one response class; it adds to the drug's test only")
    significant = result.significant(config.alpha)
    context.add_output_metadata(
        {
            "responder_tests": markdown_table(result.tests),
            "predictions_by_response": image_metadata(
                plots.box_panels(result.boxes(), "Predicted ln IC50 by clinical response", "predicted ln IC50"), "box plots"
            ),
            **json_metadata(
                drugs_tested=int(result.tests.p_one_sided.notna().sum()),
                drugs_significant=len(significant),
                significant_drugs=significant,
                drugs_not_in_gdsc=result.drugs_not_in_gdsc,
                one_class_groups=result.one_class,
                model=f"{asset}[{config.scheme}]",
                model_mlflow_run=manifest.mlflow_run_id,
                run_profile=run_profile(profile, config),
            ),
        }
    )
    return result.predictions


class AttentionSettings(ProfiledConfig):
    """Which model and drugs are interpreted, the gene-set library, and the sizes of the comparisons.

    Seed 003 maps every drug and tests the top 1,000 pairs against WikiPathways (add its GMT to
    ``raw_gene_sets`` and set ``library: wikipathways``); offline the default is Reactome. The
    demo maps the 12 drugs with the most cell lines, to keep the main job inside its budget.
    """

    scheme: str = Field("mixed", description="the split scheme whose final CSG2A is interpreted")
    library: str = Field("reactome", description="gene-set library (a substring of its file name; seed 003: wikipathways)")
    n_pairs: int = Field(
        100, description="top gene pairs per drug tested for enrichment (seed 003: 1,000 of its 978 genes' 478,000 pairs)"
    )
    max_drugs: int | None = Field(12, description="drugs mapped, those with the most cell lines first; none = all")
    min_lines: int = Field(8, description="cell lines a drug needs to be mapped")
    quantile: float = Field(0.25, description="share of lines in the sensitive and in the resistant group")
    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {
        "max_drugs": Sourced(None, "seed 003 §4.3–4.4: a map per drug, correlated across every drug pair"),
        "n_pairs": Sourced(1000, "seed 003 §4.3: 'we extracted the top 1000 gene pairs with the highest pairwise attention'"),
    }


@dg.asset(group_name="response", code_version="1", kinds={"pytorch", "gseapy"}, deps=[model_csg2a_finetuned])
def out_attention_interpretation(
    context: dg.AssetExecutionContext,
    config: AttentionSettings,
    core_drug_conditions: pd.DataFrame,
    raw_gdsc: pd.DataFrame,
    raw_gene_sets: pd.DataFrame,
    checkpoints: CheckpointStore,
    profile: RunProfile,
) -> pd.DataFrame:
    """Seed 003's interpretation: per-drug mean attention, its top pairs' pathways, same- vs different-MoA map
    correlation with and without the PPI prior, and sensitive vs resistant lines' predicted perturbed profiles."""
    from l1k_assets.response.training import FINAL_MODELS, final_model, gdsc_response_data

    config = profile.apply(config)
    asset = model_csg2a_finetuned.key.to_user_string()
    manifest = checkpoints.manifest(asset, config.scheme)
    files = checkpoints.read_files(asset, config.scheme)
    models = {kind: final_model(files, name) for kind, name in FINAL_MODELS.items()}
    genes = manifest.extra["genes"]
    data = gdsc_response_data(file_path(raw_gdsc, "response"), file_path(raw_gdsc, "expression"), core_drug_conditions, genes)
    counts = data.responses.drug.value_counts()
    chosen = counts.index[: config.max_drugs].tolist() if config.max_drugs else None
    gdsc = read_gdsc_drugs(file_path(raw_gdsc, "response"))
    libraries = choose_library({row.role: read_gmt(row.path) for row in raw_gene_sets.itertuples()}, config.library)
    report = attention_report(
        models,
        drug_rows(data, chosen, config.min_lines),
        genes,
        gdsc.pathway.to_dict(),
        libraries,
        n_pairs=config.n_pairs,
        quantile=config.quantile,
    )
    best = report.best_terms()
    context.add_output_metadata(
        {
            "moa_correlation": markdown_table(report.moa.reset_index()),
            "sensitive_vs_resistant": markdown_table(report.perturbation),
            "enriched_terms": markdown_table(best.assign(drug=best.drug.map(gdsc.name))),
            **json_metadata(
                drugs=len(report.perturbation),
                drugs_with_enriched_terms=int(best.drug.nunique()),
                **report.moa_figures(),
                model=f"{asset}[{config.scheme}]",
                run_profile=run_profile(profile, config),
            ),
        }
    )
    return report.top_pairs.assign(drug_name=report.top_pairs.drug.map(gdsc.name))


class ReversalValidationSettings(dg.Config):
    """Which cell lines stand for each cancer type, how many are needed, and the permutation test's size."""

    cancer_types: dict[str, str] = Field(
        default_factory=lambda: dict(CANCER_TYPE_COHORTS), description="l1k cancer type → TCGA cohort of GDSC's TCGA_DESC"
    )
    min_lines: int = Field(3, description="cell lines of a type a drug needs to have a relative sensitivity there")
    min_compounds: int = Field(5, description="matched compounds a cancer type needs to be tested")
    permutations: int = Field(2000, description="permutations of the one-sided Spearman test")


@dg.asset(partitions_def=release_partitions, group_name="response", code_version="1", kinds={"scipy"})
def out_reversal_validation(
    context: dg.AssetExecutionContext,
    config: ReversalValidationSettings,
    out_connectivity_scores: pd.DataFrame,
    raw_gdsc: pd.DataFrame,
    raw_compounds: pd.DataFrame,
) -> pd.DataFrame:
    """Reversal scores per cancer type against GDSC sensitivity in that type's cell lines (Spearman, permutation p)."""
    samples = read_clue_table(file_path(raw_compounds, "samples"), ["pert_iname", "pubchem_cid"])
    identities = read_gdsc_identities(file_path(raw_gdsc, "compounds"), file_path(raw_gdsc, "smiles"))
    matches = match_compounds(identities, samples.rename(columns={"pubchem_cid": "pubchem"}).fillna(""))
    pairs, table = reversal_validation(
        out_connectivity_scores,
        read_gdsc_responses(file_path(raw_gdsc, "response")),
        gdsc_tcga_labels(file_path(raw_gdsc, "response")),
        matches,
        config.cancer_types,
        min_lines=config.min_lines,
        min_compounds=config.min_compounds,
        permutations=config.permutations,
    )
    pooled = table[table.cancer_type.str.startswith("pooled")].set_index("labels")
    points = np.column_stack([pairs.score, -pairs.relative_ln_ic50])
    axes = ("reversal score (τ; positive: toward normal)", "sensitivity in the type's lines (−relative ln IC50)")
    context.add_output_metadata(
        {
            "correlations": markdown_table(table.set_index(["labels", "cancer_type"])),
            "reversal_vs_sensitivity": image_metadata(
                plots.scatter_by_label(points, pairs.cancer_type, "Reversal against GDSC sensitivity", axes), "scatter"
            ),
            **json_metadata(
                matched_drugs=matches.matched_by.value_counts().to_dict(),
                pairs=len(pairs),
                pooled_spearman=float(pooled.spearman["GDSC"]),
                pooled_p_permutation=float(pooled.p_permutation["GDSC"]),
                shuffled_labels_spearman=float(pooled.spearman["shuffled"]),
            ),
        }
    )
    return pairs
