"""Inference assets: the GSE92743-like paired set, fetched and aligned."""

from pathlib import Path

import dagster as dg
import pandas as pd

from l1k_assets.asset_utils import file_path, files_metadata, json_metadata
from l1k_assets.inference.pairs import L1000_PREFIX, RNASEQ_PREFIX, load_inference_pairs
from l1k_assets.sources.fetch_set import fetch_directory
from l1k_assets.sources.layout import geo_suppl_url
from l1k_assets.sources.listing import GTEX_PAIR_ROLES
from resources.data_source import DataSource
from resources.home import home_dir

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
    context.add_output_metadata(files_metadata(files))
    return files


@dg.asset(group_name="inference", code_version="1", kinds={"pandas", "parquet"})
def core_inference_pairs(
    context: dg.AssetExecutionContext, raw_inference_pairs: pd.DataFrame, core_landmark_genes: pd.DataFrame
) -> pd.DataFrame:
    """Samples × (``l1000|<gene>`` landmark inputs, ``rnaseq|<gene>`` targets), aligned and checked."""
    table = load_inference_pairs(
        Path(file_path(raw_inference_pairs, "l1000")),
        Path(file_path(raw_inference_pairs, "rnaseq")),
        core_landmark_genes.gene_id.astype(str).tolist(),
    )
    n_l = sum(c.startswith(L1000_PREFIX) for c in table.columns)
    n_r = sum(c.startswith(RNASEQ_PREFIX) for c in table.columns)
    context.add_output_metadata(json_metadata(n_samples=len(table), n_landmarks=n_l, n_rnaseq_genes=n_r))
    return table
