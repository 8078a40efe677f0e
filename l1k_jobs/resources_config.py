"""Resources per environment, chosen from one mapping (read from environment variables at load time).

``L1K_MODE`` (embedded | remote), ``L1K_SCALE`` (tiny | default | large), ``L1K_SEED``,
``L1K_HOME`` and ``L1K_GEO_BASE_URL`` etc. select sources and storage without code changes,
``L1K_PROFILE`` (demo | paper) and ``L1K_BUDGET_SCALE`` how long training may take,
so the same definitions serve the demo, the tests and a production deployment.
"""

from __future__ import annotations

import os
from typing import Any

from resources.checkpoints import CheckpointStore
from resources.compute import ComputeResource
from resources.data_source import DataSource
from resources.parquet_io import ParquetIOManager
from resources.profile import RunProfile, check_positive, check_profile_name
from resources.tracking import MlflowTracking

# DataSource fields set from the environment (base URLs, the LINCS 2020 checksum settings, download limits).
SOURCE_ENV = {
    "geo_base_url": "L1K_GEO_BASE_URL",
    "clue_base_url": "L1K_CLUE_BASE_URL",
    "lincs2020_base_url": "L1K_LINCS2020_BASE_URL",
    "lincs2020_md5_table": "L1K_LINCS2020_MD5_TABLE",
    "lincs2020_verify": "L1K_LINCS2020_VERIFY",
    "deadline_hours": "L1K_DOWNLOAD_DEADLINE_HOURS",
    "min_rate_kib": "L1K_DOWNLOAD_MIN_RATE_KIB",
    "allow_unframed": "L1K_ALLOW_UNFRAMED_DOWNLOADS",
    "redirect_hosts": "L1K_REDIRECT_HOSTS",
    "gdsc_base_url": "L1K_GDSC_BASE_URL",
    "tcga_base_url": "L1K_TCGA_BASE_URL",
    "string_base_url": "L1K_STRING_BASE_URL",
    "genesets_base_url": "L1K_GENESETS_BASE_URL",
    "singlecell_base_url": "L1K_SINGLECELL_BASE_URL",
}


def build_resources(env: dict[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    """The resource mapping for an environment (``os.environ`` by default); keyword overrides win."""
    env = dict(os.environ if env is None else env)
    home = overrides.pop("home", env.get("L1K_HOME", ""))
    source_args: dict[str, Any] = {
        "mode": env.get("L1K_MODE", "embedded"),
        "scale": env.get("L1K_SCALE", "default"),
        "seed": int(env.get("L1K_SEED", "0")),
        "home": home,
    }
    source_args.update({field: env[var] for field, var in SOURCE_ENV.items() if env.get(var)})
    source_args.update(overrides)
    return {
        "data_source": DataSource(**source_args),
        "io_manager": ParquetIOManager(home=home),
        "checkpoints": CheckpointStore(home=home),
        "compute": ComputeResource(
            device=env.get("L1K_DEVICE", "auto"),
            threads=int(env.get("L1K_THREADS", "1")),
            precision=env.get("L1K_PRECISION", "float32"),
            seed=int(env.get("L1K_SEED", "0")),
        ),
        "profile": run_profile(env),
        "mlflow": MlflowTracking(
            home=home, tracking_uri=env.get("L1K_MLFLOW_URI", ""), ui_url=env.get("L1K_MLFLOW_UI", "http://127.0.0.1:5000")
        ),
    }


def run_profile(env: dict[str, str]) -> RunProfile:
    """The run profile named by ``L1K_PROFILE`` and ``L1K_BUDGET_SCALE``, checked before any asset runs."""
    name = check_profile_name(env.get("L1K_PROFILE", "demo"), "L1K_PROFILE")
    scale = check_positive(env.get("L1K_BUDGET_SCALE", "1"), "L1K_BUDGET_SCALE", "a positive factor")
    return RunProfile(name=name, budget_scale=scale)
