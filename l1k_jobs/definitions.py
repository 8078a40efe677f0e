"""The single ``Definitions`` object: every asset, job, schedule, sensor and resource of l1k."""

from __future__ import annotations

import dagster as dg

from l1k_jobs import ops_assets
from l1k_jobs.asset_modules import DOMAIN_ASSETS
from l1k_jobs.automation import lincs_release_sensor, monthly_retrain, score_refresh_sensor, weekly_release_check
from l1k_jobs.executors import executor_from_env
from l1k_jobs.jobs import JOBS
from l1k_jobs.resources_config import build_resources

__all__ = ["ALL_ASSETS", "defs"]

ALL_ASSETS = [*DOMAIN_ASSETS, *dg.load_assets_from_modules([ops_assets])]

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=JOBS,
    schedules=[weekly_release_check, monthly_retrain],
    sensors=[lincs_release_sensor, score_refresh_sensor],
    resources=build_resources(),
    executor=executor_from_env(),
)
