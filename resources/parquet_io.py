"""Parquet IO manager: one file per asset partition, written atomically, described in the UI.

Every table asset goes through here so that every table gets the same guarantees: a file is
either the previous materialization or the new one, never half of either; row count, schema,
a preview and the code version show on the asset page.
"""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from l1k_assets.fileio import atomic_path, file_digest
from resources.home import home_dir

PARTITION_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.|-]{0,127}")
UNPARTITIONED = "__all__"


def safe_partition_key(key: str) -> str:
    """Partition keys become file names: refuse anything that could escape the asset's folder."""
    if not isinstance(key, str) or not PARTITION_KEY_RE.fullmatch(key) or ".." in key:
        raise ValueError(f"partition key {key!r} is not a safe name (letters, digits, '_', '.', '-', '|')")
    return key


def table_metadata(df: pd.DataFrame, preview_rows: int = 8) -> dict[str, dg.MetadataValue]:
    """Row count, column schema and a Markdown preview: what a person wants to see on the asset page."""
    schema = dg.TableSchema(columns=[dg.TableColumn(str(name), str(dtype)) for name, dtype in df.dtypes.items()][:500])
    shown = df.iloc[:preview_rows, :12]
    return {
        "dagster/row_count": dg.MetadataValue.int(len(df)),
        "dagster/column_schema": dg.MetadataValue.table_schema(schema),
        "n_columns": dg.MetadataValue.int(df.shape[1]),
        "preview": dg.MetadataValue.md(shown.to_markdown()),
    }


class ParquetIOManager(dg.ConfigurableIOManager):
    """Stores pandas DataFrames as ``<home>/tables/<asset path>/<partition>.parquet``."""

    home: str = ""

    def _path(self, asset_key: dg.AssetKey, partition: str | None) -> Path:
        name = safe_partition_key(partition) if partition else UNPARTITIONED
        return home_dir(self.home) / "tables" / Path(*asset_key.path) / f"{name}.parquet"

    def read(self, asset: str, partition: str | None = None) -> pd.DataFrame:
        """A materialized table outside a run (the query API and CLI); a clear error if it was never written."""
        path = self._path(dg.AssetKey.from_user_string(asset), partition)
        if not path.exists():
            where = f"[{partition}]" if partition else ""
            raise FileNotFoundError(f"{asset}{where} is not materialized under {path.parent}: run `l1k materialize` first")
        return pd.read_parquet(path)

    def partitions(self, asset: str) -> list[str]:
        """The partition keys of an asset with a stored table, sorted."""
        folder = self._path(dg.AssetKey.from_user_string(asset), None).parent
        return sorted(p.stem for p in folder.glob("*.parquet") if p.stem != UNPARTITIONED)

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()} must return a pandas DataFrame, got {type(obj).__name__}")
        partition = context.asset_partition_key if context.has_asset_partitions else None
        path = self._path(context.asset_key, partition)
        table = pa.Table.from_pandas(obj, preserve_index=True)
        with atomic_path(path, suffix=".parquet") as tmp:
            pq.write_table(table, tmp)
        meta = table_metadata(obj)
        meta["path"] = dg.MetadataValue.path(str(path))
        meta["table_sha256"] = dg.MetadataValue.text(file_digest(path))
        if context.asset_spec.code_version:
            meta["code_version"] = dg.MetadataValue.text(context.asset_spec.code_version)
        context.add_output_metadata(meta)

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | dict[str, pd.DataFrame]:
        key = context.asset_key
        if context.has_asset_partitions:
            partitions = context.asset_partition_keys
            frames = {p: pd.read_parquet(self._path(key, p)) for p in partitions}
            # One partition reads as a table; several (a fan-in) as a mapping partition -> table.
            if len(partitions) == 1 and context.has_partition_key:
                return frames[partitions[0]]
            return frames
        return pd.read_parquet(self._path(key, None))
