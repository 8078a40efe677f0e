"""Indication assets (method 1): deltas, exploration, the calibrated classifier, genes, compound scores."""

from collections.abc import Iterator
from typing import ClassVar

import dagster as dg
import pandas as pd
from pydantic import Field

from l1k_assets import plots
from l1k_assets.asset_utils import (
    blocking,
    check_result,
    file_path,
    image_metadata,
    json_metadata,
    markdown_table,
    progress_sink,
    record_model,
    run_profile,
    training_run,
)
from l1k_assets.genesets.enrichment import enrich, enrichment_background
from l1k_assets.genesets.gmt import read_gmt
from l1k_assets.indication import compounds as cmp
from l1k_assets.indication.classifier import CalibratedForest, ClassifierConfig
from l1k_assets.indication.deltas import consensus_deltas, consensus_query, gene_columns, tumor_normal_deltas
from l1k_assets.indication.exploration import explore
from l1k_assets.indication.genes import class_contrast, gene_set_clustering, gene_table, top_genes_per_class
from l1k_assets.indication.scoring import stream_probabilities
from l1k_assets.indication.training import MODEL_FILE, PermutationConfig, train_indication_classifier
from l1k_assets.landmarks import DEFAULT_MIN_SHARE, check_min_share
from l1k_assets.lincs.gctx_set import GctxSet
from l1k_assets.lincs.metadata import read_moa_table
from l1k_assets.paper_sources import NO_BUDGET, Sourced
from l1k_assets.partitions import release_partitions
from l1k_assets.progress import Progress
from l1k_assets.quality import class_counts, metric_floor, no_missing_values, probability_rows
from l1k_assets.search.rank_index import RankIndex
from l1k_assets.search.reference_null import ReferenceNull
from l1k_assets.search.session import compound_connectivity
from resources.checkpoints import CheckpointManifest, CheckpointStore
from resources.profile import ProfiledConfig, RunProfile
from resources.tracking import MlflowTracking

GROUP = "indication"
# Scores follow their inputs: a new classifier or a new/changed release re-scores the release.
REFRESH = dg.AutomationCondition.eager()


class DeltaChecks(dg.Config):
    """Minimum pairs per cancer type (the classifier's outer CV folds)."""

    min_pairs_per_type: int = 5


@dg.asset(
    group_name=GROUP,
    code_version="1",
    kinds={"pandas", "parquet"},
    check_specs=blocking("core_tumor_normal_deltas", "no_missing_values", "class_counts"),
)
def core_tumor_normal_deltas(
    context: dg.AssetExecutionContext, config: DeltaChecks, core_tumor_normal_samples: pd.DataFrame
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """normal − tumor per pair on plain log2 landmark values, all cohorts, with cancer type, cohort and patient."""
    deltas = tumor_normal_deltas(core_tumor_normal_samples)
    counts = deltas.groupby("cancer_type").size()
    yield dg.Output(
        deltas,
        metadata={
            "pairs_per_cancer_type": markdown_table(counts.to_frame("pairs")),
            **json_metadata(n_genes=len(gene_columns(deltas))),
        },
    )
    yield check_result("no_missing_values", no_missing_values(deltas, gene_columns(deltas)))
    yield check_result("class_counts", class_counts(deltas.cancer_type, config.min_pairs_per_type))


SEED_000_GRID = "l1k's grid: seed 000 §3.4 tunes 'tree number, depth, and split/leaf constraints' without values"
PERMUTATION_ADDED = "l1k's addition: seed 000 §3.5 reports 'model-based importance scores' (impurity, shown beside)"


class ExplorationSettings(ProfiledConfig):
    """Random starts of the k-means clusterings (most of the cost besides UMAP's one-off compilation)."""

    n_init: int = 3

    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {
        "n_init": Sourced(10, "l1k's choice: seed 000 §4.2 names k-means (Euclidean, Manhattan) but not its starts"),
    }


@dg.asset(group_name=GROUP, code_version="2", kinds={"sklearn", "umap"})
def out_delta_exploration(
    context: dg.AssetExecutionContext, config: ExplorationSettings, core_tumor_normal_deltas: pd.DataFrame, profile: RunProfile
) -> pd.DataFrame:
    """PCA, UMAP and k-means (Euclidean, Manhattan) / Ward clusterings scored by ARI and silhouette against cancer type."""
    config = profile.apply(config)
    genes = gene_columns(core_tumor_normal_deltas)
    types = core_tumor_normal_deltas.cancer_type
    result = explore(core_tumor_normal_deltas[genes].to_numpy(), genes, types.to_numpy(), n_init=config.n_init)
    variance = result.variance_explained
    context.add_output_metadata(
        {
            "pca_plot": image_metadata(
                plots.scatter_by_label(
                    result.pca_points, types, "Deltas: PCA", (f"PC1 ({variance.iloc[0]:.1%})", f"PC2 ({variance.iloc[1]:.1%})")
                ),
                "PCA",
            ),
            "umap_plot": image_metadata(
                plots.scatter_by_label(result.umap_points, types, "Deltas: UMAP", ("UMAP1", "UMAP2")), "UMAP"
            ),
            "variance_explained": markdown_table(variance.to_frame("ratio")),
            "top_loadings": dg.MetadataValue.md(result.top_loadings.to_markdown(index=False)),
            "clustering": dg.MetadataValue.md(result.clustering.to_markdown(index=False)),
            **json_metadata(
                pc1_variance=float(variance.iloc[0]),
                pc2_variance=float(variance.iloc[1]),
                run_profile=run_profile(profile, config),
            ),
        }
    )
    table = result.clustering.copy()
    for i in range(2):
        table[f"pc{i + 1}_variance"] = float(variance.iloc[i])
    return table


class ClassifierSettings(ProfiledConfig):
    """Nested-CV search space and protocol: demo defaults sized for 2 cores, seed 000's search under ``paper``.

    Demo fits 100-tree forests over a 2-point inner grid and takes the final model's
    parameters from the outer folds' choices instead of searching again; ``paper`` searches
    trees, depth and split/leaf limits (24 points) and refits the final search on all pairs.
    """

    n_estimators: list[int] = Field(default_factory=lambda: [100])
    max_depth: list[int] = Field(default_factory=lambda: [0], description="0 means unlimited depth")
    min_samples_split: list[int] = Field(default_factory=lambda: [2])
    min_samples_leaf: list[int] = Field(default_factory=lambda: [1, 3])
    outer_folds: int = 5
    inner_folds: int = 3
    calibration_folds: int = 3
    final_search: bool = Field(False, description="search the grid again on all pairs for the final model, else the folds' vote")
    leave_one_cohort_out: bool = True
    n_jobs: int = 2
    seed: int = 0
    time_budget_seconds: float | None = Field(
        45.0,
        description="wall clock for nested CV, leave-one-cohort-out and the held-out permutations; no new outer fold, "
        "cohort or permuted fold starts after it",
    )
    balanced_accuracy_floor: float = Field(0.8, description="blocking check: nested-CV balanced accuracy must reach this")
    permutation_top_k: int = Field(
        60, description="held-out permutation importance for the k genes highest by impurity (0 = all)"
    )
    permutation_repeats: int = 2

    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {
        "n_estimators": Sourced([200, 500], f"{SEED_000_GRID}: tree number"),
        "max_depth": Sourced([0, 12, 24], f"{SEED_000_GRID}: depth"),
        "min_samples_split": Sourced([2, 6], f"{SEED_000_GRID}: split constraint"),
        "min_samples_leaf": Sourced([1, 3], f"{SEED_000_GRID}: leaf constraint"),
        "final_search": Sourced(True, "l1k's reading of seed 000 §3.4: the final model tuned like every outer fold"),
        "time_budget_seconds": NO_BUDGET,
        "permutation_top_k": Sourced(0, PERMUTATION_ADDED),
        "permutation_repeats": Sourced(5, PERMUTATION_ADDED),
    }

    def protocol(self) -> ClassifierConfig:
        return ClassifierConfig(
            n_estimators=tuple(self.n_estimators),
            max_depth=tuple(d or None for d in self.max_depth),
            min_samples_split=tuple(self.min_samples_split),
            min_samples_leaf=tuple(self.min_samples_leaf),
            outer_folds=self.outer_folds,
            inner_folds=self.inner_folds,
            calibration_folds=self.calibration_folds,
            seed=self.seed,
            n_jobs=self.n_jobs,
        )

    def permutation(self) -> PermutationConfig:
        return PermutationConfig(self.permutation_top_k, self.permutation_repeats, self.seed)


@dg.asset(
    group_name=GROUP,
    code_version="3",
    kinds={"sklearn", "mlflow"},
    check_specs=blocking("model_indication_classifier", "balanced_accuracy_floor"),
)
def model_indication_classifier(
    context: dg.AssetExecutionContext,
    config: ClassifierSettings,
    core_tumor_normal_deltas: pd.DataFrame,
    checkpoints: CheckpointStore,
    mlflow: MlflowTracking,
    profile: RunProfile,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Calibrated random forest for cancer type: nested CV estimate, leave-one-cohort-out estimate, final refit.

    Returns one row per outer fold (and 'pooled') with the metrics; the refit model is a checkpoint.
    Outer folds, their inner grids and the held-out cohorts report progress as they finish.
    """
    config = profile.apply(config)
    with training_run(context, mlflow, profile, config) as run:
        sink = progress_sink(context, run)
        progress = Progress("indication classifier", sink=sink, budget_seconds=config.time_budget_seconds)
        report = train_indication_classifier(
            core_tumor_normal_deltas,
            config.protocol(),
            progress,
            final_search=config.final_search,
            loco=config.leave_one_cohort_out,
            permutation=config.permutation(),
        )
        record = record_model(context, run, checkpoints, profile, config, report)
    yield dg.Output(record.output)
    floor = metric_floor(record.metrics["balanced_accuracy_mean"], config.balanced_accuracy_floor, "balanced_accuracy")
    yield check_result("balanced_accuracy_floor", floor)


def load_classifier(checkpoints: CheckpointStore) -> tuple[CalibratedForest, CheckpointManifest]:
    """The refit calibrated forest (skops, verified against its sha256) and its manifest."""
    asset = model_indication_classifier.key.to_user_string()
    manifest = checkpoints.manifest(asset, None)
    extra = manifest.extra
    model = checkpoints.load(asset, None, MODEL_FILE)
    return CalibratedForest(model, extra["params"], extra["calibration"], extra.get("inner_scores", {})), manifest


@dg.asset(group_name=GROUP, code_version="3", kinds={"sklearn"}, deps=[model_indication_classifier])
def out_indication_genes(
    context: dg.AssetExecutionContext,
    core_tumor_normal_deltas: pd.DataFrame,
    checkpoints: CheckpointStore,
) -> pd.DataFrame:
    """Impurity and held-out permutation importances of every gene, its rank, and the class each gene separates best."""
    forest, manifest = load_classifier(checkpoints)
    table = gene_table(core_tumor_normal_deltas, forest.model, manifest.extra["genes"], manifest.extra["held_out_permutation"])
    figure_6, trees = gene_set_clustering(core_tumor_normal_deltas, table.index.tolist())
    labels = core_tumor_normal_deltas.cancer_type.astype(str).to_numpy()
    context.add_output_metadata(
        {
            "top_genes": dg.MetadataValue.md(table.head(25).to_markdown(floatfmt=".4f")),
            "figure_6": markdown_table(figure_6),
            "figure_6_plot": image_metadata(plots.dendrogram_panels(trees, labels, "Ward clustering of the pairs"), "Figure 6"),
            **json_metadata(
                n_genes=len(table),
                n_permuted=int(table.permutation.notna().sum()),
                permutation_folds=int(table.permutation_folds.max()),
                classifier_mlflow_run=manifest.mlflow_run_id,
            ),
        }
    )
    return table


class EnrichmentSettings(ProfiledConfig):
    """How many genes go into enrichment, overall and per cancer type, and against which background.

    ``measured`` (the demo's) tests within the genes the classifier could choose from, the
    landmarks, so a pathway is not enriched merely for having landmarks in it; ``library`` is
    Enrichr's universe, every gene of the libraries (seed 000 ran Enrichr through gseapy).
    """

    n_top_genes: int = 100
    n_top_per_type: int = 25
    fdr_threshold: float = 0.05
    background: str = Field("measured", description="measured (the classifier's genes) or library (every library gene)")
    PAPER_SOURCES: ClassVar[dict[str, Sourced]] = {
        "background": Sourced("library", "seed 000 §3.5: 'over-representation analysis (Enrichr via GSEAp)', genome-wide"),
    }


@dg.asset(group_name=GROUP, code_version="2", kinds={"gseapy"})
def out_indication_enrichment(
    context: dg.AssetExecutionContext,
    config: EnrichmentSettings,
    out_indication_genes: pd.DataFrame,
    core_tumor_normal_deltas: pd.DataFrame,
    raw_gene_sets: pd.DataFrame,
    profile: RunProfile,
) -> pd.DataFrame:
    """Over-representation (gseapy, BH FDR) of the top genes overall and of each cancer type's top genes."""
    config = profile.apply(config)
    genes = out_indication_genes.index.tolist()
    libraries = {row.role: read_gmt(row.path) for row in raw_gene_sets.itertuples()}
    background = enrichment_background(genes, libraries, config.background)
    importance = out_indication_genes.impurity
    queries = {"all": importance.nlargest(config.n_top_genes).index.tolist()}
    per_type = top_genes_per_class(importance, class_contrast(core_tumor_normal_deltas, genes), config.n_top_per_type)
    queries.update(per_type)
    frames = [enrich(query, libraries, background).assign(query=name) for name, query in queries.items()]
    table = pd.concat(frames, ignore_index=True)
    significant = table[table.fdr < config.fdr_threshold]
    best = significant.sort_values("fdr").groupby("query").head(3)[["query", "library", "term", "overlap", "fdr"]]
    context.add_output_metadata(
        {
            "significant_terms": dg.MetadataValue.md(best.to_markdown(index=False, floatfmt=".2e")),
            **json_metadata(
                n_significant=len(significant),
                libraries=list(libraries),
                background=config.background,
                background_genes=len(background),
                run_profile=run_profile(profile, config),
            ),
        }
    )
    return table


class ScoringSettings(dg.Config):
    """Streaming and missing-gene policy for scoring signatures."""

    chunk_size: int = 20_000
    imputation: str = Field("none", description="'none': missing classifier genes are an error; 'zero': score them as z = 0")
    min_landmark_share: float = Field(DEFAULT_MIN_SHARE, description="with imputation 'zero', the share of genes still needed")


@dg.asset(
    partitions_def=release_partitions,
    group_name=GROUP,
    code_version="1",
    kinds={"sklearn", "mlflow"},
    deps=[model_indication_classifier],
    check_specs=blocking("out_signature_class_probabilities", "probability_rows"),
    automation_condition=REFRESH,
)
def out_signature_class_probabilities(
    context: dg.AssetExecutionContext,
    config: ScoringSettings,
    core_lincs_level5: pd.DataFrame,
    core_lincs_genes: pd.DataFrame,
    checkpoints: CheckpointStore,
    mlflow: MlflowTracking,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Every level-5 signature's cancer-type probabilities, streamed from the GCTX chunk by chunk (progress per chunk)."""
    if config.imputation not in ("none", "zero"):
        raise dg.Failure(f"imputation must be 'none' or 'zero', got {config.imputation!r}")
    forest, manifest = load_classifier(checkpoints)
    level5 = GctxSet.from_table(core_lincs_level5)
    with mlflow.start_run(context) as run:
        run.log_params({**config.model_dump(), "classifier_mlflow_run": manifest.mlflow_run_id})
        progress = Progress("scoring · chunk", level5.n_chunks(config.chunk_size), progress_sink(context, run))
        blocks = stream_probabilities(
            level5,
            forest.predict_proba,
            forest.classes,
            manifest.extra["genes"],
            core_lincs_genes,
            config.chunk_size,
            config.imputation,
            progress,
            check_min_share(config.min_landmark_share),
        )
        table = pd.concat(list(blocks))
        run.log_metrics({"n_signatures": float(len(table)), "seconds": progress.elapsed})
        run_metadata = run.metadata()
    metadata = {
        **json_metadata(
            n_signatures=len(table),
            mean_probability=table.mean().round(4).to_dict(),
            classifier_checkpoint_sha256=manifest.files[MODEL_FILE],
            classifier_mlflow_run=manifest.mlflow_run_id,
            classifier_profile=manifest.extra.get("profile"),
        ),
        **run_metadata,
    }
    yield dg.Output(table, metadata=metadata)
    yield check_result("probability_rows", probability_rows(table))


class CompoundScoreSettings(dg.Config):
    """Which signatures count as compounds (controls are never ranked)."""

    pert_types: list[str] = Field(
        default_factory=lambda: list(cmp.COMPOUNDS), description="perturbagen types scored as compounds"
    )


@dg.asset(partitions_def=release_partitions, group_name=GROUP, code_version="2", kinds={"pandas"}, automation_condition=REFRESH)
def out_compound_scores(
    context: dg.AssetExecutionContext,
    config: CompoundScoreSettings,
    out_signature_class_probabilities: pd.DataFrame,
    core_lincs_signatures: pd.DataFrame,
    raw_compounds: pd.DataFrame,
) -> pd.DataFrame:
    """Per compound × cancer type: best shot, median, trimmed mean, support, ranks; MoA scores and shortlists in metadata.

    Only compound signatures (``trt_cp`` by default) are scored: a release's shRNA, ORF,
    CRISPR and control signatures are never ranked as drugs (see ``out_genetic_scores``).
    """
    classes = list(out_signature_class_probabilities.columns)
    scores = cmp.perturbagen_scores(out_signature_class_probabilities, core_lincs_signatures, classes, config.pert_types)
    for aggregate in cmp.AGGREGATES:
        scores[f"rank_{aggregate}"] = cmp.rank_within_type(scores, aggregate)
    moa = cmp.moa_scores(scores, read_moa_table(file_path(raw_compounds, "drugs")))
    figure_8 = plots.bar_panels(
        cmp.top_compounds_matrix(scores, "best_shot"),
        "Top 5 compounds per cancer type (best shot, seed 000 Fig. 8)",
        "probability",
    )
    by_median = plots.bar_panels(
        cmp.top_compounds_matrix(scores, "median"), "Top 5 compounds per cancer type (median rule)", "probability"
    )
    left_out = core_lincs_signatures.pert_type[~core_lincs_signatures.pert_type.isin(config.pert_types)].value_counts()
    context.add_output_metadata(
        {
            "shortlist_median": dg.MetadataValue.md(cmp.shortlist(scores, "median", 5).to_markdown(index=False, floatfmt=".3f")),
            "shortlist_best_shot": dg.MetadataValue.md(
                cmp.shortlist(scores, "best_shot", 5).to_markdown(index=False, floatfmt=".3f")
            ),
            "moa_scores": dg.MetadataValue.md(moa.groupby("cancer_type").head(3).to_markdown(index=False, floatfmt=".3f")),
            "figure_8_best_shot": image_metadata(figure_8, "top compounds by best shot (the paper's rule)"),
            "top5_per_type_median": image_metadata(by_median, "top compounds by the median rule"),
            **json_metadata(
                n_compounds=int(scores.pert_id.nunique()), pert_types=config.pert_types, signatures_not_scored=left_out.to_dict()
            ),
        }
    )
    return scores


class GeneticScoreSettings(dg.Config):
    """Which genetic perturbagen types get per-target-gene scores."""

    pert_types: list[str] = Field(default_factory=lambda: list(cmp.GENETIC), description="trt_sh, trt_xpr, trt_oe")


@dg.asset(partitions_def=release_partitions, group_name=GROUP, code_version="1", kinds={"pandas"}, automation_condition=REFRESH)
def out_genetic_scores(
    context: dg.AssetExecutionContext,
    config: GeneticScoreSettings,
    out_signature_class_probabilities: pd.DataFrame,
    core_lincs_signatures: pd.DataFrame,
) -> pd.DataFrame:
    """Per target gene × perturbagen type × cancer type: how much knocking it down, out or over-expressing it
    reverses each tumor type (the classifier's probabilities, aggregated over hairpins, guides or ORFs).

    A release without genetic perturbagens gives an empty table.
    """
    classes = list(out_signature_class_probabilities.columns)
    scores = cmp.perturbagen_scores(
        out_signature_class_probabilities, core_lincs_signatures, classes, config.pert_types, "pert_iname"
    )
    for aggregate in cmp.AGGREGATES:
        scores[f"rank_{aggregate}"] = cmp.rank_within_type(scores, aggregate) if len(scores) else pd.Series(dtype=int)
    shown = cmp.shortlist(scores, "median", 3) if len(scores) else pd.DataFrame()
    context.add_output_metadata(
        {
            "shortlist_median": dg.MetadataValue.md(shown.to_markdown(index=False, floatfmt=".3f") if len(shown) else "none"),
            **json_metadata(
                n_genes=int(scores.pert_iname.nunique()) if len(scores) else 0,
                per_type=scores.groupby("pert_type").pert_iname.nunique().to_dict() if len(scores) else {},
            ),
        }
    )
    return scores


class ConsensusSettings(dg.Config):
    """Genes per direction in each cancer type's consensus query (as in out_connectivity_scores)."""

    n_query_genes: int = 50


@dg.asset(group_name=GROUP, code_version="1", kinds={"pandas"})
def out_consensus_queries(
    context: dg.AssetExecutionContext, config: ConsensusSettings, core_tumor_normal_deltas: pd.DataFrame
) -> pd.DataFrame:
    """Each cancer type's disease signature by name: up = genes higher in tumor than normal, down = lower.

    Queried the CMap way, compounds whose signatures anti-correlate with it (negative WTCS,
    ``direction="reverse"``) are candidate reversers; ``out_connectivity_scores`` reads the same
    consensus with the opposite sign (normal − tumor), where reversers score positive.
    """
    consensus = consensus_deltas(core_tumor_normal_deltas)
    rows = []
    for cancer_type in consensus.index:
        down, up = consensus_query(consensus.loc[cancer_type], config.n_query_genes)  # deltas are normal − tumor
        rows += [{"cancer_type": cancer_type, "direction": "up", "rank": i + 1, "gene_symbol": g} for i, g in enumerate(up)]
        rows += [{"cancer_type": cancer_type, "direction": "down", "rank": i + 1, "gene_symbol": g} for i, g in enumerate(down)]
    table = pd.DataFrame(rows)
    context.add_output_metadata(json_metadata(cancer_types=consensus.index.tolist(), genes_per_direction=config.n_query_genes))
    return table


class ConnectivitySettings(dg.Config):
    """Query size of each cancer type's consensus reversal query."""

    n_query_genes: int = 50


@dg.asset(partitions_def=release_partitions, group_name=GROUP, code_version="2", kinds={"numpy"}, automation_condition=REFRESH)
def out_connectivity_scores(
    context: dg.AssetExecutionContext,
    config: ConnectivitySettings,
    core_tumor_normal_deltas: pd.DataFrame,
    core_signature_ranks: pd.DataFrame,
    core_lincs_genes: pd.DataFrame,
    core_lincs_signatures: pd.DataFrame,
    core_reference_null: pd.DataFrame,
) -> pd.DataFrame:
    """WTCS, NCS and τ of every signature against each cancer type's consensus reversal query, per compound.

    The query is the type's mean normal − tumor delta (up = genes higher in normal), so a
    compound that pushes a tumor towards normal scores positive. Scores come from the
    release's rank index and τ from its reference null, exactly as ``l1k query`` computes them.
    """
    consensus = consensus_deltas(core_tumor_normal_deltas)
    symbol_to_id = core_lincs_genes.drop_duplicates("gene_symbol").set_index("gene_symbol").gene_id.astype(str)
    consensus = consensus.loc[:, [g for g in consensus.columns if g in symbol_to_id.index]]
    consensus.columns = symbol_to_id.loc[consensus.columns].to_numpy()
    null = ReferenceNull.from_table(core_reference_null)
    progress = Progress("connectivity · cancer type", len(consensus.index), progress_sink(context))
    frames = []
    with RankIndex(core_signature_ranks.path.iloc[0]) as index:
        for step, cancer_type in enumerate(consensus.index, start=1):
            up, down = consensus_query(consensus.loc[cancer_type], config.n_query_genes)
            per_compound = compound_connectivity(index, core_lincs_signatures, up, down, null)
            frames.append(per_compound.assign(cancer_type=cancer_type))
            progress.update(step)
    out = pd.concat(frames, ignore_index=True)
    out["rank_wtcs_median"] = out.groupby("cancer_type").wtcs_median.rank(ascending=False, method="min").astype(int)
    out["rank_tau"] = out.groupby("cancer_type").tau.rank(ascending=False, method="min").astype("Int64")
    top = out[out.rank_tau <= 5].sort_values(["cancer_type", "rank_tau"])
    context.add_output_metadata(
        {
            "shortlist_tau": dg.MetadataValue.md(top.to_markdown(index=False, floatfmt=".3f")),
            **json_metadata(
                n_signatures=int(core_signature_ranks.n_signatures.iloc[0]),
                query_genes_per_direction=config.n_query_genes,
                seconds=progress.elapsed,
            ),
        }
    )
    return out
