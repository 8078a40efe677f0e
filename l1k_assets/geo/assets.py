"""GEO assets: raw series matrices and platform tables per cohort, clean cohort tables, the compendium."""

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from l1k_assets.asset_utils import check_result, file_path, json_metadata, markdown_table, record_files
from l1k_assets.errors import DataError
from l1k_assets.geo.catalog import Cohort, load_catalog
from l1k_assets.geo.cohort import SAMPLE_COLUMNS, clean_cohort, combine_cohorts
from l1k_assets.landmarks import DEFAULT_MIN_SHARE, check_min_share, landmark_coverage
from l1k_assets.quality import landmark_coverage as coverage_verdict
from l1k_assets.sources.fetch_set import fetch_urls
from l1k_assets.sources.layout import geo_cohort_expression_url, geo_platform_url
from resources.data_source import DataSource

CATALOG = {c.cohort: c for c in load_catalog()}
cohort_partitions = dg.StaticPartitionsDefinition(sorted(CATALOG))


def _cohort(key: str) -> Cohort:
    if key not in CATALOG:
        raise DataError(f"cohort {key!r} is not in the cohort catalog ({len(CATALOG)} cohorts)")
    return CATALOG[key]


@dg.asset(partitions_def=cohort_partitions, group_name="geo", code_version="2", kinds={"geo"})
def raw_geo_series_matrix(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """The cohort's expression file as fetched (cached, sha256 recorded): the GSE series matrix, the GSE
    family SOFT file or the GDS SOFT file, as the catalog row's ``source`` says (the file's role)."""
    cohort = _cohort(context.partition_key)
    url = geo_cohort_expression_url(data_source.base_url("geo"), cohort.cohort, cohort.source)
    files = fetch_urls(data_source.downloader(), {cohort.source: url})
    return record_files(context, files, cohort=cohort.cohort, source=cohort.source, mode=data_source.mode)


@dg.asset(partitions_def=cohort_partitions, group_name="geo", code_version="1", kinds={"geo"})
def raw_geo_platform(context: dg.AssetExecutionContext, data_source: DataSource) -> pd.DataFrame:
    """The cohort platform's annotation (``.annot.gz``) or family SOFT table, as fetched."""
    cohort = _cohort(context.partition_key)
    url = geo_platform_url(data_source.base_url("geo"), cohort.platform, cohort.platform_file)
    return record_files(context, fetch_urls(data_source.downloader(), {"platform": url}), platform=cohort.platform)


@dg.asset(
    partitions_def=cohort_partitions,
    group_name="geo",
    code_version="1",
    kinds={"pandas", "parquet"},
    check_specs=[dg.AssetCheckSpec("landmark_coverage", asset="core_geo_expression")],
)
def core_geo_expression(
    context: dg.AssetExecutionContext,
    raw_geo_series_matrix: pd.DataFrame,
    raw_geo_platform: pd.DataFrame,
    core_landmark_genes: pd.DataFrame,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Paired samples × landmark genes (log2, highest-variance probe per gene) with cohort, type, patient, tissue."""
    cohort = _cohort(context.partition_key)
    landmarks = core_landmark_genes["gene_symbol"].tolist()
    table, report = clean_cohort(
        Path(file_path(raw_geo_series_matrix, cohort.source)), Path(file_path(raw_geo_platform, "platform")), cohort, landmarks
    )
    if report.n_pairs != cohort.expected_pairs:
        context.log.warning(f"{cohort.cohort}: {report.n_pairs} pairs, the catalog expects {cohort.expected_pairs}")
    coverage = landmark_coverage([c for c in table.columns if c not in SAMPLE_COLUMNS], landmarks)
    metadata = json_metadata(**asdict(report), expected_pairs=cohort.expected_pairs, landmark_share=round(coverage.share, 4))
    yield dg.Output(table, metadata=metadata)
    verdict = coverage_verdict(coverage)
    verdict.details["cohort"] = cohort.cohort
    yield check_result("landmark_coverage", verdict, dg.AssetCheckSeverity.WARN)


class CompendiumSettings(dg.Config):
    """Which cohorts join the cancer-type compendium."""

    min_landmark_share: float = Field(
        DEFAULT_MIN_SHARE, description="a cohort whose platform covers fewer landmarks is left out (with a warning)"
    )


@dg.asset(group_name="geo", code_version="2", kinds={"pandas", "parquet"})
def core_tumor_normal_samples(
    context: dg.AssetExecutionContext,
    config: CompendiumSettings,
    core_geo_expression: dict[str, pd.DataFrame],
    core_landmark_genes: pd.DataFrame,
) -> pd.DataFrame:
    """All cohorts' paired samples on the landmark genes present in every cohort, labelled by cancer type.

    Cohorts whose platform covers too few landmarks are left out, each named with its coverage.
    """
    landmarks = core_landmark_genes.gene_symbol.tolist()
    compendium = combine_cohorts(core_geo_expression, landmarks, check_min_share(config.min_landmark_share))
    for name, coverage in compendium.left_out.items():
        context.log.warning(
            f"cohort {name} left out of the compendium: its platform covers {len(coverage.present)} of "
            f"{coverage.total} landmarks ({coverage.share:.1%}), below {config.min_landmark_share:.0%}"
        )
    combined = compendium.table
    pairs = combined[combined.tissue == "tumor"].groupby("cancer_type").size()
    cohorts = [CATALOG[k] for k in core_geo_expression if k not in compendium.left_out]
    expected = pd.Series([c.expected_pairs for c in cohorts], index=[c.cancer_type for c in cohorts]).groupby(level=0).sum()
    summary = pd.DataFrame({"pairs": pairs, "catalog_pairs": expected}).fillna(0).astype(int)
    left_out = {name: round(c.share, 4) for name, c in compendium.left_out.items()}
    context.add_output_metadata(
        {
            "pairs_per_cancer_type": markdown_table(summary),
            **json_metadata(
                n_pairs=int(pairs.sum()),
                n_genes=combined.shape[1] - len(SAMPLE_COLUMNS),
                genes_dropped=compendium.genes_dropped,
                cohorts_left_out=left_out,
            ),
        }
    )
    return combined
