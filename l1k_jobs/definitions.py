"""The single ``Definitions`` object: every asset, job and resource of l1k."""

from __future__ import annotations

import dagster as dg

from l1k_assets.genesets import assets as geneset_assets
from l1k_assets.geo import assets as geo_assets
from l1k_assets.indication import assets as indication_assets
from l1k_assets.inference import assets as inference_assets
from l1k_assets.lincs import assets as lincs_assets
from l1k_assets.response import assets as response_assets
from l1k_assets.search import assets as search_assets
from l1k_assets.singlecell import assets as singlecell_assets
from l1k_jobs import ops_assets
from l1k_jobs.automation import (
    lincs_release_sensor,
    release_check_job,
    retrain_schedule,
    score_refresh_sensor,
    weekly_release_check,
)
from l1k_jobs.executors import executor_from_env
from l1k_jobs.resources_config import build_resources

DOMAIN_MODULES = [
    geo_assets,
    lincs_assets,
    inference_assets,
    singlecell_assets,
    response_assets,
    geneset_assets,
    indication_assets,
    search_assets,
    ops_assets,
]
ALL_ASSETS = dg.load_assets_from_modules(DOMAIN_MODULES)

geo_cohort_job = dg.define_asset_job(
    "geo_cohort_job",
    selection=dg.AssetSelection.keys("raw_geo_series_matrix", "raw_geo_platform", "core_geo_expression"),
    description="Fetch and clean one GEO cohort (partitioned by cohort).",
)
lincs_release_job = dg.define_asset_job(
    "lincs_release_job",
    selection=dg.AssetSelection.groups("lincs") - dg.AssetSelection.keys("raw_lincs_gene_info", "core_landmark_genes"),
    description="Fetch, verify and ingest one LINCS release (partitioned by release).",
)

indication_job = dg.define_asset_job(
    "indication_job",
    selection=dg.AssetSelection.groups("indication")
    - dg.AssetSelection.keys(
        "out_signature_class_probabilities", "out_compound_scores", "out_genetic_scores", "out_connectivity_scores"
    ),
    description="Deltas, exploration, the calibrated cancer-type classifier and its genes (unpartitioned part).",
)

retrain_models_job, monthly_retrain = retrain_schedule(ALL_ASSETS)

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[geo_cohort_job, lincs_release_job, indication_job, release_check_job, retrain_models_job],
    schedules=[weekly_release_check, monthly_retrain],
    sensors=[lincs_release_sensor, score_refresh_sensor],
    resources=build_resources(),
    executor=executor_from_env(),
)
