"""Every job of l1k, as objects the schedules and sensors name directly (never by string)."""

from __future__ import annotations

import dagster as dg

from l1k_jobs.asset_modules import DOMAIN_ASSETS

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
release_check_job = dg.define_asset_job(
    "release_check_job",
    selection=dg.AssetSelection.keys("out_release_catalog"),
    description="Record what the LINCS sources publish.",
)


def model_selection(assets: list[dg.AssetsDefinition]) -> dg.AssetSelection:
    """Every unpartitioned ``model_*`` asset: what the monthly schedule retrains."""
    keys = [k for a in assets if a.partitions_def is None for k in a.keys if k.to_user_string().startswith("model_")]
    return dg.AssetSelection.assets(*keys)


retrain_models_job = dg.define_asset_job(
    "retrain_models_job", selection=model_selection(DOMAIN_ASSETS), description="Retrain every model."
)

JOBS = [geo_cohort_job, lincs_release_job, indication_job, release_check_job, retrain_models_job]
