"""The environment every ``l1k`` subcommand runs in: the l1k home, DAGSTER_HOME, mode and scale.

Set before the definitions load, since resources read their settings from the environment
(``l1k_jobs.resources_config``); shared by the subcommands, so it is a module of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from resources.home import HOME_ENV, default_home

DAGSTER_YAML = """\
# Written by l1k for a local instance: SQLite storage under this folder.
telemetry:
  enabled: false
nux:
  enabled: false
"""


def prepare_environment(home: str | None, mode: str | None, scale: str | None) -> Path:
    """Export the l1k settings and a DAGSTER_HOME (``<home>/dagster`` unless set) before definitions load."""
    if home:
        os.environ[HOME_ENV] = str(Path(home).resolve())
    if mode:
        os.environ["L1K_MODE"] = mode
    if scale:
        os.environ["L1K_SCALE"] = scale
    l1k_home = default_home()
    l1k_home.mkdir(parents=True, exist_ok=True)
    os.environ[HOME_ENV] = str(l1k_home)
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(l1k_home / "dagster")))
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():
        (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    return l1k_home
