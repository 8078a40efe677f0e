"""The profile table: every sourced paper setting beside its demo default, by the asset it configures.

``l1k profile`` prints it and the README carries it (a test keeps the two equal), so a scientist
sees before a run what ``--profile paper`` changes and where each value is stated.
"""

from __future__ import annotations

import json
import typing
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import BaseModel

from l1k_assets.paper_sources import profile_rows

COLUMNS = ["asset", "setting", "demo", "paper", "source"]


def asset_configs(assets: list[dg.AssetsDefinition]) -> list[tuple[str, type[BaseModel]]]:
    """(asset key, config class) for every asset whose ``config`` parameter is a settings class, sorted by key."""
    found = []
    for asset in assets:
        config = typing.get_type_hints(asset.op.compute_fn.decorated_fn).get("config")
        if isinstance(config, type) and issubclass(config, BaseModel):
            found.extend((key.to_user_string(), config) for key in asset.keys)
    return sorted(found, key=lambda pair: pair[0])


def show(value: Any) -> str:
    """A setting's value as the table prints it: ``none`` for None, JSON for the rest."""
    return "none" if value is None else json.dumps(value)


def profile_table(assets: list[dg.AssetsDefinition]) -> pd.DataFrame:
    """One row per (asset, sourced setting): the demo default, the paper value and its source."""
    rows = []
    for key, config in asset_configs(assets):
        for row in profile_rows(config(), config.__name__):
            rows.append({"asset": key, **row, "demo": show(row["demo"]), "paper": show(row["paper"])})
    return pd.DataFrame(rows, columns=COLUMNS)


def profile_markdown(table: pd.DataFrame) -> str:
    """The table as Markdown, settings that differ between the profiles marked with a ≠."""
    marks = ["≠ " if demo != paper else "" for demo, paper in zip(table.demo, table.paper, strict=True)]
    shown = table.assign(setting=[mark + setting for mark, setting in zip(marks, table.setting, strict=True)])
    return shown.to_markdown(index=False) + "\n"
